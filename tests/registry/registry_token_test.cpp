// Through the binary against a real docker-registry with `auth: token`: the realm is a token
// server of the test (RS256 JWTs signed with OpenSSL, the certificate in the registry's
// rootcertbundle). Push and pull go through Bearer tokens; pushing the image to a second
// repository mounts its blobs from the first (re-scoped token, no blob upload).
#include <gtest/gtest.h>

#include <regex>

#include "../e2e/build_env.hpp"
#include "registry_fixture.hpp"
#include "token_server.hpp"

using e2e::BuildEnv;
using regtest::Registry;
using regtest::TokenServer;

namespace {

struct TokenRegistry {
    sys::TempDir dir{"/tmp", "imgbuild-token-"};
    std::unique_ptr<TokenServer> tokens;
    std::unique_ptr<Registry> reg;
    std::string skip;
    TokenRegistry() {
        if (!regtest::have_tool("docker-registry") || !regtest::have_tool("openssl")) {
            skip = "docker-registry or openssl is not installed (scripts/setup installs them)";
            return;
        }
        tokens = std::make_unique<TokenServer>(dir.path(), 300);
        reg = std::make_unique<Registry>(regtest::TokenAuth{tokens->realm(), tokens->rootcert(), TokenServer::kService, TokenServer::kIssuer});
    }
    // imgbuild with the registry's credentials and CA; the token realm is plain http on loopback.
    std::string ib(const std::string& root, const std::string& args) const {
        return e2e::bin() + " --root " + root + " " + reg->ib_flags() + "--insecure-registry " + tokens->host() + " " + args;
    }
    // Access-log lines of the registry for METHOD on paths containing PART.
    int requests(const std::string& method, const std::string& part) const {
        std::string log = sys::read_file(reg->dir() + "/registry.log");
        int n = 0;
        for (size_t p = 0; (p = log.find("\"" + method + " ", p)) != std::string::npos; p++) {
            size_t e = log.find('"', p + 1);
            if (log.substr(p, e - p).find(part) != std::string::npos) n++;
        }
        return n;
    }
};

TokenRegistry& treg() {
    static TokenRegistry r;
    return r;
}

#define NEED_TOKEN_REGISTRY()                                                               \
    do {                                                                                    \
        if (!treg().skip.empty()) GTEST_SKIP() << treg().skip;                              \
        if (!treg().reg->skip_reason().empty()) GTEST_SKIP() << treg().reg->skip_reason();   \
        if (!BuildEnv::get().base_error().empty()) GTEST_SKIP() << BuildEnv::get().base_error(); \
    } while (0)

}  // namespace

TEST(RegistryToken, PushPullThroughBearerTokensThenCrossRepoMount) {
    NEED_TOKEN_REGISTRY();
    auto& t = treg();
    std::string a = t.reg->host() + "/tok/base:1", b = t.reg->host() + "/tok/other:1";
    auto push = regtest::run_cmd(t.ib(BuildEnv::get().root(), "push busybox:latest " + a), false);
    ASSERT_EQ(push.status, 0) << push.out << sys::read_file(t.reg->dir() + "/registry.log");
    EXPECT_GE(t.tokens->issued(), 1);
    bool push_scope = false;
    for (auto& s : t.tokens->scopes())
        for (auto& one : s) push_scope |= one == "repository:tok/base:pull,push";
    EXPECT_TRUE(push_scope) << "a pull,push token was asked for";

    // A fresh store pulls it (Bearer, pull scope) and gets the same manifest.
    sys::TempDir store("/tmp", "imgbuild-token-store-");
    auto pull = regtest::run_cmd(t.ib(store.path(), "pull " + a), false);
    ASSERT_EQ(pull.status, 0) << pull.out;
    std::string pushed = push.out.substr(push.out.rfind("sha256:"), 71);
    EXPECT_NE(pull.out.find(pushed), std::string::npos) << pull.out;

    // That store knows the image as tok/base of this registry: pushing it to tok/other mounts
    // every blob (POST ?mount=...&from=tok/base), so no blob is uploaded to tok/other.
    int tokens_before = t.tokens->issued();
    auto again = regtest::run_cmd(t.ib(store.path(), "push " + a + " " + b));
    ASSERT_EQ(again.status, 0) << again.out;
    EXPECT_NE(again.out.find("mounted"), std::string::npos) << again.out;
    EXPECT_EQ(again.out.rfind("sha256:"), again.out.find(pushed)) << "same manifest digest: " << again.out;
    EXPECT_GE(t.requests("POST", "/v2/tok/other/blobs/uploads/?mount="), 1);
    EXPECT_EQ(t.requests("PATCH", "/v2/tok/other/blobs/uploads/"), 0);
    EXPECT_EQ(t.requests("PUT", "/v2/tok/other/blobs/uploads/"), 0);
    EXPECT_GT(t.tokens->issued(), tokens_before);
    auto check = regtest::run_cmd(t.ib(store.path(), "pull " + b), false);
    ASSERT_EQ(check.status, 0) << check.out;
    EXPECT_NE(check.out.find(pushed), std::string::npos) << check.out;
}

// The real registry takes PATCH chunks with Content-Range (distribution 2.8) and the pulled
// image is the pushed one.
TEST(RegistryToken, ChunkedPushIsAcceptedByTheRegistry) {
    NEED_TOKEN_REGISTRY();
    auto& t = treg();
    std::string dest = t.reg->host() + "/tok/chunked:1";
    auto push = regtest::run_cmd(t.ib(BuildEnv::get().root(), "push --chunk-size 256K busybox:latest " + dest), false);
    ASSERT_EQ(push.status, 0) << push.out;
    EXPECT_GE(t.requests("PATCH", "/v2/tok/chunked/blobs/uploads/"), 4) << "the ~1 MiB busybox layer in 256 KiB chunks";
    std::string pushed = push.out.substr(push.out.rfind("sha256:"), 71);
    sys::TempDir store("/tmp", "imgbuild-token-store-");
    auto pull = regtest::run_cmd(t.ib(store.path(), "pull " + dest), false);
    ASSERT_EQ(pull.status, 0) << pull.out;
    EXPECT_NE(pull.out.find(pushed), std::string::npos) << pull.out;
}
