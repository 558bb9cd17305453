// Test fixture for runtime/: a busybox root directory built at test time (plus a static probe
// compiled from tests/runtime/probe.c), a helper that runs a spec and captures its output, and
// checks that nothing (mount, cgroup, process) is left behind.
#pragma once
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "runtime/spec.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"

namespace rt_test {

namespace fs = std::filesystem;

inline std::string slurp(const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// The probe, compiled once per test binary; empty if no static C toolchain.
inline const std::string& probe_binary() {
    static std::string path = [] {
        static sys::TempDir dir("/tmp", "imgbuild-probe-");
        std::string out = dir.path() + "/probe";
        std::string cmd = "cc -static -O1 -o " + out + " " IMGBUILD_SRC "/tests/runtime/probe.c 2>" + dir.path() + "/cc.log";
        return std::system(cmd.c_str()) == 0 ? out : std::string();
    }();
    return path;
}

class BusyboxRoot {
public:
    BusyboxRoot() : dir_("/tmp", "imgbuild-rootfs-") {
        const std::string r = dir_.path();
        ::chmod(r.c_str(), 0755);  // mkdtemp makes it 0700: other users could not reach /
        for (const char* d : {"bin", "etc", "tmp", "root", "home/user"}) sys::mkdir_p(r + "/" + d);
        ::chmod((r + "/tmp").c_str(), 01777);
        fs::copy_file("/bin/busybox", r + "/bin/busybox");
        FILE* p = ::popen("/bin/busybox --list", "r");
        char line[256];
        while (p && std::fgets(line, sizeof line, p)) {
            std::string a(line);
            while (!a.empty() && (a.back() == '\n' || a.back() == '\r')) a.pop_back();
            if (!a.empty() && a != "busybox") ::symlink("busybox", (r + "/bin/" + a).c_str());
        }
        if (p) ::pclose(p);
        std::ofstream(r + "/etc/passwd") << "root:x:0:0:root:/root:/bin/sh\n"
                                            "user:x:1000:1000:user:/home/user:/bin/sh\n"
                                            "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
        std::ofstream(r + "/etc/group") << "root:x:0:\nwheel:x:10:root\nuser:x:1000:\nstaff:x:50:user\n"
                                           "nogroup:x:65534:\n";
        if (!probe_binary().empty()) {
            fs::copy_file(probe_binary(), r + "/bin/probe");
            ::chmod((r + "/bin/probe").c_str(), 0755);
        }
    }
    const std::string& path() const { return dir_.path(); }
    bool has_probe() const { return sys::exists(path() + "/bin/probe"); }

private:
    sys::TempDir dir_;
};

struct Output {
    runtime::RunResult result;
    std::string out, err;
};

inline std::string read_memfd(int fd) {
    std::string s;
    ::lseek(fd, 0, SEEK_SET);
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) s.append(buf, size_t(n));
    return s;
}

// Runs the spec with stdout/stderr captured (stdin: /dev/null).
inline Output run_capture(runtime::RunSpec spec) {
    sys::UniqueFd out(::memfd_create("out", MFD_CLOEXEC)), err(::memfd_create("err", MFD_CLOEXEC));
    sys::UniqueFd in(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    spec.stdin_fd = in.get();
    spec.stdout_fd = out.get();
    spec.stderr_fd = err.get();
    Output o;
    o.result = runtime::run(spec);
    o.out = read_memfd(out.get());
    o.err = read_memfd(err.get());
    return o;
}

// Cgroup directories named `name` anywhere under /sys/fs/cgroup (bounded depth).
inline std::vector<std::string> find_cgroups(const std::string& name) {
    std::vector<std::string> found;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator("/sys/fs/cgroup", fs::directory_options::skip_permission_denied, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) break;
        if (it.depth() > 8) it.disable_recursion_pending();
        if (it->is_directory(ec) && it->path().filename() == name) found.push_back(it->path());
    }
    return found;
}

// Processes whose parent is this test process.
inline int count_children() {
    int n = 0;
    std::string me = std::to_string(::getpid());
    for (auto& e : fs::directory_iterator("/proc")) {
        std::string f = e.path().filename();
        if (f.empty() || !isdigit((unsigned char)f[0])) continue;
        std::string st = slurp(e.path().string() + "/status");
        auto p = st.find("PPid:\t");
        if (p != std::string::npos && st.substr(p + 6, st.find('\n', p) - p - 6) == me) n++;
    }
    return n;
}

class RuntimeTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "needs root (namespaces, mounts, cgroups)";
        if (!sys::exists("/bin/busybox")) GTEST_SKIP() << "needs /bin/busybox (busybox-static)";
        root_ = std::make_unique<BusyboxRoot>();
    }
    // Mount table lines that mention this test's root: other tests (ctest -j, podman/buildah
    // in the interop suite) may mount and unmount their own things meanwhile.
    std::string our_mounts() const {
        std::istringstream in(slurp("/proc/self/mountinfo"));
        std::string out;
        for (std::string line; std::getline(in, line);)
            if (line.find(root_->path()) != std::string::npos) out += line + "\n";
        return out;
    }
    void TearDown() override {
        if (!root_) return;
        EXPECT_EQ(our_mounts(), "") << "a mount was left behind";
        EXPECT_EQ(count_children(), 0) << "a process was left behind";
    }
    runtime::RunSpec spec(std::vector<std::string> argv) {
        runtime::RunSpec s;
        s.rootfs = root_->path();
        s.argv = std::move(argv);
        s.cgroup_name = "imgbuild-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++);
        return s;
    }
    Output run_ok(const runtime::RunSpec& s) {
        Output o = run_capture(s);
        EXPECT_TRUE(find_cgroups(s.cgroup_name).empty()) << "cgroup " << s.cgroup_name << " left behind";
        return o;
    }
    void need_probe() {
        if (!root_->has_probe()) GTEST_SKIP() << "no static C toolchain for the probe (cc -static)";
    }
    std::unique_ptr<BusyboxRoot> root_;
    int counter_ = 0;
};

}  // namespace rt_test
