// Interop with umoci: layers imgbuild writes unpack with umoci to the same tree (and the
// same tree as imgbuild's own overlay view), and a layer umoci repacks applies in
// imgbuild to the tree it came from.
#include <nlohmann/json.hpp>

#include "helpers.hpp"
#include "layers/layer.hpp"
#include "layers/snapshotter.hpp"
#include "layers/unpack.hpp"

using namespace layers;
using nlohmann::json;

namespace {

#define NEED_UMOCI()                                                   \
    if (!lt::is_root()) GTEST_SKIP() << "needs root";                  \
    if (!lt::have("umoci")) GTEST_SKIP() << "umoci not installed (apt-get install umoci)"

std::string put_blob(const std::string& layout, const std::string& data) {
    auto d = cas::Digest::of(data);
    lt::write(layout + "/blobs/sha256/" + d.hex(), data);
    return d.str();
}

// A minimal OCI image layout holding `layers` (blobs copied from the store).
void write_layout(const std::string& layout, cas::Store& store, const std::vector<LayerBlob>& layers) {
    sys::mkdir_p(layout + "/blobs/sha256");
    lt::write(layout + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
    json diff_ids = json::array(), descs = json::array();
    for (auto& l : layers) {
        put_blob(layout, lt::read(store.blob_path(l.digest)));
        diff_ids.push_back(l.diff_id.str());
        descs.push_back({{"mediaType", l.media_type}, {"digest", l.digest.str()}, {"size", l.size}});
    }
    std::string config = json{{"architecture", "amd64"}, {"os", "linux"}, {"config", json::object()},
                              {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}}
                             .dump();
    std::string cd = put_blob(layout, config);
    std::string manifest = json{{"schemaVersion", 2},
                                {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                                {"config", {{"mediaType", "application/vnd.oci.image.config.v1+json"}, {"digest", cd}, {"size", config.size()}}},
                                {"layers", descs}}
                               .dump();
    std::string md = put_blob(layout, manifest);
    json index = {{"schemaVersion", 2},
                  {"manifests", json::array({{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                                              {"digest", md},
                                              {"size", manifest.size()},
                                              {"annotations", {{"org.opencontainers.image.ref.name", "t"}}}}})}};
    lt::write(layout + "/index.json", index.dump());
}

void fill_tree(const std::string& r) {
    lt::mkdir(r + "/etc");
    lt::write(r + "/etc/os-release", "ID=test\n");
    lt::write(r + "/etc/shadow", "root:*:\n", 0640);
    ::chown((r + "/etc/shadow").c_str(), 0, 42);
    lt::mkdir(r + "/usr");
    lt::mkdir(r + "/usr/bin");
    lt::write(r + "/usr/bin/prog", std::string(70000, 'p'), 04755);
    ::link((r + "/usr/bin/prog").c_str(), (r + "/usr/bin/prog2").c_str());
    ::symlink("prog", (r + "/usr/bin/alias").c_str());
    lt::mkdir(r + "/var");
    lt::mkdir(r + "/var/lib");
    lt::write(r + "/var/lib/data", "d\n");
    lt::mkdir(r + "/tmp", 01777);
}

// Compare without mtimes of dirs (umoci and overlay both touch them) and ignore the root.
void expect_same(const std::string& a, const std::string& b) {
    auto ch = diff_trees(a, b);
    EXPECT_TRUE(ch.empty()) << a << " vs " << b << ":\n" << lt::describe(ch);
}

}  // namespace

TEST(Umoci, UnpacksImgbuildLayersToTheSameTree) {
    NEED_UMOCI();
    lt::private_mount_ns();
    lt::Env env;
    std::string base = env.path("base"), up = env.path("upper");
    fill_tree(base);
    // Second layer in overlay form: a whiteout, an opaque dir, a changed file.
    lt::mkdir(up + "/etc");
    lt::whiteout(up + "/etc/shadow");
    lt::write(up + "/etc/os-release", "ID=changed\n");
    lt::mkdir(up + "/var");
    lt::mkdir(up + "/var/lib");
    lt::set_opaque(up + "/var/lib");
    lt::write(up + "/var/lib/fresh", "f\n");
    auto l1 = diff_upper(env.store, base, {Compression::Gzip, {}});
    auto l2 = diff_upper(env.store, up);  // uncompressed, as stored locally (umoci 0.4 has no zstd)
    std::string layout = env.dir.path() + "/layout";
    write_layout(layout, env.store, {l1, l2});
    std::string bundle = env.dir.path() + "/bundle", out;
    ASSERT_EQ(lt::run("umoci unpack --image " + layout + ":t " + bundle, &out), 0) << out;
    // imgbuild's own view of the same chain.
    Snapshotter s(env.store);
    std::string top = ensure_unpacked(env.store, s, {l1.digest, l2.digest}, {l1.diff_id, l2.diff_id});
    std::string mnt = env.path("mnt");
    MountGuard m(s.mounts_for(top), mnt);
    expect_same(mnt, bundle + "/rootfs");
    EXPECT_FALSE(sys::exists(bundle + "/rootfs/etc/shadow"));
    EXPECT_FALSE(sys::exists(bundle + "/rootfs/var/lib/data"));
    EXPECT_EQ(lt::read(bundle + "/rootfs/var/lib/fresh"), "f\n");
    m.unmount();
    // And the single-layer case equals the source tree itself.
    std::string layout1 = env.dir.path() + "/layout1", bundle1 = env.dir.path() + "/bundle1";
    write_layout(layout1, env.store, {diff_upper(env.store, base)});
    ASSERT_EQ(lt::run("umoci unpack --image " + layout1 + ":t " + bundle1, &out), 0) << out;
    expect_same(base, bundle1 + "/rootfs");
}

TEST(Umoci, ImgbuildAppliesUmociLayers) {
    NEED_UMOCI();
    lt::Env env;
    std::string layout = env.dir.path() + "/layout", bundle = env.dir.path() + "/bundle", out;
    ASSERT_EQ(lt::run("umoci init --layout " + layout + " && umoci new --image " + layout + ":t && umoci unpack --image " +
                          layout + ":t " + bundle,
                      &out),
              0)
        << out;
    fill_tree(bundle + "/rootfs");
    ASSERT_EQ(lt::run("umoci repack --image " + layout + ":t " + bundle, &out), 0) << out;
    // Follow index -> manifest -> last layer, and config -> diff_ids.
    auto index = json::parse(lt::read(layout + "/index.json"));
    std::string md;
    for (auto& m : index["manifests"])
        if (m["annotations"]["org.opencontainers.image.ref.name"] == "t") md = m["digest"];
    ASSERT_FALSE(md.empty());
    auto blob = [&](const std::string& d) { return lt::read(layout + "/blobs/sha256/" + d.substr(7)); };
    auto manifest = json::parse(blob(md));
    auto config = json::parse(blob(manifest["config"]["digest"]));
    std::string layer = manifest["layers"].back()["digest"];
    std::string diff_id = config["rootfs"]["diff_ids"].back();
    cas::Digest stored = env.store.put(blob(layer));
    ASSERT_EQ(stored.str(), layer);
    std::string target = env.path("applied");
    auto r = apply_layer(env.store, stored, target, cas::Digest::parse(diff_id));
    EXPECT_EQ(r.diff_id.str(), diff_id);
    expect_same(bundle + "/rootfs", target);
}
