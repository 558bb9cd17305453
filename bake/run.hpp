// Executing a bake Plan: every target is a builder::build in this process (one store, one
// cache, one stat cache per context), independent targets at the same time, each after the
// targets it depends on. A target's `contexts: {NAME: "target:X"}` hands X's result image to
// its build by manifest digest (BuildOptions::named_contexts). Progress lines are prefixed
// with "[target] ".
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "bake/bake.hpp"
#include "builder/progress.hpp"
#include "builder/solver.hpp"
#include "cas/store.hpp"
#include "sys/error.hpp"

namespace bake {

struct RunOptions {
    builder::BuildOptions base;  // limits, network, compression, source date epoch, no_cache
    bool push = false;
    int jobs = 0;  // targets built at once; 0 = all independent targets
};

struct TargetResult {
    std::string name;
    bool built = false;
    builder::BuildResult result;
    std::string error;  // when not built
    sys::Code code = sys::Code::Internal;  // of the error
    bool dependency_failed = false;       // not built because a target it depends on failed (Code::Cancelled)
};

// The BuildOptions of one target. Throws (naming the key and its file:line:column) for what
// this build of imgbuild cannot do yet (cache-to/cache-from/push before registry support).
builder::BuildOptions build_options(const Target& t, const RunOptions& o);

// Builds the plan; results in plan order. Failed targets (and the targets that depend on
// them) have built == false and an error; independent targets still finish.
std::vector<TargetResult> run(cas::Store& store, const Plan& plan, const RunOptions& o, builder::Progress& progress);

// Progress of one target inside a shared Progress: names and lines prefixed "[name] ", step
// ids renumbered from next_id (shared by all targets).
std::unique_ptr<builder::Progress> prefixed_progress(builder::Progress& inner, const std::string& name,
                                                     std::atomic<int>& next_id);

}  // namespace bake
