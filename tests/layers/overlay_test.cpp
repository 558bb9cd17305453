// Real kernel tests (root): snapshots, overlay mounts through MountGuard in a private mount
// namespace, diff of the upper dir, re-apply, and the merged views compared.
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "helpers.hpp"
#include "layers/layer.hpp"
#include "layers/rootfs.hpp"
#include "layers/snapshotter.hpp"
#include "layers/unpack.hpp"

using namespace layers;

namespace {

#define NEED_ROOT() \
    if (!lt::is_root()) GTEST_SKIP() << "needs root (overlay mounts, trusted.* xattrs)"

// A base image layer made from a plain directory.
LayerBlob base_layer(lt::Env& env) {
    std::string b = env.path("base");
    lt::mkdir(b + "/etc");
    lt::write(b + "/etc/passwd", "root:x:0:0\n");
    lt::write(b + "/etc/group", "root:x:0:\n");
    lt::write(b + "/etc/motd", "hello\n");
    lt::mkdir(b + "/var");
    lt::mkdir(b + "/var/cache");
    lt::write(b + "/var/cache/a", "cached a\n");
    lt::write(b + "/var/cache/b", "cached b\n");
    lt::mkdir(b + "/olddir");
    lt::write(b + "/olddir/one", "1\n");
    lt::write(b + "/olddir/two", "2\n", 0600);
    lt::mkdir(b + "/bin");
    lt::write(b + "/bin/sh", "#!fake shell\n", 0755);
    return diff_upper(env.store, b);
}

// mv for directories under overlay with redirect_dir=off: rename(2) of a lower dir gives
// EXDEV, and tools fall back to copy + delete (as coreutils mv does).
void move_dir(const std::string& from, const std::string& to) {
    if (::rename(from.c_str(), to.c_str()) == 0) return;
    ASSERT_EQ(errno, EXDEV);
    lt::mkdir(to);
    for (auto& n : lt::scan_paths(from)) {
        lt::write(to + "/" + n, lt::read(from + "/" + n));
        struct stat st;
        ::stat((from + "/" + n).c_str(), &st);
        ::chmod((to + "/" + n).c_str(), st.st_mode & 07777);
        ::unlink((from + "/" + n).c_str());
    }
    ASSERT_EQ(::rmdir(from.c_str()), 0);
}

// base_layer unpacked into committed snapshots; returns the chain key.
std::string unpacked_base(lt::Env& env, Snapshotter& s) {
    auto base = base_layer(env);
    return ensure_unpacked(env.store, s, {base.digest}, {base.diff_id});
}

}  // namespace

TEST(Snapshots, MetadataLifecycle) {
    lt::Env env;
    Snapshotter s(env.store);
    auto spec = s.prepare("k1", "", {{"l", "v"}});
    EXPECT_EQ(spec.upperdir, s.upper_dir("k1"));
    EXPECT_EQ(spec.lowerdirs.size(), 1u);  // the shared empty dir
    auto info = s.stat("k1");
    ASSERT_TRUE(info);
    EXPECT_EQ(info->kind, SnapshotInfo::Kind::Active);
    EXPECT_EQ(info->labels.at("l"), "v");
    EXPECT_THROW(s.prepare("k1", ""), sys::Error);
    EXPECT_THROW(s.prepare("k2", "k1"), sys::Error);  // parent not committed
    lt::write(s.upper_dir("k1") + "/f", "x");
    s.commit("c1", "k1");
    EXPECT_FALSE(s.stat("k1"));
    ASSERT_TRUE(s.stat("c1"));
    EXPECT_EQ(s.stat("c1")->kind, SnapshotInfo::Kind::Committed);
    EXPECT_EQ(lt::read(s.layer_dir("c1") + "/f"), "x");
    EXPECT_FALSE(sys::exists(s.layer_dir("c1") + "/../work"));
    s.prepare("k2", "c1");
    EXPECT_EQ(s.mounts_for("c1").lowerdirs.at(0), s.layer_dir("c1"));
    s.prepare("k3", "");
    try {
        s.commit("c1", "k3");
        FAIL();
    } catch (const sys::Error& e) {
        EXPECT_EQ(e.code(), sys::Code::AlreadyExists);
    }
    EXPECT_TRUE(s.stat("k3"));  // still there for its owner to remove
    EXPECT_THROW(s.remove("c1"), sys::Error);  // k2 is based on it
    auto all = s.walk();
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[0].key, "c1");
    s.remove("k2");
    s.remove("k3");
    s.remove("c1");
    EXPECT_TRUE(s.walk().empty());
    // A snapshot whose metadata names another key (a crash in the middle of commit) is never used.
    s.prepare("k4", "");
    sys::write_file_atomic(s.upper_dir("k4") + "/../meta.json",
                           R"({"key":"other","parent":"","kind":"committed","labels":{}})");
    EXPECT_FALSE(s.stat("k4"));
    EXPECT_FALSE(s.stat("other"));
    EXPECT_TRUE(s.walk().empty());
}

TEST(Overlay, ChangesDiffApplyAndMatchTheMountedView) {
    NEED_ROOT();
    lt::private_mount_ns();
    lt::Env env;
    Snapshotter s(env.store);
    auto base = base_layer(env);
    std::string base_key = ensure_unpacked(env.store, s, {base.digest}, {base.diff_id});
    EXPECT_EQ(base_key, chain_id({base.diff_id}).str());
    std::string mnt = env.path("mnt"), mnt2 = env.path("mnt2");
    std::vector<TreeNode> view;
    {
        MountGuard m(s.prepare("step", base_key), mnt);
        ASSERT_TRUE(lt::mounted(mnt));
        lt::write(mnt + "/new-file", "new\n", 0640);                       // write
        lt::write(mnt + "/etc/motd", "changed\n");                         // modify a lower file
        ASSERT_EQ(::unlink((mnt + "/etc/group").c_str()), 0);              // delete a lower file
        ASSERT_EQ(::unlink((mnt + "/var/cache/a").c_str()), 0);            // delete and recreate a dir
        ASSERT_EQ(::unlink((mnt + "/var/cache/b").c_str()), 0);
        ASSERT_EQ(::rmdir((mnt + "/var/cache").c_str()), 0);
        lt::mkdir(mnt + "/var/cache", 0700);
        lt::write(mnt + "/var/cache/c", "fresh\n");
        move_dir(mnt + "/olddir", mnt + "/newdir");                        // rename a dir
        ASSERT_EQ(::link((mnt + "/new-file").c_str(), (mnt + "/hard").c_str()), 0);  // hardlink
        ASSERT_EQ(::symlink("/etc/passwd", (mnt + "/bin/pw").c_str()), 0);           // symlink
        ASSERT_EQ(::chown((mnt + "/bin/sh").c_str(), 1000, 1000), 0);      // metadata-only change
        ASSERT_EQ(::chmod((mnt + "/bin/sh").c_str(), 04711), 0);
        ASSERT_EQ(::setxattr((mnt + "/etc/passwd").c_str(), "user.tag", "t", 1, 0), 0);
        view = scan_tree(mnt);
    }
    EXPECT_FALSE(lt::mounted(mnt));
    auto layer = diff_upper(env.store, s.upper_dir("step"));
    // Apply onto a fresh dir (the new chain's layer) and mount base + it.
    std::string top = ensure_unpacked(env.store, s, {base.digest, layer.digest}, {base.diff_id, layer.diff_id});
    auto up = diff_trees(s.upper_dir("step"), s.layer_dir(top));
    EXPECT_TRUE(up.empty()) << lt::describe(up);
    {
        MountGuard m(s.mounts_for(top), mnt2);
        auto ch = diff_nodes(view, scan_tree(mnt2));
        EXPECT_TRUE(ch.empty()) << lt::describe(ch);
        EXPECT_FALSE(sys::exists(mnt2 + "/etc/group"));
        EXPECT_FALSE(sys::exists(mnt2 + "/var/cache/a"));
        EXPECT_FALSE(sys::exists(mnt2 + "/olddir"));
        EXPECT_EQ(lt::read(mnt2 + "/newdir/one"), "1\n");
        struct stat a, b;
        ASSERT_EQ(::stat((mnt2 + "/hard").c_str(), &a), 0);
        ASSERT_EQ(::stat((mnt2 + "/new-file").c_str(), &b), 0);
        EXPECT_EQ(a.st_ino, b.st_ino);
        errno = 0;
        EXPECT_NE(::mkdir((mnt2 + "/x").c_str(), 0755), 0);  // read-only view
        EXPECT_EQ(errno, EROFS);
    }
    EXPECT_FALSE(lt::mounted(mnt2));
    // The layer's entries: whiteouts and the opaque recreated dir in OCI form.
    std::string raw = lt::read(env.store.blob_path(layer.digest));
    EXPECT_NE(raw.find("etc/.wh.group"), std::string::npos);
    EXPECT_NE(raw.find(".wh.olddir"), std::string::npos);
    EXPECT_NE(raw.find("var/cache/.wh..wh..opq"), std::string::npos);
    s.remove("step");
}

TEST(Overlay, HundredTwentyLayersMount) {
    NEED_ROOT();
    lt::private_mount_ns();
    lt::Env env;
    Snapshotter s(env.store);
    std::string parent;
    const int n = 120;
    for (int i = 0; i < n; i++) {
        std::string key = "active-" + std::to_string(i);
        s.prepare(key, parent);
        lt::write(s.upper_dir(key) + "/f" + std::to_string(i), std::to_string(i));
        std::string name = "layer-" + std::to_string(i);
        s.commit(name, key);
        parent = name;
    }
    auto spec = s.mounts_for(parent);
    ASSERT_EQ(spec.lowerdirs.size(), size_t(n));
    size_t total = 0;
    for (auto& l : spec.lowerdirs) total += l.size() + 1;
    EXPECT_GT(total, 4096u) << "the lowerdir string would not fit one page: the new mount API is needed";
    std::string mnt = env.path("mnt");
    {
        MountGuard m(s.prepare("rw", parent), mnt);
        for (int i = 0; i < n; i += 17) EXPECT_EQ(lt::read(mnt + "/f" + std::to_string(i)), std::to_string(i));
        EXPECT_EQ(lt::read(mnt + "/f119"), "119");
        lt::write(mnt + "/top", "t");
    }
    EXPECT_EQ(lt::read(s.upper_dir("rw") + "/top"), "t");
    EXPECT_FALSE(lt::mounted(mnt));
}

TEST(Overlay, ViewIsReadOnly) {
    NEED_ROOT();
    lt::private_mount_ns();
    lt::Env env;
    Snapshotter s(env.store);
    auto base = base_layer(env);
    std::string key = ensure_unpacked(env.store, s, {base.digest}, {base.diff_id});
    std::string mnt = env.path("mnt");
    MountGuard m(s.view("v", key), mnt);
    EXPECT_EQ(lt::read(mnt + "/etc/motd"), "hello\n");
    EXPECT_NE(::unlink((mnt + "/etc/motd").c_str()), 0);
    EXPECT_EQ(errno, EROFS);
    m.unmount();
    EXPECT_FALSE(lt::mounted(mnt));
    EXPECT_EQ(s.stat("v")->kind, SnapshotInfo::Kind::View);
}

TEST(Unpack, ConcurrentUnpackOfTheSameChain) {
    NEED_ROOT();
    lt::Env env;
    auto base = base_layer(env);
    std::string u = env.path("second");
    lt::write(u + "/x", std::string(1 << 20, 'x'));
    auto second = diff_upper(env.store, u);
    std::vector<pid_t> kids;
    for (int i = 0; i < 4; i++) {
        pid_t pid = ::fork();
        if (pid == 0) {
            try {
                Snapshotter s(env.store);
                ensure_unpacked(env.store, s, {base.digest, second.digest}, {base.diff_id, second.diff_id});
                ::_exit(0);
            } catch (const std::exception& e) {
                std::fprintf(stderr, "child: %s\n", e.what());
                ::_exit(1);
            }
        }
        kids.push_back(pid);
    }
    for (pid_t p : kids) {
        int st = 0;
        ::waitpid(p, &st, 0);
        EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    Snapshotter s(env.store);
    auto all = s.walk();
    ASSERT_EQ(all.size(), 2u);  // exactly the two chain snapshots, no temp leftovers
    for (auto& i : all) EXPECT_EQ(i.kind, SnapshotInfo::Kind::Committed);
    for (auto& n : lt::scan_paths(env.store.snapshots_dir()))
        EXPECT_EQ(n.find("tmp-"), std::string::npos) << n;
}

TEST(Unpack, FailedLayerLeavesNothing) {
    NEED_ROOT();
    lt::Env env;
    Snapshotter s(env.store);
    auto base = base_layer(env);
    try {
        ensure_unpacked(env.store, s, {base.digest}, {cas::Digest::of("wrong")});
        FAIL() << "no error";
    } catch (const sys::Error& e) {
        EXPECT_NE(std::string(e.what()).find(base.digest.str()), std::string::npos) << e.what();
    }
    EXPECT_TRUE(s.walk().empty());
    auto left = lt::scan_paths(env.store.snapshots_dir());
    EXPECT_EQ(left, std::vector<std::string>{"empty"});
}

// `imgbuild run`'s writable layers: scratch slots over the unpacked base, in a private mount ns.
class ScratchRoot : public ::testing::Test {
protected:
    void SetUp() override {
        NEED_ROOT();
        lt::private_mount_ns();
        key = unpacked_base(env, s);
    }
    lt::Env env;
    Snapshotter s{env.store};
    std::string key;
    const std::string slots = env.store.snapshots_dir() + "/scratch";
};

// A reused slot, never anything an earlier holder left.
TEST_F(ScratchRoot, SlotIsReusedEmptyAndUntouched) {
    std::string first;
    {
        MountedRoot r = MountedRoot::scratch(env.store, s, key);
        first = r.path();
        EXPECT_EQ(lt::read(r.path() + "/etc/motd"), "hello\n");
        lt::write(r.path() + "/etc/motd", "changed\n");
        lt::write(r.path() + "/left", "behind\n");
        ASSERT_EQ(::chmod(r.path().c_str(), 0700), 0);
        EXPECT_EQ(s.walk().size(), 1u);  // no snapshot made for it: only the base
    }
    EXPECT_TRUE(sys::list_dir(slots + "/0/fs").empty());
    {
        MountedRoot r = MountedRoot::scratch(env.store, s, key);
        EXPECT_EQ(r.path(), first);  // the same slot again
        EXPECT_EQ(lt::read(r.path() + "/etc/motd"), "hello\n");
        EXPECT_FALSE(sys::exists(r.path() + "/left"));
        struct stat st;
        ASSERT_EQ(::stat(r.path().c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 07777, 0755u);
        // A second holder at the same time gets its own slot.
        MountedRoot r2 = MountedRoot::scratch(env.store, s, key);
        EXPECT_NE(r2.path(), r.path());
        lt::write(r2.path() + "/mine", "x");
        EXPECT_FALSE(sys::exists(r.path() + "/mine"));
        // prune: slots in use stay, and their lock files lease the chain they are over.
        EXPECT_EQ(scratch_in_use(env.store, false), std::set<std::string>{key});
        EXPECT_TRUE(sys::exists(slots + "/1/fs"));
    }
    // What a holder killed mid-run leaves (its writes, the volatile marker of its overlay) is
    // gone before the next holder's container starts.
    lt::write(slots + "/0/fs/stale", "from a killed run\n");
    sys::mkdir_p(slots + "/0/work/work/incompat/volatile");
    // A lease left longer than this holder's (another chain, or a torn write) is rewritten, not
    // kept because it starts with the right key.
    lt::write(slots + "/0.lock", key + "\nsha256:another-chain\n");
    {
        MountedRoot r = MountedRoot::scratch(env.store, s, key);
        EXPECT_EQ(r.path(), first);
        EXPECT_FALSE(sys::exists(r.path() + "/stale"));
        EXPECT_EQ(lt::read(slots + "/0.lock"), key + "\n");
        EXPECT_EQ(scratch_in_use(env.store, true), std::set<std::string>{key});
        // The slot's own files: outside the root, rewritten when the content differs.
        for (std::string c : {"127.0.0.1 a\n", "127.0.0.1 abc\n", "x\n"}) {
            std::string f = r.slot_file("hosts", c);
            EXPECT_EQ(lt::read(f), c);
            EXPECT_EQ(f.rfind(r.path(), 0), std::string::npos) << f;
        }
    }
    EXPECT_TRUE(scratch_in_use(env.store, true).empty());  // dry run: nothing held, nothing removed
    EXPECT_TRUE(sys::exists(slots + "/0"));
    EXPECT_TRUE(scratch_in_use(env.store, false).empty());
    EXPECT_FALSE(sys::exists(slots + "/0"));
    EXPECT_FALSE(sys::exists(slots + "/1"));
}

// `run`'s mount targets (/etc/hosts, ...) come from the slot's stub layer: the image's own file
// hides a stub, the upper dir never holds one, and a write to a stub stays in the upper dir.
TEST_F(ScratchRoot, StubsAreTargetsTheUpperDirNeverHolds) {
    const std::string slot = slots + "/0";
    const std::vector<std::string> stubs = {"etc/hosts", "etc/motd", "var/run/x"};
    struct stat fs_before;
    {
        MountedRoot r = MountedRoot::scratch(env.store, s, key, stubs);
        struct stat st;
        ASSERT_EQ(::lstat((r.path() + "/etc/hosts").c_str(), &st), 0);
        EXPECT_TRUE(S_ISREG(st.st_mode));
        EXPECT_EQ(st.st_mode & 07777, 0644u);
        EXPECT_EQ(st.st_size, 0);
        EXPECT_EQ(lt::read(r.path() + "/etc/motd"), "hello\n");  // the image's, not the stub
        ASSERT_EQ(::lstat((r.path() + "/var/run").c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 07777, 0755u);
        // A bind onto a stub, as `run` does, leaves nothing in the upper dir.
        std::string src = slot + "/bind-src";
        lt::write(src, "127.0.0.1 localhost\n");
        ASSERT_EQ(::mount(src.c_str(), (r.path() + "/etc/hosts").c_str(), nullptr, MS_BIND, nullptr), 0);
        EXPECT_EQ(lt::read(r.path() + "/etc/hosts"), "127.0.0.1 localhost\n");
        ASSERT_EQ(::umount2((r.path() + "/etc/hosts").c_str(), 0), 0);
        ::unlink(src.c_str());
        EXPECT_TRUE(sys::list_dir(slot + "/fs").empty());
        ASSERT_EQ(::stat((slot + "/fs").c_str(), &fs_before), 0);
    }
    struct stat fs_after;
    ASSERT_EQ(::stat((slot + "/fs").c_str(), &fs_after), 0);
    EXPECT_EQ(fs_after.st_ino, fs_before.st_ino);  // kept as it was, not made anew
    {
        MountedRoot r = MountedRoot::scratch(env.store, s, key, stubs);
        lt::write(r.path() + "/etc/hosts", "written by the container\n");
        EXPECT_EQ(lt::read(slot + "/stubs/etc/hosts"), "");  // the lower layer is untouched
    }
    {
        MountedRoot r = MountedRoot::scratch(env.store, s, key, stubs);
        EXPECT_EQ(lt::read(r.path() + "/etc/hosts"), "");
    }
}
