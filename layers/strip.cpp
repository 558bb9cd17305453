// strip_to_layer_content: make an upper dir hold exactly what its layer tar holds (issue 12.13).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <vector>

#include "layers/strip.hpp"
#include "layers/whiteout.hpp"
#include "sys/error.hpp"
#include "sys/fd.hpp"

namespace layers {
namespace {

// Remove the xattrs of dirfd/name a snapshot does not keep. An empty name is dirfd itself: through the fd, since
// the l*xattr calls on /proc/self/fd/N would act on that magic link, not on the dir.
void strip_xattrs(int dirfd, const std::string& name, const std::string& shown) {
    std::string p = "/proc/self/fd/" + std::to_string(dirfd) + "/" + name;
    auto list = [&](char* buf, size_t n) { return name.empty() ? ::flistxattr(dirfd, buf, n) : ::llistxattr(p.c_str(), buf, n); };
    auto remove = [&](const std::string& key) {
        return name.empty() ? ::fremovexattr(dirfd, key.c_str()) : ::lremovexattr(p.c_str(), key.c_str());
    };
    ssize_t n = list(nullptr, 0);
    if (n < 0) {
        if (errno == ENOTSUP) return;
        sys::throw_errno("list xattrs of " + shown);
    }
    if (n == 0) return;
    std::vector<char> names(size_t(n) + 1);
    n = list(names.data(), names.size());
    if (n < 0) sys::throw_errno("list xattrs of " + shown);
    for (size_t i = 0; i < size_t(n);) {
        std::string key(names.data() + i);
        i += key.size() + 1;
        if (key.empty() || snapshot_keeps_xattr(key)) continue;
        if (remove(key) != 0 && errno != ENODATA) sys::throw_errno("remove xattr " + key + " of " + shown);
    }
}

void strip_dir(int dirfd, const std::string& shown) {
    int dup = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dup < 0) sys::throw_errno("open " + shown);
    DIR* dp = ::fdopendir(dup);
    if (!dp) {
        ::close(dup);
        sys::throw_errno("open " + shown);
    }
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(dp))
        if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") names.push_back(e->d_name);
    ::closedir(dp);
    for (auto& name : names) {
        std::string path = shown + "/" + name;
        struct stat st;
        if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) sys::throw_errno("stat " + path);
        if (S_ISSOCK(st.st_mode)) {  // not representable in a tar: diff_upper skips it
            if (::unlinkat(dirfd, name.c_str(), 0) != 0) sys::throw_errno("remove socket " + path);
            continue;
        }
        strip_xattrs(dirfd, name, path);
        if (!S_ISDIR(st.st_mode)) continue;
        sys::UniqueFd sub(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!sub) sys::throw_errno("open " + path);
        strip_dir(sub.get(), path);
    }
}

}  // namespace

bool snapshot_keeps_xattr(std::string_view name) { return layer_xattr_allowed(name) || name == kOverlayOpaqueXattr; }

void strip_to_layer_content(const std::string& dir, StripScope scope) {
    sys::with_context("strip " + dir + " to its layer content", [&] {
        sys::UniqueFd root(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!root) sys::throw_errno("open " + dir);
        strip_xattrs(root.get(), "", dir);
        if (scope == StripScope::Everything) strip_dir(root.get(), dir);
    });
}

}  // namespace layers
