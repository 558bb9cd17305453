// Build cache: step keys (pure) and records (in the store, beside the blobs).
//
// A step's key is sha256 over the canonical JSON of {"v": kCacheVersion, ...inputs}: the
// parent's key (or the base image's manifest digest), the normalized instruction and flags,
// env/args in scope, user, workdir, shell, mount specs (never secret contents), and for
// COPY/ADD the content digest of the selected files. Records live in
// <store>/cache/records/<hex>.json so a hit works across processes and restarts.
// Per-step "last inputs" records (<store>/cache/steps/) let `cache explain` name the first
// input that differs after a miss.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cas/digest.hpp"
#include "cas/store.hpp"

namespace builder {

// 2: ADD extracts only archives it names (not those inside a named directory), WORKDIR makes
// the cleaned path, FROM scratch starts with PATH and WorkingDir "/" -- same inputs, other layers.
// 3: a RUN sees BuildKit's /etc/hosts and /etc/resolv.conf (what it writes from them, `ls /etc`,
// `rm -rf /etc` failing), and its layer no longer holds directories copied up for mount stubs.
//    COPY/ADD onto an existing symlink writes through it (BuildKit) instead of replacing the link.
// 4: below a COPY's destination no name is followed (a directory onto a symlink or file fails);
// ADD's tar entries replace what is in their way (a symlink, a directory); hard links are kept
// within one source (or wildcard match) only -- other layers.
inline constexpr int kCacheVersion = 4;

// The key of a step from its inputs (an object; canonical = sorted keys, compact).
cas::Digest cache_key(const nlohmann::json& inputs);

struct LayerRef {
    cas::Digest digest;   // blob in the store
    cas::Digest diff_id;  // uncompressed
    uint64_t size = 0;
    std::string media_type;
};
nlohmann::json to_json(const LayerRef& l);
LayerRef layer_from_json(const nlohmann::json& j);

struct CacheRecord {
    cas::Digest key;
    std::optional<LayerRef> layer;  // nullopt: the step changed no files (empty layer)
    std::string created_by;         // history text
    std::string step;               // "Buildfile:5 RUN make" for listings
    int64_t created = 0;            // unix seconds
    int64_t last_used = 0;
    int64_t hits = 0;
    int64_t duration_ms = 0;        // how long the step took when it ran
};

class Cache {
public:
    explicit Cache(const cas::Store& store);
    // A record whose layer blob is missing from the store is treated as absent.
    std::optional<CacheRecord> lookup(const cas::Digest& key) const;
    void put(const CacheRecord& rec);
    // Count a hit (not fsynced: usage stats may be lost in a crash, the record itself not).
    // Count a hit and note the time of use; a no-op when the record was used within the last
    // kTouchGranularity_s (so cached rebuilds write nothing).
    void touch(CacheRecord& rec);
    static constexpr int64_t kTouchGranularity_s = 3600;
    std::vector<CacheRecord> list() const;
    void remove(const cas::Digest& key);

    // "Last inputs" of a step identity (e.g. context + Buildfile + stage + index), for explain.
    std::optional<nlohmann::json> last_inputs(const std::string& step_id) const;
    void save_inputs(const std::string& step_id, const nlohmann::json& inputs);

private:
    const cas::Store& store_;
};

// For a miss: describe the first difference between the inputs of this build and the last
// recorded ones: e.g. `file "src/app.c" changed`, `build-arg VERSION changed ("1" -> "2")`,
// `instruction changed`, `parent step changed`. Empty when equal.
std::string explain_difference(const nlohmann::json& previous, const nlohmann::json& current);

}  // namespace builder
