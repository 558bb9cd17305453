// imgbuild cache ls | du | prune | explain
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "builder/cache.hpp"
#include "cli/registry.hpp"
#include "sys/units.hpp"
#include "cli/store_util.hpp"
#include "cli/config.hpp"
#include "builder/store_gc.hpp"

void register_cache_explain(CLI::App* cache, cli::Globals& g);  // cmd_build.cpp

namespace {

std::string when(int64_t t) {
    if (t <= 0) return "-";
    std::time_t tt = std::time_t(t);
    struct tm tm;
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

void cache_ls(const cli::Globals& g, bool json) {
    cas::Store store = cli::open_store(g);
    auto recs = builder::Cache(store).list();
    std::sort(recs.begin(), recs.end(), [](auto& a, auto& b) { return a.last_used > b.last_used; });
    if (json) {
        nlohmann::json a = nlohmann::json::array();
        for (auto& r : recs)
            a.push_back({{"key", r.key.str()},
                         {"step", r.step},
                         {"created_by", r.created_by},
                         {"layer", r.layer ? r.layer->digest.str() : ""},
                         {"size", r.layer ? r.layer->size : 0},
                         {"created", r.created},
                         {"last_used", r.last_used},
                         {"hits", r.hits}});
        std::printf("%s\n", a.dump(2).c_str());
        return;
    }
    std::vector<std::vector<std::string>> rows = {{"KEY", "LAYER", "SIZE", "LAST USED", "HITS", "STEP"}};
    for (auto& r : recs) {
        std::string step = r.step.size() > 60 ? r.step.substr(0, 57) + "..." : r.step;
        rows.push_back({r.key.short_hex(12), r.layer ? r.layer->digest.short_hex(12) : "<empty>",
                        cli::human_size(r.layer ? r.layer->size : 0), when(std::max(r.last_used, r.created)),
                        std::to_string(r.hits), step});
    }
    cli::print_table(rows);
}

void cache_du(const cli::Globals& g, bool json) {
    cas::Store store = cli::open_store(g);
    builder::CacheUsage u = builder::cache_usage(store);
    if (json) {
        std::printf("%s\n", nlohmann::json{{"records", u.records},
                                           {"total", u.total},
                                           {"shared", u.shared},
                                           {"exclusive", u.exclusive},
                                           {"cache_mounts", u.mounts},
                                           {"cache_mount_dirs", u.mount_dirs}}
                                .dump(2)
                                .c_str());
        return;
    }
    cli::print_table({{"WHAT", "SIZE"},
                      {"cache records (" + std::to_string(u.records) + ")", cli::human_size(u.total)},
                      {"  shared with images", cli::human_size(u.shared)},
                      {"  exclusive to the cache", cli::human_size(u.exclusive)},
                      {"cache mounts (" + std::to_string(u.mount_dirs) + ")", cli::human_size(u.mounts)}});
}

cli::Registrar reg("cache", [](CLI::App& app, cli::Globals& g) {
    CLI::App* cache = app.add_subcommand("cache", "Inspect and prune the build cache");
    cache->require_subcommand(1);
    auto ls_json = std::make_shared<bool>(false);
    CLI::App* ls = cache->add_subcommand("ls", "List cache records: key, layer, size, last use, hits, step");
    ls->add_flag("--json", *ls_json, "JSON output");
    ls->callback([&g, ls_json] { cache_ls(g, *ls_json); });

    auto du_json = std::make_shared<bool>(false);
    CLI::App* du = cache->add_subcommand("du", "Disk usage of the cache: total, shared, exclusive, cache mounts");
    du->add_flag("--json", *du_json, "JSON output");
    du->callback([&g, du_json] { cache_du(g, *du_json); });

    struct PruneFlags {
        std::string keep_storage, keep_duration;
        bool all = false;
    };
    auto pf = std::make_shared<PruneFlags>();
    CLI::App* prune = cache->add_subcommand("prune", "Drop cache records (LRU) and what only they needed");
    prune->add_option("--keep-storage", pf->keep_storage, "keep at most SIZE of cache-only layers (e.g. 10g, 0)");
    prune->add_option("--keep-duration", pf->keep_duration, "drop records unused for longer than D (e.g. 48h)");
    prune->add_flag("--all", pf->all, "drop every record");
    prune->callback([&g, pf] {
        builder::CachePolicy p;
        p.all = pf->all;
        if (!pf->keep_storage.empty()) p.keep_storage = sys::parse_size(pf->keep_storage, "--keep-storage");
        if (!pf->keep_duration.empty())
            p.keep_duration_s = sys::parse_duration_ms(pf->keep_duration, "--keep-duration") / 1000;
        if (!p.all && !p.keep_storage && !p.keep_duration_s) p.all = true;  // as `docker builder prune --all`
        cas::Store store = cli::open_store(g);
        builder::PruneResult r = builder::prune_store(store, p);
        std::printf("removed %zu cache records, %zu blobs (%s), %zu snapshots\n", r.records_removed, r.blobs.removed.size(),
                    cli::human_size(r.blobs.bytes_freed + r.blobs.ingest_bytes_freed).c_str(), r.snapshots_removed);
    });
    register_cache_explain(cache, g);
});

}  // namespace
