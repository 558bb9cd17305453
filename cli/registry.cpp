#include "cli/registry.hpp"

#include <map>

namespace cli {

static std::map<std::string, RegisterFn>& registry() {
    static std::map<std::string, RegisterFn> r;
    return r;
}

Registrar::Registrar(const char* name, RegisterFn fn) { registry().emplace(name, std::move(fn)); }

bool is_command(const std::string& name) { return registry().count(name) > 0; }

void register_commands(CLI::App& app, Globals& g, const std::string& only) {
    auto& r = registry();
    if (auto it = r.find(only); it != r.end()) {
        it->second(app, g);
        return;
    }
    for (auto& [name, fn] : r) fn(app, g);
}

}  // namespace cli
