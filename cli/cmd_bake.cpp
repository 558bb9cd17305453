// `imgbuild bake [TARGET|GROUP...] [-f FILE] [--set PATTERN.KEY=VALUE] [--print] [--push]
// [--progress MODE] [--metadata-file F]`: many images from one YAML file (bake/bake.hpp).
#include <cstdio>
#include <cstdlib>

#include "bake/bake.hpp"
#include "bake/run.hpp"
#include "cli/registry.hpp"
#include "cli/store_util.hpp"
#include "layers/rootfs.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"

namespace {

using sys::Error;

struct BakeFlags {
    std::string file = "imgbuild-bake.yaml", progress = "auto", metadata_file;
    std::vector<std::string> names, sets;
    bool print = false, push = false, no_cache = false;
    int jobs = 0;
};

bake::Plan load_plan(const BakeFlags& f) {
    std::string text;
    try {
        text = sys::read_file(f.file, 16u << 20);
    } catch (const Error& e) {
        throw e.wrap("bake file");
    }
    auto slash = f.file.find_last_of('/');
    std::string dir = slash == std::string::npos ? "" : f.file.substr(0, slash + 1);
    bake::BakeFile bf = bake::parse(text, f.file, dir);
    std::vector<bake::Override> sets;
    for (const auto& s : f.sets) sets.push_back(bake::parse_set(s));
    return bake::resolve(bf, f.names, sets, [](const std::string& name) -> std::optional<std::string> {
        if (const char* v = std::getenv(name.c_str())) return std::string(v);
        return std::nullopt;
    });
}

nlohmann::ordered_json metadata(const std::vector<bake::TargetResult>& results) {
    nlohmann::ordered_json md = nlohmann::ordered_json::object();
    for (const auto& r : results) {
        if (!r.built) continue;
        int cached = 0;
        for (const auto& s : r.result.steps) cached += s.cached ? 1 : 0;
        md[r.name] = {{"containerimage.digest", r.result.manifest.digest.str()},
                      {"containerimage.config.digest", r.result.config_digest.str()},
                      {"image.name", r.result.tags},
                      {"steps", r.result.steps.size()},
                      {"cached_steps", cached}};
    }
    return md;
}

bake::RunOptions run_options(const BakeFlags& f, const cli::Globals& g) {
    bake::RunOptions ro;
    ro.push = f.push;
    ro.jobs = f.jobs;
    ro.base.no_cache = f.no_cache;
    ro.base.limits.memory_bytes = g.config.memory_bytes;
    ro.base.limits.cpus = g.config.cpus;
    ro.base.limits.pids = g.config.pids_limit;
    ro.base.export_compression = layers::parse_compression(g.config.compression);
    ro.base.source_date_epoch = cli::source_date_epoch_env();
    return ro;
}

void run_bake(const BakeFlags& f, cli::Globals& g) {
    bake::Plan plan = load_plan(f);
    if (f.print) {
        std::printf("%s\n", bake::to_json(plan).dump(2).c_str());
        return;
    }
    bake::RunOptions ro = run_options(f, g);
    cas::Store store = cas::Store::open(g.root);
    auto progress = builder::make_progress(f.progress);
    // Every mount lives in this private namespace and dies with the process (before threads start).
    layers::enter_private_mount_namespace();
    builder::install_build_signal_handlers();
    sys::FileLock gc_guard = store.lock_shared();  // GC waits until every target is done
    std::vector<bake::TargetResult> results;
    try {
        results = bake::run(store, plan, ro, *progress);
    } catch (...) {
        progress->finish();
        throw;
    }
    progress->finish();
    gc_guard.unlock();
    cli::apply_config_gc(store, g.config);  // the config's GC policy
    if (!f.metadata_file.empty()) sys::write_file_atomic(f.metadata_file, metadata(results).dump(2) + "\n");
    const bake::TargetResult* failed = nullptr;
    size_t nfailed = 0;
    for (const auto& r : results) {
        if (r.built) {
            std::printf("%s %s\n", r.name.c_str(), r.result.manifest.digest.str().c_str());
            continue;
        }
        nfailed++;
        // Report a target's own failure rather than one of "its dependency failed".
        if (!failed || failed->dependency_failed) failed = &r;
    }
    if (failed)
        throw Error(failed->code, std::to_string(nfailed) + " of " + std::to_string(results.size()) +
                                                  " targets failed; target \"" + failed->name + "\": " + failed->error);
}

cli::Registrar reg_bake("bake", [](CLI::App& app, cli::Globals& g) {
    auto f = std::make_shared<BakeFlags>();
    CLI::App* c = app.add_subcommand("bake", "Build many images from an imgbuild-bake.yaml file, in parallel and in order");
    c->add_option("TARGETS", f->names, "targets or groups to build (default: the group \"default\")");
    c->add_option("-f,--file", f->file, "bake file (default imgbuild-bake.yaml)");
    c->add_option("--set", f->sets, "override a target key: PATTERN.KEY=VALUE, PATTERN.KEY+=VALUE, PATTERN.args.NAME=VALUE")
        ->allow_extra_args(false)  // one value per --set: what follows is a TARGET
        ->take_all();
    c->add_flag("--print", f->print, "print the resolved targets as JSON and build nothing");
    c->add_flag("--push", f->push, "push every target's tags after it is built");
    c->add_flag("--no-cache", f->no_cache, "do not use the build cache");
    c->add_option("--progress", f->progress, "auto|tty|plain|json")->check(CLI::IsMember({"auto", "tty", "plain", "json", "quiet"}));
    c->add_option("--metadata-file", f->metadata_file, "write one JSON entry per target (digest, tags)");
    c->add_option("--jobs,-j", f->jobs, "targets built at once (default: all independent targets)");
    c->callback([f, &g] { run_bake(*f, g); });
});

}  // namespace
