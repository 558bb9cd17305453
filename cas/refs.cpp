#include "cas/refs.hpp"

#include <algorithm>

#include "sys/error.hpp"
#include "sys/fs.hpp"

namespace cas {

namespace {

[[noreturn]] void bad_ref(std::string_view text, const std::string& why) {
    sys::fail(sys::Code::InvalidInput, "invalid reference \"" + std::string(text.substr(0, 300)) + "\": " + why);
}

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool alnum(char c) { return lower_alnum(c) || (c >= 'A' && c <= 'Z'); }

// path-component := [a-z0-9]+ (([._] | "__" | "-"+) [a-z0-9]+)*
bool valid_component(std::string_view c) {
    if (c.empty() || !lower_alnum(c.front()) || !lower_alnum(c.back())) return false;
    size_t i = 0;
    while (i < c.size()) {
        if (lower_alnum(c[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < c.size() && !lower_alnum(c[j])) j++;
        std::string_view sep = c.substr(i, j - i);
        bool ok = sep == "." || sep == "_" || sep == "__" || sep.find_first_not_of('-') == std::string_view::npos;
        if (!ok) return false;
        i = j;
    }
    return true;
}

// domain := host-part ("." host-part)* (":" port)?
bool valid_domain(std::string_view d) {
    std::string_view host = d;
    if (auto colon = d.rfind(':'); colon != std::string_view::npos) {
        std::string_view port = d.substr(colon + 1);
        if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) return false;
        host = d.substr(0, colon);
    }
    if (host.empty()) return false;
    size_t start = 0;
    while (true) {
        size_t dot = host.find('.', start);
        std::string_view part = host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        if (part.empty() || !alnum(part.front()) || !alnum(part.back())) return false;
        for (char c : part)
            if (!alnum(c) && c != '-') return false;
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    return true;
}

bool valid_tag(std::string_view t) {
    if (t.empty() || t.size() > 128) return false;
    auto word = [](char c) { return alnum(c) || c == '_'; };
    if (!word(t[0])) return false;
    for (char c : t)
        if (!word(c) && c != '.' && c != '-') return false;
    return true;
}

}  // namespace

std::string Reference::str() const {
    if (digest && tag.empty()) return name + "@" + digest->str();
    return name + ":" + tag;
}

Reference parse_reference(std::string_view text) {
    if (text.empty()) bad_ref(text, "empty");
    if (text.size() > 512) bad_ref(text, "too long");
    Reference r;
    std::string_view rest = text;
    if (auto at = rest.find('@'); at != std::string_view::npos) {
        std::string_view dg = rest.substr(at + 1);
        if (!Digest::valid(dg)) bad_ref(text, "digest must be sha256: and 64 lowercase hex digits");
        r.digest = Digest::parse(dg);
        rest = rest.substr(0, at);
    }
    size_t slash = rest.rfind('/');
    size_t colon = rest.rfind(':');
    if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
        r.tag = std::string(rest.substr(colon + 1));
        if (!valid_tag(r.tag)) bad_ref(text, "bad tag \"" + r.tag + "\"");
        rest = rest.substr(0, colon);
    }
    if (rest.empty()) bad_ref(text, "empty name");
    // Split off a registry host: the first component if it has '.' or ':' or is localhost.
    std::string_view path = rest;
    std::string domain;
    if (auto s = rest.find('/'); s != std::string_view::npos) {
        std::string_view first = rest.substr(0, s);
        if (first.find_first_of(".:") != std::string_view::npos || first == "localhost") {
            if (!valid_domain(first)) bad_ref(text, "bad registry host \"" + std::string(first) + "\"");
            domain = std::string(first);
            path = rest.substr(s + 1);
        }
    }
    size_t start = 0;
    while (true) {
        size_t s = path.find('/', start);
        std::string_view comp = path.substr(start, s == std::string_view::npos ? std::string_view::npos : s - start);
        if (!valid_component(comp))
            bad_ref(text, "bad name component \"" + std::string(comp) +
                              "\" (lowercase letters, digits and single separators . _ __ - only)");
        if (s == std::string_view::npos) break;
        start = s + 1;
    }
    std::string p(path);
    if (domain == "docker.io" || domain == "index.docker.io") {
        domain.clear();
        if (p.rfind("library/", 0) == 0 && p.find('/', 8) == std::string::npos) p = p.substr(8);
    }
    r.name = domain.empty() ? p : domain + "/" + p;
    if (r.name.size() > 255) bad_ref(text, "name longer than 255 characters");
    if (r.tag.empty() && !r.digest) r.tag = "latest";
    return r;
}

bool is_valid_reference(std::string_view text) {
    try {
        parse_reference(text);
        return true;
    } catch (const sys::Error&) {
        return false;
    }
}

std::string normalize_ref(std::string_view text) {
    Reference r = parse_reference(text);
    if (r.tag.empty()) bad_ref(text, "a tag is needed here, not a digest");
    return r.name + ":" + r.tag;
}

// ---------------------------------------------------------------- index.json

static std::string index_path(const Store& s) { return s.index_path(); }

Index read_store_index(const Store& store) {
    return sys::with_context("read " + index_path(store), [&] {
        return parse_index(sys::read_file(index_path(store), kMaxManifestBytes + 1));
    });
}

static std::string ref_of(const Descriptor& d) {
    auto it = d.annotations.find(kAnnotationImgbuildRef);
    return it == d.annotations.end() ? "" : it->second;
}

std::optional<Descriptor> lookup_ref(const Store& store, const std::string& ref) {
    std::string want = normalize_ref(ref);
    for (auto& d : read_store_index(store).manifests)
        if (ref_of(d) == want) return d;
    return std::nullopt;
}

std::vector<std::pair<std::string, Descriptor>> store_refs(const Store& store) {
    std::vector<std::pair<std::string, Descriptor>> out;
    for (auto& d : read_store_index(store).manifests)
        if (std::string r = ref_of(d); !r.empty()) out.emplace_back(r, d);
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.first < b.first; });
    return out;
}

template <typename F>
static void update_index(Store& store, F&& f) {
    sys::FileLock shared = store.lock_shared();
    sys::FileLock l(store.locks_dir() + "/index.lock", sys::FileLock::Exclusive);
    Index idx = read_store_index(store);
    if (f(idx)) sys::write_file_atomic(index_path(store), serialize(idx));
}

void set_ref(Store& store, const std::string& ref, const Descriptor& manifest) {
    std::string full = normalize_ref(ref);
    if (!is_manifest_type(manifest.media_type) && !is_index_type(manifest.media_type))
        sys::fail(sys::Code::InvalidInput, "tag " + full + ": " + manifest.digest.str() +
                                                      " is a \"" + manifest.media_type + "\", not a manifest");
    if (!store.has_blob(manifest.digest))
        sys::fail(sys::Code::FailedPrecondition, "tag " + full + ": manifest " + manifest.digest.str() +
                                                            " is not in the store");
    Descriptor d = manifest;
    d.annotations.erase(kAnnotationImgbuildRef);
    d.annotations.erase(kAnnotationRefName);
    d.annotations[kAnnotationRefName] = parse_reference(full).tag;
    d.annotations[kAnnotationImgbuildRef] = full;
    update_index(store, [&](Index& idx) {
        auto& m = idx.manifests;
        auto same = [&](const Descriptor& e) {
            return ref_of(e) == full && e.digest == d.digest && e.size == d.size && e.media_type == d.media_type &&
                   e.annotations == d.annotations;
        };
        if (std::count_if(m.begin(), m.end(), [&](const Descriptor& e) { return ref_of(e) == full; }) == 1 &&
            std::any_of(m.begin(), m.end(), same))
            return false;  // already so: no rewrite (a cached rebuild re-tags the same image)
        m.erase(std::remove_if(m.begin(), m.end(), [&](const Descriptor& e) { return ref_of(e) == full; }), m.end());
        m.push_back(d);
        return true;
    });
}

bool remove_ref(Store& store, const std::string& ref) {
    std::string full = normalize_ref(ref);
    bool removed = false;
    update_index(store, [&](Index& idx) {
        auto& m = idx.manifests;
        auto it = std::remove_if(m.begin(), m.end(), [&](const Descriptor& e) { return ref_of(e) == full; });
        removed = it != m.end();
        m.erase(it, m.end());
        return removed;
    });
    return removed;
}

}  // namespace cas
