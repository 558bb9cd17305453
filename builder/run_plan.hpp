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

// `shell`: the stage's SHELL; `workdir`: the stage's working directory ("" = "/"). Throws
// InvalidInput / FailedPrecondition (the solver attaches the Buildfile location).
RunPlan plan_run(const frontend::Instruction& in, const std::vector<std::string>& shell, const std::string& workdir,
                 const BuildOptions& opts);

// A mount target as an absolute, cleaned path (relative ones are under the workdir).
std::string clean_mount_target(const std::string& target, const std::string& workdir);

}  // namespace builder
