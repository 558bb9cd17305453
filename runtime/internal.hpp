// runtime/ internals shared by its .cpp files: the plan (everything the child needs, computed
// before clone so the child only performs syscalls), the child's error report, and the pieces
// each file owns. Not for use outside runtime/.
#pragma once
#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/spec.hpp"
#include "sys/fd.hpp"

namespace runtime::detail {

// ---- user.cpp: USER resolution inside the root ------------------------------------------
struct Identity {
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;  // supplementary groups (includes gid)
    std::string home = "/";
};
// user: "", "name", "uid", "name:group", "uid:gid". Reads <root>/etc/passwd and /etc/group
// through the root-confined resolver (regular files only, size-capped).
Identity resolve_user(int rootfd, const std::string& user);
// Parse a numeric id; nullopt-like -1 if not all digits; throws if out of 0..2^32-2.
int64_t parse_id(const std::string& s, const char* what);

// ---- caps.cpp ----------------------------------------------------------------------------
// Docker's 14 default capabilities as a bit mask (0xa80425fb).
uint64_t default_caps();
int last_cap();  // /proc/sys/kernel/cap_last_cap
// Child-side (async-signal-safe): drop every cap not in keep from the bounding set.
int drop_bounding(uint64_t keep, int last);
// Child-side: P = E = keep (if uid 0) else 0, I = 0, ambient cleared.
int set_caps(uint64_t keep);

// ---- seccomp.cpp -------------------------------------------------------------------------
// The default profile compiled to BPF once (libseccomp), loaded in the child with prctl.
const std::vector<sock_filter>& default_seccomp_filter();

// ---- rootfs.cpp --------------------------------------------------------------------------
struct MountPlan {
    Mount::Kind kind = Mount::Kind::Bind;
    std::string source;   // host path (bind), for messages
    // Bind: the source resolved once, as a detached mount tree (open_tree, fd >= 3); the
    // child attaches it with move_mount.
    std::shared_ptr<sys::UniqueFd> source_fd;
    std::string target;   // inside the root, absolute; symlink-free after prepare_rootfs
    std::string data;     // tmpfs options
    bool read_only = false;
    bool noexec = false;  // and nosuid
};
// Parent-side: refuse a root whose /proc, /dev or /sys is a symlink or not a directory;
// resolve each mount target in the root (sys::resolve_in_root) and create what is missing of
// it (and the cwd) inside the root, never following a symlink out.
void prepare_rootfs(const std::string& rootfs, std::vector<MountPlan>& mounts, const std::string& cwd);

// ---- the plan ----------------------------------------------------------------------------
struct Plan {
    std::string rootfs;
    std::vector<MountPlan> mounts;
    bool read_only_root = false;
    bool new_net = true;
    std::string hostname;
    Identity id;
    uint64_t caps = 0;
    int cap_last = 40;
    std::vector<std::string> argv, env, exec_paths;
    std::vector<char*> argv_c, env_c;  // pointers into argv/env, null-terminated
    std::string cwd = "/";
    uint64_t nofile = 1048576;
    std::vector<sock_filter> seccomp;
    int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;
    int tty_slave = -1;
    // The container's v1 cgroups: `tasks` files the child writes "0" to first (Cgroup::v1_join_fds).
    std::vector<int> cgroup_join_fds;
    bool wait_for_parent = false;  // the parent moves the child into v2 cgroups (Cgroup::add_to_v2)
};
Plan make_plan(const RunSpec& spec);
// PATH search candidates for argv0 (as execvp would try them, inside the root).
std::vector<std::string> exec_candidates(const std::string& argv0, const std::vector<std::string>& env);

// ---- child.cpp ---------------------------------------------------------------------------
// What the child reports over the close-on-exec pipe when setup fails.
struct ChildError {
    int err = 0;
    int exec_failed = 0;  // 1: the final execve failed (the setup itself succeeded)
    int bare_name = 0;    // 1: argv[0] has no '/', so it was looked up in $PATH
    char what[240] = {};
};
// Runs in the cloned child; never returns, never throws, never allocates.
[[noreturn]] void child_main(const Plan& plan, int errfd, int syncfd);
// Child-side rootfs setup (rootfs.cpp). Returns 0 or -1 with *err filled.
int setup_rootfs(const Plan& plan, ChildError* err);

// Small async-signal-safe string helpers for the child.
void cat(char* dst, size_t cap, const char* src);
void cat_num(char* dst, size_t cap, long v);
void fd_path(char (&buf)[40], int fd);
int fail(ChildError* e, const char* what, const char* obj, int err);

}  // namespace runtime::detail
