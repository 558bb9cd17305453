// imgbuild import PATH [--tag NAME:TAG] [caps]: load an OCI layout (dir or tar) or a
// docker-archive. Every layer is verified before anything becomes visible (cas/layer_verify.hpp).
#include <cstdio>

#include "cas/transfer.hpp"
#include "layers/rootfs.hpp"
#include "cli/store_util.hpp"
#include "sys/units.hpp"

static cli::Registrar reg("import", [](CLI::App& app, cli::Globals& g) {
    auto* cmd = app.add_subcommand("import", "Import an OCI layout directory or tar, or a docker-archive tar");
    static std::string path, tag, max_uncompressed, ratio_min;
    static uint64_t max_ratio = 0;
    cmd->add_option("PATH", path, "OCI layout directory, OCI layout tar, or `docker save` tar")->required();
    cmd->add_option("--tag,-t", tag, "name the imported image NAME[:TAG]");
    cmd->add_option("--max-uncompressed", max_uncompressed,
                    "cap on the uncompressed size of all layers (stream and declared file sizes; default 64g)");
    cmd->add_option("--max-ratio", max_ratio, "compression ratio guard, uncompressed:compressed per layer (default 1000)")
        ->check(CLI::PositiveNumber);
    cmd->add_option("--ratio-min", ratio_min, "the ratio guard applies past this many uncompressed bytes of a layer (default 512m)");
    cmd->callback([&g] {
        cas::Store store = cli::open_store(g);
        cas::ImportOptions o;
        if (!tag.empty()) o.tag = tag;
        o.caps = g.config.import_caps();
        if (!max_uncompressed.empty()) o.caps.max_total_bytes = sys::parse_size(max_uncompressed, "--max-uncompressed");
        if (max_ratio) o.caps.max_ratio = max_ratio;
        if (!ratio_min.empty()) o.caps.ratio_min_bytes = sys::parse_size(ratio_min, "--ratio-min");
        for (auto& img : cas::import_images(store, path, o)) {
            layers::unpack_after_import(store, img.manifest.digest);
            for (auto& r : img.refs) std::printf("Loaded image: %s (%s)\n", r.c_str(), img.config.str().c_str());
        }
    });
});
