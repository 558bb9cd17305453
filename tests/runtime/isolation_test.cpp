// What a process sees inside a container: pid 1, only lo, hostname, capabilities,
// no_new_privs, seccomp, fds 0-2, /dev, masked paths; exit status and setup errors.
#include <gmock/gmock.h>

#include "tests/runtime/fixture.hpp"

using namespace rt_test;
using runtime::RunResult;
using ::testing::HasSubstr;

namespace {

std::string status_field(const std::string& status, const std::string& key) {
    auto p = status.find(key + ":\t");
    if (p == std::string::npos) return "";
    p += key.size() + 2;
    return status.substr(p, status.find('\n', p) - p);
}

}  // namespace

TEST_F(RuntimeTest, CommandIsPid1AndExitStatusPropagates) {
    auto o = run_ok(spec({"/bin/sh", "-c", "echo pid=$$; exit 3"}));
    EXPECT_EQ(o.out, "pid=1\n");
    EXPECT_EQ(o.result.how, RunResult::How::Exited);
    EXPECT_EQ(o.result.exit_code, 3);
    EXPECT_EQ(o.result.shell_status(), 3);
    EXPECT_EQ(o.result.describe({}), "exited with code 3");
}

TEST_F(RuntimeTest, KilledBySignalIsReported) {
    need_probe();
    auto o = run_ok(spec({"/bin/probe", "segv"}));
    EXPECT_EQ(o.result.how, RunResult::How::Signaled);
    EXPECT_EQ(o.result.exit_code, SIGSEGV);
    EXPECT_EQ(o.result.shell_status(), 128 + SIGSEGV);
    EXPECT_EQ(o.result.describe({}), "killed by signal 11 (SIGSEGV)");
}

TEST_F(RuntimeTest, OnlyLoopbackWithNetworkNone) {
    auto o = run_ok(spec({"/bin/sh", "-c", "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; ip link show lo | head -1"}));
    EXPECT_EQ(o.result.exit_code, 0) << o.err;
    EXPECT_THAT(o.out, ::testing::StartsWith("lo\n"));
    EXPECT_THAT(o.out, HasSubstr("UP"));
}

TEST_F(RuntimeTest, HostNetworkSharesInterfaces) {
    auto s = spec({"/bin/cat", "/proc/net/dev"});
    s.network = runtime::Network::Host;
    auto o = run_ok(s);
    size_t host_lines = 0;
    for (char c : slurp("/proc/net/dev")) host_lines += c == '\n';
    size_t lines = 0;
    for (char c : o.out) lines += c == '\n';
    EXPECT_EQ(lines, host_lines);
}

TEST_F(RuntimeTest, HostnameIsSet) {
    auto s = spec({"/bin/hostname"});
    s.hostname = "box-1";
    EXPECT_EQ(run_ok(s).out, "box-1\n");
}

TEST_F(RuntimeTest, CapabilitiesNoNewPrivsSeccomp) {
    auto o = run_ok(spec({"/bin/cat", "/proc/self/status"}));
    EXPECT_EQ(status_field(o.out, "CapInh"), "0000000000000000");
    EXPECT_EQ(status_field(o.out, "CapAmb"), "0000000000000000");
    EXPECT_EQ(status_field(o.out, "CapEff"), "00000000a80425fb");
    EXPECT_EQ(status_field(o.out, "CapPrm"), "00000000a80425fb");
    EXPECT_EQ(status_field(o.out, "CapBnd"), "00000000a80425fb");
    EXPECT_EQ(status_field(o.out, "NoNewPrivs"), "1");
    EXPECT_EQ(status_field(o.out, "Seccomp"), "2");
}

TEST_F(RuntimeTest, NonRootUserHasNoEffectiveCaps) {
    auto s = spec({"/bin/cat", "/proc/self/status"});
    s.user = "user";
    auto o = run_ok(s);
    EXPECT_EQ(status_field(o.out, "CapEff"), "0000000000000000");
    EXPECT_EQ(status_field(o.out, "CapBnd"), "00000000a80425fb");
    EXPECT_EQ(status_field(o.out, "Uid"), "1000\t1000\t1000\t1000");
}

TEST_F(RuntimeTest, OnlyStdioFdsOpen) {
    need_probe();
    int leak = ::open("/", O_RDONLY);  // not close-on-exec: must still not reach the container
    auto o = run_ok(spec({"/bin/probe", "fds"}));
    ::close(leak);
    EXPECT_EQ(o.out, "0 1 2 \n");
}

TEST_F(RuntimeTest, DevIsFreshAndMinimal) {
    auto o = run_ok(spec({"/bin/sh", "-c", "ls /dev | tr '\\n' ' '; echo; stat -c '%a %F' /dev /dev/shm; readlink /dev/ptmx; "
                                            "echo hi > /dev/null && head -c 4 /dev/zero | wc -c; grep ' /dev ' /proc/mounts"}));
    EXPECT_EQ(o.result.exit_code, 0) << o.err;
    EXPECT_THAT(o.out, HasSubstr("fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero \n"));
    EXPECT_THAT(o.out, HasSubstr("755 directory\n1777 directory\npts/ptmx\n4\n"));
    EXPECT_THAT(o.out, HasSubstr("tmpfs /dev tmpfs rw,nosuid,nodev"));
}

TEST_F(RuntimeTest, MaskedAndReadOnlyPaths) {
    auto o = run_ok(spec({"/bin/sh", "-c", "wc -c < /proc/timer_list; ls /sys/firmware | wc -l; grep -E ' /proc/sys | /sys ' /proc/mounts | cut -d' ' -f2,4 | cut -d, -f1"}));
    EXPECT_EQ(o.out, "0\n0\n/sys ro\n/proc/sys ro\n") << o.err;
}

TEST_F(RuntimeTest, EnvWorkdirAndPathLookup) {
    auto s = spec({"sh", "-c", "echo $FOO $HOME; pwd"});
    s.env = {"FOO=bar", "PATH=/usr/bin:/bin"};
    s.cwd = "/work/dir";
    auto o = run_ok(s);
    EXPECT_EQ(o.out, "bar /root\n/work/dir\n");
    EXPECT_TRUE(sys::exists(root_->path() + "/work/dir"));
}

TEST_F(RuntimeTest, ExecFailureIsASetupErrorNotAnExitStatus) {
    try {
        run_capture(spec({"/bin/nope"}));
        FAIL() << "expected an error";
    } catch (const sys::Error& e) {
        EXPECT_STREQ(e.what(), "exec /bin/nope: no such file or directory");
        EXPECT_EQ(e.code(), sys::Code::ExecFailed);
        EXPECT_EQ(e.sys_errno(), ENOENT);
    }
    try {
        run_capture(spec({"nope"}));
        FAIL() << "expected an error";
    } catch (const sys::Error& e) {
        EXPECT_STREQ(e.what(), "exec nope: executable file not found in $PATH");
        EXPECT_EQ(e.code(), sys::Code::ExecFailed);
    }
    ::chmod((root_->path() + "/etc/passwd").c_str(), 0644);
    try {
        run_capture(spec({"/etc/passwd"}));
        FAIL() << "expected an error";
    } catch (const sys::Error& e) {
        EXPECT_STREQ(e.what(), "exec /etc/passwd: permission denied");
    }
    EXPECT_EQ(count_children(), 0);
}

TEST_F(RuntimeTest, BindMountsAndReadOnlyRoot) {
    sys::TempDir vol("/tmp", "imgbuild-vol-");
    std::ofstream(vol.path() + "/in.txt") << "hello";
    auto s = spec({"/bin/sh", "-c", "cat /data/in.txt; echo x > /data/out.txt; echo y > /ro/z 2>/dev/null || echo ro-refused; "
                                    "touch /newfile 2>/dev/null || echo root-refused; echo ok > /tmp2/t && cat /tmp2/t"});
    s.mounts.push_back({runtime::Mount::Kind::Bind, vol.path(), "/data", false, ""});
    s.mounts.push_back({runtime::Mount::Kind::Bind, vol.path(), "/ro", true, ""});
    s.mounts.push_back({runtime::Mount::Kind::Tmpfs, "", "/tmp2", false, "size=1m"});
    s.read_only_root = true;
    auto o = run_ok(s);
    EXPECT_EQ(o.out, "helloro-refused\nroot-refused\nok\n") << o.err;
    EXPECT_EQ(slurp(vol.path() + "/out.txt"), "x\n");
    EXPECT_FALSE(sys::exists(root_->path() + "/newfile"));
}

TEST_F(RuntimeTest, RefusesRootWithSymlinkedProcOrDev) {
    ::symlink("/", (root_->path() + "/proc").c_str());
    EXPECT_THROW(run_capture(spec({"/bin/true"})), sys::Error);
    ::unlink((root_->path() + "/proc").c_str());
    std::ofstream(root_->path() + "/dev") << "file";
    try {
        run_capture(spec({"/bin/true"}));
        FAIL() << "expected an error";
    } catch (const sys::Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("/dev is not a directory"));
    }
}

TEST_F(RuntimeTest, BindTargetSymlinkStaysInsideRoot) {
    sys::TempDir vol("/tmp", "imgbuild-vol-");
    sys::TempDir outside("/tmp", "imgbuild-outside-");
    // /escape -> <outside dir> (absolute): inside the root it means <root>/<outside dir>,
    // which does not exist. Either refused or created inside; never on the host.
    ::symlink(outside.path().c_str(), (root_->path() + "/escape").c_str());
    auto s = spec({"/bin/true"});
    s.mounts.push_back({runtime::Mount::Kind::Bind, vol.path(), "/escape/x", false, ""});
    try {
        run_ok(s);
    } catch (const sys::Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("/escape"));
    }
    EXPECT_FALSE(sys::exists(outside.path() + "/x"));
    // A symlink pointing at an existing directory inside the root is followed inside.
    sys::mkdir_p(root_->path() + "/real");
    ::symlink("/real", (root_->path() + "/link").c_str());
    s = spec({"/bin/cat", "/real/x/f"});
    std::ofstream(vol.path() + "/f") << "via-link";
    s.mounts.push_back({runtime::Mount::Kind::Bind, vol.path(), "/link/x", true, ""});
    EXPECT_EQ(run_ok(s).out, "via-link");
}

// A target that is a dangling symlink in the image names where to mount, resolved inside the
// root and created there, as runc does (an image's /etc/resolv.conf ->
// ../run/systemd/resolve/stub-resolv.conf). It used to fail ("open mount point ...").
// noexec also makes the bind nosuid.
TEST_F(RuntimeTest, BindTargetDanglingSymlinkIsCreatedInside) {
    sys::TempDir vol("/tmp", "imgbuild-vol-");
    sys::write_file_atomic(vol.path() + "/rc", "nameserver 10.1.1.1\n", 0644, false);
    ASSERT_EQ(::symlink("../run/resolve/stub.conf", (root_->path() + "/etc/resolv.conf").c_str()), 0);
    auto s = spec({"/bin/sh", "-c", "cat /etc/resolv.conf && grep ' /run/resolve/stub.conf ' /proc/self/mountinfo | grep -c noexec"});
    runtime::Mount m{runtime::Mount::Kind::Bind, vol.path() + "/rc", "/etc/resolv.conf", true, ""};
    m.noexec = true;
    s.mounts.push_back(m);
    EXPECT_EQ(run_ok(s).out, "nameserver 10.1.1.1\n1\n");
    EXPECT_TRUE(sys::exists(root_->path() + "/run/resolve/stub.conf"));  // the stub, inside the root
}

// A bind source is resolved once and mounted from that fd: a path swapped for a symlink
// afterwards is never looked up again (issue 12, point 7).
TEST_F(RuntimeTest, BindSourceMountedFromResolvedFd) {
    sys::TempDir vol("/tmp", "imgbuild-vol-"), secret("/tmp", "imgbuild-secret-");
    std::ofstream(vol.path() + "/which") << "vol\n";
    std::ofstream(secret.path() + "/which") << "secret\n";
    sys::UniqueFd fd(::open(vol.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(fd);
    // The path now names something else (a symlink to the secret dir): the fd wins.
    std::string swapped = vol.path() + ".swapped";
    ASSERT_EQ(::symlink(secret.path().c_str(), swapped.c_str()), 0);
    auto s = spec({"/bin/cat", "/data/which"});
    runtime::Mount m{runtime::Mount::Kind::Bind, swapped, "/data", true, ""};
    m.source_fd = fd.get();
    s.mounts.push_back(m);
    auto o = run_ok(s);
    ::unlink(swapped.c_str());
    EXPECT_EQ(o.out, "vol\n") << o.err;
}
