// `imgbuild build` (and the bare `imgbuild -f Buildfile CONTEXT`).
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include "cli/build_cache.hpp"
#include "cli/build_registry.hpp"
#include "cli/registry.hpp"
#include "cli/store_util.hpp"
#include "context/context.hpp"
#include "sys/units.hpp"
#include "layers/rootfs.hpp"
#include "builder/solver.hpp"
#include "builder/store_gc.hpp"
#include "cas/store.hpp"
#include "runtime/spec.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/path.hpp"
#include "sys/proc.hpp"

namespace {

using sys::Code;
using sys::Error;

struct BuildFlags {
    std::string file, target, progress = "auto", network = "none", memory, metadata_file, compression, pull = "missing";
    std::vector<std::string> tags, build_args, outputs, secrets, allow, cache_to, cache_from;
    bool no_cache = false, explain = false, push = false;
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
        if (eq == 0) sys::fail(Code::InvalidInput, "--build-arg " + a + ": missing name");
        m[a.substr(0, eq)] = a.substr(eq + 1);
    }
    return m;
}

nlohmann::json metadata_json(const builder::BuildResult& r, const cli::ResolvedBases& bases,
                             const std::map<std::string, std::string>& pushed) {
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
    nlohmann::json j = {{"containerimage.digest", r.manifest.digest.str()},
                        {"containerimage.config.digest", r.config_digest.str()},
                        {"image.name", r.tags},
                        {"steps", steps}};
    if (!bases.digests.empty()) j["imgbuild.base.digests"] = bases.digests;  // FROM / --from ref -> resolved digest
    if (!pushed.empty()) j["imgbuild.pushed"] = pushed;                      // registry ref -> pushed manifest digest
    return j;
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
    for (const auto& a : g.config.allow) o.allow.insert(a);
    for (const auto& a : f.allow) {
        builder::check_entitlement_name(a, "--allow");
        o.allow.insert(a);
    }
    // `--network host` on the command line is the user's own choice: it grants network.host.
    if (o.network == runtime::Network::Host) o.allow.insert("network.host");
    o.limits.memory_bytes = f.memory.empty() ? g.config.memory_bytes : sys::parse_size(f.memory, "--memory");
    o.limits.cpus = f.cpus > 0 ? f.cpus : g.config.cpus;
    o.limits.pids = f.pids > 0 ? f.pids : g.config.pids_limit;
    o.jobs = f.jobs;
    o.export_compression = layers::parse_compression(f.compression.empty() ? g.config.compression : f.compression);
    if (f.sde >= 0) o.source_date_epoch = f.sde;
    else o.source_date_epoch = cli::source_date_epoch_env();
    return o;
}

void print_explain(const builder::BuildResult& r, bool json, const cli::RemoteCache* remote) {
    auto source = [&](const builder::StepReport& s) { return remote && s.cached ? remote->source_of(s.cache_key) : std::string(); };
    if (json) {
        nlohmann::json a = nlohmann::json::array();
        for (const auto& s : r.steps)
            a.push_back({{"step", s.id}, {"stage", s.stage}, {"location", s.location}, {"instruction", s.instruction},
                         {"hit", s.cached}, {"reason", s.cached ? "" : s.miss_reason}, {"cache_key", s.cache_key},
                         {"remote", source(s)}});
        std::printf("%s\n", a.dump(2).c_str());
        return;
    }
    for (const auto& s : r.steps) {
        std::string src = source(s);
        std::printf("%-5s %s %s%s\n", s.cached ? "HIT" : "MISS", s.location.c_str(), s.instruction.c_str(),
                    src.empty() ? "" : ("  (remote cache " + src + ")").c_str());
        if (!s.cached) std::printf("      because: %s\n", s.miss_reason.c_str());
    }
}

void add_build_flags(CLI::App* c, BuildFlags& f) {
    c->add_option("-f,--file", f.file, "Buildfile (default CONTEXT/Buildfile, then CONTEXT/Dockerfile)");
    c->add_option("--build-arg", f.build_args, "set a build-time variable K=V")->take_all();
    c->add_option("--target", f.target, "stage to build (default: the last)");
    c->add_option("--cache-from", f.cache_from, "type=registry,ref=R | type=local,src=DIR | R (repeatable)")->take_all();
    c->add_option("--pull", f.pull, "base images: missing (pull if not in the store) | always | never")
        ->check(CLI::IsMember({"missing", "always", "never"}));
    c->add_option("CONTEXT", f.context, "build context directory")->required();
}

// A cached build of a big context allocates tens of MB in small pieces on several threads (the
// walk's entries, the stat cache), and on a VM every first touch of a 4 KiB page is a costly
// fault. glibc's malloc can back its heaps with transparent huge pages (glibc.malloc.hugetlb=1,
// heaps grown 16 MiB at a time), but reads its tunables only at start-up: a build whose context
// has a stat cache of 1 MiB or more (~8,000 files) runs itself again once with them set -- the
// 20,000-file cached rebuild of bench/ went from 98 to 57 ms; a small build (no such cache) does
// not pay the second exec. GLIBC_TUNABLES set by the user is left alone.
constexpr const char* kTunedMark = "IMGBUILD_MALLOC_TUNED";
void tune_malloc_for_big_context(const cas::Store& store, const std::string& context) {
    if (std::getenv(kTunedMark)) {  // the second exec: keep the variables from RUN steps and helpers
        ::unsetenv(kTunedMark);
        ::unsetenv("GLIBC_TUNABLES");
        return;
    }
    if (std::getenv("GLIBC_TUNABLES")) return;
    struct stat st;
    std::string file = sys::path_join(store.statcache_dir(context), context::StatCache::kFile);
    if (::stat(file.c_str(), &st) != 0 || st.st_size < (1 << 20)) return;
    if (::setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1:glibc.malloc.top_pad=16777216", 1) != 0) return;
    sys::reexec_self_with(kTunedMark, "1");
    ::unsetenv("GLIBC_TUNABLES");  // the exec failed: go on untuned
}

void run_build(BuildFlags& f, cli::Globals& g, bool explain_only, bool json_explain) {
    std::vector<std::string> push_to = cli::take_registry_outputs(f.outputs);
    if (f.push && !explain_only) push_to.insert(push_to.end(), f.tags.begin(), f.tags.end());
    if (f.push && f.tags.empty()) sys::fail(Code::InvalidInput, "--push needs -t NAME (a registry reference)");
    builder::BuildOptions o = to_options(f, g);
    o.explain_only = explain_only;
    auto bases = std::make_shared<cli::ResolvedBases>();
    o.resolve_image = cli::make_base_resolver(g, f.pull, bases);
    std::unique_ptr<cli::RemoteCache> remote;
    cas::Store store = cas::Store::open(g.root);
    tune_malloc_for_big_context(store, f.context);  // before any thread, lock or mount
    if (!f.cache_from.empty() && !f.no_cache) {
        remote = std::make_unique<cli::RemoteCache>(g, store, f.cache_from, explain_only);
        o.remote_cache = [&remote](const cas::Digest& k) { return remote->lookup(k); };
    }
    if (explain_only) o.no_cache = false;
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
    if (explain_only || f.explain) print_explain(r, json_explain, remote.get());
    if (explain_only) return;
    // The config's GC policy runs after every build.
    cli::apply_config_gc(store, g.config);
    cli::export_cache(g, store, r, f.cache_to);
    std::map<std::string, std::string> pushed;
    if (!push_to.empty()) {
        cas::Image im = cas::load_image(store, r.manifest.digest);
        for (auto& dest : push_to) pushed[dest] = cli::push_image(g, store, im, dest, f.compression == "none" ? "" : f.compression, 3).str();
    }
    if (!f.metadata_file.empty()) sys::write_file_atomic(f.metadata_file, metadata_json(r, *bases, pushed).dump(2) + "\n");
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
    c->add_option("--cache-to", f->cache_to, "type=registry,ref=R[,mode=min|max][,ignore-error=true] | type=local,dest=DIR")
        ->take_all();
    c->add_flag("--push", f->push, "push the image to each -t NAME (registry references)");

    c->add_option("--progress", f->progress, "auto|tty|plain|json")->check(CLI::IsMember({"auto", "tty", "plain", "json", "quiet"}));
    c->add_option("--output,-o", f->outputs, "type=oci|docker,dest=FILE.tar|DIR, type=local,dest=DIR or type=registry,name=REF")->take_all();
    c->add_option("--secret", f->secrets, "id=ID,src=PATH or id=ID,env=VAR")->take_all();
    c->add_option("--allow", f->allow, "grant an entitlement to the Buildfile: network.host, security.insecure")->take_all();
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
