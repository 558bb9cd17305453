// imgbuild diff A B [--stat] [--json]: A and B are each an image, a layer blob digest or a
// local directory. Prints added/modified/deleted paths (type, mode, owner, size, content
// digest changes) and, for two images, config differences. Exit 0 equal, 1 different, 2 error.
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/registry.hpp"
#include "cli/store_util.hpp"
#include "inspect/image_diff.hpp"
#include "inspect/layer_report.hpp"
#include "sys/error.hpp"

namespace {

struct Flags {
    std::string a, b;
    bool json = false, stat = false;
};

std::string owner(const layers::TreeNode& n) { return std::to_string(n.uid) + ":" + std::to_string(n.gid); }

std::string summary(const layers::TreeNode& n) {
    std::string s = inspect::mode_string(n.type, n.mode) + "  " + owner(n);
    if (n.type == 'f') s += "  " + cli::human_size(n.size);
    if (n.type == 'l') s += "  -> " + n.link;
    return s;
}

// "size 5 B -> 7 B, content sha256:ab.. -> sha256:cd.."
std::string field_changes(const layers::TreeChange& c) {
    const layers::TreeNode& a = *c.before;
    const layers::TreeNode& b = *c.after;
    auto oct = [](uint32_t m) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "%04o", m);
        return std::string(buf);
    };
    auto dig = [](const layers::TreeNode& n) { return n.digest ? n.digest->str().substr(0, 19) : std::string("-"); };
    std::string out;
    for (const auto& f : c.fields) {
        std::string x, y;
        if (f == "type") x = inspect::entry_type_name(a.type), y = inspect::entry_type_name(b.type);
        else if (f == "mode") x = oct(a.mode), y = oct(b.mode);
        else if (f == "uid") x = std::to_string(a.uid), y = std::to_string(b.uid);
        else if (f == "gid") x = std::to_string(a.gid), y = std::to_string(b.gid);
        else if (f == "size") x = cli::human_size(a.size), y = cli::human_size(b.size);
        else if (f == "content") x = dig(a), y = dig(b);
        else if (f == "link") x = a.link, y = b.link;
        else if (f == "hardlink") x = a.hardlink_of.empty() ? "-" : a.hardlink_of, y = b.hardlink_of.empty() ? "-" : b.hardlink_of;
        else if (f == "mtime") x = std::to_string(a.mtime), y = std::to_string(b.mtime);
        out += (out.empty() ? "" : ", ") + f;
        if (!x.empty() || !y.empty()) out += " " + x + " -> " + y;
    }
    return out;
}

nlohmann::json operand_json(const inspect::DiffOperand& op) {
    return {{"kind", inspect::operand_kind_name(op.kind)}, {"arg", op.arg}, {"id", op.id}};
}

void diff(cli::Globals& g, const Flags& f) {
    cas::Store store = cli::open_store(g);
    inspect::DiffOperand a = inspect::classify_operand(store, f.a);
    inspect::DiffOperand b = inspect::classify_operand(store, f.b);
    using K = inspect::DiffOperand::Kind;
    bool images = a.kind == K::Image || b.kind == K::Image;
    if (images) layers::enter_private_mount_namespace();  // before any thread; mounts die with us
    std::optional<sys::FileLock> lock;
    if (a.kind != K::Directory || b.kind != K::Directory) lock.emplace(store.lock_shared());  // no GC meanwhile
    layers::Snapshotter snaps(store);
    inspect::OperandTree ta(store, snaps, a);
    inspect::OperandTree tb(store, snaps, b);
    std::vector<layers::TreeChange> changes = layers::diff_trees(ta.path(), tb.path());
    std::optional<std::vector<inspect::ConfigChange>> config;
    if (a.kind == K::Image && b.kind == K::Image) config = inspect::diff_configs(a.image->config.config, b.image->config.config);
    bool equal = changes.empty() && (!config || config->empty());
    g.exit_code = equal ? 0 : 1;
    inspect::DiffStat st = inspect::diff_stat(changes);

    if (f.json) {
        nlohmann::json j = {{"a", operand_json(a)},
                            {"b", operand_json(b)},
                            {"equal", equal},
                            {"stat",
                             {{"added", st.added},
                              {"modified", st.modified},
                              {"deleted", st.deleted},
                              {"bytes_added", st.bytes_added},
                              {"bytes_removed", st.bytes_removed}}},
                            {"config", nullptr}};
        if (!f.stat) {
            nlohmann::json ch = nlohmann::json::array();
            for (const auto& c : changes) ch.push_back(inspect::change_json(c));
            j["changes"] = ch;
        }
        if (config) {
            j["config"] = nlohmann::json::array();
            for (const auto& c : *config) j["config"].push_back({{"field", c.field}, {"before", c.before}, {"after", c.after}});
        }
        std::printf("%s\n", j.dump(2).c_str());
        return;
    }
    if (!f.stat) {
        for (const auto& c : changes) {
            switch (c.kind) {
                case layers::TreeChange::Kind::Added: std::printf("A  /%s  %s\n", c.path.c_str(), summary(*c.after).c_str()); break;
                case layers::TreeChange::Kind::Deleted: std::printf("D  /%s  %s\n", c.path.c_str(), summary(*c.before).c_str()); break;
                case layers::TreeChange::Kind::Modified: std::printf("M  /%s  %s\n", c.path.c_str(), field_changes(c).c_str()); break;
            }
        }
        if (config)
            for (const auto& c : *config)
                std::printf("C  %s: %s -> %s\n", c.field.c_str(), c.before.dump().c_str(), c.after.dump().c_str());
    }
    if (f.stat || !equal) {
        if (!f.stat && !changes.empty()) std::printf("\n");
        std::printf("%zu added, %zu modified, %zu deleted (+%s, -%s)", st.added, st.modified, st.deleted,
                    cli::human_size(st.bytes_added).c_str(), cli::human_size(st.bytes_removed).c_str());
        if (config) std::printf("; %zu config field%s differ%s", config->size(), config->size() == 1 ? "" : "s",
                                config->size() == 1 ? "s" : "");
        std::printf("\n");
    }
}

cli::Registrar reg("diff", [](CLI::App& app, cli::Globals& g) {
    auto f = std::make_shared<Flags>();
    CLI::App* cmd = app.add_subcommand("diff", "Compare two images, layers or directories (exit 0 equal, 1 different)");
    cmd->add_option("A", f->a, "image, layer digest (sha256:... of a blob in the store) or directory")->required();
    cmd->add_option("B", f->b, "image, layer digest or directory")->required();
    cmd->add_flag("--stat", f->stat, "only a summary: counts and bytes");
    cmd->add_flag("--json", f->json, "print JSON for scripts");
    cmd->callback([&g, f] {
        // As diff(1): trouble is status 2, so it cannot be mistaken for "different" (1).
        try {
            diff(g, *f);
        } catch (const sys::Error& e) {
            std::fprintf(stderr, "imgbuild: %s\n", e.what());
            g.exit_code = 2;
        }
    });
});

}  // namespace
