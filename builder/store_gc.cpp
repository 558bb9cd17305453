#include "builder/store_gc.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <ctime>
#include <set>

#include "builder/cache.hpp"
#include "cas/image.hpp"
#include "layers/rootfs.hpp"
#include "layers/snapshotter.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"

namespace builder {

namespace {

// Layer blobs (and chain keys of every prefix) that tagged images need.
void image_needs(const cas::Store& store, std::set<cas::Digest>& blobs, std::set<std::string>& chains) {
    for (const auto& [name, desc] : cas::list_refs(store)) {
        cas::Image img;
        try {
            img = cas::load_image(store, desc.digest);
        } catch (const std::exception&) {
            continue;  // fsck reports damaged refs; GC itself refuses to sweep their closure
        }
        for (const auto& l : img.manifest.layers) blobs.insert(l.digest);
        std::vector<cas::Digest> prefix;
        for (const auto& d : img.config.diff_ids) {
            prefix.push_back(d);
            chains.insert(layers::chain_id(prefix).str());
        }
    }
}

uint64_t dir_bytes(int dirfd) {
    uint64_t total = 0;
    std::vector<std::string> names;
    try {
        names = sys::list_dir(dirfd, "cache mounts");
    } catch (const sys::Error&) {
        return 0;  // unreadable: counted as empty (usage is an estimate)
    }
    for (const std::string& n : names) {
        struct stat st;
        if (::fstatat(dirfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            sys::UniqueFd sub(::openat(dirfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (sub) total += dir_bytes(sub.get());
        } else {
            total += uint64_t(st.st_blocks) * 512;
        }
    }
    return total;
}

}  // namespace

std::vector<bool> plan_record_drops(std::vector<CacheRecord>& recs, const std::set<cas::Digest>& image_blobs,
                                    const CachePolicy& policy, int64_t now) {
    std::stable_sort(recs.begin(), recs.end(), [](const CacheRecord& a, const CacheRecord& b) {
        return std::max(a.last_used, a.created) < std::max(b.last_used, b.created);
    });
    std::vector<bool> drop(recs.size(), false);
    for (size_t i = 0; i < recs.size(); i++) {
        if (policy.all) drop[i] = true;
        else if (policy.keep_duration_s && now - std::max(recs[i].last_used, recs[i].created) > *policy.keep_duration_s)
            drop[i] = true;
    }
    if (policy.keep_storage && !policy.all) {
        auto cache_only_bytes = [&] {
            std::set<cas::Digest> seen;
            uint64_t total = 0;
            for (size_t i = 0; i < recs.size(); i++)
                if (!drop[i] && recs[i].layer && !image_blobs.count(recs[i].layer->digest) && seen.insert(recs[i].layer->digest).second)
                    total += recs[i].layer->size;
            return total;
        };
        for (size_t i = 0; i < recs.size() && cache_only_bytes() > *policy.keep_storage; i++) drop[i] = true;
    }
    return drop;
}

std::vector<std::string> plan_snapshot_removal(const std::vector<layers::SnapshotInfo>& all, std::set<std::string> keep) {
    // Keep the parents of kept snapshots too.
    bool grew = true;
    while (grew) {
        grew = false;
        for (const auto& s : all)
            if (keep.count(s.key) && !s.parent.empty() && keep.insert(s.parent).second) grew = true;
    }
    // Children before parents: remove those whose key nobody keeps, deepest first.
    std::vector<layers::SnapshotInfo> gone;
    for (const auto& s : all)
        if (!keep.count(s.key)) gone.push_back(s);
    std::vector<std::string> order;
    while (!gone.empty()) {
        bool progress = false;
        for (auto it = gone.begin(); it != gone.end();) {
            bool has_child = std::any_of(gone.begin(), gone.end(), [&](const auto& o) { return o.parent == it->key; });
            if (has_child) {
                ++it;
                continue;
            }
            order.push_back(it->key);
            it = gone.erase(it);
            progress = true;
        }
        if (!progress) break;
    }
    return order;
}

PruneResult prune_store(cas::Store& store, const CachePolicy& policy, bool dry_run) {
    PruneResult res;
    Cache cache(store);
    std::set<cas::Digest> image_blobs;
    std::set<std::string> live_chains;
    image_needs(store, image_blobs, live_chains);

    // 1. Cache records: --all, then age, then LRU down to keep_storage (cache-only bytes).
    std::vector<CacheRecord> recs = cache.list();
    std::vector<bool> drop = plan_record_drops(recs, image_blobs, policy, int64_t(std::time(nullptr)));
    for (size_t i = 0; i < recs.size(); i++) {
        if (!drop[i]) continue;
        if (!dry_run) cache.remove(recs[i].key);
        res.records_removed++;
    }

    // 2. Blobs: refs + the records that are left.
    cas::GcOptions o;
    o.dry_run = dry_run;
    o.extra_roots_hook = [](const cas::Store& s) {
        std::vector<cas::Digest> roots;
        for (auto& rec : Cache(s).list())
            if (rec.layer) roots.push_back(rec.layer->digest);
        return roots;
    };
    res.blobs = cas::collect_garbage(store, o);

    // 3. Snapshots: keep the chains tagged images need; the rest (including active ones a
    // crashed build left) are rebuilt from blobs when next needed. No build runs now: take
    // the exclusive lock.
    sys::FileLock lock = store.lock_exclusive();
    layers::Snapshotter snaps(store);
    // Snapshots a running `imgbuild run` leases (its scratch slot names them) stay, with their
    // parents; the slots nobody holds go.
    std::set<std::string> keep = live_chains;
    for (const auto& k : layers::scratch_in_use(store, dry_run)) keep.insert(k);
    for (const std::string& key : plan_snapshot_removal(snaps.walk(), keep)) {
        if (!dry_run) snaps.remove(key);
        res.snapshots_removed++;
    }
    return res;
}

CacheUsage cache_usage(const cas::Store& store) {
    CacheUsage u;
    std::set<cas::Digest> image_blobs;
    std::set<std::string> chains;
    image_needs(store, image_blobs, chains);
    std::set<cas::Digest> seen;
    for (const auto& r : Cache(store).list()) {
        u.records++;
        if (!r.layer || !seen.insert(r.layer->digest).second) continue;
        u.total += r.layer->size;
        (image_blobs.count(r.layer->digest) ? u.shared : u.exclusive) += r.layer->size;
    }
    std::string mounts = store.cache_mounts_dir();
    sys::UniqueFd fd(::open(mounts.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd) {
        u.mounts = dir_bytes(fd.get());
        for (const std::string& n : sys::list_dir(fd.get(), mounts)) {
            struct stat st;
            if (n[0] != '.' && ::fstatat(fd.get(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
                u.mount_dirs++;
        }
    }
    return u;
}

}  // namespace builder
