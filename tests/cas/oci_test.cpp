// Strict parsing and canonical serialisation of OCI documents.
#include "cas/oci.hpp"
#include "sys/error.hpp"
#include "test_util.hpp"

using cas_test::expect_error;
using json = nlohmann::json;

namespace {

std::string dg(const std::string& s) { return cas::Digest::of(s).str(); }

json manifest_doc() {
    return {{"schemaVersion", 2},
            {"mediaType", cas::media::kManifest},
            {"config", {{"mediaType", cas::media::kConfig}, {"digest", dg("c")}, {"size", 1}}},
            {"layers", json::array({{{"mediaType", cas::media::kLayer}, {"digest", dg("l")}, {"size", 1}}})}};
}

json config_doc() {
    return {{"architecture", "amd64"},
            {"os", "linux"},
            {"created", "2024-01-01T00:00:00Z"},
            {"config", {{"Env", {"PATH=/bin"}}, {"Cmd", {"/bin/sh"}}, {"ExposedPorts", {{"80/tcp", json::object()}}}, {"X-Unknown", 7}}},
            {"rootfs", {{"type", "layers"}, {"diff_ids", {dg("l")}}}},
            {"history", json::array({{{"created_by", "ADD rootfs"}}, {{"created_by", "CMD"}, {"empty_layer", true}}})},
            {"moby.buildkit.extra", {{"keep", "me"}}}};
}

TEST(Oci, ManifestRoundTrip) {
    std::string text = manifest_doc().dump();
    cas::Manifest m = cas::parse_manifest(text, cas::media::kManifest);
    ASSERT_EQ(m.layers.size(), 1u);
    EXPECT_EQ(m.config.digest.str(), dg("c"));
    EXPECT_EQ(cas::serialize(m), text);  // nlohmann dump() is sorted + compact: canonical
}

TEST(Oci, ManifestRejections) {
    json j = manifest_doc();
    j["manifests"] = json::array();
    expect_error([&] { cas::parse_manifest(j.dump()); }, "has both \"manifests\" and \"layers\"");
    expect_error([&] { cas::parse_manifest(manifest_doc().dump(), cas::media::kIndex); }, "does not name a manifest");
    j = manifest_doc();
    j["mediaType"] = cas::media::kIndex;
    expect_error([&] { cas::parse_manifest(j.dump()); }, "unexpected mediaType");
    j = manifest_doc();
    j["config"]["digest"] = "sha256:../../etc/passwd";
    expect_error([&] { cas::parse_manifest(j.dump()); }, "invalid digest");
    j = manifest_doc();
    j["layers"][0]["size"] = -1;
    expect_error([&] { cas::parse_manifest(j.dump()); }, "size must be a non-negative integer");
    j = manifest_doc();
    j["schemaVersion"] = 1;
    expect_error([&] { cas::parse_manifest(j.dump()); }, "schemaVersion must be 2");
    expect_error([&] { cas::parse_manifest("{not json"); }, "not valid JSON");
    expect_error([&] { cas::parse_manifest(std::string(cas::kMaxManifestBytes + 1, ' ')); }, "over the limit");
    // Docker v2 manifest accepted.
    j = manifest_doc();
    j["mediaType"] = cas::media::kDockerManifest;
    EXPECT_NO_THROW(cas::parse_manifest(j.dump(), cas::media::kDockerManifest));
}

TEST(Oci, IndexRejectsLayers) {
    json idx = {{"schemaVersion", 2}, {"mediaType", cas::media::kIndex}, {"manifests", json::array()}};
    EXPECT_NO_THROW(cas::parse_index(idx.dump()));
    idx["layers"] = json::array();
    expect_error([&] { cas::parse_index(idx.dump()); }, "has both");
    json list = {{"schemaVersion", 2}, {"mediaType", cas::media::kDockerManifestList}, {"manifests", json::array()}};
    EXPECT_NO_THROW(cas::parse_index(list.dump(), cas::media::kDockerManifestList));
    expect_error([&] { cas::parse_index(list.dump(), cas::media::kIndex); }, "does not match");
}

TEST(Oci, ConfigKeepsUnknownFieldsAndIsCanonical) {
    cas::ImageConfig c = cas::parse_config(config_doc().dump(2));
    EXPECT_EQ(c.config.env, std::vector<std::string>{"PATH=/bin"});
    ASSERT_TRUE(c.config.cmd);
    EXPECT_EQ(c.config.exposed_ports, std::vector<std::string>{"80/tcp"});
    EXPECT_EQ(c.history.size(), 2u);
    EXPECT_TRUE(c.history[1].empty_layer);
    std::string out = cas::serialize(c);
    json back = json::parse(out);
    EXPECT_EQ(back["moby.buildkit.extra"]["keep"], "me");
    EXPECT_EQ(back["config"]["X-Unknown"], 7);
    EXPECT_EQ(out, config_doc().dump());
    // Same value -> same bytes -> same digest, however it was formatted.
    EXPECT_EQ(cas::serialize(cas::parse_config(out)), out);
    // Edits apply, unknown fields stay.
    c.config.user = "nobody";
    c.config.cmd.reset();
    json e = json::parse(cas::serialize(c));
    EXPECT_EQ(e["config"]["User"], "nobody");
    EXPECT_FALSE(e["config"].contains("Cmd"));
    EXPECT_EQ(e["config"]["X-Unknown"], 7);
}

TEST(Oci, ConfigValidation) {
    json j = config_doc();
    j["rootfs"]["diff_ids"].push_back(dg("extra"));
    expect_error([&] { cas::parse_config(j.dump()); }, "2 diff_ids but 1 history entries");
    j = config_doc();
    j["rootfs"]["diff_ids"][0] = "sha256:SHOUTING";
    expect_error([&] { cas::parse_config(j.dump()); }, "invalid digest");
    j = config_doc();
    j["rootfs"]["type"] = "tarball";
    expect_error([&] { cas::parse_config(j.dump()); }, "rootfs.type");
    j = config_doc();
    j.erase("rootfs");
    expect_error([&] { cas::parse_config(j.dump()); }, "missing \"rootfs\"");
    j = config_doc();
    j["config"]["Env"] = "PATH=/bin";
    expect_error([&] { cas::parse_config(j.dump()); }, "\"Env\" is not an array");
}

TEST(Oci, NewConfigSerialises) {
    cas::ImageConfig c;
    c.diff_ids.push_back(cas::Digest::of("x"));
    c.config.entrypoint = std::vector<std::string>{};
    json j = json::parse(cas::serialize(c));
    EXPECT_EQ(j["architecture"], "amd64");
    EXPECT_EQ(j["rootfs"]["diff_ids"][0], dg("x"));
    EXPECT_TRUE(j["config"]["Entrypoint"].is_array());
    EXPECT_NO_THROW(cas::parse_config(j.dump()));
}

}  // namespace
