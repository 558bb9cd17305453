// MountGuard: mounts a MountSpec with the new mount API (fsopen/fsconfig/fsmount/move_mount).
// One fsconfig("lowerdir+") per layer, so the page-sized option string never limits depth.
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <utility>

#include "layers/snapshotter.hpp"
#include "sys/error.hpp"
#include "sys/fd.hpp"

namespace layers {
namespace {

// The kernel's own explanation of a failed fsconfig/fsmount ("e overlay: ...").
std::string fs_log(int fsfd) {
    std::string out;
    char buf[512];
    for (int i = 0; i < 8; i++) {
        ssize_t n = ::read(fsfd, buf, sizeof buf - 1);
        if (n <= 0) break;
        buf[n] = '\0';
        out += out.empty() ? "" : "; ";
        out += buf;
    }
    return out.empty() ? "" : " (" + out + ")";
}

void set(int fsfd, const char* key, const std::string& value, const std::string& target) {
    if (::fsconfig(fsfd, FSCONFIG_SET_STRING, key, value.c_str(), 0) != 0) {
        int err = errno;
        sys::throw_errno("mount overlay at " + target + ": option " + key + "=" + value + fs_log(fsfd), err);
    }
}

sys::UniqueFd overlay(const MountSpec& spec, const std::string& target) {
    if (spec.lowerdirs.empty()) sys::fail(sys::Code::InvalidInput, "mount overlay at " + target + ": no lower dirs");
    sys::UniqueFd fsfd(::fsopen("overlay", FSOPEN_CLOEXEC));
    if (!fsfd) sys::throw_errno("mount overlay at " + target + ": fsopen");
    for (const auto& l : spec.lowerdirs) set(fsfd.get(), "lowerdir+", l, target);
    if (!spec.upperdir.empty()) {
        set(fsfd.get(), "upperdir", spec.upperdir, target);
        set(fsfd.get(), "workdir", spec.workdir, target);
        // volatile: no sync of the upper file system, at unmount or ever. Every writable mount
        // is a build step's or a `run`'s scratch: layer data is not made durable on the build
        // path (a crash may lose a cache entry; the store's metadata renames stay atomic), and
        // without it each unmount ran syncfs() on the whole file system under the store.
        // Kernels before 5.10 lack the option: mount without it.
        if (::fsconfig(fsfd.get(), FSCONFIG_SET_FLAG, "volatile", nullptr, 0) != 0) (void)fs_log(fsfd.get());
    }
    // Renamed dirs are copied up whole (no redirect xattrs), so diffs of the upper dir alone are complete.
    set(fsfd.get(), "redirect_dir", "off", target);
    set(fsfd.get(), "metacopy", "off", target);
    set(fsfd.get(), "index", "off", target);
    if (::fsconfig(fsfd.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) {
        int err = errno;
        sys::throw_errno("mount overlay at " + target + " (" + std::to_string(spec.lowerdirs.size()) + " layers)" +
                                   fs_log(fsfd.get()), err);
    }
    // nodev: a device node an image or a RUN step ships is never usable through a build root,
    // not even by imgbuild itself on the host side (USER lookups, COPY --chown, diffs).
    unsigned attrs = MOUNT_ATTR_NODEV | (spec.read_only || spec.upperdir.empty() ? MOUNT_ATTR_RDONLY : 0);
    sys::UniqueFd mfd(::fsmount(fsfd.get(), FSMOUNT_CLOEXEC, attrs));
    if (!mfd) {
        int err = errno;
        sys::throw_errno("mount overlay at " + target + ": fsmount" + fs_log(fsfd.get()), err);
    }
    return mfd;
}

sys::UniqueFd bind(const MountSpec& spec, const std::string& target) {
    sys::UniqueFd tfd(::open_tree(AT_FDCWD, spec.source.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE));
    if (!tfd) sys::throw_errno("bind " + spec.source + " at " + target + ": open_tree");
    {
        struct mount_attr attr {};
        attr.attr_set = MOUNT_ATTR_NODEV | (spec.read_only ? MOUNT_ATTR_RDONLY : 0);
        if (::mount_setattr(tfd.get(), "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) != 0)
            sys::throw_errno("bind " + spec.source + " at " + target + ": set nodev/read-only");
    }
    return tfd;
}

}  // namespace

MountGuard::MountGuard(const MountSpec& spec, const std::string& target) {
    sys::UniqueFd mfd = spec.type == MountSpec::Type::Overlay ? overlay(spec, target) : bind(spec, target);
    if (::move_mount(mfd.get(), "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0)
        sys::throw_errno("mount at " + target + ": move_mount");
    target_ = target;
}

MountGuard::MountGuard(MountGuard&& o) noexcept : target_(std::exchange(o.target_, std::string())) {}

MountGuard::~MountGuard() {
    try {
        unmount();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "imgbuild: warning: %s\n", e.what());
    }
}

void MountGuard::unmount() {
    if (target_.empty()) return;
    std::string t = std::exchange(target_, std::string());
    if (::umount2(t.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0) sys::throw_errno("unmount " + t);
}

}  // namespace layers
