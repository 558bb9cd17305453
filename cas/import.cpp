// Import of OCI layouts (directory or tar) and docker-archive tars into the store.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <set>

#include "cas/layer_verify.hpp"
#include "cas/refs.hpp"
#include "cas/transfer.hpp"
#include "sys/buffer.hpp"
#include "sys/error.hpp"
#include "sys/path.hpp"
#include "sys/fs.hpp"

namespace cas {

using json = nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& msg) { sys::fail(sys::Code::InvalidInput, msg); }

// Normalise a path inside an archive: strip "./" and "/" prefixes, collapse "//" and ".";
// reject "..", empty and over-long paths.
std::string clean_path(const std::string& p, const std::string& what) {
    if (p.size() > 4096) bad(what + ": path too long");
    std::optional<std::string> out = sys::clean_entry_name(p);
    if (!out) bad(what + ": path \"" + p + "\" escapes the archive");
    return *out;
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

// A layer blob on its way into the store: already there, or sealed in an uncommitted ingest
// file (removed if the import fails). It becomes visible only after every layer verified.
struct Staged {
    explicit Staged(Stored st) : s(st) {}
    Stored s;
    std::optional<BlobWriter> writer;  // nullopt: the blob was already in the store
    sys::UniqueFd open(const Store& store) { return writer ? writer->open_for_read() : store.open_blob(s.digest); }
};

// One layer file the plan asks for (by its path in the archive).
struct Want {
    std::optional<Digest> expected;
    std::optional<uint64_t> expected_size;
    std::shared_ptr<Staged> staged;
};
using Wants = std::map<std::string, Want>;

// Where an archive's files come from.
class Source {
public:
    virtual ~Source() = default;
    // A metadata file (index.json, manifest.json, ...); nullopt if absent.
    virtual std::optional<std::string> small_file(const std::string& path) = 0;
    // A whole small file (manifest, config); NotFound if absent, InvalidInput past cap.
    virtual std::string small_blob(const std::string& path, size_t cap) = 0;
    // Stage every wanted file into ingest (sealed, uncommitted), checking expectations.
    virtual void stage(Store& store, Wants& wants) = 0;
};

void check_expected(const std::string& path, const Stored& s, const std::optional<Digest>& expected,
                    std::optional<uint64_t> expected_size) {
    if (expected && s.digest != *expected)
        bad(path + ": content digest " + s.digest.str() + " does not match the expected " + expected->str());
    if (expected_size && s.size != *expected_size)
        bad(path + ": size " + std::to_string(s.size) + " does not match the expected " + std::to_string(*expected_size) +
            " (blob " + s.digest.str() + ")");
}

std::string read_capped(int fd, const std::string& path, size_t cap) {
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

// Seal a staged writer and check it against what the plan expects.
std::shared_ptr<Staged> seal(BlobWriter w, const std::string& path, const Want& want) {
    auto st = std::make_shared<Staged>(Stored{w.seal(), w.size()});
    check_expected(path, st->s, want.expected, want.expected_size);
    st->writer.emplace(std::move(w));
    return st;
}

class DirSource : public Source {
public:
    DirSource(const std::string& dir, const ImportOptions& o) : opts_(o), dirfd_(sys::open_dir(dir)) {}

    std::optional<std::string> small_file(const std::string& path) override {
        sys::UniqueFd fd = open_regular(path, false);
        if (!fd) return std::nullopt;
        return read_capped(fd.get(), path, kMaxConfigBytes);
    }

    std::string small_blob(const std::string& path, size_t cap) override {
        sys::UniqueFd fd = open_regular(path, true);
        return read_capped(fd.get(), path, cap);
    }

    void stage(Store& store, Wants& wants) override {
        for (auto& [path, want] : wants) {
            if (want.expected && want.expected_size && store.has_blob(*want.expected) &&
                store.blob_size(*want.expected) == *want.expected_size) {
                want.staged = std::make_shared<Staged>(Stored{*want.expected, *want.expected_size});
                continue;
            }
            sys::UniqueFd fd = open_regular(path, true);
            BlobWriter w = store.writer();
            sys::ScratchBuffer buf(1 << 20);
            while (true) {
                ssize_t n = ::read(fd.get(), buf.data(), buf.size());
                if (n < 0) {
                    if (errno == EINTR) continue;
                    sys::throw_errno("read " + path);
                }
                if (n == 0) break;
                w.write(buf.data(), size_t(n));
                total_ += uint64_t(n);
                if (total_ > opts_.max_total_bytes) bad("archive is larger than the import limit");
                if (want.expected_size && w.size() > *want.expected_size) break;  // the check below names it
            }
            want.staged = seal(std::move(w), path, want);
        }
    }

private:
    // Never opens a FIFO, device node or socket of the layout (nothing blocks, no driver
    // runs): resolved O_PATH, type-checked, then reopened (sys::try_open_regular_in_root).
    sys::UniqueFd open_regular(const std::string& path, bool required) {
        sys::UniqueFd fd = sys::try_open_regular_in_root(dirfd_.get(), path, "layout file " + path);
        if (!fd) {
            if (errno == ENOENT && !required) return fd;
            if (errno == ENOENT) sys::fail(sys::Code::NotFound, "layout has no file " + path);
            sys::throw_errno("open " + path);
        }
        return fd;
    }
    const ImportOptions& opts_;
    sys::UniqueFd dirfd_;
    uint64_t total_ = 0;
};

// A tar (plain, gzip or zstd) read in passes: the first keeps metadata and small files in
// memory and learns names, sizes and links; stage() then streams only the wanted members
// into ingest. Members nothing refers to are never stored.
class TarSource : public Source {
public:
    TarSource(const std::string& path, const ImportOptions& opts) : path_(path), opts_(opts) {
        uint64_t entries = 0, total = 0, kept = 0;
        scan([&](const std::string& name, archive_entry* e) -> bool {
            if (++entries > opts.max_entries) bad("archive " + path + " has more than " + std::to_string(opts.max_entries) + " entries");
            if (const char* hl = archive_entry_hardlink(e)) {
                links_[name] = clean_path(hl, "archive " + path);
                return false;
            }
            mode_t type = archive_entry_filetype(e);
            if (type == AE_IFLNK) {
                if (const char* t = archive_entry_symlink(e)) links_[name] = resolve_link(name, t);
                return false;
            }
            if (type != AE_IFREG) return false;
            int64_t size = archive_entry_size(e);
            if (size < 0) bad("archive " + path + ": " + name + ": bad size");
            total += uint64_t(size);
            if (total > opts.max_total_bytes) bad("archive " + path + " is larger than the import limit");
            sizes_[name] = uint64_t(size);
            bool meta = name == "index.json" || name == "oci-layout" || name == "manifest.json" || name == "repositories";
            if (meta && uint64_t(size) > kMaxConfigBytes) bad("archive " + path + ": " + name + " is too large");
            if (!meta && (uint64_t(size) > kMaxConfigBytes || kept + uint64_t(size) > kKeepInMemory)) return false;
            kept += uint64_t(size);
            return true;
        }, [&](const std::string& name, const std::function<void(const std::function<void(const char*, size_t)>&)>& read) {
            std::string data;
            read([&](const char* p, size_t n) { data.append(p, n); });
            small_[name] = std::move(data);
        });
    }

    std::optional<std::string> small_file(const std::string& path) override {
        auto it = small_.find(path);
        if (it == small_.end()) return std::nullopt;
        return it->second;
    }

    std::string small_blob(const std::string& path_in, size_t cap) override {
        std::string name = resolve(path_in);
        auto sz = sizes_.find(name);
        if (sz == sizes_.end()) sys::fail(sys::Code::NotFound, "archive has no file " + path_in);
        if (sz->second > cap) bad(path_in + ": larger than " + std::to_string(cap) + " bytes");
        if (auto it = small_.find(name); it != small_.end()) return it->second;
        std::string data;
        scan([&](const std::string& n, archive_entry*) { return n == name; },
             [&](const std::string&, const auto& read) { read([&](const char* p, size_t n) { data.append(p, n); }); });
        return data;
    }

    void stage(Store& store, Wants& wants) override {
        std::map<std::string, std::vector<std::string>> by_member;  // member -> wanted paths
        for (auto& [path, want] : wants) {
            std::string name = resolve(path);
            if (!sizes_.count(name)) sys::fail(sys::Code::NotFound, "archive has no file " + path);
            by_member[name].push_back(path);
        }
        scan([&](const std::string& n, archive_entry*) { return by_member.count(n) && !wants[by_member[n][0]].staged; },
             [&](const std::string& n, const auto& read) {
                 BlobWriter w = store.writer();
                 read([&](const char* p, size_t k) { w.write(p, k); });
                 if (w.size() != sizes_[n]) bad("archive " + path_ + ": " + n + ": truncated");
                 std::shared_ptr<Staged> st;
                 for (auto& p : by_member[n]) {
                     if (!st) st = seal(std::move(w), p, wants[p]);
                     else check_expected(p, st->s, wants[p].expected, wants[p].expected_size);
                     wants[p].staged = st;
                 }
             });
        for (auto& [path, want] : wants)
            if (!want.staged) sys::fail(sys::Code::NotFound, "archive has no file " + path);
    }

private:
    static constexpr uint64_t kKeepInMemory = 64u << 20;
    using Reader = std::function<void(const std::function<void(const char*, size_t)>&)>;

    static std::string err(archive* a) {
        const char* s = archive_error_string(a);
        return s ? s : "unknown error";
    }
    std::string resolve(const std::string& path_in) {
        std::string path = clean_path(path_in, "archive entry");
        for (int hops = 0; hops < 16 && !sizes_.count(path) && links_.count(path); hops++) path = links_[path];
        return path;
    }

    // One pass over the tar: take(name, read) for each regular member want() accepts.
    void scan(const std::function<bool(const std::string&, archive_entry*)>& want,
              const std::function<void(const std::string&, const Reader&)>& take) {
        std::unique_ptr<archive, int (*)(archive*)> a(archive_read_new(), archive_read_free);
        archive_read_support_format_tar(a.get());
        archive_read_support_format_gnutar(a.get());
        if (archive_read_support_filter_gzip(a.get()) != ARCHIVE_OK || archive_read_support_filter_zstd(a.get()) != ARCHIVE_OK)
            sys::fail(sys::Code::FailedPrecondition, "libarchive lacks built-in gzip/zstd (it would run an external program)");
        if (archive_read_open_filename(a.get(), path_.c_str(), 1 << 20) != ARCHIVE_OK)
            bad("open archive " + path_ + ": " + err(a.get()));
        sys::ScratchBuffer buf(1 << 20);
        while (true) {
            archive_entry* e = nullptr;
            int r = archive_read_next_header(a.get(), &e);
            if (r == ARCHIVE_EOF) break;
            if (r != ARCHIVE_OK && r != ARCHIVE_WARN) bad("read archive " + path_ + ": " + err(a.get()));
            const char* pn = archive_entry_pathname(e);
            if (!pn) bad("archive " + path_ + ": entry without a name");
            std::string name = clean_path(pn, "archive " + path_);
            if (name.empty() || !want(name, e)) continue;
            take(name, [&](const std::function<void(const char*, size_t)>& f) {
                while (true) {
                    la_ssize_t n = archive_read_data(a.get(), buf.data(), buf.size());
                    if (n < 0) bad("read archive " + path_ + ": " + name + ": " + err(a.get()));
                    if (n == 0) break;
                    f(buf.data(), size_t(n));
                }
            });
        }
    }

    std::string path_;
    const ImportOptions& opts_;
    std::map<std::string, std::string> small_;
    std::map<std::string, uint64_t> sizes_;
    std::map<std::string, std::string> links_;
};

json parse_small(const std::string& text, const std::string& what) {
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded()) bad(what + ": not valid JSON");
    return j;
}

// What one image of the archive will add to the store, decided before anything is written.
struct PlannedLayer {
    std::string path;  // in the archive
    Descriptor desc;   // docker-archive: digest, size and type known once staged
    Digest diff_id;
};
struct Plan {
    std::vector<std::string> refs;
    std::optional<Descriptor> manifest;  // docker-archive: written once the layers are known
    std::optional<Digest> config;
    std::vector<PlannedLayer> layers;
};
struct Planned {
    std::vector<Plan> images;
    std::map<Digest, std::string> small;  // verified indexes, manifests, configs to put
};

// A small blob (index, manifest, config) read into memory and checked against its descriptor.
std::string small_verified(Source& src, const Descriptor& d, size_t cap, Planned& out) {
    if (d.size > cap) bad("blob " + d.digest.str() + " is too large (" + std::to_string(d.size) + " bytes)");
    std::string bytes = src.small_blob(layout_blob_rel(d.digest), cap);
    Digest got = Digest::of(bytes);
    if (got != d.digest) bad("blob " + d.digest.str() + ": content hashes to " + got.str());
    if (bytes.size() != d.size)
        bad("blob " + d.digest.str() + ": size " + std::to_string(bytes.size()) + " does not match the expected " +
            std::to_string(d.size));
    out.small[d.digest] = bytes;
    return bytes;
}

// ---------------------------------------------------------------- OCI layout

struct Importer {
    Source& src;
    const ImportOptions& opts;
    Planned& out;

    // Plan one manifest (or pick one from an index) and its closure; returns its descriptor.
    Descriptor import_tree(const Descriptor& d, Plan& plan, int depth = 0) {
        if (depth > 4) bad("index nesting too deep at " + d.digest.str());
        std::string bytes = small_verified(src, d, kMaxManifestBytes, out);
        if (is_index_type(d.media_type)) {
            Index idx = sys::with_context("index " + d.digest.str(), [&] { return parse_index(bytes, d.media_type); });
            return import_tree(pick_platform(idx, d.digest), plan, depth + 1);
        }
        if (!is_manifest_type(d.media_type)) bad("descriptor " + d.digest.str() + " has unsupported mediaType \"" + d.media_type + "\"");
        Manifest m = sys::with_context("manifest " + d.digest.str(), [&] { return parse_manifest(bytes, d.media_type); });
        std::string cfg = small_verified(src, m.config, kMaxConfigBytes, out);
        ImageConfig c = sys::with_context("config " + m.config.digest.str(), [&] { return parse_config(cfg); });
        if (c.diff_ids.size() != m.layers.size())
            bad("manifest " + d.digest.str() + ": " + std::to_string(m.layers.size()) + " layers but the config has " +
                std::to_string(c.diff_ids.size()) + " diff_ids");
        for (size_t i = 0; i < m.layers.size(); i++) {
            const Descriptor& l = m.layers[i];
            if (!is_layer_type(l.media_type)) bad("layer " + l.digest.str() + " has unsupported mediaType \"" + l.media_type + "\"");
            plan.layers.push_back({layout_blob_rel(l.digest), l, c.diff_ids[i]});
        }
        plan.config = m.config.digest;
        Descriptor res;
        res.media_type = d.media_type;
        res.digest = d.digest;
        res.size = d.size;
        return res;
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
        sys::fail(sys::Code::NotFound, "index " + where.str() + " has no image for " + opts.os + "/" + arch +
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

Planned plan_oci(Source& src, const ImportOptions& opts, const std::string& path) {
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
    Planned out;
    Importer imp{src, opts, out};
    for (auto& d : entries) {
        std::string name = opts.tag ? normalize_ref(*opts.tag) : name_from_annotations(d);
        if (name.empty())
            bad(path + ": image " + d.digest.str() + " has no name (only a tag); give --tag NAME:TAG");
        Plan plan;
        plan.refs = {name};
        plan.manifest = imp.import_tree(d, plan);
        out.images.push_back(std::move(plan));
    }
    return out;
}

// ---------------------------------------------------------------- docker-archive

Planned plan_docker(Source& src, const ImportOptions& opts, const std::string& path) {
    json doc = parse_small(*src.small_file("manifest.json"), path + ": manifest.json");
    if (!doc.is_array() || doc.empty()) bad(path + ": manifest.json must be a non-empty array");
    if (doc.size() > 1000) bad(path + ": manifest.json lists too many images");
    if (opts.tag && doc.size() > 1) bad(path + ": holds " + std::to_string(doc.size()) + " images; --tag names exactly one");
    Planned out;
    for (auto& e : doc) {
        if (!e.is_object() || !e.contains("Config") || !e["Config"].is_string() || !e.contains("Layers") ||
            !e["Layers"].is_array())
            bad(path + ": manifest.json entry needs \"Config\" and \"Layers\"");
        std::string cfg_path = e["Config"].get<std::string>();
        std::string cfg = src.small_blob(cfg_path, kMaxConfigBytes);
        Plan plan;
        plan.config = Digest::of(cfg);
        out.small[*plan.config] = cfg;
        ImageConfig c = sys::with_context(path + ": config " + cfg_path, [&] { return parse_config(cfg); });
        const json& layers = e["Layers"];
        if (layers.size() != c.diff_ids.size())
            bad(path + ": " + std::to_string(layers.size()) + " layers but config " + plan.config->str() + " has " +
                std::to_string(c.diff_ids.size()) + " diff_ids");
        for (size_t i = 0; i < layers.size(); i++) {
            if (!layers[i].is_string()) bad(path + ": manifest.json layer is not a string");
            plan.layers.push_back({layers[i].get<std::string>(), Descriptor{}, c.diff_ids[i]});
        }
        if (opts.tag) plan.refs.push_back(normalize_ref(*opts.tag));
        else if (e.contains("RepoTags") && e["RepoTags"].is_array())
            for (auto& t : e["RepoTags"]) {
                if (!t.is_string()) bad(path + ": RepoTags has a non-string");
                plan.refs.push_back(normalize_ref(t.get<std::string>()));
            }
        if (plan.refs.empty()) bad(path + ": image " + plan.config->str() + " has no RepoTags; give --tag NAME:TAG");
        out.images.push_back(std::move(plan));
    }
    return out;
}

const char* media_type_of(Compression c) {
    switch (c) {
        case Compression::Gzip: return media::kLayerGzip;
        case Compression::Zstd: return media::kLayerZstd;
        case Compression::None: break;
    }
    return media::kLayer;
}

// Stage the layers, verify every image's layers in order, then make it all visible at once.
std::vector<ImportedImage> stage_verify_commit(Store& store, Source& src, Planned& p, const ImportOptions& opts) {
    Wants wants;
    for (auto& img : p.images)
        for (auto& l : img.layers) {
            Want& w = wants[l.path];
            if (l.desc.size || !l.desc.media_type.empty()) {
                w.expected = l.desc.digest;
                w.expected_size = l.desc.size;
            }
        }
    src.stage(store, wants);
    LayerBudget budget;
    for (auto& img : p.images) {
        LayerChain chain;
        Manifest m;
        for (auto& l : img.layers) {
            Staged& st = *wants[l.path].staged;
            sys::UniqueFd fd = st.open(store);
            if (!img.manifest) l.desc = Descriptor{media_type_of(sniff_compression_fd(fd.get())), st.s.digest, st.s.size, {}, std::nullopt, {}, ""};
            verify_layer_stream(fd.get(), l.desc, l.diff_id, opts.caps, budget, chain);
            m.layers.push_back(l.desc);
        }
        if (!img.manifest) {  // docker-archive: imgbuild writes the manifest
            m.config = Descriptor{media::kConfig, *img.config, p.small[*img.config].size(), {}, std::nullopt, {}, ""};
            std::string mb = serialize(m);
            Digest md = Digest::of(mb);
            p.small[md] = mb;
            img.manifest = Descriptor{media::kManifest, md, mb.size(), {}, std::nullopt, {}, ""};
        }
    }
    std::set<Staged*> done;
    for (auto& [path, w] : wants)
        if (w.staged->writer && done.insert(w.staged.get()).second) w.staged->writer->commit(w.staged->s.size, w.staged->s.digest);
    for (auto& [d, bytes] : p.small)
        if (!store.has_blob(d)) store.put(bytes);
    std::vector<ImportedImage> out;
    for (auto& img : p.images) {
        for (auto& r : img.refs) set_ref(store, r, *img.manifest);
        out.push_back({img.refs, *img.manifest, *img.config});
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
        if (S_ISDIR(st.st_mode)) src = std::make_unique<DirSource>(path, opts);
        else if (S_ISREG(st.st_mode)) src = std::make_unique<TarSource>(path, opts);
        else bad(path + ": not a directory or a file");
        Planned plan;
        if (src->small_file("manifest.json")) plan = plan_docker(*src, opts, path);
        else if (src->small_file("oci-layout")) plan = plan_oci(*src, opts, path);
        else bad(path + ": neither an OCI layout (oci-layout, index.json) nor a docker-archive (manifest.json)");
        return stage_verify_commit(store, *src, plan, opts);
    });
}

}  // namespace cas
