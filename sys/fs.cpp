#include "sys/fs.hpp"
#include "sys/tempfile.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <linux/openat2.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "sys/error.hpp"
#include "sys/io.hpp"
#include "sys/path.hpp"

namespace sys {

std::string path_join(const std::string& a, const std::string& b) {
    if (a.empty()) return b;
    if (b.empty()) return a;
    bool as = a.back() == '/', bs = b.front() == '/';
    if (as && bs) return a + b.substr(1);
    if (as || bs) return a + b;
    return a + "/" + b;
}

namespace {
std::string read_fd(UniqueFd fd, const std::string& path, size_t max_bytes) {
    std::string out;
    // A regular file's size is known: one allocation, no growth while reading.
    struct stat st;
    if (::fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode) && uint64_t(st.st_size) <= max_bytes) out.reserve(size_t(st.st_size));
    char buf[65536];
    read_chunks(fd.get(), buf, sizeof buf, path, [&](const char* p, size_t n) {
        if (out.size() + n > max_bytes)
            fail(Code::InvalidInput, path + ": larger than " + std::to_string(max_bytes) + " bytes");
        out.append(p, n);
    });
    return out;
}
}  // namespace

std::string read_file(const std::string& path, size_t max_bytes) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw_errno("open " + path);
    return read_fd(std::move(fd), path, max_bytes);
}

std::string read_regular_file(const std::string& path, size_t max_bytes) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (!fd) throw_errno("open " + path);
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) throw_errno("stat " + path);
    if (!S_ISREG(st.st_mode)) fail(Code::InvalidInput, path + ": not a regular file");
    return read_fd(std::move(fd), path, max_bytes);
}

void write_all(int fd, const char* p, size_t n, const std::string& what) {
    while (n > 0) {
        ssize_t w = ::write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            throw_errno("write " + what);
        }
        p += w;
        n -= size_t(w);
    }
}

void fsync_path(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw_errno("open " + path);
    if (::fsync(fd.get()) != 0) throw_errno("fsync " + path);
}

UniqueFd create_temp_beside(const std::string& path, std::string* tmp_path) {
    std::string tmpl = path + ".tmp-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    UniqueFd fd(::mkostemp(buf.data(), O_CLOEXEC));  // O_CREAT|O_EXCL, random suffix
    if (!fd) throw_errno("create temp file for " + path);
    *tmp_path = buf.data();
    return fd;
}

void write_file_atomic(const std::string& path, const std::string& data, mode_t mode, bool durable) {
    std::string tmp;
    UniqueFd fd = create_temp_beside(path, &tmp);
    try {
        write_all(fd.get(), data.data(), data.size(), tmp);
        if (::fchmod(fd.get(), mode) != 0) throw_errno("chmod " + tmp);
        if (durable && ::fsync(fd.get()) != 0) throw_errno("fsync " + tmp);
        fd.reset();
        if (::rename(tmp.c_str(), path.c_str()) != 0) throw_errno("rename " + tmp + " to " + path);
    } catch (...) {
        ::unlink(tmp.c_str());
        throw;
    }
    if (durable) {
        std::string dir = dir_name(path);
        fsync_path(!dir.empty() ? dir : path[0] == '/' ? "/" : ".");
    }
}

void set_topdir_hint(const std::string& dir) {
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return;
    int flags = 0;
    if (::ioctl(fd.get(), FS_IOC_GETFLAGS, &flags) != 0 || (flags & FS_TOPDIR_FL)) return;
    flags |= FS_TOPDIR_FL;
    (void)::ioctl(fd.get(), FS_IOC_SETFLAGS, &flags);
}

// The whole path first: it (or all but its last component) usually exists already, so the
// common case is one or two syscalls instead of one mkdir per component from the root.
static void mkdir_p_rec(const std::string& path, mode_t mode, int depth) {
    if (::mkdir(path.c_str(), mode) == 0 || errno == EEXIST) return;
    if (errno != ENOENT || depth > 4096) throw_errno("mkdir " + path);
    size_t slash = path.find_last_not_of('/');
    slash = slash == std::string::npos ? std::string::npos : path.rfind('/', slash);
    if (slash == std::string::npos || path.find_first_not_of('/') >= slash) throw_errno("mkdir " + path);
    mkdir_p_rec(path.substr(0, slash), mode, depth + 1);
    if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) throw_errno("mkdir " + path);
}

void mkdir_p(const std::string& path, mode_t mode) {
    if (path.empty()) return;
    mkdir_p_rec(path, mode, 0);
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) throw_errno("stat " + path);
    if (!S_ISDIR(st.st_mode)) fail(Code::FailedPrecondition, path + ": not a directory");
}

bool exists(const std::string& path) {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0;
}

// Is the directory at fd a mount point (relative to its parent's device)?
static bool is_mount_root(int fd) {
    struct statx stx;
    if (::statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) != 0) return false;
    return (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

static void remove_children(int dirfd, const std::string& shown, dev_t dev) {
    // Collect names first: deleting while iterating a DIR stream is unspecified.
    std::vector<std::string> names = list_dir(dirfd, shown);
    for (const auto& n : names) {
        struct stat st;
        if (::fstatat(dirfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT) continue;
            throw_errno("stat " + shown + "/" + n);
        }
        if (S_ISDIR(st.st_mode)) {
            UniqueFd sub(::openat(dirfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (!sub) throw_errno("open " + shown + "/" + n);
            if (st.st_dev != dev || is_mount_root(sub.get()))
                fail(Code::FailedPrecondition, "refusing to delete " + shown + "/" + n + ": it is a mount point");
            remove_children(sub.get(), shown + "/" + n, dev);
            if (::unlinkat(dirfd, n.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) throw_errno("rmdir " + shown + "/" + n);
        } else if (::unlinkat(dirfd, n.c_str(), 0) != 0 && errno != ENOENT) {
            throw_errno("unlink " + shown + "/" + n);
        }
    }
}

void remove_tree_at(int dirfd, const std::string& name) {
    struct stat st;
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return;
        throw_errno("stat " + name);
    }
    if (!S_ISDIR(st.st_mode)) {
        if (::unlinkat(dirfd, name.c_str(), 0) != 0 && errno != ENOENT) throw_errno("unlink " + name);
        return;
    }
    UniqueFd sub(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub) throw_errno("open " + name);
    if (is_mount_root(sub.get()))
        fail(Code::FailedPrecondition, "refusing to delete " + name + ": it is a mount point");
    remove_children(sub.get(), name, st.st_dev);
    sub.reset();
    if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) throw_errno("rmdir " + name);
}

void remove_tree(const std::string& path) { remove_tree_at(AT_FDCWD, path); }

TempDir::TempDir(const std::string& parent, const std::string& prefix) {
    std::string tmpl = path_join(parent, prefix + "XXXXXX");
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) throw_errno("mkdtemp " + tmpl);
    path_ = buf.data();
}
TempDir::TempDir(TempDir&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
TempDir& TempDir::operator=(TempDir&& o) noexcept {
    if (this != &o) {
        remove();
        path_ = std::move(o.path_);
        o.path_.clear();
    }
    return *this;
}
TempDir::~TempDir() { remove(); }
std::string TempDir::release() {
    std::string p = std::move(path_);
    path_.clear();
    return p;
}
void TempDir::remove() {
    if (path_.empty()) return;
    try {
        remove_tree(path_);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "imgbuild: warning: cannot remove temp dir: %s\n", e.what());
    }
    path_.clear();
}

FileLock::FileLock(const std::string& path, Mode mode) {
    fd_.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd_) throw_errno("open lock " + path);
    while (::flock(fd_.get(), mode == Exclusive ? LOCK_EX : LOCK_SH) != 0) {
        if (errno != EINTR) throw_errno("lock " + path);
    }
}

FileLock FileLock::try_lock(const std::string& path, Mode mode) {
    FileLock l;
    l.fd_.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!l.fd_) throw_errno("open lock " + path);
    if (::flock(l.fd_.get(), (mode == Exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            l.fd_.reset();
            return l;
        }
        throw_errno("lock " + path);
    }
    return l;
}

int openat2_fd(int dirfd, const char* path, int flags, uint64_t resolve, mode_t mode) noexcept {
    struct open_how how {};
    how.flags = uint64_t(flags | O_CLOEXEC);
    how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
    how.resolve = resolve;
    for (;;) {
        long fd = ::syscall(SYS_openat2, dirfd, path, &how, sizeof how);
        if (fd >= 0) return int(fd);
        if (errno != EINTR && errno != EAGAIN) return -1;
    }
}

static_assert(kResolveInRoot == (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS));
static_assert(kResolveNoSymlinks == (RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS));

namespace {

// try_open_in_root for a path of PATH_MAX bytes or more, which no single openat2 takes: part by
// part, each shorter than PATH_MAX and ending before a '/'. The first part is resolved in the
// root; each later one below the directory the part before opened, with no symlink at all
// (RESOLVE_NO_SYMLINKS: ELOOP) and no ".." above that directory. ENAMETOOLONG when no '/' cuts it.
UniqueFd open_long_in_root(int rootfd, std::string_view path, int flags, mode_t mode) {
    UniqueFd part_fd;
    int dir = rootfd;
    uint64_t resolve = kResolveInRoot;
    while (path.size() >= kPathMax) {
        size_t k = path.rfind('/', kPathMax - 1);
        if (k == std::string_view::npos || k == 0) {
            errno = ENAMETOOLONG;
            return UniqueFd();
        }
        std::string part(path.substr(0, k));
        UniqueFd next(openat2_fd(dir, part.c_str(), O_PATH | O_DIRECTORY, resolve));
        if (!next) return next;
        part_fd = std::move(next);
        dir = part_fd.get();
        resolve = kResolveNoSymlinks;
        path.remove_prefix(k + 1);
    }
    std::string rest(path.empty() ? std::string_view(".") : path);
    return UniqueFd(openat2_fd(dir, rest.c_str(), flags, resolve, mode));
}

}  // namespace

UniqueFd try_open_in_root(int rootfd, const std::string& path, int flags, mode_t mode) {
    if (path.size() >= kPathMax) return open_long_in_root(rootfd, path, flags, mode);
    return UniqueFd(openat2_fd(rootfd, path.empty() ? "." : path.c_str(), flags, kResolveInRoot, mode));
}

UniqueFd try_open_regular_in_root(int rootfd, const std::string& path, const std::string& shown, struct stat* st_out) {
    UniqueFd pfd = try_open_in_root(rootfd, path, O_PATH);
    if (!pfd) return pfd;
    struct stat st{};
    if (::fstat(pfd.get(), &st) != 0) throw_errno("stat " + shown);
    if (!S_ISREG(st.st_mode)) fail(Code::InvalidInput, shown + " is not a regular file");
    if (st_out) *st_out = st;
    std::string self = "/proc/self/fd/" + std::to_string(pfd.get());
    UniqueFd fd(::open(self.c_str(), O_RDONLY | O_NOCTTY | O_CLOEXEC));
    if (!fd) throw_errno("open " + shown);
    return fd;
}

UniqueFd open_in_root_nofollow(int rootfd, const std::string& path, int flags) {
    const char* p = path.empty() ? "." : path.c_str();
    UniqueFd fd(openat2_fd(rootfd, p, flags | O_NOFOLLOW, kResolveNoSymlinks));
    if (!fd) throw_errno(std::string("open ") + p);
    return fd;
}

std::string resolve_in_root(int rootfd, const std::string& path, LinkRule rule) {
    const bool rootpath = rule == LinkRule::RootPath;
    std::vector<std::string> done, todo;  // todo: the components still to walk, last first
    auto push_reversed = [&](const std::string& p) {
        std::vector<std::string> parts;
        for (size_t i = 0; i <= p.size();) {
            size_t j = std::min(p.find('/', i), p.size());
            if (j > i && p.compare(i, j - i, ".") != 0) parts.push_back(p.substr(i, j - i));
            i = j + 1;
        }
        todo.insert(todo.end(), parts.rbegin(), parts.rend());
    };
    auto joined = [&] {
        std::string out;
        for (auto& c : done) out += "/" + c;
        return out.empty() ? std::string("/") : out;
    };
    push_reversed(rootpath ? clean_path("/" + path) : path);
    bool missing = false;  // past the first component that does not exist: lexical from here
    int links = 0;
    while (!todo.empty()) {
        std::string c = std::move(todo.back());
        todo.pop_back();
        if (c == "..") {
            if (!done.empty()) done.pop_back();
            missing = false;  // back on the walk: what comes next may exist
            continue;
        }
        if (!missing) {
            // The parent is symlink-free (resolved so far): no symlink may be followed to it.
            UniqueFd parent(openat2_fd(rootfd, done.empty() ? "." : joined().c_str() + 1, O_PATH | O_DIRECTORY, kResolveNoSymlinks));
            struct stat st{};
            if (!parent || ::fstatat(parent.get(), c.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
                if (errno != ENOENT && (rootpath || errno != ENOTDIR)) throw_errno("resolve " + path + " in the root");
                missing = true;
            } else if (S_ISLNK(st.st_mode)) {
                if (++links > (rootpath ? 255 : 40)) fail(Code::InvalidInput, "resolve " + path + ": too many levels of symbolic links", ELOOP);
                char buf[4096];
                ssize_t n = ::readlinkat(parent.get(), c.c_str(), buf, sizeof buf);
                if (n < 0) throw_errno("readlink " + joined() + "/" + c);
                std::string target(buf, size_t(n));
                if (rootpath) {  // joined to the link's directory and cleaned, as a whole
                    target = clean_path(target.empty() || target[0] != '/' ? joined() + "/" + target : target);
                    done.clear();
                } else if (!target.empty() && target[0] == '/') {
                    done.clear();
                }
                push_reversed(target);
                continue;
            }
        }
        done.push_back(std::move(c));
    }
    return joined();
}

UniqueFd open_in_root(int rootfd, const std::string& path, int flags, mode_t mode) {
    UniqueFd fd = try_open_in_root(rootfd, path, flags, mode);
    if (!fd) throw_errno("open " + path + " in root");
    return fd;
}

std::vector<std::string> list_dir(int dirfd, const std::string& shown) {
    int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) throw_errno("dup " + shown);
    std::unique_ptr<DIR, int (*)(DIR*)> d(::fdopendir(dup), ::closedir);
    if (!d) {
        int err = errno;
        ::close(dup);
        throw_errno("opendir " + shown, err);
    }
    ::rewinddir(d.get());  // the dup shares its offset with dirfd, which may have been read before
    std::vector<std::string> names;
    for (;;) {
        errno = 0;
        struct dirent* e = ::readdir(d.get());
        if (!e) {
            if (errno != 0) throw_errno("read directory " + shown);
            break;
        }
        if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
        names.emplace_back(e->d_name);
    }
    return names;
}

std::vector<std::string> list_dir(const std::string& path, bool missing_ok) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) {
        if (missing_ok && errno == ENOENT) return {};
        throw_errno("open " + path);
    }
    return list_dir(fd.get(), path);
}

UniqueFd open_dir(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) throw_errno("open " + path);
    return fd;
}

}  // namespace sys
