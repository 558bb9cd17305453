// COPY/ADD execution on fds. See copy.hpp.
#include "context/copy.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/xattr.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <unordered_set>

#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/parallel.hpp"
#include "sys/path.hpp"

namespace context {
namespace {

// Below this many entries a COPY stays on one thread.
constexpr size_t kParallelCopyMin = 64;

std::string rel_join(const std::string& a, const std::string& b) {
    if (a.empty() || a == "/") return b;
    if (b.empty()) return a;
    return a + "/" + b;
}

// Access and modification time both `ns`, as the utimensat family takes them.
struct Times {
    struct timespec ts[2];
    explicit Times(int64_t ns) {
        ts[0].tv_sec = ts[1].tv_sec = ns / 1000000000;
        ts[0].tv_nsec = ts[1].tv_nsec = ns % 1000000000;
    }
};

void apply_owner_mode(int fd, const std::string& what, const DestWriter::Meta& m, bool is_dir) {
    if (::fchown(fd, m.owner.uid, m.owner.gid) != 0) sys::throw_errno("chown " + what);
    // chmod after chown: chown clears setuid/setgid.
    if (::fchmod(fd, m.mode & 07777) != 0) sys::throw_errno("chmod " + what);
    if (!is_dir && m.mtime_ns >= 0 && ::futimens(fd, Times(m.mtime_ns).ts) != 0) sys::throw_errno("set times " + what);
}

// The times of dirfd/leaf (not following it: a symlink or a special file, not opened) from m.
void apply_times_at(int dirfd, const std::string& leaf, const DestWriter::Meta& m, const std::string& rel) {
    if (m.mtime_ns >= 0 && ::utimensat(dirfd, leaf.c_str(), Times(m.mtime_ns).ts, AT_SYMLINK_NOFOLLOW) != 0)
        sys::throw_errno("set times " + rel);
}

// What the kernel refused between one source file system and the destination: asked once,
// then remembered for the rest of the COPY (20,000 files must not pay 40,000 failing syscalls).
struct CopyCaps {
    bool no_clone = false;
    bool no_cfr = false;
};

bool cfr_unsupported(int err) { return err == EXDEV || err == EINVAL || err == ENOSYS || err == EOPNOTSUPP || err == EBADF; }

// Data copy: reflink if the file systems allow, else copy_file_range, else read/write. Stops
// after `size` bytes (the size the plan hashed) or at end of file, whichever comes first.
uint64_t copy_data(int in, int out, uint64_t size, const std::string& what, CopyCaps& caps) {
    if (size == 0) return 0;
    if (!caps.no_clone) {
        if (::ioctl(out, FICLONE, in) == 0) return size;
        caps.no_clone = true;  // EXDEV, EOPNOTSUPP, EINVAL: the same for every file of this pair
    }
    uint64_t done = 0;
    static thread_local std::vector<char> buf;
    while (done < size) {
        ssize_t n;
        if (!caps.no_cfr) {
            n = ::copy_file_range(in, nullptr, out, nullptr, size - done, 0);
            if (n < 0 && cfr_unsupported(errno)) {
                caps.no_cfr = true;
                continue;
            }
        } else {
            if (buf.empty()) buf.resize(1 << 17);
            n = ::read(in, buf.data(), std::min<uint64_t>(buf.size(), size - done));
            if (n > 0) sys::write_all(out, buf.data(), size_t(n), what);
        }
        if (n < 0) {
            if (errno == EINTR) continue;
            sys::throw_errno("copy " + what);
        }
        if (n == 0) break;
        done += uint64_t(n);
    }
    return done;
}

// Best effort: file capabilities and user.* attributes (after chown, which clears
// security.capability). Other namespaces (trusted.*, overlay's, selinux) are not copied.
void copy_xattrs(int in, int out, bool keep_caps) {
    char names[8192];
    ssize_t n = ::flistxattr(in, names, sizeof names);
    if (n <= 0) return;
    for (ssize_t off = 0; off < n; off += ssize_t(std::strlen(names + off)) + 1) {
        const char* name = names + off;
        bool cap = std::strcmp(name, "security.capability") == 0;
        if (std::strncmp(name, "user.", 5) != 0 && !(cap && keep_caps)) continue;
        char val[4096];
        ssize_t v = ::fgetxattr(in, name, val, sizeof val);
        if (v >= 0) (void)::fsetxattr(out, name, val, size_t(v), 0);
    }
}

}  // namespace

namespace {
sys::UniqueFd mkdir_in_root_depth(int root_fd, const std::string& path, uint32_t mode, Owner owner, int depth);
}

sys::UniqueFd mkdir_in_root(int root_fd, const std::string& path, uint32_t mode, Owner owner) {
    return mkdir_in_root_depth(root_fd, path, mode, owner, 0);
}

namespace {
sys::UniqueFd mkdir_in_root_depth(int root_fd, const std::string& path, uint32_t mode, Owner owner, int depth) {
    if (depth > 40) sys::fail(sys::Code::InvalidInput, "mkdir " + path + ": too many levels of symbolic links", ELOOP);
    std::string cur;
    sys::UniqueFd fd = sys::try_open_in_root(root_fd, "/", O_PATH | O_DIRECTORY);
    if (!fd) sys::throw_errno("open destination root");
    size_t i = 0;
    while (i <= path.size()) {
        size_t j = path.find('/', i);
        if (j == std::string::npos) j = path.size();
        std::string c = path.substr(i, j - i);
        i = j + 1;
        if (c.empty() || c == ".") continue;
        std::string next = cur + "/" + c;
        sys::UniqueFd nfd = sys::try_open_in_root(root_fd, next, O_PATH | O_DIRECTORY);
        if (!nfd) {
            if (errno != ENOENT) sys::throw_errno("open " + next + " in destination");
            if (c == "..") sys::throw_errno("open " + next + " in destination", ENOENT);
            // A dangling symlink in the image: create its target, inside the root.
            struct stat lst;
            if (::fstatat(fd.get(), c.c_str(), &lst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(lst.st_mode)) {
                char buf[4096];
                ssize_t n = ::readlinkat(fd.get(), c.c_str(), buf, sizeof buf);
                if (n < 0) sys::throw_errno("readlink " + next);
                std::string target(buf, size_t(n));
                mkdir_in_root_depth(root_fd, target[0] == '/' ? target : cur + "/" + target, mode, owner, depth + 1);
                nfd = sys::try_open_in_root(root_fd, next, O_PATH | O_DIRECTORY);
                if (!nfd) sys::throw_errno("open " + next + " in destination");
                fd = std::move(nfd);
                cur = next;
                continue;
            }
            // `fd` is the resolved parent; create the plain name in it.
            if (::mkdirat(fd.get(), c.c_str(), 0700) != 0 && errno != EEXIST) sys::throw_errno("mkdir " + next);
            sys::UniqueFd d(::openat(fd.get(), c.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (!d) sys::throw_errno("open " + next);
            if (::fchown(d.get(), owner.uid, owner.gid) != 0) sys::throw_errno("chown " + next);
            if (::fchmod(d.get(), mode & 07777) != 0) sys::throw_errno("chmod " + next);
            nfd = sys::try_open_in_root(root_fd, next, O_PATH | O_DIRECTORY);
            if (!nfd) sys::throw_errno("open " + next + " in destination");
        }
        fd = std::move(nfd);
        cur = next;
    }
    return fd;
}
}  // namespace

DestWriter::DestWriter(int root_fd, std::string base, Owner dir_owner)
    : root_(root_fd), base_(std::move(base)), dir_owner_(dir_owner) {
    if (base_.empty() || base_[0] != '/') base_ = "/" + base_;
}

DestWriter::~DestWriter() {
    if (finished_) return;
    try {
        finish();
    } catch (const std::exception&) {
    }
}

void DestWriter::ensure_base() { cached_fd_ = mkdir_in_root(root_, base_, 0755, dir_owner_), cached_path_ = ""; }

int DestWriter::open_dir_rel(const std::string& rel_dir) {
    if (cached_fd_ && cached_path_ == rel_dir) return cached_fd_.get();
    std::string full = rel_join(base_, rel_dir);
    if (base_ == "/") full = "/" + rel_dir;
    sys::UniqueFd fd = sys::try_open_in_root(root_, full, O_PATH | O_DIRECTORY);
    if (!fd) {
        if (errno != ENOENT) sys::throw_errno("open " + full + " in destination");
        fd = mkdir_in_root(root_, full, 0755, dir_owner_);
    }
    cached_fd_ = std::move(fd);
    cached_path_ = rel_dir;
    return cached_fd_.get();
}

int DestWriter::parent(const std::string& rel, std::string& leaf) {
    leaf = sys::base_name(rel);
    if (leaf.empty() || leaf == "." || leaf == "..")
        sys::fail(sys::Code::InvalidInput, "invalid destination path " + rel);
    return open_dir_rel(sys::dir_name(rel));
}

// Make room for a new non-directory at leaf: remove what is there unless it is a directory.
void DestWriter::clear_slot(int pfd, const std::string& leaf, const std::string& rel) {
    struct stat st;
    if (::fstatat(pfd, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) return;
        sys::throw_errno("stat " + rel);
    }
    if (S_ISDIR(st.st_mode)) {
        if (overwrite != Overwrite::Archive)
            sys::fail(sys::Code::FailedPrecondition, "cannot overwrite directory " + rel_join(base_, rel) + " with a non-directory");
        sys::remove_tree_at(pfd, leaf);
        return;
    }
    if (::unlinkat(pfd, leaf.c_str(), 0) != 0 && errno != ENOENT) sys::throw_errno("remove " + rel);
}

void DestWriter::dir(const std::string& rel, const Meta& m) {
    std::string leaf;
    int pfd = parent(rel, leaf);
    struct stat st;
    bool exists = ::fstatat(pfd, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (exists && !S_ISDIR(st.st_mode)) {
        if (overwrite == Overwrite::Copy)
            sys::fail(sys::Code::FailedPrecondition, "cannot copy a directory onto the non-directory " + rel_join(base_, rel) +
                                                         (S_ISLNK(st.st_mode) ? " (a symlink)" : ""));
        if (::unlinkat(pfd, leaf.c_str(), 0) != 0) sys::throw_errno("remove " + rel);
        exists = false;
    }
    if (!exists && ::mkdirat(pfd, leaf.c_str(), 0700) != 0 && errno != EEXIST) sys::throw_errno("mkdir " + rel);
    sys::UniqueFd d(::openat(pfd, leaf.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!d) sys::throw_errno("open " + rel);
    apply_owner_mode(d.get(), rel, m, true);
    if (m.mtime_ns >= 0) dir_times_.emplace_back(rel, m.mtime_ns);
}

sys::UniqueFd DestWriter::create_file(const std::string& rel) {
    std::string leaf;
    int pfd = parent(rel, leaf);
    clear_slot(pfd, leaf, rel);
    sys::UniqueFd fd(::openat(pfd, leaf.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) sys::throw_errno("create " + rel);
    return fd;
}

void DestWriter::finish_file(int fd, const Meta& m) { apply_owner_mode(fd, "file", m, false); }

void DestWriter::symlink(const std::string& rel, const std::string& target, const Meta& m) {
    std::string leaf;
    int pfd = parent(rel, leaf);
    clear_slot(pfd, leaf, rel);
    if (::symlinkat(target.c_str(), pfd, leaf.c_str()) != 0) sys::throw_errno("symlink " + rel);
    if (::fchownat(pfd, leaf.c_str(), m.owner.uid, m.owner.gid, AT_SYMLINK_NOFOLLOW) != 0) sys::throw_errno("chown " + rel);
    apply_times_at(pfd, leaf, m, rel);
}

void DestWriter::hardlink(const std::string& rel, const std::string& existing_rel, const Meta* m) {
    std::string eleaf;
    sys::UniqueFd epfd(::fcntl(parent(existing_rel, eleaf), F_DUPFD_CLOEXEC, 0));
    if (!epfd) sys::throw_errno("dup");
    std::string leaf;
    int pfd = parent(rel, leaf);
    clear_slot(pfd, leaf, rel);
    if (::linkat(epfd.get(), eleaf.c_str(), pfd, leaf.c_str(), 0) != 0)
        sys::throw_errno("link " + rel + " to " + existing_rel);
    struct stat st;
    if (!m || ::fstatat(pfd, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || S_ISLNK(st.st_mode)) return;
    if (::fchownat(pfd, leaf.c_str(), m->owner.uid, m->owner.gid, AT_SYMLINK_NOFOLLOW) != 0) sys::throw_errno("chown " + rel);
    if (::fchmodat(pfd, leaf.c_str(), m->mode & 07777, 0) != 0) sys::throw_errno("chmod " + rel);
}

void DestWriter::special(const std::string& rel, uint32_t st_mode, const Meta& m) {
    std::string leaf;
    int pfd = parent(rel, leaf);
    clear_slot(pfd, leaf, rel);
    if (::mknodat(pfd, leaf.c_str(), (st_mode & S_IFMT) | 0600, dev_t(m.rdev)) != 0) sys::throw_errno("mknod " + rel);
    if (::fchownat(pfd, leaf.c_str(), m.owner.uid, m.owner.gid, AT_SYMLINK_NOFOLLOW) != 0) sys::throw_errno("chown " + rel);
    if (::fchmodat(pfd, leaf.c_str(), m.mode & 07777, 0) != 0) sys::throw_errno("chmod " + rel);
    apply_times_at(pfd, leaf, m, rel);
}

void DestWriter::finish() {
    finished_ = true;
    // Deepest first, so setting a child's time does not disturb its parent's afterwards.
    std::stable_sort(dir_times_.begin(), dir_times_.end(), [](auto& a, auto& b) {
        return std::count(a.first.begin(), a.first.end(), '/') > std::count(b.first.begin(), b.first.end(), '/');
    });
    for (auto& [rel, t] : dir_times_) {
        sys::UniqueFd d = sys::try_open_in_root(root_, rel_join(base_, rel), O_RDONLY | O_DIRECTORY);
        if (!d) continue;
        if (::futimens(d.get(), Times(t).ts) != 0) sys::throw_errno("set times " + rel);
    }
    dir_times_.clear();
    cached_fd_.reset();
}

namespace {

// The files of a COPY into a fresh directory that can be created on all cores (their creation is
// the kernel's inode allocation), one contiguous run of entries (a few directories) per thread;
// directories go before, links and special files after, in plan order. That keeps the one-thread
// result when every destination is distinct and none lies below a non-directory entry (a later
// source's symlink `a` beside an earlier source's `a/f`: in plan order `f` is written through the
// link; threads would make `a` a directory first). Returns which entries (regular files but second
// hard links, whose first link goes into `links`), or an empty vector: all on one thread.
std::vector<bool> files_for_threads(const std::vector<CopyEntry>& entries,
                                    std::map<std::tuple<uint32_t, uint64_t, uint64_t>, std::string>& links) {
    std::unordered_set<std::string_view> all, non_dirs;
    for (const CopyEntry& e : entries) {
        if (!all.insert(e.dst).second) return {};
        if (!S_ISDIR(e.mode)) non_dirs.insert(e.dst);
    }
    for (const CopyEntry& e : entries) {
        std::string_view d = e.dst;
        for (size_t k = d.find('/'); k != std::string_view::npos; k = d.find('/', k + 1))
            if (non_dirs.count(d.substr(0, k))) return {};
    }
    std::vector<bool> mine(entries.size(), false);
    for (size_t i = 0; i < entries.size(); i++) {
        const CopyEntry& e = entries[i];
        if (!S_ISREG(e.mode)) continue;
        if (e.nlink > 1 && !links.emplace(e.link_key(), e.dst).second) continue;
        mine[i] = true;
    }
    return mine;
}

}  // namespace

CopyStats execute_copy(const SourceRoot& src, CopyPlan& plan, int dest_root_fd, const DirectRoot& direct_root) {
    const CopySpec& spec = plan.spec;
    const std::string P = spec.error_prefix();
    CopyStats stats;
    try {
        Owner dir_owner = spec.chown ? *spec.chown : Owner{};
        auto meta_of = [&](const CopyEntry& e) {
            DestWriter::Meta m;
            m.mode = S_ISLNK(e.mode) ? 0777 : (spec.chmod ? *spec.chmod : e.mode) & 07777;
            if (spec.to_host && !S_ISDIR(e.mode)) m.mode &= ~uint32_t(S_ISUID | S_ISGID);
            m.owner = spec.chown ? *spec.chown : spec.preserve_owner ? Owner{e.uid, e.gid} : Owner{};
            m.mtime_ns = e.mtime_ns;
            m.rdev = e.rdev;
            return m;
        };
        if (spec.checksum && !plan.checksum_verified) {
            if (plan.entries.size() != 1 || !S_ISREG(plan.entries[0].mode))
                sys::fail(sys::Code::InvalidInput, "ADD --checksum needs exactly one file source");
            std::string hex = sha256_file_in_root(src.fd, plan.entries[0].src);
            cas::Digest want = cas::Digest::parse(*spec.checksum);
            if (want.hex() != hex)
                sys::fail(sys::Code::InvalidInput, "ADD " + spec.sources[0] + ": checksum mismatch: expected " + want.str() + ", got sha256:" + hex);
            plan.checksum_verified = true;
        }

        // As BuildKit (fsutil's copy resolves dest with RootPath): a symlink at dest, or a chain
        // of them, is followed to its target inside the root, even a missing one; the link stays.
        // Not on the host: a link there is replaced, never followed.
        const std::string dest = spec.to_host ? plan.dest : sys::resolve_in_root(dest_root_fd, plan.dest, sys::LinkRule::RootPath);
        // Where does the base go? A single-file plan lands on dest itself, unless dest is an
        // existing directory or an archive to extract (ADD).
        std::string base = dest;
        std::vector<CopyEntry> entries = plan.entries;
        bool single = !plan.dest_is_dir;
        if (single) {
            sys::UniqueFd d = sys::try_open_in_root(dest_root_fd, dest, O_PATH | O_DIRECTORY);
            bool archive = false;
            if (spec.is_add() && entries.size() == 1 && entries[0].named && S_ISREG(entries[0].mode)) {
                sys::UniqueFd in = open_canonical(src.fd, entries[0].src, O_RDONLY);
                archive = is_tar_archive(in.get());
            }
            if (!d && !archive) {
                base = dest == "/" ? "/" : sys::dir_name(dest);
                if (base.empty()) base = "/";
                entries[0].dst = sys::base_name(dest);
            }
        }
        if (plan.matched_nothing) return stats;  // BuildKit: no files, and no destination either
        bool fresh_base = false;
        if (direct_root && !spec.is_add()) {
            sys::UniqueFd b = sys::try_open_in_root(dest_root_fd, base, O_PATH | O_DIRECTORY);
            fresh_base = !b && errno == ENOENT;
        }
        DestWriter merged(dest_root_fd, base, dir_owner);
        merged.ensure_base();  // through the given root: parents resolved and copied up as usual
        std::optional<DestWriter> direct;
        if (fresh_base) {
            int fd = direct_root(base);
            if (fd >= 0) {
                direct.emplace(fd, base, dir_owner);
                direct->ensure_base();
            }
        }
        DestWriter& w = direct ? *direct : merged;
        w.overwrite = spec.to_host ? DestWriter::Overwrite::Host : DestWriter::Overwrite::Copy;
        std::map<std::tuple<uint32_t, uint64_t, uint64_t>, std::string> links;
        std::map<uint64_t, CopyCaps> caps;  // source device -> what the kernel refused (one destination)
        // A regular file's data, owner, mode, times and xattrs (not an ADD archive, not a second link).
        auto copy_file = [&](DestWriter& to, const CopyEntry& e, sys::UniqueFd in, CopyCaps& c, CopyStats& st) {
            sys::UniqueFd out = to.create_file(e.dst);
            st.bytes += copy_data(in.get(), out.get(), e.size, e.src, c);
            to.finish_file(out.get(), meta_of(e));
            copy_xattrs(in.get(), out.get(), !spec.to_host);
            ++st.files;
        };
        std::vector<bool> in_parallel;  // empty: the whole plan on this thread
        if (direct && !spec.is_add() && entries.size() >= kParallelCopyMin && sys::cpu_width() > 1)
            in_parallel = files_for_threads(entries, links);
        if (!in_parallel.empty()) {
            for (const CopyEntry& e : entries)
                if (S_ISDIR(e.mode)) {
                    w.dir(e.dst, meta_of(e));
                    ++stats.dirs;
                }
            size_t width = sys::cpu_width(), per = (entries.size() + width - 1) / width;
            std::vector<CopyStats> part(width);
            std::atomic<bool> cancel{false};
            sys::parallel_for(width, width, [&](size_t t) {
                DestWriter to(w.root_fd(), base, dir_owner);
                std::map<uint64_t, CopyCaps> own_caps;
                for (size_t i = t * per; i < std::min(entries.size(), (t + 1) * per) && !cancel; i++) {
                    if (!in_parallel[i]) continue;
                    const CopyEntry& e = entries[i];
                    copy_file(to, e, open_canonical(src.fd, e.src, O_RDONLY), own_caps[e.dev], part[t]);
                }
                to.finish();
            }, &cancel);
            for (const CopyStats& p : part) stats.files += p.files, stats.bytes += p.bytes;
        }
        for (size_t i = 0; i < entries.size(); i++) {
            const CopyEntry& e = entries[i];
            if (!in_parallel.empty() && (in_parallel[i] || S_ISDIR(e.mode))) continue;
            DestWriter::Meta m = meta_of(e);
            if (S_ISDIR(e.mode)) {
                w.dir(e.dst, m);
                ++stats.dirs;
            } else if (S_ISLNK(e.mode)) {
                w.symlink(e.dst, e.link_target, m);
                ++stats.symlinks;
            } else if (S_ISREG(e.mode)) {
                sys::UniqueFd in = open_canonical(src.fd, e.src, O_RDONLY);
                if (spec.is_add() && e.named && is_tar_archive(in.get())) {
                    std::string into = single ? "" : sys::dir_name(e.dst);
                    extract_archive(in.get(), e.src, w, into, spec.chown, spec.chmod, stats);
                    ++stats.archives;
                    continue;
                }
                if (e.nlink > 1) {
                    auto [it, fresh] = links.emplace(e.link_key(), e.dst);
                    if (!fresh) {
                        w.hardlink(e.dst, it->second);
                        ++stats.hardlinks;
                        continue;
                    }
                }
                copy_file(w, e, std::move(in), caps[e.dev], stats);
            } else if (spec.to_host && (S_ISCHR(e.mode) || S_ISBLK(e.mode))) {
                stats.skipped_devices.push_back(e.dst);
            } else if (S_ISFIFO(e.mode) || S_ISCHR(e.mode) || S_ISBLK(e.mode)) {
                w.special(e.dst, e.mode, m);
                ++stats.specials;
            }  // sockets are not copied (as docker)
        }
        w.finish();
        merged.finish();
    } catch (const sys::Error& e) {
        throw e.wrap(P + spec.instruction + " failed");
    }
    return stats;
}

void write_heredoc(int dest_root_fd, const CopySpec& spec, const std::string& name, std::string_view content,
                   bool executable, int64_t mtime_s) {
    const std::string P = spec.error_prefix();
    try {
        std::string d = spec.dest.empty() ? "." : spec.dest;
        bool trailing = d.back() == '/' || sys::base_name(d) == "." || sys::base_name(d) == "..";
        std::string abs = d[0] == '/' ? d : sys::path_join(spec.workdir.empty() ? "/" : spec.workdir, d);
        abs = sys::resolve_in_root(dest_root_fd, abs, sys::LinkRule::RootPath);  // as execute_copy
        std::string base, leaf;
        sys::UniqueFd existing = sys::try_open_in_root(dest_root_fd, abs, O_PATH | O_DIRECTORY);
        if (trailing || existing) {
            base = abs;
            leaf = name;
        } else {
            base = sys::dir_name(abs).empty() ? "/" : sys::dir_name(abs);
            leaf = sys::base_name(abs);
        }
        if (leaf.empty() || leaf.find('/') != std::string::npos || leaf == "." || leaf == "..")
            sys::fail(sys::Code::InvalidInput, "invalid heredoc file name \"" + leaf + "\"");
        Owner o = spec.chown ? *spec.chown : Owner{};
        DestWriter w(dest_root_fd, base, o);
        w.ensure_base();
        sys::UniqueFd out = w.create_file(leaf);
        for (size_t off = 0; off < content.size();) {
            ssize_t n = ::write(out.get(), content.data() + off, content.size() - off);
            if (n < 0) {
                if (errno == EINTR) continue;
                sys::throw_errno("write " + leaf);
            }
            off += size_t(n);
        }
        DestWriter::Meta m;
        m.mode = spec.chmod ? *spec.chmod : executable ? 0755 : 0644;
        m.owner = o;
        if (mtime_s >= 0) m.mtime_ns = mtime_s * 1000000000;
        w.finish_file(out.get(), m);
        w.finish();
    } catch (const sys::Error& e) {
        throw e.wrap(P + spec.instruction + " <<" + name + " failed");
    }
}

}  // namespace context
