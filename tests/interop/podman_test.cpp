// imgbuild's docker-archive export loads into podman and runs there (private store, runc,
// --network=none; see docs/PEERS.md), and nothing is left behind afterwards.
#include "peer_env.hpp"

namespace {

using namespace interop;

TEST(Podman, LoadAndRunImgbuildImages) {
    REQUIRE_BASE();
    REQUIRE_TOOLS("podman", "runc");
    sys::TempDir tmp("/tmp", "imgbuild-interop-podman-");
    std::string left;
    {
        PeerStore ps;
        for (const Case& c : cases()) {
            SCOPED_TRACE(c.name);
            ASSERT_EQ(build_case(c.name), "");
            std::string tar = tmp.path() + "/" + c.name + ".tar";
            std::string img = "interop-" + c.name + ":latest";
            ASSERT_EQ(e2e::BuildEnv::get().ib("export " + img + " --format docker -o " + tar).status, 0);
            CmdResult l = ps.tool("podman load -i " + shell_quote(tar));
            ASSERT_EQ(l.status, 0) << l.out;
            CmdResult r = ps.tool("podman run --rm --network=none --runtime runc " + img, false);
            EXPECT_EQ(r.status, 0) << r.out;
            EXPECT_EQ(r.out, c.expected_output + "\n");
            // podman sees the config imgbuild wrote.
            auto cfg = nlohmann::json::parse(ps.tool("podman image inspect " + img, false).out);
            ASSERT_EQ(cfg.size(), 1u);
            EXPECT_EQ(cfg[0]["Config"]["Env"], ib_inspect(img)["Config"]["Env"]);
        }
        // A container that is not removed on exit is cleaned up by PeerStore too.
        CmdResult kept = ps.tool("podman run --network=none --runtime runc interop-simple:latest", false);
        EXPECT_EQ(kept.status, 0);
        std::string dir = ps.dir();
        left = ps.cleanup();
        EXPECT_FALSE(std::filesystem::exists(dir));
        EXPECT_TRUE(mounts_under(dir).empty());
    }
    EXPECT_EQ(left, "") << "left behind by podman (now cleaned up by the test)";
}

}  // namespace
