#include "registry/http.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <exception>
#include <memory>
#include <mutex>

#include "sys/error.hpp"
#include "sys/fs.hpp"

namespace registry {

namespace {

void global_init() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Exchange {
    const HttpRequest* req;
    HttpResponse* resp;
    CURL* curl;
    uint64_t received = 0;
    bool too_big = false;
    std::exception_ptr sink_error{};  // what the sink threw (a verification failure, a full disk, ...)
    size_t upload_off = 0;
};

size_t on_header(char* data, size_t size, size_t n, void* p) {
    auto* x = static_cast<Exchange*>(p);
    std::string line(data, size * n);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    if (line.rfind("HTTP/", 0) == 0) {  // a new response (after 100 Continue): start over
        x->resp->headers.clear();
        return size * n;
    }
    auto colon = line.find(':');
    if (colon == std::string::npos) return size * n;
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    x->resp->headers[name] = value;
    return size * n;
}

size_t on_body(char* data, size_t size, size_t n, void* p) {
    auto* x = static_cast<Exchange*>(p);
    size_t len = size * n;
    long status = 0;
    curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
    bool ok = status >= 200 && status < 300;
    if (ok && x->received + len > x->req->max_body) {
        x->too_big = true;
        return 0;
    }
    x->received += len;
    if (ok && x->req->sink) {
        try {
            x->req->sink(data, len);
        } catch (...) {
            x->sink_error = std::current_exception();
            return 0;
        }
    } else if (x->resp->body.size() < (ok ? x->req->max_body : 64u << 10)) {
        x->resp->body.append(data, len);
    }
    return len;
}

size_t on_read(char* buf, size_t size, size_t n, void* p) {
    auto* x = static_cast<Exchange*>(p);
    size_t want = size * n;
    if (x->req->read) return x->req->read(buf, want);
    size_t left = x->req->body.size() - x->upload_off;
    size_t k = std::min(left, want);
    std::copy_n(x->req->body.data() + x->upload_off, k, buf);
    x->upload_off += k;
    return k;
}

std::string sys_ca_bundle() { return sys::read_file("/etc/ssl/certs/ca-certificates.crt", 16u << 20); }

struct CurlFree {
    void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistFree {
    void operator()(curl_slist* s) const { curl_slist_free_all(s); }
};

}  // namespace

std::string HttpResponse::header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
}

HttpResponse http_do(const HttpRequest& req, const TlsOptions& tls) {
    global_init();
    UrlParts u = split_url(req.url);
    if (u.scheme != "https" && u.scheme != "http")
        sys::fail(sys::Code::InvalidInput, "refusing URL with scheme \"" + u.scheme + "\": " + u.host);
    std::unique_ptr<CURL, CurlFree> curl(curl_easy_init());
    if (!curl) sys::fail(sys::Code::Internal, "curl_easy_init failed");
    CURL* c = curl.get();
    HttpResponse resp;
    Exchange x{&req, &resp, c};
    curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "imgbuild/0.1");
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, tls.verify ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, tls.verify ? 2L : 0L);
    curl_blob ca{};
    std::string bundle;
    if (tls.verify && !tls.ca_pem.empty()) {
        // The system bundle plus the extra certificates, as one in-memory PEM.
        try {
            bundle = sys_ca_bundle();
        } catch (const sys::Error&) {
        }
        bundle += "\n" + tls.ca_pem;
        ca.data = bundle.data();
        ca.len = bundle.size();
        ca.flags = CURL_BLOB_NOCOPY;
        curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
    }
    curl_slist* hl = nullptr;
    for (auto& h : req.headers) hl = curl_slist_append(hl, h.c_str());
    bool upload = req.read || !req.body.empty() || req.method == "PUT" || req.method == "PATCH";
    if (upload) hl = curl_slist_append(hl, "Expect:");
    std::unique_ptr<curl_slist, SlistFree> headers(hl);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    if (req.head) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (upload) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &x);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, curl_off_t(req.read ? req.read_size : req.body.size()));
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    } else if (req.method == "POST") {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    } else if (req.method != "GET") {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    }
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(c);
    std::string where = req.method + " " + u.scheme + "://" + u.host + u.path_query.substr(0, u.path_query.find('?'));
    if (x.too_big)
        sys::fail(sys::Code::InvalidInput, where + ": response larger than " + std::to_string(req.max_body) + " bytes");
    if (x.sink_error) {
        try {
            std::rethrow_exception(x.sink_error);
        } catch (const sys::Error& e) {
            throw e.wrap(where);  // its code kept: Cancelled, InvalidInput, System (retried)
        } catch (const std::exception& e) {
            sys::fail(sys::Code::InvalidInput, where + ": " + e.what());
        }
    }
    if (rc != CURLE_OK)
        sys::fail(sys::Code::System, where + ": " + (errbuf[0] ? errbuf : curl_easy_strerror(rc)));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
    return resp;
}

UrlParts split_url(const std::string& url) {
    UrlParts p;
    auto se = url.find("://");
    if (se == std::string::npos) return p;
    p.scheme = url.substr(0, se);
    std::transform(p.scheme.begin(), p.scheme.end(), p.scheme.begin(), [](unsigned char c) { return std::tolower(c); });
    auto rest = url.substr(se + 3);
    auto slash = rest.find_first_of("/?");
    p.host = rest.substr(0, slash);
    if (auto at = p.host.rfind('@'); at != std::string::npos) p.host = p.host.substr(at + 1);  // no userinfo
    p.path_query = slash == std::string::npos ? "/" : rest.substr(slash);
    return p;
}

std::string resolve_url(const std::string& base, const std::string& location) {
    global_init();
    CURLU* h = curl_url();
    curl_url_set(h, CURLUPART_URL, base.c_str(), 0);
    CURLUcode rc = curl_url_set(h, CURLUPART_URL, location.c_str(), CURLU_NON_SUPPORT_SCHEME);
    std::string out;
    char* s = nullptr;
    if (rc == CURLUE_OK && curl_url_get(h, CURLUPART_URL, &s, 0) == CURLUE_OK) {
        out = s;
        curl_free(s);
    }
    curl_url_cleanup(h);
    if (out.empty()) sys::fail(sys::Code::InvalidInput, "bad redirect location \"" + location + "\"");
    return out;
}

}  // namespace registry
