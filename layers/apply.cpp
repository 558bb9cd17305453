// apply_layer: extract a stored layer tar into a directory in overlay form, confined to
// that directory: every path is resolved with openat2(RESOLVE_IN_ROOT) and every change
// is made with *at() calls on directory fds. Device nodes are created, never opened.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <exception>
#include <vector>

#include "cas/tar_read.hpp"
#include "layers/layer.hpp"
#include "layers/stream.hpp"
#include "layers/whiteout.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"

namespace layers {
namespace {

struct Source {
    Source(const cas::Store& store, const cas::Digest& d, uint64_t max)
        : in(store.open_blob(d), "layer " + d.str()), max_bytes(max), layer(d.str()) {}
    detail::DecompressReader in;
    cas::StreamDigester diff;  // hashed on a second thread while this one writes the files
    uint64_t bytes = 0, max_bytes;
    std::string layer;
    cas::PullSource tar_source{[this](char* buf, size_t cap) { return pull(buf, cap); }};

    size_t pull(char* buf, size_t cap) {
        size_t n = in.read(buf, cap);
        diff.update(buf, n);
        bytes += n;
        if (bytes > max_bytes)
            sys::fail(sys::Code::InvalidInput, "apply layer " + layer + ": uncompressed size exceeds the limit of " +
                                                          std::to_string(max_bytes) + " bytes");
        return n;
    }
};

class Applier {
public:
    Applier(const std::string& layer, const ApplyLimits& lim, int root) : layer_(layer), lim_(lim), root_(root) {}

    void entry(struct archive* tar, struct archive_entry* e) {
        const char* raw = archive_entry_pathname(e);
        if (!raw) raw = archive_entry_pathname_utf8(e);
        if (!raw) sys::fail(sys::Code::InvalidInput, "apply layer " + layer_ + ": entry without a path");
        raw_ = raw;
        try {
            check_limits(e);
            handle(tar, e);
        } catch (const sys::Error& err) {
            throw err.wrap("apply layer " + layer_ + ": entry \"" + raw_ + "\"");
        }
    }

    // Directory mtimes last: creating children changes them.
    void finish() {
        for (auto it = dir_times_.rbegin(); it != dir_times_.rend(); ++it) {
            sys::UniqueFd fd = sys::try_open_in_root(root_, it->first, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
            if (!fd) continue;  // replaced later in the layer
            struct timespec ts[2] = {it->second, it->second};
            if (::futimens(fd.get(), ts) != 0) sys::throw_errno("set times of " + it->first);
        }
    }

private:
    [[noreturn]] static void bad(const std::string& msg) { sys::fail(sys::Code::InvalidInput, msg); }

    void check_limits(struct archive_entry* e) {
        if (++entries_ > lim_.max_entries) bad("more than " + std::to_string(lim_.max_entries) + " entries");
        const char* h = archive_entry_hardlink(e);
        const char* s = archive_entry_symlink(e);
        size_t plen = raw_.size(), llen = h ? std::strlen(h) : s ? std::strlen(s) : 0;
        if (plen > lim_.max_path_len || llen > lim_.max_path_len)
            bad("path or link target longer than " + std::to_string(lim_.max_path_len) + " bytes");
        // Extended (PAX) metadata of this entry: long names, link targets and xattrs.
        size_t ext = plen + llen;
        archive_entry_xattr_reset(e);
        const char* name;
        const void* val;
        size_t vlen;
        while (archive_entry_xattr_next(e, &name, &val, &vlen) == ARCHIVE_OK) ext += std::strlen(name) + vlen;
        if (ext > lim_.max_pax_bytes) bad("extended header data larger than " + std::to_string(lim_.max_pax_bytes) + " bytes");
    }

    // A directory fd (O_PATH) for `dir` inside the root, creating missing directories.
    sys::UniqueFd parent(const std::string& dir) {
        sys::UniqueFd fd = sys::try_open_in_root(root_, dir, O_PATH | O_DIRECTORY);
        if (fd) return fd;
        if (errno != ENOENT) sys::throw_errno("open parent directory \"" + dir + "\"");
        sys::UniqueFd cur = sys::open_in_root(root_, "", O_PATH | O_DIRECTORY);
        std::string prefix;
        size_t i = 0;
        while (i < dir.size()) {
            size_t j = dir.find('/', i);
            if (j == std::string::npos) j = dir.size();
            std::string comp = dir.substr(i, j - i);
            prefix = prefix.empty() ? comp : prefix + "/" + comp;
            sys::UniqueFd next = sys::try_open_in_root(root_, prefix, O_PATH | O_DIRECTORY);
            if (!next) {
                if (errno != ENOENT) sys::throw_errno("open parent directory \"" + prefix + "\"");
                if (::mkdirat(cur.get(), comp.c_str(), 0755) != 0 && errno != EEXIST)
                    sys::throw_errno("create parent directory \"" + prefix + "\"");
                next = sys::try_open_in_root(root_, prefix, O_PATH | O_DIRECTORY);
                if (!next) sys::throw_errno("open parent directory \"" + prefix + "\" (a dangling symlink?)");
            }
            cur = std::move(next);
            i = j + 1;
        }
        return cur;
    }

    void set_xattrs(struct archive_entry* e, int pfd, const std::string& name, bool is_link) {
        std::string p = "/proc/self/fd/" + std::to_string(pfd) + "/" + name;
        archive_entry_xattr_reset(e);
        const char* key;
        const void* val;
        size_t vlen;
        while (archive_entry_xattr_next(e, &key, &val, &vlen) == ARCHIVE_OK) {
            if (!layer_xattr_allowed(key)) continue;  // never trusted.overlay.*, system.*, security.selinux
            if (is_link && std::strncmp(key, "user.", 5) == 0) continue;  // not allowed on symlinks
            if (::lsetxattr(p.c_str(), key, val, vlen, 0) != 0) sys::throw_errno(std::string("set xattr ") + key);
        }
    }

    void owner_mode_times(struct archive_entry* e, int pfd, const std::string& name, bool is_link) {
        if (::fchownat(pfd, name.c_str(), archive_entry_uid(e), archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) != 0)
            sys::throw_errno("chown");
        if (!is_link && ::fchmodat(pfd, name.c_str(), archive_entry_perm(e) & 07777, 0) != 0) sys::throw_errno("chmod");
        set_xattrs(e, pfd, name, is_link);  // after chown: chown drops security.capability
        struct timespec ts[2] = {{archive_entry_mtime(e), 0}, {archive_entry_mtime(e), 0}};
        if (::utimensat(pfd, name.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0) sys::throw_errno("set times");
    }

    void handle(struct archive* tar, struct archive_entry* e) {
        std::string path = clean_entry_path(raw_);
        unsigned type = archive_entry_filetype(e);
        const char* hard = archive_entry_hardlink(e);
        if (path.empty()) {
            if (type != AE_IFDIR || hard) bad("the layer root can only be a directory");
            sys::UniqueFd fd = sys::open_in_root(root_, "", O_RDONLY | O_DIRECTORY);
            if (::fchown(fd.get(), archive_entry_uid(e), archive_entry_gid(e)) != 0) sys::throw_errno("chown");
            if (::fchmod(fd.get(), archive_entry_perm(e) & 07777) != 0) sys::throw_errno("chmod");
            dir_times_.emplace_back("", timespec{archive_entry_mtime(e), 0});
            return;
        }
        OciEntry oe = classify_oci_path(path);
        if (oe.kind == OciEntry::Kind::Meta) return;
        if (oe.kind == OciEntry::Kind::Opaque) return opaque(oe.dir);
        sys::UniqueFd pfd = parent(oe.dir);
        const std::string& name = oe.name;
        struct stat old;
        bool have = ::fstatat(pfd.get(), name.c_str(), &old, AT_SYMLINK_NOFOLLOW) == 0;
        if (oe.kind == OciEntry::Kind::Whiteout) {
            // Whiteouts hide lower layers only: an entry of this layer with that name stays.
            // A directory of this layer must then hide the lower one's content: opaque.
            if (have) {
                if (S_ISDIR(old.st_mode)) set_opaque(pfd.get(), name);
                return;
            }
            if (::mknodat(pfd.get(), name.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0) sys::throw_errno("create whiteout");
            struct timespec ts[2] = {{archive_entry_mtime(e), 0}, {archive_entry_mtime(e), 0}};
            if (::utimensat(pfd.get(), name.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0) sys::throw_errno("set times");
            return;
        }
        if (hard) return hardlink(hard, pfd.get(), name, have ? &old : nullptr);
        if (have && !(type == AE_IFDIR && S_ISDIR(old.st_mode))) sys::remove_tree_at(pfd.get(), name);
        switch (type) {
            case AE_IFDIR: {
                if (!(have && S_ISDIR(old.st_mode)) && ::mkdirat(pfd.get(), name.c_str(), 0700) != 0) sys::throw_errno("mkdir");
                owner_mode_times(e, pfd.get(), name, false);
                // Deleted then re-created in this layer: the lower directory's content stays hidden.
                if (have && is_overlay_whiteout(old.st_mode, old.st_rdev)) set_opaque(pfd.get(), name);
                dir_times_.emplace_back(path, timespec{archive_entry_mtime(e), 0});
                return;
            }
            case AE_IFREG: {
                sys::UniqueFd fd(::openat(pfd.get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
                if (!fd) sys::throw_errno("create file");
                write_data(tar, fd.get());
                if (::ftruncate(fd.get(), archive_entry_size(e)) != 0) sys::throw_errno("truncate");
                fd.reset();
                owner_mode_times(e, pfd.get(), name, false);
                return;
            }
            case AE_IFLNK: {
                const char* target = archive_entry_symlink(e);
                if (!target) bad("symlink without a target");
                if (::symlinkat(target, pfd.get(), name.c_str()) != 0) sys::throw_errno("symlink");
                owner_mode_times(e, pfd.get(), name, true);
                return;
            }
            case AE_IFCHR:
            case AE_IFBLK:
            case AE_IFIFO: {
                dev_t dev = type == AE_IFIFO ? 0 : makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
                if (::mknodat(pfd.get(), name.c_str(), mode_t(type) | 0600, dev) != 0) sys::throw_errno("mknod");
                owner_mode_times(e, pfd.get(), name, false);
                return;
            }
            default: bad("unsupported entry type " + std::to_string(type));
        }
    }

    void write_data(struct archive* tar, int fd) {
        const void* buf;
        size_t size;
        la_int64_t off;
        for (;;) {
            int r = archive_read_data_block(tar, &buf, &size, &off);
            if (r == ARCHIVE_EOF) return;
            if (r < ARCHIVE_WARN) bad(std::string("read data: ") + (archive_error_string(tar) ? archive_error_string(tar) : "?"));
            const char* p = static_cast<const char*>(buf);
            while (size > 0) {
                ssize_t w = ::pwrite(fd, p, size, off);
                if (w < 0) {
                    if (errno == EINTR) continue;
                    sys::throw_errno("write");
                }
                p += w;
                off += w;
                size -= size_t(w);
            }
        }
    }

    void hardlink(const char* raw_target, int pfd, const std::string& name, const struct stat* old) {
        std::string target = clean_entry_path(raw_target);
        if (target.empty()) bad("hard link to the layer root");
        sys::UniqueFd tfd = sys::try_open_in_root(root_, target, O_PATH | O_NOFOLLOW);
        if (!tfd)
            bad("hard link target \"" + std::string(raw_target) +
                "\" is not an entry extracted earlier in this layer (missing, later in the tar, or outside)");
        struct stat st;
        if (::fstat(tfd.get(), &st) != 0) sys::throw_errno("stat hard link target");
        if (S_ISDIR(st.st_mode)) bad("hard link to a directory");
        if (old && old->st_ino == st.st_ino && old->st_dev == st.st_dev) return;
        if (old) sys::remove_tree_at(pfd, name);
        if (::linkat(tfd.get(), "", pfd, name.c_str(), AT_EMPTY_PATH) != 0) sys::throw_errno("link");
    }

    static void set_opaque(int pfd, const std::string& name) {
        sys::UniqueFd fd(::openat(pfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!fd) sys::throw_errno("open re-created directory");
        if (::fsetxattr(fd.get(), kOverlayOpaqueXattr, "y", 1, 0) != 0) sys::throw_errno("set opaque xattr");
    }

    void opaque(const std::string& dir) {
        sys::UniqueFd fd;
        if (dir.empty()) {
            fd = sys::open_in_root(root_, "", O_RDONLY | O_DIRECTORY);
        } else {
            auto [pdir, name] = split_parent(dir);
            sys::UniqueFd pfd = parent(pdir);
            struct stat st;
            if (::fstatat(pfd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode)) {
                if (!is_overlay_whiteout(st.st_mode, st.st_rdev)) bad("opaque marker inside a non-directory");
                sys::remove_tree_at(pfd.get(), name);
            }
            if (::mkdirat(pfd.get(), name.c_str(), 0755) != 0 && errno != EEXIST) sys::throw_errno("mkdir");
            fd.reset(::openat(pfd.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (!fd) sys::throw_errno("open opaque directory");
        }
        if (::fsetxattr(fd.get(), kOverlayOpaqueXattr, "y", 1, 0) != 0) sys::throw_errno("set opaque xattr");
    }

    std::string layer_;
    const ApplyLimits& lim_;
    int root_;
    std::string raw_;
    uint64_t entries_ = 0;
    std::vector<std::pair<std::string, struct timespec>> dir_times_;
};

}  // namespace

ApplyResult apply_layer(const cas::Store& store, const cas::Digest& layer, const std::string& target_dir,
                        const std::optional<cas::Digest>& expected_diff_id, const ApplyLimits& limits) {
    const std::string what = "apply layer " + layer.str();
    sys::UniqueFd root(::open(target_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!root) sys::throw_errno(what + ": open " + target_dir);
    Source src(store, layer, limits.max_total_bytes);
    cas::ReadArchive tar;
    archive_read_support_format_tar(tar.a);
    if (src.tar_source.open(tar.a) != ARCHIVE_OK) {
        src.tar_source.rethrow_if_failed();
        sys::fail(sys::Code::InvalidInput, what + ": not a tar: " + archive_error_string(tar.a));
    }
    Applier ap(layer.str(), limits, root.get());
    uint64_t entries = 0;
    std::string last = "(start)";
    for (;;) {
        struct archive_entry* e = nullptr;
        int r = archive_read_next_header(tar.a, &e);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) {
            src.tar_source.rethrow_if_failed();
            sys::fail(sys::Code::InvalidInput, what + ": bad tar header after entry \"" + last + "\": " +
                                                          (archive_error_string(tar.a) ? archive_error_string(tar.a) : "?"));
        }
        try {
            ap.entry(tar.a, e);
        } catch (const sys::Error&) {
            src.tar_source.rethrow_if_failed();  // the stream failed under the entry (cap, corrupt data)
            throw;
        }
        src.tar_source.rethrow_if_failed();
        entries++;
        if (const char* p = archive_entry_pathname(e)) last = p;
    }
    ap.finish();
    // The diff_id covers the whole uncompressed stream, including padding after the end marker.
    src.tar_source.drain();
    ApplyResult res{src.diff.finish(), entries, src.bytes};
    if (expected_diff_id && *expected_diff_id != res.diff_id)
        sys::fail(sys::Code::InvalidInput, what + ": uncompressed digest " + res.diff_id.str() +
                                                      " does not match the diff_id " + expected_diff_id->str());
    return res;
}

}  // namespace layers
