// imgbuild prune: delete blobs no ref (or retained build-cache record) reaches.
#include <cstdio>

#include "builder/cache.hpp"
#include "builder/cli/store_util.hpp"
#include "cas/gc.hpp"

static cli::Registrar reg("prune", [](CLI::App& app, cli::Globals& g) {
    auto* cmd = app.add_subcommand("prune", "Delete unreferenced blobs and abandoned partial writes");
    static bool dry = false;
    cmd->add_flag("--dry-run", dry, "only print what would be freed");
    cmd->callback([&g] {
        cas::Store store = cli::open_store(g);
        cas::GcOptions o;
        o.dry_run = dry;
        o.extra_roots_hook = [](const cas::Store& s) {
            std::vector<cas::Digest> roots;
            for (auto& rec : builder::Cache(s).list())
                if (rec.layer) roots.push_back(rec.layer->digest);
            return roots;
        };
        cas::GcResult r = cas::collect_garbage(store, o);
        for (auto& [d, size] : r.removed) std::printf("deleted %s (%s)\n", d.str().c_str(), cli::human_size(size).c_str());
        if (r.ingest_files_removed)
            std::printf("deleted %zu partial writes (%s)\n", r.ingest_files_removed, cli::human_size(r.ingest_bytes_freed).c_str());
        std::printf("%s %zu blobs, %s\n", dry ? "would free" : "freed", r.removed.size(),
                    cli::human_size(r.bytes_freed + r.ingest_bytes_freed).c_str());
    });
});
