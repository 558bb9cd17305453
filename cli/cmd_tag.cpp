// imgbuild tag SRC DST: another name for an image.
#include "cli/store_util.hpp"
#include "cas/image.hpp"

static cli::Registrar reg("tag", [](CLI::App& app, cli::Globals& g) {
    auto* cmd = app.add_subcommand("tag", "Give an image another NAME:TAG");
    static std::string src, dst;
    cmd->add_option("SRC", src, "image to tag")->required();
    cmd->add_option("DST", dst, "new NAME[:TAG]")->required();
    cmd->callback([&g] {
        cas::Store store = cli::open_store(g);
        cas::Image im = cas::resolve_image(store, src);
        cas::tag_image(store, dst, im.manifest_descriptor());
    });
});
