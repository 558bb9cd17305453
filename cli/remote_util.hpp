// Registry options for the commands that talk to registries (pull, push, login, build).
#pragma once
#include <string>
#include <vector>

#include "cli/registry.hpp"
#include "registry/client.hpp"

namespace cli {

// Global flags: --authfile F, --insecure-registry HOST:PORT..., --ca HOST:PORT=FILE...,
// --max-concurrent-transfers N
struct RegistryFlags {
    std::string authfile;
    int max_concurrent = 0;  // 0: the config file's max_concurrent_transfers, else 3
    std::vector<std::string> insecure;
    std::vector<std::string> ca;
};
RegistryFlags& registry_flags();

// The flags plus the config file's `insecure_registries:` and `max_concurrent_transfers:`;
// progress lines go to stderr.
registry::Options registry_options(const Globals& g, int retries = 3);

}  // namespace cli
