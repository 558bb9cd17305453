// Performance properties of `imgbuild build` checked by counting syscalls (strace -f -c) and by
// comparing the store before and after, never by timing: a COPY of many files asks the kernel
// once whether it can reflink / copy_file_range, hashes each file once, fsyncs no layer data,
// and a fully cached rebuild writes nothing.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>
#include <chrono>

#include "build_env.hpp"

using e2e::BuildEnv;
using e2e::Ctx;
using e2e::run_cmd;

namespace {

struct Count {
    long calls = 0, errors = 0;
};

// `imgbuild --root ROOT ARGS` under `strace -f -c`, counting only `syscalls` (comma list).
std::map<std::string, Count> strace_counts(const std::string& args, const std::string& syscalls, const std::string& dir) {
    std::string out = dir + "/strace.txt";
    e2e::CmdResult r = run_cmd("strace -f -c -U calls,errors,name -e trace=" + syscalls + " -o " + out + " " + e2e::bin() +
                               " --root " + BuildEnv::get().root() + " " + args);
    EXPECT_EQ(r.status, 0) << r.out;
    std::map<std::string, Count> m;
    std::istringstream in(sys::read_file(out));
    for (std::string line; std::getline(in, line);) {
        std::istringstream f(line);
        Count c;
        std::string a, b, name;
        if (!(f >> a >> b)) continue;
        if (!(f >> name)) {  // no errors column: "calls name"
            name = b;
            b = "0";
        }
        try {
            c.calls = std::stol(a);
            c.errors = std::stol(b);
        } catch (...) {
            continue;  // header, separator, total
        }
        m[name] = c;
    }
    return m;
}

bool have_strace() { return run_cmd("strace -V").status == 0; }

// Every file under dir: path -> (size, mtime ns, ctime ns, inode).
std::map<std::string, std::string> store_state(const std::string& dir) {
    std::map<std::string, std::string> m;
    for (auto& e : std::filesystem::recursive_directory_iterator(dir, std::filesystem::directory_options::skip_permission_denied)) {
        struct stat st;
        if (::lstat(e.path().c_str(), &st) != 0) continue;
        std::ostringstream v;
        v << st.st_size << " " << st.st_mtim.tv_sec << "." << st.st_mtim.tv_nsec << " " << st.st_ctim.tv_sec << "."
          << st.st_ctim.tv_nsec << " " << st.st_ino;
        m[e.path().string()] = v.str();
    }
    return m;
}

}  // namespace

TEST(BuildSyscalls, ManyFileCopyAsksOnceHashesOnceAndFsyncsNoLayerData) {
    REQUIRE_BASE();
    if (!have_strace()) GTEST_SKIP() << "strace missing (apt-get install strace)";
    Ctx ctx;
    const int n = 300;
    for (int i = 0; i < n; ++i) ctx.file("tree/d" + std::to_string(i % 10) + "/f" + std::to_string(i), "file " + std::to_string(i) + "\n");
    ctx.file("Buildfile", "FROM busybox:latest\nCOPY tree/ /tree-" + std::to_string(::getpid()) + "/\nRUN find /tree-* -type f | wc -l > /count\n");
    auto c = strace_counts("build --progress plain -t syscalls:1 " + ctx.path(), "ioctl,copy_file_range,fadvise64,fsync,fdatasync",
                           ctx.path());
    // Before: one failing FICLONE and one failing copy_file_range per file (2 x 300).
    EXPECT_LE(c["ioctl"].errors, 10);
    EXPECT_LE(c["copy_file_range"].errors, 2);
    // Before: every file was read twice (for the key, then again for `cache explain`).
    EXPECT_LE(c["fadvise64"].calls, n + 10);
    // Before: each step's layer blob, snapshot and record were fsynced (58 fsyncs in a 2-step
    // build). What remains is the image's config and manifest blobs and the tag.
    EXPECT_LE(c["fsync"].calls + c["fdatasync"].calls, 8);

    auto check = run_cmd(e2e::bin() + " --root " + BuildEnv::get().root() + " run --rm syscalls:1 cat /count");
    EXPECT_EQ(check.status, 0) << check.out;
    EXPECT_EQ(check.out, std::to_string(n) + "\n");
}

TEST(BuildSyscalls, FullyCachedRebuildWritesNothing) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    Ctx ctx;
    for (int i = 0; i < 20; ++i) ctx.file("files/f" + std::to_string(i), std::to_string(i) + "\n");
    ctx.file("Buildfile", "FROM busybox:latest\nRUN echo " + std::to_string(::getpid()) +
                              " > /a\nENV X=1\nCOPY files/ /files/\nRUN ls /files > /list\n");
    // Files written in the same second as the stat cache are "racy" and re-hashed (as git
    // does): let that second pass so the rebuilds below can trust the cache.
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    std::string cmd = "build --progress plain -t cached:1 " + ctx.path();
    ASSERT_EQ(env.ib(cmd).status, 0);
    ASSERT_EQ(env.ib(cmd).status, 0);  // may refresh the context stat cache once (racy entries)
    auto before = store_state(env.root());
    auto r = env.ib(cmd);
    ASSERT_EQ(r.status, 0) << r.out;
    auto after = store_state(env.root());
    // Before: every cached step's record was rewritten (and fsynced) on each rebuild.
    std::string changed;
    for (const auto& [path, v] : after)
        if (auto it = before.find(path); it == before.end() || it->second != v) changed += "  " + path + "\n";
    for (const auto& [path, v] : before)
        if (!after.count(path)) changed += "  removed " + path + "\n";
    EXPECT_EQ(changed, "") << "the cached rebuild changed the store";
    if (have_strace()) {
        auto c = strace_counts(cmd, "fsync,fdatasync,rename,renameat,renameat2", ctx.path());
        EXPECT_EQ(c["fsync"].calls + c["fdatasync"].calls, 0);
        EXPECT_EQ(c["rename"].calls + c["renameat"].calls + c["renameat2"].calls, 0);
    }
}

// A rebuild of a big context (stat cache >= 1 MiB, ~8,000 files) runs the binary once more with
// glibc's malloc on transparent huge pages (cli/cmd_build.cpp); a small one, or one whose user
// set GLIBC_TUNABLES, does not. The RUN steps of the tuned process see neither variable.
TEST(BuildSyscalls, BigContextRebuildReexecutesWithMallocTunables) {
    REQUIRE_BASE();
    if (!have_strace()) GTEST_SKIP() << "strace missing (apt-get install strace)";
    Ctx big, small;
    for (int d = 0; d < 50; ++d) {
        std::filesystem::create_directories(big.path() + "/t/d" + std::to_string(d));
        for (int i = 0; i < 200; ++i) {
            std::ofstream(big.path() + "/t/d" + std::to_string(d) + "/file-with-a-longer-name-" + std::to_string(i) + ".txt")
                << d << " " << i << "\n";
        }
    }
    big.file("Buildfile", "FROM busybox:latest\nCOPY t/ /t/\nARG X=1\nRUN env > /env.txt && echo $X\n");
    small.file("f", "x\n").file("Buildfile", "FROM busybox:latest\nCOPY f /f\n");
    const std::string root = BuildEnv::get().root();
    ASSERT_EQ(run_cmd(e2e::bin() + " --root " + root + " build -t bigctx:1 " + big.path()).status, 0);
    auto execs = [&](const std::string& env, const std::string& args) {
        std::string out = big.path() + "/../strace-exec-" + std::to_string(::getpid()) + ".txt";
        e2e::CmdResult r = run_cmd(env + " strace -f -e trace=execve -o " + out + " " + e2e::bin() + " --root " + root + " " + args);
        EXPECT_EQ(r.status, 0) << r.out;
        std::string t = sys::read_file(out);
        ::unlink(out.c_str());
        return t;
    };
    std::string t = execs("", "build --build-arg X=2 --output type=local,dest=" + big.path() + "/out -t bigctx:2 " + big.path());
    EXPECT_NE(t.find("execve(\"/proc/self/exe\""), std::string::npos) << t;
    std::string env = sys::read_file(big.path() + "/out/env.txt");
    EXPECT_EQ(env.find("GLIBC_TUNABLES"), std::string::npos) << env;
    EXPECT_EQ(env.find("IMGBUILD_MALLOC_TUNED"), std::string::npos) << env;
    t = execs("GLIBC_TUNABLES=glibc.malloc.check=0", "build -t bigctx:2 " + big.path());
    EXPECT_EQ(t.find("/proc/self/exe"), std::string::npos) << t;
    ASSERT_EQ(run_cmd(e2e::bin() + " --root " + root + " build -t smallctx:1 " + small.path()).status, 0);
    t = execs("", "build -t smallctx:1 " + small.path());
    EXPECT_EQ(t.find("/proc/self/exe"), std::string::npos) << t;
}
