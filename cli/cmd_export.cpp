// imgbuild export IMAGE --format oci|docker -o PATH
#include <cstdio>

#include "cli/store_util.hpp"
#include "cas/transfer.hpp"
#include "layers/layer.hpp"

static cli::Registrar reg("export", [](CLI::App& app, cli::Globals& g) {
    auto* cmd = app.add_subcommand("export", "Export an image as an OCI layout (dir, or tar if PATH ends in .tar) "
                                             "or a docker-archive tar");
    static std::string image, format = "oci", out, compression;
    cmd->add_option("IMAGE", image, "image to export")->required();
    cmd->add_option("--format", format, "oci|docker")->check(CLI::IsMember({"oci", "docker"}));
    cmd->add_option("-o,--output", out, "output path")->required();
    cmd->add_option("--compression", compression, "layer compression for --format oci: gzip|zstd|none (default: config, gzip)")
        ->check(CLI::IsMember({"gzip", "zstd", "none"}));
    cmd->callback([&g] {
        cas::Store store = cli::open_store(g);
        sys::FileLock lock = store.lock_shared();
        cas::Image im = cas::resolve_image(store, image);
        cas::ExportOptions o;
        o.format = format == "docker" ? cas::ExportFormat::Docker : cas::ExportFormat::Oci;
        // Layers are stored uncompressed; an OCI export compresses them (docker-archive keeps
        // plain tars, as `docker save` does).
        if (o.format == cas::ExportFormat::Oci)
            o.map_layer = layers::compress_on_export(store, layers::parse_compression(compression.empty() ? g.config.compression : compression));
        // By name: that name; by ID/digest: every name the image has.
        if (cas::is_valid_reference(image) && cas::lookup_ref(store, image)) o.names.push_back(cas::normalize_ref(image));
        else o.names = cas::refs_to(store, im.manifest_digest);
        cas::export_image(store, im, out, o);
    });
});
