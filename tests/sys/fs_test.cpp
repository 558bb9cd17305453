#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "sys/error.hpp"
#include "sys/fs.hpp"

using namespace sys;

TEST(Fs, AtomicWriteAndRead) {
    TempDir t("/tmp", "imgbuild-test-");
    std::string p = t.path() + "/f";
    write_file_atomic(p, "hello");
    EXPECT_EQ(read_file(p), "hello");
    write_file_atomic(p, "bye");
    EXPECT_EQ(read_file(p), "bye");
    EXPECT_THROW(read_file(p, 2), Error);
}

TEST(Fs, ReadMissingIsNotFound) {
    try {
        read_file("/nonexistent/imgbuild/x");
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::NotFound);
        EXPECT_NE(std::string(e.what()).find("/nonexistent/imgbuild/x"), std::string::npos);
    }
}

TEST(Fs, TempDirRemovesTree) {
    std::string path;
    {
        TempDir t("/tmp", "imgbuild-test-");
        path = t.path();
        mkdir_p(path + "/a/b/c");
        write_file_atomic(path + "/a/b/c/f", "x");
        ASSERT_EQ(symlink("/etc", (path + "/a/link").c_str()), 0);
    }
    EXPECT_FALSE(exists(path));
}

TEST(Fs, MkdirPCreatesMissingComponentsAndRefusesFiles) {
    TempDir t("/tmp", "imgbuild-test-");
    mkdir_p(t.path() + "/a//b/c/", 0750);  // doubled and trailing slashes
    struct stat st;
    ASSERT_EQ(::stat((t.path() + "/a/b/c").c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    mode_t um = ::umask(0);
    ::umask(um);
    EXPECT_EQ(st.st_mode & 07777, 0750u & ~um);
    mkdir_p(t.path() + "/a/b/c");  // exists: fine
    write_file_atomic(t.path() + "/file", "x");
    EXPECT_THROW(mkdir_p(t.path() + "/file"), Error);         // exists, not a directory
    EXPECT_THROW(mkdir_p(t.path() + "/file/sub/deeper"), Error);  // a file in the middle
    EXPECT_FALSE(exists(t.path() + "/file/sub"));
}

TEST(Fs, RemoveTreeRefusesMountPoint) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to mount a tmpfs";
    // A private mount namespace for this test process: the host never sees the mount.
    ASSERT_EQ(unshare(CLONE_NEWNS), 0);
    ASSERT_EQ(mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr), 0);
    TempDir t("/tmp", "imgbuild-test-");
    mkdir_p(t.path() + "/m");
    ASSERT_EQ(mount("tmpfs", (t.path() + "/m").c_str(), "tmpfs", 0, nullptr), 0);
    write_file_atomic(t.path() + "/m/keep", "data");
    EXPECT_THROW(remove_tree(t.path()), Error);
    EXPECT_EQ(read_file(t.path() + "/m/keep"), "data");  // nothing inside the mount was deleted
    ASSERT_EQ(umount2((t.path() + "/m").c_str(), MNT_DETACH), 0);
}

TEST(Fs, OpenInRootConfinesSymlinks) {
    TempDir t("/tmp", "imgbuild-test-");
    mkdir_p(t.path() + "/etc");
    write_file_atomic(t.path() + "/etc/passwd", "inside");
    ASSERT_EQ(symlink("/etc/passwd", (t.path() + "/abs").c_str()), 0);
    ASSERT_EQ(symlink("../../../../../etc/passwd", (t.path() + "/rel").c_str()), 0);
    UniqueFd root = open_dir(t.path());
    for (const char* p : {"abs", "rel", "/etc/passwd", "../../etc/passwd"}) {
        UniqueFd fd = open_in_root(root.get(), p, O_RDONLY);
        char buf[16] = {};
        ASSERT_GT(read(fd.get(), buf, sizeof buf - 1), 0);
        EXPECT_STREQ(buf, "inside") << p;
    }
}

// containerd's fs.RootPath, which BuildKit resolves a COPY destination with.
TEST(Fs, ResolveInRootByRootPathRuleIsContainerdsRootPath) {
    TempDir t("/tmp", "imgbuild-test-");
    mkdir_p(t.path() + "/real/dir");
    write_file_atomic(t.path() + "/real/file", "x");
    auto ln = [&](const char* target, const char* at) { ASSERT_EQ(symlink(target, (t.path() + at).c_str()), 0); };
    ln("/real/file", "/abs");                 // absolute: from the root
    ln("real/file", "/rel");                  // relative: from the link's directory
    ln("../../../../real/dir", "/up");        // ".." stops at the root
    ln("/../../../real/dir", "/absup");
    ln("abs", "/chain");                      // a chain of links
    ln("/missing/deeper", "/dangling");       // a missing target is kept as written
    ln("dir", "/real/d");                     // a link in the middle of a path
    ln(t.path().c_str(), "/host");            // the host's path of the root: inside the root
    ln("loop2", "/loop1");
    ln("loop1", "/loop2");
    UniqueFd root = open_dir(t.path());
    auto f = [&](const std::string& p) { return resolve_in_root(root.get(), p, LinkRule::RootPath); };
    EXPECT_EQ(f("/"), "/");
    EXPECT_EQ(f("/real/file"), "/real/file");
    EXPECT_EQ(f("/abs"), "/real/file");
    EXPECT_EQ(f("/rel"), "/real/file");
    EXPECT_EQ(f("/up"), "/real/dir");
    EXPECT_EQ(f("/up/x"), "/real/dir/x");
    EXPECT_EQ(f("/absup"), "/real/dir");
    EXPECT_EQ(f("/chain"), "/real/file");
    EXPECT_EQ(f("/dangling"), "/missing/deeper");
    EXPECT_EQ(f("/dangling/more"), "/missing/deeper/more");
    EXPECT_EQ(f("/real/d/new"), "/real/dir/new");
    EXPECT_EQ(f("/real/d/../file"), "/real/file");  // ".." after the link's target, as the kernel
    EXPECT_EQ(f("/host"), t.path());
    EXPECT_EQ(f("/nothere"), "/nothere");
    try {
        f("/loop1");
        ADD_FAILURE() << "a link cycle resolved";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::InvalidInput);
        EXPECT_EQ(e.sys_errno(), ELOOP);
    }
    EXPECT_THROW(f("/real/file/below"), Error);  // ENOTDIR
}

// Paths past PATH_MAX (a deep layer entry) open part by part: the first part resolved in the
// root as always, no symlink past it.
TEST(Fs, OpenInRootTakesPathsLongerThanPathMax) {
    TempDir t("/tmp", "imgbuild-test-");
    UniqueFd root = open_dir(t.path());
    ASSERT_EQ(mkdirat(root.get(), "real", 0755), 0);
    ASSERT_EQ(symlinkat("/real", root.get(), "link"), 0);
    UniqueFd cur = open_in_root(root.get(), "real", O_RDONLY | O_DIRECTORY);
    std::string deep, name(200, 'n');
    for (int i = 0; i < 30; i++) {
        ASSERT_EQ(mkdirat(cur.get(), name.c_str(), 0755), 0);
        cur = UniqueFd(openat(cur.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        deep += "/" + name;
    }
    ASSERT_EQ(symlinkat("/real", cur.get(), "up"), 0);
    UniqueFd f(openat(cur.get(), "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    ASSERT_TRUE(f);
    ASSERT_GT(deep.size(), size_t(4096));
    EXPECT_TRUE(open_in_root(root.get(), "real" + deep + "/f", O_RDONLY));
    EXPECT_TRUE(open_in_root(root.get(), "/link" + deep + "/f", O_RDONLY)) << "a link in the first part is followed";
    UniqueFd none = try_open_in_root(root.get(), "real" + deep + "/up" + deep, O_RDONLY);
    EXPECT_FALSE(none);
    EXPECT_EQ(errno, ELOOP) << "no symlink past the first part";
    EXPECT_FALSE(try_open_in_root(root.get(), "real" + deep + "/missing", O_RDONLY));
    EXPECT_EQ(errno, ENOENT);
}

TEST(Fs, FileLockTryLockSeesHolder) {
    TempDir t("/tmp", "imgbuild-test-");
    FileLock a(t.path() + "/l", FileLock::Exclusive);
    // flock locks are per open file description: a second open in this process conflicts.
    FileLock b = FileLock::try_lock(t.path() + "/l", FileLock::Exclusive);
    EXPECT_FALSE(bool(b));
    a.unlock();
    FileLock c = FileLock::try_lock(t.path() + "/l", FileLock::Exclusive);
    EXPECT_TRUE(bool(c));
}

// Mount targets are resolved as runc's securejoin does: every symlink inside the root, a
// dangling one naming the path to create, never above the root.
TEST(Fs, ResolveInRootFollowsSymlinksInside) {
    TempDir t("/tmp", "imgbuild-test-");
    mkdir_p(t.path() + "/real/sub");
    ASSERT_EQ(symlink("/", (t.path() + "/toroot").c_str()), 0);
    ASSERT_EQ(symlink("../../../real", (t.path() + "/up").c_str()), 0);
    ASSERT_EQ(symlink("/run/missing/file", (t.path() + "/dangling").c_str()), 0);
    ASSERT_EQ(symlink("loop2", (t.path() + "/loop1").c_str()), 0);
    ASSERT_EQ(symlink("loop1", (t.path() + "/loop2").c_str()), 0);
    UniqueFd root = open_dir(t.path());
    EXPECT_EQ(resolve_in_root(root.get(), "/toroot/hosts"), "/hosts");
    EXPECT_EQ(resolve_in_root(root.get(), "/toroot"), "/");
    EXPECT_EQ(resolve_in_root(root.get(), "up/sub/./x"), "/real/sub/x");
    EXPECT_EQ(resolve_in_root(root.get(), "/dangling"), "/run/missing/file");
    EXPECT_EQ(resolve_in_root(root.get(), "/missing/../up/sub"), "/real/sub");
    EXPECT_EQ(resolve_in_root(root.get(), "/../../etc/hosts"), "/etc/hosts");
    try {
        resolve_in_root(root.get(), "/loop1/x");
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::InvalidInput);
    }
}
