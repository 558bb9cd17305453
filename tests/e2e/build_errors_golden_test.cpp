// Golden build/runtime error tests: every testdata/build-errors/CASE/ holds a Buildfile and
// `err`, the exact stderr of `imgbuild build --progress quiet` on it (and a non-zero exit).
// Optional: `args` (extra build flags, one line) and `context/` (files copied into the build
// context beside the Buildfile). The busybox base image is in the store as busybox:latest.
// Set IMGBUILD_GOLDEN_UPDATE=1 to rewrite the err files from the current binary (then review
// the diff: the texts are the error contract).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "build_env.hpp"
#include "sys/fs.hpp"

namespace fs = std::filesystem;
using e2e::BuildEnv;

namespace {

std::string trimmed_line(const fs::path& p) {
    std::string s = sys::read_file(p.string());
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
}

}  // namespace

TEST(BuildErrorsGolden, EveryCaseGivesExactStderr) {
    REQUIRE_BASE();
    fs::path dir = fs::path(IMGBUILD_SRC) / "testdata/build-errors";
    ASSERT_TRUE(fs::is_directory(dir)) << dir;
    std::vector<fs::path> cases;
    for (auto& e : fs::directory_iterator(dir))
        if (e.is_directory()) cases.push_back(e.path());
    std::sort(cases.begin(), cases.end());
    ASSERT_GE(cases.size(), 10u);
    const bool update = std::getenv("IMGBUILD_GOLDEN_UPDATE") != nullptr;
    for (const auto& c : cases) {
        SCOPED_TRACE(c.filename().string());
        ASSERT_TRUE(fs::exists(c / "Buildfile"));
        sys::TempDir ctx("/tmp", "imgbuild-golden-");
        if (fs::is_directory(c / "context")) fs::copy(c / "context", ctx.path(), fs::copy_options::recursive);
        fs::copy_file(c / "Buildfile", ctx.path() + "/Buildfile");
        std::string args = fs::exists(c / "args") ? trimmed_line(c / "args") + " " : "";
        sys::TempDir errdir("/tmp", "imgbuild-golden-err-");
        std::string errfile = errdir.path() + "/stderr";
        e2e::CmdResult r = BuildEnv::get().ib("build --progress quiet " + args + e2e::shell_quote(ctx.path()) +
                                              " >/dev/null 2>" + e2e::shell_quote(errfile), false);
        std::string got = sys::read_file(errfile);
        // The temp context path is the one part that differs between runs.
        for (size_t k; (k = got.find(ctx.path())) != std::string::npos;) got.replace(k, ctx.path().size(), "CONTEXT");
        EXPECT_NE(r.status, 0) << got;
        if (update) sys::write_file_atomic((c / "err").string(), got);
        ASSERT_TRUE(fs::exists(c / "err"));
        EXPECT_EQ(got, sys::read_file((c / "err").string()));
    }
}
