// Plan: everything the child needs, computed in the parent before clone (user lookup, PATH
// candidates, env, mount list, caps, seccomp program, rlimits), so the child only acts.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <unistd.h>

#include "runtime/internal.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/env.hpp"

namespace runtime::detail {

namespace {

std::string clean_abs(const std::string& p, const char* what) {
    if (p.empty() || p[0] != '/') sys::fail(sys::Code::InvalidInput, std::string(what) + " must be an absolute path: \"" + p + "\"");
    if (p.find('\0') != std::string::npos) sys::fail(sys::Code::InvalidInput, std::string(what) + " contains a NUL byte");
    return p;
}

}  // namespace

std::vector<std::string> exec_candidates(const std::string& argv0, const std::vector<std::string>& env) {
    if (argv0.find('/') != std::string::npos) return {argv0};
    std::string path = kDefaultPath;
    for (auto& e : env)
        if (e.rfind("PATH=", 0) == 0) path = e.substr(5);
    std::vector<std::string> out;
    size_t p = 0;
    for (;;) {
        size_t q = path.find(':', p);
        std::string dir = path.substr(p, q == std::string::npos ? std::string::npos : q - p);
        if (dir.empty()) dir = ".";
        out.push_back(sys::path_join(dir, argv0));
        if (q == std::string::npos) break;
        p = q + 1;
    }
    return out;
}

Plan make_plan(const RunSpec& spec) {
    Plan plan;
    if (spec.argv.empty() || spec.argv[0].empty()) sys::fail(sys::Code::InvalidInput, "run: no command given");
    if (spec.rootfs.empty()) sys::fail(sys::Code::InvalidInput, "run: no root directory given");
    char* real = ::realpath(spec.rootfs.c_str(), nullptr);
    if (!real) sys::throw_errno("run: root directory " + spec.rootfs);
    plan.rootfs = real;
    ::free(real);
    if (plan.rootfs == "/") sys::fail(sys::Code::InvalidInput, "run: refusing the host's / as a container root");

    for (const Mount& m : spec.mounts) {
        MountPlan mp;
        mp.kind = m.kind;
        mp.target = clean_abs(m.target, "mount target");
        if (mp.target == "/") sys::fail(sys::Code::InvalidInput, "mount target / is not allowed");
        mp.read_only = m.read_only;
        mp.noexec = m.noexec;
        mp.data = m.options;
        if (m.kind == Mount::Kind::Bind) {
            // Resolve once; from here on only the fd names the source (no second lookup a
            // concurrent rename or symlink swap could redirect).
            sys::UniqueFd opened;
            if (m.source_fd < 0) {
                opened.reset(::open(m.source.c_str(), O_PATH | O_CLOEXEC));
                if (!opened) sys::throw_errno("bind mount source " + m.source);
            }
            // A detached copy of the source's mount tree (open_tree): the child, in its own
            // mount namespace, attaches it with move_mount (a path of the parent's namespace
            // could not be bind-mounted there).
            sys::UniqueFd tree(::open_tree(m.source_fd >= 0 ? m.source_fd : opened.get(), "",
                                           OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE));
            if (!tree) sys::throw_errno("bind mount source " + m.source + ": open_tree");
            int fd = ::fcntl(tree.get(), F_DUPFD_CLOEXEC, 3);
            if (fd < 0) sys::throw_errno("bind mount source " + m.source);
            mp.source_fd = std::make_shared<sys::UniqueFd>(fd);
            mp.source = m.source;
        }
        plan.mounts.push_back(std::move(mp));
    }
    plan.cwd = clean_abs(spec.cwd.empty() ? "/" : spec.cwd, "working directory");
    prepare_rootfs(plan.rootfs, plan.mounts, plan.cwd);

    {
        sys::UniqueFd root = sys::open_dir(plan.rootfs);
        plan.id = sys::with_context("user \"" + spec.user + "\"", [&] { return resolve_user(root.get(), spec.user); });
    }
    plan.read_only_root = spec.read_only_root;
    plan.new_net = spec.network == Network::None;
    plan.hostname = spec.hostname.empty() ? "imgbuild" : spec.hostname;
    if (plan.hostname.size() > 64) sys::fail(sys::Code::InvalidInput, "hostname longer than 64 bytes");
    plan.caps = default_caps();
    plan.cap_last = last_cap();

    plan.argv = spec.argv;
    plan.env = spec.env;
    if (!sys::env_has(plan.env, "PATH")) plan.env.push_back(std::string("PATH=") + kDefaultPath);
    if (spec.hostname_env && !sys::env_has(plan.env, "HOSTNAME")) plan.env.push_back("HOSTNAME=" + plan.hostname);
    if (!sys::env_has(plan.env, "HOME")) plan.env.push_back("HOME=" + plan.id.home);
    plan.exec_paths = exec_candidates(plan.argv[0], plan.env);
    for (auto& a : plan.argv) plan.argv_c.push_back(a.data());
    plan.argv_c.push_back(nullptr);
    for (auto& e : plan.env) plan.env_c.push_back(e.data());
    plan.env_c.push_back(nullptr);

    struct rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max < plan.nofile) plan.nofile = rl.rlim_max;
    plan.seccomp = default_seccomp_filter();
    plan.stdin_fd = spec.stdin_fd;
    plan.stdout_fd = spec.stdout_fd;
    plan.stderr_fd = spec.stderr_fd;
    return plan;
}

}  // namespace runtime::detail
