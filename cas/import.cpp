// Import of OCI layouts (directory or tar) and docker-archive tars into the store.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <map>
#include <memory>

#include "cas/refs.hpp"
#include "cas/transfer.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"

namespace cas {

using json = nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& msg) { throw sys::Error(sys::Code::InvalidInput, msg); }

// Normalise a path inside an archive: strip "./" and "/" prefixes, collapse "//" and ".";
// reject "..", empty and over-long paths.
std::string clean_path(const std::string& p, const std::string& what) {
    if (p.size() > 4096) bad(what + ": path too long");
    std::vector<std::string> parts;
    size_t i = 0;
    while (i <= p.size()) {
        size_t j = p.find('/', i);
        if (j == std::string::npos) j = p.size();
        std::string c = p.substr(i, j - i);
        if (c == "..") bad(what + ": path \"" + p + "\" escapes the archive");
        if (!c.empty() && c != ".") parts.push_back(c);
        i = j + 1;
    }
    std::string out;
    for (auto& c : parts) out += (out.empty() ? "" : "/") + c;
    return out;
}

// A symlink target resolved lexically against the link's directory (inside the archive's
// own name space; nothing is ever resolved on the host). "" if it leaves the archive.
std::string resolve_link(const std::string& link, const std::string& target) {
    std::string base = target.rfind('/', 0) == 0 ? "" : link.substr(0, link.rfind('/') == std::string::npos ? 0 : link.rfind('/'));
    std::vector<std::string> parts;
    std::string full = base + "/" + target;
    size_t i = 0;
    while (i <= full.size()) {
        size_t j = full.find('/', i);
        if (j == std::string::npos) j = full.size();
        std::string c = full.substr(i, j - i);
        if (c == "..") {
            if (parts.empty()) return "";
            parts.pop_back();
        } else if (!c.empty() && c != ".") parts.push_back(c);
        i = j + 1;
    }
    std::string out;
    for (auto& c : parts) out += (out.empty() ? "" : "/") + c;
    return out;
}

struct Stored {
    Digest digest;
    uint64_t size;
};

// Where an archive's files come from.
class Source {
public:
    virtual ~Source() = default;
    // A small metadata file (index.json, manifest.json, ...); nullopt if absent.
    virtual std::optional<std::string> small_file(const std::string& path) = 0;
    // Make the file present in the store, verifying it against the expectation when given.
    virtual Stored to_store(const std::string& path, const std::optional<Digest>& expected,
                            std::optional<uint64_t> expected_size) = 0;
};

void check_expected(const std::string& path, const Stored& s, const std::optional<Digest>& expected,
                    std::optional<uint64_t> expected_size) {
    if (expected && s.digest != *expected)
        bad(path + ": content digest " + s.digest.str() + " does not match the expected " + expected->str());
    if (expected_size && s.size != *expected_size)
        bad(path + ": size " + std::to_string(s.size) + " does not match the expected " + std::to_string(*expected_size) +
            " (blob " + s.digest.str() + ")");
}

class DirSource : public Source {
public:
    DirSource(Store& store, const std::string& dir, const ImportOptions& o) : store_(store), opts_(o), dirfd_(sys::open_dir(dir)) {}

    std::optional<std::string> small_file(const std::string& path) override {
        sys::UniqueFd fd = sys::try_open_in_root(dirfd_.get(), path, O_RDONLY);
        if (!fd) {
            if (errno == ENOENT) return std::nullopt;
            sys::throw_errno("open " + path);
        }
        return read_capped(fd.get(), path, kMaxConfigBytes);
    }

    Stored to_store(const std::string& path, const std::optional<Digest>& expected,
                    std::optional<uint64_t> expected_size) override {
        if (expected && expected_size && store_.has_blob(*expected) && store_.blob_size(*expected) == *expected_size)
            return {*expected, *expected_size};
        sys::UniqueFd fd = sys::open_in_root(dirfd_.get(), path, O_RDONLY);
        struct stat st;
        if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) bad(path + ": not a regular file");
        total_ += uint64_t(st.st_size);
        if (total_ > opts_.max_total_bytes) bad("archive is larger than the import limit");
        BlobWriter w = store_.writer();
        std::string buf(1 << 20, '\0');
        while (true) {
            ssize_t n = ::read(fd.get(), buf.data(), buf.size());
            if (n < 0) {
                if (errno == EINTR) continue;
                sys::throw_errno("read " + path);
            }
            if (n == 0) break;
            w.write(buf.data(), size_t(n));
            if (expected_size && w.size() > *expected_size) break;  // commit reports the mismatch
        }
        uint64_t size = w.size();
        Digest d = sys::with_context("import " + path, [&] { return w.commit(expected_size, expected); });
        return {d, size};
    }

private:
    static std::string read_capped(int fd, const std::string& path, size_t cap) {
        std::string out;
        char buf[65536];
        while (true) {
            ssize_t n = ::read(fd, buf, sizeof buf);
            if (n < 0) {
                if (errno == EINTR) continue;
                sys::throw_errno("read " + path);
            }
            if (n == 0) break;
            out.append(buf, size_t(n));
            if (out.size() > cap) bad(path + ": larger than " + std::to_string(cap) + " bytes");
        }
        return out;
    }
    Store& store_;
    const ImportOptions& opts_;
    sys::UniqueFd dirfd_;
    uint64_t total_ = 0;
};

// Reads the whole tar once: metadata files are kept in memory, every other regular file
// is streamed into the store (unreferenced ones are left for `prune`).
class TarSource : public Source {
public:
    TarSource(Store& store, const std::string& path, const ImportOptions& opts) {
        std::unique_ptr<archive, int (*)(archive*)> a(archive_read_new(), archive_read_free);
        archive_read_support_format_tar(a.get());
        archive_read_support_format_gnutar(a.get());
        archive_read_support_filter_gzip(a.get());
        archive_read_support_filter_zstd(a.get());
        if (archive_read_open_filename(a.get(), path.c_str(), 1 << 20) != ARCHIVE_OK)
            bad("open archive " + path + ": " + err(a.get()));
        uint64_t entries = 0, total = 0;
        std::string buf(1 << 20, '\0');
        while (true) {
            archive_entry* e = nullptr;
            int r = archive_read_next_header(a.get(), &e);
            if (r == ARCHIVE_EOF) break;
            if (r != ARCHIVE_OK && r != ARCHIVE_WARN) bad("read archive " + path + ": " + err(a.get()));
            if (++entries > opts.max_entries) bad("archive " + path + " has more than " + std::to_string(opts.max_entries) + " entries");
            const char* pn = archive_entry_pathname(e);
            if (!pn) bad("archive " + path + ": entry without a name");
            std::string name = clean_path(pn, "archive " + path);
            if (name.empty()) continue;
            if (const char* hl = archive_entry_hardlink(e)) {
                links_[name] = clean_path(hl, "archive " + path);
                continue;
            }
            mode_t type = archive_entry_filetype(e);
            if (type == AE_IFLNK) {
                const char* t = archive_entry_symlink(e);
                if (t) links_[name] = resolve_link(name, t);
                continue;
            }
            if (type != AE_IFREG) continue;
            int64_t size = archive_entry_size(e);
            if (size < 0) bad("archive " + path + ": " + name + ": bad size");
            total += uint64_t(size);
            if (total > opts.max_total_bytes) bad("archive " + path + " is larger than the import limit");
            bool meta = name == "index.json" || name == "oci-layout" || name == "manifest.json" || name == "repositories";
            if (meta) {
                if (uint64_t(size) > kMaxConfigBytes) bad("archive " + path + ": " + name + " is too large");
                std::string data;
                read_entry(a.get(), path, name, [&](const char* p, size_t n) { data.append(p, n); }, buf);
                small_[name] = std::move(data);
                continue;
            }
            std::string base = name.substr(name.rfind('/') == std::string::npos ? 0 : name.rfind('/') + 1);
            if (base == "VERSION" || base == "json") continue;  // legacy per-layer metadata, never referenced
            BlobWriter w = store.writer();
            read_entry(a.get(), path, name, [&](const char* p, size_t n) { w.write(p, n); }, buf);
            uint64_t n = w.size();
            if (n != uint64_t(size)) bad("archive " + path + ": " + name + ": truncated");
            Digest d = w.commit(n);
            blobs_.emplace(name, Stored{d, n});
        }
    }

    std::optional<std::string> small_file(const std::string& path) override {
        auto it = small_.find(path);
        if (it == small_.end()) return std::nullopt;
        return it->second;
    }

    Stored to_store(const std::string& path_in, const std::optional<Digest>& expected,
                    std::optional<uint64_t> expected_size) override {
        std::string path = clean_path(path_in, "archive entry");
        for (int hops = 0; hops < 16 && !blobs_.count(path) && links_.count(path); hops++) path = links_[path];
        auto it = blobs_.find(path);
        if (it == blobs_.end()) throw sys::Error(sys::Code::NotFound, "archive has no file " + path_in);
        check_expected(path_in, it->second, expected, expected_size);
        return it->second;
    }

private:
    static std::string err(archive* a) {
        const char* s = archive_error_string(a);
        return s ? s : "unknown error";
    }
    template <typename F>
    static void read_entry(archive* a, const std::string& path, const std::string& name, F&& f, std::string& buf) {
        while (true) {
            la_ssize_t n = archive_read_data(a, buf.data(), buf.size());
            if (n < 0) bad("read archive " + path + ": " + name + ": " + err(a));
            if (n == 0) break;
            f(buf.data(), size_t(n));
        }
    }
    std::map<std::string, std::string> small_;
    std::map<std::string, Stored> blobs_;
    std::map<std::string, std::string> links_;
};

json parse_small(const std::string& text, const std::string& what) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded()) bad(what + ": not valid JSON");
    return j;
}

// ---------------------------------------------------------------- OCI layout

struct Importer {
    Store& store;
    Source& src;
    const ImportOptions& opts;

    // Import one manifest (or pick one from an index) and its closure; returns its descriptor.
    Descriptor import_tree(const Descriptor& d, int depth = 0) {
        if (depth > 4) bad("index nesting too deep at " + d.digest.str());
        if (d.size > kMaxManifestBytes) bad("manifest " + d.digest.str() + " is too large");
        src.to_store(layout_blob_rel(d.digest), d.digest, d.size);
        std::string bytes = store.read_verified(d.digest, kMaxManifestBytes);
        if (is_index_type(d.media_type)) {
            Index idx = sys::with_context("index " + d.digest.str(), [&] { return parse_index(bytes, d.media_type); });
            return import_tree(pick_platform(idx, d.digest), depth + 1);
        }
        if (!is_manifest_type(d.media_type)) bad("descriptor " + d.digest.str() + " has unsupported mediaType \"" + d.media_type + "\"");
        Manifest m = sys::with_context("manifest " + d.digest.str(), [&] { return parse_manifest(bytes, d.media_type); });
        if (m.config.size > kMaxConfigBytes) bad("config " + m.config.digest.str() + " is too large");
        src.to_store(layout_blob_rel(m.config.digest), m.config.digest, m.config.size);
        ImageConfig c = sys::with_context("config " + m.config.digest.str(), [&] {
            return parse_config(store.read_verified(m.config.digest, kMaxConfigBytes));
        });
        if (c.diff_ids.size() != m.layers.size())
            bad("manifest " + d.digest.str() + ": " + std::to_string(m.layers.size()) + " layers but the config has " +
                std::to_string(c.diff_ids.size()) + " diff_ids");
        for (auto& l : m.layers) {
            if (!is_layer_type(l.media_type)) bad("layer " + l.digest.str() + " has unsupported mediaType \"" + l.media_type + "\"");
            src.to_store(layout_blob_rel(l.digest), l.digest, l.size);
        }
        Descriptor out;
        out.media_type = d.media_type;
        out.digest = d.digest;
        out.size = d.size;
        return out;
    }

    Descriptor pick_platform(const Index& idx, const Digest& where) {
        std::string arch = opts.architecture.empty() ? host_architecture() : opts.architecture;
        std::vector<Descriptor> manifests;
        for (auto& m : idx.manifests)
            if (is_manifest_type(m.media_type) || is_index_type(m.media_type)) manifests.push_back(m);
        if (manifests.size() == 1) return manifests[0];
        std::string seen;
        for (auto& m : manifests) {
            if (m.platform && m.platform->os == opts.os && m.platform->architecture == arch) return m;
            if (m.platform) seen += " " + m.platform->os + "/" + m.platform->architecture;
        }
        throw sys::Error(sys::Code::NotFound, "index " + where.str() + " has no image for " + opts.os + "/" + arch +
                                                  " (it has:" + (seen.empty() ? " none" : seen) + ")");
    }
};

// A full name from an index entry's annotations, or "" when it only carries a tag.
std::string name_from_annotations(const Descriptor& d) {
    for (const char* key : {kAnnotationImgbuildRef, "io.containerd.image.name", kAnnotationRefName}) {
        auto it = d.annotations.find(key);
        if (it == d.annotations.end()) continue;
        const std::string& v = it->second;
        bool full = v.find(':') != std::string::npos || v.find('/') != std::string::npos || v.find('@') != std::string::npos;
        if (full && is_valid_reference(v) && !parse_reference(v).tag.empty()) return normalize_ref(v);
    }
    return "";
}

std::vector<ImportedImage> import_oci(Store& store, Source& src, const ImportOptions& opts, const std::string& path) {
    json layout = parse_small(*src.small_file("oci-layout"), path + ": oci-layout");
    if (!layout.is_object() || !layout.contains("imageLayoutVersion") || !layout["imageLayoutVersion"].is_string())
        bad(path + ": oci-layout has no imageLayoutVersion");
    std::string ver = layout["imageLayoutVersion"].get<std::string>();
    if (ver != "1.0.0") bad(path + ": unsupported imageLayoutVersion \"" + ver + "\"");
    std::optional<std::string> index_text = src.small_file("index.json");
    if (!index_text) bad(path + ": OCI layout without index.json");
    Index idx = sys::with_context(path + ": index.json", [&] { return parse_index(*index_text); });
    std::vector<Descriptor> entries;
    for (auto& d : idx.manifests)
        if (is_manifest_type(d.media_type) || is_index_type(d.media_type)) entries.push_back(d);
    if (entries.empty()) bad(path + ": the OCI layout has no images");
    if (opts.tag && entries.size() > 1)
        bad(path + ": holds " + std::to_string(entries.size()) + " images; --tag names exactly one");
    Importer imp{store, src, opts};
    std::vector<ImportedImage> out;
    for (auto& d : entries) {
        std::string name = opts.tag ? normalize_ref(*opts.tag) : name_from_annotations(d);
        if (name.empty())
            bad(path + ": image " + d.digest.str() + " has no name (only a tag); give --tag NAME:TAG");
        Descriptor m = imp.import_tree(d);
        out.push_back({{name}, m, parse_manifest(store.read_verified(m.digest, kMaxManifestBytes)).config.digest});
    }
    return out;
}

// ---------------------------------------------------------------- docker-archive

const char* detect_layer_type(const Store& store, const Digest& d) {
    sys::UniqueFd fd = store.open_blob(d);
    unsigned char m[4] = {0, 0, 0, 0};
    ssize_t n = ::read(fd.get(), m, 4);
    if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b) return media::kLayerGzip;
    if (n == 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) return media::kLayerZstd;
    return media::kLayer;
}

std::vector<ImportedImage> import_docker(Store& store, Source& src, const ImportOptions& opts, const std::string& path) {
    json doc = parse_small(*src.small_file("manifest.json"), path + ": manifest.json");
    if (!doc.is_array() || doc.empty()) bad(path + ": manifest.json must be a non-empty array");
    if (doc.size() > 1000) bad(path + ": manifest.json lists too many images");
    if (opts.tag && doc.size() > 1) bad(path + ": holds " + std::to_string(doc.size()) + " images; --tag names exactly one");
    std::vector<ImportedImage> out;
    for (auto& e : doc) {
        if (!e.is_object() || !e.contains("Config") || !e["Config"].is_string() || !e.contains("Layers") ||
            !e["Layers"].is_array())
            bad(path + ": manifest.json entry needs \"Config\" and \"Layers\"");
        std::string cfg_path = e["Config"].get<std::string>();
        Stored cfg = src.to_store(cfg_path, std::nullopt, std::nullopt);
        if (cfg.size > kMaxConfigBytes) bad(path + ": config " + cfg_path + " is too large");
        ImageConfig c = sys::with_context(path + ": config " + cfg_path, [&] {
            return parse_config(store.read_verified(cfg.digest, kMaxConfigBytes));
        });
        const json& layers = e["Layers"];
        if (layers.size() != c.diff_ids.size())
            bad(path + ": " + std::to_string(layers.size()) + " layers but config " + cfg.digest.str() + " has " +
                std::to_string(c.diff_ids.size()) + " diff_ids");
        Manifest m;
        m.config = Descriptor{media::kConfig, cfg.digest, cfg.size, {}, std::nullopt, {}, ""};
        for (size_t i = 0; i < layers.size(); i++) {
            if (!layers[i].is_string()) bad(path + ": manifest.json layer is not a string");
            std::string lp = layers[i].get<std::string>();
            Stored s = src.to_store(lp, std::nullopt, std::nullopt);
            const char* mt = detect_layer_type(store, s.digest);
            if (std::string(mt) == media::kLayer && s.digest != c.diff_ids[i])
                bad(path + ": layer " + lp + " hashes to " + s.digest.str() + " but the config's diff_id is " +
                    c.diff_ids[i].str());
            m.layers.push_back(Descriptor{mt, s.digest, s.size, {}, std::nullopt, {}, ""});
        }
        std::string mb = serialize(m);
        Descriptor md{media::kManifest, store.put(mb), mb.size(), {}, std::nullopt, {}, ""};
        ImportedImage img{{}, md, cfg.digest};
        if (opts.tag) img.refs.push_back(normalize_ref(*opts.tag));
        else if (e.contains("RepoTags") && e["RepoTags"].is_array())
            for (auto& t : e["RepoTags"]) {
                if (!t.is_string()) bad(path + ": RepoTags has a non-string");
                img.refs.push_back(normalize_ref(t.get<std::string>()));
            }
        if (img.refs.empty()) bad(path + ": image " + cfg.digest.str() + " has no RepoTags; give --tag NAME:TAG");
        out.push_back(std::move(img));
    }
    return out;
}

}  // namespace

std::string host_architecture() {
#if defined(__x86_64__)
    return "amd64";
#elif defined(__aarch64__)
    return "arm64";
#elif defined(__i386__)
    return "386";
#elif defined(__arm__)
    return "arm";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return "ppc64le";
#elif defined(__s390x__)
    return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
    return "riscv64";
#else
    struct utsname u;
    ::uname(&u);
    return u.machine;
#endif
}

std::vector<ImportedImage> import_images(Store& store, const std::string& path, const ImportOptions& opts) {
    return sys::with_context("import " + path, [&] {
        sys::FileLock lock = store.lock_shared();  // no GC between writing blobs and tagging
        struct stat st;
        if (::stat(path.c_str(), &st) != 0) sys::throw_errno("stat " + path);
        std::unique_ptr<Source> src;
        if (S_ISDIR(st.st_mode)) src = std::make_unique<DirSource>(store, path, opts);
        else if (S_ISREG(st.st_mode)) src = std::make_unique<TarSource>(store, path, opts);
        else bad(path + ": not a directory or a file");
        std::vector<ImportedImage> out;
        if (src->small_file("manifest.json")) out = import_docker(store, *src, opts, path);
        else if (src->small_file("oci-layout")) out = import_oci(store, *src, opts, path);
        else bad(path + ": neither an OCI layout (oci-layout, index.json) nor a docker-archive (manifest.json)");
        for (auto& img : out)
            for (auto& r : img.refs) set_ref(store, r, img.manifest);
        return out;
    });
}

}  // namespace cas
