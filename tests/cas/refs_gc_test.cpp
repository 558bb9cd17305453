// Reference parsing, the ref table in index.json, images, and GC mark/sweep.
#include "cas/fsck.hpp"
#include "cas/gc.hpp"
#include "cas/image.hpp"
#include "cas/refs.hpp"
#include "sys/error.hpp"
#include "test_util.hpp"

using cas_test::expect_error;
using cas_test::StoreFixture;
using json = nlohmann::json;

namespace {

TEST(Refs, Normalise) {
    EXPECT_EQ(cas::normalize_ref("busybox"), "busybox:latest");
    EXPECT_EQ(cas::normalize_ref("busybox:1.36"), "busybox:1.36");
    EXPECT_EQ(cas::normalize_ref("docker.io/library/busybox:1"), "busybox:1");
    EXPECT_EQ(cas::normalize_ref("docker.io/team/app"), "team/app:latest");
    EXPECT_EQ(cas::normalize_ref("localhost:5000/a/b_c__d-e.f:v1.0-rc"), "localhost:5000/a/b_c__d-e.f:v1.0-rc");
    cas::Reference r = cas::parse_reference("app@" + cas::Digest::of("m").str());
    EXPECT_EQ(r.name, "app");
    EXPECT_TRUE(r.digest);
    EXPECT_TRUE(r.tag.empty());
}

TEST(Refs, RejectsBad) {
    for (const char* bad : {"", "Busybox", "a//b", "a:", ":tag", "a:-x", "a@sha256:abc", "a b", "-a", "a/../b", "a:b:c",
                            "bad host/x"})
        EXPECT_FALSE(cas::is_valid_reference(bad)) << bad;
}

// A tiny image with one layer, written through the public API.
cas::Descriptor make_image(cas::Store& s, const std::string& layer_text, cas::Descriptor* layer_out = nullptr) {
    cas::Digest l = s.put(layer_text);
    cas::ImageConfig c;
    c.diff_ids.push_back(l);
    c.history.push_back({"", "ADD " + layer_text, "", "", false});
    cas::Descriptor ld{cas::media::kLayer, l, layer_text.size(), {}, std::nullopt, {}, ""};
    if (layer_out) *layer_out = ld;
    return cas::write_image(s, c, {ld});
}

TEST_F(StoreFixture, TagResolveUntag) {
    cas::Descriptor m = make_image(store, "layer-a");
    cas::tag_image(store, "busybox", m);
    cas::tag_image(store, "example.com/x/busybox:v1", m);
    auto refs = cas::list_refs(store);
    ASSERT_EQ(refs.size(), 2u);
    EXPECT_EQ(refs[0].first, "busybox:latest");

    // index.json carries the OCI tag annotation and imgbuild's full name.
    json idx = json::parse(sys::read_file(store.root() + "/index.json"));
    bool seen = false;
    for (auto& e : idx["manifests"])
        if (e["annotations"][cas::kAnnotationImgbuildRef] == "busybox:latest") {
            EXPECT_EQ(e["annotations"][cas::kAnnotationRefName], "latest");
            seen = true;
        }
    EXPECT_TRUE(seen);

    cas::Image im = cas::resolve_image(store, "busybox:latest");
    EXPECT_EQ(im.manifest_digest, m.digest);
    EXPECT_EQ(cas::resolve_image(store, "busybox@" + m.digest.str()).config_digest, im.config_digest);
    EXPECT_EQ(cas::resolve_image(store, im.config_digest.short_hex(8)).manifest_digest, m.digest);
    EXPECT_EQ(cas::resolve_image(store, im.config_digest.str()).manifest_digest, m.digest);
    expect_error([&] { cas::resolve_image(store, "nothere"); }, "image \"nothere\" not found");

    // Retag moves the ref.
    cas::Descriptor m2 = make_image(store, "layer-b");
    cas::tag_image(store, "busybox", m2);
    EXPECT_EQ(cas::resolve_image(store, "busybox").manifest_digest, m2.digest);
    EXPECT_EQ(cas::list_refs(store).size(), 2u);

    cas::untag(store, "busybox");
    EXPECT_THROW(cas::untag(store, "busybox"), sys::Error);
    EXPECT_EQ(cas::list_refs(store).size(), 1u);
}

TEST_F(StoreFixture, WriteImageNeedsLayers) {
    cas::ImageConfig c;
    c.diff_ids.push_back(cas::Digest::of("absent"));
    cas::Descriptor ld{cas::media::kLayer, cas::Digest::of("absent"), 6, {}, std::nullopt, {}, ""};
    expect_error([&] { cas::write_image(store, c, {ld}); }, "is not in the store");
    expect_error([&] { cas::write_image(store, c, {}); }, "1 diff_ids for 0 layers");
}

TEST(GcMark, WalksIndexManifestConfigLayers) {
    // Pure: documents in a map, no store.
    std::map<cas::Digest, std::string> blobs;
    auto put = [&](const std::string& s) {
        cas::Digest d = cas::Digest::of(s);
        blobs.emplace(d, s);
        return d;
    };
    cas::Digest cfg = put("{config}");
    cas::Digest l1 = cas::Digest::of("layer1"), l2 = cas::Digest::of("layer2");
    cas::Manifest m;
    m.config = {cas::media::kConfig, cfg, 8, {}, std::nullopt, {}, ""};
    m.layers = {{cas::media::kLayer, l1, 6, {}, std::nullopt, {}, ""}, {cas::media::kLayerGzip, l2, 6, {}, std::nullopt, {}, ""}};
    std::string mtext = cas::serialize(m);
    cas::Digest md = put(mtext);
    cas::Index idx;
    idx.manifests = {{cas::media::kManifest, md, mtext.size(), {}, std::nullopt, {}, ""}};
    std::string itext = cas::serialize(idx);
    cas::Digest id = put(itext);
    cas::Digest missing_manifest = cas::Digest::of("gone");

    int reads = 0;
    cas::BlobReader reader = [&](const cas::Digest& d) -> std::optional<std::string> {
        reads++;
        auto it = blobs.find(d);
        if (it == blobs.end()) return std::nullopt;
        return it->second;
    };
    cas::MarkResult r = cas::mark({{cas::media::kIndex, id, itext.size(), {}, std::nullopt, {}, ""},
                                   {cas::media::kManifest, missing_manifest, 1, {}, std::nullopt, {}, ""}},
                                  reader);
    std::set<cas::Digest> want{id, md, cfg, l1, l2, missing_manifest};
    EXPECT_EQ(r.reachable, want);
    EXPECT_EQ(r.missing, std::set<cas::Digest>{missing_manifest});
    ASSERT_EQ(r.problems.size(), 1u);
    EXPECT_NE(r.problems[0].find(missing_manifest.str()), std::string::npos);
    EXPECT_EQ(reads, 3);  // index, manifest, missing manifest: configs and layers are never read

    // A manifest that is really an index is reported, not followed.
    blobs[md] = itext;
    cas::MarkResult bad = cas::mark({{cas::media::kManifest, md, 1, {}, std::nullopt, {}, ""}}, reader);
    EXPECT_EQ(bad.problems.size(), 1u);
}

TEST_F(StoreFixture, SweepKeepsReachableAndExtraRoots) {
    cas::Descriptor keep_layer, drop_layer;
    cas::Descriptor m1 = make_image(store, "kept", &keep_layer);
    cas::Descriptor m2 = make_image(store, "dropped", &drop_layer);
    cas::tag_image(store, "keep", m1);
    cas::Digest cache_layer = store.put("cache-record layer");
    cas::Digest garbage = store.put("garbage");
    { auto w = store.writer(); w.write("live partial"); 
      cas::GcOptions o;
      o.extra_roots = {cache_layer};
      cas::Digest hooked = store.put("kept by the hook");
      o.extra_roots_hook = [&](const cas::Store&) { return std::vector<cas::Digest>{hooked}; };
      cas::GcResult r = cas::collect_garbage(store, o);
      std::set<cas::Digest> removed;
      for (auto& [d, n] : r.removed) removed.insert(d);
      EXPECT_TRUE(removed.count(garbage));
      EXPECT_TRUE(removed.count(m2.digest));
      EXPECT_TRUE(removed.count(drop_layer.digest));
      EXPECT_FALSE(removed.count(cache_layer));
      EXPECT_FALSE(removed.count(hooked));
      EXPECT_EQ(r.ingest_files_removed, 0u);  // the live writer's file survives
      w.commit();
    }
    EXPECT_TRUE(store.has_blob(keep_layer.digest));
    EXPECT_TRUE(store.has_blob(m1.digest));
    EXPECT_FALSE(store.has_blob(garbage));
    EXPECT_TRUE(cas::fsck(store).ok());
}

TEST_F(StoreFixture, FsckFindsCorruptionAndMissing) {
    cas::Descriptor layer;
    cas::Descriptor m = make_image(store, "fsck-layer", &layer);
    cas::tag_image(store, "img", m);
    cas::FsckReport ok = cas::fsck(store);
    EXPECT_TRUE(ok.ok());
    EXPECT_EQ(ok.refs_checked, 1u);
    EXPECT_EQ(ok.blobs_checked, 3u);
    sys::write_file_atomic(store.blob_path(layer.digest), "fsck-layeR");
    cas::FsckReport bad = cas::fsck(store);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.problems[0].find(layer.digest.str()), std::string::npos);
    store.delete_blob(layer.digest);
    bad = cas::fsck(store);
    ASSERT_EQ(bad.problems.size(), 1u);
    EXPECT_NE(bad.problems[0].find("blob " + layer.digest.str() + " is missing"), std::string::npos);
}

}  // namespace
