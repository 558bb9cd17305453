// One cgroup per container, on cgroup v2, v1, or both (hybrid hosts): created before the
// process starts, limits written, stats read back, everything in it killed and the
// directories removed afterwards (also from the destructor, after errors or Ctrl-C).
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/spec.hpp"
#include "sys/fd.hpp"

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

    // Joining. A v1 directory is joined by the container's process itself, before it runs
    // anything: it writes "0" to the directory's `tasks` file (fds from v1_join_fds(), opened
    // here before clone). One thread moving itself skips the global threadgroup lock, whose
    // write side waits for an RCU grace period (12-24 ms measured on a v1 host); moving
    // another process by pid (cgroup.procs) takes it. A v2 directory cannot be joined per
    // thread (outside threaded subtrees): the child is born in it (clone3 with
    // CLONE_INTO_CGROUP and v2_dir_fd(): no move, no lock; Linux 5.7), or, where the kernel
    // refuses that, the parent moves it with add_to_v2(pid) before releasing it.
    std::vector<sys::UniqueFd> v1_join_fds() const;
    sys::UniqueFd v2_dir_fd() const;  // invalid when there is no v2 directory
    void add_to_v2(pid_t pid);
    CgroupStats stats() const;
    std::vector<pid_t> pids() const;  // processes still inside
    // SIGKILL everything inside (cgroup.kill on v2) and wait until empty (bounded).
    void kill_all();
    // kill_all, then remove the directories. Idempotent.
    void remove();
    const std::vector<std::string>& dirs() const { return dirs_; }

    // The default name of a container's cgroup: imgbuild-<pid>-<start time>-<n>, so that a
    // later process can tell whether its creator still runs (the pid alone may be reused).
    static std::string default_name();
    // Kill what is left in, and remove, the cgroups of imgbuild processes that died without
    // cleaning up (SIGKILL mid-RUN), under every hierarchy this process would use. Returns
    // the directories removed. Best effort: never throws.
    static std::vector<std::string> reap_stale();
    // Whether the cgroup `name` belongs to an imgbuild process that is gone (pure: `alive`
    // answers for (pid, start time); start time 0 = unknown, the old imgbuild-<pid>-<n> form).
    template <class Alive>
    static bool is_stale(const std::string& name, Alive&& alive);

private:
    Cgroup() = default;
    struct Dir {
        std::string path;
        bool v2 = false;
        std::vector<std::string> controllers;  // v1: the hierarchy's controllers
    };
    bool has(const char* controller, const Dir** out) const;
    std::vector<Dir> d_;
    std::vector<std::string> dirs_;
};

template <class Alive>
bool Cgroup::is_stale(const std::string& name, Alive&& alive) {
    const std::string prefix = "imgbuild-";
    if (name.rfind(prefix, 0) != 0) return false;
    std::vector<uint64_t> nums;
    size_t p = prefix.size();
    while (p <= name.size()) {
        size_t q = name.find('-', p);
        if (q == std::string::npos) q = name.size();
        if (q == p || q - p > 20) return false;
        uint64_t v = 0;
        for (size_t i = p; i < q; i++) {
            if (name[i] < '0' || name[i] > '9') return false;
            v = v * 10 + uint64_t(name[i] - '0');
        }
        nums.push_back(v);
        p = q + 1;
    }
    if (nums.size() == 3) return !alive(pid_t(nums[0]), nums[1]);
    if (nums.size() == 2) return !alive(pid_t(nums[0]), uint64_t(0));
    return false;
}

}  // namespace runtime
