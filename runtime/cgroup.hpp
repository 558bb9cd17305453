// One cgroup per container, on cgroup v2, v1, or both (hybrid hosts): created before the
// process starts, limits written, stats read back, everything in it killed and the
// directories removed afterwards (also from the destructor, after errors or Ctrl-C).
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/spec.hpp"

namespace runtime {

struct CgroupStats {
    uint64_t peak_memory_bytes = 0;
    uint64_t cpu_usage_ns = 0;
    uint64_t oom_kills = 0;
};

class Cgroup {
public:
    // Creates <hierarchy>/imgbuild/<name> in every hierarchy it needs and writes the limits.
    // Throws FailedPrecondition if a limit is asked for and no hierarchy has its controller.
    Cgroup(const std::string& name, const Limits& limits);
    Cgroup(const Cgroup&) = delete;
    Cgroup& operator=(const Cgroup&) = delete;
    ~Cgroup();

    void add(pid_t pid);              // move a process into every directory
    CgroupStats stats() const;
    std::vector<pid_t> pids() const;  // processes still inside
    // SIGKILL everything inside (cgroup.kill on v2) and wait until empty (bounded).
    void kill_all();
    // kill_all, then remove the directories. Idempotent.
    void remove();
    const std::vector<std::string>& dirs() const { return dirs_; }

private:
    struct Dir {
        std::string path;
        bool v2 = false;
        std::vector<std::string> controllers;  // v1: the hierarchy's controllers
    };
    bool has(const char* controller, const Dir** out) const;
    std::vector<Dir> d_;
    std::vector<std::string> dirs_;
};

}  // namespace runtime
