// Executing a bake Plan (see run.hpp).
#include "bake/run.hpp"

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <semaphore>

#include "cas/image.hpp"
#include "context/context.hpp"
#include "sys/error.hpp"

namespace bake {

using sys::Code;
using sys::Error;

namespace {

class PrefixProgress : public builder::Progress {
public:
    PrefixProgress(builder::Progress& inner, std::string name, std::atomic<int>& next_id)
        : inner_(inner), prefix_("[" + std::move(name) + "] "), next_id_(next_id) {}
    void start(int id, const std::string& name) override { inner_.start(global(id), prefix_ + name); }
    void log(int id, const std::string& line) override { inner_.log(global(id), line); }
    void cached(int id) override { inner_.cached(global(id)); }
    void done(int id, int64_t ms) override { inner_.done(global(id), ms); }
    void error(int id, const std::string& message) override { inner_.error(global(id), prefix_ + message); }
    void phases(int id, const std::vector<std::pair<std::string, double>>& ms) override { inner_.phases(global(id), ms); }
    void info(const std::string& line) override { inner_.info(prefix_ + line); }
    void finish() override {}  // the shared progress finishes once, after every target

private:
    // Step ids are per build; in the shared output they are numbered across all targets.
    int global(int id) {
        std::lock_guard<std::mutex> l(mu_);
        auto [it, added] = ids_.try_emplace(id, 0);
        if (added) it->second = next_id_++;
        return it->second;
    }
    builder::Progress& inner_;
    std::string prefix_;
    std::atomic<int>& next_id_;
    std::mutex mu_;
    std::map<int, int> ids_;
};

std::string where(const Target& t, const std::string& key) {
    auto it = t.where.find(key);
    return it == t.where.end() ? t.loc.str() : it->second.str();
}

// Without RegistryHooks a target that asks for the registry is an error naming the key, never
// silently a local-only build.
void check_no_registry(const Target& t, bool push) {
    auto unsupported = [&](const std::string& key, const std::string& at) {
        sys::fail(Code::InvalidInput, at + ": " + key + " needs the registry support of the imgbuild command");
    };
    if (push) unsupported("--push", "imgbuild bake: target \"" + t.name + "\"");
    if (!t.cache_to.empty()) unsupported("cache-to", located(t, "cache-to"));
    if (!t.cache_from.empty()) unsupported("cache-from", located(t, "cache-from"));
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

}  // namespace

std::string located(const Target& t, const std::string& key) { return where(t, key) + ": target \"" + t.name + "\""; }

std::unique_ptr<builder::Progress> prefixed_progress(builder::Progress& inner, const std::string& name,
                                                     std::atomic<int>& next_id) {
    return std::make_unique<PrefixProgress>(inner, name, next_id);
}

builder::BuildOptions build_options(const Target& t, const RunOptions& ro) {
    builder::BuildOptions o = ro.base;
    o.context_dir = t.context;
    o.buildfile = t.file;
    o.tags = t.tags;
    o.build_args = t.args;
    o.labels = t.labels;
    o.target = t.stage;
    o.no_cache = ro.base.no_cache || t.no_cache;
    if (t.network == "host") o.network = runtime::Network::Host;
    else if (!t.network.empty()) o.network = runtime::Network::None;
    auto at = [&](const std::string& key) { return located(t, key); };
    for (const auto& s : t.outputs) {
        try {
            o.outputs.push_back(builder::parse_output_spec(s));
        } catch (const Error& e) {
            throw e.wrap(at("output"));
        }
    }
    for (const auto& s : t.secrets) {
        try {
            o.secrets.push_back(builder::parse_secret_spec(s));
        } catch (const Error& e) {
            throw e.wrap(at("secret"));
        }
    }
    if (ro.registry.prepare) ro.registry.prepare(t, ro.push, o);
    else check_no_registry(t, ro.push);
    return o;
}

namespace {

// One bake run: the targets' threads share this.
class Runner {
public:
    Runner(cas::Store& store, const Plan& plan, const RunOptions& ro, builder::Progress& progress,
           std::vector<builder::BuildOptions> opts)
        : store_(store), plan_(plan), ro_(ro), progress_(progress), opts_(std::move(opts)), results_(plan.targets.size()),
          slots_(std::min(ro.jobs > 0 ? ro.jobs : int(std::max<size_t>(1, plan.targets.size())), 1024)) {
        for (size_t i = 0; i < plan.targets.size(); i++) index_[plan.targets[i].name] = i;
    }

    std::vector<TargetResult> run() {
        size_t n = plan_.targets.size();
        std::vector<std::promise<void>> built(n);
        std::vector<std::shared_future<void>> built_f(n);
        for (size_t i = 0; i < n; i++) built_f[i] = built[i].get_future().share();
        std::vector<std::future<void>> done;
        for (size_t i = 0; i < n; i++) {
            std::vector<std::shared_future<void>> deps;
            for (const auto& d : plan_.targets[i].depends) deps.push_back(built_f.at(index_.at(d)));
            done.push_back(std::async(std::launch::async, [this, i, deps, &built] {
                for (auto& d : deps) d.wait();
                target(i, built[i]);
            }));
        }
        for (auto& f : done) f.wait();
        return std::move(results_);
    }

private:
    // Builds target i once its dependencies are built; `built` is set when its image exists (or
    // it failed), before its cache export and push.
    void target(size_t i, std::promise<void>& built) {
        struct SetOnce {
            std::promise<void>& p;
            bool set = false;
            void operator()() {
                if (!set) p.set_value();
                set = true;
            }
            ~SetOnce() { (*this)(); }
        } release_dependents{built};
        const Target& t = plan_.targets[i];
        builder::BuildOptions o = opts_[i];
        {
            std::lock_guard<std::mutex> l(mu_);
            results_[i].name = t.name;
            for (const auto& d : t.depends) {
                if (results_[index_.at(d)].built) continue;
                results_[i].error = "not built: target \"" + d + "\" it depends on failed";
                results_[i].dependency_failed = true;
                results_[i].code = Code::Cancelled;
                progress_.info("[" + t.name + "] " + results_[i].error);
                return;
            }
            for (const auto& [name, dep] : t.context_targets)
                o.named_contexts.insert_or_assign(name, results_[index_.at(dep)].result.manifest.digest);
        }
        auto p = prefixed_progress(progress_, t.name, next_step_id_);
        TargetResult r;
        r.name = t.name;
        slots_.acquire();
        try {
            r.result = builder::build(store_, o, *p);
            r.built = true;
            std::string tags;
            for (const auto& tag : r.result.tags) tags += " " + tag;
            p->info("writing image " + r.result.manifest.digest.str() + (tags.empty() ? "" : " naming" + tags));
        } catch (const Error& e) {
            r.error = e.what();
            r.code = e.code();
            p->info("ERROR: " + first_line(r.error));
        } catch (const std::exception& e) {
            r.error = e.what();
            p->info("ERROR: " + first_line(r.error));
        }
        slots_.release();
        {
            std::lock_guard<std::mutex> l(mu_);
            results_[i] = r;
        }
        release_dependents();
        if (r.built && ro_.registry.publish) publish(i, *p);
    }

    void publish(size_t i, builder::Progress& p) {
        std::map<std::string, std::string> pushed;
        std::string error;
        Code code = Code::Internal;
        try {
            pushed = ro_.registry.publish(plan_.targets[i], ro_.push, results_[i].result, p);
        } catch (const Error& e) {
            error = e.what();
            code = e.code();
        } catch (const std::exception& e) {
            error = e.what();
        }
        if (!error.empty()) p.info("ERROR: " + first_line(error));
        std::lock_guard<std::mutex> l(mu_);
        results_[i].pushed = std::move(pushed);
        results_[i].publish_error = error;
        results_[i].publish_code = code;
    }

    cas::Store& store_;
    const Plan& plan_;
    const RunOptions& ro_;
    builder::Progress& progress_;
    std::vector<builder::BuildOptions> opts_;
    std::vector<TargetResult> results_;
    std::map<std::string, size_t> index_;
    std::mutex mu_;  // guards results_ while targets run
    std::atomic<int> next_step_id_{1};
    std::counting_semaphore<1024> slots_;
};

}  // namespace

std::vector<TargetResult> run(cas::Store& store, const Plan& plan, const RunOptions& run_opts, builder::Progress& progress) {
    // Targets with the same context share its stat cache: each file is hashed once.
    RunOptions ro = run_opts;
    if (!ro.base.statcaches) ro.base.statcaches = std::make_shared<context::StatCacheSet>();
    // Every target's options are checked before anything builds.
    std::vector<builder::BuildOptions> opts;
    for (const auto& t : plan.targets) opts.push_back(build_options(t, ro));
    // Images named by contexts: {NAME: REF} are looked up once, up front.
    for (size_t i = 0; i < plan.targets.size(); i++)
        for (const auto& [name, ref] : plan.targets[i].context_images) {
            try {
                opts[i].named_contexts.emplace(name, cas::resolve_image(store, ref).manifest_digest);
            } catch (const Error& e) {
                throw e.wrap(located(plan.targets[i], "contexts") + ": contexts." + name);
            }
        }
    std::vector<TargetResult> results = Runner(store, plan, ro, progress, std::move(opts)).run();
    for (const auto& [dir, st] : ro.base.statcaches->stats())
        if (st.hits + st.misses + st.racy > 0)
            progress.info("context " + dir + ": " + std::to_string(st.misses + st.racy) + " files hashed, " +
                          std::to_string(st.hits) + " from the stat cache");
    return results;
}

}  // namespace bake
