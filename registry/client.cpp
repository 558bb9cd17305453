#include "registry/client.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/path.hpp"

namespace registry {

namespace {

bool retryable(long s) { return s == 429 || s == 408 || (s >= 500 && s != 501 && s != 505); }

std::chrono::milliseconds backoff(int attempt, const HttpResponse* r) {
    if (r) {
        std::string ra = r->header("retry-after");
        if (!ra.empty() && ra.find_first_not_of("0123456789") == std::string::npos)
            return std::chrono::milliseconds(std::min(60L, std::atol(ra.c_str())) * 1000);
    }
    return std::chrono::milliseconds(std::min(8000, 250 << attempt));
}

std::string url_escape(const std::string& s) {
    std::string o;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') o += char(c);
        else {
            char b[4];
            std::snprintf(b, sizeof b, "%%%02X", c);
            o += b;
        }
    }
    return o;
}

}  // namespace

std::string error_summary(const std::string& body) {
    try {
        auto j = nlohmann::json::parse(body);
        std::string out;
        for (auto& e : j.at("errors")) {
            if (!out.empty()) out += "; ";
            out += e.value("code", "ERROR") + ": " + e.value("message", "");
        }
        return out;
    } catch (const std::exception&) {
        return "";
    }
}

Client::Client(std::string host, std::string repository, Options opts)
    : host_(std::move(host)), repo_(std::move(repository)), opts_(std::move(opts)) {}

TlsOptions Client::tls_for(const std::string& host) const {
    TlsOptions t;
    t.verify = !opts_.insecure.count(host);
    if (auto it = opts_.ca_files.find(host); it != opts_.ca_files.end()) t.ca_pem += sys::read_file(it->second, 4u << 20) + "\n";
    std::string d = opts_.certs_dir + "/" + host;
    std::error_code ec;
    if (std::filesystem::is_directory(d, ec))
        for (auto& e : std::filesystem::directory_iterator(d, ec))
            if (e.path().extension() == ".crt") t.ca_pem += sys::read_file(e.path(), 4u << 20) + "\n";
    return t;
}

std::string Client::base_url() {
    std::lock_guard<std::mutex> l(mu_);
    if (scheme_.empty()) {
        scheme_ = "https";
        if (opts_.insecure.count(host_)) {
            // An insecure registry may speak plain http: probe TLS once.
            try {
                HttpRequest r;
                r.url = "https://" + host_ + "/v2/";
                http_do(r, tls_for(host_));
            } catch (const sys::Error& e) {
                if (e.code() == sys::Code::System) scheme_ = "http";
            }
        }
    }
    return scheme_ + "://" + host_;
}

[[noreturn]] void Client::fail(const std::string& what, const HttpResponse& r) const {
    std::string detail = error_summary(r.body);
    std::string msg = what + ": " + host_ + " answered HTTP " + std::to_string(r.status);
    if (!detail.empty()) msg += " (" + detail + ")";
    if (r.status == 401 || r.status == 403)
        msg += ": authentication failed; check the credentials (imgbuild login " + host_ + ")";
    sys::fail(r.status == 404 ? sys::Code::NotFound : sys::Code::InvalidInput, msg);
}

std::optional<std::chrono::steady_clock::time_point> token_expiry(std::chrono::steady_clock::time_point received,
                                                                  long long expires_in) {
    if (expires_in <= 0) return std::nullopt;
    long long margin = expires_in > 60 ? 10 : 0;
    return received + std::chrono::seconds(expires_in - margin);
}

std::string widen_scope(const std::string& own, const std::string& asked) {
    std::vector<std::string> parts{own};
    for (auto& p : sys::split_fields(asked, ' '))
        if (!p.empty() && std::find(parts.begin(), parts.end(), p) == parts.end()) parts.push_back(p);
    std::string out;
    for (auto& p : parts) out += (out.empty() ? "" : " ") + p;
    return out;
}

Client::Token Client::fetch_token(const Challenge& c, const std::string& scope) {
    auto realm_it = c.params.find("realm");
    if (realm_it == c.params.end()) sys::fail(sys::Code::InvalidInput, host_ + ": Bearer challenge without realm");
    UrlParts u = split_url(realm_it->second);
    if (u.scheme != "https" && !(u.scheme == "http" && opts_.insecure.count(u.host)))
        sys::fail(sys::Code::InvalidInput, host_ + ": refusing token realm " + u.scheme + "://" + u.host +
                                                      " (https only unless the host is --insecure-registry)");
    std::string url = realm_it->second + (realm_it->second.find('?') == std::string::npos ? "?" : "&");
    if (c.params.count("service")) url += "service=" + url_escape(c.params.at("service")) + "&";
    // One scope= parameter per space-separated scope (a re-scoped request names several).
    std::string sep;
    for (auto& one : sys::split_fields(scope, ' '))
        if (!one.empty()) {
            url += sep + "scope=" + url_escape(one);
            sep = "&";
        }
    HttpRequest r;
    r.url = url;
    r.max_body = 1u << 20;
    if (creds_) r.headers.push_back("Authorization: Basic " + base64_encode(creds_->username + ":" + creds_->password));
    auto sent = std::chrono::steady_clock::now();
    HttpResponse resp = http_do(r, tls_for(u.host));
    if (resp.status != 200) fail("token from " + u.host, resp);
    try {
        auto j = nlohmann::json::parse(resp.body);
        std::string t = j.value("token", "");
        if (t.empty()) t = j.value("access_token", "");
        if (t.empty()) sys::fail(sys::Code::InvalidInput, "no token");
        long long expires_in = j.contains("expires_in") && j["expires_in"].is_number() ? j["expires_in"].get<long long>() : 0;
        return Token{"Bearer " + t, token_expiry(sent, expires_in), c};
    } catch (const std::exception&) {
        sys::fail(sys::Code::InvalidInput, "token server " + u.host + ": answer has no token or access_token");
    }
}

// After a 401/403: compute the Authorization header to retry with; false when there is nothing new to try.
bool Client::authorize(const HttpResponse& r, bool push, std::string& header) {
    auto ch = parse_challenge(r.header("www-authenticate"));
    if (!ch) return false;
    if (!creds_loaded_) {
        creds_ = find_credentials(opts_.auth, host_);
        creds_loaded_ = true;
    }
    if (scheme_ == "http" && creds_ && !opts_.insecure.count(host_)) creds_.reset();
    std::string own = "repository:" + repo_ + (push ? ":pull,push" : ":pull");
    std::string scope = own;
    // insufficient_scope: ask for what the registry names as well as our own scope; the wider
    // token then serves this repository's later requests too.
    if (ch->params.count("scope") && ch->params.count("error") && ch->params.at("error") == "insufficient_scope")
        scope = widen_scope(own, ch->params.at("scope"));
    if (ch->scheme == "basic") {
        if (!creds_) return false;
        std::string h = "Basic " + base64_encode(creds_->username + ":" + creds_->password);
        if (header == h) return false;  // already tried: wrong password
        header = h;
        tokens_["basic"] = Token{h, std::nullopt, std::nullopt};
        return true;
    }
    if (ch->scheme != "bearer") return false;
    // Another thread fetched a token for this scope since this request was sent: use it.
    if (auto it = tokens_.find(scope); it != tokens_.end() && it->second.header != header) {
        header = it->second.header;
        return true;
    }
    Token t = fetch_token(*ch, scope);
    if (t.header == header && r.status == 401) return false;
    header = t.header;
    if (scope != own) tokens_[own] = t;
    tokens_[scope] = std::move(t);
    return true;
}

std::string Client::auth_for(const std::string& scope) {
    auto it = tokens_.find(scope);
    if (it == tokens_.end()) {
        auto b = tokens_.find("basic");
        return b == tokens_.end() ? "" : b->second.header;
    }
    Token& t = it->second;
    if (t.expires && t.challenge && std::chrono::steady_clock::now() >= *t.expires) {
        if (opts_.log) opts_.log(host_ + ": token for " + scope + " expired, fetching a new one");
        t = fetch_token(*t.challenge, scope);
    }
    return t.header;
}

HttpResponse Client::attempt(HttpRequest req, bool push) {
    std::string url = req.url.rfind("http", 0) == 0 ? req.url : base_url() + req.url;
    std::string scope = "repository:" + repo_ + (push ? ":pull,push" : ":pull");
    std::string auth;
    {
        std::lock_guard<std::mutex> l(mu_);
        auth = auth_for(scope);
    }
    std::vector<std::string> base_headers = req.headers;
    for (int hop = 0, tries = 0;; ) {
        UrlParts u = split_url(url);
        req.url = url;
        req.headers = base_headers;
        if (!auth.empty() && u.host == host_) req.headers.push_back("Authorization: " + auth);
        HttpResponse r = http_do(req, tls_for(u.host));
        if ((r.status == 401 || r.status == 403) && u.host == host_ && tries++ < 3) {
            std::lock_guard<std::mutex> l(mu_);
            if (authorize(r, push, auth)) continue;
            return r;
        }
        if (r.status >= 300 && r.status < 400 && !r.header("location").empty()) {
            if (++hop > 5) sys::fail(sys::Code::InvalidInput, host_ + ": too many redirects");
            std::string next = resolve_url(url, r.header("location"));
            UrlParts n = split_url(next);
            bool ok = n.scheme == "https" || (n.scheme == "http" && opts_.insecure.count(n.host));
            if (!ok)
                sys::fail(sys::Code::InvalidInput, host_ + ": refusing redirect to " + n.scheme + "://" + n.host +
                                                              " (https only; http only for --insecure-registry hosts)");
            url = next;  // Authorization is only sent to host_ (see above)
            continue;
        }
        return r;
    }
}

HttpResponse Client::send(HttpRequest req, bool push, const std::function<void()>& on_attempt) {
    for (int i = 0;; i++) {
        if (on_attempt) on_attempt();
        try {
            HttpResponse r = attempt(req, push);
            if (!retryable(r.status) || i >= opts_.retries) return r;
            if (opts_.log) opts_.log(host_ + ": HTTP " + std::to_string(r.status) + ", retrying");
            std::this_thread::sleep_for(backoff(i, &r));
        } catch (const sys::Error& e) {
            if (e.code() != sys::Code::System || i >= opts_.retries) throw;
            if (opts_.log) opts_.log(std::string(e.what()) + ", retrying");
            std::this_thread::sleep_for(backoff(i, nullptr));
        }
    }
}

}  // namespace registry
