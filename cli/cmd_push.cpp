// imgbuild push IMAGE [DEST] [--compression gzip|zstd] [--digestfile F] [--retry N]
#include <cstdio>

#include "cas/image.hpp"
#include "cli/remote_util.hpp"
#include "cli/store_util.hpp"
#include "layers/layer.hpp"
#include "registry/transfer.hpp"
#include "sys/fs.hpp"
#include "sys/units.hpp"

namespace cli {

// Push an image of the store to DEST; mounts blobs from other repositories of the same
// registry the image is known under. Returns the pushed manifest digest.
cas::Digest push_image(const Globals& g, cas::Store& store, const cas::Image& im, const std::string& dest,
                       const std::string& compression, int retries, uint64_t chunk_size) {
    registry::RemoteRef d = registry::parse_remote_ref(dest);
    registry::PushOptions po;
    // Layers are stored uncompressed; they go out compressed (once per blob, kept in the store).
    po.map_layer = layers::compress_on_export(store, layers::parse_compression(compression.empty() ? g.config.compression : compression));
    for (auto& name : cas::refs_to(store, im.manifest_digest)) {
        if (!registry::names_registry(name)) continue;
        registry::RemoteRef r = registry::parse_remote_ref(name);
        if (r.registry == d.registry) po.mount_from.push_back(r.repository);
    }
    registry::Options opts = registry_options(g, retries);
    opts.chunk_size = chunk_size;
    return registry::push(store, im, d, opts, po);
}

}  // namespace cli

static cli::Registrar reg("push", [](CLI::App& app, cli::Globals& g) {
    auto* cmd = app.add_subcommand("push", "Push an image to a registry");
    static std::string image, dest, compression, digestfile, chunk;
    static int retries = 3;
    cmd->add_option("IMAGE", image, "image in the store")->required();
    cmd->add_option("DEST", dest, "registry reference (default: IMAGE's name)");
    cmd->add_option("--compression", compression, "layer compression: gzip|zstd (default: config, gzip)")
        ->check(CLI::IsMember({"gzip", "zstd"}));
    cmd->add_option("--digestfile", digestfile, "write the pushed manifest digest to this file");
    cmd->add_option("--retry", retries, "retries per request on 429/5xx/network errors (default 3)")->check(CLI::Range(0, 20));
    cmd->add_option("--chunk-size", chunk, "upload blobs larger than SIZE in PATCH chunks of SIZE (e.g. 16M; resumable) "
                                           "instead of one PUT");
    cmd->callback([&g] {
        cas::Store store = cli::open_store(g);
        sys::FileLock lock = store.lock_shared();
        cas::Image im = cas::resolve_image(store, image);
        cas::Digest d = cli::push_image(g, store, im, dest.empty() ? image : dest, compression, retries,
                                       chunk.empty() ? 0 : sys::parse_size(chunk, "--chunk-size"));
        if (!digestfile.empty()) sys::write_file_atomic(digestfile, d.str() + "\n");
        std::printf("%s\n", d.str().c_str());
    });
});
