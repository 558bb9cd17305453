#include "cli/remote_util.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdio>

#include "sys/error.hpp"
#include "sys/fs.hpp"

namespace cli {

RegistryFlags& registry_flags() {
    static RegistryFlags f;
    return f;
}

namespace {

// `insecure_registries: [HOST:PORT, ...]` from the config file (validated by load_config).
std::vector<std::string> config_insecure(const Globals& g) {
    std::string path = g.config_path.empty() ? "/etc/imgbuild/config.yaml" : g.config_path;
    std::vector<std::string> out;
    if (!sys::exists(path)) return out;
    try {
        YAML::Node root = YAML::Load(sys::read_file(path, 1 << 20));
        if (root.IsMap() && root["insecure_registries"])
            for (const auto& h : root["insecure_registries"]) out.push_back(h.as<std::string>());
    } catch (const YAML::Exception& e) {
        sys::fail(sys::Code::InvalidInput, path + ": insecure_registries: " + e.what());
    }
    return out;
}

}  // namespace

registry::Options registry_options(const Globals& g, int retries) {
    const RegistryFlags& f = registry_flags();
    registry::Options o;
    o.auth.authfile = f.authfile;
    for (auto& h : config_insecure(g)) o.insecure.insert(h);
    for (auto& h : f.insecure) o.insecure.insert(h);
    for (auto& c : f.ca) {
        auto eq = c.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == c.size())
            sys::fail(sys::Code::InvalidInput, "--ca " + c + ": expected HOST:PORT=FILE");
        o.ca_files[c.substr(0, eq)] = c.substr(eq + 1);
    }
    o.retries = retries;
    if (f.max_concurrent > 0) o.max_concurrent = f.max_concurrent;
    else if (g.config.max_concurrent_transfers > 0) o.max_concurrent = g.config.max_concurrent_transfers;
    if (g.log_level != "error" && g.log_level != "warn")
        o.log = [](const std::string& s) { std::fprintf(stderr, "%s\n", s.c_str()); };
    return o;
}

}  // namespace cli
