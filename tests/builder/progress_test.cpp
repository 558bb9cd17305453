// Progress output formats, written to a pipe and read back: plain (BuildKit's "#N ..." lines)
// and json (one object per line).
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <regex>
#include <sstream>

#include "builder/progress.hpp"
#include "sys/error.hpp"
#include "sys/fd.hpp"

using builder::make_progress;

namespace {

// Runs f(progress) with output into a pipe; returns what was written.
template <typename F>
std::string capture(const std::string& mode, F&& f) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    sys::UniqueFd r(p[0]), w(p[1]);
    {
        auto prog = make_progress(mode, w.get());
        f(*prog);
        prog->finish();
    }
    w.reset();
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(r.get(), buf, sizeof buf)) > 0) out.append(buf, size_t(n));
    return out;
}

void events(builder::Progress& p) {
    p.start(1, "[1/2] FROM busybox");
    p.cached(1);
    p.start(2, "[2/2] RUN make");
    p.log(2, "compiling");
    p.done(2, 1234);
    p.start(3, "[3/3] RUN false");
    p.error(3, "exit code 1");
    p.info("writing image sha256:ab");
}

}  // namespace

TEST(Progress, PlainLines) {
    std::string out = capture("plain", events);
    std::regex want(
        "#1 \\[1/2\\] FROM busybox\n"
        "#1 CACHED\n"
        "#2 \\[2/2\\] RUN make\n"
        "#2 [0-9]+\\.[0-9]{3} compiling\n"
        "#2 DONE 1\\.2s\n"
        "#3 \\[3/3\\] RUN false\n"
        "#3 ERROR: exit code 1\n"
        "writing image sha256:ab\n");
    EXPECT_TRUE(std::regex_match(out, want)) << out;
}

TEST(Progress, JsonEvents) {
    std::string out = capture("json", events);
    std::istringstream in(out);
    std::vector<nlohmann::json> ev;
    for (std::string line; std::getline(in, line);) ev.push_back(nlohmann::json::parse(line));
    ASSERT_EQ(ev.size(), 8u) << out;
    for (auto& e : ev) EXPECT_TRUE(e.contains("time_ms")) << e.dump();
    EXPECT_EQ(ev[0]["event"], "start");
    EXPECT_EQ(ev[0]["step"], 1);
    EXPECT_EQ(ev[0]["name"], "[1/2] FROM busybox");
    EXPECT_EQ(ev[1]["event"], "cached");
    EXPECT_EQ(ev[3]["event"], "log");
    EXPECT_EQ(ev[3]["line"], "compiling");
    EXPECT_EQ(ev[4]["event"], "done");
    EXPECT_EQ(ev[4]["duration_ms"], 1234);
    EXPECT_EQ(ev[6]["event"], "error");
    EXPECT_EQ(ev[6]["message"], "exit code 1");
    EXPECT_EQ(ev[7]["event"], "info");
    EXPECT_EQ(ev[7]["message"], "writing image sha256:ab");
}

TEST(Progress, JsonKeepsInvalidUtf8Readable) {
    std::string out = capture("json", [](builder::Progress& p) { p.log(1, std::string("bad \xff byte")); });
    auto j = nlohmann::json::parse(out);  // still valid JSON
    EXPECT_EQ(j["event"], "log");
}

TEST(Progress, QuietWritesNothingAndAutoOnAPipeIsPlain) {
    EXPECT_EQ(capture("quiet", events), "");
    EXPECT_EQ(capture("auto", [](builder::Progress& p) { p.cached(7); }), "#7 CACHED\n");
    try {
        make_progress("fancy");
        FAIL() << "unknown mode accepted";
    } catch (const sys::Error& e) {
        EXPECT_EQ(e.code(), sys::Code::InvalidInput);
    }
}
