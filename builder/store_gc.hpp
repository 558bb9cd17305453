// Garbage collection across the store's three kinds of state: build-cache records (LRU
// policy), blobs (cas mark/sweep with the kept records' layers as extra roots), and
// unpacked snapshots (layers/; kept for every chain an image ref needs, rebuilt on demand
// from blobs otherwise). Runs under the store's exclusive lock, so no build is in flight.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "cas/gc.hpp"
#include "cas/store.hpp"

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
