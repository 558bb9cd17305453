// imgbuild prune: delete blobs no ref (or retained build-cache record) reaches, abandoned
// partial writes, and unpacked snapshots no tagged image needs (builder/store_gc.hpp).
#include <cstdio>

#include "cli/store_util.hpp"
#include "builder/store_gc.hpp"

static cli::Registrar reg("prune", [](CLI::App& app, cli::Globals& g) {
    auto* cmd = app.add_subcommand("prune", "Delete unreferenced blobs, abandoned partial writes and unused snapshots");
    static bool dry = false;
    cmd->add_flag("--dry-run", dry, "only print what would be freed");
    cmd->callback([&g] {
        cas::Store store = cli::open_store(g);
        builder::PruneResult p = builder::prune_store(store, builder::CachePolicy{}, dry);  // keeps every cache record
        const cas::GcResult& r = p.blobs;
        for (auto& [d, size] : r.removed) std::printf("deleted %s (%s)\n", d.str().c_str(), cli::human_size(size).c_str());
        if (r.ingest_files_removed)
            std::printf("deleted %zu partial writes (%s)\n", r.ingest_files_removed, cli::human_size(r.ingest_bytes_freed).c_str());
        std::printf("%s %zu blobs, %s; %zu snapshots\n", dry ? "would free" : "freed", r.removed.size(),
                    cli::human_size(r.bytes_freed + r.ingest_bytes_freed).c_str(), p.snapshots_removed);
    });
});
