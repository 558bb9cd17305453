#include "cli/registry.hpp"

#include <map>

namespace cli {

static std::map<std::string, RegisterFn>& registry() {
    static std::map<std::string, RegisterFn> r;
    return r;
}

Registrar::Registrar(const char* name, RegisterFn fn) { registry().emplace(name, std::move(fn)); }

bool is_command(const std::string& name) { return registry().count(name) > 0; }

void register_all(CLI::App& app, Globals& g) {
    for (auto& [name, fn] : registry()) fn(app, g);
}

}  // namespace cli
