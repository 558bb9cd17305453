// Leases on snapshots: a process that uses snapshots for its whole life (`imgbuild run`) holds
// a lease file under <root>/locks/leases with the keys it uses, flock'ed shared while it
// lives. prune keeps leased snapshots (and their parents); a lease whose owner died (nobody
// holds the lock) is stale and removed.
#pragma once
#include <set>
#include <string>
#include <vector>

#include "cas/store.hpp"
#include "sys/fd.hpp"

namespace layers {

class SnapshotLease {
public:
    // Publishes the lease atomically (written, locked, then renamed into place): a reader
    // sees all of `keys` or no lease. Call with the store's shared lock held, so that prune
    // cannot remove the snapshots between their creation and the lease.
    SnapshotLease(const cas::Store& store, const std::vector<std::string>& keys);
    SnapshotLease(const SnapshotLease&) = delete;
    SnapshotLease& operator=(const SnapshotLease&) = delete;
    ~SnapshotLease();  // removes the file, then drops the lock

    // Keys of every live lease; stale lease files are deleted on the way.
    static std::set<std::string> live_keys(const cas::Store& store);

private:
    std::string path_;
    sys::UniqueFd fd_;
};

}  // namespace layers
