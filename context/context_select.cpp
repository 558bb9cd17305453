// COPY/ADD source selection inside a root: context escapes, globs, .dockerignore, --exclude,
// directory walks, --parents, and the destination rules. See context.hpp.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <iterator>
#include <cstring>
#include <deque>
#include <functional>
#include <map>

#include "context/context.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/parallel.hpp"
#include "sys/path.hpp"

namespace context {
namespace {

std::string join(const std::vector<std::string>& comps, size_t from = 0) {
    std::string r;
    for (size_t i = from; i < comps.size(); ++i) {
        if (!r.empty()) r += '/';
        r += comps[i];
    }
    return r;
}

std::vector<std::string> split(const std::string& p) {
    std::vector<std::string> out;
    for (auto& c : split_fields(p, '/'))
        if (!c.empty() && c != ".") out.push_back(std::move(c));
    return out;
}

std::string unescape(const std::string& s) {
    std::string r;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        r += s[i];
    }
    return r;
}

using sys::base_name;

// Resolve `comps` inside the root, following symlinks as if the root were "/" (confined),
// the last one only if follow_last. Returns the canonical path (no symlinks, no "..") or
// nullopt when something does not exist / is not a directory.
std::optional<std::string> resolve(int rootfd, const std::vector<std::string>& comps, bool follow_last) {
    std::vector<std::string> stack;
    std::deque<std::string> todo(comps.begin(), comps.end());
    int links = 0;
    auto is_last = [&] {
        for (auto& c : todo)
            if (!c.empty() && c != ".") return false;
        return true;
    };
    while (!todo.empty()) {
        std::string c = std::move(todo.front());
        todo.pop_front();
        if (c.empty() || c == ".") continue;
        if (c == "..") {
            if (!stack.empty()) stack.pop_back();
            continue;
        }
        stack.push_back(c);
        std::string cur = join(stack);
        struct stat st;
        if (::fstatat(rootfd, cur.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
            sys::throw_errno("stat " + cur);
        }
        bool last = is_last();
        if (S_ISLNK(st.st_mode) && (!last || follow_last)) {
            if (++links > 40) sys::fail(sys::Code::InvalidInput, "resolve " + join(comps) + ": too many levels of symbolic links", ELOOP);
            char buf[4096];
            ssize_t n = ::readlinkat(rootfd, cur.c_str(), buf, sizeof buf);
            if (n < 0) sys::throw_errno("readlink " + cur);
            std::string target(buf, size_t(n));
            stack.pop_back();
            if (!target.empty() && target[0] == '/') stack.clear();
            auto tc = split(target);
            // split() dropped ".", keep ".." so they pop
            for (auto it = tc.rbegin(); it != tc.rend(); ++it) todo.push_front(*it);
            continue;
        }
        if (!last && !S_ISDIR(st.st_mode)) return std::nullopt;
    }
    return join(stack);
}

void fill_entry(CopyEntry& e, int dirfd, const char* name, const struct stat& st) {
    e.mode = st.st_mode;
    e.size = S_ISREG(st.st_mode) ? uint64_t(st.st_size) : 0;
    e.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    e.ctime_ns = int64_t(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
    e.atime_ns = int64_t(st.st_atim.tv_sec) * 1000000000 + st.st_atim.tv_nsec;
    e.ino = st.st_ino;
    e.dev = st.st_dev;
    e.nlink = st.st_nlink;
    e.rdev = st.st_rdev;
    e.uid = st.st_uid;
    e.gid = st.st_gid;
    if (S_ISLNK(st.st_mode)) {
        std::string buf(size_t(st.st_size > 0 ? st.st_size : 0) + 256, '\0');
        ssize_t n = ::readlinkat(dirfd, name, buf.data(), buf.size());
        if (n < 0) sys::throw_errno(std::string("readlink ") + name);
        buf.resize(size_t(n));
        e.link_target = buf;
        e.size = 0;
    }
}

// Walks a directory tree into `out` in depth-first order of the destination path. The
// subdirectories of the first level that has several are walked on worker threads (each into
// its own list, spliced in order): a cached rebuild of a big context is 20,000 stats, and they
// are independent.
struct Walker {
    const SourceRoot& root;
    const IgnoreMatcher& excludes;
    std::vector<CopyEntry>& out;

    void walk(int dirfd, const std::string& src, const std::string& dst, int depth) { walk_into(out, dirfd, src, dst, depth, true); }

private:
    // How a directory's children are taken: descend into it; listed only if something below it
    // is re-included (an ignored directory walked for '!' exceptions).
    enum Flag : uint8_t { kDescend = 1, kOnlyIfNonEmpty = 2 };

    void walk_into(std::vector<CopyEntry>& into, int dirfd, const std::string& src, const std::string& dst, int depth,
                   bool parallel) const {
        if (depth > 1024) sys::fail(sys::Code::InvalidInput, "copy " + src + ": directory tree too deep");
        std::vector<CopyEntry> kids;
        std::vector<uint8_t> flags;
        children(dirfd, src, dst, kids, flags);
        std::vector<size_t> dirs;
        for (size_t i = 0; i < kids.size(); ++i)
            if (flags[i] & kDescend) dirs.push_back(i);
        if (dirs.empty() && into.empty()) {  // a leaf directory: its list is the result, nothing moves
            into = std::move(kids);
            return;
        }
        std::vector<std::vector<CopyEntry>> below(kids.size());
        if (parallel && dirs.size() >= 2) {
            sys::parallel_for(dirs.size(), sys::cpu_width(),
                              [&](size_t k) { descend(below[dirs[k]], dirfd, kids[dirs[k]], depth, false); });
        } else {
            for (size_t i : dirs) descend(below[i], dirfd, kids[i], depth, parallel && dirs.size() == 1);
        }
        size_t total = into.size();
        for (size_t i = 0; i < kids.size(); ++i) total += 1 + below[i].size();
        into.reserve(total);
        for (size_t i = 0; i < kids.size(); ++i) {
            if ((flags[i] & kOnlyIfNonEmpty) && below[i].empty()) continue;
            into.push_back(std::move(kids[i]));
            std::move(below[i].begin(), below[i].end(), std::back_inserter(into));
        }
    }

    // The selected children of one directory, in name order, and how to take each (Flag).
    void children(int dirfd, const std::string& src, const std::string& dst, std::vector<CopyEntry>& kids,
                  std::vector<uint8_t>& flags) const {
        std::vector<std::string> names = sys::list_dir(dirfd, src.empty() ? "." : src);
        std::sort(names.begin(), names.end());
        kids.reserve(names.size());
        flags.reserve(names.size());
        for (const auto& name : names) {
            std::string csrc = src.empty() ? name : src + "/" + name;
            std::string cdst = dst.empty() ? name : dst + "/" + name;
            struct stat st;
            if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
                if (errno == ENOENT) continue;  // vanished while walking
                sys::throw_errno("stat " + csrc);
            }
            bool isdir = S_ISDIR(st.st_mode);
            bool ign = root.ignore && root.ignore->excluded(csrc, isdir);
            bool exc = !excludes.empty() && excludes.excluded(cdst, isdir);
            uint8_t f = isdir ? kDescend : 0;
            if (ign || exc) {
                if (!isdir) continue;
                if (ign && !root.ignore->may_contain_exception(csrc)) continue;
                if (exc && !excludes.may_contain_exception(cdst)) continue;
                f |= kOnlyIfNonEmpty;
            }
            CopyEntry& e = kids.emplace_back();
            e.src = std::move(csrc);
            e.dst = std::move(cdst);
            fill_entry(e, dirfd, name.c_str(), st);
            flags.push_back(f);
        }
    }

    void descend(std::vector<CopyEntry>& into, int dirfd, const CopyEntry& dir, int depth, bool parallel) const {
        sys::UniqueFd sub(::openat(dirfd, sys::base_name(dir.src).c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!sub) sys::throw_errno("open " + dir.src);
        walk_into(into, sub.get(), dir.src, dir.dst, depth + 1, parallel);
    }
};

bool is_remote(const std::string& s) {
    return s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0 || s.rfind("git@", 0) == 0 ||
           s.rfind("git://", 0) == 0;
}

// Component-wise ordering: "a/b" < "a/b/c" < "a/b-c" (depth first).
bool dst_less(const CopyEntry& a, const CopyEntry& b) {
    const std::string &x = a.dst, &y = b.dst;
    size_t n = std::min(x.size(), y.size());
    for (size_t i = 0; i < n; ++i) {
        if (x[i] == y[i]) continue;
        if (x[i] == '/') return true;
        if (y[i] == '/') return false;
        return (unsigned char)x[i] < (unsigned char)y[i];
    }
    return x.size() < y.size();
}

}  // namespace

sys::UniqueFd open_canonical(int root_fd, const std::string& rel, int flags) {
    return sys::open_in_root_nofollow(root_fd, rel, flags);
}

Context Context::open(const std::string& dir, const std::string& buildfile_path) {
    Context c;
    c.path_ = dir;
    c.fd_ = sys::with_context("build context", [&] { return sys::open_dir(dir); });
    c.ignore_ = IgnoreMatcher::load(dir, buildfile_path);
    return c;
}

namespace {

// The source path's components, cleaned lexically. A build-context source must stay inside
// the context (docker forbids "../x"); elsewhere a leading ".." stays at the root.
std::vector<std::string> source_components(const std::string& src, bool is_context, const std::function<void()>& outside) {
    std::vector<std::string> raw;
    for (const std::string& c : split_fields(src, '/')) {
        if (c.empty() || c == ".") continue;
        if (c != "..") {
            raw.push_back(c);
        } else if (!raw.empty()) {
            raw.pop_back();
        } else if (is_context) {
            outside();
        }
    }
    return raw;
}

// Glob expansion per component (filepath.Match), sorted; literal components unescaped.
std::vector<std::vector<std::string>> expand_globs(const SourceRoot& root, const std::vector<std::string>& raw,
                                                   bool& glob) {
    std::vector<std::vector<std::string>> cands{{}};
    glob = false;
    for (const std::string& comp : raw) {
        if (!has_glob_meta(comp)) {
            for (auto& c : cands) c.push_back(unescape(comp));
            continue;
        }
        glob = true;
        std::vector<std::vector<std::string>> next;
        for (auto& c : cands) {
            auto dir = resolve(root.fd, c, true);
            if (!dir) continue;
            sys::UniqueFd dfd;
            try {
                dfd = open_canonical(root.fd, *dir, O_RDONLY | O_DIRECTORY);
            } catch (const sys::Error&) {
                continue;  // not a directory
            }
            std::vector<std::string> names;
            for (std::string& n : sys::list_dir(dfd.get(), *dir))
                if (path_match(comp, n)) names.push_back(std::move(n));
            std::sort(names.begin(), names.end());
            for (auto& n : names) {
                auto nc = c;
                nc.push_back(n);
                next.push_back(std::move(nc));
            }
        }
        cands = std::move(next);
    }
    return cands;
}

// What the sources selected so far.
struct Selection {
    std::vector<CopyEntry> entries;
    size_t top_items = 0;
    bool any_dir = false;
    bool any_glob = false;
    uint32_t sources = 0;  // candidates selected so far (CopyEntry::source)
};

// One existing candidate path (canonical `canon`, shown in the destination as `shown`).
void select_candidate(const SourceRoot& root, const CopySpec& spec, const IgnoreMatcher& excludes, Walker& walker,
                      const std::string& src, const std::string& canon, const std::string& shown, bool glob,
                      Selection& sel) {
    sys::UniqueFd parent = open_canonical(root.fd, canon.find('/') == std::string::npos ? "" : canon.substr(0, canon.rfind('/')),
                                          O_PATH | O_DIRECTORY);
    std::string leaf = canon.empty() ? "." : base_name(canon);
    struct stat st;
    if (::fstatat(parent.get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) sys::throw_errno("stat " + src);
    if (S_ISDIR(st.st_mode)) {
        sel.any_dir = true;
        ++sel.top_items;
        std::string dprefix = spec.parents ? shown : "";
        if (!dprefix.empty()) {
            CopyEntry e;
            e.src = canon;
            e.dst = dprefix;
            fill_entry(e, parent.get(), leaf.c_str(), st);
            sel.entries.push_back(std::move(e));
        }
        sys::UniqueFd dfd = open_canonical(root.fd, canon, O_RDONLY | O_DIRECTORY);
        walker.walk(dfd.get(), canon, dprefix, 0);
        return;
    }
    if (!glob && !excludes.empty() && excludes.excluded(shown, false)) return;
    ++sel.top_items;
    CopyEntry e;
    e.src = canon;
    e.dst = shown.empty() ? base_name(canon) : shown;
    e.named = true;
    fill_entry(e, parent.get(), leaf.c_str(), st);
    sel.entries.push_back(std::move(e));
}

// Depth-first order; when two sources land on the same path the later one wins.
// In place: a directory walk is already in this order (the common case sorts nothing).
void sort_unique(std::vector<CopyEntry>& entries) {
    if (!std::is_sorted(entries.begin(), entries.end(), dst_less))
        std::stable_sort(entries.begin(), entries.end(), dst_less);
    size_t w = 0;
    for (size_t r = 0; r < entries.size(); ++r) {
        if (w > 0 && entries[w - 1].dst == entries[r].dst) entries[w - 1] = std::move(entries[r]);
        else if (w++ != r) entries[w - 1] = std::move(entries[r]);
    }
    entries.resize(w);
}

}  // namespace

CopyPlan plan_copy(const SourceRoot& root, const CopySpec& spec) {
    const std::string P = spec.error_prefix();
    const std::string& I = spec.instruction;
    auto fail = [&](sys::Code code, const std::string& msg) -> void { sys::fail(code, P + msg); };
    if (spec.sources.empty()) fail(sys::Code::InvalidInput, I + " requires at least two arguments");
    if (spec.chmod && *spec.chmod > 07777) fail(sys::Code::InvalidInput, I + ": invalid --chmod mode");

    CopyPlan plan;
    plan.spec = spec;
    std::string d = spec.dest.empty() ? "." : spec.dest;
    bool trailing = d.back() == '/' || base_name(d) == "." || base_name(d) == "..";
    std::string abs = d[0] == '/' ? d : sys::path_join(spec.workdir.empty() ? "/" : spec.workdir, d);
    if (abs[0] != '/') abs = "/" + abs;
    plan.dest = clean_path(abs);

    if (spec.sources.size() > 1 && !trailing)
        fail(sys::Code::InvalidInput, "When using " + I + " with more than one source file, the destination must be a directory and end with a /");

    IgnoreMatcher excludes = IgnoreMatcher::from_patterns(spec.excludes);
    Selection sel;
    Walker walker{root, excludes, sel.entries};
    for (const std::string& src : spec.sources) {
        if (is_remote(src)) {
            if (spec.is_add())
                fail(sys::Code::InvalidInput, "ADD " + src + ": not supported: remote sources need network access, which imgbuild builds do not have");
            fail(sys::Code::InvalidInput, "COPY " + src + ": source can't be a URL for COPY");
        }
        std::vector<std::string> raw = source_components(src, root.is_context, [&] {
            fail(sys::Code::InvalidInput, I + " failed: forbidden path outside the build context: " + src);
        });
        // --parents: keep the path after a "/./" pivot, else the whole cleaned path.
        size_t keep_from = 0;
        if (spec.parents) {
            size_t k = src.find("/./");
            if (k != std::string::npos) keep_from = split(clean_path(src.substr(0, k))).size();
        }
        bool glob = false;
        for (auto& cand : expand_globs(root, raw, glob)) {
            auto canon = resolve(root.fd, cand, true);
            bool ignored = canon && root.ignore && root.ignore->excluded(*canon, false);
            if (!canon || ignored) {
                if (glob) continue;
                if (root.is_context)
                    fail(sys::Code::NotFound, I + " failed: file not found in build context or excluded by .dockerignore: stat " + src + ": file does not exist");
                fail(sys::Code::NotFound, I + " failed: stat " + src + " in " + root.name + ": file does not exist");
            }
            std::string shown = spec.parents ? join(cand, std::min(keep_from, cand.size())) : (cand.empty() ? "" : cand.back());
            if (glob && !excludes.empty() && excludes.excluded(shown, false)) continue;
            size_t first = sel.entries.size();
            select_candidate(root, spec, excludes, walker, src, *canon, shown, glob, sel);
            for (size_t i = first; i < sel.entries.size(); ++i) sel.entries[i].source = sel.sources;
            ++sel.sources;
        }
        // A wildcard that matches nothing is fine as long as some source matched (BuildKit's
        // AllowEmptyWildcard); only a COPY with nothing at all to copy fails, below.
        sel.any_glob |= glob;
    }
    // Only wildcards that all matched nothing: BuildKit copies nothing and succeeds.
    if (sel.top_items == 0 && !sel.any_dir && !sel.any_glob) fail(sys::Code::NotFound, I + " failed: no source files were specified");

    plan.matched_nothing = sel.top_items == 0 && !sel.any_dir;
    plan.dest_is_dir = trailing || spec.parents || sel.any_dir || sel.top_items > 1 || spec.sources.size() > 1;
    sort_unique(sel.entries);
    plan.entries = std::move(sel.entries);
    return plan;
}

}  // namespace context
