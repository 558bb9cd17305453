// Library-level import/export round trips (no external tools needed).
#include <sys/stat.h>
#include <unistd.h>

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
        // An empty uncompressed tar (just the end marker): import verifies every layer.
        std::string bytes(1024, '\0');
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
    sys::write_file_atomic(out + "/blobs/sha256/" + layer.digest.hex(), std::string(1023, '\0') + "x");
    expect_error([&] { cas::import_images(other, out); }, layer.digest.str());
    EXPECT_FALSE(other.has_blob(layer.digest));
    EXPECT_TRUE(cas::list_refs(other).empty());
}

// issue 12.15: the tar export's temp file is created O_EXCL under an unpredictable name, so
// a symlink planted at the old predictable names (PATH.tmp-<pid>, blobs/.../<hex>.tmp) is
// never followed (the old code wrote through it into the symlink's target).
TEST_F(Transfer, ExportTempFileNeverFollowsPlantedSymlink) {
    cas::Image im = cas::resolve_image(store, "app:1");
    std::string victim = tmp.path() + "/victim";
    sys::write_file_atomic(victim, "precious\n");
    for (auto fmt : {cas::ExportFormat::Oci, cas::ExportFormat::Docker}) {
        std::string out = tmp.path() + (fmt == cas::ExportFormat::Oci ? "/oci.tar" : "/docker.tar");
        ASSERT_EQ(::symlink(victim.c_str(), (out + ".tmp-" + std::to_string(::getpid())).c_str()), 0);
        ASSERT_EQ(::symlink(victim.c_str(), (out + ".tmp").c_str()), 0);
        cas::export_image(store, im, out, {fmt, {"app:1"}, nullptr});
        EXPECT_EQ(sys::read_file(victim), "precious\n");
        struct stat st;
        ASSERT_EQ(::lstat(out.c_str(), &st), 0);
        EXPECT_TRUE(S_ISREG(st.st_mode));
        EXPECT_EQ(st.st_mode & 0777, 0644u);
    }
    // The OCI directory form: a planted <blob>.tmp symlink is neither followed nor an error.
    std::string dir = tmp.path() + "/layout";
    sys::mkdir_p(dir + "/blobs/sha256");
    sys::write_file_atomic(dir + "/oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}\n");  // an existing layout
    sys::write_file_atomic(dir + "/index.json", "{\"schemaVersion\":2,\"manifests\":[]}\n");
    ASSERT_EQ(::symlink(victim.c_str(), (dir + "/blobs/sha256/" + layer.digest.hex() + ".tmp").c_str()), 0);
    cas::export_image(store, im, dir, {cas::ExportFormat::Oci, {"app:1"}, nullptr});
    EXPECT_EQ(sys::read_file(victim), "precious\n");
    EXPECT_EQ(cas::Digest::of(sys::read_file(dir + "/blobs/sha256/" + layer.digest.hex())), layer.digest);
}

}  // namespace
