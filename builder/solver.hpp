// The build solver: Buildfile + context -> image in the store. Walks the stages the target
// needs (independent stages in parallel), runs each RUN in a container over an overlay of
// the parent's snapshot, turns the upper dir into a layer, and caches every step by a pure
// key (builder/cache.hpp). COPY/ADD go through builder/context.hpp and builder/copy.hpp.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "builder/cache.hpp"
#include "builder/progress.hpp"
#include "cas/image.hpp"
#include "cas/oci.hpp"
#include "cas/store.hpp"
#include "layers/layer.hpp"
#include "runtime/spec.hpp"

namespace builder {

struct SecretSpec {
    std::string id;
    std::string src;  // file
    std::string env;  // or environment variable
};
// "id=ID,src=PATH" | "id=ID,env=VAR" (docker buildx syntax; type=file|env accepted).
SecretSpec parse_secret_spec(const std::string& text);

struct OutputSpec {
    std::string type;  // oci | docker | local
    std::string dest;
    // local: keep the image's uid/gid (default: files belong to the invoking user,
    // $SUDO_UID/$SUDO_GID under sudo). setuid/setgid bits, file capabilities and device
    // nodes are never written to the host.
    bool preserve_owner = false;
};
// "type=oci,dest=x.tar" | "type=docker,dest=x.tar" | "type=local,dest=dir[,preserve-owner=true]"
// | "dir" (local).
OutputSpec parse_output_spec(const std::string& text);

}  // namespace builder
namespace context {
class StatCacheSet;
}
namespace builder {

struct BuildOptions {
    std::string context_dir;
    std::string buildfile;  // path; empty = CONTEXT/Buildfile, then CONTEXT/Dockerfile
    std::vector<std::string> tags;
    std::map<std::string, std::string> build_args;
    std::string target;
    bool no_cache = false;
    std::vector<OutputSpec> outputs;
    std::vector<SecretSpec> secrets;
    runtime::Network network = runtime::Network::None;
    // Entitlements the person running the build granted (--allow, config `allow:`):
    // "network.host" (RUN --network=host), "security.insecure" (RUN --security=insecure).
    // A Buildfile (or its base image's ONBUILD) asking for one that is not here fails.
    std::set<std::string> allow;
    runtime::Limits limits;
    int jobs = 0;  // 0 = all independent stages at once
    layers::Compression export_compression = layers::Compression::Gzip;
    std::optional<int64_t> source_date_epoch;
    // Compute keys and report hits/misses (with the reason for each miss) without running
    // anything (`imgbuild cache explain`).
    bool explain_only = false;
    // Resolves a FROM / COPY --from / RUN --mount from image reference (the CLI pulls from a
    // registry per --pull); default: the store only. Called from several stages at once.
    std::function<cas::Image(cas::Store&, const std::string&)> resolve_image;
    // Consulted on a local cache miss (--cache-from): a record whose layer is now in the store.
    std::function<std::optional<CacheRecord>(const cas::Digest&)> remote_cache;
    // Named contexts (`imgbuild bake` contexts: {NAME: "target:X"}): an image reference NAME in
    // FROM, COPY --from or RUN --mount from= that is not a stage is this image already in the
    // store (its manifest digest) instead of a lookup by name.
    std::map<std::string, cas::Digest> named_contexts;
    // Labels added to the final image's config (later than the Buildfile's LABELs).
    std::map<std::string, std::string> labels;
    // Context stat caches shared with the other builds of this process (`imgbuild bake`:
    // targets with the same context hash each file once). Unset: this build's own.
    std::shared_ptr<context::StatCacheSet> statcaches;
};

struct StepReport {
    int id = 0;
    std::string stage;        // stage name or index
    std::string instruction;  // "RUN make" as written
    std::string location;     // "Buildfile:12"
    bool cached = false;
    bool ran = false;         // a RUN/COPY that executed (not a metadata step)
    int64_t duration_ms = 0;
    uint64_t layer_size = 0;
    std::string layer;        // layer digest, if any
    std::string cache_key;
    std::string miss_reason;  // for a miss: what differs from the previous build of this step
    uint64_t peak_memory_bytes = 0;
    uint64_t cpu_ns = 0;
};

struct BuildResult {
    cas::Descriptor manifest;
    cas::Digest config_digest = cas::Digest::of("");
    std::vector<std::string> tags;
    std::vector<StepReport> steps;
};

BuildResult build(cas::Store& store, const BuildOptions& opts, Progress& progress);

// Known entitlement names for --allow; throws InvalidInput naming `what` for any other.
void check_entitlement_name(const std::string& name, const std::string& what);

// Ctrl-C / SIGTERM during a build: forwards the signal to the running RUN containers (their
// step then fails) and makes the solver stop before the next step. Installs the handlers.
void install_build_signal_handlers();

// Resolve -f / CONTEXT into the Buildfile path (CONTEXT/Buildfile, then CONTEXT/Dockerfile).
std::string find_buildfile(const std::string& context_dir, const std::string& flag);

}  // namespace builder
