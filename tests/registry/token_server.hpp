// A small token server for `docker-registry` with `auth: token` (distribution token spec):
// GET /token?service=S&scope=repository:NAME:ACTIONS... with Basic credentials answers a JWT
// signed RS256 by OpenSSL, with the signing certificate in the x5c header (the registry trusts it
// through its rootcertbundle). Every scope asked for is granted to the right user; the answer's
// expires_in is `expires_in` (the JWT itself is valid for 5 minutes). Counts what it issued.
#pragma once
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fault_server.hpp"
#include "registry_fixture.hpp"
#include "sys/fs.hpp"
#include "sys/path.hpp"

namespace regtest {

inline std::string b64url(const std::string& s) {
    std::string o = Registry::base64(s);
    while (!o.empty() && o.back() == '=') o.pop_back();
    for (auto& c : o) c = c == '+' ? '-' : c == '/' ? '_' : c;
    return o;
}

inline std::string url_unescape(const std::string& s) {
    std::string o;
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i] == '%' && i + 2 < s.size()) {
            o += char(std::stoi(s.substr(i + 1, 2), nullptr, 16));
            i += 2;
        } else {
            o += s[i] == '+' ? ' ' : s[i];
        }
    }
    return o;
}

class TokenServer {
public:
    static constexpr const char* kService = "imgbuild-test-registry";
    static constexpr const char* kIssuer = "imgbuild-test-issuer";

    // Makes its key and certificate in DIR (token.key, token.crt).
    TokenServer(const std::string& dir, long long expires_in)
        : dir_(dir), expires_in_(expires_in), server_([this](const Req& r) { return answer(r); }) {
        CmdResult r = run_cmd("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=imgbuild-token -keyout " + dir +
                              "/token.key -out " + dir + "/token.crt && openssl x509 -in " + dir + "/token.crt -outform DER -out " +
                              dir + "/token.der");
        if (r.status != 0) throw std::runtime_error("openssl (token key) failed: " + r.out);
        cert_der_ = sys::read_file(dir + "/token.der");
        std::string pem = sys::read_file(dir + "/token.key");
        std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), int(pem.size())), BIO_free);
        key_ = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
        if (!key_) throw std::runtime_error("token key unreadable");
    }
    ~TokenServer() { EVP_PKEY_free(key_); }
    std::string realm() const { return "http://" + host() + "/token"; }
    std::string host() const { return "127.0.0.1:" + std::to_string(server_.port()); }
    std::string rootcert() const { return dir_ + "/token.crt"; }
    int issued() const { return issued_; }
    // The scope= values of every token request, in order.
    std::vector<std::vector<std::string>> scopes() {
        std::lock_guard<std::mutex> l(mu_);
        return scopes_;
    }

private:
    std::string answer(const Req& r) {
        if (r.path.rfind("/token", 0) != 0) return http_response(404, "Not Found", {}, "");
        auto a = r.headers.find("authorization");
        if (a == r.headers.end() || a->second != "Basic " + Registry::base64(std::string(Registry::kUser) + ":" + Registry::kPass))
            return http_response(401, "Unauthorized", {}, "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"bad credentials\"}]}");
        nlohmann::json access = nlohmann::json::array();
        std::vector<std::string> asked;
        std::string q = r.path.substr(r.path.find('?') == std::string::npos ? r.path.size() : r.path.find('?') + 1);
        for (auto& kv : sys::split_fields(q, '&')) {
            if (kv.rfind("scope=", 0) != 0) continue;
            std::string s = url_unescape(kv.substr(6));  // repository:NAME:a,b
            asked.push_back(s);
            auto c1 = s.find(':'), c2 = s.rfind(':');
            if (c1 == std::string::npos || c2 == c1) continue;
            access.push_back({{"type", s.substr(0, c1)}, {"name", s.substr(c1 + 1, c2 - c1 - 1)}, {"actions", sys::split_fields(s.substr(c2 + 1), ',')}});
        }
        long long now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
        int n = ++issued_;
        {
            std::lock_guard<std::mutex> l(mu_);
            scopes_.push_back(asked);
        }
        nlohmann::json header = {{"typ", "JWT"}, {"alg", "RS256"}, {"x5c", {Registry::base64(cert_der_)}}};
        nlohmann::json claims = {{"iss", kIssuer}, {"sub", Registry::kUser}, {"aud", kService}, {"exp", now + 300},
                                 {"nbf", now - 10}, {"iat", now}, {"jti", "t" + std::to_string(n)}, {"access", access}};
        std::string input = b64url(header.dump()) + "." + b64url(claims.dump());
        std::string jwt = input + "." + b64url(sign(input));
        nlohmann::json body = {{"token", jwt}, {"expires_in", expires_in_}};
        return http_response(200, "OK", {"Content-Type: application/json"}, body.dump());
    }
    std::string sign(const std::string& data) {
        std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
        size_t len = 0;
        if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_) != 1 ||
            EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1)
            throw std::runtime_error("EVP_DigestSign");
        std::string sig(len, '\0');
        if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                           reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1)
            throw std::runtime_error("EVP_DigestSign");
        sig.resize(len);
        return sig;
    }

    std::string dir_;
    long long expires_in_;
    std::string cert_der_;
    EVP_PKEY* key_ = nullptr;
    std::atomic<int> issued_{0};
    std::mutex mu_;
    std::vector<std::vector<std::string>> scopes_;
    FaultServer server_;  // last: stops (joins) before the key is freed
};

}  // namespace regtest
