// Remote build cache for `imgbuild build`:
//   --cache-to type=registry,ref=R[,mode=min|max][,compression=gzip|zstd][,ignore-error=true] | type=local,dest=DIR
//   --cache-from type=registry,ref=R | type=local,src=DIR | R   (repeatable, tried in order)
// Format: one OCI image manifest with artifactType and config mediaType
// application/vnd.imgbuild.cache.v1+json; the config lists records (step cache key -> layer
// descriptor, diff_id, created) and the manifest's layers are the layer blobs. Only the manifest
// and config are fetched up front; a layer is downloaded on a hit only.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "builder/solver.hpp"
#include "cli/registry.hpp"

namespace cli {

inline constexpr const char* kCacheMediaType = "application/vnd.imgbuild.cache.v1+json";

struct CacheSpec {
    std::string type;  // registry | local
    std::string ref;   // registry ref, or the directory
    bool max = false;  // mode=max
    bool ignore_error = false;
    std::string compression;  // --cache-to compression=gzip|zstd|none ("" = as stored)
};
CacheSpec parse_cache_spec(const std::string& text, bool to);

class RemoteCache {
public:
    // Reads each source's manifest + config (a source that cannot be read is skipped with a warning).
    RemoteCache(const Globals& g, cas::Store& store, const std::vector<std::string>& from, bool explain_only);
    // For BuildOptions::remote_cache.
    std::optional<builder::CacheRecord> lookup(const cas::Digest& key);
    // Where a key was found ("" if not from a remote cache).
    std::string source_of(const std::string& key) const;

private:
    struct Source {
        CacheSpec spec;
        std::map<std::string, builder::CacheRecord> records;
    };
    // Into the store (a compressed export is stored uncompressed); returns the local layer.
    builder::LayerRef fetch_layer(const Source& s, const builder::LayerRef& l);
    const Globals& g_;
    cas::Store& store_;
    bool explain_only_;
    std::vector<Source> sources_;
    mutable std::mutex mu_;
    std::map<std::string, std::string> hits_;
    std::set<std::string> refused_;  // "source@layer digest" that failed verification
    cas::LayerBudget spent_;         // by the layers fetched so far: the import cap binds them all
};

// Export the records of the build's steps (mode=min: the final stage's) to each --cache-to.
void export_cache(const Globals& g, cas::Store& store, const builder::BuildResult& r, const std::vector<std::string>& to);

}  // namespace cli
