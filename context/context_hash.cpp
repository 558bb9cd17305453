// Content digest of a COPY/ADD selection and the stat cache that keeps unchanged files from
// being re-read on every build. See context.hpp.
//
// Stat cache file (<dir>/statcache):
//   "imgbuild-statcache 1 <write time ns>\n"
//   then per entry: "<sha256 hex> <size> <mtime ns> <ctime ns> <ino> <dev> <path>\0"
// An entry is trusted only when size, mtime, ctime, inode and device all match AND its mtime
// is older than the second the file was written: an edit in that same second could keep the
// same size and mtime on a coarse-clock file system (git's "racy clean" problem).
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <exception>
#include <map>
#include <thread>

#include "context/context.hpp"
#include "sys/buffer.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/io.hpp"
#include "sys/parallel.hpp"

namespace context {
namespace {

constexpr const char* kMagic = "imgbuild-statcache 1 ";
constexpr int64_t kNs = 1000000000;

int64_t now_ns() {
    struct timespec ts;
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return int64_t(ts.tv_sec) * kNs + ts.tv_nsec;
}

}  // namespace

FileStamp FileStamp::of(const struct stat& st) {
    return {uint64_t(st.st_size), uint64_t(st.st_ino), uint64_t(st.st_dev),
            int64_t(st.st_mtim.tv_sec) * kNs + st.st_mtim.tv_nsec, int64_t(st.st_ctim.tv_sec) * kNs + st.st_ctim.tv_nsec};
}

StatCache::StatCache(std::string dir) : dir_(std::move(dir)) {
    std::string file = sys::path_join(dir_, kFile);
    try {
        data_ = sys::read_file(file, 1u << 30);
    } catch (const sys::Error&) {
        return;  // missing or unreadable: start empty
    }
    const std::string& data = data_;
    size_t nl = data.find('\n');
    if (nl == std::string::npos || data.compare(0, std::strlen(kMagic), kMagic) != 0) return;
    write_time_ns_ = std::strtoll(data.c_str() + std::strlen(kMagic), nullptr, 10);
    loaded_.reserve(data.size() / 100);  // an entry is ~120 bytes
    size_t pos = nl + 1;
    bool sorted = true;
    while (pos < data.size()) {
        size_t end = data.find('\0', pos);
        if (end == std::string::npos) break;  // truncated tail: ignore it
        const char* p = data.c_str() + pos;
        const char* lim = data.c_str() + end;
        Loaded l;
        if (end - pos < 66 || p[64] != ' ') break;
        std::memcpy(l.rec.hex.data(), p, 64);
        p += 65;
        // Five numbers, each followed by one space (what save writes). from_chars: no locale and
        // no whitespace skipping -- strtoll's were ~5% of a cached 20,000-file COPY.
        auto num = [&](auto& v) {
            auto r = std::from_chars(p, lim, v);
            if (r.ec != std::errc() || r.ptr == lim || *r.ptr != ' ') return false;
            p = r.ptr + 1;
            return true;
        };
        if (!num(l.rec.stamp.size) || !num(l.rec.stamp.mtime_ns) || !num(l.rec.stamp.ctime_ns) || !num(l.rec.stamp.ino) ||
            !num(l.rec.stamp.dev))
            break;
        l.off = uint32_t(p - data.c_str());
        l.len = uint32_t(lim - p);
        if (!loaded_.empty()) {
            int c = path_of(loaded_.back()).compare(path_of(l));
            if (c == 0) {
                loaded_.back() = l;  // a repeated path: the later entry wins
                pos = end + 1;
                continue;
            }
            sorted &= c < 0;
        }
        loaded_.push_back(l);
        pos = end + 1;
    }
    // save() writes paths sorted; a file written otherwise is sorted here (later entries win).
    if (!sorted) {
        std::stable_sort(loaded_.begin(), loaded_.end(), [&](const Loaded& a, const Loaded& b) { return path_of(a) < path_of(b); });
        std::vector<Loaded> uniq;
        for (auto& l : loaded_) {
            if (!uniq.empty() && path_of(uniq.back()) == path_of(l)) uniq.back() = l;
            else uniq.push_back(l);
        }
        loaded_ = std::move(uniq);
    }
}

StatCache::Rec* StatCache::find(std::string_view path) {
    if (!added_.empty()) {
        auto it = added_.find(std::string(path));
        if (it != added_.end()) return &it->second;
    }
    for (size_t i : {hint_, hint_ + 1})
        if (i < loaded_.size() && path_of(loaded_[i]) == path) {
            hint_ = i;
            return &loaded_[i].rec;
        }
    auto it = std::lower_bound(loaded_.begin(), loaded_.end(), path,
                               [&](const Loaded& l, std::string_view p) { return path_of(l) < p; });
    if (it == loaded_.end() || path_of(*it) != path) return nullptr;
    hint_ = size_t(it - loaded_.begin());
    return &it->rec;
}

StatCache::~StatCache() {
    if (!dirty_ || dir_.empty()) return;
    try {
        save();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "imgbuild: warning: cannot save stat cache: %s\n", e.what());
    }
}

std::string StatCache::lookup(const std::string& path, const FileStamp& st) {
    const Rec* r = find(path);
    if (!r || !(r->stamp == st)) {
        ++stats_.misses;
        return "";
    }
    // Racy: modified in (or after) the second the cache was written.
    if (!(trust_own_ && r->own) && (st.mtime_ns / kNs >= write_time_ns_ / kNs || st.ctime_ns / kNs >= write_time_ns_ / kNs)) {
        ++stats_.racy;
        dirty_ = true;  // rewrite with a newer time so the entry stops being racy
        return "";
    }
    ++stats_.hits;
    return std::string(r->hex.data(), 64);
}

void StatCache::store(const std::string& path, const FileStamp& st, const std::string& hex) {
    if (hex.size() != 64) return;  // not a sha256 hex: nothing to remember
    Rec* found = find(path);
    Rec& r = found ? *found : added_[path];
    r.own = true;
    if (r.stamp == st && std::memcmp(r.hex.data(), hex.data(), 64) == 0) return;
    r.stamp = st;
    std::memcpy(r.hex.data(), hex.data(), 64);
    dirty_ = true;
}

void SharedStatCache::load_in_background(const std::string& cache_dir, bool trust_own_entries) {
    loader_ = std::thread([this, cache_dir, trust_own_entries] {
        try {
            cache_ = StatCache(cache_dir);
            if (trust_own_entries) cache_.trust_own_entries();
        } catch (...) {
            load_error_ = std::current_exception();
        }
    });
}

StatCache& SharedStatCache::cache() {
    std::call_once(joined_, [this] {
        if (loader_.joinable()) loader_.join();
    });
    if (load_error_) std::rethrow_exception(load_error_);
    return cache_;
}

SharedStatCache::~SharedStatCache() {
    if (loader_.joinable()) loader_.join();
}

std::shared_ptr<SharedStatCache> StatCacheSet::get(const std::string& context_dir, const std::string& cache_dir) {
    std::lock_guard<std::mutex> l(mu_);
    auto& slot = by_dir_[cache_dir];
    if (!slot) {
        slot = std::make_shared<SharedStatCache>(context_dir);
        slot->load_in_background(cache_dir, true);
    }
    return slot;
}

std::map<std::string, StatCache::Stats> StatCacheSet::stats() {
    std::lock_guard<std::mutex> l(mu_);
    std::map<std::string, StatCache::Stats> out;
    for (auto& [dir, sc] : by_dir_) {
        std::lock_guard<std::mutex> l2(sc->mu);
        out[sc->context_dir] = sc->cache().stats();
    }
    return out;
}

void StatCache::save() {
    if (dir_.empty() || !dirty_) return;
    save_with_time(now_ns());
}

void StatCache::save_with_time(int64_t t) {
    if (dir_.empty()) return;
    sys::mkdir_p(dir_, 0700);
    std::string out = kMagic + std::to_string(t) + "\n";
    out.reserve((loaded_.size() + added_.size()) * 120);
    std::vector<std::pair<std::string_view, const Rec*>> sorted;
    sorted.reserve(loaded_.size() + added_.size());
    for (auto& l : loaded_) sorted.emplace_back(path_of(l), &l.rec);
    for (auto& [k, v] : added_) sorted.emplace_back(k, &v);
    std::sort(sorted.begin(), sorted.end());
    for (auto& [k, v] : sorted) {
        out.append(v->hex.data(), 64);
        out += ' ' + std::to_string(v->stamp.size) + ' ' + std::to_string(v->stamp.mtime_ns) + ' ' +
               std::to_string(v->stamp.ctime_ns) + ' ' + std::to_string(v->stamp.ino) + ' ' +
               std::to_string(v->stamp.dev) + ' ';
        out += k;
        out += '\0';
    }
    sys::write_file_atomic(sys::path_join(dir_, kFile), out, 0600, false);  // a cache: atomic, not durable
    write_time_ns_ = t;
    dirty_ = false;
}

std::string sha256_file_in_root(int root_fd, const std::string& rel) {
    sys::UniqueFd fd = open_canonical(root_fd, rel, O_RDONLY);
    ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    cas::Digester dg;
    static thread_local sys::ScratchBuffer buf(1 << 17);
    sys::read_chunks(fd.get(), buf.data(), buf.size(), rel, [&](const char* p, size_t n) { dg.update(p, n); });
    return dg.finish().hex();
}

cas::Digest content_digest(const SourceRoot& root, CopyPlan& plan, StatCache* cache) {
    const CopySpec& spec = plan.spec;
    // 1. Which regular files need reading (cache misses)?
    std::vector<std::string> hexes(plan.entries.size());
    std::vector<size_t> todo;
    for (size_t i = 0; i < plan.entries.size(); ++i) {
        const CopyEntry& e = plan.entries[i];
        if (!S_ISREG(e.mode)) continue;
        if (cache) hexes[i] = cache->lookup(e.src, FileStamp::of(e));
        if (hexes[i].empty()) todo.push_back(i);
    }
    // 2. Read them, in parallel (small files are dominated by open/read latency). A failure is
    // re-raised with context, keeping the code and errno (a file that vanished stays NotFound).
    sys::with_context(spec.error_prefix() + "hash " + root.name, [&] {
        sys::parallel_for(todo.size(), todo.size() < 64 ? 1 : sys::cpu_width(),
                          [&](size_t k) { hexes[todo[k]] = sha256_file_in_root(root.fd, plan.entries[todo[k]].src); });
    });
    if (cache)
        for (size_t i : todo) cache->store(plan.entries[i].src, FileStamp::of(plan.entries[i]), hexes[i]);
    plan.hexes = std::move(hexes);
    const std::vector<std::string>& hex_of = plan.hexes;

    // ADD --checksum on a single local file.
    if (spec.checksum) {
        cas::Digest want = cas::Digest::parse(*spec.checksum);
        if (plan.entries.size() != 1 || !S_ISREG(plan.entries[0].mode))
            sys::fail(sys::Code::InvalidInput, spec.error_prefix() + "ADD --checksum needs exactly one file source");
        if (want.hex() != hex_of[0])
            sys::fail(sys::Code::InvalidInput, spec.error_prefix() + "ADD " + spec.sources[0] + ": checksum mismatch: expected " +
                                                          want.str() + ", got sha256:" + hex_of[0]);
        plan.checksum_verified = true;
    }

    // 3. The canonical stream.
    cas::Digester dg;
    std::string head = "imgbuild-copy-content v1\n";
    head += std::string("dest_is_dir=") + (plan.dest_is_dir ? "1" : "0") + "\n";
    dg.update(head);
    std::map<std::tuple<uint32_t, uint64_t, uint64_t>, std::string> links;
    for (size_t i = 0; i < plan.entries.size(); ++i) {
        const CopyEntry& e = plan.entries[i];
        char type = S_ISREG(e.mode) ? 'f' : S_ISDIR(e.mode) ? 'd' : S_ISLNK(e.mode) ? 'l' : S_ISFIFO(e.mode) ? 'p'
                  : S_ISCHR(e.mode) ? 'c' : S_ISBLK(e.mode) ? 'b' : 's';
        uint32_t perm = S_ISLNK(e.mode) ? 0777 : (spec.chmod ? *spec.chmod : e.mode) & 07777;
        Owner o = spec.chown ? *spec.chown : spec.preserve_owner ? Owner{e.uid, e.gid} : Owner{};
        std::string rec = e.dst;
        rec += '\0';
        if (type == 'f' && e.nlink > 1) {
            auto [it, fresh] = links.emplace(e.link_key(), e.dst);
            if (!fresh) {
                type = 'h';
                rec += type;
                rec += '\0' + it->second + '\n';
                dg.update(rec);
                continue;
            }
        }
        // type NUL perm (4 octal digits) NUL uid:gid -- formatted by hand: snprintf was ~5% of a
        // cached 20,000-file COPY.
        const char head[] = {type, '\0', char('0' + ((perm >> 9) & 7)), char('0' + ((perm >> 6) & 7)),
                             char('0' + ((perm >> 3) & 7)), char('0' + (perm & 7)), '\0'};
        rec.append(head, sizeof head);
        rec += std::to_string(o.uid) + ":" + std::to_string(o.gid);
        rec += '\0';
        rec += e.link_target;
        rec += '\0';
        rec += std::to_string(e.size) + '\0';
        if (type == 'c' || type == 'b') rec += std::to_string(e.rdev);
        rec += '\0';
        rec += hex_of[i];
        rec += '\n';
        dg.update(rec);
    }
    return dg.finish();
}

}  // namespace context
