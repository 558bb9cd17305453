// End-to-end tests of `imgbuild bake` through the real binary (as root, busybox base image
// built FROM scratch by imgbuild itself; see tests/e2e/build_env.hpp).
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "../e2e/build_env.hpp"
#include "builder/solver.hpp"
#include "cas/image.hpp"
#include "cas/store.hpp"
#include "sys/error.hpp"

using e2e::BuildEnv;
using e2e::Ctx;
using nlohmann::json;

namespace {

cas::Image image_of(const std::string& ref) {
    cas::Store st = cas::Store::open(BuildEnv::get().root());
    return cas::resolve_image(st, ref);
}

size_t count(const std::string& hay, const std::string& needle) {
    size_t n = 0;
    for (size_t i = hay.find(needle); i != std::string::npos; i = hay.find(needle, i + 1)) n++;
    return n;
}

std::string nonce() {
    std::random_device rd;
    return std::to_string(rd()) + std::to_string(rd());
}

e2e::CmdResult bake(const Ctx& ctx, const std::string& args) {
    return BuildEnv::get().ib("bake --progress plain -f " + ctx.path() + "/imgbuild-bake.yaml " + args);
}

// A shared base, an app built FROM it (contexts: target:base), a test image that inherits the
// app with a matrix of two flavors, and an independent target.
void write_graph(Ctx& ctx, const std::string& id) {
    ctx.file("base.Buildfile", "FROM busybox:latest\nARG ID\nRUN echo \"$ID\" > /id && echo built-base-$((6*7))\n");
    ctx.file("Buildfile", R"(FROM base AS runtime
ARG VERSION
RUN echo "$VERSION" > /version
FROM runtime AS test
ARG FLAVOR
COPY --from=base /id /id-copy
RUN echo "flavor-$FLAVOR" > /flavor
)");
    ctx.file("other/Buildfile", "FROM busybox:latest\nLABEL other=yes\n");
    ctx.file("imgbuild-bake.yaml", R"(version: 1
variables:
  TAG: {default: dev}
  ID: )" + id + R"(
targets:
  base: {file: base.Buildfile, args: {ID: "${ID}"}, tags: ["bk-base-${ID}:${TAG}"]}
  common: {labels: {org.opencontainers.image.source: "https://example.invalid/app"}}
  app:
    inherits: [common]
    contexts: {base: "target:base"}
    args: {VERSION: "${TAG}"}
    tags: ["bk-app-${ID}:${TAG}"]
    target: runtime
  test:
    inherits: [app]
    target: test
    matrix: {flavor: [slim, full]}
    name: "test-${flavor}"
    args: {FLAVOR: "${flavor}"}
    labels: {flavor: "${flavor}"}
    tags: ["bk-test-${ID}:${flavor}"]
  other: {context: other, tags: ["bk-other-${ID}:${TAG}"]}
groups:
  default: [test, app, other]
)");
}

}  // namespace

TEST(Bake, SharedBaseDependentsAndMatrixBuildOnceInOrder) {
    REQUIRE_BASE();
    Ctx ctx;
    std::string id = nonce();
    write_graph(ctx, id);
    std::string md = ctx.path() + "/md.json";
    auto r = bake(ctx, "--metadata-file " + md + " --set 'app*.labels.set=by-set' --set 'test*.args.VERSION=v2'");
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(count(r.out, "built-base-42"), 1u) << "the shared base runs once:\n" << r.out;
    EXPECT_NE(r.out.find("[test-slim] "), std::string::npos) << r.out;  // progress is prefixed per target

    json m = json::parse(sys::read_file(md));
    ASSERT_EQ(m.size(), 5u) << m.dump(2);
    for (const char* t : {"base", "app", "test-slim", "test-full", "other"}) ASSERT_TRUE(m.contains(t)) << t;
    cas::Image base = image_of("bk-base-" + id + ":dev");
    EXPECT_EQ(m["base"]["containerimage.digest"], base.manifest_digest.str());
    // Dependents are built FROM the base this bake built: its layers are their first layers.
    for (const std::string& ref : {"bk-app-" + id + ":dev", "bk-test-" + id + ":slim", "bk-test-" + id + ":full"}) {
        cas::Image img = image_of(ref);
        ASSERT_GT(img.manifest.layers.size(), base.manifest.layers.size()) << ref;
        for (size_t i = 0; i < base.manifest.layers.size(); i++)
            EXPECT_EQ(img.manifest.layers[i].digest, base.manifest.layers[i].digest) << ref;
    }
    cas::Image app = image_of("bk-app-" + id + ":dev");
    EXPECT_EQ(app.config.config.labels.at("org.opencontainers.image.source"), "https://example.invalid/app");
    EXPECT_EQ(app.config.config.labels.at("set"), "by-set");
    cas::Image slim = image_of("bk-test-" + id + ":slim");
    EXPECT_EQ(slim.config.config.labels.at("flavor"), "slim");
    EXPECT_EQ(image_of("bk-test-" + id + ":full").config.config.labels.at("flavor"), "full");
    EXPECT_EQ(slim.config.config.labels.count("set"), 0u);  // app* does not match test-slim
    EXPECT_NE(slim.manifest_digest, image_of("bk-test-" + id + ":full").manifest_digest);
    EXPECT_EQ(image_of("bk-other-" + id + ":dev").config.config.labels.at("other"), "yes");

    // Again: everything is a cache hit, same images.
    auto again = bake(ctx, "--metadata-file " + md + " --set 'app*.labels.set=by-set' --set 'test*.args.VERSION=v2'");
    ASSERT_EQ(again.status, 0) << again.out;
    json m2 = json::parse(sys::read_file(md));
    for (auto& [name, e] : m2.items()) {
        EXPECT_EQ(e["containerimage.digest"], m[name]["containerimage.digest"]) << name;
        EXPECT_EQ(e["cached_steps"], e["steps"]) << name;
    }
}

// Issue 16: two independent `sleep 2` targets take at most 1.1x the time of one. Measured
// (--progress json sub-step timings, idle 2-core machine): one target 2.09-2.14 s of wall time
// (spawn 20 ms, wait 2005 ms, diff+commit+record 10-30 ms, process start/exit 40-70 ms), two
// targets 2.13-2.21 s: both RUN steps start within 10 ms of each other and nothing in bake
// serializes them; what two cost over one is two sandboxes spawned (40-60 ms) and two layers
// diffed and committed at once on two cores. The allowance is 1.1x one plus 150 ms of absolute
// slack for the machine's noise (ctest -j2 runs another test's builds on the same two cores);
// each side is the best of up to 3 interleaved attempts (stopping once the bound holds).
TEST(Bake, IndependentTargetsRunInParallel) {
    REQUIRE_BASE();
    Ctx ctx;
    ctx.file("a/Buildfile", "FROM busybox:latest\nARG N\nRUN echo a-$N && sleep 2\n");
    ctx.file("b/Buildfile", "FROM busybox:latest\nARG N\nRUN echo b-$N && sleep 2\n");
    ctx.file("imgbuild-bake.yaml", "targets:\n  a: {context: a, args: {N: \"${N}\"}}\n  b: {context: b, args: {N: \"${N}\"}}\n"
                                   "variables: {N: {env: BAKE_TEST_N}}\ngroups: {default: [a, b]}\n");
    std::string last_out;
    auto timed = [&](const std::string& args) {
        // Fresh N each run: the RUN steps are cache misses.
        auto t0 = std::chrono::steady_clock::now();
        auto r = BuildEnv::get().ib("bake --progress json -f " + ctx.path() + "/imgbuild-bake.yaml --set '*.args.N=" + nonce() +
                                    "' " + args);
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        EXPECT_EQ(r.status, 0) << r.out;
        last_out = r.out;
        return s;
    };
    const double kFactor = 1.1, kSlack = 0.150;
    double one = 1e9, two = 1e9;
    for (int attempt = 0; attempt < 3; attempt++) {
        one = std::min(one, timed("a"));
        two = std::min(two, timed(""));
        if (two <= kFactor * one + kSlack) break;
    }
    EXPECT_GE(one, 2.0);
    EXPECT_LE(two, kFactor * one + kSlack) << "one target: " << one << "s, two independent targets: " << two << "s";
    // The two RUN steps overlap in time (from the last two-target run's json events).
    std::map<std::string, std::pair<int64_t, int64_t>> span;  // target -> (start, done) ms
    std::map<int, std::string> step_target;
    std::istringstream lines(last_out);
    for (std::string line; std::getline(lines, line);) {
        json e = json::parse(line, nullptr, false);
        if (e.is_discarded() || !e.contains("step")) continue;
        if (e["event"] == "start") {
            std::string t = e["name"].get<std::string>().substr(1, 1);
            step_target[e["step"]] = t;
            span[t].first = e["time_ms"];
        } else if (e["event"] == "done") {
            span[step_target[e["step"]]].second = e["time_ms"];
        }
    }
    ASSERT_EQ(span.size(), 2u) << last_out;
    EXPECT_LT(span["b"].first, span["a"].second) << last_out;
    EXPECT_LT(span["a"].first, span["b"].second) << last_out;
}

TEST(Bake, IdenticalStepsOfConcurrentTargetsRunOnce) {
    REQUIRE_BASE();
    Ctx ctx;
    std::string n = nonce();
    ctx.file("Buildfile", "FROM busybox:latest\nARG N\nRUN echo ran-$((1+1))-$N && sleep 1 && echo $N > /n\n");
    ctx.file("imgbuild-bake.yaml", "targets:\n  x: {args: {N: \"" + n + "\"}, tags: [\"bk-x-" + n + "\"]}\n"
                                   "  y: {args: {N: \"" + n + "\"}, tags: [\"bk-y-" + n + "\"]}\ngroups: {default: [x, y]}\n");
    auto r = bake(ctx, "");
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(count(r.out, "ran-2-" + n), 1u) << "the same step in two targets at once runs once:\n" << r.out;
    EXPECT_EQ(image_of("bk-x-" + n).manifest_digest, image_of("bk-y-" + n).manifest_digest);
}

TEST(Bake, TargetsWithTheSameContextHashItOnce) {
    REQUIRE_BASE();
    Ctx ctx;  // a fresh context dir: no stat cache on disk yet
    std::string n = nonce();
    for (const char* f : {"f1", "f2", "f3"}) ctx.file(f, std::string(f) + "-" + n + "\n");
    ctx.file("a.Buildfile", "FROM busybox:latest\nCOPY f1 f2 f3 /a/\n");
    ctx.file("b.Buildfile", "FROM busybox:latest\nCOPY f1 f2 f3 /b/\n");
    ctx.file("imgbuild-bake.yaml", "targets:\n  a: {file: a.Buildfile}\n  b: {file: b.Buildfile}\ngroups: {default: [a, b]}\n");
    auto r = BuildEnv::get().ib("bake --progress json -f " + ctx.path() + "/imgbuild-bake.yaml");
    ASSERT_EQ(r.status, 0) << r.out;
    // Each target would hash the three files on its own (6); shared, they are hashed once.
    EXPECT_NE(r.out.find("\"context " + ctx.path() + ": 3 files hashed, 3 from the stat cache\""), std::string::npos) << r.out;
}

TEST(Bake, PrintShowsResolvedJsonWithoutBuilding) {
    REQUIRE_BASE();
    Ctx ctx;
    std::string id = nonce();
    write_graph(ctx, id);
    auto r = BuildEnv::get().ib("bake -f " + ctx.path() + "/imgbuild-bake.yaml --print --set app.args.VERSION=7 app", false);
    ASSERT_EQ(r.status, 0) << r.out;
    auto j = nlohmann::ordered_json::parse(r.out);  // keeps the build order
    ASSERT_EQ(j["target"].size(), 2u) << j.dump(2);  // app and the base it depends on
    EXPECT_EQ(j["target"].begin().key(), "base");
    EXPECT_EQ(j["target"]["app"]["args"]["VERSION"], "7");
    EXPECT_EQ(j["target"]["app"]["contexts"]["base"], "target:base");
    EXPECT_EQ(j["target"]["app"]["context"], ctx.path());
    EXPECT_EQ(j["group"]["default"]["targets"], nlohmann::ordered_json::array({"test-slim", "test-full", "app", "other"}));
    EXPECT_THROW(image_of("bk-base-" + id + ":dev"), sys::Error);  // nothing was built
}

TEST(Bake, ErrorsNameTheProblem) {
    REQUIRE_BASE();
    Ctx ctx;
    ctx.file("Buildfile", "FROM busybox:latest\n");
    auto expect_error = [&](const std::string& yaml, const std::string& args, const std::string& want) {
        ctx.file("imgbuild-bake.yaml", yaml);
        auto r = bake(ctx, args);
        EXPECT_NE(r.status, 0) << r.out;
        EXPECT_NE(r.out.find(want), std::string::npos) << "want \"" << want << "\" in:\n" << r.out;
    };
    std::string f = ctx.path() + "/imgbuild-bake.yaml";
    expect_error("targets:\n  a: {depends: [b]}\n  b: {contexts: {x: \"target:a\"}}\n", "a",
                 f + ":2:3: cycle between targets: a -> b -> a");
    expect_error("targets:\n  app:\n    context: .\n    tagz: [x]\n", "app", f + ":4:5: unknown key \"tagz\" in target \"app\"");
    expect_error("targets:\n  app: {}\n", "nosuch", "unknown target or group \"nosuch\"");
    expect_error("targets:\n  app: {}\n", "--set nosuch.target=x app", "no target matches \"nosuch\"");
    // A failing target: its dependents are not built, an independent one is.
    std::string id = nonce();
    ctx.file("bad/Buildfile", "FROM busybox:latest\nRUN exit 3\n");
    expect_error("targets:\n  bad: {context: bad}\n  dep: {depends: [bad]}\n  ok: {tags: [\"bk-ok-" + id + "\"]}\n",
                 "bad dep ok", "2 of 3 targets failed; target \"bad\"");
    EXPECT_NO_THROW(image_of("bk-ok-" + id));
}

TEST(Bake, BadCacheSpecsAreErrorsAtTheirPlace) {
    REQUIRE_BASE();
    Ctx ctx;
    ctx.file("Buildfile", "FROM busybox:latest\nRUN echo ran-$((2+3))\n");
    ctx.file("imgbuild-bake.yaml", "targets:\n  app:\n    cache-to: [\"type=s3,bucket=x\"]\n  ok: {}\n");
    auto r = bake(ctx, "app ok");
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find(ctx.path() + "/imgbuild-bake.yaml:3:5: target \"app\": --cache-to type=s3,bucket=x: unknown or bad key"),
              std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("ran-5"), std::string::npos) << "nothing builds:\n" << r.out;
    ctx.file("imgbuild-bake.yaml", "targets:\n  app:\n    cache-from: [\"type=local\"]\n");
    r = bake(ctx, "app");
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find(ctx.path() + "/imgbuild-bake.yaml:3:5: target \"app\": --cache-from type=local: expected"), std::string::npos)
        << r.out;
}
