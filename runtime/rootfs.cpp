// The container's filesystem. Parent side (prepare_rootfs): refuse a root whose /proc, /dev or
// /sys is a symlink or not a directory (CVE-2019-16884 family) and create missing mount points
// inside the root without ever following a symlink out of it. Child side (setup_rootfs): make
// every mount private, bind the root onto itself, mount /proc, a fresh /dev, read-only /sys and
// the extra mounts onto fds resolved INSIDE the root (openat2 RESOLVE_IN_ROOT, mounted through
// /proc/self/fd/N), pivot_root, detach the old root, then mask and write-protect paths.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "runtime/internal.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"

namespace runtime::detail {

namespace {

// Parent side: make sure `path` (absolute, inside the root) exists; create what is missing.
void ensure_in_root(int rootfd, const std::string& path, bool file) {
    std::string cur;
    size_t p = 0;
    while (p < path.size()) {
        size_t q = path.find('/', p);
        if (q == std::string::npos) q = path.size();
        std::string comp = path.substr(p, q - p);
        p = q + 1;
        if (comp.empty() || comp == ".") continue;
        bool last = p >= path.size();
        std::string next = cur + "/" + comp;
        sys::UniqueFd fd = sys::try_open_in_root(rootfd, next, O_PATH | O_CLOEXEC);
        if (!fd) {
            if (errno != ENOENT) sys::throw_errno("resolve " + next + " in the root");
            sys::UniqueFd parent = sys::open_in_root(rootfd, cur.empty() ? "/" : cur, O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (last && file) {
                int f = ::openat(parent.get(), comp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
                if (f < 0 && errno != EEXIST) sys::throw_errno("create mount point " + next + " in the root");
                if (f >= 0) ::close(f);
            } else if (::mkdirat(parent.get(), comp.c_str(), 0755) != 0 && errno != EEXIST) {
                sys::throw_errno("create directory " + next + " in the root");
            }
        }
        cur = next;
    }
}

// Child side: open `path` inside the root as an O_PATH fd.
int open_in(int rootfd, const char* path, uint64_t resolve, int extra_flags) {
    return sys::openat2_fd(rootfd, path, O_PATH | extra_flags, resolve);
}

constexpr uint64_t kStrict = sys::kResolveNoSymlinks;
constexpr uint64_t kConfined = sys::kResolveInRoot;

int mount_on_fd(const char* src, int fd, const char* type, unsigned long flags, const char* data) {
    char p[40];
    fd_path(p, fd);
    return ::mount(src, p, type, flags, data);
}

int set_attr(int dirfd, const char* path, bool recursive, uint64_t set) {
    struct mount_attr attr{};
    attr.attr_set = set;
    unsigned flags = (recursive ? AT_RECURSIVE : 0) | AT_SYMLINK_NOFOLLOW | (path[0] ? 0 : AT_EMPTY_PATH);
    return int(::syscall(SYS_mount_setattr, dirfd, path, flags, &attr, sizeof attr));
}

// Mount fstype on the directory `rel` (no symlinks allowed) inside the root.
int mount_in(int rootfd, const char* rel, const char* type, unsigned long flags, const char* data, ChildError* e) {
    int t = open_in(rootfd, rel, kStrict, O_DIRECTORY);
    if (t < 0) return fail(e, "open mount point /", rel, errno);
    int rc = mount_on_fd(type, t, type, flags, data);
    int err = errno;
    ::close(t);
    return rc == 0 ? 0 : fail(e, "mount on /", rel, err);
}

int setup_dev(int rootfd, ChildError* e) {
    if (mount_in(rootfd, "dev", "tmpfs", MS_NOSUID | MS_NODEV | MS_STRICTATIME, "mode=755,size=65536k", e) != 0) return -1;
    int dev = open_in(rootfd, "dev", kStrict, O_DIRECTORY);
    if (dev < 0) return fail(e, "open /dev", "", errno);
    static const char* const devices[] = {"null", "zero", "full", "random", "urandom", "tty"};
    for (const char* d : devices) {
        int f = ::openat(dev, d, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
        if (f < 0) return fail(e, "create /dev/", d, errno);
        ::close(f);
        char host[32] = "/dev/";
        cat(host, sizeof host, d);
        int t = ::openat(dev, d, O_PATH | O_CLOEXEC | O_NOFOLLOW);
        if (t < 0 || mount_on_fd(host, t, nullptr, MS_BIND, nullptr) != 0) return fail(e, "bind /dev/", d, errno);
        ::close(t);
    }
    struct Sub {
        const char* name;
        mode_t mode;
        const char* type;
        unsigned long flags;
        const char* data;
    };
    static const Sub subs[] = {
        {"pts", 0755, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"},
        {"shm", 01777, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k"},
        {"mqueue", 0755, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr},
    };
    for (const Sub& s : subs) {
        if (::mkdirat(dev, s.name, s.mode) != 0) return fail(e, "mkdir /dev/", s.name, errno);
        int t = ::openat(dev, s.name, O_PATH | O_CLOEXEC | O_NOFOLLOW | O_DIRECTORY);
        if (t < 0 || mount_on_fd(s.type, t, s.type, s.flags, s.data) != 0) return fail(e, "mount /dev/", s.name, errno);
        ::close(t);
    }
    static const char* const links[][2] = {{"pts/ptmx", "ptmx"},
                                           {"/proc/self/fd", "fd"},
                                           {"/proc/self/fd/0", "stdin"},
                                           {"/proc/self/fd/1", "stdout"},
                                           {"/proc/self/fd/2", "stderr"}};
    for (auto& l : links)
        if (::symlinkat(l[0], dev, l[1]) != 0) return fail(e, "symlink /dev/", l[1], errno);
    ::close(dev);
    return 0;
}

int setup_user_mount(int rootfd, const MountPlan& m, ChildError* e) {
    const char* rel = m.target.c_str() + 1;  // targets are absolute
    int t = open_in(rootfd, rel, kConfined, 0);
    if (t < 0) return fail(e, "open mount point ", m.target.c_str(), errno);
    int rc;
    if (m.kind == Mount::Kind::Bind) {
        // The detached tree the parent cloned from the resolved source: never the path again.
        rc = int(::syscall(SYS_move_mount, m.source_fd->get(), "", t, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH));
    } else {
        rc = mount_on_fd("tmpfs", t, "tmpfs", MS_NOSUID | MS_NODEV, m.data.empty() ? nullptr : m.data.c_str());
    }
    int err = errno;
    ::close(t);
    if (rc != 0) return fail(e, "mount on ", m.target.c_str(), err);
    if (m.read_only || m.noexec || m.kind == Mount::Kind::Bind) {
        t = open_in(rootfd, rel, kConfined, 0);  // now the new mount's root
        uint64_t attr = MOUNT_ATTR_NODEV | (m.read_only ? MOUNT_ATTR_RDONLY : 0) |
                        (m.noexec ? MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NOSUID : 0);
        if (t < 0 || set_attr(t, "", true, attr) != 0) return fail(e, "set mount flags of ", m.target.c_str(), errno);
        ::close(t);
    }
    return 0;
}

const char* const kMasked[] = {"/proc/asound",  "/proc/acpi",        "/proc/interrupts", "/proc/kcore",
                               "/proc/keys",    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                               "/proc/sched_debug", "/proc/scsi",    "/sys/firmware",    "/sys/devices/virtual/powercap"};
const char* const kReadOnly[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};

int mask_paths(ChildError* e) {
    for (const char* p : kMasked) {
        struct stat st;
        if (::lstat(p, &st) != 0) {
            if (errno == ENOENT) continue;
            return fail(e, "stat ", p, errno);
        }
        int rc = S_ISDIR(st.st_mode) ? ::mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0")
                                     : ::mount("/dev/null", p, nullptr, MS_BIND, nullptr);
        if (rc != 0) return fail(e, "mask ", p, errno);
    }
    for (const char* p : kReadOnly) {
        if (::mount(p, p, nullptr, MS_BIND | MS_REC, nullptr) != 0) {
            if (errno == ENOENT) continue;
            return fail(e, "bind ", p, errno);
        }
        if (set_attr(AT_FDCWD, p, true, MOUNT_ATTR_RDONLY) != 0) return fail(e, "make read-only ", p, errno);
    }
    return 0;
}

}  // namespace

void prepare_rootfs(const std::string& rootfs, std::vector<MountPlan>& mounts, const std::string& cwd) {
    sys::UniqueFd root = sys::open_dir(rootfs);
    for (const char* d : {"proc", "dev", "sys"}) {
        struct stat st{};
        if (::fstatat(root.get(), d, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT) sys::throw_errno("rootfs " + rootfs + ": stat /" + d);
            if (::mkdirat(root.get(), d, 0755) != 0 && errno != EEXIST)
                sys::throw_errno("rootfs " + rootfs + ": create /" + d);
            continue;
        }
        if (S_ISLNK(st.st_mode))
            sys::fail(sys::Code::InvalidInput, "rootfs " + rootfs + ": /" + d + " is a symlink; refusing it");
        if (!S_ISDIR(st.st_mode))
            sys::fail(sys::Code::InvalidInput, "rootfs " + rootfs + ": /" + d + " is not a directory; refusing it");
    }
    for (MountPlan& m : mounts) {
        // Where runc would mount: a symlink in the image (/etc/resolv.conf ->
        // ../run/systemd/resolve/stub-resolv.conf) names the place, resolved inside the root.
        std::string asked = m.target;
        m.target = sys::with_context("mount point " + asked, [&] { return sys::resolve_in_root(root.get(), asked); });
        if (m.target == "/") sys::fail(sys::Code::InvalidInput, "mount point " + asked + " resolves to / in the root; refusing it");
        bool file = false;
        if (m.kind == Mount::Kind::Bind) {
            struct stat st{};
            if (::fstat(m.source_fd->get(), &st) != 0) sys::throw_errno("bind mount source " + m.source);
            file = !S_ISDIR(st.st_mode);
        }
        sys::with_context("mount point " + m.target, [&] { ensure_in_root(root.get(), m.target, file); });
    }
    // Never create the working directory inside the kernel file systems (/proc/self/fd/N).
    for (const char* k : {"/proc", "/sys", "/dev"})
        if (cwd == k || cwd.rfind(std::string(k) + "/", 0) == 0) return;
    sys::with_context("working directory " + cwd, [&] { ensure_in_root(root.get(), cwd, false); });
}

int setup_rootfs(const Plan& plan, ChildError* e) {
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return fail(e, "make / private", "", errno);
    const char* root = plan.rootfs.c_str();
    if (::mount(root, root, nullptr, MS_BIND | MS_REC, nullptr) != 0) return fail(e, "bind the root ", root, errno);
    int rootfd = ::open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) return fail(e, "open the root ", root, errno);
    // Device nodes work only where imgbuild binds them (/dev/null, ...): a block device made
    // with mknod (CAP_MKNOD is a default) or shipped in an image cannot be opened.
    if (set_attr(rootfd, "", true, MOUNT_ATTR_NODEV) != 0) return fail(e, "make the root nodev", "", errno);
    if (mount_in(rootfd, "proc", "proc", MS_NOSUID | MS_NOEXEC | MS_NODEV, nullptr, e) != 0) return -1;
    if (setup_dev(rootfd, e) != 0) return -1;
    if (mount_in(rootfd, "sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NOEXEC | MS_NODEV, nullptr, e) != 0) return -1;
    for (const MountPlan& m : plan.mounts)
        if (setup_user_mount(rootfd, m, e) != 0) return -1;

    if (::fchdir(rootfd) != 0) return fail(e, "chdir to the root", "", errno);
    ::close(rootfd);
    if (::syscall(SYS_pivot_root, ".", ".") != 0) return fail(e, "pivot_root", "", errno);
    // The old root is now stacked under the new one at "/": detach it.
    if (::umount2(".", MNT_DETACH) != 0) return fail(e, "detach the old root", "", errno);
    if (::chdir("/") != 0) return fail(e, "chdir /", "", errno);
    if (mask_paths(e) != 0) return -1;
    if (plan.read_only_root && set_attr(AT_FDCWD, "/", false, MOUNT_ATTR_RDONLY) != 0) return fail(e, "make the root read-only", "", errno);
    return 0;
}

}  // namespace runtime::detail
