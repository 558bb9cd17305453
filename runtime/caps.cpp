// Capabilities: Docker's 14 in bounding/permitted/effective, inheritable and ambient empty
// (CVE-2022-24769 family). Raw capset/prctl: the child calls these after clone, so no
// allocation and no library state.
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "runtime/internal.hpp"
#include "sys/fs.hpp"

namespace runtime::detail {

uint64_t default_caps() {
    constexpr int caps[] = {CAP_CHOWN,  CAP_DAC_OVERRIDE, CAP_FSETID,     CAP_FOWNER,           CAP_MKNOD,
                            CAP_NET_RAW, CAP_SETGID,      CAP_SETUID,     CAP_SETFCAP,          CAP_SETPCAP,
                            CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL, CAP_AUDIT_WRITE};
    uint64_t m = 0;
    for (int c : caps) m |= uint64_t(1) << c;
    return m;
}

int last_cap() {
    try {
        int v = std::atoi(sys::read_file("/proc/sys/kernel/cap_last_cap", 64).c_str());
        if (v > 0 && v < 64) return v;
    } catch (...) {
    }
    return CAP_LAST_CAP;
}

int drop_bounding(uint64_t keep, int last) {
    for (int c = 0; c <= last; c++) {
        if (keep & (uint64_t(1) << c)) continue;
        if (::prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL) return -1;
    }
    return 0;
}

int set_caps(uint64_t keep) {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    data[0].permitted = data[0].effective = uint32_t(keep);
    data[1].permitted = data[1].effective = uint32_t(keep >> 32);
    if (::syscall(SYS_capset, &hdr, data) != 0) return -1;
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) return -1;
    return 0;
}

}  // namespace runtime::detail
