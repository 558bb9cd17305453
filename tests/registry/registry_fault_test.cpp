// Faults a registry (or whatever stands in its place) can throw at `imgbuild pull`, served by a
// scripted HTTP server on 127.0.0.1 (an --insecure-registry host): 429 with Retry-After, a
// blob cut mid-transfer, a wrong Docker-Content-Digest, an oversized manifest, a mediaType that
// differs from the Content-Type, redirects to file:// and to another host. After every failure
// the store holds nothing partial (no blob with bad content, empty ingest/).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "../e2e/busybox_fixture.hpp"
#include "cas/digest.hpp"
#include "cas/store.hpp"
#include "registry/transfer.hpp"
#include "fault_server.hpp"
#include "tar_bytes.hpp"
#include "sys/fs.hpp"

using regtest::FaultServer;
using regtest::http_response;
using regtest::Req;

namespace {

// A tiny image: gzip tar layers (one by default), their config and an OCI manifest.
struct FakeImage {
    struct Layer {
        std::string blob;
        cas::Digest d = cas::Digest::of(""), diff_id = cas::Digest::of("");
    };
    std::vector<Layer> layers;
    std::string layer, config, manifest;  // layer: the first layer's blob
    cas::Digest layer_d = cas::Digest::of(""), config_d = cas::Digest::of(""), manifest_d = cas::Digest::of("");
    // Each tar is gzipped; its diff_id in the config is the tar's digest unless `diff_ids` says otherwise.
    explicit FakeImage(std::vector<std::string> tars = {regtest::ustar({{"hello.txt", std::string(200000, 'L')}})},
                       std::vector<cas::Digest> diff_ids = {}) {
        std::string diffs, descs;
        for (size_t i = 0; i < tars.size(); i++) {
            Layer l{regtest::gzip(tars[i])};
            l.d = cas::Digest::of(l.blob);
            l.diff_id = i < diff_ids.size() ? diff_ids[i] : cas::Digest::of(tars[i]);
            diffs += std::string(i ? "," : "") + "\"" + l.diff_id.str() + "\"";
            descs += std::string(i ? "," : "") + R"({"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":")" +
                     l.d.str() + R"(","size":)" + std::to_string(l.blob.size()) + "}";
            layers.push_back(l);
        }
        layer = layers[0].blob;
        layer_d = layers[0].d;
        config = R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[)" + diffs + "]}}";
        config_d = cas::Digest::of(config);
        manifest = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":")" +
                   config_d.str() + R"(","size":)" + std::to_string(config.size()) + R"(},"layers":[)" + descs + "]}";
        manifest_d = cas::Digest::of(manifest);
    }
    // The normal answer to a request (404 for unknown paths).
    std::string answer(const Req& r) const {
        if (r.path == "/v2/" ) return http_response(200, "OK", {}, "{}");
        if (r.path.find("/manifests/") != std::string::npos)
            return http_response(200, "OK", {"Content-Type: application/vnd.oci.image.manifest.v1+json",
                                             "Docker-Content-Digest: " + manifest_d.str()}, manifest);
        if (r.path.find("/blobs/" + config_d.str()) != std::string::npos) return http_response(200, "OK", {}, config);
        for (auto& l : layers)
            if (r.path.find("/blobs/" + l.d.str()) != std::string::npos) return http_response(200, "OK", {}, l.blob);
        return http_response(404, "Not Found", {}, "{\"errors\":[{\"code\":\"NOT_FOUND\",\"message\":\"no\"}]}");
    }
};

std::string header(const Req& r, const std::string& name) {
    auto it = r.headers.find(name);
    return it == r.headers.end() ? "" : it->second;
}

struct Env {
    sys::TempDir dir{"/tmp", "imgbuild-fault-"};
    std::string store() const { return dir.path() + "/store"; }
    e2e::CmdResult pull(int port, const std::string& extra = "") const {
        std::string host = "127.0.0.1:" + std::to_string(port);
        return e2e::run_cmd(std::string(IMGBUILD_BIN) + " --root " + store() + " --authfile " + dir.path() +
                            "/auth.json --insecure-registry " + host + " " + extra + " pull " + host + "/x/img:1");
    }
    // Nothing partial: every blob matches its name and ingest/ is empty.
    void expect_consistent() const {
        namespace fs = std::filesystem;
        if (fs::exists(store() + "/blobs/sha256")) {
            for (auto& e : fs::directory_iterator(store() + "/blobs/sha256")) {
                EXPECT_EQ(cas::Digest::of(sys::read_file(e.path(), 64u << 20)).hex(), e.path().filename().string());
            }
        }
        if (fs::exists(store() + "/ingest")) {
            EXPECT_TRUE(fs::is_empty(store() + "/ingest"));
        }
    }
    bool has(const cas::Digest& d) const { return sys::exists(store() + "/blobs/sha256/" + d.hex()); }
};

}  // namespace

TEST(RegistryFault, RetriesAfter429HonouringRetryAfter) {
    FakeImage img;
    std::atomic<int> n{0};
    FaultServer s([&](const Req& r) {
        if (r.path.find("/manifests/") != std::string::npos && n++ == 0)
            return http_response(429, "Too Many Requests", {"Retry-After: 1"}, "");
        return img.answer(r);
    });
    Env env;
    auto r = env.pull(s.port());
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_GE(n.load(), 2);
    EXPECT_TRUE(env.has(img.layer_d));
    env.expect_consistent();
}

TEST(RegistryFault, BlobCutMidTransferIsRetriedNeverStoredPartial) {
    FakeImage img;
    std::atomic<int> cuts{0};
    FaultServer s([&](const Req& r) {
        if (r.path.find(img.layer_d.str()) != std::string::npos && cuts++ == 0)
            return http_response(200, "OK", {}, img.layer, false);
        return img.answer(r);
    });
    Env env;
    auto r = env.pull(s.port());
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(cuts.load(), 2);
    EXPECT_TRUE(env.has(img.layer_d));
    env.expect_consistent();

    // Always cut: the pull fails after its retries and the layer is not in the store.
    FaultServer always([&](const Req& r) {
        if (r.path.find(img.layer_d.str()) != std::string::npos) return http_response(200, "OK", {}, img.layer, false);
        return img.answer(r);
    });
    Env env2;
    auto bad = env2.pull(always.port());
    EXPECT_EQ(bad.status, 1) << bad.out;
    EXPECT_FALSE(env2.has(img.layer_d));
    env2.expect_consistent();
}

TEST(RegistryFault, WrongDockerContentDigestIsRejected) {
    FakeImage img;
    FaultServer s([&](const Req& r) {
        if (r.path.find("/manifests/") != std::string::npos)
            return http_response(200, "OK", {"Content-Type: application/vnd.oci.image.manifest.v1+json",
                                             "Docker-Content-Digest: " + cas::Digest::of("other").str()}, img.manifest);
        return img.answer(r);
    });
    Env env;
    auto r = env.pull(s.port());
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("Docker-Content-Digest"), std::string::npos) << r.out;
    EXPECT_FALSE(env.has(img.manifest_d));
    env.expect_consistent();
}

TEST(RegistryFault, OversizedManifestAndMediaTypeMismatchAreRejected) {
    FakeImage img;
    std::string huge(5u << 20, ' ');
    FaultServer s([&](const Req& r) {
        if (r.path.find("/manifests/") != std::string::npos) return http_response(200, "OK", {"Content-Type: application/vnd.oci.image.manifest.v1+json"}, huge);
        return img.answer(r);
    });
    Env env;
    auto r = env.pull(s.port());
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("larger than"), std::string::npos) << r.out;
    env.expect_consistent();

    FaultServer mt([&](const Req& r) {
        if (r.path.find("/manifests/") != std::string::npos)
            return http_response(200, "OK", {"Content-Type: application/vnd.docker.distribution.manifest.v2+json"}, img.manifest);
        return img.answer(r);
    });
    auto r2 = env.pull(mt.port());
    EXPECT_EQ(r2.status, 1) << r2.out;
    EXPECT_NE(r2.out.find("differs from the Content-Type"), std::string::npos) << r2.out;
}

TEST(RegistryFault, RedirectsToFileAndToAnotherHostWithoutCredentials) {
    FakeImage img;
    // Another host (by name) that serves the layer and records whether credentials came along.
    FaultServer other([&](const Req& r) { return img.answer(r); });
    std::string other_url = "http://localhost:" + std::to_string(other.port());
    std::atomic<bool> to_file{true};
    FaultServer s([&](const Req& r) {
        if (r.headers.count("authorization") == 0)
            return http_response(401, "Unauthorized", {"WWW-Authenticate: Basic realm=\"test\""}, "");
        if (r.path.find(img.layer_d.str()) != std::string::npos)
            return http_response(307, "Temporary Redirect",
                                 {"Location: " + (to_file ? std::string("file:///etc/passwd") : other_url + r.path)}, "");
        return img.answer(r);
    });
    Env env;
    sys::write_file_atomic(env.dir.path() + "/auth.json", "{\"auths\":{\"127.0.0.1:" + std::to_string(s.port()) +
                                                              "\":{\"auth\":\"dTpzZWNyZXQ=\"}}}");  // u:secret
    auto r = env.pull(s.port());
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find("refusing redirect to file://"), std::string::npos) << r.out;
    EXPECT_FALSE(env.has(img.layer_d));
    env.expect_consistent();

    to_file = false;
    auto ok = env.pull(s.port(), "--insecure-registry localhost:" + std::to_string(other.port()));
    ASSERT_EQ(ok.status, 0) << ok.out;
    EXPECT_TRUE(env.has(img.layer_d));
    auto reqs = other.requests();
    ASSERT_FALSE(reqs.empty());
    for (auto& q : reqs) EXPECT_EQ(q.headers.count("authorization"), 0u) << "credentials forwarded to " << q.path;
    // An https-only host may not redirect to plain http.
    env.expect_consistent();
}

TEST(RegistryFault, BearerTokenFlowWithCachedTokenPerScope) {
    FakeImage img;
    std::atomic<int> token_requests{0};
    std::string realm;
    FaultServer s([&](const Req& r) {
        if (r.path.rfind("/token", 0) == 0) {
            token_requests++;
            // Credentials go to the token realm as Basic; the scope names the repository.
            if (header(r, "authorization") != "Basic dTpzZWNyZXQ=" || r.path.find("scope=repository%3Ax%2Fimg%3Apull") == std::string::npos)
                return http_response(401, "Unauthorized", {}, "");
            return http_response(200, "OK", {"Content-Type: application/json"}, "{\"access_token\":\"tok123\",\"expires_in\":300}");
        }
        if (header(r, "authorization") != "Bearer tok123")
            return http_response(401, "Unauthorized",
                                 {"WWW-Authenticate: Bearer realm=\"" + realm + "\",service=\"fake\",scope=\"repository:x/img:pull\""}, "");
        return img.answer(r);
    });
    realm = "http://127.0.0.1:" + std::to_string(s.port()) + "/token";
    Env env;
    sys::write_file_atomic(env.dir.path() + "/auth.json", "{\"auths\":{\"127.0.0.1:" + std::to_string(s.port()) +
                                                              "\":{\"auth\":\"dTpzZWNyZXQ=\"}}}");  // u:secret
    auto r = env.pull(s.port());
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(token_requests.load(), 1) << "the token is cached for its scope";
    EXPECT_TRUE(env.has(img.layer_d));
    for (auto& q : s.requests()) {
        if (q.path.rfind("/token", 0) != 0 && q.headers.count("authorization")) {
            EXPECT_EQ(q.headers.at("authorization"), "Bearer tok123") << "registry requests carry the token, never the password";
        }
    }
    env.expect_consistent();
}

// Every layer goes through cas::verify_layer_stream before it becomes visible: a diff_id that
// does not match the config, or a tar entry that climbs out of the root, fails the pull naming
// the layer, and nothing of the image (not even its good layers or its config) is left stored.
TEST(RegistryFault, LayerWhoseDiffIdDoesNotMatchTheConfigIsNotStored) {
    std::string good = regtest::ustar({{"a.txt", "aaa"}});
    std::string second = regtest::ustar({{"b.txt", "bbb"}});
    FakeImage img({good, second}, {cas::Digest::of(good), cas::Digest::of("not the tar")});
    FaultServer s([&](const Req& r) { return img.answer(r); });
    Env env;
    auto r = env.pull(s.port());
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find(img.layers[1].d.str()), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("diff_id"), std::string::npos) << r.out;
    for (auto& l : img.layers) EXPECT_FALSE(env.has(l.d)) << l.d.str();
    EXPECT_FALSE(env.has(img.config_d));
    EXPECT_FALSE(env.has(img.manifest_d));
    env.expect_consistent();
}

TEST(RegistryFault, LayerWithAnUnsafeEntryIsNotStored) {
    FakeImage img({regtest::ustar({{"ok.txt", "fine"}, {"../../escape.txt", "bad"}})});
    FaultServer s([&](const Req& r) { return img.answer(r); });
    Env env;
    auto r = env.pull(s.port());
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find(img.layer_d.str()), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("escape.txt"), std::string::npos) << r.out;
    EXPECT_FALSE(env.has(img.layer_d));
    EXPECT_FALSE(env.has(img.config_d));
    env.expect_consistent();
}

// Layers download in parallel and are read as they arrive, but what depends on the earlier
// layers is checked in layer order: a symlink planted by layer 1 that layer 2 writes through
// fails the pull (whichever download finished first), and nothing is stored.
TEST(RegistryFault, PathThroughASymlinkOfAnEarlierLayerIsRejectedInLayerOrder) {
    FakeImage img({regtest::ustar({{"lnk", "/etc", '2'}}), regtest::ustar({{"lnk/passwd", "x"}})});
    FaultServer s([&](const Req& r) { return img.answer(r); }, true);
    Env env;
    auto r = env.pull(s.port());
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find(img.layers[1].d.str()), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("planted by an earlier layer"), std::string::npos) << r.out;
    for (auto& l : img.layers) EXPECT_FALSE(env.has(l.d)) << l.d.str();
    EXPECT_FALSE(env.has(img.manifest_d));
    env.expect_consistent();
}

// A Bearer token whose expires_in has passed is fetched again before the next request (the
// registry here would refuse it): the config answer is held back past the 1 s lifetime, so the
// layer request must carry a second token.
TEST(RegistryFault, ShortLivedBearerTokenIsRefreshed) {
    FakeImage img;
    std::atomic<int> issued{0};
    std::string realm;
    std::mutex mu;
    std::set<std::string> valid;  // tokens the registry accepts (each only until the next one is issued)
    FaultServer tokens([&](const Req& r) {
        std::lock_guard<std::mutex> l(mu);
        std::string t = "tok" + std::to_string(++issued);
        valid = {t};
        return http_response(200, "OK", {"Content-Type: application/json"}, "{\"token\":\"" + t + "\",\"expires_in\":1}");
    });
    realm = "http://127.0.0.1:" + std::to_string(tokens.port()) + "/token";
    FaultServer s([&](const Req& r) {
        std::string a = header(r, "authorization");
        bool ok;
        {
            std::lock_guard<std::mutex> l(mu);
            ok = a.rfind("Bearer ", 0) == 0 && valid.count(a.substr(7));
        }
        if (!ok)
            return http_response(401, "Unauthorized", {"WWW-Authenticate: Bearer realm=\"" + realm + "\",service=\"fake\""}, "");
        if (r.path.find("/blobs/" + img.config_d.str()) != std::string::npos)
            std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        return img.answer(r);
    });
    Env env;
    sys::write_file_atomic(env.dir.path() + "/auth.json", "{}");
    auto r = env.pull(s.port(), "--insecure-registry 127.0.0.1:" + std::to_string(tokens.port()));
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("expired, fetching a new one"), std::string::npos) << r.out;
    EXPECT_GE(issued.load(), 2);
    for (auto& q : s.requests())
        if (q.path.find("/blobs/" + img.layer_d.str()) != std::string::npos) {
            EXPECT_NE(header(q, "authorization"), "Bearer tok1") << "the expired token was used for the layer";
        }
    EXPECT_TRUE(env.has(img.layer_d));
    env.expect_consistent();
}

// insufficient_scope: the token is fetched again for the scopes the registry names plus our own
// (one scope= parameter each), and that wider token serves the later requests (no third fetch).
TEST(RegistryFault, InsufficientScopeReScopesOnce) {
    FakeImage img;
    std::atomic<int> issued{0};
    std::string realm, wide_query;
    FaultServer tokens([&](const Req& r) {
        issued++;
        bool wide = r.path.find("scope=repository%3Aother%2Fbase%3Apull") != std::string::npos;
        if (wide) wide_query = r.path;
        return http_response(200, "OK", {"Content-Type: application/json"},
                             std::string("{\"token\":\"") + (wide ? "wide" : "narrow") + "\",\"expires_in\":300}");
    });
    realm = "http://127.0.0.1:" + std::to_string(tokens.port()) + "/token";
    FaultServer s([&](const Req& r) {
        std::string a = header(r, "authorization");
        if (a == "Bearer wide") return img.answer(r);
        std::string ch = "Bearer realm=\"" + realm + "\",service=\"fake\"";
        if (a == "Bearer narrow")
            ch += ",scope=\"repository:x/img:pull repository:other/base:pull\",error=\"insufficient_scope\"";
        return http_response(401, "Unauthorized", {"WWW-Authenticate: " + ch}, "");
    });
    Env env;
    sys::write_file_atomic(env.dir.path() + "/auth.json", "{}");
    auto r = env.pull(s.port(), "--insecure-registry 127.0.0.1:" + std::to_string(tokens.port()));
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(issued.load(), 2) << "narrow, then wide once";
    EXPECT_NE(wide_query.find("scope=repository%3Ax%2Fimg%3Apull&scope=repository%3Aother%2Fbase%3Apull"), std::string::npos)
        << wide_query;
    EXPECT_TRUE(env.has(img.layer_d));
    env.expect_consistent();
}

// `push --chunk-size`: blobs go up as PATCH chunks with Content-Range. A chunk cut mid-way (the
// registry kept part of it) is not re-sent blindly: the client asks the session (GET -> Range)
// and continues from the registry's offset, so the blob assembles to the right digest.
TEST(RegistryFault, ChunkedUploadResumesFromTheSessionRangeAfterACutPatch) {
    std::string noise;
    uint32_t x = 12345;
    for (int i = 0; i < 300000; i++) noise += char((x = x * 1103515245 + 12345) >> 24);
    FakeImage img({regtest::ustar({{"noise.bin", noise}})});
    FaultServer src([&](const Req& r) { return img.answer(r); });
    Env env;
    sys::write_file_atomic(env.dir.path() + "/auth.json", "{}");
    ASSERT_EQ(env.pull(src.port()).status, 0);

    std::mutex mu;
    std::string session;                 // bytes the upload session holds
    std::map<std::string, std::string> blobs;  // digest -> content (completed uploads)
    int patches = 0, cuts = 0, manifests = 0;
    FaultServer dst([&](const Req& r) -> std::string {
        std::lock_guard<std::mutex> l(mu);
        const std::string up = "/v2/y/img/blobs/uploads/u1";
        auto range = [&] { return "Range: 0-" + std::to_string(session.empty() ? 0 : session.size() - 1); };
        if (r.path == "/v2/") return http_response(200, "OK", {}, "{}");
        if (r.method == "HEAD") {
            std::string d = r.path.substr(r.path.rfind('/') + 1);
            return blobs.count(d) ? http_response(200, "OK", {}, "") : http_response(404, "Not Found", {}, "");
        }
        if (r.method == "POST" && r.path == "/v2/y/img/blobs/uploads/") {
            session.clear();
            return http_response(202, "Accepted", {"Location: " + up, "Range: 0-0"}, "");
        }
        if (r.method == "PATCH" && r.path == up) {
            std::string cr = header(r, "content-range");
            if (std::stoull(cr.substr(0, cr.find('-'))) != session.size()) return http_response(416, "Range Not Satisfiable", {}, "");
            if (++patches == 2 && cuts++ == 0) {
                session += r.body.substr(0, r.body.size() / 3);  // part of the chunk arrived, then the connection died
                return "";
            }
            session += r.body;
            return http_response(202, "Accepted", {"Location: " + up, range()}, "");
        }
        if (r.method == "GET" && r.path == up) return http_response(204, "No Content", {"Location: " + up, range()}, "");
        if (r.method == "PUT" && r.path.rfind(up + "?digest=", 0) == 0) {
            std::string d = r.path.substr(r.path.find("digest=") + 7);
            session += r.body;
            if (cas::Digest::of(session).str() != d) return http_response(400, "Bad Request", {}, "{\"errors\":[{\"code\":\"DIGEST_INVALID\",\"message\":\"x\"}]}");
            blobs[d] = session;
            return http_response(201, "Created", {"Location: /v2/y/img/blobs/" + d}, "");
        }
        if (r.method == "PUT" && r.path.find("/manifests/") != std::string::npos) {
            manifests++;
            return http_response(201, "Created", {"Docker-Content-Digest: " + cas::Digest::of(r.body).str()}, "");
        }
        return http_response(404, "Not Found", {}, "");
    });
    std::string host = "127.0.0.1:" + std::to_string(dst.port());
    auto r = e2e::run_cmd(std::string(IMGBUILD_BIN) + " --root " + env.store() + " --authfile " + env.dir.path() +
                          "/auth.json --insecure-registry " + host +
                          // one upload at a time: this fake registry keeps a single upload session
                          " --max-concurrent-transfers 1 push --chunk-size 65536 127.0.0.1:" +
                          std::to_string(src.port()) + "/x/img:1 " + host + "/y/img:1");
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(cuts, 1);
    EXPECT_NE(r.out.find("resuming at offset"), std::string::npos) << r.out;
    EXPECT_GE(patches, 5) << "the layer went up in 64 KiB chunks";
    EXPECT_EQ(manifests, 1);
    EXPECT_TRUE(blobs.count(img.layer_d.str())) << "the layer assembled to its digest";
    int puts_with_body = 0;
    for (auto& q : dst.requests())
        if (q.method == "PUT" && q.path.find("digest=" + img.layer_d.str()) != std::string::npos && !q.body.empty()) puts_with_body++;
    EXPECT_EQ(puts_with_body, 0) << "no monolithic upload of the layer (the small config goes in one PUT)";
}

// An image that lists the same layer twice downloads it once (one transfer per digest), and
// verifies it at both places of the chain.
TEST(RegistryFault, SameLayerTwiceIsDownloadedOnce) {
    std::string tar = regtest::ustar({{"same.txt", "same"}});
    FakeImage img({tar, tar});
    FaultServer s([&](const Req& r) { return img.answer(r); });
    Env env;
    auto r = env.pull(s.port());
    ASSERT_EQ(r.status, 0) << r.out;
    int gets = 0;
    for (auto& q : s.requests()) gets += q.path.find("/blobs/" + img.layer_d.str()) != std::string::npos;
    EXPECT_EQ(gets, 1);
    EXPECT_TRUE(env.has(img.layer_d));
    env.expect_consistent();
}

namespace {

// Holds each request it is given until `width` are in flight at once (or the deadline passes),
// and counts the most that were ever in flight: a client that keeps at most N transfers
// outstanding shows exactly N when width is N; a serial one shows 1; an unlimited one more.
struct Holder {
    explicit Holder(int w, std::chrono::seconds d = std::chrono::seconds(5)) : width(w), deadline(d) {}
    void hold() {
        std::unique_lock<std::mutex> l(mu);
        max_seen = std::max(max_seen, ++in_flight);
        unsigned my = gen;
        if (in_flight >= width) {
            gen++;
            cv.notify_all();
        } else {
            cv.wait_for(l, deadline, [&] { return gen != my; });
        }
        in_flight--;
    }
    int most() {
        std::lock_guard<std::mutex> l(mu);
        return max_seen;
    }
    int width;
    std::chrono::seconds deadline;
    std::mutex mu;
    std::condition_variable cv;
    int in_flight = 0, max_seen = 0;
    unsigned gen = 0;
};

int count_requests(FaultServer& s, const std::string& method, const std::string& part) {
    int n = 0;
    for (auto& q : s.requests()) n += q.method == method && q.path.find(part) != std::string::npos;
    return n;
}

}  // namespace

// Layers are downloaded in parallel: at most N at once (--max-concurrent-transfers N, default
// 3), more than one really at once, and a digest listed twice is fetched once.
TEST(RegistryParallel, PullDownloadsLayersInParallelAtMostN) {
    std::vector<std::string> tars;
    for (int i = 0; i < 6; i++) tars.push_back(regtest::ustar({{"f" + std::to_string(i), std::string(100000 + i, char('a' + i))}}));
    tars.push_back(tars[0]);  // the first layer again
    FakeImage img(tars);
    for (int n : {2, 3}) {
        Holder h(n);
        FaultServer s(
            [&](const Req& r) {
                for (auto& l : img.layers)
                    if (r.path.find("/blobs/" + l.d.str()) != std::string::npos) h.hold();
                return img.answer(r);
            },
            true);
        Env env;
        auto r = env.pull(s.port(), n == 3 ? "" : "--max-concurrent-transfers " + std::to_string(n));
        ASSERT_EQ(r.status, 0) << r.out;
        EXPECT_EQ(h.most(), n) << "layer GETs in flight at once";
        for (auto& l : img.layers) {
            EXPECT_EQ(count_requests(s, "GET", "/blobs/" + l.d.str()), 1) << l.d.str();
            EXPECT_TRUE(env.has(l.d));
        }
        EXPECT_TRUE(env.has(img.manifest_d));
        env.expect_consistent();
    }
}

// Two pulls of one process (as two bake targets or a FROM and a COPY --from resolving at once)
// that need the same layer transfer it once: the second waits for the first.
TEST(RegistryParallel, ConcurrentPullsInOneProcessFetchASharedLayerOnce) {
    std::string common = regtest::ustar({{"common.txt", std::string(150000, 'c')}});
    FakeImage a({common, regtest::ustar({{"a.txt", "a"}})}), b({common, regtest::ustar({{"b.txt", "b"}})});
    ASSERT_EQ(a.layer_d, b.layer_d);
    Holder h(2, std::chrono::seconds(3));  // a second GET of the shared layer would meet the first here
    FaultServer s(
        [&](const Req& r) {
            if (r.path.find("/blobs/" + a.layer_d.str()) != std::string::npos) h.hold();
            return r.path.find("/x/b/") != std::string::npos ? b.answer(r) : a.answer(r);
        },
        true);
    Env env;
    std::string host = "127.0.0.1:" + std::to_string(s.port());
    registry::Options o;
    o.insecure.insert(host);
    o.auth.authfile = env.dir.path() + "/auth.json";
    std::vector<std::string> errors(2);
    std::vector<std::thread> pulls;
    for (int i = 0; i < 2; i++)
        pulls.emplace_back([&, i] {
            try {
                cas::Store st = cas::Store::open(env.store());
                registry::pull(st, registry::parse_remote_ref(host + (i ? "/x/b:1" : "/x/a:1")), o);
            } catch (const std::exception& e) {
                errors[i] = e.what();
            }
        });
    for (auto& t : pulls) t.join();
    EXPECT_EQ(errors[0], "");
    EXPECT_EQ(errors[1], "");
    EXPECT_EQ(count_requests(s, "GET", "/blobs/" + a.layer_d.str()), 1);
    EXPECT_EQ(h.most(), 1);
    for (auto* im : {&a, &b}) {
        EXPECT_TRUE(env.has(im->manifest_d));
        for (auto& l : im->layers) EXPECT_TRUE(env.has(l.d));
    }
    env.expect_consistent();
}

// Blobs of a push go up in parallel, at most N at once, each digest once.
TEST(RegistryParallel, PushUploadsBlobsInParallelAtMostN) {
    Env env;
    std::string ctx = env.dir.path() + "/ctx";
    sys::mkdir_p(ctx, 0755);
    std::string bf = "FROM scratch\n";
    for (int i = 0; i < 4; i++) {
        sys::write_file_atomic(ctx + "/f" + std::to_string(i), std::string(50000 + i, char('p' + i)));
        bf += "COPY f" + std::to_string(i) + " /f" + std::to_string(i) + "\n";
    }
    sys::write_file_atomic(ctx + "/Buildfile", bf);
    auto b = e2e::run_cmd(std::string(IMGBUILD_BIN) + " --root " + env.store() + " build -t pimg:1 " + ctx);
    ASSERT_EQ(b.status, 0) << b.out;
    Holder h(2);
    std::atomic<int> session{0};
    FaultServer s(
        [&](const Req& r) {
            if (r.path == "/v2/") return http_response(200, "OK", {}, "{}");
            if (r.method == "HEAD") return http_response(404, "Not Found", {}, "");
            if (r.method == "POST" && r.path.find("/blobs/uploads/") != std::string::npos)
                return http_response(202, "Accepted", {"Location: /v2/x/pimg/blobs/uploads/u" + std::to_string(session++)}, "");
            if (r.method == "PUT" && r.path.find("/blobs/uploads/") != std::string::npos) {
                h.hold();
                std::string dg = r.path.substr(r.path.find("digest=") + 7);
                for (size_t p; (p = dg.find("%3A")) != std::string::npos;) dg.replace(p, 3, ":");
                if (cas::Digest::of(r.body).str() != dg) return http_response(400, "Bad Request", {}, "");
                return http_response(201, "Created", {"Docker-Content-Digest: " + dg}, "");
            }
            if (r.method == "PUT" && r.path.find("/manifests/") != std::string::npos)
                return http_response(201, "Created", {"Docker-Content-Digest: " + cas::Digest::of(r.body).str()}, "");
            return http_response(404, "Not Found", {}, "");
        },
        true);
    std::string host = "127.0.0.1:" + std::to_string(s.port());
    auto r = e2e::run_cmd(std::string(IMGBUILD_BIN) + " --root " + env.store() + " --insecure-registry " + host +
                          " push --max-concurrent-transfers 2 pimg:1 " + host + "/x/pimg:1");
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(h.most(), 2) << "blob PUTs in flight at once";
    std::map<std::string, int> per_digest;
    for (auto& q : s.requests())
        if (q.method == "PUT" && q.path.find("/blobs/uploads/") != std::string::npos) per_digest[q.path.substr(q.path.find("digest="))]++;
    EXPECT_EQ(per_digest.size(), 5u) << "4 layers and the config";
    for (auto& [d, n] : per_digest) EXPECT_EQ(n, 1) << d;
}
