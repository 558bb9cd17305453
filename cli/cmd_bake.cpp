// `imgbuild bake [TARGET|GROUP...] [-f FILE] [--set PATTERN.KEY=VALUE] [--print] [--push]
// [--progress MODE] [--metadata-file F]`: many images from one YAML file (bake/bake.hpp).
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "bake/bake.hpp"
#include "bake/run.hpp"
#include "cas/image.hpp"
#include "cli/build_cache.hpp"
#include "cli/build_registry.hpp"
#include "cli/registry.hpp"
#include "cli/store_util.hpp"
#include "layers/rootfs.hpp"
#include "registry/reference.hpp"
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

// A target's cache-from sources, read (manifest + config) the first time its build looks a key
// up, in that target's thread.
class LazyRemoteCache {
public:
    LazyRemoteCache(const cli::Globals& g, cas::Store& store, std::vector<std::string> from)
        : g_(g), store_(store), from_(std::move(from)) {}
    std::optional<builder::CacheRecord> lookup(const cas::Digest& key) {
        std::call_once(once_, [this] { cache_ = std::make_unique<cli::RemoteCache>(g_, store_, from_, false); });
        return cache_->lookup(key);
    }

private:
    const cli::Globals& g_;
    cas::Store& store_;
    std::vector<std::string> from_;
    std::once_flag once_;
    std::unique_ptr<cli::RemoteCache> cache_;
};

// Base images of all targets, pulled when missing (`build --pull missing`); targets that name
// the same image at once pull it once (the others wait, then find it in the store).
class SharedBaseResolver {
public:
    explicit SharedBaseResolver(const cli::Globals& g)
        : resolve_(cli::make_base_resolver(g, "missing", std::make_shared<cli::ResolvedBases>())) {}
    cas::Image operator()(cas::Store& store, const std::string& ref) {
        std::shared_ptr<std::mutex> m;
        {
            std::lock_guard<std::mutex> l(mu_);
            auto& slot = per_ref_[ref];
            if (!slot) slot = std::make_shared<std::mutex>();
            m = slot;
        }
        std::lock_guard<std::mutex> l(*m);
        return resolve_(store, ref);
    }

private:
    std::function<cas::Image(cas::Store&, const std::string&)> resolve_;
    std::mutex mu_;
    std::map<std::string, std::shared_ptr<std::mutex>> per_ref_;
};

// The registry side of `imgbuild build`, per target: base images pulled when missing,
// cache-from / cache-to (cli/build_cache.hpp) and --push of the target's tags.
bake::RegistryHooks registry_hooks(const cli::Globals& g, cas::Store& store) {
    bake::RegistryHooks h;
    auto bases = std::make_shared<SharedBaseResolver>(g);
    h.prepare = [&g, &store, bases](const bake::Target& t, bool push, builder::BuildOptions& o) {
        auto check = [&](const std::string& key, auto&& f) {
            try {
                f();
            } catch (const Error& e) {
                throw e.wrap(bake::located(t, key));
            }
        };
        for (const auto& s : t.cache_to) check("cache-to", [&] { cli::parse_cache_spec(s, true); });
        for (const auto& s : t.cache_from) check("cache-from", [&] { cli::parse_cache_spec(s, false); });
        if (push && t.tags.empty())
            sys::fail(sys::Code::InvalidInput, bake::located(t, "tags") + ": --push needs tags (registry references) to push to");
        if (push)
            for (const auto& tag : t.tags) check("tags", [&] { registry::parse_remote_ref(tag); });
        o.resolve_image = [bases](cas::Store& s, const std::string& ref) { return (*bases)(s, ref); };
        if (!t.cache_from.empty() && !o.no_cache) {
            auto remote = std::make_shared<LazyRemoteCache>(g, store, t.cache_from);
            o.remote_cache = [remote](const cas::Digest& k) { return remote->lookup(k); };
        }
    };
    h.publish = [&g, &store](const bake::Target& t, bool push, const builder::BuildResult& r, builder::Progress& p) {
        for (const auto& c : t.cache_to) p.info("exporting cache to " + c);
        try {
            cli::export_cache(g, store, r, t.cache_to);
        } catch (const Error& e) {
            throw e.wrap(bake::located(t, "cache-to"));
        }
        std::map<std::string, std::string> pushed;
        if (!push) return pushed;
        cas::Image im = cas::load_image(store, r.manifest.digest);
        for (const auto& tag : t.tags) {
            p.info("pushing " + tag);
            pushed[tag] = sys::with_context("push " + tag, [&] { return cli::push_image(g, store, im, tag, "", 3).str(); });
            p.info("pushed " + tag + "@" + pushed[tag]);
        }
        return pushed;
    };
    return h;
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
        if (!r.pushed.empty()) md[r.name]["imgbuild.pushed"] = r.pushed;  // registry ref -> pushed manifest digest
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
    ro.registry = registry_hooks(g, store);
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
        if (r.built) std::printf("%s %s\n", r.name.c_str(), r.result.manifest.digest.str().c_str());
        if (r.ok()) continue;
        nfailed++;
        // Report a target's own failure rather than one of "its dependency failed".
        if (!failed || failed->dependency_failed) failed = &r;
    }
    if (failed)
        sys::fail(failed->built ? failed->publish_code : failed->code,
                    std::to_string(nfailed) + " of " + std::to_string(results.size()) + " targets failed; target \"" +
                        failed->name + "\": " + (failed->built ? failed->publish_error : failed->error));
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
