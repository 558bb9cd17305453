// Executing a bake Plan (see run.hpp).
#include "bake/run.hpp"

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <semaphore>

#include "cas/image.hpp"
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

[[noreturn]] void unsupported(const Target& t, const std::string& key, const std::string& at) {
    throw Error(Code::InvalidInput, at + ": target \"" + t.name + "\": " + key +
                                        " is not supported yet by this imgbuild (registry push and remote cache are not built in)");
}

// The registry work adds push / cache_to / cache_from to BuildOptions; until then a target
// that asks for them is an error naming the key, never silently a local-only build.
template <typename O>
void set_registry_options(O& o, const Target& t, bool push) {
    if (push) {
        if constexpr (requires { o.push = true; }) o.push = true;
        else unsupported(t, "--push", "imgbuild bake");
    }
    if (!t.cache_to.empty()) {
        if constexpr (requires { o.cache_to = t.cache_to; }) o.cache_to = t.cache_to;
        else unsupported(t, "cache-to", where(t, "cache-to"));
    }
    if (!t.cache_from.empty()) {
        if constexpr (requires { o.cache_from = t.cache_from; }) o.cache_from = t.cache_from;
        else unsupported(t, "cache-from", where(t, "cache-from"));
    }
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

}  // namespace

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
    auto at = [&](const std::string& key) { return where(t, key) + ": target \"" + t.name + "\""; };
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
    set_registry_options(o, t, ro.push);
    return o;
}

std::vector<TargetResult> run(cas::Store& store, const Plan& plan, const RunOptions& ro, builder::Progress& progress) {
    // Every target's options are checked before anything builds.
    std::vector<builder::BuildOptions> opts;
    for (const auto& t : plan.targets) opts.push_back(build_options(t, ro));
    // Images named by contexts: {NAME: REF} are looked up once, up front.
    for (size_t i = 0; i < plan.targets.size(); i++)
        for (const auto& [name, ref] : plan.targets[i].context_images) {
            try {
                opts[i].named_contexts.emplace(name, cas::resolve_image(store, ref).manifest_digest);
            } catch (const Error& e) {
                throw e.wrap(where(plan.targets[i], "contexts") + ": target \"" + plan.targets[i].name + "\": contexts." + name);
            }
        }

    std::vector<TargetResult> results(plan.targets.size());
    std::map<std::string, size_t> index;
    for (size_t i = 0; i < plan.targets.size(); i++) index[plan.targets[i].name] = i;
    std::mutex mu;  // guards results while targets run
    std::atomic<int> next_step_id{1};
    int jobs = ro.jobs > 0 ? ro.jobs : int(std::max<size_t>(1, plan.targets.size()));
    std::counting_semaphore<1024> slots(std::min(jobs, 1024));
    std::vector<std::shared_future<void>> futures(plan.targets.size());
    for (size_t i = 0; i < plan.targets.size(); i++) {
        const Target& t = plan.targets[i];
        std::vector<std::shared_future<void>> deps;
        for (const auto& d : t.depends) deps.push_back(futures.at(index.at(d)));  // plan order: deps come first
        futures[i] = std::async(std::launch::async, [&, i, deps] {
                         const Target& t = plan.targets[i];
                         for (auto& d : deps) d.wait();
                         builder::BuildOptions o = opts[i];
                         {
                             std::lock_guard<std::mutex> l(mu);
                             results[i].name = t.name;
                             for (const auto& d : t.depends) {
                                 const TargetResult& dr = results[index.at(d)];
                                 if (!dr.built) {
                                     results[i].error = "not built: target \"" + d + "\" it depends on failed";
                                     results[i].dependency_failed = true;
                                     results[i].code = Code::Cancelled;
                                     progress.info("[" + t.name + "] " + results[i].error);
                                     return;
                                 }
                             }
                             for (const auto& [name, dep] : t.context_targets)
                                 o.named_contexts.insert_or_assign(name, results[index.at(dep)].result.manifest.digest);
                         }
                         slots.acquire();
                         auto p = prefixed_progress(progress, t.name, next_step_id);
                         TargetResult r;
                         r.name = t.name;
                         try {
                             r.result = builder::build(store, o, *p);
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
                         slots.release();
                         std::lock_guard<std::mutex> l(mu);
                         results[i] = std::move(r);
                     }).share();
    }
    for (auto& f : futures) f.wait();
    return results;
}

}  // namespace bake
