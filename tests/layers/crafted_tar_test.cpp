// Crafted tars (testdata/tars/make_attacks.py, generated at test time with python3's
// tarfile): every attack is rejected with an error naming the layer and the entry, or
// confined to the target dir; nothing outside the target changes.
#include <sys/stat.h>

#include <optional>

#include "helpers.hpp"
#include "layers/layer.hpp"

using namespace layers;

namespace {

class Crafted : public ::testing::Test {
protected:
    void SetUp() override {
        if (!lt::have("python3")) GTEST_SKIP() << "python3 not installed";
        tars_ = env_.path("tars");
        std::string out;
        ASSERT_EQ(lt::run("python3 " IMGBUILD_SRC "/testdata/tars/make_attacks.py " + tars_, &out), 0) << out;
        box_ = env_.path("box");
        lt::mkdir(box_ + "/outside");
        lt::write(box_ + "/outside/canary", "canary\n");
        ::stat("/etc/passwd", &passwd_);
    }

    struct Outcome {
        std::optional<std::string> error;
        std::string target;
    };

    Outcome apply(const std::string& name, const ApplyLimits& lim = {}) {
        Outcome o;
        cas::Digest d = env_.store.put(lt::read(tars_ + "/" + name + ".tar"));
        o.target = box_ + "/target-" + name;
        lt::mkdir(o.target);
        auto before = scan_tree(box_ + "/outside");
        try {
            apply_layer(env_.store, d, o.target, std::nullopt, lim);
        } catch (const sys::Error& e) {
            o.error = e.what();
            EXPECT_NE(o.error->find(d.str()), std::string::npos) << "error must name the layer: " << *o.error;
        }
        // Nothing outside the target changed.
        auto ch = diff_nodes(before, scan_tree(box_ + "/outside"), {true, true});
        EXPECT_TRUE(ch.empty()) << name << ": outside changed:\n" << lt::describe(ch);
        for (auto& n : lt::scan_paths(box_))
            EXPECT_TRUE(n.rfind("outside", 0) == 0 || n.rfind("target-", 0) == 0) << name << " created " << n;
        struct stat st;
        EXPECT_EQ(::stat("/etc/passwd", &st), 0);
        EXPECT_EQ(st.st_size, passwd_.st_size);
        EXPECT_EQ(st.st_mtim.tv_sec, passwd_.st_mtim.tv_sec);
        for (auto p : {"/escape-dotdot", "/escape-deep", "/abs-file", "/through-root", "/chain-file", "/tmp/after-dot"})
            EXPECT_FALSE(sys::exists(p)) << name << " created " << p;
        return o;
    }

    void rejected(const std::string& name, const std::string& entry, const std::string& why = "") {
        auto o = apply(name);
        ASSERT_TRUE(o.error) << name << " was not rejected";
        EXPECT_NE(o.error->find("entry \"" + entry + "\""), std::string::npos) << *o.error;
        if (!why.empty()) {
            EXPECT_NE(o.error->find(why), std::string::npos) << *o.error;
        }
    }

    lt::Env env_;
    std::string tars_, box_;
    struct stat passwd_ {};
};

}  // namespace

TEST_F(Crafted, DotDotRejected) {
    rejected("dotdot", "../escape-dotdot", "\"..\"");
    rejected("dotdot_deep", "a/b/../../../escape-deep", "\"..\"");
}

TEST_F(Crafted, AbsolutePathConfined) {
    auto o = apply("absolute");
    ASSERT_FALSE(o.error) << *o.error;
    EXPECT_EQ(lt::read(o.target + "/abs-file"), "confined");
}

TEST_F(Crafted, SymlinkThenFileThroughIt) {
    // link -> ../outside resolves inside the root (to <root>/outside, missing): rejected.
    rejected("symlink_then_file", "link/pwned", "symlink");
    // root -> / resolves to the layer root itself: confined.
    auto o = apply("abs_symlink_then_file");
    ASSERT_FALSE(o.error) << *o.error;
    EXPECT_EQ(lt::read(o.target + "/through-root"), "confined");
    auto c = apply("symlink_chain");
    ASSERT_FALSE(c.error) << *c.error;
    EXPECT_EQ(lt::read(c.target + "/chain-file"), "confined");
}

TEST_F(Crafted, FileReplacingSymlinkDoesNotWriteThroughIt) {
    auto o = apply("file_over_symlink");
    ASSERT_FALSE(o.error) << *o.error;
    struct stat st;
    ASSERT_EQ(::lstat((o.target + "/f").c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_EQ(lt::read(o.target + "/f"), "replaced");
}

TEST_F(Crafted, HardlinksOutsideOrForwardRejected) {
    rejected("hardlink_dotdot", "hl", "\"..\"");
    rejected("hardlink_absolute", "hl", "not an entry extracted earlier");
    rejected("hardlink_not_yet", "early", "not an entry extracted earlier");
    rejected("hardlink_via_symlink", "hl", "not an entry extracted earlier");
}

TEST_F(Crafted, RootAsSymlinkRejected) {
    rejected("dot_symlink", ".", "layer root");
    rejected("slash_symlink", "/", "layer root");
    rejected("dot_slash_symlink", "./", "layer root");
}

TEST_F(Crafted, WhiteoutsOutsideRejectedOrConfined) {
    rejected("whiteout_dotdot", "../.wh.outside", "\"..\"");
    rejected("whiteout_dotdot_name", "dir/.wh...", "names no file");
    auto o = apply("whiteout_absolute");
    ASSERT_FALSE(o.error) << *o.error;
    struct stat st;
    ASSERT_EQ(::lstat((o.target + "/canary").c_str(), &st), 0);  // an overlay whiteout inside the target
    EXPECT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == 0);
}

TEST_F(Crafted, DevicesCreatedSetuidAndCapsKept) {
    if (!lt::is_root()) GTEST_SKIP() << "mknod and security.* xattrs need root";
    auto o = apply("devices_setuid");
    ASSERT_FALSE(o.error) << *o.error;
    struct stat st;
    ASSERT_EQ(::lstat((o.target + "/dev/null").c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode));
    EXPECT_EQ(st.st_rdev, makedev(1, 3));
    EXPECT_EQ(st.st_mode & 07777, 0666u);
    ASSERT_EQ(::lstat((o.target + "/dev/sda").c_str(), &st), 0);
    EXPECT_TRUE(S_ISBLK(st.st_mode));
    ASSERT_EQ(::lstat((o.target + "/suid").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 04755u);
    char cap[64];
    ssize_t n = ::getxattr((o.target + "/suid").c_str(), "security.capability", cap, sizeof cap);
    EXPECT_EQ(n, 20);
}

TEST_F(Crafted, OverlayXattrsNeverApplied) {
    auto o = apply("overlay_xattr");
    ASSERT_FALSE(o.error) << *o.error;
    char v[16];
    EXPECT_LT(::getxattr((o.target + "/d").c_str(), "trusted.overlay.opaque", v, sizeof v), 0);
    EXPECT_LT(::getxattr((o.target + "/d").c_str(), "trusted.overlay.redirect", v, sizeof v), 0);
}

TEST_F(Crafted, OpaqueMarkerAppliedWhateverTheOrder) {
    auto o = apply("opaque_last");
    ASSERT_FALSE(o.error) << *o.error;
    char v[4] = {};
    EXPECT_EQ(::getxattr((o.target + "/d").c_str(), "trusted.overlay.opaque", v, sizeof v), 1);
    EXPECT_EQ(lt::read(o.target + "/d/keep"), "keep");
}

TEST_F(Crafted, Caps) {
    ApplyLimits lim;
    lim.max_entries = 10;
    auto o = apply("many_entries", lim);
    ASSERT_TRUE(o.error);
    EXPECT_NE(o.error->find("entry \"f010\": more than 10 entries"), std::string::npos) << *o.error;
    lim = {};
    lim.max_path_len = 256;
    o = apply("long_path", lim);
    ASSERT_TRUE(o.error);
    EXPECT_NE(o.error->find("longer than 256"), std::string::npos) << *o.error;
    lim = {};
    lim.max_pax_bytes = 64 << 10;
    o = apply("big_pax", lim);
    ASSERT_TRUE(o.error);
    EXPECT_NE(o.error->find("entry \"x\": extended header"), std::string::npos) << *o.error;
    lim = {};
    lim.max_total_bytes = 1 << 20;
    o = apply("big_file", lim);
    ASSERT_TRUE(o.error);
    EXPECT_NE(o.error->find("exceeds the limit"), std::string::npos) << *o.error;
    // Defaults accept them all.
    for (auto n : {"many_entries", "long_path", "big_file"}) {
        auto ok = apply(n);
        EXPECT_FALSE(ok.error) << *ok.error;
    }
}

// A layer whose paths are longer than PATH_MAX (a RUN can make such a tree, import accepts it):
// every entry is created, part of the path at a time; nothing outside the target.
TEST_F(Crafted, PathsDeeperThanPathMaxAreCreated) {
    auto o = apply("deep_path");
    ASSERT_FALSE(o.error) << *o.error;
    std::string deep;
    for (int i = 0; i < 30; i++) deep += (i ? "/" : "") + std::string(i < 10 ? "0" : "") + std::to_string(i) + std::string(248, 'd');
    ASSERT_GT(deep.size(), size_t(4096));
    sys::UniqueFd root = sys::open_dir(o.target);
    sys::UniqueFd f = sys::open_in_root(root.get(), deep + "/f", O_RDONLY);
    char buf[8] = {};
    EXPECT_EQ(::read(f.get(), buf, sizeof buf), 4);
    EXPECT_STREQ(buf, "deep");
    struct stat st;
    ASSERT_EQ(::fstat(f.get(), &st), 0);
    EXPECT_EQ(st.st_nlink, 2u) << "the hard link to the deep file";
    sys::UniqueFd d = sys::open_in_root(root.get(), deep, O_RDONLY | O_DIRECTORY);
    ASSERT_EQ(::fstat(d.get(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0750u);
    EXPECT_EQ(st.st_mtim.tv_sec, 1700000000);
    ASSERT_EQ(::fstatat(d.get(), std::string(255, 'w').c_str(), &st, AT_SYMLINK_NOFOLLOW), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode)) << "the whiteout of a 255-byte name";
}
