// The reverse direction: buildah builds the same Buildfiles from the same busybox base (imgbuild's
// own, copied into a private containers-storage), skopeo exports the result as an OCI layout and a
// docker-archive, imgbuild imports, inspects and runs both, and the file trees and configs of the
// two builds are compared. Every difference must be on the allow-list in tests/interop/README.md.
#include "peer_env.hpp"

namespace {

using namespace interop;

// Allow-list (documented with reasons in tests/interop/README.md): paths only buildah's build has,
// each an empty directory or empty file. runc creates the mount points /proc, /sys and /dev in
// the rootfs, buildah bind-mounts /run (secrets, .containerenv) and /etc/hostname for each RUN,
// and what survives of them in the committed layer is runtime plumbing, not build output.
// imgbuild, like BuildKit, keeps the empty /proc, /sys and /dev mount points a RUN creates
// (testdata/differential records BuildKit doing so), so those are in both images now.
const std::set<std::string> kOnlyInBuildah = {"/run", "/etc/hostname"};

bool allowed_path(const std::string& p) { return kOnlyInBuildah.count(p) > 0; }

// The allow-listed entries must be exactly that: absent from ours, empty in theirs.
void check_allowed(const Tree& ours, const Tree& theirs) {
    for (const auto& p : kOnlyInBuildah) {
        SCOPED_TRACE(p);
        EXPECT_EQ(ours.count(p), 0u) << "imgbuild's image has it: allow-list entry obsolete?";
        auto it = theirs.find(p);
        if (it == theirs.end()) continue;  // buildah did not leave it this time: fine
        bool empty_dir = it->second.type == 'd' &&
                         std::none_of(theirs.begin(), theirs.end(), [&](const auto& kv) { return kv.first.rfind(p + "/", 0) == 0; });
        bool empty_file = it->second.type == 'f' && it->second.size == 0;
        EXPECT_TRUE(empty_dir || empty_file) << describe(it->second);
    }
}

// Config keys compared exactly (after removing the allow-listed labels).
const char* const kConfigKeys[] = {"Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Labels",
                                    "ExposedPorts", "Volumes", "StopSignal"};

nlohmann::json normalized_config(nlohmann::json cfg) {
    nlohmann::json out = nlohmann::json::object();
    for (const char* k : kConfigKeys) {
        if (!cfg.contains(k) || cfg[k].is_null()) continue;
        if (cfg[k].is_object() && cfg[k].empty()) continue;  // {} and absent mean the same
        out[k] = cfg[k];
    }
    if (out.contains("Labels")) {
        out["Labels"].erase("io.buildah.version");  // buildah stamps its own version
        if (out["Labels"].empty()) out.erase("Labels");
    }
    return out;
}

class Buildah : public ::testing::TestWithParam<Case> {};

TEST_P(Buildah, SameBuildfileSameImage) {
    REQUIRE_BASE();
    REQUIRE_TOOLS("buildah", "skopeo", "umoci", "runc");
    const Case& c = GetParam();
    ASSERT_EQ(build_case(c.name), "");
    auto& env = e2e::BuildEnv::get();
    sys::TempDir tmp("/tmp", "imgbuild-interop-buildah-");
    const std::string& t = tmp.path();
    std::string ours = "interop-" + c.name + ":latest";
    std::string theirs = "buildah-" + c.name;
    std::string left;
    {
        PeerStore ps;
        // The same base: imgbuild's busybox, copied into buildah's private store.
        ASSERT_EQ(env.ib("export busybox:latest --format oci -o " + t + "/base").status, 0);
        CmdResult cp = ps.tool("skopeo --insecure-policy copy -q oci:" + t + "/base:latest containers-storage:localhost/busybox:latest");
        ASSERT_EQ(cp.status, 0) << cp.out;
        std::string dir = src("testdata/interop/" + c.name);
        CmdResult b = ps.tool("buildah bud --layers --network none --runtime runc --isolation oci -q -t " + theirs +
                              " -f " + shell_quote(dir + "/Buildfile") + " " + shell_quote(dir));
        ASSERT_EQ(b.status, 0) << b.out;
        CmdResult o = ps.tool("skopeo --insecure-policy copy -q containers-storage:localhost/" + theirs + ":latest oci:" + t +
                              "/boci:latest");
        ASSERT_EQ(o.status, 0) << o.out;
        CmdResult d = ps.tool("skopeo --insecure-policy copy -q containers-storage:localhost/" + theirs +
                              ":latest docker-archive:" + t + "/b.tar:" + theirs + ":latest");
        ASSERT_EQ(d.status, 0) << d.out;
        left = ps.cleanup();
    }
    EXPECT_EQ(left, "") << "left behind by buildah (now cleaned up by the test)";

    // Into imgbuild, both formats; inspect and run.
    for (std::string fmt : {"oci", "docker"}) {
        SCOPED_TRACE(fmt);
        std::string path = t + (fmt == "oci" ? "/boci" : "/b.tar");
        CmdResult im = env.ib("import " + path + " --tag " + theirs + ":" + fmt);
        ASSERT_EQ(im.status, 0) << im.out;
        nlohmann::json info = ib_inspect(theirs + ":" + fmt);
        EXPECT_EQ(normalized_config(info["Config"]), normalized_config(ib_inspect(ours)["Config"]));
        EXPECT_EQ(info["Architecture"], "amd64");
        CmdResult r = env.ib("run --rm " + theirs + ":" + fmt, false);
        EXPECT_EQ(r.status, 0);
        EXPECT_EQ(r.out, c.expected_output + "\n");
    }
    EXPECT_EQ(ib_inspect(theirs + ":oci")["Id"], ib_inspect(theirs + ":docker")["Id"]);

    // File trees: buildah's image unpacked by umoci vs imgbuild's.
    ASSERT_EQ(env.ib("export " + ours + " --format oci -o " + t + "/ooci").status, 0);
    ASSERT_EQ(run_cmd("umoci unpack --image " + t + "/boci:latest " + t + "/bb").status, 0);
    ASSERT_EQ(run_cmd("umoci unpack --image " + t + "/ooci:latest " + t + "/ob").status, 0);
    Tree theirs_tree = snapshot(t + "/bb/rootfs");
    Tree ours_tree = snapshot(t + "/ob/rootfs");
    ASSERT_GT(theirs_tree.size(), 250u);
    EXPECT_EQ(theirs_tree.count("/srv/built.txt") + theirs_tree.count("/app/run-hard.sh"), 1u);
    // The allow-listed differences actually seen, for the record.
    for (const auto& line : tree_diff(ours_tree, theirs_tree)) std::cout << "[allowed] " << line << "\n";
    check_allowed(ours_tree, theirs_tree);
    EXPECT_EQ(join(tree_diff(ours_tree, theirs_tree, allowed_path)), "")
        << "differences between imgbuild's (-) and buildah's (+) build of testdata/interop/" << c.name;
    env.ib("rmi " + theirs + ":oci " + theirs + ":docker");
}

INSTANTIATE_TEST_SUITE_P(Cases, Buildah, ::testing::ValuesIn(cases()), [](const auto& i) { return i.param.name; });

}  // namespace
