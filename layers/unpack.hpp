// Unpacking image layers into shared committed snapshots named by chain ID.
#pragma once
#include <string>
#include <vector>

#include "cas/digest.hpp"
#include "cas/store.hpp"
#include "layers/layer.hpp"
#include "layers/snapshotter.hpp"

namespace layers {

// For each prefix of the chain whose committed snapshot chain_id(prefix) is missing,
// extract that layer into a fresh snapshot (diff_id verified, whiteouts in overlay form)
// and commit it with the previous chain as parent. Safe against a concurrent unpack of the
// same chain (losing the commit race is success). A failed layer leaves nothing behind.
// Returns the key of the top snapshot (chain_id(diff_ids).str()).
std::string ensure_unpacked(cas::Store& store, Snapshotter& snapshots, const std::vector<cas::Digest>& layer_blobs,
                            const std::vector<cas::Digest>& diff_ids, const ApplyLimits& limits = {});

}  // namespace layers
