// Escape attempts from inside a container fail, and the host is unchanged.
#include <gmock/gmock.h>

#include "tests/runtime/fixture.hpp"

using namespace rt_test;

namespace {

class EscapeTest : public RuntimeTest {
protected:
    // Runs `probe ARGS...` and returns its one-line verdict ("OK" or an errno name).
    std::string probe(std::vector<std::string> args) {
        args.insert(args.begin(), "/bin/probe");
        auto o = run_ok(spec(args));
        std::string s = o.out;
        while (!s.empty() && s.back() == '\n') s.pop_back();
        return s;
    }
};

}  // namespace

TEST_F(EscapeTest, MountAndNamespaceSyscallsAreRefused) {
    need_probe();
    EXPECT_EQ(probe({"mount-proc"}), "EPERM");
    EXPECT_EQ(probe({"mount-bind"}), "EPERM");
    EXPECT_EQ(probe({"umount", "/proc/kcore"}), "EPERM");
    EXPECT_EQ(probe({"umount", "/proc/sys"}), "EPERM");
    EXPECT_EQ(probe({"unshare"}), "EPERM");
    EXPECT_EQ(probe({"clone-userns"}), "EPERM");
    EXPECT_EQ(probe({"clone3"}), "ENOSYS");
}

TEST_F(EscapeTest, BusyboxMountToolsFail) {
    auto o = run_ok(spec({"/bin/sh", "-c", "mkdir -p /tmp/m; mount -t proc proc /tmp/m; echo $?; umount /proc/kcore; echo $?; "
                                           "unshare -m true; echo $?"}));
    EXPECT_EQ(o.out, "1\n1\n1\n") << o.err;
    EXPECT_THAT(o.err, ::testing::HasSubstr("Operation not permitted"));
}

TEST_F(EscapeTest, KeyringsAreRefused) {
    need_probe();
    EXPECT_EQ(probe({"add_key"}), "EPERM");
    EXPECT_EQ(probe({"keyctl"}), "EPERM");
}

// io_uring performs file and network operations the seccomp filter never sees.
TEST_F(EscapeTest, IoUringIsRefused) {
    need_probe();
    EXPECT_EQ(probe({"io_uring_setup"}), "EPERM");
    EXPECT_EQ(probe({"io_uring_enter"}), "EPERM");
    EXPECT_EQ(probe({"io_uring_register"}), "EPERM");
}

// Without a pty the container has its own session and no controlling terminal: TIOCSTI on
// /dev/tty or on inherited stdio cannot push input into the caller's terminal.
TEST_F(EscapeTest, NoControllingTerminalWithoutTty) {
    need_probe();
    auto o = run_ok(spec({"/bin/sh", "-c", "/bin/probe tiocsti; cat /proc/self/stat | cut -d' ' -f6,7"}));
    EXPECT_THAT(o.out, ::testing::HasSubstr("tty:ENXIO")) << o.err;
    EXPECT_THAT(o.out, ::testing::Not(::testing::HasSubstr(":OK"))) << o.err;
    // Field 6 = session id (the container's pid 1 leads its own session), field 7 = tty_nr 0.
    EXPECT_THAT(o.out, ::testing::HasSubstr("\n1 0\n")) << o.out;
}

TEST_F(EscapeTest, PersonalityOnlySafeValues) {
    need_probe();
    EXPECT_EQ(probe({"personality", "0xffffffff"}), "OK");
    EXPECT_EQ(probe({"personality", "0"}), "OK");
    EXPECT_EQ(probe({"personality", "0x0040000"}), "EPERM");  // ADDR_NO_RANDOMIZE
}

TEST_F(EscapeTest, KernelInterfacesAreReadOnly) {
    need_probe();
    std::string hostname = slurp("/proc/sys/kernel/hostname");
    // This kernel may lack /proc/sysrq-trigger; where it exists, the write must hit EROFS.
    if (sys::exists("/proc/sysrq-trigger")) {
        EXPECT_EQ(probe({"write", "/proc/sysrq-trigger", "h"}), "EROFS");
    }
    EXPECT_EQ(probe({"write", "/proc/sys/kernel/hostname", "x"}), "EROFS");
    EXPECT_EQ(probe({"write", "/proc/sys/vm/drop_caches", "3"}), "EROFS");
    EXPECT_EQ(probe({"write", "/sys/kernel/profiling", "1"}), "EROFS");
    EXPECT_EQ(slurp("/proc/sys/kernel/hostname"), hostname);
}

TEST_F(EscapeTest, BlockDeviceCannotBeRead) {
    need_probe();
    // mknod may succeed (CAP_MKNOD is a default) but nothing outside imgbuild's own device
    // binds can be opened: the root is mounted nodev.
    std::string r = probe({"mknod-read", "8"});
    EXPECT_NE(r, "OK");
    EXPECT_TRUE(r == "EACCES" || r == "EPERM") << r;
    r = probe({"mknod-read", "7"});  // loop devices
    EXPECT_TRUE(r == "EACCES" || r == "EPERM") << r;
}

TEST_F(EscapeTest, ProcessesOutsideAreInvisible) {
    need_probe();
    std::string me = std::to_string(::getpid());
    std::string r = probe({"ptrace", me});
    EXPECT_TRUE(r == "ESRCH" || r == "EPERM") << r;
    r = probe({"kill", me});
    EXPECT_TRUE(r == "ESRCH" || r == "EPERM") << r;
    // Only the container's own few processes exist in its pid namespace.
    auto o = run_ok(spec({"/bin/sh", "-c", "ls /proc | grep '^[0-9]' | sort -n | tail -1"}));
    EXPECT_LE(std::atoi(o.out.c_str()), 5) << o.out;
    EXPECT_GE(std::atoi(o.out.c_str()), 1) << o.out;
}

TEST_F(EscapeTest, WorkdirThroughProcFdIsRefused) {
    int leak = ::open("/", O_RDONLY | O_DIRECTORY);  // a host directory fd, not close-on-exec
    ASSERT_GE(leak, 3);
    std::ofstream(root_->path() + "/MARKER-inside") << "";
    for (std::string cwd : {"/proc/self/fd/" + std::to_string(leak), std::string("/proc/self/fd/3"), std::string("/proc/1/cwd/..")}) {
        auto s = spec({"/bin/ls", "-a"});
        s.cwd = cwd;
        try {
            auto o = run_capture(s);
            // Only acceptable if it stayed inside the root (/proc/1/cwd/.. is the container's /).
            EXPECT_NE(o.out.find("MARKER-inside"), std::string::npos) << "cwd " << cwd << " listed " << o.out;
        } catch (const sys::Error& e) {
            EXPECT_THAT(e.what(), ::testing::AnyOf(::testing::HasSubstr("chdir to"), ::testing::HasSubstr("outside the root")));
        }
    }
    ::close(leak);
    EXPECT_FALSE(sys::exists(root_->path() + "/proc/self"));
}
