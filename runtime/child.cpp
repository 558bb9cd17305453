// The cloned child: container pid 1 until it execs the command. It only performs syscalls on
// data the parent prepared (Plan); it never throws and never allocates. On failure it writes a
// ChildError to the close-on-exec error pipe and exits 127; a successful execve closes the pipe.
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <grp.h>

#include <cerrno>
#include <cstring>

#include "runtime/internal.hpp"

namespace runtime::detail {

void cat(char* dst, size_t cap, const char* src) {
    size_t n = ::strnlen(dst, cap);
    while (*src && n + 1 < cap) dst[n++] = *src++;
    dst[n < cap ? n : cap - 1] = 0;
}

void cat_num(char* dst, size_t cap, long v) {
    char tmp[24];
    int i = sizeof tmp - 1;
    tmp[i] = 0;
    bool neg = v < 0;
    unsigned long u = neg ? 0ul - (unsigned long)v : (unsigned long)v;
    do tmp[--i] = char('0' + u % 10), u /= 10;
    while (u && i > 1);
    if (neg) tmp[--i] = '-';
    cat(dst, cap, tmp + i);
}

void fd_path(char (&buf)[40], int fd) {
    buf[0] = 0;
    cat(buf, sizeof buf, "/proc/self/fd/");
    cat_num(buf, sizeof buf, fd);
}

int fail(ChildError* e, const char* what, const char* obj, int err) {
    e->err = err;
    e->what[0] = 0;
    cat(e->what, sizeof e->what, what);
    cat(e->what, sizeof e->what, obj);
    errno = err;
    return -1;
}

namespace {

[[noreturn]] void die(int errfd, const ChildError& e) {
    ssize_t n;
    do n = ::write(errfd, &e, sizeof e);
    while (n < 0 && errno == EINTR);
    ::_exit(127);
}

int loopback_up(ChildError* e) {
    int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return fail(e, "socket for lo", "", errno);
    struct ifreq ifr;
    ::memset(&ifr, 0, sizeof ifr);
    ::memcpy(ifr.ifr_name, "lo", 3);
    if (::ioctl(s, SIOCGIFFLAGS, &ifr) != 0) return fail(e, "get flags of lo", "", errno);
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (::ioctl(s, SIOCSIFFLAGS, &ifr) != 0) return fail(e, "bring lo up", "", errno);
    ::close(s);
    return 0;
}

// Close every fd above 2 except the error and sync pipes (which stay close-on-exec).
void close_other_fds(int a, int b) {
    if (a > b) {
        int t = a;
        a = b;
        b = t;
    }
    if (a > 3) ::syscall(SYS_close_range, 3u, unsigned(a - 1), 0u);
    if (b > a + 1) ::syscall(SYS_close_range, unsigned(a + 1), unsigned(b - 1), 0u);
    ::syscall(SYS_close_range, unsigned(b + 1), ~0u, 0u);
}

}  // namespace

void child_main(const Plan& plan, int errfd, int syncfd) {
    ChildError e;
    // Raw syscalls for credentials: glibc's setuid family would signal imgbuild's other
    // threads, which do not exist in this copy.
    // Nothing may trace or core-dump the setup process (CVE-2016-9962); exec resets this.
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    // Into the container's v1 cgroups before anything else: this thread moves itself.
    for (int fd : plan.cgroup_join_fds)
        if (::write(fd, "0", 1) != 1) die(errfd, (fail(&e, "join the container's cgroup", "", errno), e));
    // Default signal dispositions and an empty mask: imgbuild's handlers are not the program's.
    sigset_t all;
    sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    struct sigaction dfl;
    ::memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP) ::sigaction(s, &dfl, nullptr);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);

    // stdio first; every other fd of imgbuild is closed once the mounts are set up.
    int io[3] = {plan.stdin_fd, plan.stdout_fd, plan.stderr_fd};
    // Every container leads its own session: it never shares imgbuild's controlling terminal,
    // so /dev/tty is ENXIO and TIOCSTI cannot type into the caller's shell. With -t its only
    // terminal is the fresh pty.
    if (::setsid() < 0) die(errfd, (fail(&e, "setsid", "", errno), e));
    if (plan.tty_slave >= 0) {
        if (::ioctl(plan.tty_slave, TIOCSCTTY, 0) != 0) die(errfd, (fail(&e, "set controlling terminal", "", errno), e));
        io[0] = io[1] = io[2] = plan.tty_slave;
    }
    for (int i = 0; i < 3; i++)
        if (io[i] >= 0 && io[i] != i && ::dup2(io[i], i) < 0) die(errfd, (fail(&e, "dup2 stdio", "", errno), e));

    if (::sethostname(plan.hostname.data(), plan.hostname.size()) != 0) die(errfd, (fail(&e, "sethostname", "", errno), e));
    if (plan.new_net && loopback_up(&e) != 0) die(errfd, e);
    ::umask(022);
    if (setup_rootfs(plan, &e) != 0) die(errfd, e);
    // After the mounts: bind sources are mounted from their fds (close-on-exec anyway).
    close_other_fds(errfd, syncfd);

    // Wait until the parent has put us into the container's v2 cgroup: moving a process
    // between cgroups costs an RCU grace period, so it overlaps with the mount setup above.
    // Nothing before this point runs code from the image.
    if (plan.wait_for_parent) {
        char b;
        ssize_t n;
        do n = ::read(syncfd, &b, 1);
        while (n < 0 && errno == EINTR);
        if (n != 1) die(errfd, (fail(&e, "wait for the parent", "", n < 0 ? errno : EPIPE), e));
    }
    ::close(syncfd);
    if (::unshare(CLONE_NEWCGROUP) != 0 && errno != EINVAL) die(errfd, (fail(&e, "unshare cgroup namespace", "", errno), e));

    struct rlimit rl;
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max = plan.nofile < rl.rlim_max ? plan.nofile : rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);  // lowering never fails; never fail a run over it
    }

    if (drop_bounding(plan.caps, plan.cap_last) != 0) die(errfd, (fail(&e, "drop bounding capabilities", "", errno), e));
    const Identity& id = plan.id;
    if (::syscall(SYS_setgroups, id.groups.size(), id.groups.data()) != 0) die(errfd, (fail(&e, "setgroups", "", errno), e));
    if (::syscall(SYS_setresgid, id.gid, id.gid, id.gid) != 0) die(errfd, (fail(&e, "setgid", "", errno), e));
    if (::syscall(SYS_setresuid, id.uid, id.uid, id.uid) != 0) die(errfd, (fail(&e, "setuid", "", errno), e));
    if (set_caps(id.uid == 0 ? plan.caps : 0) != 0) die(errfd, (fail(&e, "set capabilities", "", errno), e));
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die(errfd, (fail(&e, "set no_new_privs", "", errno), e));
    ::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);  // cleared by the uid change
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

    // The working directory must be inside the new root (CVE-2024-21626): only fds 0-2 and
    // the error pipe are open here, and the kernel's getcwd says whether it is reachable.
    if (::chdir(plan.cwd.c_str()) != 0) die(errfd, (fail(&e, "chdir to ", plan.cwd.c_str(), errno), e));
    char cwd[4096];
    long len = ::syscall(SYS_getcwd, cwd, sizeof cwd);
    if (len <= 0 || cwd[0] != '/') die(errfd, (fail(&e, "working directory outside the root: ", plan.cwd.c_str(), EPERM), e));

    // Seccomp last: from here only execve.
    struct sock_fprog prog;
    prog.len = (unsigned short)plan.seccomp.size();
    prog.filter = const_cast<sock_filter*>(plan.seccomp.data());
    if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) die(errfd, (fail(&e, "load seccomp filter", "", errno), e));

    int err = ENOENT;
    bool eacces = false;
    for (const std::string& p : plan.exec_paths) {
        ::execve(p.c_str(), plan.argv_c.data(), plan.env_c.data());
        err = errno;
        if (err == EACCES) eacces = true;
        else if (err != ENOENT && err != ENOTDIR) break;
    }
    if (eacces && (err == ENOENT || err == ENOTDIR)) err = EACCES;
    fail(&e, "exec ", plan.argv[0].c_str(), err);
    e.exec_failed = 1;
    e.bare_name = plan.argv[0].find('/') == std::string::npos;
    die(errfd, e);
}

}  // namespace runtime::detail
