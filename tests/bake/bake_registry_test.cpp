// `imgbuild bake` against a real registry (the loopback docker-registry of tests/registry):
// --push pushes every target's tags, and per-target cache-to / cache-from (type=registry and
// type=local) let a bake in an empty store take every step from the cache. Labels bake;registry.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "../e2e/build_env.hpp"
#include "../registry/registry_fixture.hpp"

using e2e::BuildEnv;
using e2e::Ctx;
using nlohmann::json;
using regtest::Registry;

namespace {

Registry& reg() { return regtest::shared_registry(); }
std::string ib(const std::string& root, const std::string& args) { return regtest::ib_shared(root, args); }

// The registry and the busybox base (which is pushed to it) are needed.
#define NEED_REGISTRY_AND_BASE()                                                               \
    if (!reg().skip_reason().empty()) GTEST_SKIP() << reg().skip_reason();                    \
    if (!BuildEnv::get().base_error().empty()) GTEST_SKIP() << BuildEnv::get().base_error()

std::string repo(const std::string& name) {
    return reg().host() + "/imgbuild/bake-" + name + "-" + std::to_string(::getpid());
}

// The busybox base pushed to the registry once, so that an empty store can pull it.
std::string base_ref() {
    static std::string ref;
    if (ref.empty()) {
        std::string r = repo("base") + ":1";
        auto push = regtest::run_cmd(ib(BuildEnv::get().root(), "push busybox:latest " + r));
        if (push.status != 0) throw std::runtime_error("push base: " + push.out);
        ref = r;
    }
    return ref;
}

// Two independent targets a and b, each FROM the registry base with a COPY and a RUN.
void write_two_targets(Ctx& ctx, const std::string& word, const std::string& extra_a, const std::string& extra_b) {
    for (const std::string t : {"a", "b"}) {
        ctx.file(t + "/Buildfile", "FROM " + base_ref() + "\nCOPY word /word\nRUN echo ran-" + t +
                                       "-$((6*7)) && cat /word > /out && echo " + t + " >> /out\n");
        ctx.file(t + "/word", word + "\n");
    }
    ctx.file("imgbuild-bake.yaml", "targets:\n  a:\n    context: a\n" + extra_a + "  b:\n    context: b\n" + extra_b +
                                       "groups: {default: [a, b]}\n");
}

using e2e::count_substr;

}  // namespace

TEST(BakeRegistry, PushPushesEveryTargetsTags) {
    NEED_REGISTRY_AND_BASE();
    Ctx ctx;
    std::string a = repo("a") + ":7", b = repo("b") + ":7", b2 = repo("b") + ":latest";
    write_two_targets(ctx, "pushed", "    tags: [\"" + a + "\"]\n", "    tags: [\"" + b + "\", \"" + b2 + "\"]\n");
    sys::TempDir store("/tmp", "imgbuild-bakepush-");
    std::string md = store.path() + "/md.json";
    auto r = regtest::run_cmd(ib(store.path(), "bake --progress plain --push --metadata-file " + md + " -f " + ctx.path() +
                                                   "/imgbuild-bake.yaml"));
    ASSERT_EQ(r.status, 0) << r.out;
    json m = json::parse(sys::read_file(md));
    std::map<std::string, std::string> want = {{a, "a"}, {b, "b"}, {b2, "b"}};
    for (const auto& [ref, target] : want) {
        ASSERT_TRUE(m[target].contains("imgbuild.pushed")) << m.dump(2);
        std::string pushed = m[target]["imgbuild.pushed"][ref].get<std::string>();
        if (regtest::have_tool("skopeo")) {  // another client sees it
            auto insp = regtest::run_cmd("skopeo inspect " + reg().skopeo_flags() + "--format '{{.Digest}}' docker://" + ref);
            EXPECT_EQ(insp.status, 0) << insp.out;
            EXPECT_EQ(insp.out, pushed + "\n") << ref;
        }
        // The image came over: an empty store pulls and runs it.
        sys::TempDir other("/tmp", "imgbuild-bakepull-");
        auto pull = regtest::run_cmd(ib(other.path(), "pull " + ref));
        ASSERT_EQ(pull.status, 0) << pull.out;
        auto run = regtest::run_cmd(e2e::bin() + " --root " + other.path() + " run --rm " + ref + " cat /out", false);
        EXPECT_EQ(run.out, "pushed\n" + target + "\n") << ref;
    }
}

TEST(BakeRegistry, PushErrorsBeforeBuilding) {
    NEED_REGISTRY_AND_BASE();
    Ctx ctx;
    write_two_targets(ctx, "x", "    tags: [\"" + repo("a") + ":1\"]\n", "");
    auto r = regtest::run_cmd(ib(BuildEnv::get().root(), "bake --progress plain --push -f " + ctx.path() + "/imgbuild-bake.yaml"));
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find(ctx.path() + "/imgbuild-bake.yaml:5:3: target \"b\": --push needs tags"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("ran-a-42"), std::string::npos) << "nothing builds:\n" << r.out;
}

class BakeRemoteCache : public ::testing::TestWithParam<std::string> {};

TEST_P(BakeRemoteCache, EmptyStoreTakesEveryStepFromTheCache) {
    NEED_REGISTRY_AND_BASE();
    std::string kind = GetParam();
    std::string word = "cache-" + kind + "-" + std::to_string(::getpid());
    sys::TempDir a("/tmp", "imgbuild-bakecacheA-"), b("/tmp", "imgbuild-bakecacheB-"), dir("/tmp", "imgbuild-bakecachedir-");
    auto spec = [&](const std::string& t, bool to) {
        if (kind == "registry")
            return "type=registry,ref=" + repo("cache-" + t) + ":c" + (to ? ",mode=max" : "");
        return "type=local," + std::string(to ? "dest=" : "src=") + dir.path() + "/" + t;
    };
    auto keys = [&](const std::string& t, bool to) {
        return "    " + std::string(to ? "cache-to" : "cache-from") + ": [\"" + spec(t, to) + "\"]\n    tags: [\"bakecache-" + t +
               ":1\"]\n";
    };
    Ctx ctx_a, ctx_b;
    write_two_targets(ctx_a, word, keys("a", true), keys("b", true));
    write_two_targets(ctx_b, word, keys("a", false), keys("b", false));
    auto ra = regtest::run_cmd(ib(a.path(), "bake --progress plain -f " + ctx_a.path() + "/imgbuild-bake.yaml"));
    ASSERT_EQ(ra.status, 0) << ra.out;
    EXPECT_EQ(count_substr(ra.out, "ran-a-42"), 1u) << ra.out;
    std::string md = b.path() + "/md.json";
    auto rb = regtest::run_cmd(ib(b.path(), "bake --progress plain --metadata-file " + md + " -f " + ctx_b.path() + "/imgbuild-bake.yaml"));
    ASSERT_EQ(rb.status, 0) << rb.out;
    EXPECT_EQ(rb.out.find("ran-a-42"), std::string::npos) << "no RUN step runs in store B:\n" << rb.out;
    EXPECT_EQ(rb.out.find("ran-b-42"), std::string::npos) << "no RUN step runs in store B:\n" << rb.out;
    EXPECT_EQ(count_substr(rb.out, "CACHED"), 4u) << "COPY and RUN of both targets are cached:\n" << rb.out;
    // Both targets are FROM the registry base: store B pulls it once, not once per target.
    std::vector<std::string> pulls;
    std::istringstream lines(rb.out);
    for (std::string l; std::getline(lines, l);)
        if (l.rfind("pulling ", 0) == 0) pulls.push_back(l);
    EXPECT_FALSE(pulls.empty()) << rb.out;
    EXPECT_EQ(std::set<std::string>(pulls.begin(), pulls.end()).size(), pulls.size()) << "a blob pulled twice:\n" << rb.out;
    json m = json::parse(sys::read_file(md));
    for (const std::string t : {"a", "b"}) {
        EXPECT_EQ(m[t]["cached_steps"], m[t]["steps"]) << t << ": " << m.dump(2);
        // The layers came over: the image runs in store B.
        auto run = regtest::run_cmd(e2e::bin() + " --root " + b.path() + " run --rm bakecache-" + t + ":1 cat /out", false);
        EXPECT_EQ(run.out, word + "\n" + t + "\n");
    }
}

INSTANTIATE_TEST_SUITE_P(Kinds, BakeRemoteCache, ::testing::Values("registry", "local"));
