// Registry parts of `imgbuild build`: base images pulled per --pull, and --push /
// --output type=registry,name=REF after the build.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "builder/solver.hpp"
#include "cli/registry.hpp"

namespace cli {

struct ResolvedBases {
    std::mutex mu;
    std::map<std::string, std::string> digests;  // reference as written -> resolved manifest digest
};

// --pull missing|always|never: missing pulls an image the store lacks, always re-resolves
// registry references (pulling what changed), never uses the store only.
std::function<cas::Image(cas::Store&, const std::string&)> make_base_resolver(const Globals& g, const std::string& policy,
                                                                             std::shared_ptr<ResolvedBases> rec);

// Splits type=registry,name=REF[,push=true] off the --output list; returns the names to push.
std::vector<std::string> take_registry_outputs(std::vector<std::string>& outputs);

// Defined in cmd_push.cpp.
cas::Digest push_image(const Globals& g, cas::Store& store, const cas::Image& im, const std::string& dest,
                       const std::string& compression, int retries, uint64_t chunk_size = 0);

}  // namespace cli
