// RUN as plain data: what to execute (argv, a #! heredoc script), on which network, with
// which mounts (targets cleaned, sources and options decided), after the entitlement check.
// Pure: no file system, no store. execute_run (solver_run.cpp) acts on it.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "builder/solver.hpp"
#include "frontend/instructions.hpp"

namespace builder {

struct RunMountPlan {
    std::string type;          // bind | cache | tmpfs | secret
    std::string target;        // absolute, cleaned; secret: "" = env only
    std::string source = "/";  // bind: path in the context or in `from`
    std::string from;          // bind: stage or image; "" = the build context
    bool read_only = true;
    std::string cache_id;      // cache: id (default: the target)
    std::string tmpfs_size;    // tmpfs: size as written ("" = default)
    // cache/secret: owner and mode, checked (ids below 2^32-1, mode <= 07777); unset = default
    std::optional<uint32_t> uid, gid, mode;
    size_t index = 0;          // into Instruction::mounts (uid/gid/mode/sharing/secret fields)
};

struct RunPlan {
    std::vector<std::string> argv;
    std::optional<std::pair<std::string, std::string>> script;  // (container path, content) for #! heredocs
    std::string network;                                        // host | none
    std::vector<RunMountPlan> mounts;
};

// A file BuildKit binds read-only over every RUN, whatever its network (executor/oci/hosts.go,
// resolvconf.go): generated here, mounted at `target` (mount stubs removed afterwards).
struct SandboxFile {
    std::string target;   // /etc/resolv.conf, /etc/hosts (in BuildKit's mount order)
    std::string content;
};
// host_resolv_conf: the host file's content (see resolv_conf_source); host_network: RUN
// --network=host (or the build's --network host).
std::vector<SandboxFile> sandbox_files(const std::string& hostname, const std::string& host_resolv_conf, bool host_network);
// "127.0.0.1\tlocalhost <hostname>\n::1\tlocalhost ip6-localhost ip6-loopback\n"
std::string sandbox_hosts(const std::string& hostname);
// The host's resolv.conf as BuildKit rewrites it for a RUN (util/resolvconf): comments and blank
// lines dropped; nameservers (invalid ones dropped, addresses in canonical form), the last
// search/domain line, all options, then unknown lines as written. Without host networking,
// loopback nameservers are dropped (they answer only in the host's network namespace); when
// none remain (either way), Google's public servers, IPv4 and IPv6.
std::string sandbox_resolv_conf(const std::string& host_conf, bool host_network);
// Which host file a RUN's resolv.conf comes from: /etc/resolv.conf, except without host
// networking when its only nameserver is systemd-resolved's 127.0.0.53 stub:
// /run/systemd/resolve/resolv.conf (the upstream servers).
std::string resolv_conf_source(const std::string& etc_resolv_conf, bool host_network);
// The host's resolv.conf a RUN's is made from (resolv_conf_source); "" when there is none.
std::string read_host_resolv_conf(bool host_network);
// `imgbuild run`'s /etc/hosts, /etc/hostname and /etc/resolv.conf, as docker run gives a
// container: a RUN's hosts (with `hostname`; with host networking the host's /etc/hosts), the
// hostname, a RUN's resolv.conf.
std::vector<SandboxFile> run_etc_files(const std::string& hostname, bool host_network);

// `shell`: the stage's SHELL; `workdir`: the stage's working directory ("" = "/"). Throws
// InvalidInput / FailedPrecondition (the solver attaches the Buildfile location).
RunPlan plan_run(const frontend::Instruction& in, const std::vector<std::string>& shell, const std::string& workdir,
                 const BuildOptions& opts);

// A mount target as an absolute, cleaned path (relative ones are under the workdir).
std::string clean_mount_target(const std::string& target, const std::string& workdir);

}  // namespace builder
