// imgbuild inspect IMAGE [--json]: config, layers (digests, sizes, diff_ids) and history.
#include <cstdio>

#include "cli/store_util.hpp"
#include "cas/image.hpp"

namespace {

nlohmann::json inspect_json(const cas::Store& store, const cas::Image& im) {
    nlohmann::json cfg = im.config.raw;
    nlohmann::json layers = nlohmann::json::array();
    for (size_t i = 0; i < im.manifest.layers.size(); i++) {
        auto& l = im.manifest.layers[i];
        layers.push_back({{"mediaType", l.media_type}, {"digest", l.digest.str()}, {"size", l.size},
                          {"diffId", im.config.diff_ids[i].str()}});
    }
    return {{"Id", im.config_digest.str()},
            {"Digest", im.manifest_digest.str()},
            {"RepoTags", cas::refs_to(store, im.manifest_digest)},
            {"Created", im.config.created.value_or("")},
            {"Architecture", im.config.architecture},
            {"Os", im.config.os},
            {"Size", im.total_size()},
            {"Config", cfg.value("config", nlohmann::json::object())},
            {"RootFS", cfg.value("rootfs", nlohmann::json::object())},
            {"History", cfg.value("history", nlohmann::json::array())},
            {"Layers", layers},
            {"ManifestMediaType", im.manifest_media_type}};
}

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (auto& x : v) s += (s.empty() ? "" : " ") + x;
    return s;
}

void print_human(const nlohmann::json& j, const cas::Image& im) {
    std::printf("ID:        %s\nDigest:    %s\n", j["Id"].get<std::string>().c_str(), j["Digest"].get<std::string>().c_str());
    std::printf("Tags:      %s\n", join(j["RepoTags"].get<std::vector<std::string>>()).c_str());
    std::printf("Created:   %s\nPlatform:  %s/%s\nSize:      %s\n", cli::short_time(j["Created"]).c_str(),
                im.config.os.c_str(), im.config.architecture.c_str(), cli::human_size(im.total_size()).c_str());
    const cas::ContainerConfig& c = im.config.config;
    std::printf("Config:\n");
    if (!c.user.empty()) std::printf("  User:        %s\n", c.user.c_str());
    for (auto& e : c.env) std::printf("  Env:         %s\n", e.c_str());
    if (c.entrypoint) std::printf("  Entrypoint:  %s\n", nlohmann::json(*c.entrypoint).dump().c_str());
    if (c.cmd) std::printf("  Cmd:         %s\n", nlohmann::json(*c.cmd).dump().c_str());
    if (!c.working_dir.empty()) std::printf("  WorkingDir:  %s\n", c.working_dir.c_str());
    for (auto& [k, v] : c.labels) std::printf("  Label:       %s=%s\n", k.c_str(), v.c_str());
    for (auto& p : c.exposed_ports) std::printf("  Expose:      %s\n", p.c_str());
    for (auto& v : c.volumes) std::printf("  Volume:      %s\n", v.c_str());
    if (!c.stop_signal.empty()) std::printf("  StopSignal:  %s\n", c.stop_signal.c_str());
    std::printf("Layers:\n");
    std::vector<std::vector<std::string>> rows{{"  DIGEST", "SIZE", "DIFF ID", "MEDIA TYPE"}};
    for (auto& l : j["Layers"])
        rows.push_back({"  " + l["digest"].get<std::string>(), cli::human_size(l["size"].get<uint64_t>()),
                        l["diffId"].get<std::string>().substr(0, 19), l["mediaType"].get<std::string>()});
    cli::print_table(rows);
    std::printf("History:\n");
    for (auto& h : im.config.history)
        std::printf("  %s  %s%s\n", cli::short_time(h.created).c_str(), h.created_by.c_str(),
                    h.empty_layer ? "  (no layer)" : "");
}

}  // namespace

static cli::Registrar reg("inspect", [](CLI::App& app, cli::Globals& g) {
    auto* cmd = app.add_subcommand("inspect", "Show an image's config, layers and history");
    static std::string image;
    cmd->add_option("IMAGE", image, "NAME[:TAG], NAME@sha256:..., or an image ID prefix")->required();
    static bool as_json = false;
    cmd->add_flag("--json", as_json, "print JSON for scripts");
    cmd->callback([&g] {
        cas::Store store = cli::open_store(g);
        cas::Image im = cas::resolve_image(store, image);
        nlohmann::json j = inspect_json(store, im);
        if (as_json) std::printf("%s\n", j.dump(2).c_str());
        else print_human(j, im);
    });
});
