// A client for one repository of one registry (OCI distribution spec): auth (Basic, Bearer
// tokens cached per scope, re-scoped on insufficient_scope), TLS policy, redirects decided here
// (https only unless the target host is insecure; never another scheme; Authorization dropped
// when the host changes), retries with backoff on 429/5xx/transport errors honouring Retry-After.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "registry/auth.hpp"
#include "registry/http.hpp"

namespace registry {

struct Options {
    std::set<std::string> insecure;   // HOST[:PORT] allowed over http / unverified TLS
    std::map<std::string, std::string> ca_files;  // HOST[:PORT] -> extra trusted PEM file (--ca)
    std::string certs_dir = "/etc/imgbuild/certs.d";
    AuthFiles auth;
    int retries = 3;
    // Blob uploads: 0 = one monolithic PUT; else PATCH chunks of this many bytes for blobs larger
    // than one chunk (an interrupted chunk resumes from the offset the upload session reports).
    uint64_t chunk_size = 0;
    // Blob transfers (pull layers, push blobs) at once per registry host, counted across the
    // whole process (all clients, all threads); see transfer.hpp.
    int max_concurrent = 3;
    std::function<void(const std::string&)> log;  // progress lines (never credentials)
};

// One Client may be used by several threads at once (parallel blob transfers): its token
// cache, credentials and scheme are guarded by a mutex; requests themselves run unlocked.
class Client {
public:
    Client(std::string host, std::string repository, Options opts);
    const std::string& host() const { return host_; }
    const std::string& repository() const { return repo_; }
    const Options& options() const { return opts_; }

    // Send a request to PATH ("/v2/..." or an absolute upload URL) with auth, redirects and
    // retries. `push` asks for a pull,push token. on_attempt runs before every attempt (reset
    // a sink or a body reader). Returns the final response (any status).
    HttpResponse send(HttpRequest req, bool push = false, const std::function<void()>& on_attempt = {});
    // One attempt (auth and redirects, no retry): for requests that must not be re-sent blindly
    // (a PATCH chunk the registry may have partly appended).
    HttpResponse send_once(HttpRequest req, bool push = false) { return attempt(std::move(req), push); }
    // "https://host" or "http://host" (insecure hosts that do not speak TLS).
    std::string base_url();
    // Throws a clear error (auth failures are InvalidInput: "unauthorized: ... (check your
    // credentials: imgbuild login HOST)") for a non-success status.
    [[noreturn]] void fail(const std::string& what, const HttpResponse& r) const;

private:
    HttpResponse attempt(HttpRequest req, bool push);
    bool authorize(const HttpResponse& r, bool push, std::string& header);
    struct Token {
        std::string header;  // "Bearer ..." / "Basic ..."
        std::optional<std::chrono::steady_clock::time_point> expires;  // Bearer tokens with expires_in
        std::optional<Challenge> challenge;                              // to refresh it with
    };
    Token fetch_token(const Challenge& c, const std::string& scope);
    // The Authorization header for SCOPE: a cached token, refreshed first when it has expired.
    std::string auth_for(const std::string& scope);
    TlsOptions tls_for(const std::string& host) const;

    std::string host_, repo_;
    Options opts_;
    std::string scheme_;
    std::optional<Credentials> creds_;
    bool creds_loaded_ = false;
    std::map<std::string, Token> tokens_;  // scope (or "basic") -> token
    std::mutex mu_;                        // guards scheme_, creds_, creds_loaded_, tokens_
};

// When a token answered at `received` with expires_in (seconds; absent or <= 0: unknown) must be
// fetched again: a few seconds early for long-lived tokens, at its expiry for short ones.
std::optional<std::chrono::steady_clock::time_point> token_expiry(std::chrono::steady_clock::time_point received,
                                                                  long long expires_in);

// The scopes to ask for after insufficient_scope: OWN, then those ASKED names (space-separated)
// that OWN does not already list.
std::string widen_scope(const std::string& own, const std::string& asked);

// Registry errors from a JSON body {"errors":[{"code","message"}]} as "CODE: message".
std::string error_summary(const std::string& body);

}  // namespace registry
