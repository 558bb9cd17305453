#include "registry/reference.hpp"

#include <regex>

#include "sys/error.hpp"

namespace registry {

namespace {

[[noreturn]] void bad(std::string_view text, const std::string& why) {
    sys::fail(sys::Code::InvalidInput, "invalid image reference \"" + std::string(text) + "\": " + why);
}

bool valid_host(const std::string& h) {
    static const std::regex re(R"(^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*)(:[0-9]{1,5})?$)");
    return std::regex_match(h, re);
}

bool valid_path(const std::string& p) {
    static const std::regex re(R"(^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$)");
    return p.size() <= 255 && std::regex_match(p, re);
}

}  // namespace

bool names_registry(std::string_view text) {
    auto slash = text.find('/');
    if (slash == std::string_view::npos) return false;
    std::string_view first = text.substr(0, slash);
    return first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos ||
           first == "localhost";
}

std::string canonical_registry(std::string_view host) {
    if (host == "index.docker.io" || host == "registry-1.docker.io" || host == "docker.io") return "docker.io";
    return std::string(host);
}

std::string RemoteRef::api_host() const { return registry == "docker.io" ? "registry-1.docker.io" : registry; }

std::string RemoteRef::str() const {
    std::string s = name();
    if (!tag.empty()) s += ":" + tag;
    if (digest) s += "@" + digest->str();
    return s;
}

RemoteRef parse_remote_ref(std::string_view text) {
    if (text.empty()) bad(text, "empty");
    if (text.size() > 1024) bad(text, "too long");
    RemoteRef r;
    std::string rest(text);
    if (auto at = rest.find('@'); at != std::string::npos) {
        std::string d = rest.substr(at + 1);
        if (!cas::Digest::valid(d)) bad(text, "bad digest \"" + d + "\"");
        r.digest = cas::Digest::parse(d);
        rest.resize(at);
    }
    // A tag is after the last ':' that follows the last '/'.
    auto slash = rest.rfind('/');
    auto colon = rest.rfind(':');
    if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
        r.tag = rest.substr(colon + 1);
        rest.resize(colon);
        static const std::regex tag_re(R"(^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$)");
        if (!std::regex_match(r.tag, tag_re)) bad(text, "bad tag \"" + r.tag + "\"");
    }
    if (names_registry(rest)) {
        auto s = rest.find('/');
        r.registry = canonical_registry(rest.substr(0, s));
        rest = rest.substr(s + 1);
        if (!valid_host(r.registry)) bad(text, "bad registry host \"" + r.registry + "\"");
    } else {
        r.registry = "docker.io";
    }
    if (r.registry == "docker.io" && rest.find('/') == std::string::npos) rest = "library/" + rest;
    if (!valid_path(rest)) bad(text, "bad repository name \"" + rest + "\" (lowercase letters, digits, separators)");
    r.repository = rest;
    if (r.tag.empty() && !r.digest) r.tag = "latest";
    return r;
}

}  // namespace registry
