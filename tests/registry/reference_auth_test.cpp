// Unit tests: remote references, auth challenges, credential files.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "registry/auth.hpp"
#include "registry/client.hpp"
#include "registry/http.hpp"
#include "registry/reference.hpp"
#include "registry/transfer.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"

using namespace registry;

TEST(RemoteRef, DockerHubNormalisation) {
    RemoteRef r = parse_remote_ref("debian");
    EXPECT_EQ(r.registry, "docker.io");
    EXPECT_EQ(r.repository, "library/debian");
    EXPECT_EQ(r.tag, "latest");
    EXPECT_EQ(r.api_host(), "registry-1.docker.io");
    EXPECT_EQ(parse_remote_ref("docker.io/library/debian:12").str(), "docker.io/library/debian:12");
    EXPECT_EQ(parse_remote_ref("index.docker.io/team/app:1").str(), "docker.io/team/app:1");
    EXPECT_EQ(parse_remote_ref("team/app").repository, "team/app");
}

TEST(RemoteRef, HostPortTagDigest) {
    std::string d = "sha256:" + std::string(64, 'a');
    RemoteRef r = parse_remote_ref("127.0.0.1:5000/x/base:1@" + d);
    EXPECT_EQ(r.registry, "127.0.0.1:5000");
    EXPECT_EQ(r.repository, "x/base");
    EXPECT_EQ(r.tag, "1");
    ASSERT_TRUE(r.digest);
    EXPECT_EQ(r.reference(), d);
    RemoteRef p = parse_remote_ref("localhost:5000/base");
    EXPECT_EQ(p.registry, "localhost:5000");
    EXPECT_EQ(p.tag, "latest");
    EXPECT_EQ(parse_remote_ref("localhost/base").registry, "localhost");
}

TEST(RemoteRef, RejectsBadInput) {
    for (const char* bad : {"", "UPPER/case", "host:5000/a:", "a@sha256:xyz", "a:b:c", "a//b", "x:bad tag"}) {
        try {
            parse_remote_ref(bad);
            ADD_FAILURE() << "accepted " << bad;
        } catch (const sys::Error& e) {
            EXPECT_EQ(e.code(), sys::Code::InvalidInput) << bad;
        }
    }
}

TEST(Challenge, ParsesBearerAndBasic) {
    auto c = parse_challenge(R"(Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push",error="insufficient_scope")");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->scheme, "bearer");
    EXPECT_EQ(c->params["realm"], "https://auth.example/token");
    EXPECT_EQ(c->params["service"], "registry.example");
    EXPECT_EQ(c->params["scope"], "repository:a/b:pull,push");
    EXPECT_EQ(c->params["error"], "insufficient_scope");
    auto b = parse_challenge(R"(Basic realm="x")");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->scheme, "basic");
    EXPECT_FALSE(parse_challenge(""));
}

TEST(Base64, RoundTrip) {
    for (std::string s : {"", "a", "ab", "abc", "user:pass:with:colons"}) EXPECT_EQ(base64_decode(base64_encode(s)), s);
    EXPECT_EQ(base64_encode("user:pass"), "dXNlcjpwYXNz");
    EXPECT_THROW(base64_decode("abc"), sys::Error);
}

class AuthFileTest : public ::testing::Test {
protected:
    sys::TempDir dir{"/tmp", "imgbuild-authtest-"};
    void SetUp() override {
        ::setenv("DOCKER_CONFIG", (dir.path() + "/docker").c_str(), 1);
        ::setenv("HOME", dir.path().c_str(), 1);
        ::unsetenv("REGISTRY_AUTH_FILE");
        ::unsetenv("XDG_RUNTIME_DIR");
    }
};

TEST_F(AuthFileTest, SaveIsMode0600AndFindable) {
    AuthFiles f;
    save_credentials(f, "127.0.0.1:5000", {"u", "p:w"});
    std::string path = dir.path() + "/docker/config.json";
    struct stat st{};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    auto c = find_credentials(f, "127.0.0.1:5000");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->username, "u");
    EXPECT_EQ(c->password, "p:w");
    EXPECT_FALSE(find_credentials(f, "other:1"));
    EXPECT_TRUE(remove_credentials(f, "127.0.0.1:5000"));
    EXPECT_FALSE(find_credentials(f, "127.0.0.1:5000"));
    EXPECT_FALSE(remove_credentials(f, "127.0.0.1:5000"));
}

TEST_F(AuthFileTest, AuthfileWinsAndDockerHubKeys) {
    sys::mkdir_p(dir.path() + "/docker");
    std::ofstream(dir.path() + "/docker/config.json") << R"({"auths":{"https://index.docker.io/v1/":{"auth":")"
                                                       << base64_encode("hub:pw") << R"("}}})";
    AuthFiles f;
    auto c = find_credentials(f, "docker.io");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->username, "hub");
    std::ofstream(dir.path() + "/alt.json") << R"({"auths":{"docker.io":{"auth":")" << base64_encode("alt:pw") << R"("}}})";
    AuthFiles alt{dir.path() + "/alt.json"};
    EXPECT_EQ(find_credentials(alt, "docker.io")->username, "alt");
}

TEST_F(AuthFileTest, CredentialHelperIsRun) {
    std::string bin = dir.path() + "/bin";
    sys::mkdir_p(bin);
    sys::write_file_atomic(bin + "/docker-credential-imgtest",
                           "#!/bin/sh\nread host\necho \"{\\\"Username\\\":\\\"helper-$host\\\",\\\"Secret\\\":\\\"sec\\\"}\"\n", 0755);
    std::string old = std::getenv("PATH") ? std::getenv("PATH") : "";
    ::setenv("PATH", (bin + ":" + old).c_str(), 1);
    sys::mkdir_p(dir.path() + "/docker");
    std::ofstream(dir.path() + "/docker/config.json") << R"({"credHelpers":{"reg.example:443":"imgtest"}})";
    auto c = find_credentials(AuthFiles{}, "reg.example:443");
    ::setenv("PATH", old.c_str(), 1);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->username, "helper-reg.example:443");
    EXPECT_EQ(c->password, "sec");
}

TEST(Http, RefusesOtherSchemes) {
    HttpRequest r;
    r.url = "file:///etc/passwd";
    try {
        http_do(r, {});
        FAIL();
    } catch (const sys::Error& e) {
        EXPECT_EQ(e.code(), sys::Code::InvalidInput);
    }
    EXPECT_EQ(resolve_url("https://a:1/v2/x/blobs/y", "/other?q=1"), "https://a:1/other?q=1");
    EXPECT_EQ(split_url("https://b.example:443/p?q").host, "b.example:443");
}

TEST(Token, ExpiryAndWidenedScope) {
    auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
    EXPECT_FALSE(registry::token_expiry(t0, 0).has_value());
    EXPECT_EQ(*registry::token_expiry(t0, 1), t0 + std::chrono::seconds(1));
    EXPECT_EQ(*registry::token_expiry(t0, 300), t0 + std::chrono::seconds(290));  // refreshed a little early
    EXPECT_EQ(registry::widen_scope("repository:b:pull,push", "repository:a:pull repository:b:pull,push"),
              "repository:b:pull,push repository:a:pull");
}

TEST(Upload, OffsetFromSessionRange) {
    EXPECT_EQ(registry::upload_offset("0-1023"), 1024u);
    EXPECT_EQ(registry::upload_offset("0-0"), 0u);  // distribution's answer for an empty session
    EXPECT_FALSE(registry::upload_offset("bytes=0-10").has_value());
    EXPECT_FALSE(registry::upload_offset("0-x").has_value());
    EXPECT_FALSE(registry::upload_offset("").has_value());
}
