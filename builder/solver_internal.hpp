// Shared between the solver's files (solver.cpp: stages and metadata instructions;
// solver_run.cpp: RUN; solver_copy.cpp: COPY/ADD; solver_output.cpp: image and outputs).
#pragma once
#include <chrono>
#include <nlohmann/json.hpp>

#include <atomic>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "builder/cache.hpp"
#include "context/context.hpp"
#include "layers/rootfs.hpp"
#include "builder/solver.hpp"
#include "frontend/history.hpp"
#include "frontend/stages.hpp"
#include "cas/image.hpp"
#include "layers/snapshotter.hpp"

namespace builder {

// The solver executes the front end's instructions against the build context.
using namespace frontend;
using namespace context;
using layers::MountedRoot;

// What a stage has built so far.
struct StageState {
    int index = 0;
    std::string label;                  // name, or the index as text
    cas::ImageConfig config;            // env, user, workdir, ..., history, diff_ids
    std::vector<cas::Descriptor> layers;  // one per diff_id
    std::string key;                    // rolling cache key of the last step
    ShellLex::Env args;                 // ARGs declared in this stage (with values)
    std::vector<std::string> arg_order; // their names in declaration order (RUN history text)
    // ARGs declared (with a value) after the stage's last ENV of the same name: BuildKit keeps
    // one environment that ARG and ENV both write, so there the later one wins for RUN and
    // expansion, while the image config keeps the ENV value.
    std::set<std::string> arg_over_env;
    std::vector<std::string> shell = {"/bin/sh", "-c"};
    bool cmd_set = false;               // CMD set in this stage (ENTRYPOINT keeps it)
    int step_total = 0, step_no = 0;    // for "[stage 2/5]"
    std::vector<Instruction> onbuild;   // the base image's ONBUILD triggers, run first
    // Time stamp of the newest history entry: a cached step keeps the time it first ran,
    // a metadata step takes its parent's, so a fully cached rebuild gives the same digest.
    std::string created;
};

// One step's cache bookkeeping, filled by the RUN/COPY executors.
// Sub-step timings of one step (ms), in order: `--progress json` reports them so a slow
// step can be located (resolve, mount, spawn, wait / copy, diff, commit, record).
struct PhaseClock {
    std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
    std::vector<std::pair<std::string, double>> phases;
    // The time since the previous mark is phase `name`.
    void mark(const std::string& name) { split(name, -1, ""); }
    // The time since the previous mark: `first` took first_ms of it, `rest` the remainder.
    void split(const std::string& first, double first_ms, const std::string& rest) {
        auto now = std::chrono::steady_clock::now();
        double ms = double(std::chrono::duration_cast<std::chrono::microseconds>(now - last).count()) / 1000.0;
        last = now;
        if (first_ms < 0 || first_ms > ms) {
            phases.emplace_back(first, ms);
            return;
        }
        phases.emplace_back(first, first_ms);
        phases.emplace_back(rest, ms - first_ms);
    }
};

// What a filesystem step (RUN, COPY/ADD, WORKDIR) produced. The executors take the stage
// state read-only and return this; Solver::apply_step applies it to the stage in one place
// (the key, the layer, the history entry, the step report).
struct StepOutcome {
    std::string key;                // the step's cache key: the stage's key after it
    std::optional<LayerRef> layer;  // the new layer (nullopt: no file changes)
    PhaseClock clock;
    bool cached = false;
    int64_t created = -1;  // unix seconds the step first ran (a hit); -1: now
    std::string miss_reason;
    uint64_t peak_memory = 0, cpu_ns = 0;
    // On a miss: this step's claim on its key while it runs (see Solver::lookup).
    std::shared_ptr<void> in_flight;
};

class Solver {
public:
    Solver(cas::Store& store, const BuildOptions& opts, Progress& progress);
    BuildResult run();

    // --- used by the step executors ---
    cas::Store& store;
    const BuildOptions& opts;
    Progress& progress;
    layers::Snapshotter snaps;
    Cache cache;
    BuildfileAST ast;
    BuildPlan plan;
    ShellLex lex;
    std::optional<Context> context;
    std::shared_ptr<SharedStatCache> statcache;  // the context's, with its lock (shared in a bake)
    std::string buildfile_path;  // as opened
    std::string buildfile_name;  // for messages ("Buildfile")

    // Variables for expanding a stage's instruction words: ARGs in scope, then ENV.
    ShellLex::Env expansion_env(const StageState& st) const;
    // The environment of a RUN: image ENV + ARGs in scope (+ proxy build-args).
    std::vector<std::string> run_env(const StageState& st) const;
    // Make sure the stage's layers are unpacked; returns the top chain key ("" = empty root).
    std::string chain_of(const StageState& st);
    // A finished stage (COPY --from / RUN --mount from / FROM stage).
    std::shared_ptr<const StageState> finished_stage(int index);
    cas::Image image(const std::string& ref);
    // Time stamps for config/history: SOURCE_DATE_EPOCH, else `unix_seconds` (now if < 0), RFC 3339.
    std::string timestamp(int64_t unix_seconds = -1) const;
    std::string where(const Instruction& in) const;
    sys::SourceLoc loc(const Instruction& in) const;
    // The stage or image a step's --from (mount: its index) names: the planner's resolution;
    // ONBUILD triggers (not planned) resolve here.
    StageRef from_ref(const StageState& st, size_t idx, const std::string& value,
                      std::optional<size_t> mount = std::nullopt) const;
    // Look up / record a step: on a hit the outcome is filled and true is returned.
    // `inputs` is only evaluated on a miss (to explain it).
    bool lookup(const std::string& step_id, const std::function<nlohmann::json()>& inputs, const cas::Digest& key,
                StepOutcome& out);
    // The cache record is written at once; the inputs kept for `cache explain` (20,000 file
    // digests for a big COPY) are written on their own thread while the build goes on, and
    // waited for before the build ends (wait_for_saves).
    void record(const std::string& step_id, nlohmann::json inputs, const cas::Digest& key,
                const Instruction& in, StepOutcome& out, int64_t duration_ms);
    void wait_for_saves();
    std::string step_identity(const StageState& st, size_t instruction_index) const;
    // After a step ran in `root`: diff its upper dir into a layer (out.layer; none if nothing
    // changed) and commit the snapshot under the new chain key.
    void snapshot_layer(MountedRoot& root, const StageState& st, StepOutcome& out);
    // The /etc/resolv.conf and /etc/hosts every RUN binds read-only (sandbox_files, hostname
    // buildkitsandbox): written once per build and network into a store temp dir, as (target,
    // host file) pairs. Files written per RUN cost ~0.25 ms of file creation each step.
    std::vector<std::pair<std::string, std::string>> etc_files(bool host_network);
    std::atomic<bool> failed{false};

private:
    std::mutex etc_mu_;
    std::optional<sys::TempDir> etc_dir_;
    std::map<bool, std::vector<std::pair<std::string, std::string>>> etc_files_;
    std::mutex saves_mu_;
    std::vector<std::future<void>> saves_;
    void solve_stage(int index);
    void init_from(StageState& st, const Stage& stage);
    void queue_onbuild(StageState& st, const Stage& stage, const std::vector<std::string>& triggers,
                       const std::string& base);
    void apply_instruction(StageState& st, const Instruction& raw, size_t idx);
    void apply_step(StageState& st, const Instruction& raw, size_t idx);
    void apply_metadata(StageState& st, const Instruction& in);
    void add_layer(StageState& st, const Instruction& in, const StepOutcome& out);
    void add_empty_history(StageState& st, const std::string& created_by);
    HistoryState history_state(const StageState& st) const;

    std::atomic<int> next_step_{1};
    std::mutex mu_;  // guards the maps below
    std::map<int, std::shared_ptr<const StageState>> done_;
    std::map<std::string, cas::Image> images_;
    std::vector<StepReport> reports_;
};

// Executors (solver_run.cpp / solver_copy.cpp): resolve the key's inputs (builder/step_inputs.hpp),
// hit or run, and fill `out`; the stage state is only read (the solver applies `out`). The
// Solver gives them the store, the cache and the build's options.
void execute_run(Solver& s, const StageState& st, const Instruction& in, size_t idx, int step_id, StepOutcome& out);
void execute_copy_step(Solver& s, const StageState& st, const Instruction& in, size_t idx, int step_id,
                       StepOutcome& out);
// WORKDIR on a path other than "/": BuildKit's mkdir -p of the (already set) working dir,
// owned by the stage's USER, committed as its own layer.
void execute_workdir_step(Solver& s, const StageState& st, const Instruction& in, size_t idx, StepOutcome& out);

// Final image, tags and outputs (solver_output.cpp).
BuildResult finish_build(Solver& s, const StageState& final_stage, std::vector<StepReport> reports);

}  // namespace builder
