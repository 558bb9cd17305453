// Filesystem primitives shared by every module: whole-file read/atomic write, a recursive
// delete that never crosses a mount point, RAII temp dir and file lock, and root-confined
// path resolution (openat2 RESOLVE_IN_ROOT) for paths that come from images or contexts.
#pragma once
#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "sys/fd.hpp"

namespace sys {

// "a" + "/" + "b" without doubling slashes.
std::string path_join(const std::string& a, const std::string& b);

// Read a whole file; Code::InvalidInput if it is larger than max_bytes.
std::string read_file(const std::string& path, size_t max_bytes = 64u << 20);
// read_file for a file an untrusted party may have placed (a Buildfile or .dockerignore in the
// build context): opened without blocking and refused unless it is a regular file, so a FIFO
// cannot hang the build and /dev/zero is not read. InvalidInput "<path>: not a regular file".
std::string read_regular_file(const std::string& path, size_t max_bytes = 64u << 20);
// Write data to a temp file in the same directory, fsync, rename over path, fsync the dir.
// durable=false skips both fsyncs (still atomic for readers; for hot-path bookkeeping that
// may be lost in a crash, e.g. cache usage counters).
void write_file_atomic(const std::string& path, const std::string& data, mode_t mode = 0644, bool durable = true);
void fsync_path(const std::string& path);  // file or directory
// write(2) all n bytes (retrying short writes and EINTR); errors name `what`.
void write_all(int fd, const char* p, size_t n, const std::string& what);
void mkdir_p(const std::string& path, mode_t mode = 0755);
// Best effort: mark `dir` as the top of independent hierarchies (FS_TOPDIR_FL, chattr +T), so
// ext4's Orlov allocator spreads its subdirectories (and the inodes created in them) over
// block groups instead of packing them into the parent's group. Ignored where unsupported.
void set_topdir_hint(const std::string& dir);
bool exists(const std::string& path);  // lstat succeeds

// Recursive delete by fds. Refuses (throws FailedPrecondition) to descend into a mount
// point, so a still-mounted overlay is never emptied (containerd#1887). Missing path is ok.
void remove_tree(const std::string& path);
// The same, below an open directory fd (the entry `name` in `dirfd`).
void remove_tree_at(int dirfd, const std::string& name);

// mkdtemp under parent ("<parent>/<prefix>XXXXXX"); removed (remove_tree) on destruction.
class TempDir {
public:
    TempDir() = default;
    TempDir(const std::string& parent, const std::string& prefix);
    TempDir(TempDir&& o) noexcept;
    TempDir& operator=(TempDir&& o) noexcept;
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir();
    const std::string& path() const { return path_; }
    // Keep the directory (e.g. after renaming it into place).
    std::string release();
    void remove();

private:
    std::string path_;
};

// flock()-based lock on a lock file (created if missing). Blocks until acquired.
class FileLock {
public:
    enum Mode { Shared, Exclusive };
    FileLock() = default;
    FileLock(const std::string& path, Mode mode);
    FileLock(FileLock&&) noexcept = default;
    FileLock& operator=(FileLock&&) noexcept = default;
    // Non-blocking attempt; returns an unlocked FileLock (bool false) if held elsewhere.
    static FileLock try_lock(const std::string& path, Mode mode);
    explicit operator bool() const { return bool(fd_); }
    void unlock() { fd_.reset(); }
    int fd() const { return fd_.get(); }  // the lock file, open read-write

private:
    UniqueFd fd_;
};

// Open `path` inside the directory tree rooted at rootfd: absolute paths, "..", and
// symlinks are all resolved as if rootfd were "/" (openat2 RESOLVE_IN_ROOT |
// RESOLVE_NO_MAGICLINKS). Throws on failure (NotFound for ENOENT).
UniqueFd open_in_root(int rootfd, const std::string& path, int flags, mode_t mode = 0);
// Same, but returns an empty fd instead of throwing (errno is set).
// A path of kPathMax bytes or more (a deep layer entry) is opened in parts shorter than that:
// past the first part no symlink may appear (ELOOP) and ".." stops at the part's directory.
UniqueFd try_open_in_root(int rootfd, const std::string& path, int flags, mode_t mode = 0);
constexpr size_t kPathMax = 4096;  // PATH_MAX: the longest path one syscall takes, with its NUL
// A regular file inside the tree at rootfd, opened for reading without ever opening anything
// else: resolved first as an O_PATH fd (a FIFO, device node or socket is not opened, so no
// driver runs and nothing blocks), type-checked, then that same inode reopened through
// /proc/self/fd (no second path lookup). Empty fd with errno set when it cannot be resolved
// (ENOENT, ENOTDIR, ...); throws InvalidInput "<shown> is not a regular file" otherwise.
// `st` (optional) receives its stat.
UniqueFd try_open_regular_in_root(int rootfd, const std::string& path, const std::string& shown, struct stat* st = nullptr);
// Same as open_in_root, but no symlink at all may appear in the path (RESOLVE_NO_SYMLINKS,
// O_NOFOLLOW): for paths that are already canonical.
UniqueFd open_in_root_nofollow(int rootfd, const std::string& path, int flags);

// How resolve_in_root applies a symlink's target and "..".
enum class LinkRule {
    // runc's securejoin (mount destinations): components are walked in order, so ".." applies
    // to where the walk got; a component below a file ends the lookups like a missing one; at
    // most 40 links.
    Walk,
    // containerd's fs.RootPath (BuildKit's COPY destination): the path is cleaned first, a
    // relative target is joined to the link's directory and cleaned; a component below a file
    // throws (ENOTDIR); at most 255 links.
    RootPath,
};
// `path` with every symlink in it, the last component too, resolved as if rootfd were "/":
// an absolute, clean path naming the same place in the tree whose existing components are no
// symlinks. Absolute targets and ".." never leave the root (they stop at its "/"). A component
// that does not exist ends the lookups; it and the rest are kept as written ("." dropped, ".."
// applied lexically), so a dangling symlink resolves to the path it names. Throws InvalidInput
// (ELOOP) past the rule's number of links. Only reads the tree.
std::string resolve_in_root(int rootfd, const std::string& path, LinkRule rule = LinkRule::Walk);

// The one openat2(2) call: flags | O_CLOEXEC with the given RESOLVE_* bits, retried on
// EINTR/EAGAIN. Returns the fd or -1 (errno set). Allocates nothing and never throws, so a
// cloned child may call it. (The std::string wrappers above map "" to "."; this does not.)
int openat2_fd(int dirfd, const char* path, int flags, uint64_t resolve, mode_t mode = 0) noexcept;
constexpr uint64_t kResolveInRoot = 0x10 /*RESOLVE_IN_ROOT*/ | 0x02 /*RESOLVE_NO_MAGICLINKS*/;
constexpr uint64_t kResolveNoSymlinks = kResolveInRoot | 0x04 /*RESOLVE_NO_SYMLINKS*/;

// Names in a directory, without "." and "..", in readdir order. The DIR stream is owned
// (closed on every path, also on a throw) and reads a duplicate of dirfd from the start.
std::vector<std::string> list_dir(int dirfd, const std::string& shown);
// The same by path; a missing directory is an empty list when missing_ok, else NotFound.
std::vector<std::string> list_dir(const std::string& path, bool missing_ok = false);

UniqueFd open_dir(const std::string& path);

}  // namespace sys
