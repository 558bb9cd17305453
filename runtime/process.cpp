// runtime::run: plan, cgroup, clone into new namespaces, release the child once it is in its
// cgroup, collect a setup error or a successful exec from the close-on-exec pipe, then wait:
// forward signals (SIGKILL after the grace period), enforce the timeout by killing the whole
// cgroup, relay the pty, reap, read stats back, and leave nothing behind.
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstring>
#include <memory>

#include "runtime/cgroup.hpp"
#include "runtime/internal.hpp"
#include "runtime/signals.hpp"
#include "runtime/tty.hpp"
#include "sys/error.hpp"
#include "sys/fd.hpp"

namespace runtime {

namespace {

using Clock = std::chrono::steady_clock;

int64_t ms_since(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// Kills and reaps the child unless released.
struct ChildGuard {
    pid_t pid = -1;
    ~ChildGuard() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
            }
        }
    }
    int wait() {
        int st = 0;
        while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        pid = -1;
        return st;
    }
};

// A close-on-exec pipe whose ends are both above 2 (the child's stdio goes to 0-2).
void make_pipe(sys::UniqueFd& r, sys::UniqueFd& w) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) sys::throw_errno("run: pipe");
    for (int& fd : p)
        if (fd < 3) {
            int hi = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
            ::close(fd);
            fd = hi;
            if (fd < 0) sys::throw_errno("run: dup pipe");
        }
    r.reset(p[0]);
    w.reset(p[1]);
}

[[noreturn]] void fail_child(const detail::ChildError& e) {
    std::string what(e.what, strnlen(e.what, sizeof e.what));
    std::string msg;
    if (e.exec_failed && e.bare_name && e.err == ENOENT) {
        msg = what + ": executable file not found in $PATH";
    } else {
        std::string s = std::strerror(e.err);
        if (!s.empty()) s[0] = char(std::tolower((unsigned char)s[0]));
        msg = what + ": " + s;
    }
    sys::Code code = e.exec_failed ? sys::Code::ExecFailed : e.err == ENOENT ? sys::Code::NotFound : sys::Code::System;
    sys::fail(code, msg, e.err);
}

// clone3 into the cgroup v2 directory `cgroup_fd`: the child is born there (no migration).
// -1 with errno when the kernel cannot (before 5.7: ENOSYS or E2BIG; a seccomp filter above
// us: ENOSYS or EPERM); the caller then clones and moves the child.
pid_t clone_into(uint64_t flags, int cgroup_fd) {
    clone_args a;
    std::memset(&a, 0, sizeof a);
    a.flags = flags | CLONE_INTO_CGROUP;
    a.exit_signal = SIGCHLD;
    a.cgroup = uint64_t(cgroup_fd);
    return pid_t(::syscall(SYS_clone3, &a, sizeof a));
}

}  // namespace

RunResult run(const RunSpec& spec) {
    auto t0 = Clock::now();
    detail::Plan plan = detail::make_plan(spec);
    SignalSlot signals;
    std::unique_ptr<Pty> pty;
    if (spec.tty) {
        pty = std::make_unique<Pty>(spec.stdin_fd >= 0 ? spec.stdin_fd : 0);
        plan.tty_slave = pty->slave();
    }
    Cgroup cg(spec.cgroup_name.empty() ? Cgroup::default_name() : spec.cgroup_name, spec.limits);
    std::vector<sys::UniqueFd> join = cg.v1_join_fds();
    for (auto& fd : join) plan.cgroup_join_fds.push_back(fd.get());
    sys::UniqueFd v2_dir = cg.v2_dir_fd();

    sys::UniqueFd err_r, err_w, sync_r, sync_w;
    make_pipe(err_r, err_w);
    make_pipe(sync_r, sync_w);

    uint64_t flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
    if (plan.new_net) flags |= CLONE_NEWNET;
    ChildGuard child;
    child.pid = v2_dir ? clone_into(flags, v2_dir.get()) : -1;
    if (child.pid < 0) {  // no v2 directory, or a kernel without clone3 into a cgroup
        plan.wait_for_parent = bool(v2_dir);
        child.pid = pid_t(::syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr, nullptr));
    }
    if (child.pid < 0) {
        child.pid = -1;
        sys::throw_errno("run: clone");
    }
    if (child.pid == 0) detail::child_main(plan, err_w.get(), sync_r.get());
    err_w.reset();
    sync_r.reset();
    join.clear();
    v2_dir.reset();
    if (pty) pty->close_slave();

    if (plan.wait_for_parent) {
        cg.add_to_v2(child.pid);
        if (::write(sync_w.get(), "go", 1) != 1) sys::throw_errno("run: release the child");
    }
    sync_w.reset();

    detail::ChildError ce;
    ssize_t got;
    do got = ::read(err_r.get(), &ce, sizeof ce);
    while (got < 0 && errno == EINTR);
    if (got == ssize_t(sizeof ce)) {
        child.wait();
        cg.remove();
        fail_child(ce);
    }
    if (got != 0) sys::fail(sys::Code::Internal, "run: short read from the child's error pipe");
    // The error pipe closed on exec: the process runs.
    int64_t spawn_us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();

    sys::UniqueFd pidfd(int(::syscall(SYS_pidfd_open, child.pid, 0)));
    if (!pidfd) sys::throw_errno("run: pidfd_open");

    int out_fd = spec.stdout_fd >= 0 ? spec.stdout_fd : 1;
    int in_fd = spec.stdin_fd >= 0 ? spec.stdin_fd : 0;
    bool stdin_open = pty != nullptr;
    if (pty) {
        pty->make_raw(in_fd);
        ::fcntl(pty->master(), F_SETFL, ::fcntl(pty->master(), F_GETFL) | O_NONBLOCK);
    }

    bool timed_out = false;
    int64_t kill_at = -1;  // ms since t0
    int64_t deadline = spec.limits.timeout_ms > 0 ? ms_since(t0) + spec.limits.timeout_ms : -1;
    int forwarded = 0;
    for (;;) {
        pollfd fds[4] = {{pidfd.get(), POLLIN, 0}, {signals.fd(), POLLIN, 0}, {-1, POLLIN, 0}, {-1, POLLIN, 0}};
        if (pty) fds[2].fd = pty->master();
        if (stdin_open) fds[3].fd = in_fd;
        int64_t now = ms_since(t0), wait = -1;
        if (deadline >= 0) wait = std::max<int64_t>(0, deadline - now);
        if (kill_at >= 0) wait = wait < 0 ? std::max<int64_t>(0, kill_at - now) : std::min(wait, std::max<int64_t>(0, kill_at - now));
        int r = ::poll(fds, 4, int(wait));
        if (r < 0 && errno != EINTR) sys::throw_errno("run: poll");
        if (r > 0 && (fds[0].revents & POLLIN)) break;
        if (r > 0 && fds[1].revents) {
            if (int sig = signals.take()) {
                ::kill(child.pid, ++forwarded > 1 ? SIGKILL : sig);
                if (kill_at < 0) kill_at = ms_since(t0) + spec.kill_grace_ms;
            }
        }
        if (r > 0 && fds[2].revents && !pump(pty->master(), out_fd)) fds[2].fd = -1;
        if (r > 0 && fds[3].revents && !pump(in_fd, pty->master())) {
            stdin_open = false;
            char eot = 4;  // EOF to the terminal's line discipline
            (void)!::write(pty->master(), &eot, 1);
        }
        now = ms_since(t0);
        if (deadline >= 0 && now >= deadline && !timed_out) {
            timed_out = true;
            cg.kill_all();
            ::kill(child.pid, SIGKILL);
            deadline = -1;
        }
        if (kill_at >= 0 && now >= kill_at) {
            ::kill(child.pid, SIGKILL);
            cg.kill_all();
            kill_at = -1;
        }
    }
    int status = child.wait();
    cg.kill_all();
    if (pty)
        while (pump(pty->master(), out_fd)) {
        }

    RunResult res;
    CgroupStats st = cg.stats();
    cg.remove();
    res.peak_memory_bytes = st.peak_memory_bytes;
    res.cpu_usage_ns = st.cpu_usage_ns;
    res.wall_ms = ms_since(t0);
    res.spawn_us = spawn_us;
    if (WIFEXITED(status)) {
        res.how = RunResult::How::Exited;
        res.exit_code = WEXITSTATUS(status);
    } else {
        res.how = RunResult::How::Signaled;
        res.exit_code = WTERMSIG(status);
    }
    bool failed = !(res.how == RunResult::How::Exited && res.exit_code == 0);
    if (timed_out) res.how = RunResult::How::TimedOut;
    else if (failed && spec.limits.memory_bytes && st.oom_kills > 0) res.how = RunResult::How::OutOfMemory;
    return res;
}

}  // namespace runtime
