// Registry options for the commands that talk to registries (pull, push, login, build).
#pragma once
#include <string>
#include <vector>

#include "cli/registry.hpp"
#include "registry/client.hpp"

namespace cli {

// Global flags: --authfile F, --insecure-registry HOST:PORT..., --ca HOST:PORT=FILE...
struct RegistryFlags {
    std::string authfile;
    std::vector<std::string> insecure;
    std::vector<std::string> ca;
};
RegistryFlags& registry_flags();

// The flags plus the config file's `insecure_registries:`; progress lines go to stderr.
registry::Options registry_options(const Globals& g, int retries = 3);

}  // namespace cli
