// imgbuild images [--json]: the store's tagged images.
#include <cstdio>

#include "cli/store_util.hpp"
#include "cas/image.hpp"

static cli::Registrar reg("images", [](CLI::App& app, cli::Globals& g) {
    auto* cmd = app.add_subcommand("images", "List tagged images");
    static bool as_json = false;
    cmd->add_flag("--json", as_json, "print JSON for scripts");
    cmd->callback([&g] {
        cas::Store store = cli::open_store(g);
        nlohmann::json out = nlohmann::json::array();
        std::vector<std::vector<std::string>> rows{{"REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"}};
        for (auto& [ref, desc] : cas::list_refs(store)) {
            cas::Reference r = cas::parse_reference(ref);
            cas::Image im = cas::load_image(store, desc.digest);
            std::string created = im.config.created.value_or("");
            out.push_back({{"name", r.name}, {"tag", r.tag}, {"ref", ref}, {"id", im.config_digest.str()},
                           {"digest", im.manifest_digest.str()}, {"created", created}, {"size", im.total_size()},
                           {"layers", im.manifest.layers.size()}});
            rows.push_back({r.name, r.tag, im.config_digest.short_hex(), cli::short_time(created),
                            cli::human_size(im.total_size())});
        }
        if (as_json) std::printf("%s\n", out.dump(2).c_str());
        else cli::print_table(rows);
    });
});
