// Export of one image as an OCI layout (directory or tar) or a docker-archive tar.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include <algorithm>
#include <memory>
#include <set>

#include "cas/refs.hpp"
#include "cas/tar_write.hpp"
#include "cas/transfer.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/tempfile.hpp"

namespace cas {

using json = nlohmann::json;

namespace {

// Where exported files go.
class Sink {
public:
    virtual ~Sink() = default;
    virtual void add_bytes(const std::string& path, const std::string& data) = 0;
    virtual void add_blob(const Store& store, const Digest& d) = 0;
    virtual void finish() = 0;
    // Existing index.json of a directory being added to (OCI only).
    virtual std::optional<std::string> existing_index() { return std::nullopt; }
};

class DirSink : public Sink {
public:
    explicit DirSink(const std::string& dir) : dir_(dir) {
        struct stat st;
        if (::stat(dir.c_str(), &st) == 0) {
            if (!S_ISDIR(st.st_mode)) sys::fail(sys::Code::AlreadyExists, dir + " exists and is not a directory");
            bool layout = sys::exists(dir + "/oci-layout") && sys::exists(dir + "/index.json");
            if (!layout && !is_empty(dir))
                sys::fail(sys::Code::AlreadyExists, dir + " is not empty and not an OCI layout");
        }
        sys::mkdir_p(dir + "/" + kLayoutBlobsDir);
    }
    std::optional<std::string> existing_index() override {
        if (!sys::exists(dir_ + "/index.json")) return std::nullopt;
        return sys::read_file(dir_ + "/index.json", kMaxManifestBytes);
    }
    void add_bytes(const std::string& path, const std::string& data) override {
        sys::write_file_atomic(dir_ + "/" + path, data, 0644);
    }
    void add_blob(const Store& store, const Digest& d) override {
        std::string dst = dir_ + "/" + layout_blob_rel(d);
        struct stat st;
        if (::lstat(dst.c_str(), &st) == 0 && S_ISREG(st.st_mode) && uint64_t(st.st_size) == store.blob_size(d)) return;
        std::string tmp;
        sys::UniqueFd out = sys::create_temp_beside(dst, &tmp);
        try {
            if (::fchmod(out.get(), 0644) != 0) sys::throw_errno("chmod " + tmp);
            Digester dg;
            store.stream_blob(d, [&](const char* p, size_t n) {
                dg.update(p, n);
                while (n > 0) {
                    ssize_t w = ::write(out.get(), p, n);
                    if (w < 0) {
                        if (errno == EINTR) continue;
                        sys::throw_errno("write " + tmp);
                    }
                    p += w;
                    n -= size_t(w);
                }
            });
            if (dg.finish() != d)
                sys::fail(sys::Code::InvalidInput, "blob " + d.str() + ": content does not match its digest");
            if (::fsync(out.get()) != 0) sys::throw_errno("fsync " + tmp);
            out.reset();
            if (::rename(tmp.c_str(), dst.c_str()) != 0) sys::throw_errno("rename " + tmp);
        } catch (...) {
            ::unlink(tmp.c_str());
            throw;
        }
    }
    void finish() override { sys::fsync_path(dir_ + "/" + kLayoutBlobsDir); }

private:
    static bool is_empty(const std::string& dir) {
        return sys::list_dir(dir).empty();
    }
    std::string dir_;
};

// A deterministic tar (pax, mtime 0, uid/gid 0, 0644) written to a temp file, renamed on finish.
class TarSink : public Sink {
public:
    explicit TarSink(const std::string& path) : path_(path) {
        fd_ = sys::create_temp_beside(path, &tmp_);  // O_EXCL, unpredictable name: no planted symlink is followed
        if (::fchmod(fd_.get(), 0644) != 0) {
            ::unlink(tmp_.c_str());
            sys::throw_errno("chmod " + tmp_);
        }
        a_ = new_pax_writer();
        if (archive_write_open_fd(a_, fd_.get()) != ARCHIVE_OK) fail("create " + tmp_);
        add_dir("blobs");
        add_dir(kLayoutBlobsDir);
    }
    ~TarSink() override {
        if (a_) {
            archive_write_free(a_);
            ::unlink(tmp_.c_str());
        }
    }
    void add_bytes(const std::string& path, const std::string& data) override {
        header(path, AE_IFREG, 0644, data.size());
        write(data.data(), data.size());
    }
    void add_blob(const Store& store, const Digest& d) override {
        std::string rel = layout_blob_rel(d);
        if (!added_.insert(rel).second) return;
        uint64_t size = store.blob_size(d);
        header(rel, AE_IFREG, 0644, size);
        Digester dg;
        store.stream_blob(d, [&](const char* p, size_t n) {
            dg.update(p, n);
            write(p, n);
        });
        if (dg.size() != size || dg.finish() != d)
            sys::fail(sys::Code::InvalidInput, "blob " + d.str() + ": content does not match its digest");
    }
    void finish() override {
        if (archive_write_close(a_) != ARCHIVE_OK) fail("write " + tmp_);
        archive_write_free(a_);
        a_ = nullptr;
        if (::fsync(fd_.get()) != 0) sys::throw_errno("fsync " + tmp_);
        fd_.reset();
        if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
            int e = errno;
            ::unlink(tmp_.c_str());
            sys::throw_errno("rename " + tmp_ + " to " + path_, e);
        }
    }

private:
    [[noreturn]] void fail(const std::string& what) {
        const char* s = archive_error_string(a_);
        sys::fail(sys::Code::System, what + ": " + (s ? s : "libarchive error"));
    }
    void add_dir(const std::string& p) { header(p, AE_IFDIR, 0755, 0); }
    void header(const std::string& p, mode_t type, mode_t mode, uint64_t size) {
        std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(), archive_entry_free);
        archive_entry_set_pathname(e.get(), p.c_str());
        archive_entry_set_filetype(e.get(), type);
        archive_entry_set_perm(e.get(), mode);
        archive_entry_set_size(e.get(), int64_t(size));
        archive_entry_set_mtime(e.get(), 0, 0);
        archive_entry_set_uid(e.get(), 0);
        archive_entry_set_gid(e.get(), 0);
        if (archive_write_header(a_, e.get()) != ARCHIVE_OK) fail("write " + tmp_ + ": " + p);
    }
    void write(const char* p, size_t n) {
        while (n > 0) {
            la_ssize_t w = archive_write_data(a_, p, n);
            if (w < 0) fail("write " + tmp_);
            p += w;
            n -= size_t(w);
        }
    }
    std::string path_, tmp_;
    sys::UniqueFd fd_;
    archive* a_ = nullptr;
    std::set<std::string> added_;
};

bool ends_with(const std::string& s, const std::string& suf) {
    return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

}  // namespace

void export_image(const Store& store, const Image& image, const std::string& path, const ExportOptions& opts) {
    sys::with_context("export " + image.manifest_digest.str() + " to " + path, [&] {
        if (path.empty()) sys::fail(sys::Code::InvalidInput, "no output path");
        std::vector<std::string> names;
        for (auto& n : opts.names) names.push_back(normalize_ref(n));

        // The manifest as stored, or rewritten when layers are mapped.
        Manifest m = image.manifest;
        Descriptor md = image.manifest_descriptor();
        std::optional<std::string> new_manifest;
        if (opts.map_layer) {
            bool changed = false;
            for (auto& l : m.layers) {
                Descriptor n = opts.map_layer(l);
                changed |= n.digest != l.digest;
                l = n;
            }
            if (changed) {
                m.media_type = media::kManifest;
                new_manifest = serialize(m);
                md = Descriptor{media::kManifest, Digest::of(*new_manifest), new_manifest->size(), {}, std::nullopt, {}, ""};
            }
        }

        bool tar = opts.format == ExportFormat::Docker || ends_with(path, ".tar");
        std::unique_ptr<Sink> sink;
        if (tar) sink = std::make_unique<TarSink>(path);
        else sink = std::make_unique<DirSink>(path);

        sink->add_blob(store, m.config.digest);
        for (auto& l : m.layers) sink->add_blob(store, l.digest);

        if (opts.format == ExportFormat::Docker) {
            json e = json::object();
            e["Config"] = layout_blob_rel(m.config.digest);
            e["RepoTags"] = names;
            e["Layers"] = json::array();
            for (auto& l : m.layers) e["Layers"].push_back(layout_blob_rel(l.digest));
            sink->add_bytes("manifest.json", json::array({e}).dump());
            sink->finish();
            return;
        }

        if (new_manifest) sink->add_bytes(layout_blob_rel(md.digest), *new_manifest);
        else sink->add_blob(store, md.digest);
        Index idx;
        if (auto text = sink->existing_index()) idx = parse_index(*text);
        std::vector<Descriptor> entries;
        if (names.empty()) entries.push_back(md);
        for (auto& n : names) {
            Descriptor d = md;
            d.annotations[kAnnotationRefName] = parse_reference(n).tag;
            d.annotations[kAnnotationImgbuildRef] = n;
            entries.push_back(d);
        }
        auto& ms = idx.manifests;
        for (auto& e : entries) {
            auto ref = e.annotations.find(kAnnotationRefName);
            ms.erase(std::remove_if(ms.begin(), ms.end(),
                                    [&](const Descriptor& x) {
                                        auto r = x.annotations.find(kAnnotationRefName);
                                        if (ref == e.annotations.end()) return x.digest == e.digest && x.annotations.empty();
                                        return r != x.annotations.end() && r->second == ref->second;
                                    }),
                     ms.end());
            ms.push_back(e);
        }
        sink->add_bytes("oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
        sink->add_bytes("index.json", serialize(idx));
        sink->finish();
    });
}

}  // namespace cas
