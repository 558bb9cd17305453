// ADD: local archives of each kind are extracted (confined), non-archives copied, remote
// sources refused, --checksum verified.
#include <gtest/gtest.h>

#include <cstdlib>

#include "context/context.hpp"
#include "context/copy.hpp"
#include "context_util.hpp"
#include "sys/error.hpp"

using namespace context;
using ctxtest::get;
using ctxtest::lst;
using ctxtest::put;

namespace {

// Make archives with python3's tarfile (test-side tooling only).
bool make_tar(const std::string& out, const std::string& mode, const std::string& extra_py = "") {
    std::string py =
        "import tarfile,io,sys\n"
        "t=tarfile.open(sys.argv[1],'" + mode + "')\n"
        "def add(n,data=None,typ=tarfile.REGTYPE,link='',m=0o644,uid=0):\n"
        "  i=tarfile.TarInfo(n); i.type=typ; i.linkname=link; i.mode=m; i.mtime=1234567890; i.uid=uid; i.gid=uid\n"
        "  if data is not None: i.size=len(data); t.addfile(i,io.BytesIO(data))\n"
        "  else: t.addfile(i)\n"
        "add('top',typ=tarfile.DIRTYPE,m=0o750)\n"
        "add('top/file.txt',b'inside',m=0o640,uid=33)\n"
        "add('top/link',typ=tarfile.SYMTYPE,link='/etc/passwd')\n"
        "add('top/hard',typ=tarfile.LNKTYPE,link='top/file.txt')\n" +
        extra_py + "t.close()\n";
    std::string script = out + ".py";
    put(script, py);
    std::string cmd = "python3 " + script + " " + out + " 2>/dev/null";
    return std::system(cmd.c_str()) == 0;
}

struct ContextAdd : ::testing::Test {
    ctxtest::Tmp ctx, dst;
    sys::UniqueFd dst_fd;
    void SetUp() override { dst_fd = sys::open_dir(dst.p()); }
    CopyStats add(std::vector<std::string> srcs, std::string dest, std::optional<std::string> checksum = {}) {
        Context c = Context::open(ctx.p(), "");
        CopySpec s;
        s.instruction = "ADD";
        s.sources = std::move(srcs);
        s.dest = std::move(dest);
        s.checksum = checksum;
        s.label = "Buildfile:3";
        CopyPlan plan = plan_copy(c.root(), s);
        content_digest(c.root(), plan, nullptr);
        return execute_copy(c.root(), plan, dst_fd.get());
    }
};

TEST_F(ContextAdd, ExtractsEachCompression) {
    struct Kind {
        const char* name;
        const char* mode;
    } kinds[] = {{"plain.tar", "w"}, {"gz.tar.gz", "w:gz"}, {"bz.tbz", "w:bz2"}, {"xz.txz", "w:xz"}};
    for (auto& k : kinds) {
        ASSERT_TRUE(make_tar(ctx.p(k.name), k.mode)) << k.name;
        std::string dest = std::string("/x/") + k.name;  // no trailing slash: still a directory
        CopyStats st = add({k.name}, dest);
        EXPECT_EQ(st.archives, 1u) << k.name;
        std::string base = dst.p(dest.substr(1));
        EXPECT_EQ(get(base + "/top/file.txt"), "inside") << k.name;
        // top/hard (0644, uid 0) is a hard link to top/file.txt written after it: as in docker's
        // archive code, the link entry's owner and mode apply to the shared inode.
        EXPECT_EQ(lst(base + "/top/file.txt").st_mode & 07777, 0644u);
        EXPECT_EQ(lst(base + "/top/file.txt").st_uid, 0u);
        EXPECT_EQ(lst(base + "/top/file.txt").st_mtim.tv_sec, 1234567890);
        EXPECT_EQ(lst(base + "/top").st_mode & 07777, 0750u);
        EXPECT_EQ(ctxtest::readlink_s(base + "/top/link"), "/etc/passwd");
        EXPECT_EQ(lst(base + "/top/hard").st_ino, lst(base + "/top/file.txt").st_ino);
    }
}

TEST_F(ContextAdd, ExtractsZstd) {
    // python's tarfile has no zstd before 3.14: compress a plain tar with the zstd tool if present.
    ASSERT_TRUE(make_tar(ctx.p("z.tar"), "w"));
    if (std::system(("zstd -q -f " + ctx.p("z.tar") + " -o " + ctx.p("z.tar.zst") + " 2>/dev/null").c_str()) != 0)
        GTEST_SKIP() << "no zstd tool to make a .tar.zst";
    ::unlink(ctx.p("z.tar").c_str());
    add({"z.tar.zst"}, "/z/");
    EXPECT_EQ(get(dst.p("z/top/file.txt")), "inside");
}

TEST_F(ContextAdd, NonArchivesAreCopied) {
    put(ctx.p("notes.txt.gz"), "not really gzip");
    add({"notes.txt.gz"}, "/n/copied");
    EXPECT_EQ(get(dst.p("n/copied")), "not really gzip");
}

TEST_F(ContextAdd, EscapingEntriesRejectedAndLinksConfined) {
    ASSERT_TRUE(make_tar(ctx.p("evil.tar"), "w", "add('../../outside.txt',b'bad')\n"));
    EXPECT_THROW(add({"evil.tar"}, "/e/"), sys::Error);
    // a symlink entry pointing out, then a file written through it: stays inside the root
    ctxtest::Tmp host;
    ASSERT_TRUE(make_tar(ctx.p("via-link.tar"), "w",
                         "add('out',typ=tarfile.SYMTYPE,link='" + host.p() + "')\nadd('out/pwned',b'x')\n"));
    add({"via-link.tar"}, "/v/");
    struct stat st;
    EXPECT_NE(::lstat(host.p("pwned").c_str(), &st), 0) << "wrote outside the destination root";
    EXPECT_EQ(get(dst.p(host.p().substr(1) + "/pwned")), "x");
}

// Extracting, an entry replaces what is in its way unless a directory meets a directory, as
// docker's archive package unpacks: a directory entry replaces a symlink (never followed) or a
// file, a file entry replaces a directory with its contents.
TEST_F(ContextAdd, EntriesReplaceWhatIsInTheirWay) {
    ASSERT_TRUE(make_tar(ctx.p("a.tar"), "w", "add('over',b'file now')\nadd('filedir',typ=tarfile.DIRTYPE)\n"));
    put(dst.p("elsewhere/keep"), "k");
    ctxtest::link("/elsewhere", dst.p("x/top"));
    put(dst.p("x/over/deep/inner"), "gone");
    put(dst.p("x/filedir"), "was a file");
    add({"a.tar"}, "/x/");
    EXPECT_TRUE(S_ISDIR(lst(dst.p("x/top")).st_mode));
    EXPECT_EQ(get(dst.p("x/top/file.txt")), "inside");
    EXPECT_EQ(lst(dst.p("x/top")).st_mode & 07777, 0750u);
    struct stat st;
    EXPECT_NE(::lstat(dst.p("elsewhere/file.txt").c_str(), &st), 0) << "extracted through the link";
    EXPECT_EQ(get(dst.p("x/over")), "file now");
    EXPECT_TRUE(S_ISDIR(lst(dst.p("x/filedir")).st_mode));
}

// pax headers carry non-ASCII names as UTF-8 (docker writes them so); the process stays in the
// "C" locale, where libarchive's plain accessors cannot convert them.
TEST_F(ContextAdd, NonAsciiPaxNamesExtracted) {
    ASSERT_TRUE(make_tar(ctx.p("u.tar"), "w:",
                         "add('top/\\u00fcn\\u00ef',b'u')\nadd('top/l\\u00efnk',typ=tarfile.SYMTYPE,link='\\u00fcn\\u00ef')\n"
                         "add('top/h\\u00e4rd',typ=tarfile.LNKTYPE,link='top/\\u00fcn\\u00ef')\n"));
    add({"u.tar"}, "/u/");
    EXPECT_EQ(get(dst.p("u/top/\u00fcn\u00ef")), "u");
    EXPECT_EQ(ctxtest::readlink_s(dst.p("u/top/l\u00efnk")), "\u00fcn\u00ef");
    EXPECT_EQ(lst(dst.p("u/top/h\u00e4rd")).st_ino, lst(dst.p("u/top/\u00fcn\u00ef")).st_ino);
}

TEST_F(ContextAdd, RemoteAndChecksum) {
    try {
        add({"https://example.com/x.tar"}, "/r/");
        FAIL();
    } catch (const sys::Error& e) {
        EXPECT_NE(std::string(e.what()).find("Buildfile:3: ADD https://example.com/x.tar: not supported"), std::string::npos) << e.what();
    }
    put(ctx.p("data.bin"), "payload");
    std::string good = cas::Digest::of("payload").str();
    add({"data.bin"}, "/c/ok", good);
    EXPECT_EQ(get(dst.p("c/ok")), "payload");
    try {
        add({"data.bin"}, "/c/bad", cas::Digest::of("other").str());
        FAIL();
    } catch (const sys::Error& e) {
        EXPECT_NE(std::string(e.what()).find("checksum mismatch"), std::string::npos) << e.what();
    }
    struct stat st;
    EXPECT_NE(::lstat(dst.p("c/bad").c_str(), &st), 0);
}

}  // namespace
