// Builds against a real registry: FROM a registry image into an empty store, --push, and the
// remote build cache (--cache-to / --cache-from, type=registry and type=local) across two stores.
#include <unistd.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../e2e/build_env.hpp"
#include "registry_fixture.hpp"
#include "test_registry.hpp"

using e2e::BuildEnv;
using regtest::Registry;

namespace {

std::string ib(const std::string& root, const std::string& args) {
    return e2e::bin() + " --root " + root + " " + reg().ib_flags() + args;
}

// Push the busybox base to HOST/base:1 once per process.
std::string base_ref() {
    static std::string ref;
    if (ref.empty()) {
        std::string r = reg().host() + "/imgbuild/base:1";
        auto push = regtest::run_cmd(ib(BuildEnv::get().root(), "push busybox:latest " + r));
        if (push.status != 0) throw std::runtime_error("push base: " + push.out);
        ref = r;
    }
    return ref;
}

const char* kBuildfile =
    "FROM {BASE}\n"
    "COPY hello.txt /hello.txt\n"
    "RUN cat /hello.txt > /ran.txt && echo built >> /ran.txt\n"
    "ENV STAGE=final\n";

std::string buildfile() {
    std::string s = kBuildfile;
    s.replace(s.find("{BASE}"), 6, base_ref());
    return s;
}

nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(sys::read_file(path)); }

void expect_all_cached(const nlohmann::json& meta) {
    ASSERT_TRUE(meta.contains("steps"));
    for (auto& s : meta["steps"]) EXPECT_TRUE(s["cached"].get<bool>()) << s.dump();
}

}  // namespace

TEST(RegistryBuild, FromRegistryImageIntoEmptyStorePullsAndRuns) {
    NEED_REGISTRY();
    e2e::Ctx ctx;
    ctx.file("Buildfile", buildfile()).file("hello.txt", "hi\n");
    sys::TempDir store("/tmp", "imgbuild-regbuild-");
    std::string meta = store.path() + "/../" + std::string("imgbuild-meta-") + std::to_string(::getpid()) + ".json";
    auto b = regtest::run_cmd(ib(store.path(), "build --progress plain -t built:1 --metadata-file " + meta + " " + ctx.path()));
    ASSERT_EQ(b.status, 0) << b.out;
    auto j = read_json(meta);
    ::unlink(meta.c_str());
    ASSERT_TRUE(j.contains("imgbuild.base.digests")) << j.dump();
    std::string resolved = j["imgbuild.base.digests"][base_ref()].get<std::string>();
    auto insp = regtest::run_cmd("skopeo inspect " + reg().skopeo_flags() + "--format '{{.Digest}}' docker://" + base_ref(), false);
    if (insp.status == 0) {
        EXPECT_EQ(resolved + "\n", insp.out);
    }
    // The image's history names the base with the digest it resolved to.
    auto hist = regtest::run_cmd(e2e::bin() + " --root " + store.path() + " history --json built:1", false);
    ASSERT_EQ(hist.status, 0) << hist.out;
    bool named = false;
    for (auto& h : nlohmann::json::parse(hist.out))
        named |= h.value("created_by", "") == "FROM " + base_ref() + "@" + resolved;
    EXPECT_TRUE(named) << hist.out;
    auto run = regtest::run_cmd(e2e::bin() + " --root " + store.path() + " run --rm built:1 cat /ran.txt", false);
    ASSERT_EQ(run.status, 0) << run.out;
    EXPECT_EQ(run.out, "hi\nbuilt\n");
    // --pull never with an empty store: a clear error.
    sys::TempDir empty("/tmp", "imgbuild-regbuild-never-");
    auto never = regtest::run_cmd(ib(empty.path(), "build --pull never " + ctx.path()));
    EXPECT_EQ(never.status, 1) << never.out;
    EXPECT_NE(never.out.find("not found"), std::string::npos) << never.out;
}

TEST(RegistryBuild, PushFlagAndRegistryOutput) {
    NEED_REGISTRY();
    e2e::Ctx ctx;
    ctx.file("Buildfile", buildfile()).file("hello.txt", "pushed\n");
    sys::TempDir store("/tmp", "imgbuild-regpush-");
    std::string dest = reg().host() + "/imgbuild/app:7";
    std::string dest2 = reg().host() + "/imgbuild/app:out";
    auto b = regtest::run_cmd(ib(store.path(), "build -t " + dest + " --push --output type=registry,name=" + dest2 +
                                                   " --metadata-file " + store.path() + "/m.json " + ctx.path()), false);
    ASSERT_EQ(b.status, 0) << b.out;
    auto j = read_json(store.path() + "/m.json");
    ASSERT_TRUE(j.contains("imgbuild.pushed")) << j.dump();
    sys::TempDir other("/tmp", "imgbuild-regpush2-");
    auto pull = regtest::run_cmd(ib(other.path(), "pull " + dest2));
    ASSERT_EQ(pull.status, 0) << pull.out;
    auto run = regtest::run_cmd(e2e::bin() + " --root " + other.path() + " run --rm " + dest2 + " cat /ran.txt", false);
    EXPECT_EQ(run.out, "pushed\nbuilt\n");
}

class RemoteCacheTest : public ::testing::TestWithParam<std::string> {};

TEST_P(RemoteCacheTest, SecondMachineHitsEveryStep) {
    NEED_REGISTRY();
    std::string kind = GetParam();
    e2e::Ctx ctx;
    ctx.file("Buildfile", buildfile()).file("hello.txt", "cache-" + kind + "\n");
    sys::TempDir a("/tmp", "imgbuild-cacheA-"), b("/tmp", "imgbuild-cacheB-"), dir("/tmp", "imgbuild-cachedir-");
    std::string to, from;
    if (kind == "registry") {
        to = "type=registry,ref=" + reg().host() + "/imgbuild/cache:" + std::to_string(::getpid()) + ",mode=max";
        from = "type=registry,ref=" + reg().host() + "/imgbuild/cache:" + std::to_string(::getpid());
    } else {
        to = "type=local,dest=" + dir.path() + "/c";
        from = "type=local,src=" + dir.path() + "/c";
    }
    if (kind == "local-zstd") to += ",compression=zstd";  // transport only: store B keeps layers as A built them
    std::string sde = " --source-date-epoch 1700000000 ";
    auto ba = regtest::run_cmd(ib(a.path(), "build" + sde + "--metadata-file " + a.path() + "/m.json --cache-to " + to + " " + ctx.path()), false);
    ASSERT_EQ(ba.status, 0) << ba.out;
    auto bb = regtest::run_cmd(ib(b.path(), "build -t cachetest:1" + sde + "--progress plain --explain-cache --metadata-file " + b.path() +
                                                "/m.json --cache-from " + from + " " + ctx.path()));
    ASSERT_EQ(bb.status, 0) << bb.out;
    auto ma = read_json(a.path() + "/m.json"), mb = read_json(b.path() + "/m.json");
    expect_all_cached(mb);
    EXPECT_EQ(ma["containerimage.digest"], mb["containerimage.digest"]);
    EXPECT_NE(bb.out.find("remote cache"), std::string::npos) << bb.out;
    // The layer came over: the image runs in store B.
    auto run = regtest::run_cmd(e2e::bin() + " --root " + b.path() + " run --rm cachetest:1 cat /ran.txt", false);
    EXPECT_EQ(run.out, "cache-" + kind + "\nbuilt\n");
    if (kind == "local-zstd") {
        auto idx = read_json(dir.path() + "/c/index.json");
        std::string md = idx["manifests"][0]["digest"].get<std::string>().substr(7);
        auto man = read_json(dir.path() + "/c/blobs/sha256/" + md);
        ASSERT_FALSE(man["layers"].empty());
        for (auto& l : man["layers"]) {
            EXPECT_EQ(l["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd") << l.dump();
            // Decompressed once, while verified, into the uncompressed layer: the compressed
            // blob is not kept beside it.
            std::string hex = l["digest"].get<std::string>().substr(7);
            EXPECT_NE(::access((b.path() + "/blobs/sha256/" + hex).c_str(), F_OK), 0) << l.dump();
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Kinds, RemoteCacheTest, ::testing::Values("registry", "local", "local-zstd"));
