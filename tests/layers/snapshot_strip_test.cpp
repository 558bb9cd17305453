// issue 12.13: a committed snapshot (shared by chain id) holds exactly what its layer tar
// holds: a socket and a POSIX ACL in the upper dir do not survive the commit; xattrs that
// layers carry (user.*) do.
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>

#include "helpers.hpp"
#include "layers/layer.hpp"
#include "layers/strip.hpp"
#include "layers/snapshotter.hpp"

using namespace layers;

namespace {

// A valid access ACL: user::rw- user:1000:r-- group::r-- mask::r-- other::r--.
std::string posix_acl() {
    std::string b;
    auto u16 = [&](uint16_t v) { b.append(reinterpret_cast<const char*>(&v), 2); };
    auto u32 = [&](uint32_t v) { b.append(reinterpret_cast<const char*>(&v), 4); };
    u32(2);
    u16(0x01); u16(6); u32(0xffffffff);
    u16(0x02); u16(4); u32(1000);
    u16(0x04); u16(4); u32(0xffffffff);
    u16(0x10); u16(4); u32(0xffffffff);
    u16(0x20); u16(4); u32(0xffffffff);
    return b;
}

bool has_xattr(const std::string& p, const char* name) { return ::lgetxattr(p.c_str(), name, nullptr, 0) >= 0; }

void make_socket(const std::string& p) {
    int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_GE(sock, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    ASSERT_LT(p.size(), sizeof addr.sun_path);
    std::strcpy(addr.sun_path, p.c_str());
    ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
    ::close(sock);
}

// An upper dir holding only what a layer carries: a file with a user.* xattr, an opaque dir,
// a whiteout with a trusted.* xattr (layers carry trusted.* but overlay's own).
void clean_upper(const std::string& u) {
    lt::mkdir(u);
    lt::mkdir(u + "/d");
    lt::write(u + "/d/f", "x");
    ASSERT_EQ(::setxattr((u + "/d/f").c_str(), "user.keep", "1", 1, 0), 0) << std::strerror(errno);
    lt::mkdir(u + "/opq");
    lt::set_opaque(u + "/opq");
    lt::whiteout(u + "/d/gone");
    ASSERT_EQ(::lsetxattr((u + "/d/gone").c_str(), "trusted.kept", "1", 1, 0), 0) << std::strerror(errno);
}

// A store with an active snapshot "k" whose upper dir is `up`.
struct SnapshotStrip : ::testing::Test {
    lt::Env env;
    Snapshotter s{env.store};
    std::string up;
    void SetUp() override {
        if (!lt::is_root()) GTEST_SKIP() << "needs root (trusted.* xattrs, whiteout devices)";
        s.prepare("k", "");
        up = s.upper_dir("k");
    }
};

}  // namespace

TEST_F(SnapshotStrip, CommitKeepsOnlyWhatTheLayerHolds) {
    lt::mkdir(up + "/d");
    lt::write(up + "/d/f", "x");
    std::string acl = posix_acl();
    if (::setxattr((up + "/d/f").c_str(), "system.posix_acl_access", acl.data(), acl.size(), 0) != 0)
        GTEST_SKIP() << "the filesystem under " << up << " has no POSIX ACLs: " << std::strerror(errno);
    ASSERT_EQ(::setxattr((up + "/d/f").c_str(), "user.keep", "1", 1, 0), 0) << std::strerror(errno);
    std::string sp = up + "/d/sock";
    make_socket(sp);
    ASSERT_TRUE(sys::exists(sp));

    s.commit("c", "k");
    std::string l = s.layer_dir("c");
    EXPECT_FALSE(sys::exists(l + "/d/sock")) << "the socket is not in the layer tar, so not in the snapshot";
    EXPECT_FALSE(has_xattr(l + "/d/f", "system.posix_acl_access")) << "the ACL is not in the layer tar";
    EXPECT_TRUE(has_xattr(l + "/d/f", "user.keep")) << "user.* xattrs are part of the layer";
    EXPECT_EQ(lt::read(l + "/d/f"), "x");
}

// The build commits a step's upper dir without the strip walk when its diff saw nothing to
// strip below it, so the diff must see everything the strip would remove: on any entry (a
// whiteout too), and sockets. The dir itself (where overlay keeps trusted.overlay.uuid) is
// stripped by the commit in either case.
TEST_F(SnapshotStrip, DiffTellsWhetherTheCommitMustStrip) {
    std::string clean = env.path("clean");
    clean_upper(clean);
    EXPECT_TRUE(diff_upper(env.store, clean).entries_only_layer_content) << "nothing to strip in " << clean;

    auto foreign = [&](const char* what, const std::function<void(const std::string&)>& plant) {
        std::string u = env.path(what);
        clean_upper(u);
        plant(u);
        EXPECT_FALSE(diff_upper(env.store, u).entries_only_layer_content) << what;
    };
    auto set = [](const std::string& p, const char* name) {
        ASSERT_EQ(::lsetxattr(p.c_str(), name, "1", 1, 0), 0) << name << " on " << p << ": " << std::strerror(errno);
    };
    foreign("xattr-on-nested-file", [&](const std::string& u) { set(u + "/d/f", "trusted.overlay.metacopy"); });
    foreign("xattr-on-dir", [&](const std::string& u) { set(u + "/opq", "trusted.overlay.redirect"); });
    foreign("xattr-on-whiteout", [&](const std::string& u) { set(u + "/d/gone", "trusted.overlay.origin"); });
    foreign("socket", [&](const std::string& u) { make_socket(u + "/d/s"); });
    std::string own = env.path("xattr-on-upper-itself");
    clean_upper(own);
    set(own, "trusted.overlay.uuid");
    EXPECT_TRUE(diff_upper(env.store, own).entries_only_layer_content) << "the dir's own xattrs are the commit's";

    foreign("acl", [&](const std::string& u) {
        std::string acl = posix_acl();
        ASSERT_EQ(::setxattr((u + "/d/f").c_str(), "system.posix_acl_access", acl.data(), acl.size(), 0), 0)
            << std::strerror(errno);
    });
}

TEST_F(SnapshotStrip, CommitOfCleanEntriesStillStripsTheDirItself) {
    lt::write(up + "/f", "x");
    ASSERT_EQ(::setxattr(up.c_str(), "trusted.overlay.uuid", "u", 1, 0), 0) << std::strerror(errno);
    ASSERT_EQ(::setxattr((up + "/f").c_str(), "trusted.overlay.origin", "o", 1, 0), 0) << std::strerror(errno);
    s.commit("c", "k", StripScope::DirItself);
    std::string l = s.layer_dir("c");
    EXPECT_FALSE(has_xattr(l, "trusted.overlay.uuid")) << "the dir's own xattrs are stripped in either scope";
    EXPECT_TRUE(has_xattr(l + "/f", "trusted.overlay.origin")) << "DirItself trusts the caller's diff for the entries";
}
