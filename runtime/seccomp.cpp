// The default seccomp profile (SECURITY-DEFAULTS.md): allow by default, EPERM for the listed
// syscalls, clone with namespace flags filtered by argument, clone3 -> ENOSYS (libc then falls
// back to clone), personality only for the safe values, native arch only (x32 and i386 refused).
// Built once with libseccomp and exported as BPF, so the child only calls prctl().
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <mutex>

#include "runtime/internal.hpp"
#include "sys/error.hpp"
#include "sys/fd.hpp"

namespace runtime::detail {

namespace {

const char* const kDenied[] = {
    "acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "create_module", "delete_module",
    "finit_module", "init_module", "get_kernel_syms", "get_mempolicy", "ioperm", "iopl", "kcmp",
    // io_uring bypasses seccomp for the operations it performs (Docker 25+ blocks it too).
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "kexec_load", "kexec_file_load", "keyctl", "lookup_dcookie", "mbind", "mount", "mount_setattr",
    "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig", "fspick", "move_pages", "nfsservctl",
    "open_by_handle_at", "perf_event_open", "pivot_root", "query_module", "quotactl", "quotactl_fd",
    "reboot", "request_key", "set_mempolicy", "setns", "settimeofday", "stime", "swapon", "swapoff",
    "sysfs", "_sysctl", "umount", "umount2", "unshare", "uselib", "userfaultfd", "ustat", "vm86",
    "vm86old",
};

constexpr uint64_t kCloneNsFlags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,   CLONE_NEWUSER,
                                      CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};

struct Ctx {
    scmp_filter_ctx c = seccomp_init(SCMP_ACT_ALLOW);
    ~Ctx() { seccomp_release(c); }
};

void check(int rc, const std::string& what) {
    if (rc < 0) sys::throw_errno("seccomp: " + what, -rc);
}

// personality(2) is allowed only for PER_LINUX (0), PER_LINUX32 (8), UNAME26 (0x20000),
// UNAME26|PER_LINUX32 and the query value 0xffffffff. libseccomp cannot express "not one of"
// under a default-allow filter (one comparison per argument per rule), so this check is a
// short hand-written BPF prefix that returns EPERM or falls through to libseccomp's program.
std::vector<sock_filter> personality_prefix() {
    constexpr uint32_t nr_off = offsetof(seccomp_data, nr), arch_off = offsetof(seccomp_data, arch);
    constexpr uint32_t lo = offsetof(seccomp_data, args), hi = lo + 4;
    const uint32_t ok[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};
    std::vector<sock_filter> p;
    // Layout: 0 ld arch; 1 jeq; 2 ld nr; 3 jeq; 4 ld hi; 5 jeq 0; 6 ld lo; 7..11 jeq ok; 12 deny; 13 end.
    const uint8_t end = 13;
    auto jump = [&](uint32_t k, uint8_t jt_abs, uint8_t jf_abs) {
        uint8_t here = uint8_t(p.size());
        p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, k, uint8_t(jt_abs - here - 1), uint8_t(jf_abs - here - 1)));
    };
    p.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, arch_off));
    jump(AUDIT_ARCH_X86_64, 2, end);
    p.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, nr_off));
    jump(__NR_personality, 4, end);
    p.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, hi));
    jump(0, 6, 12);
    p.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, lo));
    for (uint32_t v : ok) jump(v, end, uint8_t(p.size() + 1));
    p.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)));
    return p;
}

std::vector<sock_filter> build() {
    Ctx ctx;
    if (!ctx.c) sys::fail(sys::Code::System, "seccomp_init failed");
    // Native arch only; anything else (i386 via int 0x80, x32) kills the process.
    check(seccomp_attr_set(ctx.c, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS), "bad-arch action");
    check(seccomp_attr_set(ctx.c, SCMP_FLTATR_CTL_NNP, 0), "nnp attribute");
    for (const char* name : kDenied) {
        int nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR || nr < 0) continue;  // not a syscall on this arch
        check(seccomp_rule_add(ctx.c, SCMP_ACT_ERRNO(EPERM), nr, 0), std::string("deny ") + name);
    }
    for (uint64_t f : kCloneNsFlags)
        check(seccomp_rule_add(ctx.c, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, f, f)),
              "clone flags");
    check(seccomp_rule_add(ctx.c, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0), "clone3");

    // Export to a memfd and read the program back.
    sys::UniqueFd mem(::memfd_create("imgbuild-seccomp", MFD_CLOEXEC));
    if (!mem) sys::throw_errno("seccomp: memfd_create");
    check(seccomp_export_bpf(ctx.c, mem.get()), "export");
    struct stat st{};
    if (::fstat(mem.get(), &st) != 0) sys::throw_errno("seccomp: fstat");
    std::vector<sock_filter> prog = personality_prefix();
    size_t base = prog.size();
    prog.resize(base + size_t(st.st_size) / sizeof(sock_filter));
    if (::pread(mem.get(), prog.data() + base, size_t(st.st_size), 0) != st.st_size)
        sys::throw_errno("seccomp: read exported filter");
    return prog;
}

}  // namespace

const std::vector<sock_filter>& default_seccomp_filter() {
    static std::once_flag once;
    static std::vector<sock_filter> prog;
    std::call_once(once, [] { prog = build(); });
    return prog;
}

}  // namespace runtime::detail
