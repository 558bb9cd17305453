// issue 12.13: a committed snapshot (shared by chain id) holds exactly what its layer tar
// holds: a socket and a POSIX ACL in the upper dir do not survive the commit; xattrs that
// layers carry (user.*) do.
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>

#include "helpers.hpp"
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

}  // namespace

TEST(SnapshotStrip, CommitKeepsOnlyWhatTheLayerHolds) {
    if (!lt::is_root()) GTEST_SKIP() << "needs root";
    lt::Env env;
    Snapshotter s(env.store);
    s.prepare("k", "");
    std::string up = s.upper_dir("k");
    lt::mkdir(up + "/d");
    lt::write(up + "/d/f", "x");
    std::string acl = posix_acl();
    if (::setxattr((up + "/d/f").c_str(), "system.posix_acl_access", acl.data(), acl.size(), 0) != 0)
        GTEST_SKIP() << "the filesystem under " << up << " has no POSIX ACLs: " << std::strerror(errno);
    ASSERT_EQ(::setxattr((up + "/d/f").c_str(), "user.keep", "1", 1, 0), 0) << std::strerror(errno);
    int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
    ASSERT_GE(sock, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string sp = up + "/d/sock";
    ASSERT_LT(sp.size(), sizeof addr.sun_path);
    std::strcpy(addr.sun_path, sp.c_str());
    ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
    ::close(sock);
    ASSERT_TRUE(sys::exists(sp));

    s.commit("c", "k");
    std::string l = s.layer_dir("c");
    EXPECT_FALSE(sys::exists(l + "/d/sock")) << "the socket is not in the layer tar, so not in the snapshot";
    EXPECT_FALSE(has_xattr(l + "/d/f", "system.posix_acl_access")) << "the ACL is not in the layer tar";
    EXPECT_TRUE(has_xattr(l + "/d/f", "user.keep")) << "user.* xattrs are part of the layer";
    EXPECT_EQ(lt::read(l + "/d/f"), "x");
}
