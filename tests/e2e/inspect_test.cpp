// End-to-end tests of `imgbuild history | layers | diff` and the cache commands' JSON,
// through the real binary, as root, on imgbuild's own builds and on images imported from
// umoci / skopeo.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include "build_env.hpp"
#include "cas/digest.hpp"
#include "sys/fs.hpp"

using e2e::BuildEnv;
using e2e::CmdResult;
using e2e::Ctx;
using e2e::shell_quote;
using nlohmann::json;

namespace {

// Runs `imgbuild --root <store> args`, expects `status`, parses stdout as JSON.
json ib_json(const std::string& args, int status = 0) {
    CmdResult r = BuildEnv::get().ib(args, false);
    EXPECT_EQ(r.status, status) << args << "\n" << r.out;
    try {
        return json::parse(r.out);
    } catch (const std::exception& e) {
        ADD_FAILURE() << args << ": not JSON: " << e.what() << "\n" << r.out;
        return json();
    }
}

void build(const Ctx& ctx, const std::string& tag) {
    CmdResult r = BuildEnv::get().ib("build --progress plain -t " + tag + " " + ctx.path());
    ASSERT_EQ(r.status, 0) << r.out;
}

// Nothing of the store may stay mounted, and diff's temp dirs are gone.
void expect_clean() {
    std::string mi = sys::read_file("/proc/self/mountinfo");
    EXPECT_EQ(mi.find(BuildEnv::get().root()), std::string::npos) << mi;
    std::string tmp = BuildEnv::get().root() + "/tmp";
    if (std::filesystem::exists(tmp)) {
        EXPECT_TRUE(std::filesystem::is_empty(tmp)) << tmp;
    }
}

std::vector<std::string> paths_of(const json& changes) {
    std::vector<std::string> out;
    for (auto& c : changes) out.push_back(c["path"]);
    return out;
}

}  // namespace

TEST(Inspect, DiffOfTwoBuildsReportsExactlyTheChangedFile) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    Ctx ctx;
    ctx.file("Buildfile", "FROM busybox:latest\nCOPY a.txt b.txt /data/\nRUN echo built > /data/c.txt\n");
    ctx.file("a.txt", "same\n").file("b.txt", "before\n");
    build(ctx, "difft:1");
    ctx.file("b.txt", "after, longer\n");
    build(ctx, "difft:2");

    json j = ib_json("diff difft:1 difft:2 --json", 1);
    EXPECT_EQ(j["equal"], false);
    EXPECT_EQ(j["a"]["kind"], "image");
    ASSERT_EQ(paths_of(j["changes"]), std::vector<std::string>{"/data/b.txt"}) << j.dump(2);
    const json& c = j["changes"][0];
    EXPECT_EQ(c["change"], "modified");
    EXPECT_NE(std::find(c["fields"].begin(), c["fields"].end(), "content"), c["fields"].end());
    EXPECT_EQ(c["before"]["digest"], cas::Digest::of("before\n").str());
    EXPECT_EQ(c["after"]["digest"], cas::Digest::of("after, longer\n").str());
    EXPECT_EQ(c["after"]["size"], 14);
    EXPECT_EQ(j["config"], json::array());
    EXPECT_EQ(j["stat"]["modified"], 1);
    EXPECT_EQ(j["stat"]["added"], 0);
    EXPECT_EQ(j["stat"]["deleted"], 0);

    CmdResult human = env.ib("diff difft:1 difft:2", false);
    EXPECT_EQ(human.status, 1);
    EXPECT_NE(human.out.find("M  /data/b.txt  size 7 B -> 14 B, content sha256:"), std::string::npos) << human.out;
    EXPECT_EQ(human.out.find("/data/a.txt"), std::string::npos) << human.out;
    EXPECT_EQ(human.out.find("/data/c.txt"), std::string::npos) << human.out;
    CmdResult stat = env.ib("diff --stat difft:1 difft:2", false);
    EXPECT_EQ(stat.status, 1);
    EXPECT_NE(stat.out.find("0 added, 1 modified, 0 deleted (+7 B, -0 B)"), std::string::npos) << stat.out;
    expect_clean();
}

TEST(Inspect, DiffOfAnImageWithItselfExitsZero) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    CmdResult r = env.ib("diff busybox:latest busybox:latest");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(r.out, "");
    json j = ib_json("diff busybox busybox:latest --json --stat");
    EXPECT_EQ(j["equal"], true);
    EXPECT_FALSE(j.contains("changes"));
    EXPECT_EQ(j["stat"]["added"], 0);
    expect_clean();
}

TEST(Inspect, DiffConfigOnlyChangeIsADifference) {
    REQUIRE_BASE();
    Ctx ctx;
    ctx.file("Buildfile", "FROM busybox:latest\nENV MODE=test\nUSER nobody\nEXPOSE 8080\n");
    build(ctx, "cfgdiff:1");
    json j = ib_json("diff busybox:latest cfgdiff:1 --json", 1);
    EXPECT_EQ(j["changes"], json::array());
    std::vector<std::string> fields;
    for (auto& c : j["config"]) fields.push_back(c["field"]);
    EXPECT_EQ(fields, (std::vector<std::string>{"env", "user", "exposed_ports"}));
    EXPECT_EQ(j["config"][1]["after"], "nobody");
    EXPECT_EQ(j["config"][2]["after"], json({"8080/tcp"}));
}

TEST(Inspect, DiffLayerDigestsAndDirectories) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    Ctx ctx;
    ctx.file("Buildfile", "FROM busybox:latest\nCOPY tree/ /srv/\n");
    ctx.file("tree/x.txt", "x\n").file("tree/sub/y.txt", "y\n");
    build(ctx, "layerdiff:1");
    json ins = ib_json("inspect layerdiff:1 --json");
    std::string top = ins["Layers"].back()["digest"];
    // The COPY layer against the context directory it came from: only the Buildfile and the
    // tree/ prefix differ (the layer holds srv/...).
    sys::TempDir expect("/tmp", "inspect-e2e-dir-");
    sys::mkdir_p(expect.path() + "/srv/sub");
    sys::write_file_atomic(expect.path() + "/srv/x.txt", "x\n", 0644, false);
    sys::write_file_atomic(expect.path() + "/srv/sub/y.txt", "y\n", 0644, false);
    ::chmod((expect.path() + "/srv").c_str(), 0755);
    ::chmod((expect.path() + "/srv/sub").c_str(), 0755);
    json j = ib_json("diff " + top + " " + shell_quote(expect.path()) + " --json");
    EXPECT_EQ(j["a"]["kind"], "layer");
    EXPECT_EQ(j["b"]["kind"], "directory");
    EXPECT_EQ(j["equal"], true) << j.dump(2);
    // A directory against an image: the image's files show as added.
    sys::TempDir empty("/tmp", "inspect-e2e-empty-");
    json k = ib_json("diff " + shell_quote(empty.path()) + " layerdiff:1 --json --stat", 1);
    EXPECT_GT(k["stat"]["added"].get<int>(), 100);  // busybox applets and more
    EXPECT_EQ(k["config"], nullptr);
    // Errors: exit 2, not "different".
    CmdResult bad = env.ib("diff nosuch:image busybox:latest");
    EXPECT_EQ(bad.status, 2) << bad.out;
    EXPECT_NE(bad.out.find("nosuch"), std::string::npos) << bad.out;
    CmdResult missing = env.ib("diff " + cas::Digest::of("nothing").str() + " busybox:latest");
    EXPECT_EQ(missing.status, 2) << missing.out;
    expect_clean();
}

TEST(Inspect, LayersReportsFiftyMegabytesWrittenThenDeletedAsWasted) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    Ctx ctx;
    ctx.file("Buildfile",
             "FROM busybox:latest\n"
             "RUN dd if=/dev/zero of=/big bs=1M count=50 && mkdir -p /keep && echo k > /keep/k\n"
             "RUN rm /big\n");
    build(ctx, "waste:1");
    json j = ib_json("layers waste:1 --json");
    const json& eff = j["efficiency"];
    const uint64_t fifty = 50ull << 20;
    EXPECT_GE(eff["wasted_bytes"].get<uint64_t>(), fifty);
    ASSERT_FALSE(eff["inefficiencies"].empty());
    EXPECT_EQ(eff["inefficiencies"][0]["path"], "/big");
    EXPECT_EQ(eff["inefficiencies"][0]["count"], 2);
    EXPECT_EQ(eff["inefficiencies"][0]["cumulative_size"], fifty);
    double score = eff["score"];
    EXPECT_GT(score, 0.0);
    EXPECT_LT(score, 0.5);  // 50 MB of waste against ~2 MB of busybox
    const json& layers = j["layers"];
    json ins = ib_json("inspect waste:1 --json");
    ASSERT_EQ(layers.size(), ins["Layers"].size());
    const json& write = layers[layers.size() - 2];
    const json& del = layers.back();
    EXPECT_NE(write["created_by"].get<std::string>().find("dd if=/dev/zero"), std::string::npos);
    EXPECT_EQ(write["added_bytes"].get<uint64_t>(), fifty + 2);
    EXPECT_EQ(del["deleted"], 1);
    EXPECT_EQ(del["deleted_bytes"], fifty);
    ASSERT_EQ(del["changes"].size(), 1u);
    EXPECT_EQ(del["changes"][0]["path"], "/big");
    EXPECT_EQ(del["changes"][0]["change"], "deleted");
    EXPECT_EQ(del["digest"], ins["Layers"].back()["digest"]);
    // busybox's own layer: /bin/busybox added.
    bool busybox = false;
    for (auto& c : layers[0]["changes"]) busybox |= c["path"] == "/bin/busybox" && c["change"] == "added";
    EXPECT_TRUE(busybox) << layers[0].dump(1);

    CmdResult tree = env.ib("layers waste:1", false);
    ASSERT_EQ(tree.status, 0) << tree.out;
    EXPECT_NE(tree.out.find("Wasted space:      52.4 MB (52428800 bytes)"), std::string::npos) << tree.out;
    EXPECT_TRUE(std::regex_search(tree.out, std::regex("\n  D  -rw-r--r-- +0:0 +52\\.4 MB  big\n"))) << tree.out;
    // Tree form: the directory, then its child indented under it.
    EXPECT_TRUE(std::regex_search(tree.out, std::regex("  keep/\n  A  -rw-r--r-- +0:0 +2 B    k\n"))) << tree.out;
    CmdResult flat = env.ib("layers waste:1 --flat", false);
    EXPECT_NE(flat.out.find("/keep/k\n"), std::string::npos) << flat.out;
}

TEST(Inspect, HistoryMatchesTheImageConfig) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    Ctx ctx;
    ctx.file("Buildfile", "FROM busybox:latest\nENV A=1\nRUN echo one > /one && echo a-very-long-command-line-that-will-be-truncated-in-the-table\n");
    build(ctx, "hist:1");
    json h = ib_json("history hist:1 --json");
    json ins = ib_json("inspect hist:1 --json");
    ASSERT_EQ(h.size(), ins["History"].size());
    size_t li = 0;
    for (size_t i = 0; i < h.size(); i++) {
        EXPECT_EQ(h[i]["created_by"], ins["History"][i]["created_by"]);
        bool empty = ins["History"][i].value("empty_layer", false);
        EXPECT_EQ(h[i]["empty_layer"], empty);
        if (empty) {
            EXPECT_EQ(h[i]["layer"], nullptr);
            EXPECT_EQ(h[i]["size"], 0);
        } else {
            EXPECT_EQ(h[i]["layer"], ins["Layers"][li]["digest"]);
            EXPECT_EQ(h[i]["diff_id"], ins["Layers"][li]["diffId"]);
            EXPECT_EQ(h[i]["size"], ins["Layers"][li]["size"]);
            li++;
        }
    }
    EXPECT_EQ(li, ins["Layers"].size());
    EXPECT_EQ(h[h.size() - 2]["created_by"], "ENV A=1");

    CmdResult table = env.ib("history hist:1", false);
    ASSERT_EQ(table.status, 0);
    EXPECT_EQ(table.out.rfind("CREATED", 0), 0u) << table.out;
    size_t first = table.out.find('\n') + 1;  // newest first
    EXPECT_NE(table.out.substr(first, table.out.find('\n', first) - first).find("RUN /bin/sh -c echo one"), std::string::npos);
    EXPECT_NE(table.out.find("<empty layer>"), std::string::npos);
    EXPECT_NE(table.out.find("..."), std::string::npos);
    EXPECT_EQ(table.out.find("truncated-in-the-table"), std::string::npos);
    CmdResult full = env.ib("history --no-trunc hist:1", false);
    EXPECT_NE(full.out.find("truncated-in-the-table"), std::string::npos);
    EXPECT_EQ(env.ib("history nosuch:1").status, 1);
}

TEST(Inspect, CachePruneKeepStorageZeroThenFsckPassesAndTaggedImagesRun) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    Ctx ctx;
    ctx.file("Buildfile", "FROM busybox:latest\nARG V=1\nRUN echo v$V > /v\n");
    build(ctx, "keepme:1");
    CmdResult other = env.ib("build --progress plain --build-arg V=2 " + ctx.path());  // untagged: cache only
    ASSERT_EQ(other.status, 0) << other.out;

    json ls = ib_json("cache ls --json");
    ASSERT_TRUE(ls.is_array());
    bool v2 = false;
    for (auto& r : ls) {
        EXPECT_TRUE(cas::Digest::valid(r["key"].get<std::string>()));
        EXPECT_TRUE(r["step"].is_string());
        EXPECT_TRUE(r["size"].is_number_unsigned());
        EXPECT_TRUE(r["hits"].is_number());
        v2 |= r["step"].get<std::string>().find("echo v$V") != std::string::npos && r["layer"] != "";
    }
    EXPECT_TRUE(v2) << ls.dump(1);
    json du = ib_json("cache du --json");
    EXPECT_GE(du["records"].get<size_t>(), ls.size() > 0 ? 1u : 0u);
    EXPECT_EQ(du["records"].get<size_t>(), ls.size());
    EXPECT_EQ(du["total"].get<uint64_t>(), du["shared"].get<uint64_t>() + du["exclusive"].get<uint64_t>());
    EXPECT_GT(du["exclusive"].get<uint64_t>(), 0u);  // the V=2 layer belongs to no image

    CmdResult prune = env.ib("cache prune --keep-storage 0");
    ASSERT_EQ(prune.status, 0) << prune.out;
    CmdResult fsck = env.ib("fsck");
    EXPECT_EQ(fsck.status, 0) << fsck.out;
    json du2 = ib_json("cache du --json");
    EXPECT_EQ(du2["exclusive"], 0);
    CmdResult run = env.ib("run --rm keepme:1 cat /v", false);
    EXPECT_EQ(run.status, 0);
    EXPECT_EQ(run.out, "v1\n");
    CmdResult base = env.ib("run --rm busybox:latest echo still-here", false);
    EXPECT_EQ(base.out, "still-here\n");
    // The inspection commands still work on the pruned store.
    EXPECT_EQ(env.ib("diff busybox:latest keepme:1 --stat").status, 1);
    EXPECT_EQ(ib_json("layers keepme:1 --json")["layers"].back()["changes"][0]["path"], "/v");
}

TEST(Inspect, WorksOnImagesImportedFromUmociAndSkopeo) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    sys::TempDir work("/tmp", "inspect-e2e-import-");
    std::string layout = work.path() + "/oci";
    std::string why = e2e::make_busybox_oci(layout, "latest");
    if (!why.empty()) GTEST_SKIP() << why;
    CmdResult imp = env.ib("import " + shell_quote(layout) + " --tag bb:umoci");
    ASSERT_EQ(imp.status, 0) << imp.out;

    json h = ib_json("history bb:umoci --json");
    std::vector<std::string> by;
    for (auto& e : h) by.push_back(e["created_by"]);
    EXPECT_NE(std::find(by.begin(), by.end(), "imgbuild test: busybox rootfs"), by.end()) << h.dump(1);
    json l = ib_json("layers bb:umoci --json");
    ASSERT_EQ(l["layers"].size(), 1u);
    EXPECT_EQ(l["layers"][0]["created_by"], "imgbuild test: busybox rootfs");
    std::vector<std::string> paths = paths_of(l["layers"][0]["changes"]);
    EXPECT_NE(std::find(paths.begin(), paths.end(), "/bin/busybox"), paths.end());
    EXPECT_NE(std::find(paths.begin(), paths.end(), "/etc/passwd"), paths.end());
    EXPECT_EQ(l["efficiency"]["wasted_bytes"], 0);
    EXPECT_EQ(l["efficiency"]["score"], 1.0);

    // Diff against imgbuild's own busybox: an answer (not an error), with the config
    // compared (umoci's image has no PATH beyond /bin).
    json d = ib_json("diff bb:umoci busybox:latest --json", 1);
    EXPECT_EQ(d["b"]["kind"], "image");
    EXPECT_FALSE(d["config"].empty());

    // The same image through skopeo's docker-archive: identical files and config, and its
    // (uncompressed) layer blob equals umoci's (gzip) layer.
    std::string tar = work.path() + "/bb.tar";
    why = e2e::make_docker_archive(layout, "latest", tar, "bb:skopeo");
    if (!why.empty()) GTEST_SKIP() << why;
    ASSERT_EQ(env.ib("import " + shell_quote(tar)).status, 0);
    CmdResult same = env.ib("diff bb:umoci bb:skopeo");
    EXPECT_EQ(same.status, 0) << same.out;
    json a = ib_json("inspect bb:umoci --json"), b = ib_json("inspect bb:skopeo --json");
    std::string la = a["Layers"][0]["digest"], lb = b["Layers"][0]["digest"];
    EXPECT_NE(la, lb);
    json ld = ib_json("diff " + la + " " + lb + " --json");
    EXPECT_EQ(ld["a"]["kind"], "layer");
    EXPECT_EQ(ld["equal"], true);
    EXPECT_EQ(ib_json("history bb:skopeo --json").size(), h.size());
    expect_clean();
}
