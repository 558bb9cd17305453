// imgbuild layers IMAGE [--flat] [--json]: per layer the paths it adds, modifies and deletes
// (a tree, or a flat list with --flat), with sizes; then the efficiency report (wasted
// bytes, biggest offenders, score) as dive computes it. See inspect/layer_report.hpp.
#include <cstdio>
#include <set>
#include <nlohmann/json.hpp>

#include "cli/registry.hpp"
#include "cli/store_util.hpp"
#include "inspect/layer_report.hpp"
#include "cas/image.hpp"
#include "layers/layer_entries.hpp"
#include "sys/path.hpp"

namespace {

struct Flags {
    std::string image;
    bool json = false, flat = false;
};

const char* mark(inspect::LayerChange::Kind k) {
    switch (k) {
        case inspect::LayerChange::Kind::Added: return "A";
        case inspect::LayerChange::Kind::Modified: return "M";
        case inspect::LayerChange::Kind::Deleted: return "D";
    }
    return "?";
}

std::string line(const char* m, const inspect::LayerChange& c, const std::string& name) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s  %s  %5u:%-5u  %9s  ", m, inspect::mode_string(c.type, c.mode).c_str(), c.uid,
                  c.gid, c.type != 'f' && c.kind != inspect::LayerChange::Kind::Deleted ? "-" : cli::human_size(c.size).c_str());
    std::string s = buf + name + (c.type == 'd' ? "/" : "");
    if (c.type == 'l') s += " -> " + c.link;
    if (c.type == 'h') s += " => /" + c.link;
    return s;
}

void print_changes(const inspect::LayerReport& rep, bool flat) {
    std::set<std::string> shown;  // directories already printed (tree mode)
    for (const auto& c : rep.changes) {
        if (flat) {
            std::printf("  %s\n", line(mark(c.kind), c, "/" + c.path).c_str());
            continue;
        }
        // Ancestors the layer does not list itself are printed as plain context lines.
        size_t depth = 0;
        for (size_t pos = c.path.find('/'); pos != std::string::npos; pos = c.path.find('/', pos + 1), depth++) {
            std::string dir = c.path.substr(0, pos);
            if (shown.insert(dir).second) {
                std::string name = sys::base_name(dir);
                std::printf("  %-33s%s%s/\n", "", std::string(depth * 2, ' ').c_str(), name.c_str());
            }
        }
        shown.insert(c.path);
        std::string name = sys::base_name(c.path);
        std::printf("  %s\n", line(mark(c.kind), c, std::string(depth * 2, ' ') + name).c_str());
    }
}

nlohmann::json change_json(const inspect::LayerChange& c) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", c.mode);
    nlohmann::json j = {{"path", "/" + c.path}, {"change", inspect::layer_change_name(c.kind)},
                        {"type", inspect::entry_type_name(c.type)}, {"mode", mode}, {"uid", c.uid},
                        {"gid", c.gid}, {"size", c.size}};
    if (!c.link.empty()) j["link"] = c.link;
    return j;
}

void layers_cmd(const cli::Globals& g, const Flags& f) {
    cas::Store store = cli::open_store(g);
    cas::Image im = cas::resolve_image(store, f.image);
    std::vector<std::vector<layers::LayerEntry>> entries;
    for (const auto& l : im.manifest.layers) entries.push_back(layers::list_layer(store, l.digest));
    inspect::LayerAnalysis an = inspect::analyze_layers(entries);
    std::vector<std::string> by = inspect::layer_created_by(im);
    const inspect::Efficiency& eff = an.efficiency;

    if (f.json) {
        nlohmann::json ls = nlohmann::json::array();
        for (size_t i = 0; i < an.layers.size(); i++) {
            const auto& r = an.layers[i];
            nlohmann::json ch = nlohmann::json::array();
            for (const auto& c : r.changes) ch.push_back(change_json(c));
            ls.push_back({{"index", i},
                          {"digest", im.manifest.layers[i].digest.str()},
                          {"diff_id", im.config.diff_ids[i].str()},
                          {"size", im.manifest.layers[i].size},
                          {"created_by", by[i]},
                          {"added", r.added},
                          {"modified", r.modified},
                          {"deleted", r.deleted},
                          {"added_bytes", r.added_bytes},
                          {"modified_bytes", r.modified_bytes},
                          {"deleted_bytes", r.deleted_bytes},
                          {"changes", ch}});
        }
        nlohmann::json ineff = nlohmann::json::array();
        for (const auto& x : eff.inefficiencies)
            ineff.push_back({{"path", "/" + x.path}, {"count", x.count}, {"cumulative_size", x.cumulative_size}});
        nlohmann::json out = {{"image", im.manifest_digest.str()},
                              {"id", im.config_digest.str()},
                              {"layers", ls},
                              {"efficiency",
                               {{"score", eff.score},
                                {"wasted_bytes", eff.wasted_bytes},
                                {"content_bytes", eff.content_bytes},
                                {"inefficiencies", ineff}}}};
        std::printf("%s\n", out.dump(2).c_str());
        return;
    }
    for (size_t i = 0; i < an.layers.size(); i++) {
        const auto& r = an.layers[i];
        const auto& d = im.manifest.layers[i];
        std::printf("Layer %zu/%zu  %s  %s  %s\n", i + 1, an.layers.size(), d.digest.short_hex(12).c_str(),
                    cli::human_size(d.size).c_str(), by[i].empty() ? "<missing>" : by[i].c_str());
        std::printf("  %zu added (%s), %zu modified (%s), %zu deleted (%s)\n", r.added,
                    cli::human_size(r.added_bytes).c_str(), r.modified, cli::human_size(r.modified_bytes).c_str(),
                    r.deleted, cli::human_size(r.deleted_bytes).c_str());
        print_changes(r, f.flat);
        std::printf("\n");
    }
    std::printf("Efficiency score:  %.2f %%\n", eff.score * 100);
    std::printf("Wasted space:      %s (%llu bytes)\n", cli::human_size(eff.wasted_bytes).c_str(),
                (unsigned long long)eff.wasted_bytes);
    std::printf("Content in layers: %s\n", cli::human_size(eff.content_bytes).c_str());
    if (!eff.inefficiencies.empty()) {
        std::printf("Biggest offenders:\n");
        std::vector<std::vector<std::string>> rows = {{"  COUNT", "TOTAL SPACE", "PATH"}};
        for (size_t i = 0; i < eff.inefficiencies.size() && i < 10; i++) {
            const auto& x = eff.inefficiencies[i];
            rows.push_back({"  " + std::to_string(x.count), cli::human_size(x.cumulative_size), "/" + x.path});
        }
        cli::print_table(rows);
    }
}

cli::Registrar reg("layers", [](CLI::App& app, cli::Globals& g) {
    auto f = std::make_shared<Flags>();
    CLI::App* cmd = app.add_subcommand("layers", "Show what each layer adds, changes and deletes, and wasted space");
    cmd->add_option("IMAGE", f->image, "NAME[:TAG], NAME@sha256:..., or an image ID prefix")->required();
    cmd->add_flag("--flat", f->flat, "a flat list of paths instead of a tree");
    cmd->add_flag("--json", f->json, "print JSON for scripts");
    cmd->callback([&g, f] { layers_cmd(g, *f); });
});

}  // namespace
