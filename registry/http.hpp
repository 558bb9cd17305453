// One HTTP exchange over libcurl (TLS by libcurl/OpenSSL, verified unless the caller says the
// host is insecure). Redirects are NOT followed here: the registry client decides (client.cpp).
// Only http and https URLs are accepted.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace registry {

struct TlsOptions {
    bool verify = true;
    std::string ca_pem;  // extra trusted certificates (PEM), added to the system bundle
};

struct HttpRequest {
    std::string method = "GET";
    std::string url;
    std::vector<std::string> headers;  // "Name: value"
    // Upload body: either in memory, or streamed by `read` (size known up front).
    std::string body;
    std::function<size_t(char*, size_t)> read;
    uint64_t read_size = 0;
    // 2xx response bodies go to `sink` when set (else into HttpResponse::body).
    std::function<void(const char*, size_t)> sink;
    // Cap on the response body (sink or memory); more is an error (InvalidInput).
    uint64_t max_body = 4u << 20;
    bool head = false;
};

struct HttpResponse {
    long status = 0;
    std::map<std::string, std::string> headers;  // lowercase names; the last value wins
    std::string body;                            // error bodies are truncated to 64 KiB
    std::string header(const std::string& lower_name) const;
};

// Throws sys::Error(System) for transport failures (connection, TLS, timeout, cut transfer),
// InvalidInput when the body exceeds max_body.
HttpResponse http_do(const HttpRequest& req, const TlsOptions& tls);

// scheme://host[:port] and the rest; "" on parse failure.
struct UrlParts {
    std::string scheme, host, path_query;  // host includes :port when given
};
UrlParts split_url(const std::string& url);
// Resolve a Location header against the URL it came from.
std::string resolve_url(const std::string& base, const std::string& location);

}  // namespace registry
