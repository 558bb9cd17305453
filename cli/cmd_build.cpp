// `imgbuild build` (and the bare `imgbuild -f Buildfile CONTEXT`).
#include <cstdio>
#include <fstream>
#include <thread>

#include "cli/registry.hpp"
#include "cli/store_util.hpp"
#include "sys/units.hpp"
#include "layers/rootfs.hpp"
#include "builder/solver.hpp"
#include "builder/store_gc.hpp"
#include "cas/store.hpp"
#include "runtime/spec.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"

namespace {

using sys::Code;
using sys::Error;

struct BuildFlags {
    std::string file, target, progress = "auto", network = "none", memory, metadata_file, compression;
    std::vector<std::string> tags, build_args, outputs, secrets;
    bool no_cache = false, explain = false;
    double cpus = 0;
    int64_t pids = 0;
    int jobs = 0;
    int64_t sde = -1;
    std::string context;
};

std::map<std::string, std::string> parse_build_args(const std::vector<std::string>& list) {
    std::map<std::string, std::string> m;
    for (const auto& a : list) {
        auto eq = a.find('=');
        if (eq == std::string::npos) {
            // docker: --build-arg NAME takes the value from the environment
            if (const char* v = std::getenv(a.c_str())) m[a] = v;
            continue;
        }
        if (eq == 0) throw Error(Code::InvalidInput, "--build-arg " + a + ": missing name");
        m[a.substr(0, eq)] = a.substr(eq + 1);
    }
    return m;
}

nlohmann::json metadata_json(const builder::BuildResult& r) {
    nlohmann::json steps = nlohmann::json::array();
    for (const auto& s : r.steps) {
        nlohmann::json j = {{"step", s.id},         {"stage", s.stage},     {"instruction", s.instruction},
                            {"location", s.location}, {"cached", s.cached}, {"duration_ms", s.duration_ms},
                            {"layer_size", s.layer_size}, {"cache_key", s.cache_key}};
        if (!s.layer.empty()) j["layer"] = s.layer;
        if (!s.cached && !s.miss_reason.empty()) j["miss_reason"] = s.miss_reason;
        if (s.instruction.rfind("RUN", 0) == 0 || s.instruction.rfind("run", 0) == 0) {
            j["peak_memory_bytes"] = s.peak_memory_bytes;
            j["cpu_ns"] = s.cpu_ns;
        }
        steps.push_back(j);
    }
    return {{"containerimage.digest", r.manifest.digest.str()},
            {"containerimage.config.digest", r.config_digest.str()},
            {"image.name", r.tags},
            {"steps", steps}};
}

builder::BuildOptions to_options(const BuildFlags& f, const cli::Globals& g) {
    builder::BuildOptions o;
    o.context_dir = f.context;
    o.buildfile = f.file;
    o.tags = f.tags;
    o.build_args = parse_build_args(f.build_args);
    o.target = f.target;
    o.no_cache = f.no_cache;
    for (const auto& s : f.outputs) o.outputs.push_back(builder::parse_output_spec(s));
    for (const auto& s : f.secrets) o.secrets.push_back(builder::parse_secret_spec(s));
    o.network = f.network == "host" ? runtime::Network::Host : runtime::Network::None;
    o.limits.memory_bytes = f.memory.empty() ? g.config.memory_bytes : sys::parse_size(f.memory, "--memory");
    o.limits.cpus = f.cpus > 0 ? f.cpus : g.config.cpus;
    o.limits.pids = f.pids > 0 ? f.pids : g.config.pids_limit;
    o.jobs = f.jobs;
    o.export_compression = layers::parse_compression(f.compression.empty() ? g.config.compression : f.compression);
    if (f.sde >= 0) o.source_date_epoch = f.sde;
    else o.source_date_epoch = cli::source_date_epoch_env();
    return o;
}

void print_explain(const builder::BuildResult& r, bool json) {
    if (json) {
        nlohmann::json a = nlohmann::json::array();
        for (const auto& s : r.steps)
            a.push_back({{"step", s.id}, {"stage", s.stage}, {"location", s.location}, {"instruction", s.instruction},
                         {"hit", s.cached}, {"reason", s.cached ? "" : s.miss_reason}, {"cache_key", s.cache_key}});
        std::printf("%s\n", a.dump(2).c_str());
        return;
    }
    for (const auto& s : r.steps) {
        std::printf("%-5s %s %s\n", s.cached ? "HIT" : "MISS", s.location.c_str(), s.instruction.c_str());
        if (!s.cached) std::printf("      because: %s\n", s.miss_reason.c_str());
    }
}

void add_build_flags(CLI::App* c, BuildFlags& f) {
    c->add_option("-f,--file", f.file, "Buildfile (default CONTEXT/Buildfile, then CONTEXT/Dockerfile)");
    c->add_option("--build-arg", f.build_args, "set a build-time variable K=V")->take_all();
    c->add_option("--target", f.target, "stage to build (default: the last)");
    c->add_option("CONTEXT", f.context, "build context directory")->required();
}

void run_build(BuildFlags& f, cli::Globals& g, bool explain_only, bool json_explain) {
    builder::BuildOptions o = to_options(f, g);
    o.explain_only = explain_only;
    if (explain_only) o.no_cache = false;
    cas::Store store = cas::Store::open(g.root);
    auto progress = builder::make_progress(explain_only ? "quiet" : f.progress);
    // Every mount a build makes lives in this private namespace and dies with the process.
    layers::enter_private_mount_namespace();
    builder::install_build_signal_handlers();
    sys::FileLock gc_guard = store.lock_shared();  // GC waits until the build is done
    builder::BuildResult r;
    try {
        r = builder::build(store, o, *progress);
    } catch (...) {
        progress->finish();
        throw;
    }
    progress->finish();
    gc_guard.unlock();
    if (explain_only || f.explain) print_explain(r, json_explain);
    if (explain_only) return;
    // The config's GC policy runs after every build.
    cli::apply_config_gc(store, g.config);
    if (!f.metadata_file.empty()) sys::write_file_atomic(f.metadata_file, metadata_json(r).dump(2) + "\n");
    std::string tags;
    for (auto& t : r.tags) tags += " " + t;
    std::fprintf(stderr, "writing image %s%s%s\n", r.manifest.digest.str().c_str(), tags.empty() ? "" : " naming", tags.c_str());
    std::printf("%s\n", r.manifest.digest.str().c_str());
}

cli::Registrar reg_build("build", [](CLI::App& app, cli::Globals& g) {
    auto f = std::make_shared<BuildFlags>();
    CLI::App* c = app.add_subcommand("build", "Build an image from a Buildfile (Dockerfile syntax)");
    add_build_flags(c, *f);
    c->add_option("-t,--tag", f->tags, "name the image NAME[:TAG] (repeatable)")->take_all();
    c->add_flag("--no-cache", f->no_cache, "do not use the build cache");
    c->add_option("--progress", f->progress, "auto|tty|plain|json")->check(CLI::IsMember({"auto", "tty", "plain", "json", "quiet"}));
    c->add_option("--output,-o", f->outputs, "type=oci|docker,dest=FILE.tar|DIR or type=local,dest=DIR")->take_all();
    c->add_option("--secret", f->secrets, "id=ID,src=PATH or id=ID,env=VAR")->take_all();
    c->add_option("--network", f->network, "network for RUN steps: none|host")->check(CLI::IsMember({"none", "host", "default"}));
    c->add_option("--memory,-m", f->memory, "memory limit for RUN steps (e.g. 512m)");
    c->add_option("--cpus", f->cpus, "CPU limit for RUN steps (e.g. 1.5)");
    c->add_option("--pids-limit", f->pids, "pids limit for RUN steps");
    c->add_option("--jobs,-j", f->jobs, "stages built at once (default: all independent stages)");
    c->add_option("--compression", f->compression, "layer compression on export: gzip|zstd|none")
        ->check(CLI::IsMember({"gzip", "zstd", "none"}));
    c->add_option("--metadata-file", f->metadata_file, "write build metadata (digest, steps) as JSON");
    c->add_option("--source-date-epoch", f->sde, "timestamps for reproducible images (default $SOURCE_DATE_EPOCH)");
    c->add_flag("--explain-cache", f->explain, "after the build, list each step's cache hit or miss and why");
    c->callback([f, &g] { run_build(*f, g, false, false); });
});

}  // namespace

// `imgbuild cache explain` reuses the build's flags; it is registered by cmd_cache.cpp.
void register_cache_explain(CLI::App* cache, cli::Globals& g) {
    auto f = std::make_shared<BuildFlags>();
    auto json = std::make_shared<bool>(false);
    CLI::App* c = cache->add_subcommand("explain", "For each step: cache hit or miss, and for a miss, what changed");
    add_build_flags(c, *f);
    c->add_flag("--json", *json, "JSON output");
    c->callback([f, json, &g] { run_build(*f, g, true, *json); });
}
