// Through the binary against a real docker-registry (TLS + htpasswd): push/pull interop with
// skopeo and podman, wrong credentials, login/logout.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "../e2e/build_env.hpp"
#include "../interop/peer_env.hpp"
#include "registry_fixture.hpp"
#include "test_registry.hpp"

using e2e::BuildEnv;
using regtest::Registry;

namespace {

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

// The last line of the output (push prints the digest last).
std::string last_line(const std::string& out) {
    std::string t = trim(out);
    auto nl = t.rfind('\n');
    return nl == std::string::npos ? t : t.substr(nl + 1);
}

std::string ib_reg(const std::string& root, const std::string& args) {
    return e2e::bin() + " --root " + root + " " + reg().ib_flags() + args;
}

}  // namespace

TEST(RegistryE2E, PushThenSkopeoSeesTheSameDigests) {
    NEED_REGISTRY();
    if (!regtest::have_tool("skopeo")) GTEST_SKIP() << "skopeo not installed";
    std::string dest = reg().host() + "/imgbuild/base:1";
    auto push = regtest::run_cmd(ib_reg(BuildEnv::get().root(), "push busybox:latest " + dest), false);
    ASSERT_EQ(push.status, 0) << push.out;
    std::string digest = last_line(push.out);
    ASSERT_EQ(digest.rfind("sha256:", 0), 0u) << push.out;

    auto insp = regtest::run_cmd("skopeo inspect " + reg().skopeo_flags() + "--format '{{.Digest}}' docker://" + dest, false);
    ASSERT_EQ(insp.status, 0) << insp.out;
    EXPECT_EQ(trim(insp.out), digest);

    sys::TempDir out("/tmp", "imgbuild-reg-oci-");
    auto copy = regtest::run_cmd("skopeo --insecure-policy copy -q --src-authfile " + reg().authfile() + " --src-cert-dir " +
                                 reg().certdir() + " docker://" + dest + " oci:" + out.path() + "/l:t");
    ASSERT_EQ(copy.status, 0) << copy.out;
    auto idx = nlohmann::json::parse(sys::read_file(out.path() + "/l/index.json"));
    EXPECT_EQ(idx["manifests"][0]["digest"].get<std::string>(), digest);

    // Pushing again uploads nothing new and gives the same digest.
    auto again = regtest::run_cmd(ib_reg(BuildEnv::get().root(), "push busybox:latest " + dest), false);
    ASSERT_EQ(again.status, 0) << again.out;
    EXPECT_EQ(last_line(again.out), digest);
}

TEST(RegistryE2E, SkopeoPushedImagePullsAndRuns) {
    NEED_REGISTRY();
    if (!regtest::have_tool("skopeo") || !regtest::have_tool("umoci")) GTEST_SKIP() << "skopeo/umoci not installed";
    sys::TempDir work("/tmp", "imgbuild-reg-skopeo-");
    std::string why = e2e::make_busybox_oci(work.path() + "/oci");
    if (!why.empty()) GTEST_SKIP() << why;
    std::string dest = reg().host() + "/skopeo/bb:2";
    auto copy = regtest::run_cmd("skopeo --insecure-policy copy -q --dest-authfile " + reg().authfile() + " --dest-cert-dir " +
                                 reg().certdir() + " oci:" + work.path() + "/oci:latest docker://" + dest);
    ASSERT_EQ(copy.status, 0) << copy.out;
    sys::TempDir store("/tmp", "imgbuild-reg-store-");
    auto pull = regtest::run_cmd(ib_reg(store.path(), "pull " + dest));
    ASSERT_EQ(pull.status, 0) << pull.out;
    auto run = regtest::run_cmd(e2e::bin() + " --root " + store.path() + " run --rm " + dest + " echo pulled-ok", false);
    ASSERT_EQ(run.status, 0) << run.out;
    EXPECT_EQ(trim(run.out), "pulled-ok");
    auto fsck = regtest::run_cmd(e2e::bin() + " --root " + store.path() + " fsck");
    EXPECT_EQ(fsck.status, 0) << fsck.out;
}

TEST(RegistryE2E, PodmanPullsWhatImgbuildPushed) {
    NEED_REGISTRY();
    if (!regtest::have_tool("podman")) GTEST_SKIP() << "podman not installed";
    std::string dest = reg().host() + "/imgbuild/forpodman:1";
    auto push = regtest::run_cmd(ib_reg(BuildEnv::get().root(), "push --compression zstd busybox:latest " + dest), false);
    ASSERT_EQ(push.status, 0) << push.out;
    interop::PeerStore peer;
    auto pull = peer.tool("podman pull -q --authfile " + reg().authfile() + " --cert-dir " + reg().certdir() + " " + dest);
    ASSERT_EQ(pull.status, 0) << pull.out;
    auto run = peer.tool("podman run --rm --network=none " + dest + " echo from-podman", false);
    EXPECT_EQ(run.status, 0) << run.out;
    EXPECT_NE(run.out.find("from-podman"), std::string::npos) << run.out;
    EXPECT_EQ(peer.cleanup(), "");
}

TEST(RegistryE2E, WrongPasswordIsAClearErrorAndStoresNothing) {
    NEED_REGISTRY();
    sys::TempDir work("/tmp", "imgbuild-reg-bad-");
    sys::write_file_atomic(work.path() + "/auth.json", "{\"auths\":{\"" + reg().host() + "\":{\"auth\":\"" +
                                                          Registry::base64("ciuser:wrong") + "\"}}}");
    std::string cmd = e2e::bin() + " --root " + work.path() + "/store --authfile " + work.path() + "/auth.json --ca " +
                      reg().host() + "=" + reg().cert() + " pull " + reg().host() + "/imgbuild/base:1";
    auto r = regtest::run_cmd(cmd);
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("authentication failed"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("wrong"), std::string::npos) << "the password must never be printed: " << r.out;
    // Login with the wrong password fails the same way and writes nothing.
    std::string login = "DOCKER_CONFIG=" + work.path() + "/dc " + e2e::bin() + " --ca " + reg().host() + "=" + reg().cert() +
                        " login " + reg().host() + " -u ciuser --password-stdin";
    auto bad = regtest::run_cmd("echo wrong | " + login);
    EXPECT_EQ(bad.status, 1) << bad.out;
    EXPECT_FALSE(sys::exists(work.path() + "/dc/config.json"));
    auto good = regtest::run_cmd(std::string("echo ") + Registry::kPass + " | " + login);
    ASSERT_EQ(good.status, 0) << good.out;
    struct stat st{};
    ASSERT_EQ(::stat((work.path() + "/dc/config.json").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_EQ(good.out.find(Registry::kPass), std::string::npos);
    auto lo = regtest::run_cmd("DOCKER_CONFIG=" + work.path() + "/dc " + e2e::bin() + " logout " + reg().host());
    EXPECT_EQ(lo.status, 0) << lo.out;
    EXPECT_EQ(sys::read_file(work.path() + "/dc/config.json").find(reg().host()), std::string::npos);
}

TEST(RegistryE2E, UntrustedCertificateIsRefused) {
    NEED_REGISTRY();
    sys::TempDir work("/tmp", "imgbuild-reg-tls-");
    auto push = regtest::run_cmd(ib_reg(BuildEnv::get().root(), "push busybox:latest " + reg().host() + "/imgbuild/base:1"));
    ASSERT_EQ(push.status, 0) << push.out;
    auto r = regtest::run_cmd(e2e::bin() + " --root " + work.path() + " --authfile " + reg().authfile() + " pull " +
                              reg().host() + "/imgbuild/base:1");
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("certificate"), std::string::npos) << r.out;
    // --insecure-registry skips verification.
    auto ok = regtest::run_cmd(e2e::bin() + " --root " + work.path() + " --authfile " + reg().authfile() +
                               " --insecure-registry " + reg().host() + " pull " + reg().host() + "/imgbuild/base:1");
    EXPECT_EQ(ok.status, 0) << ok.out;
}

// The config's import caps bind a pull too (and a build's FROM of a registry image): a layer over
// them is refused, naming the cap, and the store keeps nothing of the image.
TEST(RegistryE2E, ConfigImportCapsBindPullAndBuildFrom) {
    NEED_REGISTRY();
    std::string dest = reg().host() + "/imgbuild/capped:1";
    auto push = regtest::run_cmd(ib_reg(BuildEnv::get().root(), "push busybox:latest " + dest), false);
    ASSERT_EQ(push.status, 0) << push.out;
    sys::TempDir work("/tmp", "imgbuild-reg-caps-");
    std::string cfg = work.path() + "/config.yaml";
    sys::write_file_atomic(cfg, "import:\n  max_uncompressed: 64k\n");  // busybox is ~2 MiB
    std::string store = work.path() + "/store";
    auto pull = regtest::run_cmd(ib_reg(store, "--config " + cfg + " pull " + dest));
    EXPECT_NE(pull.status, 0) << pull.out;
    EXPECT_NE(pull.out.find("import limit"), std::string::npos) << pull.out;
    auto images = regtest::run_cmd(e2e::bin() + " --root " + store + " images", false);
    EXPECT_EQ(images.out.find("capped"), std::string::npos) << images.out;

    sys::mkdir_p(work.path() + "/ctx");
    sys::write_file_atomic(work.path() + "/ctx/Buildfile", "FROM " + dest + "\nRUN true\n");
    auto build = regtest::run_cmd(ib_reg(store, "--config " + cfg + " build " + work.path() + "/ctx"));
    EXPECT_NE(build.status, 0) << build.out;
    EXPECT_NE(build.out.find("import limit"), std::string::npos) << build.out;

    // Without the config the same pull succeeds: the cap, not the image, refused it.
    auto ok = regtest::run_cmd(ib_reg(store, "pull " + dest));
    EXPECT_EQ(ok.status, 0) << ok.out;
}
