// Garbage collection across the store's three kinds of state: build-cache records (LRU
// policy), blobs (cas mark/sweep with the kept records' layers as extra roots), and
// unpacked snapshots (layers/; kept for every chain an image ref needs, rebuilt on demand
// from blobs otherwise). Runs under the store's exclusive lock, so no build is in flight.
#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cas/gc.hpp"
#include "builder/cache.hpp"
#include "cas/store.hpp"
#include "layers/snapshotter.hpp"

namespace builder {

struct CachePolicy {
    std::optional<uint64_t> keep_storage;     // total bytes of cache-only layers to keep
    std::optional<int64_t> keep_duration_s;   // drop records unused for longer
    bool all = false;                         // drop every record
};

struct PruneResult {
    size_t records_removed = 0;
    cas::GcResult blobs;
    size_t snapshots_removed = 0;
};

// The pure parts of prune_store, unit-tested:
// Which records the policy drops. Sorts recs oldest first (by max(last_used, created)); the
// result is parallel to the sorted recs: all, or older than keep_duration_s, then the oldest
// until the cache-only layer bytes (layers no image in image_blobs uses) fit keep_storage.
std::vector<bool> plan_record_drops(std::vector<CacheRecord>& recs, const std::set<cas::Digest>& image_blobs,
                                    const CachePolicy& policy, int64_t now);
// Keys of the snapshots to remove, children before parents: every snapshot whose key is not
// in keep and is not a parent (transitively) of a kept one.
std::vector<std::string> plan_snapshot_removal(const std::vector<layers::SnapshotInfo>& all, std::set<std::string> keep);

// Apply the policy to cache records, then collect blobs and snapshots.
PruneResult prune_store(cas::Store& store, const CachePolicy& policy, bool dry_run = false);

struct CacheUsage {
    size_t records = 0;
    uint64_t total = 0;      // unique layer bytes referenced by records
    uint64_t shared = 0;     // of which also used by a tagged image
    uint64_t exclusive = 0;  // only the cache holds them
    uint64_t mounts = 0;     // RUN --mount=type=cache directories
    size_t mount_dirs = 0;
};
CacheUsage cache_usage(const cas::Store& store);

}  // namespace builder
