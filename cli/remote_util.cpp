#include "cli/remote_util.hpp"

#include <cstdio>

#include "sys/error.hpp"

namespace cli {

registry::Options registry_options(const Globals& g, int retries) {
    registry::Options o;
    o.auth.authfile = g.authfile;
    for (auto& h : g.config.insecure_registries) o.insecure.insert(h);
    for (auto& h : g.insecure_registries) o.insecure.insert(h);
    for (auto& c : g.ca) {
        auto eq = c.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == c.size())
            throw sys::Error(sys::Code::InvalidInput, "--ca " + c + ": expected HOST:PORT=FILE");
        o.ca_files[c.substr(0, eq)] = c.substr(eq + 1);
    }
    o.retries = retries;
    if (g.log_level != "error" && g.log_level != "warn")
        o.log = [](const std::string& s) { std::fprintf(stderr, "%s\n", s.c_str()); };
    return o;
}

}  // namespace cli
