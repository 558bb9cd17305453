// imgbuild history IMAGE [--no-trunc] [--json]: one line per history entry (newest first, as
// docker history): created, created-by, layer size, short layer digest, empty layers marked.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/registry.hpp"
#include "cli/store_util.hpp"
#include "inspect/layer_report.hpp"
#include "cas/image.hpp"

namespace {

struct Flags {
    std::string image;
    bool json = false, no_trunc = false;
};

void history(const cli::Globals& g, const Flags& f) {
    cas::Store store = cli::open_store(g);
    cas::Image im = cas::resolve_image(store, f.image);
    std::vector<inspect::HistoryRow> rows = inspect::history_rows(im);
    if (f.json) {
        nlohmann::json a = nlohmann::json::array();
        for (const auto& r : rows)
            a.push_back({{"created", r.created},
                         {"created_by", r.created_by},
                         {"comment", r.comment},
                         {"empty_layer", r.empty_layer},
                         {"layer", r.layer ? nlohmann::json(r.layer->digest.str()) : nlohmann::json(nullptr)},
                         {"diff_id", r.diff_id ? nlohmann::json(r.diff_id->str()) : nlohmann::json(nullptr)},
                         {"size", r.layer ? r.layer->size : 0}});
        std::printf("%s\n", a.dump(2).c_str());
        return;
    }
    std::vector<std::vector<std::string>> table = {{"CREATED", "LAYER", "SIZE", "CREATED BY"}};
    for (auto it = rows.rbegin(); it != rows.rend(); ++it) {
        std::string by = it->created_by.empty() ? "<missing>" : it->created_by;
        for (char& c : by)
            if (c == '\n' || c == '\t') c = ' ';
        if (!f.no_trunc && by.size() > 60) by = by.substr(0, 57) + "...";
        std::string layer = it->layer ? it->layer->digest.short_hex(12) : "<empty layer>";
        table.push_back({cli::short_time(it->created), layer, cli::human_size(it->layer ? it->layer->size : 0), by});
    }
    cli::print_table(table);
}

cli::Registrar reg("history", [](CLI::App& app, cli::Globals& g) {
    auto f = std::make_shared<Flags>();
    CLI::App* cmd = app.add_subcommand("history", "Show an image's history: one line per step, with its layer");
    cmd->add_option("IMAGE", f->image, "NAME[:TAG], NAME@sha256:..., or an image ID prefix")->required();
    cmd->add_flag("--no-trunc", f->no_trunc, "do not truncate the created-by text");
    cmd->add_flag("--json", f->json, "print JSON for scripts");
    cmd->callback([&g, f] { history(g, *f); });
});

}  // namespace
