// Garbage collection of blobs: a pure mark over descriptors (index -> manifest -> config +
// layers) and a sweep of everything else under the store's exclusive lock.
//
// The builder keeps cache-record layers alive by passing them as extra roots:
//   cas::GcOptions o; o.extra_roots_hook = [](const cas::Store& s) { return <layers of kept cache records>; };
//   cas::GcResult r = cas::collect_garbage(store, o);
// Snapshots are not blobs: layers/ removes its own snapshots.
#pragma once
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cas/oci.hpp"
#include "cas/store.hpp"

namespace cas {

// Returns a JSON blob's bytes, or nullopt when the blob is missing. May throw (e.g. corrupt
// blob); mark() records the message as a problem and keeps going.
using BlobReader = std::function<std::optional<std::string>(const Digest&)>;

struct MarkResult {
    std::set<Digest> reachable;          // every digest referenced from a root (present or not)
    std::set<Digest> missing;            // index/manifest documents the reader did not have
    std::vector<std::string> problems;   // unreadable / invalid documents, naming the digest
};

// Pure: walks descriptors by media type. Index and manifest documents are read through
// `read`; config and layer blobs are only marked (never read).
MarkResult mark(const std::vector<Descriptor>& roots, const BlobReader& read);

struct GcOptions {
    std::vector<Digest> extra_roots;                 // kept as they are (e.g. cache-record layers)
    std::vector<Descriptor> extra_root_descriptors;  // walked like refs
    // Called under the exclusive lock (so nothing can add a record in between): more roots,
    // e.g. the layers of the build-cache records that are kept.
    std::function<std::vector<Digest>(const Store&)> extra_roots_hook;
    bool dry_run = false;
};

struct GcResult {
    std::vector<std::pair<Digest, uint64_t>> removed;  // digest, size
    uint64_t bytes_freed = 0;
    size_t ingest_files_removed = 0;  // abandoned partial writes (a crashed writer's)
    uint64_t ingest_bytes_freed = 0;
};

// The roots of a store: every descriptor in its index.json.
std::vector<Descriptor> store_roots(const Store& store);
// A BlobReader over the store (verifying, capped at kMaxManifestBytes).
BlobReader store_reader(const Store& store);

// Mark from the store's refs (+ options' extra roots) and sweep the rest, holding the
// store's exclusive lock. Refuses (FailedPrecondition) when a root's closure is unreadable,
// since what it references is then unknown.
GcResult collect_garbage(Store& store, const GcOptions& opts = {});

}  // namespace cas
