// imgbuild import PATH [--tag NAME:TAG]: load an OCI layout (dir or tar) or a docker-archive.
#include <cstdio>

#include "cli/store_util.hpp"
#include "cas/transfer.hpp"

static cli::Registrar reg("import", [](CLI::App& app, cli::Globals& g) {
    auto* cmd = app.add_subcommand("import", "Import an OCI layout directory or tar, or a docker-archive tar");
    static std::string path, tag;
    cmd->add_option("PATH", path, "OCI layout directory, OCI layout tar, or `docker save` tar")->required();
    cmd->add_option("--tag,-t", tag, "name the imported image NAME[:TAG]");
    cmd->callback([&g] {
        cas::Store store = cli::open_store(g);
        cas::ImportOptions o;
        if (!tag.empty()) o.tag = tag;
        for (auto& img : cas::import_images(store, path, o))
            for (auto& r : img.refs) std::printf("Loaded image: %s (%s)\n", r.c_str(), img.config.str().c_str());
    });
});
