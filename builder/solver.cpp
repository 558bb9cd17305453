#include "builder/solver.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include <chrono>
#include <condition_variable>
#include <set>
#include <ctime>
#include <future>
#include <semaphore>
#include <thread>

#include "builder/solver_internal.hpp"
#include "builder/step_inputs.hpp"
#include "layers/layer.hpp"
#include "runtime/spec.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/path.hpp"
#include "sys/env.hpp"

namespace builder {

using nlohmann::json;
using sys::Code;
using sys::Error;

std::string find_buildfile(const std::string& context_dir, const std::string& flag) {
    if (!flag.empty()) {
        if (flag == "-") sys::fail(Code::InvalidInput, "-f -: reading the Buildfile from stdin is not supported yet");
        return flag;
    }
    for (const char* n : {"Buildfile", "Dockerfile"}) {
        std::string p = sys::path_join(context_dir, n);
        if (sys::exists(p)) return p;
    }
    sys::fail(Code::NotFound, "no Buildfile or Dockerfile in " + context_dir + " (use -f FILE)");
}

static std::string base_name(const std::string& p) {
    auto pos = p.find_last_of('/');
    return pos == std::string::npos ? p : p.substr(pos + 1);
}

static std::atomic<int> g_cancel_signal{0};

static void on_build_signal(int sig) {
    g_cancel_signal.store(sig);
    runtime::forward_signal(sig);  // async-signal-safe
}

void install_build_signal_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_build_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::sigaction(sig, &sa, nullptr);
}

Solver::Solver(cas::Store& store_, const BuildOptions& opts_, Progress& progress_)
    : store(store_), opts(opts_), progress(progress_), snaps(store_), cache(store_) {}

std::string Solver::where(const Instruction& in) const { return in.loc.file + ":" + std::to_string(in.loc.start_line); }
sys::SourceLoc Solver::loc(const Instruction& in) const { return {in.loc.file, in.loc.start_line}; }

StageRef Solver::from_ref(const StageState& st, size_t idx, const std::string& value, std::optional<size_t> mount) const {
    const PlannedStage& ps = plan.stages.at(size_t(st.index));
    const StageRef* planned = nullptr;
    if (mount) {
        if (auto it = ps.mount_from.find({idx, *mount}); it != ps.mount_from.end()) planned = &it->second;
    } else if (auto it = ps.copy_from.find(idx); it != ps.copy_from.end()) {
        planned = &it->second;
    }
    StageRef here = resolve_stage_ref(ast, value, st.index, true);
    if (!planned) return here;  // an ONBUILD trigger of a base image: not planned
    // The plan built what it resolved; a value the step expands differently (a variable set
    // only by the base image's ENV, unknown when the build was planned) must not silently
    // take another stage's files.
    if (here.stage != planned->stage || here.image != planned->image)
        sys::fail(Code::InvalidInput, "--from=" + value + ": the variable in it expanded differently when the build "
                                      "was planned (from the Buildfile alone); a value set by the base image's ENV "
                                      "cannot name a stage, use an ARG");
    return *planned;
}

std::string Solver::timestamp(int64_t unix_seconds) const {
    std::time_t t = opts.source_date_epoch ? std::time_t(*opts.source_date_epoch)
                    : unix_seconds >= 0    ? std::time_t(unix_seconds)
                                           : std::time(nullptr);
    struct tm tm;
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

using sys::env_map;

ShellLex::Env Solver::expansion_env(const StageState& st) const {
    ShellLex::Env e = st.args;
    for (auto& [k, v] : env_map(st.config.config.env))
        if (!st.arg_over_env.count(k)) e[k] = v;  // ENV wins over an ARG declared before it
    return e;
}

std::vector<std::string> Solver::run_env(const StageState& st) const {
    std::vector<std::string> env = st.config.config.env;
    auto have = env_map(env);
    for (const auto& k : st.arg_over_env)  // in place: the ENV's position, the ARG's value
        if (auto a = st.args.find(k); a != st.args.end() && have.count(k)) sys::env_set(env, k, a->second);
    for (auto& [k, v] : st.args)
        if (!have.count(k)) env.push_back(k + "=" + v);
    for (auto& [k, v] : opts.build_args)
        if (is_predefined_arg(k) && !have.count(k) && !st.args.count(k)) env.push_back(k + "=" + v);
    return env;
}

std::string Solver::step_identity(const StageState& st, size_t idx) const {
    return "ctx=" + (context ? context->path() : std::string()) + "\nfile=" + buildfile_path +
           "\nstage=" + std::to_string(st.index) + "\nstep=" + std::to_string(idx);
}

// Steps with the same key running at once in this process (stages of one build, the targets
// of `imgbuild bake`) run once: a miss claims the key until its step is done, and a miss on a
// claimed key waits for the claim to go, then looks again (a hit, unless the step failed).
namespace {
std::mutex g_in_flight_mu;
std::condition_variable g_in_flight_cv;
std::set<std::string> g_in_flight;

struct InFlightClaim {
    std::string key;
    ~InFlightClaim() {
        std::lock_guard<std::mutex> l(g_in_flight_mu);
        g_in_flight.erase(key);
        g_in_flight_cv.notify_all();
    }
};
}  // namespace

bool Solver::lookup(const std::string& step_id, const std::function<json()>& inputs, const cas::Digest& key,
                    StepOutcome& out) {
    while (!opts.no_cache) {
        auto rec = cache.lookup(key);
        if (!rec && opts.remote_cache) rec = opts.remote_cache(key);
        if (rec) {
            out.in_flight.reset();
            out.cached = true;
            out.layer = rec->layer;
            out.created = rec->created;
            if (!opts.explain_only) cache.touch(*rec);
            return true;
        }
        if (opts.explain_only || out.in_flight) break;
        std::unique_lock<std::mutex> l(g_in_flight_mu);
        if (g_in_flight.insert(key.str()).second) {
            auto claim = std::make_shared<InFlightClaim>();
            claim->key = key.str();
            out.in_flight = std::move(claim);
            continue;  // claimed: look once more (it may have been recorded just now)
        }
        g_in_flight_cv.wait(l, [&] { return g_in_flight.count(key.str()) == 0; });
    }
    if (opts.no_cache) out.miss_reason = "--no-cache";
    else if (auto prev = cache.last_inputs(step_id)) out.miss_reason = explain_difference(*prev, inputs());
    else out.miss_reason = "no previous build of this step";
    if (out.miss_reason.empty()) out.miss_reason = "cache record or its layer is gone (pruned)";
    return false;
}

void Solver::record(const std::string& step_id, json inputs, const cas::Digest& key, const Instruction& in,
                    StepOutcome& out, int64_t duration_ms) {
    CacheRecord rec{key, out.layer, created_by(in), where(in) + " " + in.original};
    rec.created = rec.last_used = out.created = int64_t(std::time(nullptr));
    rec.duration_ms = duration_ms;
    cache.put(rec);
    constexpr size_t kSaveAsideFiles = 1000;  // below this a thread costs more than the write
    if (inputs.contains("files") && inputs.at("files").size() >= kSaveAsideFiles) {
        auto save = std::async(std::launch::async, [this, step_id, in = std::move(inputs)] { cache.save_inputs(step_id, in); });
        std::lock_guard<std::mutex> l(saves_mu_);
        saves_.push_back(std::move(save));
    } else {
        cache.save_inputs(step_id, inputs);
    }
    out.clock.mark("record");
}

void Solver::wait_for_saves() {
    std::vector<std::future<void>> saves;
    {
        std::lock_guard<std::mutex> l(saves_mu_);
        saves.swap(saves_);
    }
    std::exception_ptr first;
    for (auto& f : saves) {
        try {
            f.get();
        } catch (...) {
            if (!first) first = std::current_exception();
        }
    }
    if (first) std::rethrow_exception(first);
}

void Solver::snapshot_layer(MountedRoot& root, const StageState& st, StepOutcome& out) {
    root.unmount();
    layers::DiffOptions dopts;
    dopts.compression = layers::Compression::None;  // compressed once, on export
    dopts.source_date_epoch = opts.source_date_epoch;
    dopts.durable = false;  // no fsync of layer data on the build path (a crash loses a cache entry)
    layers::LayerBlob lb = layers::diff_upper(store, root.upper_dir(), dopts);
    out.clock.mark("diff");
    // An empty diff still makes a layer (an empty tar), as BuildKit's docker exporter keeps it:
    // layer counts and history match `docker build`.
    out.layer = LayerRef{lb.digest, lb.diff_id, lb.size, lb.media_type};
    std::vector<cas::Digest> ids = st.config.diff_ids;
    ids.push_back(lb.diff_id);
    // The diff walked every entry of this upper dir (unmounted: nothing writes to it any more).
    root.commit(layers::chain_id(ids).str(),
                lb.entries_only_layer_content ? layers::StripScope::DirItself : layers::StripScope::Everything);
    out.clock.mark("commit");
}

std::string Solver::chain_of(const StageState& st) {
    std::vector<cas::Digest> blobs;
    for (auto& l : st.layers) blobs.push_back(l.digest);
    return unpack_chain(store, snaps, blobs, st.config.diff_ids);
}

cas::Image Solver::image(const std::string& ref) {
    {
        std::lock_guard<std::mutex> l(mu_);
        auto it = images_.find(ref);
        if (it != images_.end()) return it->second;
    }
    auto named = opts.named_contexts.find(ref);
    cas::Image img = named != opts.named_contexts.end() ? cas::load_image(store, named->second)
                     : opts.resolve_image                ? opts.resolve_image(store, ref)
                                                         : cas::resolve_image(store, ref);
    std::lock_guard<std::mutex> l(mu_);
    images_.emplace(ref, img);
    return img;
}

std::shared_ptr<const StageState> Solver::finished_stage(int index) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = done_.find(index);
    if (it == done_.end()) sys::fail(Code::Internal, "stage " + std::to_string(index) + " used before it was built");
    return it->second;
}

void Solver::init_from(StageState& st, const Stage& stage) {
    const PlannedStage& ps = plan.stages.at(size_t(stage.index));
    if (!ps.platform.empty() && ps.platform != host_platform().str())
        sys::fail(Code::InvalidInput, "FROM --platform=" + ps.platform +
                                            ": only the host platform (" + host_platform().str() + ") can be built");
    if (ps.base.stage >= 0) {
        auto parent = finished_stage(ps.base.stage);
        st.config = parent->config;
        st.layers = parent->layers;
        st.key = parent->key;
        st.shell = parent->shell;
        st.created = parent->created;
        // FROM another stage runs that stage's ONBUILD triggers too, as BuildKit does.
        std::vector<std::string> triggers = std::move(st.config.config.on_build);
        st.config.config.on_build.clear();
        queue_onbuild(st, stage, triggers, parent->label);
        return;
    }
    if (ps.base.image == "scratch") {
        st.config = cas::ImageConfig{};
        st.config.architecture = host_platform().arch;
        st.config.raw = json::object();
        // BuildKit's empty image (dockerfile2llb emptyImage): PATH and WorkingDir "/" are set.
        st.config.config.env = {std::string("PATH=") + runtime::kDefaultPath};
        st.config.config.working_dir = "/";
        st.key = cas::Digest::of("scratch").str();
        return;
    }
    cas::Image img;
    try {
        img = image(ps.base.image);
    } catch (const Error& e) {
        throw e.wrap("FROM " + ps.base.image);
    }
    st.config = img.config;
    // A base whose history is shorter than its layers (valid OCI: history is optional) gets
    // an entry per unaccounted layer, in front, so the image this build writes keeps one
    // non-empty entry per layer (BuildKit pads such histories too, at the end).
    size_t described = 0;
    for (const auto& h : st.config.history) described += h.empty_layer ? 0 : 1;
    if (described < img.manifest.layers.size()) {
        cas::HistoryEntry pad;
        pad.comment = "imgbuild: base image layer without history";
        st.config.history.insert(st.config.history.begin(), img.manifest.layers.size() - described, pad);
    }
    if (img.config.created) st.created = *img.config.created;
    st.config.config.on_build.clear();  // triggers run in this build, they are not inherited
    st.layers = img.manifest.layers;
    st.key = img.manifest_digest.str();
    if (img.config.config.shell) st.shell = *img.config.config.shell;
    queue_onbuild(st, stage, img.config.config.on_build, ps.base.image);
}

// The base's ONBUILD triggers run first, as docker does, located at the FROM line.
void Solver::queue_onbuild(StageState& st, const Stage& stage, const std::vector<std::string>& triggers,
                           const std::string& base) {
    for (const auto& trigger : triggers) {
        BuildfileAST t;
        try {
            t = parse_buildfile("FROM scratch\n" + trigger + "\n", buildfile_name);
        } catch (const Error& e) {
            sys::fail(Code::InvalidInput, "ONBUILD trigger \"" + trigger + "\" of " + base + ": " + e.what());
        }
        if (t.stages.size() != 1 || t.stages[0].instructions.size() != 1)
            sys::fail(Code::InvalidInput, "ONBUILD trigger \"" + trigger + "\" of " + base + ": not one instruction");
        Instruction in = t.stages[0].instructions[0];
        in.loc = stage.from.loc;
        st.onbuild.push_back(std::move(in));
    }
}

void Solver::add_layer(StageState& st, const Instruction& in, const StepOutcome& out) {
    cas::HistoryEntry h;
    h.created = st.created = timestamp(out.created);
    h.created_by = buildkit_created_by(in, history_state(st));
    h.comment = "imgbuild";
    if (out.layer) {
        cas::Descriptor d;
        d.media_type = out.layer->media_type;
        d.digest = out.layer->digest;
        d.size = out.layer->size;
        st.layers.push_back(d);
        st.config.diff_ids.push_back(out.layer->diff_id);
    } else {
        h.empty_layer = true;
    }
    st.config.history.push_back(h);
}

// BuildKit commits WORKDIR as a mkdir layer unless the path is "/".
static bool makes_workdir(const StageState& st, const Instruction& in) {
    return in.kind == Instruction::Kind::Workdir && st.config.config.working_dir != "/";
}

void Solver::add_empty_history(StageState& st, const std::string& text) {
    cas::HistoryEntry h;
    if (st.created.empty()) st.created = timestamp();
    h.created = st.created;
    h.created_by = text;
    h.comment = "imgbuild";
    h.empty_layer = true;
    st.config.history.push_back(h);
}

HistoryState Solver::history_state(const StageState& st) const {
    HistoryState hs;
    hs.shell = st.shell;
    hs.workdir = st.config.config.working_dir;
    const auto env = env_map(st.config.config.env);
    for (const auto& k : st.arg_order) {
        auto a = st.args.find(k);
        auto e = env.find(k);
        bool arg_wins = a != st.args.end() && st.arg_over_env.count(k);
        std::string v = e != env.end() && !arg_wins ? e->second : a != st.args.end() ? a->second : "";
        hs.run_args.emplace_back(k, v);
    }
    return hs;
}

void Solver::apply_metadata(StageState& st, const Instruction& in) {
    auto& c = st.config.config;
    using K = Instruction::Kind;
    auto shell_or_json = [&](const Instruction& i) {
        if (i.json_form) return i.args;
        std::vector<std::string> v = st.shell;
        v.push_back(i.args.empty() ? "" : i.args[0]);
        return v;
    };
    switch (in.kind) {
        case K::Env:
            for (auto& kv : in.kvs) {
                sys::env_set(c.env, kv.key, kv.value);
                st.arg_over_env.erase(kv.key);
            }
            break;
        case K::Label:
            for (auto& kv : in.kvs) c.labels[kv.key] = kv.value;
            break;
        case K::Workdir: {
            std::string w = in.value;
            if (w.empty()) sys::fail(Code::InvalidInput, "WORKDIR requires a path");
            // BuildKit (NormalizeWorkdir): a relative path is joined to the current one and
            // cleaned ("/a" + "../b" = "/b"); an absolute one is kept as written.
            if (w[0] != '/') w = sys::clean_path(sys::path_join(c.working_dir.empty() ? "/" : c.working_dir, w));
            c.working_dir = w;
            break;
        }
        case K::User: c.user = in.value; break;
        case K::Expose:
            for (const auto& p : sys::with_context("EXPOSE", [&] { return expose_ports(in.args); })) {
                if (std::find(c.exposed_ports.begin(), c.exposed_ports.end(), p) == c.exposed_ports.end())
                    c.exposed_ports.push_back(p);
            }
            std::sort(c.exposed_ports.begin(), c.exposed_ports.end());
            break;
        case K::Volume:
            for (auto& v : in.args)
                if (std::find(c.volumes.begin(), c.volumes.end(), v) == c.volumes.end()) c.volumes.push_back(v);
            std::sort(c.volumes.begin(), c.volumes.end());
            break;
        case K::Cmd:
            c.cmd = shell_or_json(in);
            st.cmd_set = true;
            break;
        case K::Entrypoint:
            c.entrypoint = shell_or_json(in);
            if (!st.cmd_set) c.cmd.reset();  // docker: ENTRYPOINT resets a CMD inherited from the base
            break;
        case K::Shell:
            st.shell = in.args;
            c.shell = in.args;
            break;
        case K::Stopsignal: c.stop_signal = in.value; break;
        case K::Maintainer: st.config.author = in.value; break;
        case K::Onbuild: c.on_build.push_back(in.onbuild); break;
        case K::Healthcheck: {
            if (in.health.test.size() == 1 && in.health.test[0] == "NONE") {
                c.healthcheck = json{{"Test", json::array({"NONE"})}};
                break;
            }
            json h = {{"Test", in.health.test}};
            auto dur = [&](const std::string& v, const char* key) {
                if (!v.empty()) h[key] = parse_go_duration_ns(v);
            };
            dur(in.health.interval, "Interval");
            dur(in.health.timeout, "Timeout");
            dur(in.health.start_period, "StartPeriod");
            dur(in.health.start_interval, "StartInterval");
            if (!in.health.retries.empty()) h["Retries"] = std::stoi(in.health.retries);
            c.healthcheck = h;
            break;
        }
        default: sys::fail(Code::Internal, "not a metadata instruction: " + in.original);
    }
    std::string text = buildkit_created_by(in, history_state(st));
    if (!text.empty() && !makes_workdir(st, in)) add_empty_history(st, text);  // a WORKDIR step adds its own
    st.key = metadata_key(st, in);
}

// Every error of a step carries its Buildfile location, attached here once.
void Solver::apply_instruction(StageState& st, const Instruction& raw, size_t idx) {
    try {
        apply_step(st, raw, idx);
    } catch (const Error& e) {
        throw e.at(loc(raw));
    }
}

void Solver::apply_step(StageState& st, const Instruction& raw, size_t idx) {
    using K = Instruction::Kind;
    st.step_no++;
    if (raw.kind == K::Arg) {
        for (const auto& def : raw.arg_defs) {
            std::optional<std::string> val;
            if (auto it = opts.build_args.find(def.key); it != opts.build_args.end()) val = it->second;
            else if (def.value) val = lex.process_word(*def.value, expansion_env(st));
            else if (auto g = plan.global_env.find(def.key); g != plan.global_env.end()) val = g->second;
            if (val) {
                st.args[def.key] = *val;
                st.arg_over_env.insert(def.key);
            } else {
                st.args.erase(def.key);
            }
            if (std::find(st.arg_order.begin(), st.arg_order.end(), def.key) == st.arg_order.end())
                st.arg_order.push_back(def.key);
        }
        Instruction shown = raw;  // BuildKit records the defaults expanded
        for (auto& def : shown.arg_defs)
            if (def.value) def.value = lex.process_word(*def.value, expansion_env(st));
        add_empty_history(st, buildkit_created_by(shown, history_state(st)));
        st.key = arg_key(st, raw);
        return;
    }
    Instruction in = expand(raw, lex, expansion_env(st));
    std::string name = "[" + st.label + " " + std::to_string(st.step_no) + "/" + std::to_string(st.step_total) + "] " +
                       in.original;
    if (in.kind != K::Run && in.kind != K::Copy && in.kind != K::Add) {
        apply_metadata(st, in);
        if (!makes_workdir(st, in)) return;
    }
    int id = next_step_++;
    auto t0 = std::chrono::steady_clock::now();
    progress.start(id, name);
    StepOutcome out;
    try {
        if (in.kind == K::Run) execute_run(*this, st, in, idx, id, out);
        else if (in.kind == K::Workdir) execute_workdir_step(*this, st, in, idx, out);
        else execute_copy_step(*this, st, in, idx, id, out);
    } catch (const Error& e) {
        Error located = e.at(loc(in));
        progress.error(id, located.what());
        throw located;
    } catch (const std::exception& e) {
        progress.error(id, e.what());
        throw;
    }
    int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    st.key = out.key;  // the step's outcome is applied to the stage here, and only here
    if (out.cached) {
        progress.cached(id);
    } else {
        progress.done(id, ms);
        if (!out.clock.phases.empty()) progress.phases(id, out.clock.phases);
    }
    StepReport r;
    r.id = id;
    r.stage = st.label;
    r.instruction = in.original;
    r.location = where(in);
    r.cached = out.cached;
    r.ran = !out.cached && !opts.explain_only;
    r.duration_ms = ms;
    r.cache_key = st.key;
    r.miss_reason = out.cached ? "" : out.miss_reason;
    r.peak_memory_bytes = out.peak_memory;
    r.cpu_ns = out.cpu_ns;
    if (out.layer) {
        r.layer = out.layer->digest.str();
        r.layer_size = out.layer->size;
    }
    {
        std::lock_guard<std::mutex> l(mu_);
        reports_.push_back(r);
    }
    add_layer(st, in, out);
}

void Solver::solve_stage(int index) {
    const Stage& stage = ast.stages.at(size_t(index));
    auto st = std::make_shared<StageState>();
    st->index = index;
    st->label = stage.name.empty() ? "stage-" + std::to_string(index) : stage.name;
    try {
        init_from(*st, stage);
    } catch (const Error& e) {
        throw e.at(loc(stage.from));
    }
    st->step_total = int(st->onbuild.size() + stage.instructions.size());
    for (size_t i = 0; i < st->onbuild.size(); i++) apply_instruction(*st, st->onbuild[i], 100000 + i);
    for (size_t i = 0; i < stage.instructions.size(); i++) {
        if (int sig = g_cancel_signal.load())
            sys::fail(Code::FailedPrecondition, std::string("interrupted by signal ") + std::to_string(sig) + " (SIG" +
                                                      (sigabbrev_np(sig) ? sigabbrev_np(sig) : "?") + ")");
        if (failed) sys::fail(Code::Cancelled, "cancelled: another stage failed");
        apply_instruction(*st, stage.instructions[i], i);
    }
    std::lock_guard<std::mutex> l(mu_);
    done_[index] = st;
}

BuildResult Solver::run() {
    buildfile_path = find_buildfile(opts.context_dir, opts.buildfile);
    buildfile_name = base_name(buildfile_path);
    // The context's own Buildfile is the context's (untrusted: never a FIFO or a device);
    // one named with -f is the caller's choice (a pipe such as -f <(...) works).
    std::string text = opts.buildfile.empty() ? sys::read_regular_file(buildfile_path, 64u << 20)
                                              : sys::read_file(buildfile_path, 64u << 20);
    ast = parse_buildfile(text, buildfile_name);
    plan = plan_stages(ast, opts.build_args, opts.target);
    lex = ShellLex(ast.escape);
    for (const auto& w : ast.warnings) progress.info("warning: " + w);
    for (const auto& a : plan.unused_build_args)
        progress.info("warning: build-arg \"" + a + "\" is not used by any stage built");
    context.emplace(Context::open(opts.context_dir, buildfile_path));
    std::string statcache_dir = store.statcache_dir(context->path());
    if (opts.statcaches) {
        statcache = opts.statcaches->get(context->path(), statcache_dir);
    } else {
        statcache = std::make_shared<SharedStatCache>(context->path());
        statcache->load_in_background(statcache_dir, false);
    }

    // Stages in dependency order; independent ones in parallel, at most `jobs` at once.
    // Default: every independent stage at once, as BuildKit does (stages often wait on I/O
    // or sleep; a CPU-bound build can cap it with --jobs).
    int jobs = opts.jobs > 0 ? opts.jobs : int(std::max<size_t>(1, plan.order.size()));
    std::counting_semaphore<1024> slots(std::min(jobs, 1024));
    std::map<int, std::shared_future<void>> futures;
    for (int idx : plan.order) {
        std::vector<std::shared_future<void>> deps;
        for (int d : plan.deps[idx]) deps.push_back(futures.at(d));
        futures[idx] = std::async(std::launch::async, [this, idx, deps, &slots] {
                           for (auto& d : deps) d.get();  // rethrows a dependency's failure
                           slots.acquire();
                           try {
                               solve_stage(idx);
                           } catch (...) {
                               slots.release();
                               failed = true;
                               throw;
                           }
                           slots.release();
                       }).share();
    }
    // Wait for all; report the first failure in build order that is not a cancellation.
    std::exception_ptr first;
    bool first_is_cancel = false;
    for (int idx : plan.order) {
        try {
            futures[idx].get();
        } catch (const Error& e) {
            bool cancel = e.code() == Code::Cancelled;
            if (!first || (first_is_cancel && !cancel)) {
                first = std::current_exception();
                first_is_cancel = cancel;
            }
        } catch (...) {
            if (!first || first_is_cancel) {
                first = std::current_exception();
                first_is_cancel = false;
            }
        }
    }
    try {
        wait_for_saves();
    } catch (...) {
        if (!first) first = std::current_exception();
    }
    try {
        std::lock_guard<std::mutex> l(statcache->mu);
        statcache->cache().save();
    } catch (const std::exception& e) {
        progress.info(std::string("warning: cannot save the context stat cache: ") + e.what());
    }
    if (first) std::rethrow_exception(first);
    auto final_stage = finished_stage(plan.target);
    std::vector<StepReport> reports;
    {
        std::lock_guard<std::mutex> l(mu_);
        reports = reports_;
    }
    std::sort(reports.begin(), reports.end(), [](const StepReport& a, const StepReport& b) { return a.id < b.id; });
    if (opts.explain_only) {
        BuildResult r;
        r.steps = std::move(reports);
        return r;
    }
    return finish_build(*this, *final_stage, std::move(reports));
}

BuildResult build(cas::Store& store, const BuildOptions& opts, Progress& progress) {
    Solver s(store, opts, progress);
    return s.run();
}

}  // namespace builder
