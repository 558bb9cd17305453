// Executing a bake Plan: every target is a builder::build in this process (one store, one
// cache, one stat cache per context), independent targets at the same time, each after the
// targets it depends on. A target's `contexts: {NAME: "target:X"}` hands X's result image to
// its build by manifest digest (BuildOptions::named_contexts). Progress lines are prefixed
// with "[target] ".
#pragma once
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bake/bake.hpp"
#include "builder/progress.hpp"
#include "builder/solver.hpp"
#include "cas/store.hpp"
#include "sys/error.hpp"

namespace bake {

// The registry side of a bake (cli/ has it: base image pulls, the remote build cache, push).
// Without hooks, a target that asks for push / cache-to / cache-from is an error naming the key.
struct RegistryHooks {
    // Per target, before anything builds (every target is checked first): fills the target's
    // BuildOptions (base image resolver, remote cache lookup for cache-from) and checks its
    // cache-to / cache-from specs and --push. Throws naming the key (see located()).
    std::function<void(const Target&, bool push, builder::BuildOptions&)> prepare;
    // After a target built, in its thread (targets that depend on it already run): exports its
    // build cache to each cache-to and, with --push, pushes each tag. Returns pushed ref -> digest.
    std::function<std::map<std::string, std::string>(const Target&, bool push, const builder::BuildResult&,
                                                      builder::Progress&)>
        publish;
};

struct RunOptions {
    builder::BuildOptions base;  // limits, network, compression, source date epoch, no_cache
    bool push = false;
    int jobs = 0;  // targets built at once; 0 = all independent targets
    RegistryHooks registry;
};

struct TargetResult {
    std::string name;
    bool built = false;
    builder::BuildResult result;
    std::string error;  // when not built
    sys::Code code = sys::Code::Internal;  // of the error
    bool dependency_failed = false;       // not built because a target it depends on failed (Code::Cancelled)
    std::map<std::string, std::string> pushed;  // registry ref -> pushed manifest digest
    std::string publish_error;                  // built, but cache-to or push failed
    sys::Code publish_code = sys::Code::Internal;
    bool ok() const { return built && publish_error.empty(); }
};

// "FILE:LINE:COL: target \"NAME\"" for the place KEY was set in target t (its own place if
// KEY was inherited or not set), to prefix errors about that key.
std::string located(const Target& t, const std::string& key);

// The BuildOptions of one target (RegistryHooks::prepare applied). Throws naming the key and
// its file:line:column; without hooks, for push / cache-to / cache-from.
builder::BuildOptions build_options(const Target& t, const RunOptions& o);

// Builds the plan; results in plan order. Failed targets (and the targets that depend on
// them) have built == false and an error; independent targets still finish. A target's
// dependents start when it is built, while its cache export and push still run.
std::vector<TargetResult> run(cas::Store& store, const Plan& plan, const RunOptions& o, builder::Progress& progress);

// Progress of one target inside a shared Progress: names and lines prefixed "[name] ", step
// ids renumbered from next_id (shared by all targets).
std::unique_ptr<builder::Progress> prefixed_progress(builder::Progress& inner, const std::string& name,
                                                     std::atomic<int>& next_id);

}  // namespace bake
