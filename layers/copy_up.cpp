// Directories overlay copied up for a mount stub and nothing else: dropped from the upper dir
// before the diff, so a RUN on a base with /etc but no /etc/hosts does not put /etc in its layer.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "layers/rootfs.hpp"
#include "layers/xattrs.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"

namespace layers {

namespace {

// path (absolute, symlink-free) below dirfd as a readable directory fd: no symlink is followed.
sys::UniqueFd open_plain_dir(int dirfd, const std::string& path) {
    std::string rel = path.size() > 1 ? path.substr(1) : ".";
    return sys::UniqueFd(sys::openat2_fd(dirfd, rel.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW, sys::kResolveNoSymlinks));
}

}  // namespace

std::optional<DirState> dir_state(int root_fd, const std::string& path) {
    sys::UniqueFd fd = open_plain_dir(root_fd, path);
    if (!fd) return std::nullopt;
    DirState d;
    d.path = path;
    if (::fstat(fd.get(), &d.st) != 0) sys::throw_errno("stat " + path);
    bool foreign = false;
    d.xattrs = read_xattrs(fd.get(), "", path, foreign, fd.get());
    return d;
}

void drop_unchanged_copy_ups(const std::string& upper_dir, const std::vector<DirState>& dirs) {
    std::vector<const DirState*> order;
    for (const DirState& d : dirs) order.push_back(&d);
    // Deepest first: a directory emptied by dropping its copied-up child can go next.
    std::sort(order.begin(), order.end(), [](const DirState* a, const DirState* b) { return a->path.size() > b->path.size(); });
    sys::UniqueFd upper = sys::open_dir(upper_dir);
    for (const DirState* dp : order) {
        const DirState& d = *dp;
        if (d.path.size() < 2) continue;  // never the upper dir itself
        sys::UniqueFd fd = open_plain_dir(upper.get(), d.path);
        if (!fd) continue;  // not copied up (or replaced by a non-directory)
        struct stat st{};
        bool foreign = false;
        if (::fstat(fd.get(), &st) != 0 || st.st_mode != d.st.st_mode || st.st_uid != d.st.st_uid || st.st_gid != d.st.st_gid ||
            dir_is_opaque(fd.get()) || read_xattrs(fd.get(), "", d.path, foreign, fd.get()) != d.xattrs ||
            !sys::list_dir(fd.get(), d.path).empty())
            continue;
        fd.reset();
        size_t slash = d.path.find_last_of('/');
        sys::UniqueFd parent = open_plain_dir(upper.get(), slash == 0 ? "/" : d.path.substr(0, slash));
        if (parent && ::unlinkat(parent.get(), d.path.c_str() + slash + 1, AT_REMOVEDIR) != 0 && errno != ENOTEMPTY)
            sys::throw_errno("remove the copied-up " + d.path + " from the upper dir");
    }
}

}  // namespace layers
