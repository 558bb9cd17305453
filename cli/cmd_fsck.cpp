// imgbuild fsck: re-hash every blob, check every ref's closure; exit 1 on damage.
#include <cstdio>

#include "cli/store_util.hpp"
#include "cas/fsck.hpp"

static cli::Registrar reg("fsck", [](CLI::App& app, cli::Globals& g) {
    auto* cmd = app.add_subcommand("fsck", "Verify every blob and every image's closure");
    cmd->callback([&g] {
        cas::Store store = cli::open_store(g);
        cas::FsckReport r = cas::fsck(store);
        for (auto& p : r.problems) std::fprintf(stderr, "damaged: %s\n", p.c_str());
        std::printf("checked %llu blobs (%s), %llu refs", (unsigned long long)r.blobs_checked,
                    cli::human_size(r.bytes_checked).c_str(), (unsigned long long)r.refs_checked);
        if (r.partial_ingests) std::printf(", %llu partial writes (prune removes them)", (unsigned long long)r.partial_ingests);
        std::printf(": %s\n", r.ok() ? "ok" : (std::to_string(r.problems.size()) + " problems").c_str());
        if (!r.ok()) g.exit_code = 1;
    });
});
