// Cgroup limits: out of memory, fork bomb, timeout, CPU quota; signals forwarded then SIGKILL;
// and nothing left behind after each.
#include <gmock/gmock.h>
#include <sched.h>
#include <sys/mount.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "tests/runtime/fixture.hpp"

using namespace rt_test;
using runtime::RunResult;

TEST_F(RuntimeTest, OutOfMemoryIsReported) {
    need_probe();
    auto s = spec({"/bin/probe", "alloc", "200"});
    s.limits.memory_bytes = 64ull << 20;
    auto o = run_ok(s);
    EXPECT_EQ(o.result.how, RunResult::How::OutOfMemory) << o.out << o.err;
    EXPECT_EQ(o.result.describe(s.limits), "killed: out of memory (limit 64 MiB)");
    EXPECT_EQ(o.result.shell_status(), 137);
    EXPECT_GT(o.result.peak_memory_bytes, 32ull << 20);
    EXPECT_LE(o.result.peak_memory_bytes, 65ull << 20);
}

TEST_F(RuntimeTest, MemoryWithinLimitIsFine) {
    need_probe();
    auto s = spec({"/bin/probe", "alloc", "20"});
    s.limits.memory_bytes = 64ull << 20;
    auto o = run_ok(s);
    EXPECT_EQ(o.result.how, RunResult::How::Exited);
    EXPECT_EQ(o.out, "allocated 20 MiB\n");
    EXPECT_GT(o.result.peak_memory_bytes, 20ull << 20);
}

TEST_F(RuntimeTest, ForkBombIsContained) {
    need_probe();
    auto s = spec({"/bin/probe", "forkbomb"});
    s.limits.pids = 64;
    auto o = run_ok(s);
    EXPECT_EQ(o.out, "forked 63 then EAGAIN\n");
    // A shell fork bomb, stopped by the timeout; the host stays responsive meanwhile.
    s = spec({"/bin/sh", "-c", "/bin/sh -c 'f() { f | f & }; f'; while :; do :; done"});
    s.limits.pids = 64;
    s.limits.timeout_ms = 1500;
    auto t0 = std::chrono::steady_clock::now();
    o = run_ok(s);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(o.result.how, RunResult::How::TimedOut);
    EXPECT_LT(ms, 6000);
}

TEST_F(RuntimeTest, TimeoutKillsEverything) {
    auto s = spec({"/bin/sh", "-c", "sleep 1000 & sleep 1000"});
    s.limits.timeout_ms = 2000;
    auto o = run_ok(s);
    EXPECT_EQ(o.result.how, RunResult::How::TimedOut);
    EXPECT_EQ(o.result.describe(s.limits), "killed: timed out after 2s");
    EXPECT_GE(o.result.wall_ms, 1900);
    EXPECT_LT(o.result.wall_ms, 3500);
}

TEST_F(RuntimeTest, CpuQuotaIsAQuarter) {
    need_probe();
    auto s = spec({"/bin/probe", "spin", "2"});
    s.limits.cpus = 0.25;
    auto o = run_ok(s);
    ASSERT_EQ(o.result.how, RunResult::How::Exited);
    double share = double(o.result.cpu_usage_ns) / 1e6 / double(o.result.wall_ms);
    EXPECT_GT(share, 0.15) << "cpu " << o.result.cpu_usage_ns << "ns over " << o.result.wall_ms << "ms";
    EXPECT_LT(share, 0.35) << "cpu " << o.result.cpu_usage_ns << "ns over " << o.result.wall_ms << "ms";
}

TEST_F(RuntimeTest, SignalsAreForwardedThenEscalated) {
    // pid 1 with a TERM handler exits on the forwarded signal.
    auto s = spec({"/bin/sh", "-c", "trap 'echo got-term; exit 7' TERM; while :; do sleep 0.05; done"});
    auto fut = std::async(std::launch::async, [&] { return run_capture(s); });
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    runtime::forward_signal(SIGTERM);
    auto o = fut.get();
    EXPECT_EQ(o.result.how, RunResult::How::Exited);
    EXPECT_EQ(o.result.exit_code, 7);
    EXPECT_EQ(o.out, "got-term\n");

    // pid 1 without a handler ignores SIGTERM: SIGKILL after the grace period.
    s = spec({"/bin/sleep", "1000"});
    s.kill_grace_ms = 300;
    auto t0 = std::chrono::steady_clock::now();
    fut = std::async(std::launch::async, [&] { return run_capture(s); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    runtime::forward_signal(SIGTERM);
    o = fut.get();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(o.result.how, RunResult::How::Signaled);
    EXPECT_EQ(o.result.exit_code, SIGKILL);
    EXPECT_LT(ms, 3000);
    EXPECT_TRUE(find_cgroups(s.cgroup_name).empty());
}

TEST_F(RuntimeTest, ZombiesDoNotOutliveTheContainer) {
    need_probe();
    auto o = run_ok(spec({"/bin/sh", "-c", "/bin/probe zombie; sleep 1000 & exit 0"}));
    EXPECT_EQ(o.result.exit_code, 0);
}

// The container's process is in the container's cgroup in every hierarchy while it runs (v1
// directories are joined by the process itself, a v2 one by imgbuild), and only it is.
TEST_F(RuntimeTest, TheContainerIsInItsCgroupInEveryHierarchy) {
    auto s = spec({"/bin/sleep", "2"});
    s.limits.memory_bytes = 64ull << 20;
    s.limits.pids = 16;
    auto done = std::async(std::launch::async, [&] { return run_ok(s); });
    std::vector<std::string> dirs;
    std::string procs;
    for (int i = 0; i < 150 && procs.empty(); i++) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        dirs = find_cgroups(s.cgroup_name);
        if (!dirs.empty()) procs = slurp(dirs.front() + "/cgroup.procs");
    }
    ASSERT_FALSE(procs.empty()) << "no process in " << s.cgroup_name;
    const std::string pid = procs.substr(0, procs.find('\n'));
    const std::string own = slurp("/proc/" + pid + "/cgroup");
    for (const std::string& d : dirs) {
        EXPECT_EQ(slurp(d + "/cgroup.procs"), pid + "\n") << d;
        if (sys::exists(d + "/tasks")) {
            EXPECT_EQ(slurp(d + "/tasks"), pid + "\n") << d;
        }
    }
    // memory and pids (the limits asked for) are each in a hierarchy that holds the process.
    for (const char* ctl : {"memory", "pids"}) {
        bool found = false;
        std::istringstream in(own);
        for (std::string line; std::getline(in, line);)
            if (line.find(s.cgroup_name) != std::string::npos &&
                (line.find(std::string(":") + ctl) != std::string::npos || line.rfind("0::", 0) == 0))
                found = true;
        EXPECT_TRUE(found) << ctl << " not joined: " << own;
    }
    auto o = done.get();
    EXPECT_EQ(o.result.how, RunResult::How::Exited) << o.err;
}

// (root in the hierarchy, mount point) of this process's mounts of file system type `type`.
static std::vector<std::pair<std::string, std::string>> mounts_of(const std::string& type) {
    std::vector<std::pair<std::string, std::string>> out;
    std::istringstream in(slurp("/proc/self/mountinfo"));
    for (std::string line; std::getline(in, line);) {
        std::istringstream f(line);
        std::string id, parent, dev, root, mnt;
        f >> id >> parent >> dev >> root >> mnt;
        if (line.find(" - " + type + " ") != std::string::npos) out.emplace_back(root, mnt);
    }
    return out;
}

// On a host whose cgroups are v2 alone (here: a private mount namespace without the v1
// hierarchies), the container's process is in its v2 cgroup: born there (clone3 into the
// cgroup) or moved there before it is released.
TEST_F(RuntimeTest, OnCgroupV2AloneTheContainerIsInItsCgroup) {
    std::string v2;
    for (auto& [root, mnt] : mounts_of("cgroup2"))
        if (root == "/") v2 = mnt;
    if (v2.empty()) GTEST_SKIP() << "no cgroup v2 hierarchy mounted";
    auto s = spec({"/bin/sleep", "1"});
    const std::string procs = v2 + "/imgbuild/" + s.cgroup_name + "/cgroup.procs";
    pid_t p = ::fork();
    if (p == 0) {
        // Only this process's mount table loses the v1 hierarchies.
        if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ::_exit(90);
        for (auto& [root, mnt] : mounts_of("cgroup"))
            if (::umount2(mnt.c_str(), MNT_DETACH) != 0) ::_exit(91);
        std::atomic<bool> seen{false}, done{false};
        std::thread watch([&] {
            while (!done && !seen) {
                std::string ps = slurp(procs);
                if (!ps.empty() && ps.find('\n') == ps.rfind('\n')) seen = true;  // one process: the container's
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
        });
        Output o;
        int threw = 0;
        try {
            o = run_capture(s);
        } catch (...) {
            threw = 92;
        }
        done = true;
        watch.join();
        if (threw) ::_exit(threw);
        if (o.result.how != RunResult::How::Exited || o.result.exit_code != 0) ::_exit(93);
        ::_exit(seen ? 0 : 94);
    }
    ASSERT_GT(p, 0);
    int st = 0;
    ASSERT_EQ(::waitpid(p, &st, 0), p);
    ASSERT_TRUE(WIFEXITED(st));
    EXPECT_EQ(WEXITSTATUS(st), 0) << "90/91: mount namespace, 92: run threw, 93: the command failed, 94: never seen in " << procs;
    EXPECT_TRUE(find_cgroups(s.cgroup_name).empty());
}
