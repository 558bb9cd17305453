// Registry options for the commands that talk to registries (pull, push, login, build).
#pragma once
#include "cli/registry.hpp"
#include "registry/client.hpp"

namespace cli {

// --authfile, --insecure-registry (plus the config's insecure_registries), --ca HOST=FILE;
// progress lines go to stderr.
registry::Options registry_options(const Globals& g, int retries = 3);

}  // namespace cli
