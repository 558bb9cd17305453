// imgbuild rmi IMAGE...: remove names (by name: that name; by ID/digest: every name of the
// image). Blobs are freed by `imgbuild prune`.
#include <cstdio>

#include "cli/store_util.hpp"
#include "cas/image.hpp"
#include "sys/error.hpp"

static cli::Registrar reg("rmi", [](CLI::App& app, cli::Globals& g) {
    auto* cmd = app.add_subcommand("rmi", "Remove images (their names; `prune` frees the space)");
    static std::vector<std::string> images;
    cmd->add_option("IMAGE", images, "images to remove")->required();
    cmd->callback([&g] {
        cas::Store store = cli::open_store(g);
        for (auto& text : images) {
            std::vector<std::string> names;
            if (cas::is_valid_reference(text) && cas::lookup_ref(store, text)) names.push_back(cas::normalize_ref(text));
            else names = cas::refs_to(store, cas::resolve_image(store, text).manifest_digest);
            if (names.empty()) sys::fail(sys::Code::NotFound, "image \"" + text + "\" not found");
            for (auto& n : names) {
                cas::untag(store, n);
                std::printf("Untagged: %s\n", n.c_str());
            }
        }
    });
});
