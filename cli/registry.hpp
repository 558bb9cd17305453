// Command registration for the imgbuild CLI. Each cli/cmd_*.cpp defines
//   static cli::Registrar reg("name", [](CLI::App& app, cli::Globals& g) { ... });
// which adds its subcommand to the app. Command callbacks fail with sys::fail on failure;
// main() prints "imgbuild: <message>" and maps the code to the exit status
// (sys::Error -> 1, Code::Internal and CLI usage errors -> 2). A command that must
// return another status (run: the container's; diff: 1 for "different") sets g.exit_code.
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <string>

#include "cli/config.hpp"

namespace cli {

struct Globals {
    std::string root;         // resolved store root (after --root, IMGBUILD_ROOT, config, default)
    std::string config_path;  // --config
    std::string log_level = "info";
    Config config;
    int exit_code = 0;
};

using RegisterFn = std::function<void(CLI::App&, Globals&)>;

struct Registrar {
    Registrar(const char* name, RegisterFn fn);
};

// Names of all registered subcommands (used to detect the bare `imgbuild -f Buildfile .` form).
bool is_command(const std::string& name);
// Adds the subcommands to app: only `only` when it names one (the command line names its
// command before parsing, so the other ~20 commands' options are not built: every process
// start paid for them), else all of them (top-level --help, a missing or unknown command).
void register_commands(CLI::App& app, Globals& g, const std::string& only);

}  // namespace cli
