#include "cas/tar_paths.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <vector>

#include "sys/error.hpp"
#include "sys/path.hpp"

namespace cas {

static bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::pair<std::string, std::string> split_parent(const std::string& path) {
    return {sys::dir_name(path), sys::base_name(path)};
}

OciEntry classify_oci_path(const std::string& clean_path) {
    OciEntry e;
    auto [dir, base] = split_parent(clean_path);
    e.dir = dir;
    if (!starts_with(base, kWhiteoutPrefix)) {
        e.name = base;
        return e;
    }
    if (base == kOpaqueMarker) {
        e.kind = OciEntry::Kind::Opaque;
        return e;
    }
    if (starts_with(base, ".wh..wh.")) {
        e.kind = OciEntry::Kind::Meta;
        e.name = base;
        return e;
    }
    std::string name = base.substr(kWhiteoutPrefix.size());
    if (name.empty() || name == "." || name == "..")
        sys::fail(sys::Code::InvalidInput, "whiteout " + clean_path + " names no file");
    e.kind = OciEntry::Kind::Whiteout;
    e.name = name;
    return e;
}

std::string oci_whiteout_path(const std::string& dir, const std::string& name) {
    std::string base = std::string(kWhiteoutPrefix) + name;
    return dir.empty() ? base : dir + "/" + base;
}

std::string oci_opaque_path(const std::string& dir) {
    return dir.empty() ? std::string(kOpaqueMarker) : dir + "/" + std::string(kOpaqueMarker);
}

bool is_overlay_whiteout(mode_t mode, dev_t rdev) { return S_ISCHR(mode) && major(rdev) == 0 && minor(rdev) == 0; }

bool is_overlay_opaque_value(std::string_view v) { return v == "y"; }

std::string clean_entry_path(std::string_view path) {
    std::optional<std::string> out = sys::clean_entry_name(path);
    if (!out) sys::fail(sys::Code::InvalidInput, "path " + std::string(path) + " contains \"..\"");
    return *out;
}

std::string_view overlong_component(std::string_view p) {
    while (!p.empty()) {
        size_t k = p.find('/');
        std::string_view c = p.substr(0, k);
        bool last = k == std::string_view::npos;
        std::string_view name = last && starts_with(c, kWhiteoutPrefix) ? c.substr(kWhiteoutPrefix.size()) : c;
        if (name.size() > kMaxNameLen) return c;
        if (last) break;
        p.remove_prefix(k + 1);
    }
    return {};
}

bool layer_xattr_allowed(std::string_view name) {
    if (starts_with(name, "user.")) return true;
    if (name == "security.capability") return true;
    if (starts_with(name, "trusted.")) return !starts_with(name, kOverlayXattrPrefix);
    return false;
}

}  // namespace cas
