// Attacks from a Buildfile or a RUN step, through the real binary (issue 12). After each one
// the store passes fsck and nothing is left behind.
#include <algorithm>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "build_env.hpp"
#include "runtime/cgroup.hpp"
#include "sys/proc.hpp"

using e2e::BuildEnv;
using e2e::Ctx;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

namespace fs = std::filesystem;

// tests/runtime/probe.c compiled statically; empty if there is no static toolchain.
const std::string& probe_binary() {
    static std::string path = [] {
        static sys::TempDir dir("/tmp", "imgbuild-e2e-probe-");
        std::string out = dir.path() + "/probe";
        std::string cmd = "cc -static -O1 -o " + out + " " IMGBUILD_SRC "/tests/runtime/probe.c 2>/dev/null";
        return std::system(cmd.c_str()) == 0 ? out : std::string();
    }();
    return path;
}

// busybox plus /bin/probe, tagged probeimg:1 (built once per process).
const std::string& probe_image() {
    static std::string err = [] {
        if (probe_binary().empty()) return std::string("no static C toolchain for the probe");
        Ctx ctx;
        fs::copy_file(probe_binary(), ctx.path() + "/probe");
        ctx.file("Buildfile", "FROM busybox:latest\nCOPY --chmod=755 probe /bin/probe\n");
        auto r = BuildEnv::get().ib("build -t probeimg:1 " + ctx.path());
        return r.status == 0 ? std::string() : r.out;
    }();
    return err;
}

#define REQUIRE_PROBE_IMAGE()                              \
    do {                                                   \
        REQUIRE_BASE();                                    \
        if (probe_binary().empty()) GTEST_SKIP() << "no static C toolchain (cc -static)"; \
        ASSERT_EQ(probe_image(), "");                      \
    } while (0)

void expect_fsck_clean() {
    auto r = BuildEnv::get().ib("fsck");
    EXPECT_EQ(r.status, 0) << r.out;
}

// Runs `cmd` with /bin/sh as the session leader of a new pty, as an interactive shell would
// run imgbuild. After it, counts the bytes waiting in the terminal's input queue (what the
// shell would read and execute next). Returns the whole terminal transcript.
std::string run_under_pty(const std::string& cmd) {
    std::string script = "stty -echo; " + cmd + "; stty -icanon min 0 time 0; printf 'PENDING=%s\\n' $(head -c 4096 | wc -c)";
    int master = -1;
    pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
    if (pid < 0) return "forkpty failed";
    if (pid == 0) {
        ::execl("/bin/sh", "sh", "-c", script.c_str(), (char*)nullptr);
        ::_exit(127);
    }
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(master, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;  // EIO once the slave side is closed
        out.append(buf, size_t(n));
    }
    int st = 0;
    ::waitpid(pid, &st, 0);
    ::close(master);
    return out;
}

}  // namespace

// 1. TIOCSTI: neither `imgbuild run` (without -t) nor a RUN step can type into the terminal
// imgbuild was started from.
TEST(Security, RunCannotInjectIntoTerminal) {
    REQUIRE_PROBE_IMAGE();
    std::string cmd = e2e::bin() + " --root " + BuildEnv::get().root() + " run --rm probeimg:1 /bin/probe tiocsti";
    std::string out = run_under_pty(cmd);
    EXPECT_THAT(out, HasSubstr("tty:")) << out;  // the probe ran
    EXPECT_THAT(out, Not(HasSubstr(":OK"))) << out;
    EXPECT_THAT(out, HasSubstr("PENDING=0")) << out;
    expect_fsck_clean();
}

TEST(Security, BuildRunStepCannotInjectIntoTerminal) {
    REQUIRE_PROBE_IMAGE();
    Ctx ctx;
    ctx.file("Buildfile", "FROM probeimg:1\nRUN /bin/probe tiocsti > /probe.out; cat /probe.out\n");
    std::string cmd = e2e::bin() + " --root " + BuildEnv::get().root() + " build --no-cache --progress plain " + ctx.path();
    std::string out = run_under_pty(cmd);
    EXPECT_THAT(out, HasSubstr("tty:")) << out;
    EXPECT_THAT(out, Not(HasSubstr("tty:OK"))) << out;
    EXPECT_THAT(out, HasSubstr("PENDING=0")) << out;
    expect_fsck_clean();
}

// 2. Entitlements: a Buildfile cannot give itself the host network (or an insecure sandbox);
// the person running the build grants it with --allow or the config file.
TEST(Security, RunNetworkHostNeedsAllow) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    Ctx ctx;
    ctx.file("Buildfile", "FROM busybox:latest\n\nRUN --network=host ls /sys/class/net > /ifaces\n");
    auto r = env.ib("build --no-cache " + ctx.path());
    EXPECT_NE(r.status, 0) << r.out;
    EXPECT_THAT(r.out, HasSubstr("Buildfile:3")) << r.out;
    EXPECT_THAT(r.out, HasSubstr("--allow network.host")) << r.out;
    r = env.ib("build --no-cache --allow network.host " + ctx.path());
    EXPECT_EQ(r.status, 0) << r.out;
    // The config file grants it too; unknown entitlements are errors.
    Ctx cfg;
    cfg.file("config.yaml", "allow: [network.host]\n");
    r = env.ib("--config " + cfg.path() + "/config.yaml build --no-cache " + ctx.path());
    EXPECT_EQ(r.status, 0) << r.out;
    cfg.file("bad.yaml", "allow: [network.everything]\n");
    r = env.ib("--config " + cfg.path() + "/bad.yaml build --no-cache " + ctx.path());
    EXPECT_NE(r.status, 0);
    EXPECT_THAT(r.out, HasSubstr("network.everything")) << r.out;
    r = env.ib("build --allow device.all " + ctx.path());
    EXPECT_NE(r.status, 0);
    // The CLI's own --network host is the user's choice and keeps working.
    Ctx plain;
    plain.file("Buildfile", "FROM busybox:latest\nRUN ls /sys/class/net > /ifaces\n");
    r = env.ib("build --no-cache --network host " + plain.path());
    EXPECT_EQ(r.status, 0) << r.out;
    expect_fsck_clean();
}

TEST(Security, OnbuildNetworkHostNeedsAllow) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    Ctx base;
    base.file("Buildfile", "FROM busybox:latest\nONBUILD RUN --network=host echo from-onbuild\n");
    auto r = env.ib("build -t onbuild-nethost:1 " + base.path());
    ASSERT_EQ(r.status, 0) << r.out;
    Ctx child;
    child.file("Buildfile", "FROM onbuild-nethost:1\nRUN echo child\n");
    r = env.ib("build --no-cache " + child.path());
    EXPECT_NE(r.status, 0) << r.out;
    EXPECT_THAT(r.out, HasSubstr("Buildfile:1")) << r.out;
    EXPECT_THAT(r.out, HasSubstr("network.host")) << r.out;
    EXPECT_EQ(env.ib("build --no-cache --allow network.host " + child.path()).status, 0);
    expect_fsck_clean();
}

TEST(Security, RunSecurityInsecureNeedsAllow) {
    REQUIRE_BASE();
    Ctx ctx;
    ctx.file("Buildfile", "FROM busybox:latest\nRUN --security=insecure true\n");
    auto r = BuildEnv::get().ib("build --no-cache " + ctx.path());
    EXPECT_NE(r.status, 0) << r.out;
    EXPECT_THAT(r.out, HasSubstr("Buildfile:2")) << r.out;
    EXPECT_THAT(r.out, HasSubstr("--allow security.insecure")) << r.out;
    expect_fsck_clean();
}

namespace {

// Starts `imgbuild --root STORE ARGS...` in the background (stdout/stderr to `log`).
pid_t spawn_imgbuild(const std::vector<std::string>& args, const std::string& log) {
    std::vector<std::string> full = {e2e::bin(), "--root", BuildEnv::get().root()};
    full.insert(full.end(), args.begin(), args.end());
    pid_t pid = ::fork();
    if (pid == 0) {
        int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || in < 0 || ::dup2(fd, 1) < 0 || ::dup2(fd, 2) < 0 || ::dup2(in, 0) < 0) ::_exit(127);
        std::vector<char*> av;
        for (auto& a : full) av.push_back(a.data());
        av.push_back(nullptr);
        ::execv(av[0], av.data());
        ::_exit(127);
    }
    return pid;
}

// Cgroup directories under /sys/fs/cgroup whose name starts with `prefix` (bounded depth).
std::vector<std::string> cgroups_with_prefix(const std::string& prefix) {
    std::vector<std::string> found;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator("/sys/fs/cgroup", fs::directory_options::skip_permission_denied, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) break;
        if (it.depth() > 6) it.disable_recursion_pending();
        if (it->is_directory(ec) && it->path().filename().string().rfind(prefix, 0) == 0) found.push_back(it->path());
    }
    return found;
}

// Polls `pred` every 50 ms for up to `seconds`.
template <class F>
bool wait_for(F&& pred, int seconds) {
    for (int i = 0; i < seconds * 20; i++) {
        if (pred()) return true;
        ::usleep(50000);
    }
    return pred();
}

// Starts `imgbuild build ARGS...`, waits until its RUN step's cgroup exists (at most 60 s),
// then SIGKILLs and reaps it. Returns the build's cgroup name prefix, "" if the RUN never
// started (the log is appended to `why`).
std::string kill_build_mid_run(const std::vector<std::string>& args, const std::string& log, std::string& why) {
    pid_t pid = spawn_imgbuild(args, log);
    if (pid <= 0) return why = "could not start imgbuild", "";
    std::string prefix = "imgbuild-" + std::to_string(pid) + "-";
    bool running = wait_for([&] { return !cgroups_with_prefix(prefix).empty(); }, 60);
    ::kill(pid, SIGKILL);
    int st = 0;
    ::waitpid(pid, &st, 0);
    if (!running) return why = "the RUN step never started; log:\n" + e2e::run_cmd("cat " + log).out, "";
    return prefix;
}

}  // namespace

// 16. SIGKILL of `imgbuild build` mid-RUN: the next imgbuild command reaps the dead build's
// cgroups; the store stays consistent.
TEST(Security, KilledBuildCgroupsAreReaped) {
    REQUIRE_BASE();
    Ctx ctx;
    ctx.file("Buildfile", "FROM busybox:latest\nRUN echo started > /started; sleep 60\n");
    std::string why;
    std::string prefix = kill_build_mid_run({"build", "--no-cache", "--progress", "plain", ctx.path()}, ctx.path() + "/build.log", why);
    ASSERT_NE(prefix, "") << why;
    ASSERT_FALSE(cgroups_with_prefix(prefix).empty()) << "the killed build left nothing to reap";
    // Any command reaps.
    auto r = BuildEnv::get().ib("images");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_THAT(cgroups_with_prefix(prefix), ::testing::IsEmpty());
    expect_fsck_clean();
}

// SIGKILL of a build while a RUN holds a secret and a context bind mount: the secret file and
// the context copy under <root>/tmp stayed there for good. The next command removes them.
TEST(Security, KilledBuildSecretIsReaped) {
    REQUIRE_BASE();
    Ctx ctx;
    ctx.file("Buildfile",
             "FROM busybox:latest\nRUN --mount=type=secret,id=tok --mount=type=bind,target=/ctx "
             "cat /run/secrets/tok > /dev/null; echo started; sleep 60\n")
        .file("tok", "TOPSECRET-REAP-ME\n");
    std::string why;
    std::string prefix = kill_build_mid_run(
        {"build", "--no-cache", "--progress", "plain", "--secret", "id=tok,src=" + ctx.path() + "/tok", ctx.path()},
        ctx.path() + "/build.log", why);
    ASSERT_NE(prefix, "") << why;
    std::string tmp = BuildEnv::get().root() + "/tmp";
    auto holding = [&] { return e2e::run_cmd("grep -rls TOPSECRET-REAP-ME " + tmp).out; };
    ASSERT_NE(holding(), "") << "the killed build left no secret behind: nothing to check";
    auto r = BuildEnv::get().ib("images");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(holding(), "") << "the secret survived the next command";
    expect_fsck_clean();
}

// Names carry their owner: only those of processes that no longer run are reaped.
TEST(Security, TempOwnerTagRules) {
    std::string mine = "run-" + sys::owner_tag() + "AbC123";
    EXPECT_FALSE(sys::tag_owner_dead(mine));
    EXPECT_FALSE(sys::tag_owner_dead("diff-layer-" + sys::owner_tag() + "AbC123"));  // a '-' in the prefix
    EXPECT_TRUE(sys::tag_owner_dead("run-" + std::to_string(::getpid()) + "-1-AbC123"));  // pid reused
    EXPECT_FALSE(sys::tag_owner_dead("run-AbC123"));                                      // no tag: kept
    EXPECT_FALSE(sys::tag_owner_dead("root-x-1-AbC123"));
    EXPECT_FALSE(sys::tag_owner_dead("bind-12--AbC123"));
}

// The reaper leaves live imgbuild processes' cgroups (and other names) alone.
TEST(Security, CgroupStaleNameRules) {
    auto alive = [](pid_t pid, uint64_t start) { return pid == 100 && (start == 0 || start == 555); };
    EXPECT_FALSE(runtime::Cgroup::is_stale("imgbuild-100-555-0", alive));
    EXPECT_TRUE(runtime::Cgroup::is_stale("imgbuild-100-556-0", alive));  // pid reused
    EXPECT_TRUE(runtime::Cgroup::is_stale("imgbuild-101-555-3", alive));
    EXPECT_FALSE(runtime::Cgroup::is_stale("imgbuild-100-7", alive));      // old form, pid alive
    EXPECT_TRUE(runtime::Cgroup::is_stale("imgbuild-101-7", alive));
    EXPECT_FALSE(runtime::Cgroup::is_stale("imgbuild-x-1-2", alive));
    EXPECT_FALSE(runtime::Cgroup::is_stale("mybuild-101-1", alive));
    EXPECT_FALSE(runtime::Cgroup::is_stale("imgbuild-101--1", alive));
}

// 14. prune while `imgbuild run` is running: the run's snapshots are leased and survive.
TEST(Security, PruneKeepsSnapshotsOfRunningContainer) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    Ctx ctx;
    ctx.file("Buildfile", "FROM busybox:latest\nRUN mkdir -p /data && echo lease-kept > /data/file\n");
    auto r = env.ib("build --no-cache -t leased:1 " + ctx.path());
    ASSERT_EQ(r.status, 0) << r.out;
    Ctx vol;
    std::string log = ctx.path() + "/run.log";
    // Waits for a go file written from the host, then reads a file of the image's top layer.
    pid_t pid = spawn_imgbuild({"run", "--rm", "-v", vol.path() + ":/vol", "--entrypoint", "/bin/sh", "leased:1", "-c",
                                "touch /vol/started; while [ ! -e /vol/go ]; do sleep 0.1; done; cat /data/file; ls /bin/busybox"},
                               log);
    ASSERT_GT(pid, 0);
    bool started = wait_for([&] { return fs::exists(vol.path() + "/started"); }, 60);
    if (!started) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        FAIL() << "run did not start:\n" << e2e::run_cmd("cat " + log).out;
    }
    // Untag, so that only the running container needs the snapshots, then prune.
    EXPECT_EQ(env.ib("rmi leased:1").status, 0);
    r = env.ib("prune");
    EXPECT_EQ(r.status, 0) << r.out;
    std::ofstream(vol.path() + "/go") << "go";
    int st = 0;
    ::waitpid(pid, &st, 0);
    std::string out = e2e::run_cmd("cat " + log).out;
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << out;
    EXPECT_THAT(out, HasSubstr("lease-kept")) << out;
    EXPECT_THAT(out, HasSubstr("/bin/busybox")) << out;
    // Once it is gone, prune may take them.
    r = env.ib("prune");
    EXPECT_EQ(r.status, 0) << r.out;
    expect_fsck_clean();
}

// 5. USER and --chown read the image's /etc/passwd on the host: a FIFO, a device node or a
// symlink to /dev/zero there fails the build cleanly (never opened, never hangs).
TEST(Security, HostileAccountFilesFailCleanly) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    const char* setups[] = {"rm /etc/passwd && mkfifo /etc/passwd", "rm /etc/passwd && mknod /etc/passwd c 1 5",
                            "ln -sf /dev/zero /etc/passwd", "rm /etc/group && mkfifo /etc/group"};
    for (const char* setup : setups) {
        SCOPED_TRACE(setup);
        Ctx ctx;
        ctx.file("Buildfile", std::string("FROM busybox:latest\nRUN ") + setup + "\nUSER nobody:nogroup\nRUN id\n");
        auto r = e2e::run_cmd("timeout 120 " + e2e::bin() + " --root " + env.root() + " build --no-cache " + ctx.path());
        EXPECT_NE(r.status, 0) << r.out;
        EXPECT_NE(r.status, 124) << "the build hung:\n" << r.out;
        EXPECT_THAT(r.out, HasSubstr("Buildfile:4")) << r.out;
        Ctx chown;
        chown.file("f", "x");
        chown.file("Buildfile", std::string("FROM busybox:latest\nRUN ") + setup + "\nCOPY --chown=nobody:nogroup f /f\n");
        r = e2e::run_cmd("timeout 120 " + e2e::bin() + " --root " + env.root() + " build --no-cache " + chown.path());
        EXPECT_NE(r.status, 0) << r.out;
        EXPECT_NE(r.status, 124) << "the build hung:\n" << r.out;
    }
    expect_fsck_clean();
}

// 3. --output type=local writes onto the host: no setuid/setgid, no file capabilities, no
// device nodes (warned), files owned by the invoking user unless preserve-owner=true, and a
// symlink already in dest is never followed out of it.
TEST(Security, LocalOutputIsDefanged) {
    REQUIRE_PROBE_IMAGE();
    auto& env = BuildEnv::get();
    Ctx ctx;
    ctx.file("Buildfile",
             "FROM probeimg:1\n"
             "RUN echo s > /suid && chmod 4755 /suid && echo g > /sgid && chmod 2755 /sgid && "
             "echo c > /capped && /bin/probe setcap /capped && mknod /blk b 7 0 && mknod /chr c 1 3 && "
             "mkfifo /fifo && echo o > /owned && chown 1234:1234 /owned && mkdir -p /etc/out && echo planted > /etc/out/file\n");
    sys::TempDir out("/tmp", "imgbuild-e2e-out-");
    sys::TempDir outside("/tmp", "imgbuild-e2e-outside-");
    std::string dest = out.path() + "/d";
    fs::create_directories(dest + "/etc");
    fs::create_directory_symlink(outside.path(), dest + "/etc/out");  // planted before the export
    auto r = env.ib("build --no-cache --progress plain --output type=local,dest=" + dest + " " + ctx.path());
    ASSERT_EQ(r.status, 0) << r.out;
    struct stat st{};
    ASSERT_EQ(::stat((dest + "/suid").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0755u);
    ASSERT_EQ(::stat((dest + "/sgid").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0755u);
    EXPECT_LT(::getxattr((dest + "/capped").c_str(), "security.capability", nullptr, 0), 0);
    EXPECT_FALSE(fs::exists(fs::symlink_status(dest + "/blk")));
    EXPECT_FALSE(fs::exists(fs::symlink_status(dest + "/chr")));
    EXPECT_THAT(r.out, HasSubstr("/blk")) << r.out;  // the warning lists them
    EXPECT_THAT(r.out, HasSubstr("/chr")) << r.out;
    EXPECT_TRUE(fs::is_fifo(dest + "/fifo"));
    ASSERT_EQ(::lstat((dest + "/owned").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, ::getuid());
    EXPECT_EQ(st.st_gid, ::getgid());
    EXPECT_TRUE(fs::is_empty(outside.path())) << "the export followed a symlink out of dest";

    // preserve-owner=true keeps the image's ids (still no setuid or devices).
    std::string dest2 = out.path() + "/p";
    r = env.ib("build --output type=local,dest=" + dest2 + ",preserve-owner=true " + ctx.path());
    ASSERT_EQ(r.status, 0) << r.out;
    ASSERT_EQ(::lstat((dest2 + "/owned").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 1234u);
    ASSERT_EQ(::stat((dest2 + "/suid").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0755u);
    EXPECT_FALSE(fs::exists(fs::symlink_status(dest2 + "/blk")));

    // Under sudo, the files go to the user who ran sudo.
    std::string dest3 = out.path() + "/s";
    r = e2e::run_cmd("SUDO_UID=4321 SUDO_GID=4322 " + e2e::bin() + " --root " + env.root() +
                     " build --output type=local,dest=" + dest3 + " " + ctx.path());
    ASSERT_EQ(r.status, 0) << r.out;
    ASSERT_EQ(::lstat((dest3 + "/owned").c_str(), &st), 0);
    if (::getuid() == 0) {
        EXPECT_EQ(st.st_uid, 4321u);
        EXPECT_EQ(st.st_gid, 4322u);
    }
    expect_fsck_clean();
}

// 4. RUN --mount=type=bind of the context shows exactly what COPY sees (.dockerignore
// applied); its content is in the step's key; rw mounts write to a throwaway copy.
TEST(Security, ContextBindMountIsFilteredAndKeyed) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    Ctx ctx;
    ctx.file(".dockerignore", "secret.txt\n");
    ctx.file("secret.txt", "do not leak\n");
    ctx.file("data", "v1\n");
    ctx.file("Buildfile",
             "FROM busybox:latest\n"
             "RUN --mount=type=bind,target=/ctx ls -a /ctx > /listing; cat /ctx/data > /seen; "
             "cat /ctx/secret.txt > /leak 2>&1; cat /proc/sys/kernel/random/uuid > /stamp\n");
    auto show = [&](const std::string& file) { return env.ib("run --rm bindkey:1 cat " + file, false).out; };
    auto r = env.ib("build -t bindkey:1 " + ctx.path());
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_THAT(show("/listing"), HasSubstr("data"));
    EXPECT_THAT(show("/listing"), Not(HasSubstr("secret.txt")));
    EXPECT_THAT(show("/leak"), Not(HasSubstr("do not leak")));
    EXPECT_EQ(show("/seen"), "v1\n");
    std::string stamp = show("/stamp");
    // An ignored file changes: the step stays cached.
    ctx.file("secret.txt", "still secret\n");
    ASSERT_EQ(env.ib("build -t bindkey:1 " + ctx.path()).status, 0);
    EXPECT_EQ(show("/stamp"), stamp);
    // A mounted file changes: the step reruns.
    ctx.file("data", "v2\n");
    ASSERT_EQ(env.ib("build -t bindkey:1 " + ctx.path()).status, 0);
    EXPECT_EQ(show("/seen"), "v2\n");
    EXPECT_NE(show("/stamp"), stamp);
    expect_fsck_clean();
}

TEST(Security, RwBindMountWritesAreThrownAway) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    Ctx ctx;
    ctx.file("data", "orig\n");
    ctx.file("Buildfile",
             "FROM busybox:latest AS other\nRUN mkdir /o && echo stage > /o/f\n"
             "FROM busybox:latest\n"
             "RUN --mount=type=bind,target=/ctx,rw echo changed > /ctx/data && echo new > /ctx/newfile && cat /ctx/data > /seen\n"
             "RUN --mount=type=bind,from=other,source=/o,target=/o,rw echo changed > /o/f && echo new > /o/g && cat /o/f > /seen2\n"
             "RUN --mount=type=bind,from=other,source=/o,target=/o cat /o/f > /seen3; ls /o > /list3\n");
    auto r = env.ib("build --no-cache -t rwbind:1 " + ctx.path());
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(e2e::run_cmd("cat " + ctx.path() + "/data").out, "orig\n");
    EXPECT_FALSE(fs::exists(ctx.path() + "/newfile"));
    EXPECT_EQ(env.ib("run --rm rwbind:1 cat /seen", false).out, "changed\n");
    EXPECT_EQ(env.ib("run --rm rwbind:1 cat /seen2", false).out, "changed\n");
    EXPECT_EQ(env.ib("run --rm rwbind:1 cat /seen3", false).out, "stage\n");  // the stage itself is unchanged
    EXPECT_EQ(env.ib("run --rm rwbind:1 cat /list3", false).out, "f\n");
    EXPECT_NE(env.ib("run --rm rwbind:1 ls /ctx/newfile").status, 0);
    expect_fsck_clean();
}

namespace {

// `imgbuild --root ROOT ARGS` run as `sh -c 'echo PID; exec imgbuild ...'`: the pid printed
// first is imgbuild's own, so its cgroups (imgbuild-<pid>-...) can be looked for afterwards.
struct Tracked {
    e2e::CmdResult r;
    pid_t pid = -1;
};
Tracked ib_tracked(const std::string& root, const std::string& args, const std::string& env = "") {
    std::string inner = "echo IMGBUILD_PID=$$; exec env " + env + e2e::bin() + " --root " + root + " " + args;
    Tracked t{e2e::run_cmd("sh -c " + e2e::shell_quote(inner)), -1};
    auto p = t.r.out.find("IMGBUILD_PID=");
    if (p != std::string::npos) t.pid = pid_t(std::atoi(t.r.out.c_str() + p + 13));
    return t;
}

// Nothing of one imgbuild run is left: no mount naming `path` (its store or context), no
// cgroup of its pid, no process whose command line names `path`; and the store passes fsck.
void expect_no_leaks(const Tracked& t, const std::string& root, const std::vector<std::string>& paths) {
    std::string mounts = sys::read_file("/proc/self/mountinfo");
    for (auto& p : paths) EXPECT_THAT(mounts, Not(HasSubstr(p))) << "a mount was left behind";
    if (t.pid > 0) {
        EXPECT_THAT(cgroups_with_prefix("imgbuild-" + std::to_string(t.pid) + "-"), ::testing::IsEmpty());
    }
    std::error_code ec;
    for (auto& e : fs::directory_iterator("/proc", ec)) {
        std::string name = e.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos || name == std::to_string(::getpid())) continue;
        std::string cmd;
        try {
            cmd = sys::read_file(e.path().string() + "/cmdline");
        } catch (const std::exception&) {
            continue;  // gone meanwhile
        }
        for (auto& p : paths) EXPECT_THAT(cmd, Not(HasSubstr(p))) << "process " << name << " outlived the build";
    }
    auto f = e2e::run_cmd(e2e::bin() + " --root " + root + " fsck");
    EXPECT_EQ(f.status, 0) << f.out;
}

}  // namespace

// 10, for ADD: archives whose bytes are another program's format (lzop, lrzip, grzip: Debian's
// libarchive reads them only by exec'ing that program) are never decompressed: no program runs
// (fake ones early in PATH would leave a marker) and, as docker does with an archive it cannot
// read, the file is copied as it is.
TEST(Security, AddForeignCompressionNeverExecsAProgram) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    sys::TempDir bin("/tmp", "imgbuild-e2e-fakebin-");
    std::string marker = bin.path() + "/EXECUTED";
    for (const char* prog : {"lzop", "lrzip", "grzip", "lzip", "lz4", "lzma", "xz", "bzip2", "gzip", "zstd", "uudecode",
                             "compress", "uncompress", "bsdtar"})
        sys::write_file_atomic(bin.path() + "/" + prog, "#!/bin/sh\necho " + std::string(prog) + " \"$@\" >> " + marker + "\ncat\n", 0755);
    std::string junk(600, 'j');
    const std::map<std::string, std::string> files = {
        {"a.tar.lzo", std::string("\x89LZO\0\r\n\x1a\n\x10\x30\x20\xa0\x09\x40\x01\x05", 17) + junk},
        {"b.tar.lrz", std::string("LRZI\0\x06\0\0\0\0\0\0\x10\0\0\0\0\0\0\0\0\0\0\0", 24) + junk},
        {"c.tar.grz", std::string("GRZipII\0\x02\x04:)", 12) + junk},
    };
    Ctx ctx;
    for (auto& [name, data] : files) ctx.file(name, data);
    ctx.file("Buildfile", "FROM busybox:latest\nADD a.tar.lzo b.tar.lrz c.tar.grz /dst/\n");
    auto t = ib_tracked(env.root(), "build --no-cache --progress plain -t addforeign:1 " + ctx.path(),
                        "PATH=" + e2e::shell_quote(bin.path()) + ":$PATH ");
    ASSERT_EQ(t.r.status, 0) << t.r.out;
    EXPECT_FALSE(fs::exists(marker)) << "ADD ran an external decompressor: " << (fs::exists(marker) ? sys::read_file(marker) : "");
    for (auto& [name, data] : files) {
        auto r = env.ib("run --rm addforeign:1 cat /dst/" + name, false);
        EXPECT_EQ(r.status, 0) << name;
        EXPECT_EQ(r.out, data) << name << " was not copied as it is";
    }
    expect_no_leaks(t, env.root(), {ctx.path()});
}

// 7. Bind sources are resolved once, inside their root, and mounted from that fd. A context
// directory swapped (renameat2 RENAME_EXCHANGE, in a tight loop) with a symlink to a host
// directory, and a stage whose source is such a symlink: the host directory never shows.
// Mounting by a path looked up again after the check would show it on about every other step.
TEST(Security, BindSourceSwappedForHostSymlinkNeverExposesHost) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    sys::TempDir secret("/tmp", "imgbuild-e2e-hostsecret-");
    std::ofstream(secret.path() + "/which") << "HOST-SECRET\n";
    Ctx ctx;
    ctx.file("src/which", "vol-content\n");
    ctx.file(secret.path().substr(1) + "/which", "confined-content\n");  // what the symlink means inside the context
    ASSERT_EQ(::symlink(secret.path().c_str(), (ctx.path() + "/alt").c_str()), 0);
    std::string bf = "FROM busybox:latest AS other\n"
                     "RUN mkdir -p " + secret.path() + " && echo stage-conf\"\"ined > " + secret.path() + "/which && ln -s " +
                     secret.path() + " /o\n"
                     "FROM busybox:latest\n"
                     "RUN --mount=type=bind,from=other,source=/o,target=/o cat /o/which\n";
    const int kSteps = 8;
    for (int i = 0; i < kSteps; i++) bf += "RUN --mount=type=bind,source=src,target=/data cat /data/which; echo step" + std::to_string(i) + "\n";
    ctx.file("Buildfile", bf);

    pid_t swapper = ::fork();
    ASSERT_GE(swapper, 0);
    if (swapper == 0) {
        std::string a = ctx.path() + "/src", b = ctx.path() + "/alt";
        for (;;) {
            ::syscall(SYS_renameat2, AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), 2 /*RENAME_EXCHANGE*/);
            ::usleep(1000);
        }
    }
    std::string all;
    int ok_builds = 0;
    std::vector<Tracked> runs;
    // A build may also fail (the context changes under its hashing); build until enough bind
    // mounts were seen.
    auto mounts_seen = [&] { return e2e::count_substr(all, "vol-content\n") + e2e::count_substr(all, "confined-content\n"); };
    for (int i = 0; i < 8 && mounts_seen() < 16; i++) {
        runs.push_back(ib_tracked(env.root(), "build --no-cache --progress plain " + ctx.path()));
        all += runs.back().r.out;
        ok_builds += runs.back().r.status == 0;
    }
    ::kill(swapper, SIGKILL);
    ::waitpid(swapper, nullptr, 0);
    EXPECT_THAT(all, Not(HasSubstr("HOST-SECRET"))) << all;
    EXPECT_THAT(all, HasSubstr("stage-confined")) << all;
    // The race was run: some steps saw the directory or the symlink resolved in the context.
    EXPECT_GT(e2e::count_substr(all, "vol-content") + e2e::count_substr(all, "confined-content"), 0u) << all;
    std::printf("bind race: %d/%zu builds passed; the step saw the directory %zu times, the symlink (confined) %zu times\n",
                ok_builds, runs.size(), e2e::count_substr(all, "vol-content\n"), e2e::count_substr(all, "confined-content\n"));
    for (auto& t : runs) expect_no_leaks(t, env.root(), {ctx.path()});
}

namespace {

constexpr const char* kSde = " --source-date-epoch 1700000000 ";

// A build of ctx into store `root` (metadata in root/m.json) that exports its cache to `cache`
// (`compression`: the cache's layers, "" for the default).
e2e::CmdResult build_with_cache_to(const std::string& root, const std::string& cache, const std::string& ctx,
                                   const std::string& compression = "") {
    return e2e::run_cmd(e2e::bin() + " --root " + root + " build" + kSde + "--metadata-file " + root +
                        "/m.json --cache-to type=local,dest=" + cache +
                        (compression.empty() ? "" : ",compression=" + compression) + " " + ctx);
}

}  // namespace

// 2d. A layer fetched on a remote-cache hit is verified like a pulled or imported one before it
// is stored: a local cache whose layer is a tar with "../x" (digests all consistent) or whose
// record names a wrong diff_id is reported (naming the layer) and the step is rebuilt, as
// BuildKit does with a corrupt cache entry. The image is then the one an honest cache gives.
// The same for zstd cache layers (decompressed straight from the cache dir into the store, never
// copied there first): a wrong diff_id, and a blob whose bytes no longer match its digest.
TEST(Security, CorruptRemoteCacheLayerIsReportedAndRebuilt) {
    if (::geteuid() != 0) GTEST_SKIP() << "builds need root";
    for (std::string mode : {"dotdot", "diffid", "diffid-zstd", "bytes-zstd"}) {
        SCOPED_TRACE(mode);
        sys::TempDir a("/tmp", "imgbuild-e2e-cacheA-"), b("/tmp", "imgbuild-e2e-cacheB-"), dir("/tmp", "imgbuild-e2e-cachedir-");
        Ctx ctx;
        ctx.file("f", "cached file " + mode + "\n").file("g", "second\n");
        ctx.file("Buildfile", "FROM scratch\nCOPY f /f\nCOPY g /g\n");
        std::string cache = dir.path() + "/c";
        const bool zstd = mode.size() > 5 && mode.substr(mode.size() - 5) == "-zstd";
        auto ra = build_with_cache_to(a.path(), cache, ctx.path(), zstd ? "zstd" : "");
        ASSERT_EQ(ra.status, 0) << ra.out;
        std::string how = mode == "bytes-zstd" ? "bytes" : zstd ? "diffid" : mode;
        auto c = e2e::run_cmd("python3 " IMGBUILD_SRC "/testdata/cache/corrupt_local_cache.py " + cache + " " + how, false);
        if (c.status != 0 && !e2e::have_tool("python3")) GTEST_SKIP() << "no python3";
        ASSERT_EQ(c.status, 0) << c.out;
        std::vector<std::string> refused;
        for (size_t p = 0, q; p < c.out.size(); p = q + 1) {
            q = c.out.find('\n', p);
            if (q == std::string::npos) q = c.out.size();
            if (q > p) refused.push_back(c.out.substr(p, q - p));
        }
        ASSERT_FALSE(refused.empty());
        auto t = ib_tracked(b.path(), std::string("build") + kSde + "--progress plain --metadata-file " + b.path() +
                                          "/m.json --cache-from type=local,src=" + cache + " " + ctx.path());
        ASSERT_EQ(t.r.status, 0) << t.r.out;
        for (auto& d : refused) {
            EXPECT_THAT(t.r.out, HasSubstr(d)) << "the refused layer is not named";
            if (mode != "diffid") {
                EXPECT_FALSE(fs::exists(b.path() + "/blobs/sha256/" + d.substr(7))) << d << " was stored";
            }
        }
        auto ma = nlohmann::json::parse(sys::read_file(a.path() + "/m.json"));
        auto mb = nlohmann::json::parse(sys::read_file(b.path() + "/m.json"));
        for (auto& s : mb["steps"])
            if (s["instruction"].get<std::string>().rfind("COPY", 0) == 0) {
                EXPECT_FALSE(s["cached"].get<bool>()) << s.dump();
            }
        EXPECT_EQ(ma["containerimage.digest"], mb["containerimage.digest"]);
        auto ingest = e2e::run_cmd("ls -A " + b.path() + "/ingest 2>/dev/null");
        EXPECT_EQ(ingest.out, "") << "a refused layer left an ingest file";
        expect_no_leaks(t, b.path(), {b.path(), ctx.path()});
    }
}

// The config's import cap binds all the cache layers a build fetches together, as it binds all
// the layers of a pull: two 600 KiB layers under a 1 MiB cap, the second is refused (named, the
// step rebuilt, the same image).
TEST(Security, RemoteCacheLayersShareOneImportCap) {
    if (::geteuid() != 0) GTEST_SKIP() << "builds need root";
    sys::TempDir a("/tmp", "imgbuild-e2e-capA-"), b("/tmp", "imgbuild-e2e-capB-"), dir("/tmp", "imgbuild-e2e-capdir-");
    Ctx ctx;
    std::string big(600 << 10, '\0');
    uint32_t x = 12345;
    for (auto& c : big) c = char((x = x * 1103515245u + 12345u) >> 24);
    ctx.file("a", big);
    std::reverse(big.begin(), big.end());
    ctx.file("b", big);
    ctx.file("Buildfile", "FROM scratch\nCOPY a /a\nCOPY b /b\n");
    std::string cache = dir.path() + "/c";
    auto ra = build_with_cache_to(a.path(), cache, ctx.path());
    ASSERT_EQ(ra.status, 0) << ra.out;
    sys::write_file_atomic(dir.path() + "/config.yaml", "import:\n  max_uncompressed: 1m\n");
    auto rb = e2e::run_cmd(e2e::bin() + " --root " + b.path() + " --config " + dir.path() + "/config.yaml build" + kSde +
                           "--progress plain --metadata-file " + b.path() + "/m.json --cache-from type=local,src=" + cache +
                           " " + ctx.path());
    ASSERT_EQ(rb.status, 0) << rb.out;
    EXPECT_THAT(rb.out, HasSubstr("the import limit of 1048576 bytes (the step is rebuilt)")) << rb.out;
    auto ma = nlohmann::json::parse(sys::read_file(a.path() + "/m.json"));
    auto mb = nlohmann::json::parse(sys::read_file(b.path() + "/m.json"));
    std::vector<bool> cached;
    for (auto& st : mb["steps"]) cached.push_back(st["cached"].get<bool>());
    EXPECT_EQ(cached, (std::vector<bool>{true, false})) << mb.dump();
    EXPECT_EQ(ma["containerimage.digest"], mb["containerimage.digest"]);
}

// 6. io_uring through the binary: a RUN step and `imgbuild run` both get EPERM from seccomp.
TEST(Security, RunStepIoUringIsRefused) {
    REQUIRE_PROBE_IMAGE();
    auto& env = BuildEnv::get();
    Ctx ctx;
    ctx.file("Buildfile", "FROM probeimg:1\nRUN for c in io_uring_setup io_uring_enter io_uring_register; do "
                          "echo \"$c=$(/bin/probe $c)\"; done\n");
    auto t = ib_tracked(env.root(), "build --no-cache --progress plain " + ctx.path());
    ASSERT_EQ(t.r.status, 0) << t.r.out;
    for (const char* c : {"io_uring_setup=EPERM", "io_uring_enter=EPERM", "io_uring_register=EPERM"})
        EXPECT_THAT(t.r.out, HasSubstr(c)) << t.r.out;
    auto r = env.ib("run --rm probeimg:1 /bin/probe io_uring_setup", false);
    EXPECT_EQ(r.out, "EPERM\n");
    expect_no_leaks(t, env.root(), {ctx.path()});
}

// 13. A committed RUN snapshot is shared by chain id with every later user of the layer, so it
// must hold exactly what the layer tar holds: a unix socket and a POSIX ACL a RUN step leaves
// (neither goes into a layer) are not seen by `imgbuild run` of the image nor by a child build.
TEST(Security, SnapshotHoldsOnlyWhatTheLayerHolds) {
    REQUIRE_PROBE_IMAGE();
    auto& env = BuildEnv::get();
    Ctx ctx;
    ctx.file("Buildfile", "FROM probeimg:1\nRUN echo x > /f && /bin/probe mksock /s && echo acl=$(/bin/probe setacl /f)\n");
    auto t = ib_tracked(env.root(), "build --no-cache --progress plain -t sockacl:1 " + ctx.path());
    ASSERT_EQ(t.r.status, 0) << t.r.out;
    bool acl_set = t.r.out.find("acl=OK") != std::string::npos;
    auto r = env.ib("run --rm sockacl:1 /bin/sh -c 'test -e /s && echo SOCKET-\"\"SEEN; /bin/probe hasacl /f; cat /f'", false);
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_THAT(r.out, Not(HasSubstr("SOCKET-SEEN")));
    if (acl_set) {
        EXPECT_THAT(r.out, HasSubstr("ENODATA"));
    }
    EXPECT_THAT(r.out, HasSubstr("x\n"));
    Ctx child;
    child.file("Buildfile", "FROM sockacl:1\nRUN test -e /s && echo CHILD-SEES-\"\"SOCKET; /bin/probe hasacl /f; true\n");
    auto c = ib_tracked(env.root(), "build --no-cache --progress plain " + child.path());
    ASSERT_EQ(c.r.status, 0) << c.r.out;
    EXPECT_THAT(c.r.out, Not(HasSubstr("CHILD-SEES-SOCKET")));
    if (acl_set) {
        EXPECT_THAT(c.r.out, HasSubstr("ENODATA"));
    }
    expect_no_leaks(t, env.root(), {ctx.path()});
    expect_no_leaks(c, env.root(), {child.path()});
}

// 15. `imgbuild export -o PATH.tar` never writes through a symlink planted where the temp file
// used to be (PATH.tmp-<pid of imgbuild>, PATH.tmp): the shell plants them with its own pid,
// then execs imgbuild under that pid.
TEST(Security, ExportNeverFollowsPlantedTempSymlink) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    sys::TempDir dir("/tmp", "imgbuild-e2e-export-");
    std::string victim = dir.path() + "/victim";
    sys::write_file_atomic(victim, "precious\n");
    for (std::string fmt : {"oci", "docker"}) {
        std::string out = dir.path() + "/img-" + fmt + ".tar";
        std::string script = "ln -s " + victim + " " + out + ".tmp-$$ && ln -s " + victim + " " + out + ".tmp && exec " +
                             e2e::bin() + " --root " + env.root() + " export busybox:latest --format " + fmt + " -o " + out;
        auto r = e2e::run_cmd("sh -c " + e2e::shell_quote(script));
        EXPECT_EQ(r.status, 0) << r.out;
        EXPECT_EQ(sys::read_file(victim), "precious\n") << fmt << ": the export wrote through a planted symlink";
        EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(out))) << fmt;
    }
    expect_fsck_clean();
}
