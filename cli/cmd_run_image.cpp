// `imgbuild run IMAGE [CMD...]`: resolve the image, unpack its layers (shared committed
// snapshots), mount a throwaway writable layer (a reused scratch slot) over them in a private
// mount namespace, apply the image config (Entrypoint/Cmd/Env/WorkingDir/User) under the
// flags, bind docker's /etc/hosts, /etc/hostname and /etc/resolv.conf, run, empty the slot.
#include <functional>
#include <string>
#include <vector>

#include "builder/run_plan.hpp"
#include "cli/registry.hpp"
#include "layers/rootfs.hpp"
#include "cas/image.hpp"
#include "cas/store.hpp"
#include "layers/snapshotter.hpp"
#include "runtime/spec.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/env.hpp"

namespace {

// Image env first, flags override by key.
std::vector<std::string> merge_env(const std::vector<std::string>& image, const std::vector<std::string>& flags) {
    std::vector<std::string> out;
    for (auto& e : image) {
        bool overridden = false;
        for (auto& f : flags) overridden |= sys::env_key(f) == sys::env_key(e);
        if (!overridden) out.push_back(e);
    }
    out.insert(out.end(), flags.begin(), flags.end());
    return out;
}

}  // namespace

int run_image_command(runtime::RunSpec& spec, const std::string& image, const std::vector<std::string>& cmd,
                      const std::string* entrypoint, const cli::Globals& g, const std::function<int(runtime::RunSpec&)>& go) {
    cas::Store store = cas::Store::open(g.root);
    cas::Image img = cas::resolve_image(store, image);
    const cas::ContainerConfig& c = img.config.config;

    // Entrypoint + Cmd as docker combines them: --entrypoint replaces the entrypoint and drops
    // the image's Cmd; CMD... replaces Cmd.
    std::vector<std::string> argv;
    if (entrypoint) {
        if (!entrypoint->empty()) argv.push_back(*entrypoint);
    } else if (c.entrypoint) {
        argv = *c.entrypoint;
    }
    if (!cmd.empty()) argv.insert(argv.end(), cmd.begin(), cmd.end());
    else if (!entrypoint && c.cmd) argv.insert(argv.end(), c.cmd->begin(), c.cmd->end());
    if (argv.empty()) sys::fail(sys::Code::InvalidInput, "run " + image + ": no command (the image has no Entrypoint or Cmd)");
    spec.argv = argv;
    spec.env = merge_env(c.env, spec.env);
    if (spec.cwd == "/" && !c.working_dir.empty()) spec.cwd = c.working_dir;
    if (spec.user.empty()) spec.user = c.user;

    layers::enter_private_mount_namespace();
    layers::Snapshotter snaps(store);
    // The snapshots stay leased for the container's whole life (the scratch slot's lock file
    // names them): prune skips them. The shared store lock covers the window between creating
    // them and writing the lease.
    sys::FileLock gc_guard = store.lock_shared();
    std::string top = layers::unpack_image(store, snaps, img);
    // docker run's /etc/hosts, /etc/hostname and /etc/resolv.conf, bound read-only (as a RUN's
    // in BuildKit; docker binds private copies read-write) and before the -v mounts, so a
    // volume on one of them wins. Files of the slot: the same run again writes nothing. Their
    // mount targets are the slot's stubs where the image has none.
    const std::vector<builder::SandboxFile> etc_files =
        builder::run_etc_files(spec.hostname, spec.network == runtime::Network::Host);
    std::vector<std::string> stubs;
    for (const builder::SandboxFile& f : etc_files) stubs.push_back(f.target.substr(1));
    layers::MountedRoot root = layers::MountedRoot::scratch(store, snaps, top, stubs);  // emptied on scope exit; leases `top`
    gc_guard.unlock();
    spec.rootfs = root.path();
    std::vector<runtime::Mount> etc;
    for (const builder::SandboxFile& f : etc_files) {
        runtime::Mount m;
        m.source = root.slot_file(f.target.substr(f.target.find_last_of('/') + 1), f.content);
        m.target = f.target;
        m.read_only = m.noexec = true;
        etc.push_back(std::move(m));
    }
    spec.mounts.insert(spec.mounts.begin(), etc.begin(), etc.end());
    return go(spec);
}
