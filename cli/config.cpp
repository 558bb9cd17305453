#include "cli/config.hpp"

#include <yaml-cpp/yaml.h>

#include <set>

#include "builder/solver.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/units.hpp"

namespace cli {

cas::LayerCaps Config::import_caps() const {
    cas::LayerCaps caps;
    if (import_max_uncompressed) caps.max_total_bytes = import_max_uncompressed;
    if (import_max_ratio) caps.max_ratio = import_max_ratio;
    if (import_ratio_min) caps.ratio_min_bytes = import_ratio_min;
    return caps;
}

using sys::Code;
using sys::Error;
using sys::parse_duration_ms;
using sys::parse_size;

static void check_keys(const YAML::Node& n, const std::set<std::string>& allowed, const std::string& prefix,
                       const std::string& file) {
    if (!n.IsMap()) sys::fail(Code::InvalidInput, file + ": " + (prefix.empty() ? "top level" : prefix) + " must be a mapping");
    for (const auto& kv : n) {
        std::string k = kv.first.as<std::string>();
        if (!allowed.count(k)) sys::fail(Code::InvalidInput, file + ": unknown key \"" + prefix + k + "\"");
    }
}

Config load_config(const std::string& path, bool required) {
    Config c;
    if (!required && !sys::exists(path)) return c;
    std::string text = sys::read_file(path, 1 << 20);
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        sys::fail(Code::InvalidInput, path + ": " + e.what());
    }
    if (root.IsNull()) return c;
    check_keys(root, {"root", "run", "compression", "gc", "allow", "insecure_registries", "import",
                      "max_concurrent_transfers"}, "", path);
    try {
        if (root["root"]) c.root = root["root"].as<std::string>();
        if (root["compression"]) {
            c.compression = root["compression"].as<std::string>();
            if (c.compression != "gzip" && c.compression != "zstd" && c.compression != "none")
                sys::fail(Code::InvalidInput, path + ": compression must be gzip, zstd or none");
        }
        if (auto a = root["allow"]) {
            if (!a.IsSequence()) sys::fail(Code::InvalidInput, path + ": allow must be a list (e.g. [network.host])");
            for (const auto& v : a) {
                std::string e = v.as<std::string>();
                builder::check_entitlement_name(e, path + ": allow");
                c.allow.push_back(e);
            }
        }
        if (auto r = root["run"]) {
            check_keys(r, {"memory", "cpus", "pids_limit"}, "run.", path);
            if (r["memory"]) c.memory_bytes = parse_size(r["memory"].as<std::string>(), path + ": run.memory");
            if (r["cpus"]) c.cpus = r["cpus"].as<double>();
            if (r["pids_limit"]) c.pids_limit = r["pids_limit"].as<int64_t>();
        }
        // Read by the registry commands (cli/remote_util.cpp); validated here.
        if (auto ir = root["insecure_registries"])
            for (const auto& h : ir) (void)h.as<std::string>();
        if (auto m = root["max_concurrent_transfers"]) {
            c.max_concurrent_transfers = m.as<int>();
            if (c.max_concurrent_transfers < 1 || c.max_concurrent_transfers > 64)
                sys::fail(Code::InvalidInput, path + ": max_concurrent_transfers must be 1 to 64");
        }
        if (auto g = root["gc"]) {
            check_keys(g, {"keep_storage", "keep_duration"}, "gc.", path);
            if (g["keep_storage"]) c.gc_keep_storage = parse_size(g["keep_storage"].as<std::string>(), path + ": gc.keep_storage");
            if (g["keep_duration"])
                c.gc_keep_duration_s = parse_duration_ms(g["keep_duration"].as<std::string>(), path + ": gc.keep_duration") / 1000;
        }
        if (auto im = root["import"]) {
            check_keys(im, {"max_uncompressed", "max_ratio", "ratio_min"}, "import.", path);
            if (im["max_uncompressed"])
                c.import_max_uncompressed = parse_size(im["max_uncompressed"].as<std::string>(), path + ": import.max_uncompressed");
            if (im["max_ratio"]) {
                c.import_max_ratio = im["max_ratio"].as<uint64_t>();
                if (c.import_max_ratio == 0) sys::fail(Code::InvalidInput, path + ": import.max_ratio must be at least 1");
            }
            if (im["ratio_min"]) c.import_ratio_min = parse_size(im["ratio_min"].as<std::string>(), path + ": import.ratio_min");
        }
    } catch (const YAML::Exception& e) {
        sys::fail(Code::InvalidInput, path + ": " + e.what());
    }
    return c;
}

}  // namespace cli
