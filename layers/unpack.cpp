#include "layers/unpack.hpp"

#include <unistd.h>

#include <random>

#include "sys/error.hpp"

namespace layers {

static std::string temp_key(const std::string& key) {
    std::random_device rd;
    return "extract-" + std::to_string(::getpid()) + "-" + std::to_string(rd()) + "-" + key;
}

std::string ensure_unpacked(cas::Store& store, Snapshotter& snapshots, const std::vector<cas::Digest>& layer_blobs,
                            const std::vector<cas::Digest>& diff_ids, const ApplyLimits& limits) {
    if (layer_blobs.size() != diff_ids.size())
        sys::fail(sys::Code::InvalidInput, "unpack: " + std::to_string(layer_blobs.size()) + " layers but " +
                                                      std::to_string(diff_ids.size()) + " diff_ids");
    if (diff_ids.empty()) sys::fail(sys::Code::InvalidInput, "unpack: no layers");
    std::string parent;
    std::vector<cas::Digest> prefix;
    for (size_t i = 0; i < diff_ids.size(); i++) {
        prefix.push_back(diff_ids[i]);
        std::string key = chain_id(prefix).str();
        if (auto info = snapshots.stat(key)) {
            if (info->kind != SnapshotInfo::Kind::Committed)
                sys::fail(sys::Code::FailedPrecondition, "unpack: snapshot " + key + " exists but is not committed");
            parent = key;
            continue;
        }
        std::string tmp = temp_key(key);
        snapshots.prepare(tmp, parent, {{"imgbuild.layer", layer_blobs[i].str()}});
        try {
            apply_layer(store, layer_blobs[i], snapshots.upper_dir(tmp), diff_ids[i], limits);
            snapshots.commit(key, tmp);
        } catch (const sys::Error& e) {
            try {
                snapshots.remove(tmp);
            } catch (const sys::Error&) {
            }
            if (e.code() != sys::Code::AlreadyExists || !snapshots.stat(key)) throw;
            // Another process committed the same chain first: use theirs.
        }
        parent = key;
    }
    return parent;
}

}  // namespace layers
