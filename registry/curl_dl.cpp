// libcurl, loaded on first use. imgbuild is not linked against libcurl: libcurl's own
// dependencies (gnutls, krb5, ldap, ssh2, nghttp2, idn2, ... 26 of the binary's 46 shared
// libraries) made every command pay for loading and relocating them at start-up, although only
// registry traffic needs them. This file defines the libcurl functions registry/http.cpp calls;
// the first call dlopen()s libcurl.so.4 and each definition forwards to the real function.
#define CURL_DISABLE_TYPECHECK 1  // the type-checking macros would rename our definitions
#include <curl/curl.h>

#include <cstdarg>
#include <mutex>
#include <string>

#include "sys/dl.hpp"

namespace {

struct Curl {
    CURLcode (*global_init)(long);
    CURL* (*easy_init)();
    CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
    CURLcode (*easy_perform)(CURL*);
    CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...);
    void (*easy_cleanup)(CURL*);
    const char* (*easy_strerror)(CURLcode);
    void (*free_)(void*);
    curl_slist* (*slist_append)(curl_slist*, const char*);
    void (*slist_free_all)(curl_slist*);
    CURLU* (*url)();
    void (*url_cleanup)(CURLU*);
    CURLUcode (*url_get)(CURLU*, CURLUPart, char**, unsigned int);
    CURLUcode (*url_set)(CURLU*, CURLUPart, const char*, unsigned int);
};

void bind(void* lib, auto& f, const char* name) { sys::bind_symbol(lib, f, name, "libcurl.so.4"); }

const Curl& curl() {
    static std::once_flag once;
    static Curl c;
    std::call_once(once, [] {
        void* lib = sys::open_library("libcurl.so.4", "registry access", "libcurl4");
        bind(lib, c.global_init, "curl_global_init");
        bind(lib, c.easy_init, "curl_easy_init");
        bind(lib, c.easy_setopt, "curl_easy_setopt");
        bind(lib, c.easy_perform, "curl_easy_perform");
        bind(lib, c.easy_getinfo, "curl_easy_getinfo");
        bind(lib, c.easy_cleanup, "curl_easy_cleanup");
        bind(lib, c.easy_strerror, "curl_easy_strerror");
        bind(lib, c.free_, "curl_free");
        bind(lib, c.slist_append, "curl_slist_append");
        bind(lib, c.slist_free_all, "curl_slist_free_all");
        bind(lib, c.url, "curl_url");
        bind(lib, c.url_cleanup, "curl_url_cleanup");
        bind(lib, c.url_get, "curl_url_get");
        bind(lib, c.url_set, "curl_url_set");
    });
    return c;
}

}  // namespace

extern "C" {

CURLcode curl_global_init(long flags) { return curl().global_init(flags); }
CURL* curl_easy_init() { return curl().easy_init(); }
CURLcode curl_easy_perform(CURL* h) { return curl().easy_perform(h); }
void curl_easy_cleanup(CURL* h) { curl().easy_cleanup(h); }
const char* curl_easy_strerror(CURLcode c) { return curl().easy_strerror(c); }
void curl_free(void* p) { curl().free_(p); }
curl_slist* curl_slist_append(curl_slist* l, const char* s) { return curl().slist_append(l, s); }
void curl_slist_free_all(curl_slist* l) { curl().slist_free_all(l); }
CURLU* curl_url() { return curl().url(); }
void curl_url_cleanup(CURLU* h) { curl().url_cleanup(h); }
CURLUcode curl_url_get(CURLU* h, CURLUPart p, char** out, unsigned int flags) { return curl().url_get(h, p, out, flags); }
CURLUcode curl_url_set(CURLU* h, CURLUPart p, const char* v, unsigned int flags) { return curl().url_set(h, p, v, flags); }

// Every option takes one argument whose type the option number encodes (CURLOPTTYPE_*).
CURLcode curl_easy_setopt(CURL* h, CURLoption opt, ...) {
    va_list ap;
    va_start(ap, opt);
    CURLcode r;
    switch (int(opt) / 10000 * 10000) {
    case CURLOPTTYPE_LONG: r = curl().easy_setopt(h, opt, va_arg(ap, long)); break;
    case CURLOPTTYPE_FUNCTIONPOINT: r = curl().easy_setopt(h, opt, va_arg(ap, void (*)())); break;
    case CURLOPTTYPE_OFF_T: r = curl().easy_setopt(h, opt, va_arg(ap, curl_off_t)); break;
    default: r = curl().easy_setopt(h, opt, va_arg(ap, void*)); break;  // object, string, slist, blob
    }
    va_end(ap);
    return r;
}

// Every CURLINFO_* answer is written through a pointer.
CURLcode curl_easy_getinfo(CURL* h, CURLINFO info, ...) {
    va_list ap;
    va_start(ap, info);
    void* out = va_arg(ap, void*);
    va_end(ap);
    return curl().easy_getinfo(h, info, out);
}

}  // extern "C"
