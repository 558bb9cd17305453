// imgbuild's images in the peers' image tools: skopeo reads both export formats, and umoci's
// unpack of the OCI export is the same tree imgbuild itself produces (--output type=local).
#include "peer_env.hpp"

namespace {

using namespace interop;

class Exported : public ::testing::TestWithParam<Case> {};

TEST_P(Exported, SkopeoInspectsOciAndDockerArchive) {
    REQUIRE_BASE();
    REQUIRE_TOOLS("skopeo");
    const Case& c = GetParam();
    ASSERT_EQ(build_case(c.name), "");
    sys::TempDir tmp("/tmp", "imgbuild-interop-exp-");
    std::string img = "interop-" + c.name + ":latest";
    auto& env = e2e::BuildEnv::get();
    ASSERT_EQ(env.ib("export " + img + " --format oci -o " + tmp.path() + "/oci").status, 0);
    ASSERT_EQ(env.ib("export " + img + " --format docker -o " + tmp.path() + "/img.tar").status, 0);
    nlohmann::json ours = ib_inspect(img);

    for (std::string ref : {"oci:" + tmp.path() + "/oci:latest", "docker-archive:" + tmp.path() + "/img.tar"}) {
        SCOPED_TRACE(ref);
        // --config: the image config exactly as stored; plain inspect: skopeo's summary.
        auto cfg = nlohmann::json::parse(must_out("skopeo inspect --config " + shell_quote(ref)));
        EXPECT_EQ(cfg["config"]["Env"], ours["Config"]["Env"]);
        EXPECT_EQ(cfg["config"].value("Cmd", nlohmann::json()), ours["Config"].value("Cmd", nlohmann::json()));
        EXPECT_EQ(cfg["architecture"], ours["Architecture"]);
        EXPECT_EQ(cfg["os"], "linux");
        auto sum = nlohmann::json::parse(must_out("skopeo inspect " + shell_quote(ref)));
        EXPECT_EQ(sum["Layers"].size(), ours["Layers"].size());
        EXPECT_EQ(sum["Architecture"], ours["Architecture"]);
    }
    // The same config blob both ways: the OCI layout's manifest names the image ID.
    auto cfgraw = must_out("skopeo inspect --raw " + shell_quote("oci:" + tmp.path() + "/oci:latest"));
    EXPECT_EQ(nlohmann::json::parse(cfgraw)["config"]["digest"], ours["Id"]);
}

TEST_P(Exported, UmociUnpackEqualsLocalOutput) {
    REQUIRE_BASE();
    REQUIRE_TOOLS("umoci");
    const Case& c = GetParam();
    ASSERT_EQ(build_case(c.name), "");
    sys::TempDir tmp("/tmp", "imgbuild-interop-umoci-");
    auto& env = e2e::BuildEnv::get();
    std::string img = "interop-" + c.name + ":latest";
    ASSERT_EQ(env.ib("export " + img + " --format oci -o " + tmp.path() + "/oci").status, 0);
    CmdResult u = run_cmd("umoci unpack --image " + shell_quote(tmp.path() + "/oci:latest") + " " +
                          shell_quote(tmp.path() + "/bundle"));
    ASSERT_EQ(u.status, 0) << u.out;
    // imgbuild's own view of the final root file system (cache hit: same steps, no rebuild).
    CmdResult l = env.ib("build --progress plain --output type=local,preserve-owner=true,dest=" + tmp.path() + "/local " +
                         shell_quote(src("testdata/interop/" + c.name)));
    ASSERT_EQ(l.status, 0) << l.out;
    Tree a = snapshot(tmp.path() + "/bundle/rootfs");
    Tree b = snapshot(tmp.path() + "/local");
    ASSERT_GT(a.size(), 250u);  // busybox applets and more
    EXPECT_EQ(join(tree_diff(a, b)), "");
    if (c.name == "app") {
        // whiteouts applied, links kept, owners kept
        EXPECT_EQ(a.count("/var/data/remove-me"), 0u);
        EXPECT_EQ(a.count("/var/data/sub"), 0u);
        EXPECT_EQ(a.count("/root"), 0u);
        EXPECT_EQ(a.count("/var/data/keep"), 1u);
        EXPECT_EQ(a["/app/run-link.sh"].content, "run.sh");
        EXPECT_EQ(a["/app/run-hard.sh"].hardlink, "/app/run-hard.sh");
        EXPECT_EQ(a["/app/run.sh"].hardlink, "/app/run-hard.sh");
        EXPECT_EQ(a["/app/run.sh"].uid, 1000u);
    }
}

INSTANTIATE_TEST_SUITE_P(Cases, Exported, ::testing::ValuesIn(cases()),
                         [](const auto& i) { return i.param.name; });

}  // namespace
