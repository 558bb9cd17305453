// What to run and how, as plain data. runtime/ knows nothing of images or layers: it gets a
// root directory (a mounted overlay or a plain dir) and a RunSpec.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace runtime {

// PATH for a process whose environment has none, and the PATH a FROM scratch image starts
// with (docker's and BuildKit's default).
inline constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

enum class Network { None, Host };

struct Mount {
    enum class Kind { Bind, Tmpfs };
    Kind kind = Kind::Bind;
    std::string source;       // host path (Bind)
    // Path inside the container, resolved in the root as runc does (symlinks followed, never
    // out of the root; a dangling one names where to mount); what is missing is created.
    std::string target;
    bool read_only = false;
    std::string options;      // extra fs options for Tmpfs, e.g. "size=64m"
    // Bind: an already resolved source (an O_PATH fd the caller keeps open during run()).
    // When set, `source` is only for messages and is never looked up again. Without it the
    // path is resolved exactly once, in the parent, and mounted from that fd.
    int source_fd = -1;
    bool noexec = false;  // also nosuid: a data file (/etc/hosts in a RUN), never a program
};

struct Limits {
    uint64_t memory_bytes = 0;   // 0 = unlimited
    double cpus = 0;             // 0 = unlimited; 0.25 = quarter of a CPU (cfs quota/period)
    int64_t pids = 0;            // 0 = unlimited
    int64_t timeout_ms = 0;      // 0 = none; kills the whole cgroup
};

struct RunSpec {
    std::string rootfs;                  // host path of the container's root
    std::vector<std::string> argv;       // argv[0] resolved via PATH from env inside the root
    std::vector<std::string> env;        // "K=V"
    std::string cwd = "/";               // created if missing (inside the root)
    std::string user;                    // "", "name", "uid", "name:group", "uid:gid"
    std::string hostname = "imgbuild";
    bool hostname_env = true;  // set HOSTNAME=<hostname> unless env has it (docker run does; BuildKit's RUN does not)
    Network network = Network::None;
    std::vector<Mount> mounts;
    bool read_only_root = false;
    Limits limits;
    bool tty = false;                    // allocate a pty for stdio (imgbuild run -t)
    // stdio for the container's process: -1 = inherit imgbuild's own.
    int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;
    std::string cgroup_name;             // optional; default imgbuild-<pid>-<n>
    // After forwarding SIGINT/SIGTERM (see install_signal_forwarding), SIGKILL the container
    // if it is still running this long afterwards. A second signal kills at once.
    int64_t kill_grace_ms = 10000;
};

struct RunResult {
    enum class How { Exited, Signaled, OutOfMemory, TimedOut };
    How how = How::Exited;
    int exit_code = 0;            // Exited: status; Signaled: signal number
    uint64_t peak_memory_bytes = 0;
    uint64_t cpu_usage_ns = 0;
    int64_t wall_ms = 0;
    int64_t spawn_us = 0;  // from run() to the successful exec (namespaces, mounts, cgroup, exec)
    // One line for people: "exited with code 3", "killed by signal 9",
    // "killed: out of memory (limit 64 MiB)", "killed: timed out after 2s".
    std::string describe(const Limits& l) const;
    // The status `imgbuild run` exits with: code, or 128+signal.
    int shell_status() const;
};

// Runs the spec to completion. Setup failures inside the child (mount failed, exec failed:
// "exec /bin/foo: no such file or directory") are thrown as sys::Error, distinct from the
// program's own exit status, which is returned. Leaves no process, mount or cgroup behind.
RunResult run(const RunSpec& spec);

// Install SIGINT/SIGTERM/SIGHUP/SIGQUIT handlers that forward the signal to every container
// currently in run() (imgbuild itself keeps running until they exit). For the CLI; a program
// with its own handlers can call forward_signal() from them instead (async-signal-safe).
void install_signal_forwarding();
void forward_signal(int sig);

}  // namespace runtime
