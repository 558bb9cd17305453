// COPY source selection (escapes, globs, --exclude, --parents, .dockerignore) and the copy
// itself into a destination root (dest rules, --chown/--chmod, symlinks, confinement).
#include <gtest/gtest.h>

#include <dirent.h>
#include <sys/xattr.h>

#include <functional>
#include <set>

#include "context/context.hpp"
#include "context/copy.hpp"
#include "context_util.hpp"
#include "sys/error.hpp"

using namespace context;
using ctxtest::get;
using ctxtest::lst;
using ctxtest::put;

namespace {

struct ContextCopy : ::testing::Test {
    ctxtest::Tmp ctx, dst;
    sys::UniqueFd dst_fd;
    void SetUp() override {
        put(ctx.p("a.txt"), "A");
        put(ctx.p("b.txt"), "BB");
        put(ctx.p("c.md"), "C");
        put(ctx.p("dir/one"), "1");
        put(ctx.p("dir/sub/two"), "22", 0600);
        put(ctx.p("dir/run.sh"), "#!/bin/sh\n", 04755);
        put(ctx.p("x/y/z.txt"), "Z");
        dst_fd = sys::open_dir(dst.p());
    }
    // Plan + copy; returns the plan.
    CopyPlan run(CopySpec spec, const std::string& buildfile = "") {
        Context c = Context::open(ctx.p(), buildfile);
        spec.label = "Buildfile:7";
        CopyPlan plan = plan_copy(c.root(), spec);
        execute_copy(c.root(), plan, dst_fd.get());
        return plan;
    }
    static CopySpec spec(std::vector<std::string> srcs, std::string dest) {
        CopySpec s;
        s.sources = std::move(srcs);
        s.dest = std::move(dest);
        return s;
    }
    std::string error_of(CopySpec s) {
        try {
            run(std::move(s));
        } catch (const sys::Error& e) {
            return e.what();
        }
        return "";
    }
    std::set<std::string> dst_list(const std::string& rel) { return tree(dst.p(rel)); }
    static std::set<std::string> tree(const std::string& top) {
        std::set<std::string> out;
        std::function<void(const std::string&, const std::string&)> walk = [&](const std::string& abs, const std::string& r) {
            sys::UniqueFd d = sys::open_dir(abs);
            DIR* dd = fdopendir(d.release());
            while (dirent* de = readdir(dd)) {
                std::string n = de->d_name;
                if (n == "." || n == "..") continue;
                std::string rr = r.empty() ? n : r + "/" + n;
                out.insert(rr);
                if (de->d_type == DT_DIR) walk(abs + "/" + n, rr);
            }
            closedir(dd);
        };
        walk(top, "");
        return out;
    }
};

TEST_F(ContextCopy, FileToFileAndToDir) {
    run(spec({"a.txt"}, "/out/renamed.txt"));
    EXPECT_EQ(get(dst.p("out/renamed.txt")), "A");
    run(spec({"b.txt"}, "/out/"));
    EXPECT_EQ(get(dst.p("out/b.txt")), "BB");
    // an existing directory without the slash: the file goes inside it
    sys::mkdir_p(dst.p("exists"));
    run(spec({"a.txt"}, "/exists"));
    EXPECT_EQ(get(dst.p("exists/a.txt")), "A");
    // relative dest is relative to WORKDIR
    CopySpec s = spec({"c.md"}, "rel/");
    s.workdir = "/work/dir";
    run(s);
    EXPECT_EQ(get(dst.p("work/dir/rel/c.md")), "C");
    EXPECT_EQ(lst(dst.p("work")).st_mode & 07777, 0755u);
}

TEST_F(ContextCopy, MultipleSourcesNeedDirectory) {
    EXPECT_NE(error_of(spec({"a.txt", "b.txt"}, "/multi")).find("must be a directory and end with a /"), std::string::npos);
    run(spec({"a.txt", "b.txt"}, "/multi/"));
    EXPECT_EQ(dst_list("multi"), (std::set<std::string>{"a.txt", "b.txt"}));
}

TEST_F(ContextCopy, DirectoryContentsAndModes) {
    run(spec({"dir"}, "/app"));
    EXPECT_EQ(dst_list("app"), (std::set<std::string>{"one", "sub", "sub/two", "run.sh"}));
    EXPECT_EQ(lst(dst.p("app/sub/two")).st_mode & 07777, 0600u);
    EXPECT_EQ(lst(dst.p("app/run.sh")).st_mode & 07777, 04755u);  // setuid kept
    EXPECT_EQ(lst(dst.p("app/one")).st_uid, 0u);
    // mtimes kept from the source
    EXPECT_EQ(lst(dst.p("app/sub/two")).st_mtim.tv_sec, lst(ctx.p("dir/sub/two")).st_mtim.tv_sec);
    EXPECT_EQ(lst(dst.p("app/sub/two")).st_mtim.tv_nsec, lst(ctx.p("dir/sub/two")).st_mtim.tv_nsec);
    EXPECT_EQ(lst(dst.p("app/sub")).st_mtim.tv_nsec, lst(ctx.p("dir/sub")).st_mtim.tv_nsec);
}

TEST_F(ContextCopy, GlobsAndNoMatch) {
    run(spec({"*.txt"}, "/g/"));
    EXPECT_EQ(dst_list("g"), (std::set<std::string>{"a.txt", "b.txt"}));
    run(spec({"x/*/z.tx?"}, "/g2/"));
    EXPECT_EQ(dst_list("g2"), (std::set<std::string>{"z.txt"}));
    // A wildcard that matches nothing copies nothing, as BuildKit does (AllowEmptyWildcard;
    // testdata/differential/copy-nomatch-error records docker's result).
    std::string err = error_of(spec({"*.nothing"}, "/g3/"));
    EXPECT_EQ(err, "");
    err = error_of(spec({"missing.txt"}, "/g3/"));
    EXPECT_NE(err.find("Buildfile:7: COPY failed: file not found in build context"), std::string::npos) << err;
    EXPECT_NE(err.find("missing.txt"), std::string::npos) << err;
}

TEST_F(ContextCopy, ContextEscapesAreErrors) {
    for (std::string src : {"../x", "dir/../../x", "/../etc/passwd", ".."}) {
        std::string err = error_of(spec({src}, "/e/"));
        EXPECT_NE(err.find("Buildfile:7: COPY failed: forbidden path outside the build context: " + src), std::string::npos)
            << src << ": " << err;
    }
    // an absolute source is relative to the context root
    run(spec({"/dir/one"}, "/abs/"));
    EXPECT_EQ(get(dst.p("abs/one")), "1");
    // a symlink pointing out of the context resolves inside it (here: to nothing)
    ctxtest::link("/etc/passwd", ctx.p("evil"));
    ctxtest::link("../../../../../../etc/hostname", ctx.p("evil2"));
    EXPECT_NE(error_of(spec({"evil"}, "/e/")).find("file not found"), std::string::npos);
    EXPECT_NE(error_of(spec({"evil2"}, "/e/")).find("file not found"), std::string::npos);
    // ... and inside a copied directory it is copied as a link, never followed
    ctxtest::link("/etc/passwd", ctx.p("dir/passwd-link"));
    run(spec({"dir"}, "/links"));
    EXPECT_TRUE(S_ISLNK(lst(dst.p("links/passwd-link")).st_mode));
    EXPECT_EQ(ctxtest::readlink_s(dst.p("links/passwd-link")), "/etc/passwd");
    // a top-level symlink inside the context is followed (its target's content)
    ctxtest::link("dir/one", ctx.p("good-link"));
    run(spec({"good-link"}, "/gl/"));
    EXPECT_EQ(get(dst.p("gl/good-link")), "1");
    EXPECT_TRUE(S_ISREG(lst(dst.p("gl/good-link")).st_mode));
}

TEST_F(ContextCopy, DockerignoreAndExclude) {
    put(ctx.p(".dockerignore"), "*.md\ndir\n!dir/sub\n");
    run(spec({"."}, "/all/"));
    std::set<std::string> got = dst_list("all");
    EXPECT_TRUE(got.count("a.txt"));
    EXPECT_FALSE(got.count("c.md"));
    EXPECT_TRUE(got.count("dir/sub/two"));  // re-included below an excluded dir
    EXPECT_FALSE(got.count("dir/one"));
    EXPECT_NE(error_of(spec({"c.md"}, "/x/")).find("excluded by .dockerignore"), std::string::npos);

    CopySpec s = spec({"x", "a.txt", "b.txt"}, "/ex/");
    s.excludes = {"**/z.txt", "b.*"};
    run(s);
    EXPECT_EQ(dst_list("ex"), (std::set<std::string>{"a.txt", "y"}));
}

TEST_F(ContextCopy, Parents) {
    CopySpec s = spec({"x/y/z.txt", "dir/sub"}, "/p/");
    s.parents = true;
    run(s);
    EXPECT_EQ(get(dst.p("p/x/y/z.txt")), "Z");
    EXPECT_EQ(get(dst.p("p/dir/sub/two")), "22");
    CopySpec pivot = spec({"x/./y/z.txt"}, "/q/");
    pivot.parents = true;
    run(pivot);
    EXPECT_EQ(get(dst.p("q/y/z.txt")), "Z");
}

TEST_F(ContextCopy, ChownChmod) {
    CopySpec s = spec({"dir"}, "/own/deep/");
    s.chown = Owner{1234, 5678};
    s.chmod = 0640;
    run(s);
    for (std::string p : {"own/deep/one", "own/deep/sub", "own/deep/sub/two"}) {
        EXPECT_EQ(lst(dst.p(p)).st_uid, 1234u) << p;
        EXPECT_EQ(lst(dst.p(p)).st_gid, 5678u) << p;
        EXPECT_EQ(lst(dst.p(p)).st_mode & 07777, 0640u) << p;
    }
    // created parents: 0755 owned by the --chown user
    EXPECT_EQ(lst(dst.p("own/deep")).st_uid, 1234u);
    EXPECT_EQ(lst(dst.p("own/deep")).st_mode & 07777, 0755u);
}

TEST_F(ContextCopy, ResolveOwnerInDestinationRoot) {
    put(dst.p("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n");
    put(dst.p("etc/group"), "root:x:0:\nstaff:x:50:\napp:x:1001:\n");
    EXPECT_EQ(resolve_owner(dst_fd.get(), "app"), (Owner{1000, 1001}));
    EXPECT_EQ(resolve_owner(dst_fd.get(), "app:staff"), (Owner{1000, 50}));
    EXPECT_EQ(resolve_owner(dst_fd.get(), "42"), (Owner{42, 42}));
    EXPECT_EQ(resolve_owner(dst_fd.get(), "42:staff"), (Owner{42, 50}));
    EXPECT_EQ(resolve_owner(dst_fd.get(), "app:7"), (Owner{1000, 7}));
    EXPECT_THROW(resolve_owner(dst_fd.get(), "nobody"), sys::Error);
    EXPECT_THROW(resolve_owner(dst_fd.get(), "1:nogroup"), sys::Error);
    EXPECT_THROW(resolve_owner(dst_fd.get(), "4294967295"), sys::Error);
    // /etc/passwd as a symlink out of the root resolves inside it
    ::unlink(dst.p("etc/passwd").c_str());
    ctxtest::link("/etc/passwd", dst.p("etc/passwd"));
    EXPECT_THROW(resolve_owner(dst_fd.get(), "root"), sys::Error);
}

TEST_F(ContextCopy, DestinationSymlinkEscapeIsConfined) {
    ctxtest::Tmp host;  // stands for the host outside the destination root
    ctxtest::link(host.p(), dst.p("escape"));
    ctxtest::link("/", dst.p("root-link"));
    run(spec({"a.txt"}, "/escape/"));
    run(spec({"dir"}, "/root-link/inner"));
    run(spec({"b.txt"}, "/escape/../../../../b-out.txt"));
    EXPECT_TRUE(dst_list("").count(host.p().substr(1) + "/a.txt")) << "followed inside the root";
    struct stat st;
    EXPECT_NE(::lstat(host.p("a.txt").c_str(), &st), 0) << "the host dir was written";
    EXPECT_EQ(get(dst.p("inner/one")), "1");
    EXPECT_EQ(get(dst.p("b-out.txt")), "BB");
    // a symlink at the final name is followed as BuildKit does, but inside the root: the host's
    // file of that name is untouched, the root's gets the content
    put(host.p("victim"), "keep");
    ctxtest::link(host.p("victim"), dst.p("victim-link"));
    run(spec({"a.txt"}, "/victim-link"));
    EXPECT_EQ(get(host.p("victim")), "keep");
    EXPECT_EQ(ctxtest::readlink_s(dst.p("victim-link")), host.p("victim"));
    EXPECT_EQ(get(dst.p(host.p("victim").substr(1))), "A");
}

// BuildKit (fsutil copy.Copy resolves dest with containerd's fs.RootPath): COPY onto an existing
// symlink writes through it -- to a file it points at (replaced: the source's mode, owner and
// mtime), into a directory, or creating a missing target (and its missing parents, 0755) -- and
// the link stays as it was.
TEST_F(ContextCopy, OntoSymlinkWritesThroughIt) {
    put(dst.p("etc/target"), "old", 0600);
    ctxtest::link("/etc/target", dst.p("to-file"));
    ctxtest::link("etc/target", dst.p("rel-to-file"));
    ctxtest::link("to-file", dst.p("chain"));
    sys::mkdir_p(dst.p("real/dir"));
    ctxtest::link("/real/dir", dst.p("to-dir"));
    ctxtest::link("/made/by/copy", dst.p("to-missing"));
    ctxtest::link("/made2", dst.p("to-missing-slash"));
    ASSERT_EQ(::chmod(ctx.p("a.txt").c_str(), 0640), 0);
    struct timespec ts[2] = {{1000000, 0}, {1000000, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, ctx.p("a.txt").c_str(), ts, 0), 0);
    CopySpec s = spec({"a.txt"}, "/to-file");
    s.chown = Owner{12, 34};
    run(s);
    EXPECT_TRUE(S_ISLNK(lst(dst.p("to-file")).st_mode));
    EXPECT_EQ(ctxtest::readlink_s(dst.p("to-file")), "/etc/target");
    struct stat t = lst(dst.p("etc/target"));
    EXPECT_EQ(get(dst.p("etc/target")), "A");
    EXPECT_EQ(t.st_mode & 07777, 0640u);
    EXPECT_EQ(t.st_uid, 12u);
    EXPECT_EQ(t.st_gid, 34u);
    EXPECT_EQ(t.st_mtim.tv_sec, 1000000);
    run(spec({"b.txt"}, "/rel-to-file"));
    EXPECT_EQ(get(dst.p("etc/target")), "BB");
    run(spec({"c.md"}, "/chain"));
    EXPECT_EQ(get(dst.p("etc/target")), "C");
    EXPECT_TRUE(S_ISLNK(lst(dst.p("chain")).st_mode));
    run(spec({"a.txt"}, "/to-dir"));
    EXPECT_EQ(get(dst.p("real/dir/a.txt")), "A");
    run(spec({"a.txt"}, "/to-missing"));
    EXPECT_EQ(get(dst.p("made/by/copy")), "A");
    EXPECT_EQ(lst(dst.p("made/by")).st_mode & 07777, 0755u);
    EXPECT_TRUE(S_ISLNK(lst(dst.p("to-missing")).st_mode));
    run(spec({"a.txt"}, "/to-missing-slash/"));
    EXPECT_EQ(get(dst.p("made2/a.txt")), "A");
    run(spec({"dir"}, "/to-dir"));
    EXPECT_EQ(get(dst.p("real/dir/sub/two")), "22");
    CopySpec h = spec({}, "/to-file");
    write_heredoc(dst_fd.get(), h, "EOF", "heredoc\n");
    EXPECT_EQ(get(dst.p("etc/target")), "heredoc\n");
    EXPECT_TRUE(S_ISLNK(lst(dst.p("to-file")).st_mode));
}

// Hostile links at the destination (absolute host paths, "/../..", "../../..", chains, cycles):
// followed only inside the root; nothing outside it is created or changed.
TEST_F(ContextCopy, OntoHostileSymlinkNothingOutsideTheRoot) {
    ctxtest::Tmp host;
    put(host.p("victim"), "keep");
    std::string outside = host.p("made-outside");
    ctxtest::link(host.p("victim"), dst.p("abs"));
    ctxtest::link("/../../../../.." + host.p("victim"), dst.p("absup"));
    ctxtest::link("../../../../../../../.." + host.p("victim"), dst.p("relup"));
    ctxtest::link("relup", dst.p("chain"));
    ctxtest::link(outside + "/new", dst.p("missing"));
    ctxtest::link(host.p(), dst.p("hostdir"));
    ctxtest::link("cycle2", dst.p("cycle1"));
    ctxtest::link("cycle1", dst.p("cycle2"));
    for (const char* d : {"/abs", "/absup", "/relup", "/chain", "/missing", "/hostdir", "/hostdir/"}) run(spec({"a.txt"}, d));
    run(spec({"dir"}, "/hostdir/"));
    EXPECT_EQ(get(host.p("victim")), "keep");
    EXPECT_EQ(tree(host.p()), (std::set<std::string>{"victim"})) << "something was written outside the root";
    EXPECT_EQ(get(dst.p(host.p("victim").substr(1))), "A");
    EXPECT_EQ(get(dst.p(outside.substr(1) + "/new")), "A");
    EXPECT_EQ(get(dst.p(host.p("a.txt").substr(1))), "A");
    EXPECT_EQ(get(dst.p(host.p("sub/two").substr(1))), "22");
    std::string err = error_of(spec({"a.txt"}, "/cycle1"));
    EXPECT_NE(err.find("too many levels of symbolic links"), std::string::npos) << err;
    EXPECT_TRUE(S_ISLNK(lst(dst.p("cycle1")).st_mode));
}

// Below the destination, fsutil's copy lstats each name: a symlink there is not followed. A
// file replaces a symlink (the link's target stays as it was); a directory onto a symlink or a
// file, or a file onto a directory, fails (docker 20.10: "cannot copy to non-directory").
TEST_F(ContextCopy, EntriesBelowTheDestinationNeverFollowLinks) {
    put(dst.p("elsewhere/keep"), "k");
    put(dst.p("elsewhere/one"), "old");
    ctxtest::link("/elsewhere", dst.p("app/sub"));
    std::string err = error_of(spec({"dir"}, "/app/"));
    EXPECT_NE(err.find("cannot copy a directory onto the non-directory /app/sub"), std::string::npos) << err;
    EXPECT_TRUE(S_ISLNK(lst(dst.p("app/sub")).st_mode));
    EXPECT_EQ(tree(dst.p("elsewhere")), (std::set<std::string>{"keep", "one"})) << "written through the link";
    ::unlink(dst.p("app/sub").c_str());
    put(dst.p("app/sub"), "a file");
    err = error_of(spec({"dir"}, "/app/"));
    EXPECT_NE(err.find("cannot copy a directory onto the non-directory /app/sub"), std::string::npos) << err;
    EXPECT_EQ(get(dst.p("app/sub")), "a file");
    ::unlink(dst.p("app/sub").c_str());
    ::unlink(dst.p("app/one").c_str());
    ctxtest::link("/elsewhere/one", dst.p("app/one"));
    run(spec({"dir"}, "/app/"));
    EXPECT_TRUE(S_ISREG(lst(dst.p("app/one")).st_mode));
    EXPECT_EQ(get(dst.p("app/one")), "1");
    EXPECT_EQ(get(dst.p("elsewhere/one")), "old");
    EXPECT_EQ(get(dst.p("app/sub/two")), "22");
    sys::mkdir_p(dst.p("d2/one"));
    err = error_of(spec({"dir"}, "/d2/"));
    EXPECT_NE(err.find("cannot overwrite directory /d2/one with a non-directory"), std::string::npos) << err;
}

TEST_F(ContextCopy, HardlinksPreserved) {
    put(ctx.p("h/first"), "same");
    ASSERT_EQ(::link(ctx.p("h/first").c_str(), ctx.p("h/second").c_str()), 0);
    run(spec({"h"}, "/h"));
    EXPECT_EQ(lst(dst.p("h/first")).st_ino, lst(dst.p("h/second")).st_ino);
    EXPECT_EQ(lst(dst.p("h/first")).st_nlink, 2u);
}

// BuildKit copies each source, and each wildcard match, on its own: hard links between two of
// them are two files (docker 20.10: COPY --from=s /h/* /g/), links inside one are kept.
TEST_F(ContextCopy, HardlinksKeptWithinOneSourceOnly) {
    put(ctx.p("h/first"), "same");
    ASSERT_EQ(::link(ctx.p("h/first").c_str(), ctx.p("h/second").c_str()), 0);
    sys::mkdir_p(ctx.p("h/in"));
    ASSERT_EQ(::link(ctx.p("h/first").c_str(), ctx.p("h/in/third").c_str()), 0);
    run(spec({"h/*"}, "/g/"));
    EXPECT_NE(lst(dst.p("g/first")).st_ino, lst(dst.p("g/second")).st_ino);
    EXPECT_EQ(lst(dst.p("g/first")).st_nlink, 1u);
    EXPECT_EQ(get(dst.p("g/second")), "same");
    EXPECT_EQ(lst(dst.p("g/third")).st_nlink, 1u);  // h/in matched: its contents, on their own
    run(spec({"h/first", "h/second"}, "/m/"));
    EXPECT_NE(lst(dst.p("m/first")).st_ino, lst(dst.p("m/second")).st_ino);
}

// Every entry keeps its source mtime, as docker's COPY: a fifo or device node too (they were
// left at the time of the copy).
TEST_F(ContextCopy, SpecialFilesKeepTheirMtime) {
    put(ctx.p("sp/file"), "x");
    ASSERT_EQ(::mkfifo(ctx.p("sp/fifo").c_str(), 0640), 0);
    struct timespec ts[2] = {{1000000000, 0}, {1000000000, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, ctx.p("sp/fifo").c_str(), ts, AT_SYMLINK_NOFOLLOW), 0);
    ASSERT_EQ(::utimensat(AT_FDCWD, ctx.p("sp/file").c_str(), ts, AT_SYMLINK_NOFOLLOW), 0);
    run(spec({"sp"}, "/sp"));
    EXPECT_TRUE(S_ISFIFO(lst(dst.p("sp/fifo")).st_mode));
    EXPECT_EQ(lst(dst.p("sp/fifo")).st_mtim.tv_sec, 1000000000);
    EXPECT_EQ(lst(dst.p("sp/file")).st_mtim.tv_sec, 1000000000);
}

TEST_F(ContextCopy, UserXattrsCopied) {
    if (::setxattr(ctx.p("a.txt").c_str(), "user.imgbuild", "v1", 2, 0) != 0)
        GTEST_SKIP() << "no user xattrs on this file system";
    run(spec({"a.txt"}, "/xa/"));
    char buf[16];
    ssize_t n = ::getxattr(dst.p("xa/a.txt").c_str(), "user.imgbuild", buf, sizeof buf);
    ASSERT_EQ(n, 2);
    EXPECT_EQ(std::string(buf, 2), "v1");
}

TEST_F(ContextCopy, Heredoc) {
    CopySpec s;
    s.dest = "/etc/motd";
    write_heredoc(dst_fd.get(), s, "EOF", "hello\n");
    EXPECT_EQ(get(dst.p("etc/motd")), "hello\n");
    EXPECT_EQ(lst(dst.p("etc/motd")).st_mode & 07777, 0644u);
    s.dest = "/bin/";
    write_heredoc(dst_fd.get(), s, "script.sh", "#!/bin/sh\n", true);
    EXPECT_EQ(lst(dst.p("bin/script.sh")).st_mode & 07777, 0755u);
}

TEST_F(ContextCopy, FromOtherRootKeepsOwnersAndClampsDotDot) {
    ctxtest::Tmp stage;
    put(stage.p("usr/bin/tool"), "bin", 0755);
    ASSERT_EQ(::chown(stage.p("usr/bin/tool").c_str(), 7, 8), 0);
    sys::UniqueFd sfd = sys::open_dir(stage.p());
    SourceRoot root{sfd.get(), nullptr, false, "stage build"};
    CopySpec s = spec({"/../../usr/bin/tool"}, "/opt/");
    s.preserve_owner = true;
    CopyPlan plan = plan_copy(root, s);
    execute_copy(root, plan, dst_fd.get());
    EXPECT_EQ(lst(dst.p("opt/tool")).st_uid, 7u);
    EXPECT_EQ(lst(dst.p("opt/tool")).st_gid, 8u);
}

}  // namespace

// A big COPY into a fresh directory creates its files on several threads: the tree it writes
// is the one the one-thread copy writes (directories, modes, owners, times, data, xattrs,
// symlinks, hard links, fifos), and a failure still names the entry.
TEST_F(ContextCopy, ManyFilesIntoAFreshDirectoryAsOneThreadWould) {
    for (int d = 0; d < 4; d++)
        for (int f = 0; f < 60; f++)
            put(ctx.p("big/d" + std::to_string(d) + "/f" + std::to_string(f)), std::string(size_t(f), char('a' + d)),
                f % 7 == 0 ? 0755 : 0640);
    ASSERT_EQ(::link(ctx.p("big/d0/f1").c_str(), ctx.p("big/d3/hard").c_str()), 0);
    ctxtest::link("../d0/f2", ctx.p("big/d1/sym"));
    ASSERT_EQ(::mkfifo(ctx.p("big/d2/fifo").c_str(), 0600), 0);
    bool xattrs = ::setxattr(ctx.p("big/d2/f5").c_str(), "user.imgbuild", "v", 1, 0) == 0;
    ::chown(ctx.p("big/d1/f3").c_str(), 1234, 5678);

    ctxtest::Tmp one, many, merged;
    auto copy = [&](const std::string& into, DirectRoot direct) {
        Context c = Context::open(ctx.p(), "");
        CopySpec s = spec({"big"}, "/out");
        s.label = "Buildfile:3";
        s.preserve_owner = true;
        CopyPlan plan = plan_copy(c.root(), s);
        sys::UniqueFd fd = sys::open_dir(into);
        return execute_copy(c.root(), plan, fd.get(), direct);
    };
    copy(one.p(), {});
    sys::UniqueFd many_fd = sys::open_dir(many.p());
    CopyStats st = copy(merged.p(), [&](const std::string& base) {
        EXPECT_EQ(base, "/out");
        if (::mkdirat(many_fd.get(), "out", 0755) != 0) return -1;
        return many_fd.get();
    });
    EXPECT_EQ(st.files, 240u);
    EXPECT_EQ(st.hardlinks, 1u);
    EXPECT_EQ(st.symlinks, 1u);
    EXPECT_EQ(st.specials, 1u);

    std::set<std::string> names = tree(one.p("out"));
    ASSERT_EQ(names.size(), 4u + 240 + 3);
    EXPECT_EQ(tree(many.p("out")), names);
    for (const std::string& n : names) {
        SCOPED_TRACE(n);
        struct stat a = lst(one.p("out/" + n)), b = lst(many.p("out/" + n));
        EXPECT_EQ(a.st_mode, b.st_mode);
        EXPECT_EQ(a.st_uid, b.st_uid);
        EXPECT_EQ(a.st_gid, b.st_gid);
        EXPECT_EQ(a.st_nlink, b.st_nlink);
        EXPECT_EQ(a.st_size, b.st_size);
        if (!S_ISDIR(a.st_mode)) {
            EXPECT_EQ(a.st_mtim.tv_sec, b.st_mtim.tv_sec);
        }
        if (S_ISREG(a.st_mode)) {
            EXPECT_EQ(get(one.p("out/" + n)), get(many.p("out/" + n)));
        }
        if (S_ISLNK(a.st_mode)) {
            EXPECT_EQ(ctxtest::readlink_s(one.p("out/" + n)), ctxtest::readlink_s(many.p("out/" + n)));
        }
    }
    EXPECT_EQ(lst(many.p("out/d3/hard")).st_ino, lst(many.p("out/d0/f1")).st_ino);
    if (xattrs) {
        char buf[4];
        EXPECT_EQ(::getxattr(many.p("out/d2/f5").c_str(), "user.imgbuild", buf, sizeof buf), 1);
    }
    EXPECT_TRUE(tree(merged.p("out")).empty()) << "the files went to the direct root only";

    // A file gone between plan and copy fails the COPY with its name, from whichever thread.
    Context c = Context::open(ctx.p(), "");
    CopySpec s2 = spec({"big"}, "/out");
    s2.label = "Buildfile:3";
    CopyPlan plan = plan_copy(c.root(), s2);
    ASSERT_EQ(::unlink(ctx.p("big/d2/f9").c_str()), 0);
    ctxtest::Tmp late, late_direct;
    sys::UniqueFd late_fd = sys::open_dir(late.p()), late_direct_fd = sys::open_dir(late_direct.p());
    try {
        execute_copy(c.root(), plan, late_fd.get(), [&](const std::string&) {
            return ::mkdirat(late_direct_fd.get(), "out", 0755) == 0 ? late_direct_fd.get() : -1;
        });
        ADD_FAILURE() << "copied a file that is gone";
    } catch (const sys::Error& e) {
        EXPECT_NE(std::string(e.what()).find("big/d2/f9"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("Buildfile:3"), std::string::npos) << e.what();
    }
}

// Review finding: a later source's symlink `a` beside an earlier source's `a/f` (plan order: `a`,
// then `a/f`, written through the symlink). Threads would make `a` a directory first; such a
// plan stays on one thread, with the one-thread result.
TEST_F(ContextCopy, EntryBelowANonDirectoryEntryKeepsPlanOrder) {
    put(ctx.p("d1/a/f"), "through the link");
    for (int i = 0; i < 70; i++) put(ctx.p("d1/x/f" + std::to_string(i)), "x");
    ctxtest::link("x", ctx.p("d2/a"));
    auto copy = [&](const std::string& into, DirectRoot direct) -> std::string {
        Context c = Context::open(ctx.p(), "");
        CopySpec s = spec({"d1", "d2"}, "/new/");
        s.label = "Buildfile:2";
        CopyPlan plan = plan_copy(c.root(), s);
        sys::UniqueFd fd = sys::open_dir(into);
        try {
            execute_copy(c.root(), plan, fd.get(), direct);
        } catch (const sys::Error& e) {
            return e.what();
        }
        return "";
    };
    ctxtest::Tmp one, many, merged;
    std::string err_one = copy(one.p(), {});
    sys::UniqueFd many_fd = sys::open_dir(many.p());
    std::string err_many = copy(merged.p(), [&](const std::string&) {
        return ::mkdirat(many_fd.get(), "new", 0755) == 0 ? many_fd.get() : -1;
    });
    EXPECT_EQ(err_one, "") << "the one-thread copy writes f through the symlink";
    EXPECT_EQ(err_many, err_one);
    ASSERT_TRUE(S_ISLNK(lst(one.p("new/a")).st_mode));
    ASSERT_TRUE(S_ISLNK(lst(many.p("new/a")).st_mode)) << "a directory was made where the plan has a symlink";
    EXPECT_EQ(tree(many.p("new")), tree(one.p("new")));
    EXPECT_EQ(get(many.p("new/x/f")), "through the link");
}
