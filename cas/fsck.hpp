// Store consistency check: re-hash every blob, check each ref's closure is present and
// valid, and report problems naming digests.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "cas/store.hpp"

namespace cas {

struct FsckReport {
    std::vector<std::string> problems;  // each names the blob/ref concerned
    uint64_t blobs_checked = 0;
    uint64_t bytes_checked = 0;
    uint64_t refs_checked = 0;
    uint64_t partial_ingests = 0;  // leftovers of interrupted writes (harmless; prune removes them)
    bool ok() const { return problems.empty(); }
};

// Re-hash a blob by streaming it; returns the digest of its content.
Digest hash_blob(const Store& store, const Digest& d);

FsckReport fsck(const Store& store);

}  // namespace cas
