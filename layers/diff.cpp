// diff_upper: overlay upper dir -> deterministic OCI layer tar, streamed once through
// digesters and the compressor into the store. recompress: re-encode a stored layer.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <vector>

#include "layers/layer.hpp"
#include "layers/strip.hpp"
#include "layers/stream.hpp"
#include "layers/tar_writer.hpp"
#include "layers/whiteout.hpp"
#include "layers/xattrs.hpp"
#include "sys/buffer.hpp"
#include "sys/error.hpp"
#include "sys/io.hpp"

namespace layers {
namespace {

std::string proc_path(int dirfd, const std::string& name) {
    return "/proc/self/fd/" + std::to_string(dirfd) + "/" + name;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> read_xattrs(int dirfd, const std::string& name, const std::string& shown,
                                                             bool& foreign, int fd) {
    std::vector<std::pair<std::string, std::string>> out;
    std::string p = fd >= 0 ? std::string() : proc_path(dirfd, name);
    auto list = [&](char* buf, size_t n) { return fd >= 0 ? ::flistxattr(fd, buf, n) : ::llistxattr(p.c_str(), buf, n); };
    auto get = [&](const std::string& k, char* buf, size_t n) {
        return fd >= 0 ? ::fgetxattr(fd, k.c_str(), buf, n) : ::lgetxattr(p.c_str(), k.c_str(), buf, n);
    };
    char small[1024];  // one syscall for the common case (none, or a few short names)
    std::string names;
    ssize_t n = list(small, sizeof small);
    if (n >= 0) {
        names.assign(small, size_t(n));
    } else if (errno == ERANGE) {
        n = list(nullptr, 0);
        if (n >= 0) {
            names.assign(size_t(n), '\0');
            n = list(names.data(), names.size());
            if (n >= 0) names.resize(size_t(n));
        }
    }
    if (n < 0) {
        if (errno == ENOTSUP) return out;
        sys::throw_errno("list xattrs of " + shown);
    }
    for (size_t i = 0; i < names.size();) {
        std::string key(names.c_str() + i);
        i += key.size() + 1;
        if (key.empty()) continue;
        if (!layer_xattr_allowed(key)) {
            foreign = foreign || !snapshot_keeps_xattr(key);
            continue;
        }
        ssize_t vn = get(key, nullptr, 0);
        if (vn < 0) {
            if (errno == ENODATA) continue;
            sys::throw_errno("read xattr " + key + " of " + shown);
        }
        std::string v(size_t(vn), '\0');
        vn = get(key, v.data(), v.size());
        if (vn < 0) sys::throw_errno("read xattr " + key + " of " + shown);
        v.resize(size_t(vn));
        out.emplace_back(std::move(key), std::move(v));
    }
    std::sort(out.begin(), out.end());
    return out;
}

bool dir_is_opaque(int fd) {
    char v[8];
    ssize_t n = ::fgetxattr(fd, kOverlayOpaqueXattr, v, sizeof v);
    return n > 0 && is_overlay_opaque_value(std::string_view(v, size_t(n)));
}

namespace {

using detail::Entry;

// Streams tar bytes into the store: tar -> [diff_id digester -> compressor] -> BlobWriter.
struct LayerOutput {
    cas::BlobWriter bw;
    Compression c;
    cas::Digester diff;
    detail::Compressor comp;
    const char* lent_ = nullptr;  // the range a Lend has handed over
    size_t lent_len_ = 0;
    LayerOutput(cas::Store& store, Compression c, bool durable = true)
        : bw(store.writer()), c(c), comp(c, [this](const void* p, size_t n) { bw.write(p, n); }) {
        bw.set_durable(durable);
    }
    void write(const void* p, size_t n) {
        // The tar writer hands a file's data on as it got it (bytes_per_block 0): a chunk of a
        // borrowed mapping goes to the blob without a copy.
        auto* b = static_cast<const char*>(p);
        if (c == Compression::None && b >= lent_ && b + n <= lent_ + lent_len_) return bw.write_borrowed(p, n);
        if (c != Compression::None) diff.update(p, n);
        comp.write(p, n);
    }
    // While a Lend lives, chunks of [p, p + n) are written from where they are; it waits until
    // nothing reads them any more before it ends (also when a write failed).
    class Lend {
    public:
        Lend(LayerOutput& o, const char* p, size_t n) : o_(o) { o_.lent_ = p, o_.lent_len_ = n; }
        ~Lend() {
            o_.bw.release_borrowed();
            o_.lent_ = nullptr, o_.lent_len_ = 0;
        }
        Lend(const Lend&) = delete;
        Lend& operator=(const Lend&) = delete;

    private:
        LayerOutput& o_;
    };
    LayerBlob commit() {
        comp.finish();
        uint64_t size = bw.size();
        cas::Digest digest = bw.commit();
        cas::Digest diff_id = c == Compression::None ? digest : diff.finish();
        return LayerBlob{digest, diff_id, size, media_type_for(c), false};
    }
};

using detail::TarWriter;

class UpperWalker {
public:
    UpperWalker(TarWriter& w, LayerOutput& out, const DiffOptions& o) : w_(w), out_(out), opts_(o) {}
    uint64_t entries = 0;
    bool foreign = false;  // something the tar leaves out: a socket, an xattr no layer carries

    void walk(int dirfd, const std::string& rel) {
        struct Kid {
            std::string tar_name, fs_name;
            struct stat st;
            bool whiteout;
        };
        std::vector<Kid> kids;
        for (auto& n : sys::list_dir(dirfd, shown(rel))) {
            Kid k{"", n, {}, false};
            if (::fstatat(dirfd, n.c_str(), &k.st, AT_SYMLINK_NOFOLLOW) != 0) sys::throw_errno("stat " + shown(join(rel, n)));
            if (S_ISSOCK(k.st.st_mode)) {  // not representable in a tar
                foreign = true;
                continue;
            }
            k.whiteout = is_overlay_whiteout(k.st.st_mode, k.st.st_rdev);
            // A file a step made under a whiteout's name would delete or hide paths wherever
            // the layer tar is unpacked, while this store's snapshot shows it as a file.
            if (!k.whiteout && n.rfind(kWhiteoutPrefix, 0) == 0)
                sys::fail(sys::Code::InvalidInput, shown(join(rel, n)) + ": a name starting with \"" +
                                                       std::string(kWhiteoutPrefix) + "\" is a whiteout in a layer tar; "
                                                       "the layer cannot hold it as a file");
            k.tar_name = k.whiteout ? std::string(kWhiteoutPrefix) + n : n;
            kids.push_back(std::move(k));
        }
        std::sort(kids.begin(), kids.end(), [](const Kid& a, const Kid& b) { return a.tar_name < b.tar_name; });
        for (auto& k : kids) {
            std::string path = join(rel, k.tar_name);
            // Deeper than PATH_MAX is fine (a PAX header holds it; import and unpack take it), past
            // the layer limit no import would take the image back.
            if (path.size() > cas::kMaxEntryPathLen)
                sys::fail(sys::Code::InvalidInput, shown(path.substr(0, 200) + "...") + ": a path of " +
                                                       std::to_string(path.size()) + " bytes is longer than the " +
                                                       std::to_string(cas::kMaxEntryPathLen) +
                                                       " a layer entry may have (no import would accept the image)");
            if (k.whiteout) {
                (void)read_xattrs(dirfd, k.fs_name, shown(path), foreign);  // the marker carries none
                marker(path, k.st);
                continue;
            }
            if (S_ISDIR(k.st.st_mode)) {
                sys::UniqueFd sub(::openat(dirfd, k.fs_name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
                if (!sub) sys::throw_errno("open " + shown(path));
                Entry e;
                fill(e, path, k.st, dirfd, k.fs_name, sub.get());
                w_.header(e.e, path);
                if (dir_is_opaque(sub.get())) marker(oci_opaque_path(path), k.st);
                walk(sub.get(), path);
            } else {
                file(dirfd, k.fs_name, path, k.st);
            }
        }
    }

private:
    static std::string join(const std::string& a, const std::string& b) { return a.empty() ? b : a + "/" + b; }
    static std::string shown(const std::string& rel) { return "upper dir entry \"" + rel + "\""; }

    int64_t clamp(int64_t t) const { return opts_.source_date_epoch && t > *opts_.source_date_epoch ? *opts_.source_date_epoch : t; }

    void fill(Entry& e, const std::string& path, const struct stat& st, int dirfd, const std::string& fs_name, int fd = -1) {
        entries++;
        archive_entry_set_pathname(e.e, path.c_str());
        archive_entry_set_mode(e.e, st.st_mode);  // type + permission bits incl. setuid/setgid/sticky
        archive_entry_set_uid(e.e, st.st_uid);
        archive_entry_set_gid(e.e, st.st_gid);
        archive_entry_set_mtime(e.e, clamp(st.st_mtim.tv_sec), 0);
        for (auto& [k, v] : read_xattrs(dirfd, fs_name, shown(path), foreign, fd)) archive_entry_xattr_add_entry(e.e, k.c_str(), v.data(), v.size());
    }

    // A whiteout or opaque marker: an empty regular file, fixed mode and owner.
    void marker(const std::string& path, const struct stat& st) {
        entries++;
        Entry e;
        archive_entry_set_pathname(e.e, path.c_str());
        archive_entry_set_mode(e.e, S_IFREG | 0644);
        archive_entry_set_size(e.e, 0);
        archive_entry_set_mtime(e.e, clamp(st.st_mtim.tv_sec), 0);
        w_.header(e.e, path);
    }

    void file(int dirfd, const std::string& fs_name, const std::string& path, const struct stat& st) {
        Entry e;
        sys::UniqueFd fd;  // regular files: opened once for their xattrs and data
        if (S_ISREG(st.st_mode)) {
            fd.reset(::openat(dirfd, fs_name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME));
            if (!fd) sys::throw_errno("open " + shown(path));
        }
        fill(e, path, st, dirfd, fs_name, fd.get());
        if (S_ISLNK(st.st_mode)) {
            std::string target(size_t(st.st_size) + 1, '\0');
            ssize_t n = ::readlinkat(dirfd, fs_name.c_str(), target.data(), target.size());
            if (n < 0) sys::throw_errno("readlink " + shown(path));
            target.resize(size_t(n));
            archive_entry_set_symlink(e.e, target.c_str());
        } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
            archive_entry_set_rdevmajor(e.e, major(st.st_rdev));
            archive_entry_set_rdevminor(e.e, minor(st.st_rdev));
        } else if (S_ISREG(st.st_mode)) {
            if (st.st_nlink > 1) {
                auto key = std::make_pair(st.st_dev, st.st_ino);
                auto it = links_.find(key);
                if (it != links_.end()) {
                    archive_entry_set_filetype(e.e, AE_IFREG);
                    archive_entry_set_hardlink(e.e, it->second.c_str());
                    archive_entry_set_size(e.e, 0);
                    w_.header(e.e, path);
                    return;
                }
                links_.emplace(key, path);
            }
            archive_entry_set_size(e.e, st.st_size);
            w_.header(e.e, path);
            copy(fd.get(), path, uint64_t(st.st_size));
            return;
        }
        w_.header(e.e, path);
    }

    void copy(int fd, const std::string& path, uint64_t size) {
        if (size >= kMapFrom) return copy_mapped(fd, path, size);
        uint64_t left = size;
        while (left > 0) {
            ssize_t n = ::read(fd, buf_.data(), std::min<uint64_t>(left, buf_.size()));
            if (n < 0) {
                if (errno == EINTR) continue;
                sys::throw_errno("read " + shown(path));
            }
            if (n == 0) sys::fail(sys::Code::FailedPrecondition, shown(path) + ": file shrank while it was read");
            w_.data(buf_.data(), size_t(n), path);
            left -= uint64_t(n);
        }
    }

    // A big file is read through a mapping: its bytes go from the page cache to the blob file
    // and to the hashing thread with no copy in between (two fewer passes over the data than
    // read() into a buffer and a copy into the blob writer's block).
    static constexpr uint64_t kMapFrom = cas::BackgroundDigester::kWorthFrom;
    void copy_mapped(int fd, const std::string& path, uint64_t size) {
        // The step's processes are gone, so nothing changes the file now; a size that is not the
        // one the header holds means something did, and a read past the end would be SIGBUS.
        struct stat now;
        if (::fstat(fd, &now) != 0) sys::throw_errno("stat " + shown(path));
        if (uint64_t(now.st_size) != size)
            sys::fail(sys::Code::FailedPrecondition, shown(path) + ": file changed size while it was read");
        sys::ReadMapping m(fd, size_t(size), shown(path));
        LayerOutput::Lend lend(out_, m.data(), m.size());
        constexpr uint64_t chunk = cas::BackgroundDigester::kBlock;  // written while the last one is hashed
        for (uint64_t off = 0; off < size; off += chunk) w_.data(m.data() + off, size_t(std::min(chunk, size - off)), path);
    }

    TarWriter& w_;
    LayerOutput& out_;
    const DiffOptions& opts_;
    sys::ScratchBuffer buf_{1 << 20};
    std::map<std::pair<dev_t, ino_t>, std::string> links_;
};

}  // namespace

LayerBlob diff_upper(cas::Store& store, const std::string& upper_dir, const DiffOptions& opts) {
    return sys::with_context("diff " + upper_dir, [&] {
        sys::UniqueFd root = sys::open_dir(upper_dir);
        LayerOutput out(store, opts.compression, opts.durable);
        uint64_t entries = 0;
        bool entries_only_layer_content = false;
        {
            TarWriter w([&](const void* p, size_t n) { out.write(p, n); });
            UpperWalker walker(w, out, opts);
            walker.walk(root.get(), "");
            w.close();
            entries = walker.entries;
            entries_only_layer_content = !walker.foreign;
        }
        LayerBlob b = out.commit();
        b.empty = entries == 0;
        b.entries_only_layer_content = entries_only_layer_content;
        return b;
    });
}

LayerBlob recompress(cas::Store& store, const cas::Digest& layer, Compression to) {
    return sys::with_context("recompress layer " + layer.str(), [&] {
        detail::DecompressReader in(store.open_blob(layer), "layer " + layer.str());
        LayerOutput out(store, to);
        sys::ScratchBuffer buf(1 << 20);
        for (;;) {
            size_t n = in.read(buf.data(), buf.size());
            if (n == 0) break;
            out.write(buf.data(), n);
        }
        return out.commit();
    });
}

}  // namespace layers
