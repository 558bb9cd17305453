// imgbuild run [flags] IMAGE [CMD...]  |  imgbuild run --rootfs DIR [flags] CMD...
// Runs a command in a container (runtime::run) and exits with the container's status.
// Setup failures inside the container exit 125 (126 if the command cannot be executed,
// 127 if it is not found), as docker run does.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "cli/registry.hpp"
#include "sys/units.hpp"
#include "runtime/spec.hpp"
#include "sys/error.hpp"
#include "sys/fd.hpp"

namespace {

struct RunOpts {
    bool rm = false, read_only = false, interactive = false, tty = false;
    std::string memory, cpus, pids, network = "none", workdir, user, hostname, timeout, entrypoint, rootfs;
    bool entrypoint_set = false;
    std::vector<std::string> env, env_files, volumes, args;
};

std::string env_entry(const std::string& kv) {
    if (kv.find('=') != std::string::npos) return kv;
    const char* v = std::getenv(kv.c_str());  // -e NAME: take it from imgbuild's environment
    return v ? kv + "=" + v : std::string();
}

std::vector<std::string> read_env_file(const std::string& path) {
    std::vector<std::string> out;
    std::ifstream in(path);
    if (!in) sys::throw_errno("--env-file " + path);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        size_t s = line.find_first_not_of(" \t");
        if (s == std::string::npos || line[s] == '#') continue;
        std::string e = env_entry(line.substr(s));
        if (!e.empty()) out.push_back(e);
    }
    return out;
}

runtime::Mount parse_volume(const std::string& v) {
    runtime::Mount m;
    auto a = v.find(':');
    if (a == std::string::npos || a == 0) sys::fail(sys::Code::InvalidInput, "-v " + v + ": expected SRC:DST[:ro|rw]");
    m.source = v.substr(0, a);
    std::string rest = v.substr(a + 1);
    auto b = rest.find(':');
    m.target = rest.substr(0, b);
    if (b != std::string::npos) {
        std::string mode = rest.substr(b + 1);
        if (mode == "ro") m.read_only = true;
        else if (mode != "rw") sys::fail(sys::Code::InvalidInput, "-v " + v + ": unknown mode \"" + mode + "\" (ro or rw)");
    }
    if (m.target.empty() || m.target[0] != '/') sys::fail(sys::Code::InvalidInput, "-v " + v + ": the target must be an absolute path");
    return m;
}

// Flags -> RunSpec (everything but the root, argv and image config).
runtime::RunSpec base_spec(const RunOpts& o, const cli::Globals& g) {
    runtime::RunSpec s;
    s.limits.memory_bytes = o.memory.empty() ? g.config.memory_bytes : sys::parse_size(o.memory, "--memory");
    if (o.cpus.empty()) {
        s.limits.cpus = g.config.cpus;
    } else {
        char* end = nullptr;
        s.limits.cpus = std::strtod(o.cpus.c_str(), &end);
        if (!end || *end || s.limits.cpus <= 0) sys::fail(sys::Code::InvalidInput, "--cpus " + o.cpus + ": expected a positive number");
    }
    if (o.pids.empty()) {
        s.limits.pids = g.config.pids_limit;
    } else {
        char* end = nullptr;
        s.limits.pids = std::strtoll(o.pids.c_str(), &end, 10);
        if (!end || *end) sys::fail(sys::Code::InvalidInput, "--pids-limit " + o.pids + ": expected a number");
        if (s.limits.pids < 0) s.limits.pids = 0;  // -1: unlimited, as docker
    }
    if (!o.timeout.empty()) s.limits.timeout_ms = sys::parse_duration_ms(o.timeout, "--timeout");
    s.network = o.network == "host" ? runtime::Network::Host : runtime::Network::None;
    for (auto& f : o.env_files)
        for (auto& e : read_env_file(f)) s.env.push_back(e);
    for (auto& e : o.env)
        if (auto x = env_entry(e); !x.empty()) s.env.push_back(x);
    if (!o.workdir.empty()) s.cwd = o.workdir;
    s.user = o.user;
    if (!o.hostname.empty()) s.hostname = o.hostname;
    s.read_only_root = o.read_only;
    for (auto& v : o.volumes) s.mounts.push_back(parse_volume(v));
    s.tty = o.tty;
    return s;
}

int run_container(runtime::RunSpec& spec, const RunOpts& o) {
    sys::UniqueFd devnull;
    if (!o.interactive && !o.tty) {
        devnull.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        spec.stdin_fd = devnull.get();
    }
    runtime::install_signal_forwarding();
    runtime::RunResult r;
    try {
        r = runtime::run(spec);
    } catch (const sys::Error& e) {
        if (e.code() != sys::Code::ExecFailed) throw;
        std::fprintf(stderr, "imgbuild: %s\n", e.what());
        return e.sys_errno() == ENOENT ? 127 : 126;
    }
    if (r.how != runtime::RunResult::How::Exited) std::fprintf(stderr, "imgbuild: container %s\n", r.describe(spec.limits).c_str());
    return r.shell_status();
}

}  // namespace

// Implemented beside the image machinery (cmd_run_image.cpp) once layers/ and cas/ provide it.
int run_image_command(runtime::RunSpec& spec, const std::string& image, const std::vector<std::string>& cmd,
                      const std::string* entrypoint, const cli::Globals& g, const std::function<int(runtime::RunSpec&)>& go);

static cli::Registrar reg("run", [](CLI::App& app, cli::Globals& g) {
    auto o = std::make_shared<RunOpts>();
    auto* c = app.add_subcommand("run", "Run a command in a new container (IMAGE, or --rootfs DIR)");
    c->add_flag("--rm", o->rm, "remove the container's writable layer afterwards (always done)");
    c->add_option("--memory,-m", o->memory, "memory limit, e.g. 512m");
    c->add_option("--cpus", o->cpus, "CPU limit, e.g. 0.5");
    c->add_option("--pids-limit", o->pids, "maximum number of processes (-1: unlimited)");
    c->add_option("--network", o->network, "none (default: only lo) or host")->check(CLI::IsMember({"none", "host"}));
    c->add_option("-e,--env", o->env, "set an environment variable K=V (K alone: take it from here)")->allow_extra_args(false);
    c->add_option("--env-file", o->env_files, "read K=V lines from a file")->allow_extra_args(false);
    c->add_option("-w,--workdir", o->workdir, "working directory inside the container");
    c->add_option("-u,--user", o->user, "USER[:GROUP] (names or numeric ids, looked up in the image)");
    c->add_option("--hostname", o->hostname, "container hostname");
    c->add_flag("--read-only", o->read_only, "mount the root file system read-only");
    c->add_option("-v,--volume", o->volumes, "bind mount SRC:DST[:ro]")->allow_extra_args(false);
    c->add_option("--timeout", o->timeout, "kill the container after this long (e.g. 30s, 5m)");
    c->add_option("--entrypoint", o->entrypoint, "override the image's entrypoint");
    c->add_flag("-i,--interactive", o->interactive, "keep stdin attached");
    c->add_flag("-t,--tty", o->tty, "allocate a pseudo-terminal");
    c->add_option("--rootfs", o->rootfs, "run in this root directory instead of an image");
    // IMAGE [CMD...] (or CMD... with --rootfs): everything from the first positional on is
    // the container's, flags included, so they are not declared as a CLI11 positional.
    c->prefix_command();
    c->fallthrough(false);
    c->footer("Arguments: IMAGE [CMD [ARG...]]  or  --rootfs DIR CMD [ARG...]");
    c->callback([o, &g, c] {
        o->entrypoint_set = c->count("--entrypoint") > 0;
        for (auto& r : c->remaining()) o->args.push_back(r);
        runtime::RunSpec spec = base_spec(*o, g);
        if (!o->rootfs.empty()) {
            if (o->args.empty() && !o->entrypoint_set) sys::fail(sys::Code::InvalidInput, "run --rootfs: no command given");
            if (o->entrypoint_set) spec.argv.push_back(o->entrypoint);
            spec.argv.insert(spec.argv.end(), o->args.begin(), o->args.end());
            spec.rootfs = o->rootfs;
            g.exit_code = run_container(spec, *o);
            return;
        }
        if (o->args.empty()) sys::fail(sys::Code::InvalidInput, "run: IMAGE (or --rootfs DIR) is required");
        std::vector<std::string> cmd(o->args.begin() + 1, o->args.end());
        g.exit_code = run_image_command(spec, o->args[0], cmd, o->entrypoint_set ? &o->entrypoint : nullptr, g,
                                        [&](runtime::RunSpec& s) { return run_container(s, *o); });
    });
});
