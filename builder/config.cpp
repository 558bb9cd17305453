#include "builder/config.hpp"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cmath>
#include <set>

#include "sys/error.hpp"
#include "sys/fs.hpp"

namespace builder {

using sys::Code;
using sys::Error;

uint64_t parse_size(const std::string& text, const std::string& what) {
    size_t i = 0;
    while (i < text.size() && (std::isdigit((unsigned char)text[i]) || text[i] == '.')) i++;
    if (i == 0) throw Error(Code::InvalidInput, what + ": invalid size \"" + text + "\"");
    double v;
    try {
        v = std::stod(text.substr(0, i));
    } catch (...) {
        throw Error(Code::InvalidInput, what + ": invalid size \"" + text + "\"");
    }
    std::string unit = text.substr(i);
    for (auto& c : unit) c = char(std::tolower((unsigned char)c));
    if (!unit.empty() && unit.back() == 'b') unit.pop_back();
    if (!unit.empty() && unit.back() == 'i') unit.pop_back();
    double mul = 1;
    if (unit == "") mul = 1;
    else if (unit == "k") mul = 1024.0;
    else if (unit == "m") mul = 1024.0 * 1024;
    else if (unit == "g") mul = 1024.0 * 1024 * 1024;
    else if (unit == "t") mul = 1024.0 * 1024 * 1024 * 1024;
    else throw Error(Code::InvalidInput, what + ": invalid size unit in \"" + text + "\"");
    return uint64_t(std::llround(v * mul));
}

int64_t parse_duration_ms(const std::string& text, const std::string& what) {
    size_t i = 0;
    while (i < text.size() && (std::isdigit((unsigned char)text[i]) || text[i] == '.')) i++;
    if (i == 0) throw Error(Code::InvalidInput, what + ": invalid duration \"" + text + "\"");
    double v = std::stod(text.substr(0, i));
    std::string unit = text.substr(i);
    double mul;
    if (unit == "" || unit == "s") mul = 1000;
    else if (unit == "ms") mul = 1;
    else if (unit == "m") mul = 60e3;
    else if (unit == "h") mul = 3600e3;
    else if (unit == "d") mul = 86400e3;
    else throw Error(Code::InvalidInput, what + ": invalid duration unit in \"" + text + "\"");
    return int64_t(std::llround(v * mul));
}

static void check_keys(const YAML::Node& n, const std::set<std::string>& allowed, const std::string& prefix,
                       const std::string& file) {
    if (!n.IsMap()) throw Error(Code::InvalidInput, file + ": " + (prefix.empty() ? "top level" : prefix) + " must be a mapping");
    for (const auto& kv : n) {
        std::string k = kv.first.as<std::string>();
        if (!allowed.count(k)) throw Error(Code::InvalidInput, file + ": unknown key \"" + prefix + k + "\"");
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
        throw Error(Code::InvalidInput, path + ": " + e.what());
    }
    if (root.IsNull()) return c;
    check_keys(root, {"root", "run", "compression", "gc"}, "", path);
    try {
        if (root["root"]) c.root = root["root"].as<std::string>();
        if (root["compression"]) {
            c.compression = root["compression"].as<std::string>();
            if (c.compression != "gzip" && c.compression != "zstd" && c.compression != "none")
                throw Error(Code::InvalidInput, path + ": compression must be gzip, zstd or none");
        }
        if (auto r = root["run"]) {
            check_keys(r, {"memory", "cpus", "pids_limit"}, "run.", path);
            if (r["memory"]) c.memory_bytes = parse_size(r["memory"].as<std::string>(), path + ": run.memory");
            if (r["cpus"]) c.cpus = r["cpus"].as<double>();
            if (r["pids_limit"]) c.pids_limit = r["pids_limit"].as<int64_t>();
        }
        if (auto g = root["gc"]) {
            check_keys(g, {"keep_storage", "keep_duration"}, "gc.", path);
            if (g["keep_storage"]) c.gc_keep_storage = parse_size(g["keep_storage"].as<std::string>(), path + ": gc.keep_storage");
            if (g["keep_duration"])
                c.gc_keep_duration_s = parse_duration_ms(g["keep_duration"].as<std::string>(), path + ": gc.keep_duration") / 1000;
        }
    } catch (const YAML::Exception& e) {
        throw Error(Code::InvalidInput, path + ": " + e.what());
    }
    return c;
}

}  // namespace builder
