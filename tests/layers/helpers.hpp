// Shared helpers for the layers tests: a temp store, file builders, python3, mount namespace.
#pragma once
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "cas/store.hpp"
#include "layers/treediff.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"

namespace lt {

inline std::string tmp_root() {
    const char* t = std::getenv("TMPDIR");
    return t && *t ? t : "/tmp";
}

struct Env {
    sys::TempDir dir{tmp_root(), "imgbuild-layers-test-"};
    cas::Store store = cas::Store::open(dir.path() + "/store");
    std::string path(const std::string& rel) {
        std::string p = dir.path() + "/" + rel;
        sys::mkdir_p(p);
        return p;
    }
};

inline void write(const std::string& path, const std::string& data, mode_t mode = 0644) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) sys::throw_errno("test write " + path);
    size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n <= 0) sys::throw_errno("test write " + path);
        off += size_t(n);
    }
    ::fchmod(fd, mode);
    ::close(fd);
}

inline std::string read(const std::string& path) { return sys::read_file(path, 1u << 30); }

inline void mkdir(const std::string& p, mode_t mode = 0755) {
    if (::mkdir(p.c_str(), mode) != 0 && errno != EEXIST) sys::throw_errno("test mkdir " + p);
    ::chmod(p.c_str(), mode);
}

inline void whiteout(const std::string& p) {
    if (::mknod(p.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0) sys::throw_errno("test mknod " + p);
}

inline void set_opaque(const std::string& p) {
    if (::setxattr(p.c_str(), "trusted.overlay.opaque", "y", 1, 0) != 0) sys::throw_errno("test opaque " + p);
}

inline void set_mtime(const std::string& p, time_t t) {
    struct timespec ts[2] = {{t, 0}, {t, 0}};
    ::utimensat(AT_FDCWD, p.c_str(), ts, AT_SYMLINK_NOFOLLOW);
}

// Run a shell command (tests only); returns exit status, output in *out.
inline int run(const std::string& cmd, std::string* out = nullptr) {
    std::string full = cmd + " 2>&1";
    FILE* f = ::popen(full.c_str(), "r");
    if (!f) return -1;
    std::string o;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) o.append(buf, n);
    int st = ::pclose(f);
    if (out) *out = o;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

inline bool have(const std::string& tool) { return run("command -v " + tool + " >/dev/null") == 0; }

// Make this test process's mount namespace private, so mounts never reach the host.
// (gtest_discover_tests runs each test in its own process.)
inline void private_mount_ns() {
    static bool done = false;
    if (done) return;
    if (::unshare(CLONE_NEWNS) != 0) sys::throw_errno("unshare(CLONE_NEWNS)");
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) sys::throw_errno("make / private");
    done = true;
}

inline bool mounted(const std::string& target) {
    std::string info = sys::read_file("/proc/self/mountinfo");
    return info.find(" " + target + " ") != std::string::npos;
}

inline std::string describe(const std::vector<layers::TreeChange>& ch) {
    std::ostringstream o;
    for (auto& c : ch) {
        o << layers::change_kind_name(c.kind) << " " << c.path;
        for (auto& f : c.fields) o << " " << f;
        o << "\n";
    }
    return o.str();
}

inline std::vector<std::string> scan_paths(const std::string& root) {
    std::vector<std::string> out;
    for (auto& n : layers::scan_tree(root, {false})) out.push_back(n.path);
    return out;
}

// A security.capability value granting cap_net_raw (13) effective+permitted (vfs_cap_data v2).
inline std::string file_caps_net_raw() {
    uint32_t v[5] = {0x02000001u, 1u << 13, 0, 0, 0};
    return std::string(reinterpret_cast<const char*>(v), sizeof v);
}

inline bool is_root() { return ::geteuid() == 0; }

}  // namespace lt
