// The build context and COPY/ADD source selection, root-confined; content hashing of a
// selection for cache keys, with a git-index-like stat cache.
//
// Flow for one COPY/ADD (the solver's side):
//   Context ctx = Context::open(dir, buildfile);            // once per build
//   StatCache sc(store + "/cache/statcache/" + hash(dir));  // once per build
//   CopyPlan plan = plan_copy(ctx.root(), spec);            // select sources (throws on ../x etc.)
//   Digest d = content_digest(ctx.root(), plan, &sc);       // cache key input
//   if miss: execute_copy(ctx.root(), plan, dest_root_fd);  // context/copy.hpp
//   sc.save();                                              // once, at the end of the build
// For COPY --from=<stage|image>, make a SourceRoot over that rootfs (is_context = false).
#pragma once
#include <array>
#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <exception>
#include <thread>
#include <optional>
#include <string>
#include <tuple>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "context/dockerignore.hpp"
#include "cas/digest.hpp"
#include "sys/fd.hpp"

namespace context {

struct Owner {
    uint32_t uid = 0;
    uint32_t gid = 0;
    bool operator==(const Owner&) const = default;
};

// Where COPY sources come from: the build context, or a stage's / image's rootfs.
struct SourceRoot {
    int fd = -1;                            // directory fd of the root (borrowed, not owned)
    const IgnoreMatcher* ignore = nullptr;  // .dockerignore: build context only
    // true: a source path climbing out with ".." is an error (build context).
    // false: paths are resolved as in a chroot (a stage or image rootfs), ".." stops at "/".
    bool is_context = true;
    std::string name = "build context";     // for messages
};

// The build context directory, opened once; .dockerignore loaded.
class Context {
public:
    // buildfile_path selects <buildfile>.dockerignore (may be empty).
    static Context open(const std::string& dir, const std::string& buildfile_path);
    SourceRoot root() const { return SourceRoot{fd_.get(), &ignore_, true, "build context"}; }
    int fd() const { return fd_.get(); }
    const std::string& path() const { return path_; }
    const IgnoreMatcher& ignore() const { return ignore_; }

private:
    sys::UniqueFd fd_;
    std::string path_;
    IgnoreMatcher ignore_;
};

// One COPY/ADD instruction, after variable expansion.
struct CopySpec {
    std::string instruction = "COPY";       // "COPY" or "ADD" (messages; ADD enables extraction)
    std::vector<std::string> sources;       // as written, in order
    std::string dest;                       // as written; relative to workdir unless absolute
    std::string workdir = "/";
    std::vector<std::string> excludes;      // --exclude patterns (moby pattern semantics)
    bool parents = false;                   // --parents
    std::optional<Owner> chown;             // --chown, resolved (see resolve_owner in copy.hpp)
    bool preserve_owner = false;            // no --chown: keep source uid/gid (COPY --from) instead of 0:0
    std::optional<uint32_t> chmod;          // --chmod (octal), applied to files and dirs copied
    std::optional<std::string> checksum;    // ADD --checksum=sha256:...
    bool link = false;                      // --link: accepted; behaves as a normal copy
    // Writing onto the host (--output type=local): setuid/setgid bits and security.capability
    // are dropped and device nodes are skipped (listed in CopyStats::skipped_devices).
    bool to_host = false;
    // What this copy is, for its errors ("RUN --mount=type=bind", "--output type=local");
    // empty for COPY/ADD steps. The solver attaches the Buildfile location (sys::Error::at).
    std::string label;
    bool is_add() const { return instruction == "ADD"; }
    std::string error_prefix() const { return label.empty() ? "" : label + ": "; }
};

// One selected file system object.
struct CopyEntry {
    std::string src;          // canonical path inside the source root: no symlinks, no "..", "" = root
    std::string dst;          // path relative to the destination base (see CopyPlan)
    uint32_t mode = 0;        // st_mode (type + permission bits) of the source
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    uint64_t ino = 0, dev = 0, nlink = 1, rdev = 0;
    uint32_t uid = 0, gid = 0;
    int64_t atime_ns = 0;
    std::string link_target;  // symlinks
    // A source the instruction names itself (after glob expansion), not an entry found inside
    // a named directory: only these are archives ADD extracts (BuildKit: `ADD dir /d/` copies
    // dir/inner.tar as a file).
    bool named = false;
    // Which source (one per wildcard match) the entry comes from: hard links are kept between
    // entries of one source only, as BuildKit copies each source and each match on its own.
    uint32_t source = 0;
    // Entries with the same key are hard links of one another in the destination.
    std::tuple<uint32_t, uint64_t, uint64_t> link_key() const { return {source, dev, ino}; }
};

struct CopyPlan {
    CopySpec spec;
    std::string dest;         // absolute, cleaned destination path in the destination root
    // true: entries are placed under `dest` (created as a directory).
    // false: one file copied onto `dest` itself, or under it as dest/<entries[0].dst> if
    // `dest` is an existing directory at copy time (docker's rule).
    bool dest_is_dir = true;
    bool matched_nothing = false;  // only wildcards, none matched: nothing is written, not even dest
    std::vector<CopyEntry> entries;  // depth-first order of dst; parents before children
    bool checksum_verified = false;  // set by content_digest / execute_copy
    // sha256 hex of each regular file entry (same index as entries; "" for others), set by
    // content_digest: later uses (cache explain) need not read the files again.
    std::vector<std::string> hexes;
};

// Select the sources of a COPY/ADD: files, directories (their contents), globs
// (filepath.Match per component), minus .dockerignore (context) and --exclude; top-level
// symlinks are followed inside the root, symlinks below a directory are kept as links.
// Throws sys::Error(InvalidInput / NotFound) prefixed with spec.label.
CopyPlan plan_copy(const SourceRoot& root, const CopySpec& spec);

// What the stat cache compares (never the content).
struct FileStamp {
    uint64_t size = 0, ino = 0, dev = 0;
    int64_t mtime_ns = 0, ctime_ns = 0;
    static FileStamp of(const struct stat& st);
    static FileStamp of(const CopyEntry& e) { return {e.size, e.ino, e.dev, e.mtime_ns, e.ctime_ns}; }
    bool operator==(const FileStamp&) const = default;
};

// Remembers sha256 of context files by (path, size, mtime, ctime, inode, dev) across builds.
// Loaded once from <dir>/statcache; save() writes it atomically. Entries whose mtime is not
// older than the second the cache was written ("racy", as in git's index) are re-hashed.
class StatCache {
public:
    static constexpr const char* kFile = "statcache";  // the file in its directory
    StatCache() = default;  // in-memory only (save() does nothing)
    explicit StatCache(std::string dir);
    StatCache(StatCache&&) = default;
    StatCache& operator=(StatCache&&) = default;
    ~StatCache();  // best-effort save() when dirty

    // Cached sha256 hex for `path` with this stat, or "" (miss, changed or racy).
    std::string lookup(const std::string& path, const FileStamp& st);
    void store(const std::string& path, const FileStamp& st, const std::string& sha256_hex);
    void save();
    // For tests: the write time recorded in the header (ns since epoch) of the loaded file,
    // and a way to save with a chosen write time.
    int64_t loaded_write_time_ns() const { return write_time_ns_; }
    void save_with_time(int64_t write_time_ns);
    // Entries this object hashed and stored (this process) are hits even when racy: for a
    // cache shared by the builds of one process (StatCacheSet), which read the context once.
    void trust_own_entries() { trust_own_ = true; }

    struct Stats {
        size_t hits = 0, misses = 0, racy = 0;
    };
    const Stats& stats() const { return stats_; }

private:
    struct Rec {
        FileStamp stamp;
        std::array<char, 64> hex{};  // sha256 hex, not a heap string: the cache holds one per context file
        bool own = false;  // stored by this object
    };
    // The loaded file's entries, in the file's (sorted) path order, their paths left in `data_`:
    // loading allocates nothing per entry, and lookups arrive in walk order, so the next one is
    // almost always the entry after the last (`hint_`); otherwise a binary search.
    struct Loaded {
        uint32_t off = 0, len = 0;  // the path in data_
        Rec rec;
    };
    std::string_view path_of(const Loaded& l) const { return std::string_view(data_).substr(l.off, l.len); }
    Rec* find(std::string_view path);
    std::string dir_;
    std::string data_;
    std::vector<Loaded> loaded_;
    size_t hint_ = 0;
    std::unordered_map<std::string, Rec> added_;  // paths the loaded file did not have
    int64_t write_time_ns_ = 0;
    bool dirty_ = false;
    bool trust_own_ = false;
    Stats stats_;
};

// A context's stat cache and the lock its users hold while planning and hashing. It can be
// loaded on a thread of its own (a big context's cache is megabytes) while the build parses,
// resolves the base image and walks the context; cache() waits for that load.
class SharedStatCache {
public:
    SharedStatCache() = default;
    explicit SharedStatCache(std::string context_dir) : context_dir(std::move(context_dir)) {}
    ~SharedStatCache();
    SharedStatCache(const SharedStatCache&) = delete;
    SharedStatCache& operator=(const SharedStatCache&) = delete;

    // Starts loading <cache_dir>/statcache in the background (once, before any cache()).
    void load_in_background(const std::string& cache_dir, bool trust_own_entries);
    StatCache& cache();  // the loaded cache; hold `mu` while using it

    std::string context_dir;
    std::mutex mu;

private:
    std::once_flag joined_;
    std::thread loader_;
    std::exception_ptr load_error_;
    StatCache cache_;
};

// The stat caches of the builds of one process (`imgbuild bake`): one per context directory,
// loaded once, its own entries trusted (StatCache::trust_own_entries), so that targets with the
// same context hash each file once. Thread-safe.
class StatCacheSet {
public:
    // The cache of `context_dir`, loaded from `cache_dir` on first use.
    std::shared_ptr<SharedStatCache> get(const std::string& context_dir, const std::string& cache_dir);
    // Every context's counters so far (context dir -> stats).
    std::map<std::string, StatCache::Stats> stats();

private:
    std::mutex mu_;
    std::map<std::string, std::shared_ptr<SharedStatCache>> by_dir_;  // by cache_dir
};

// sha256 of the selection as it will be placed: per entry (in order) its destination path,
// type, permission/setuid/setgid/sticky bits (after --chmod), owner (after --chown / default),
// link target, size, rdev and content sha256; hardlinks inside the selection as links. No
// mtimes, no inode numbers. `cache` may be null (stage/image roots). Verifies ADD --checksum.
cas::Digest content_digest(const SourceRoot& root, CopyPlan& plan, StatCache* cache);

// sha256 hex of one regular file opened inside root (helper shared with copy.cpp).
std::string sha256_file_in_root(int root_fd, const std::string& rel);

// Open `rel` (canonical: no symlinks) inside root for reading; refuses any symlink on the way.
sys::UniqueFd open_canonical(int root_fd, const std::string& rel, int flags);

}  // namespace context
