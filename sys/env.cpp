#include "sys/env.hpp"

namespace sys {

std::pair<std::string, std::string> split_kv(std::string_view kv) {
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) return {std::string(kv), std::string()};
    return {std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1))};
}

std::string env_key(std::string_view kv) { return std::string(kv.substr(0, kv.find('='))); }

bool env_has(const std::vector<std::string>& env, std::string_view key) {
    for (const auto& e : env)
        if (env_key(e) == key) return true;
    return false;
}

void env_set(std::vector<std::string>& env, const std::string& key, const std::string& value) {
    for (auto& e : env)
        if (env_key(e) == key) {
            e = key + "=" + value;
            return;
        }
    env.push_back(key + "=" + value);
}

std::map<std::string, std::string> env_map(const std::vector<std::string>& env) {
    std::map<std::string, std::string> m;
    for (const auto& e : env) {
        auto [k, v] = split_kv(e);
        m[k] = v;
    }
    return m;
}

}  // namespace sys
