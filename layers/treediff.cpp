#include "layers/treediff.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "layers/whiteout.hpp"
#include "sys/buffer.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/io.hpp"

namespace layers {
namespace {

char type_of(mode_t m) {
    if (S_ISDIR(m)) return 'd';
    if (S_ISLNK(m)) return 'l';
    if (S_ISCHR(m)) return 'c';
    if (S_ISBLK(m)) return 'b';
    if (S_ISFIFO(m)) return 'p';
    if (S_ISSOCK(m)) return 's';
    return 'f';
}

std::map<std::string, std::string> xattrs_of(int dirfd, const std::string& name) {
    std::map<std::string, std::string> out;
    std::string p = "/proc/self/fd/" + std::to_string(dirfd) + "/" + name;
    char names[65536];
    ssize_t n = ::llistxattr(p.c_str(), names, sizeof names);
    for (ssize_t i = 0; n > 0 && i < n;) {
        std::string key(names + i);
        i += ssize_t(key.size()) + 1;
        if (!layer_xattr_allowed(key)) continue;
        char v[65536];
        ssize_t vn = ::lgetxattr(p.c_str(), key.c_str(), v, sizeof v);
        if (vn >= 0) out[key] = std::string(v, size_t(vn));
    }
    return out;
}

cas::Digest digest_file(int dirfd, const std::string& name, const std::string& shown) {
    sys::UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) sys::throw_errno("open " + shown);
    cas::Digester d;
    sys::ScratchBuffer buf(1 << 20);
    sys::read_chunks(fd.get(), buf.data(), buf.size(), shown, [&](const char* p, size_t n) { d.update(p, n); });
    return d.finish();
}

struct Scanner {
    const ScanOptions& opts;
    std::vector<TreeNode> out;
    std::map<std::pair<dev_t, ino_t>, std::vector<size_t>> inodes;

    void walk(int dirfd, const std::string& rel) {
        for (const auto& n : sys::list_dir(dirfd, rel)) {
            std::string path = rel.empty() ? n : rel + "/" + n;
            struct stat st;
            if (::fstatat(dirfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) sys::throw_errno("stat " + path);
            TreeNode t;
            t.path = path;
            t.type = type_of(st.st_mode);
            t.mode = st.st_mode & 07777;
            t.uid = st.st_uid;
            t.gid = st.st_gid;
            t.mtime = st.st_mtim.tv_sec;
            t.xattrs = xattrs_of(dirfd, n);
            if (t.type == 'f') {
                t.size = uint64_t(st.st_size);
                if (opts.digests) t.digest = digest_file(dirfd, n, path);
                if (st.st_nlink > 1) inodes[{st.st_dev, st.st_ino}].push_back(out.size());
            } else if (t.type == 'l') {
                std::string target(size_t(st.st_size) + 1, '\0');
                ssize_t k = ::readlinkat(dirfd, n.c_str(), target.data(), target.size());
                if (k < 0) sys::throw_errno("readlink " + path);
                target.resize(size_t(k));
                t.link = target;
            } else if (t.type == 'c' || t.type == 'b') {
                t.rdev_major = major(st.st_rdev);
                t.rdev_minor = minor(st.st_rdev);
            }
            out.push_back(std::move(t));
            if (S_ISDIR(st.st_mode)) {
                sys::UniqueFd sub(::openat(dirfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
                if (!sub) sys::throw_errno("open " + path);
                walk(sub.get(), path);
            }
        }
    }
};

}  // namespace

std::vector<TreeNode> scan_tree(const std::string& root, const ScanOptions& opts) {
    return sys::with_context("scan " + root, [&] {
        sys::UniqueFd fd = sys::open_dir(root);
        Scanner s{opts, {}, {}};
        s.walk(fd.get(), "");
        for (auto& [ino, idx] : s.inodes) {
            if (idx.size() < 2) continue;
            std::string first = s.out[idx[0]].path;
            for (size_t i : idx) first = std::min(first, s.out[i].path);
            for (size_t i : idx)
                if (s.out[i].path != first) s.out[i].hardlink_of = first;
        }
        std::sort(s.out.begin(), s.out.end(), [](const TreeNode& a, const TreeNode& b) { return a.path < b.path; });
        return s.out;
    });
}

const char* change_kind_name(TreeChange::Kind k) {
    switch (k) {
        case TreeChange::Kind::Added: return "added";
        case TreeChange::Kind::Modified: return "modified";
        case TreeChange::Kind::Deleted: return "deleted";
    }
    return "?";
}

std::vector<TreeChange> diff_nodes(const std::vector<TreeNode>& a, const std::vector<TreeNode>& b,
                                   const DiffTreeOptions& opts) {
    std::vector<TreeChange> out;
    size_t i = 0, j = 0;
    while (i < a.size() || j < b.size()) {
        if (j == b.size() || (i < a.size() && a[i].path < b[j].path)) {
            out.push_back({TreeChange::Kind::Deleted, a[i].path, a[i], std::nullopt, {}});
            i++;
        } else if (i == a.size() || b[j].path < a[i].path) {
            out.push_back({TreeChange::Kind::Added, b[j].path, std::nullopt, b[j], {}});
            j++;
        } else {
            const TreeNode &x = a[i], &y = b[j];
            std::vector<std::string> f;
            if (x.type != y.type) f.push_back("type");
            if (x.mode != y.mode) f.push_back("mode");
            if (x.uid != y.uid) f.push_back("uid");
            if (x.gid != y.gid) f.push_back("gid");
            if (x.size != y.size) f.push_back("size");
            if (x.digest != y.digest) f.push_back("content");
            if (x.link != y.link) f.push_back("link");
            if (x.rdev_major != y.rdev_major || x.rdev_minor != y.rdev_minor) f.push_back("rdev");
            if (x.hardlink_of != y.hardlink_of) f.push_back("hardlink");
            if (x.xattrs != y.xattrs) f.push_back("xattrs");
            if (opts.compare_mtime && x.type != 'd' && x.mtime != y.mtime) f.push_back("mtime");
            if (!f.empty()) out.push_back({TreeChange::Kind::Modified, x.path, x, y, std::move(f)});
            i++;
            j++;
        }
    }
    return out;
}

std::vector<TreeChange> diff_trees(const std::string& a, const std::string& b, const DiffTreeOptions& opts) {
    ScanOptions so{opts.digests};
    return diff_nodes(scan_tree(a, so), scan_tree(b, so), opts);
}

}  // namespace layers
