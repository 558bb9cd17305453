// imgbuild's optional YAML config (/etc/imgbuild/config.yaml or --config FILE): defaults for
// the store root, RUN limits, compression and GC policy. Unknown keys are an error naming the
// key and the file.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cas/layer_verify.hpp"

namespace cli {

struct Config {
    std::string root;                  // empty: built-in default
    // Default limits for RUN steps and `imgbuild run` (0 / empty = none).
    uint64_t memory_bytes = 0;
    double cpus = 0;
    int64_t pids_limit = 0;
    std::string compression = "gzip";  // for export: gzip | zstd | none
    // GC policy applied after builds.
    uint64_t gc_keep_storage = 0;      // 0 = no size cap
    int64_t gc_keep_duration_s = 0;    // 0 = keep forever
    // Entitlements granted to every build (`allow: [network.host]`), as with --allow.
    std::vector<std::string> allow;
    // Caps on layers from outside (cas::LayerCaps): `import`, `pull` and `--cache-from`; 0 = the
    // built-in default.
    uint64_t import_max_uncompressed = 0;
    uint64_t import_max_ratio = 0;
    uint64_t import_ratio_min = 0;
    cas::LayerCaps import_caps() const;
    // Blob transfers at once per registry (pull, push, build, bake); 0 = the default (3).
    int max_concurrent_transfers = 0;
};

// Load from `path`. If `required` is false and the file does not exist, returns defaults.
Config load_config(const std::string& path, bool required);

}  // namespace cli
