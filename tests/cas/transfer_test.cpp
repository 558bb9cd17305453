// Library-level import/export round trips (no external tools needed).
#include "cas/fsck.hpp"
#include "cas/image.hpp"
#include "cas/transfer.hpp"
#include "sys/error.hpp"
#include "test_util.hpp"

using cas_test::expect_error;
using json = nlohmann::json;

namespace {

struct Transfer : cas_test::StoreFixture {
    cas::Store other = cas::Store::open(tmp.path() + "/other");
    cas::Descriptor layer;
    cas::Descriptor manifest;

    void SetUp() override {
        // The "layer" need not be a real tar for the store; docker import checks digest == diff_id.
        std::string bytes = "layer bytes standing in for an uncompressed tar";
        layer = {cas::media::kLayer, store.put(bytes), bytes.size(), {}, std::nullopt, {}, ""};
        cas::ImageConfig c;
        c.created = "2024-01-01T00:00:00Z";
        c.config.cmd = std::vector<std::string>{"/bin/sh"};
        c.diff_ids = {layer.digest};
        manifest = cas::write_image(store, c, {layer});
        cas::tag_image(store, "app:1", manifest);
    }
};

TEST_F(Transfer, OciDirRoundTrip) {
    cas::Image im = cas::resolve_image(store, "app:1");
    std::string out = tmp.path() + "/layout";
    cas::export_image(store, im, out, {cas::ExportFormat::Oci, {"app:1"}, nullptr});
    json idx = json::parse(sys::read_file(out + "/index.json"));
    EXPECT_EQ(idx["manifests"][0]["annotations"][cas::kAnnotationRefName], "1");
    auto got = cas::import_images(other, out);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].refs, std::vector<std::string>{"app:1"});
    EXPECT_EQ(got[0].manifest.digest, manifest.digest);
    EXPECT_EQ(cas::resolve_image(other, "app:1").config_digest, im.config_digest);
    // Exporting a second image into the same layout adds to it.
    cas::tag_image(store, "app:2", manifest);
    cas::export_image(store, im, out, {cas::ExportFormat::Oci, {"app:2"}, nullptr});
    EXPECT_EQ(json::parse(sys::read_file(out + "/index.json"))["manifests"].size(), 2u);
    EXPECT_TRUE(cas::fsck(other).ok());
}

TEST_F(Transfer, OciTarAndDockerTarRoundTrip) {
    cas::Image im = cas::resolve_image(store, "app:1");
    std::string oci_tar = tmp.path() + "/img.tar", docker_tar = tmp.path() + "/docker.tar";
    cas::export_image(store, im, oci_tar, {cas::ExportFormat::Oci, {"app:1"}, nullptr});
    cas::export_image(store, im, docker_tar, {cas::ExportFormat::Docker, {"app:1"}, nullptr});
    auto a = cas::import_images(other, oci_tar);
    ASSERT_EQ(a.size(), 1u);
    EXPECT_EQ(a[0].manifest.digest, manifest.digest);
    cas::ImportOptions o;
    o.tag = "viadocker:latest";
    auto b = cas::import_images(other, docker_tar, o);
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(b[0].config, im.config_digest);
    cas::Image back = cas::resolve_image(other, "viadocker");
    EXPECT_EQ(back.manifest.layers[0].digest, layer.digest);
    EXPECT_EQ(back.manifest.layers[0].media_type, cas::media::kLayer);
}

TEST_F(Transfer, MapLayerRewritesManifest) {
    cas::Image im = cas::resolve_image(store, "app:1");
    std::string mapped = "pretend-compressed";
    cas::Digest md = store.put(mapped);
    std::string out = tmp.path() + "/mapped";
    cas::ExportOptions o{cas::ExportFormat::Oci, {"app:1"}, [&](const cas::Descriptor& d) {
                             EXPECT_EQ(d.digest, layer.digest);
                             return cas::Descriptor{cas::media::kLayerGzip, md, mapped.size(), {}, std::nullopt, {}, ""};
                         }};
    cas::export_image(store, im, out, o);
    json idx = json::parse(sys::read_file(out + "/index.json"));
    std::string mdig = idx["manifests"][0]["digest"];
    EXPECT_NE(mdig, manifest.digest.str());
    cas::Manifest m = cas::parse_manifest(sys::read_file(out + "/blobs/sha256/" + mdig.substr(7)));
    EXPECT_EQ(m.layers[0].digest, md);
    EXPECT_EQ(m.layers[0].media_type, cas::media::kLayerGzip);
    EXPECT_EQ(m.config.digest, im.config_digest);  // config (diff_ids) unchanged
    EXPECT_TRUE(sys::exists(out + "/blobs/sha256/" + md.hex()));
}

TEST_F(Transfer, TamperedBlobInLayoutRejected) {
    cas::Image im = cas::resolve_image(store, "app:1");
    std::string out = tmp.path() + "/tampered";
    cas::export_image(store, im, out, {cas::ExportFormat::Oci, {"app:1"}, nullptr});
    sys::write_file_atomic(out + "/blobs/sha256/" + layer.digest.hex(), "layer bytes standing in for an uncompressed taR");
    expect_error([&] { cas::import_images(other, out); }, layer.digest.str());
    EXPECT_FALSE(other.has_blob(layer.digest));
    EXPECT_TRUE(cas::list_refs(other).empty());
}

}  // namespace
