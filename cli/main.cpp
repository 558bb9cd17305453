// imgbuild entry point: global options, config, command dispatch, error -> exit status.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <map>
#include <vector>

#include "cli/registry.hpp"
#include "runtime/cgroup.hpp"
#include "cli/remote_util.hpp"
#include "sys/error.hpp"

namespace {

// `imgbuild [globals] -f Buildfile .` means `imgbuild [globals] build -f Buildfile .`:
// if the first argument after the global options is not a command, insert "build".
// `command` is set to the command the line names ("" when it names none: --help, --version).
std::vector<std::string> normalize_args(int argc, char** argv, std::string& command) {
    std::vector<std::string> args(argv + 1, argv + argc);
    size_t i = 0;
    while (i < args.size()) {
        const std::string& a = args[i];
        if (a == "--root" || a == "--config" || a == "--log-level" || a == "--authfile" || a == "--insecure-registry" ||
            a == "--ca" || a == "--max-concurrent-transfers") {
            i += 2;
            continue;
        }
        if (a.rfind("--root=", 0) == 0 || a.rfind("--config=", 0) == 0 || a.rfind("--log-level=", 0) == 0 ||
            a.rfind("--authfile=", 0) == 0 || a.rfind("--insecure-registry=", 0) == 0 || a.rfind("--ca=", 0) == 0 ||
            a.rfind("--max-concurrent-transfers=", 0) == 0) {
            i++;
            continue;
        }
        break;
    }
    if (i < args.size()) {
        const std::string& a = args[i];
        bool help = a == "-h" || a == "--help" || a == "--version";
        if (!help && !cli::is_command(a)) args.insert(args.begin() + long(i), "build");
        if (!help) command = args[i];
    }
    return args;
}

std::string default_root() {
    if (::geteuid() == 0) return "/var/lib/imgbuild";
    if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return std::string(x) + "/imgbuild";
    if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.local/share/imgbuild";
    return "/tmp/imgbuild-" + std::to_string(::geteuid());
}

}  // namespace

int main(int argc, char** argv) {
    cli::Globals g;
    CLI::App app{"imgbuild: a daemonless OCI image builder and layer store", "imgbuild"};
    app.set_version_flag("--version", "imgbuild 0.1.0");
    app.require_subcommand(1);
    app.fallthrough();
    std::string root_opt;
    app.add_option("--root", root_opt, "store directory (env IMGBUILD_ROOT; default /var/lib/imgbuild as root)");
    app.add_option("--config", g.config_path, "YAML config file (default /etc/imgbuild/config.yaml if present)");
    app.add_option("--log-level", g.log_level, "debug|info|warn|error")->check(CLI::IsMember({"debug", "info", "warn", "error"}));

    cli::RegistryFlags& rf = cli::registry_flags();
    app.add_option("--authfile", rf.authfile, "registry credentials file (env REGISTRY_AUTH_FILE)");
    app.add_option("--insecure-registry", rf.insecure, "HOST:PORT reached over http or unverified TLS (repeatable)");
    app.add_option("--ca", rf.ca, "HOST:PORT=FILE: extra trusted CA certificate for a registry (repeatable)");
    app.add_option("--max-concurrent-transfers", rf.max_concurrent,
                   "blob transfers at once per registry: pull, push, build, bake (default 3; config max_concurrent_transfers)")
        ->check(CLI::Range(1, 64));

    // Resolve config and root before any command callback runs.
    app.parse_complete_callback([&] {
        bool required = !g.config_path.empty();
        std::string path = required ? g.config_path : "/etc/imgbuild/config.yaml";
        g.config = cli::load_config(path, required);
        if (!root_opt.empty()) g.root = root_opt;
        else if (const char* e = std::getenv("IMGBUILD_ROOT"); e && *e) g.root = e;
        else if (!g.config.root.empty()) g.root = g.config.root;
        else g.root = default_root();
        // A build killed with SIGKILL mid-RUN leaves its containers' cgroups: the next
        // imgbuild process (any command) removes those of dead imgbuild processes.
        if (::geteuid() == 0) runtime::Cgroup::reap_stale();
    });

    std::string command;
    std::vector<std::string> args = normalize_args(argc, argv, command);
    // Registration order is alphabetical (std::map), which is also how --help lists them.
    cli::register_commands(app, g, command);
    std::reverse(args.begin(), args.end());
    try {
        app.parse(args);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    } catch (const sys::Error& e) {
        std::fprintf(stderr, "imgbuild: %s\n", e.what());
        return e.code() == sys::Code::Internal ? 2 : 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "imgbuild: internal error: %s\n", e.what());
        return 2;
    }
    return g.exit_code;
}
