// RUN: key, cache hit, or run in a container over a writable snapshot, then diff.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <deque>
#include <thread>

#include "sys/units.hpp"
#include "context/copy.hpp"
#include "context/dockerignore.hpp"
#include "builder/run_plan.hpp"
#include "builder/solver_internal.hpp"
#include "builder/step_inputs.hpp"
#include "layers/layer.hpp"
#include "layers/rootfs.hpp"
#include "runtime/spec.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/path.hpp"

namespace builder {

using nlohmann::json;
using sys::Code;
using sys::Error;

namespace {

// Lines of a RUN's output: forwarded to progress, the last few kept for error messages.
class OutputPump {
public:
    OutputPump(Progress& p, int step) : progress_(p), step_(step) {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) sys::throw_errno("pipe for RUN output");
        read_.reset(fds[0]);
        write_.reset(fds[1]);
        thread_ = std::thread([this] { pump(); });
    }
    ~OutputPump() { finish(); }
    int write_fd() const { return write_.get(); }
    void finish() {
        write_.reset();
        if (thread_.joinable()) thread_.join();
    }
    std::string tail() const {
        std::string s;
        for (auto& l : tail_) s += "\n  | " + l;
        return s;
    }

private:
    void pump() {
        std::string buf;
        char chunk[8192];
        for (;;) {
            ssize_t n = ::read(read_.get(), chunk, sizeof chunk);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            buf.append(chunk, size_t(n));
            size_t pos;
            while ((pos = buf.find('\n')) != std::string::npos) {
                line(buf.substr(0, pos));
                buf.erase(0, pos + 1);
            }
            if (buf.size() > 16384) {  // a very long line without newline
                line(buf);
                buf.clear();
            }
        }
        if (!buf.empty()) line(buf);
    }
    void line(const std::string& l) {
        progress_.log(step_, l);
        tail_.push_back(l.size() > 500 ? l.substr(0, 500) + "..." : l);
        if (tail_.size() > 12) tail_.pop_front();
    }
    Progress& progress_;
    int step_;
    sys::UniqueFd read_, write_;
    std::thread thread_;
    std::deque<std::string> tail_;
};

// Paths that the runtime creates in the root only to mount over them (mount stubs): the
// first missing component of each target, removed after the run if still empty, so they do
// not end up in the layer (BuildKit does the same, recursively for Dockerfile builds). Targets
// are resolved in the root as the runtime resolves them (a symlink in the image names the
// place). The base directories that get a stub are copied up by overlay: `copied` keeps their
// state, to drop copies the run left as they were (layers::drop_unchanged_copy_ups).
struct MountStubs {
    std::vector<std::string> targets;  // resolved absolute mount targets
    std::vector<std::string> tops;     // first missing component for each (or "" if it existed)
    std::vector<layers::DirState> copied;

    void before(int root_fd, const std::vector<std::string>& mount_targets) {
        for (const auto& raw : mount_targets) {
            std::string t = sys::resolve_in_root(root_fd, raw), cur, top;
            size_t i = 1;
            while (i <= t.size()) {
                size_t j = t.find('/', i);
                if (j == std::string::npos) j = t.size();
                cur = t.substr(0, j);
                if (j > i && !sys::try_open_in_root(root_fd, cur, O_PATH | O_NOFOLLOW)) {
                    top = cur;
                    break;
                }
                i = j + 1;
            }
            targets.push_back(t);
            tops.push_back(top);
            for (std::string d = top.substr(0, top.find_last_of('/')); d.size() > 1; d = d.substr(0, d.find_last_of('/'))) {
                bool seen = false;
                for (auto& c : copied) seen |= c.path == d;
                if (seen) break;
                if (auto st = layers::dir_state(root_fd, d)) copied.push_back(std::move(*st));
            }
        }
    }
    // Remove `path` if it is an empty dir or an empty regular file; returns true if removed.
    static bool remove_if_empty(int root_fd, const std::string& path) {
        auto slash = path.find_last_of('/');
        std::string parent = slash == 0 ? "/" : path.substr(0, slash), leaf = path.substr(slash + 1);
        sys::UniqueFd pfd = sys::try_open_in_root(root_fd, parent, O_PATH | O_DIRECTORY);
        if (!pfd) return false;
        struct stat st;
        if (::fstatat(pfd.get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return false;
        if (S_ISDIR(st.st_mode)) return ::unlinkat(pfd.get(), leaf.c_str(), AT_REMOVEDIR) == 0;
        if (S_ISREG(st.st_mode) && st.st_size == 0) return ::unlinkat(pfd.get(), leaf.c_str(), 0) == 0;
        return false;
    }
    void after(int root_fd) {
        for (size_t k = 0; k < targets.size(); k++) {
            if (tops[k].empty()) continue;
            // From the target up to the first component that did not exist before.
            std::string p = targets[k];
            while (p.size() >= tops[k].size()) {
                if (!remove_if_empty(root_fd, p)) break;
                if (p == tops[k]) break;
                p = p.substr(0, p.find_last_of('/'));
            }
        }
    }
};

// Resolve `rel` confined to the root at root_fd, once, for a bind mount source: symlinks
// inside cannot lead outside the root, and the mount uses the returned O_PATH fd (kept in
// `fds` for the run), never the path again. Returns the host path, for messages.
std::string bind_source_in_root(int root_fd, const std::string& rel, const std::string& what, std::vector<sys::UniqueFd>& fds,
                                int* fd_out) {
    sys::UniqueFd fd = sys::open_in_root(root_fd, rel, O_PATH);
    char link[64];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd.get());
    char real[4096];
    ssize_t len = ::readlink(link, real, sizeof real - 1);
    if (len < 0) sys::throw_errno(what + ": resolve " + rel);
    *fd_out = fd.get();
    fds.push_back(std::move(fd));
    return std::string(real, size_t(len));
}

// Copy the build context's `src` (file or directory), filtered by .dockerignore exactly as
// COPY selects it, into the empty directory `into`. Returns the path inside `into` to bind
// ("/" for a directory source, "/<name>" for a file).
std::string filtered_context_copy(Solver& s, const std::string& src, const std::string& into) {
    CopySpec cs;
    cs.sources = {src == "/" ? "." : src};
    cs.dest = "/";
    cs.preserve_owner = true;
    cs.label = "RUN --mount=type=bind";
    CopyPlan p = [&] {
        std::lock_guard<std::mutex> l(s.statcache->mu);
        return plan_copy(s.context->root(), cs);
    }();
    sys::UniqueFd dfd = sys::open_dir(into);
    execute_copy(s.context->root(), p, dfd.get());
    sys::UniqueFd sfd = sys::open_in_root(s.context->fd(), src, O_PATH);
    struct stat st{};
    if (::fstat(sfd.get(), &st) != 0) sys::throw_errno(cs.label + ": stat " + src);
    if (S_ISDIR(st.st_mode)) return "/";
    std::string leaf = src;
    while (!leaf.empty() && leaf.back() == '/') leaf.pop_back();
    return "/" + leaf.substr(leaf.find_last_of('/') + 1);
}

const SecretSpec* find_secret(const BuildOptions& o, const std::string& id) {
    for (auto& s : o.secrets)
        if (s.id == id) return &s;
    return nullptr;
}

std::string read_secret(const SecretSpec& s) {
    if (!s.env.empty()) {
        const char* v = std::getenv(s.env.c_str());
        if (!v) sys::fail(Code::NotFound, "secret " + s.id + ": environment variable " + s.env + " is not set");
        return v;
    }
    return sys::read_file(s.src, 4u << 20);
}

}  // namespace

namespace {

// Resources a RUN holds while it runs; released (mounts, locks, temp dirs) afterwards.
struct RunResources {
    explicit RunResources(const cas::Store& store) : scratch(store.temp_dir("run-")) {}
    sys::TempDir scratch;                    // secrets, heredoc scripts
    std::vector<MountedRoot> views;          // stage/image roots for bind mounts
    std::vector<sys::FileLock> locks;        // cache mounts with sharing=locked
    std::vector<sys::TempDir> private_caches;
    std::vector<sys::TempDir> scratch_dirs;  // filtered context copies for bind mounts
    std::vector<sys::UniqueFd> source_fds;   // bind sources, resolved once
};

// Act on the plan's mounts: resolve sources, set up cache dirs and secrets, fill spec.mounts.
void attach_mounts(Solver& s, const StageState& st, const Instruction& in, size_t idx, const RunPlan& plan,
                   RunResources& r, runtime::RunSpec& spec) {
    int n = 0;
    for (const RunMountPlan& mp : plan.mounts) {
        const auto& m = in.mounts[mp.index];
        runtime::Mount rm;
        std::string what = "RUN --mount=type=" + m.type;
        if (m.type == "bind") {
            rm.kind = runtime::Mount::Kind::Bind;
            rm.target = mp.target;
            rm.read_only = mp.read_only;
            const std::string& src = mp.source;
            if (mp.from.empty()) {
                // Exactly what COPY would see (.dockerignore applied), copied into a scratch
                // directory: the step's key has its digest, and rw writes are thrown away.
                r.scratch_dirs.push_back(s.store.temp_dir("bind-"));
                std::string leaf = filtered_context_copy(s, src, r.scratch_dirs.back().path());
                sys::UniqueFd sfd = sys::open_dir(r.scratch_dirs.back().path());
                rm.source = bind_source_in_root(sfd.get(), leaf, what, r.source_fds, &rm.source_fd);
            } else {
                StageRef ref = s.from_ref(st, idx, m.from, mp.index);
                std::string chain;
                if (ref.stage >= 0) chain = s.chain_of(*s.finished_stage(ref.stage));
                else chain = unpack_image(s.store, s.snaps, s.image(ref.image));
                // rw: a throwaway writable layer over the stage; never committed.
                r.views.push_back(mp.read_only ? MountedRoot::view(s.store, s.snaps, chain)
                                               : MountedRoot::writable(s.store, s.snaps, chain));
                sys::UniqueFd vfd = sys::open_dir(r.views.back().path());
                rm.source = bind_source_in_root(vfd.get(), src, what, r.source_fds, &rm.source_fd);
            }
        } else if (m.type == "cache") {
            const std::string& id = mp.cache_id;
            std::string dir = s.store.cache_mounts_dir() + "/" + cas::Digest::of(id).short_hex(32);
            bool fresh = !sys::exists(dir);
            sys::mkdir_p(dir, 0755);
            if (fresh) {
                uint32_t uid = mp.uid.value_or(0), gid = mp.gid.value_or(0);
                mode_t mode = mp.mode.value_or(0755);
                if (::chown(dir.c_str(), uid, gid) != 0 || ::chmod(dir.c_str(), mode) != 0) sys::throw_errno(what + ": set up " + dir);
            }
            if (m.sharing == "locked") {
                r.locks.emplace_back(dir + ".lock", sys::FileLock::Exclusive);
            } else if (m.sharing == "private") {
                sys::FileLock l = sys::FileLock::try_lock(dir + ".lock", sys::FileLock::Exclusive);
                if (l) r.locks.push_back(std::move(l));
                else {  // in use by another build: a fresh private directory
                    r.private_caches.push_back(s.store.temp_dir("cache-"));
                    dir = r.private_caches.back().path();
                }
            }
            rm.kind = runtime::Mount::Kind::Bind;
            rm.source = dir;
            rm.target = mp.target;
            rm.read_only = mp.read_only;
        } else if (m.type == "tmpfs") {
            rm.kind = runtime::Mount::Kind::Tmpfs;
            rm.target = mp.target;
            if (!m.size.empty()) rm.options = "size=" + std::to_string(sys::parse_size(m.size, what + " size"));
        } else if (m.type == "secret") {
            std::string id = m.id;
            const SecretSpec* sec = find_secret(s.opts, id);
            if (!sec) {
                if (m.required) sys::fail(Code::NotFound, what + ": secret " + id + " not provided (use --secret id=" + id + ",src=FILE)");
                continue;
            }
            std::string value = read_secret(*sec);
            if (!m.env.empty()) {
                spec.env.push_back(m.env + "=" + value);
                if (mp.target.empty()) continue;
            }
            std::string file = r.scratch.path() + "/secret-" + std::to_string(n++);
            sys::write_file_atomic(file, value, 0400, false);
            if (mp.uid || mp.gid)
                if (::chown(file.c_str(), mp.uid.value_or(0), mp.gid.value_or(0)) != 0)
                    sys::throw_errno(what + ": chown secret " + id);
            if (mp.mode && ::chmod(file.c_str(), *mp.mode) != 0)
                sys::throw_errno(what + ": chmod secret " + id);
            rm.kind = runtime::Mount::Kind::Bind;
            rm.source = file;
            rm.target = mp.target;
            rm.read_only = true;
        }
        spec.mounts.push_back(rm);
    }
    if (plan.script) {
        std::string file = r.scratch.path() + "/heredoc-" + std::to_string(n++);
        sys::write_file_atomic(file, plan.script->second, 0755, false);
        spec.mounts.push_back({runtime::Mount::Kind::Bind, file, plan.script->first, true, ""});
    }
}

// /etc/resolv.conf and /etc/hosts as BuildKit gives them to every RUN, any network: bound
// read-only, noexec, nosuid -- before the step's own mounts, so a --mount on either target goes
// over them, as in BuildKit.
void attach_sandbox_files(Solver& s, const RunPlan& plan, runtime::RunSpec& spec) {
    for (auto& [target, file] : s.etc_files(plan.network == "host")) {
        runtime::Mount m;
        m.kind = runtime::Mount::Kind::Bind;
        m.source = file;
        m.target = target;
        m.read_only = m.noexec = true;
        spec.mounts.push_back(std::move(m));
    }
}

}  // namespace

std::vector<std::pair<std::string, std::string>> Solver::etc_files(bool host_network) {
    std::lock_guard<std::mutex> l(etc_mu_);
    auto it = etc_files_.find(host_network);
    if (it != etc_files_.end()) return it->second;
    if (!etc_dir_) etc_dir_.emplace(store.temp_dir("etc-"));
    std::vector<std::pair<std::string, std::string>> out;
    for (const SandboxFile& f : sandbox_files("buildkitsandbox", read_host_resolv_conf(host_network), host_network)) {
        std::string file = etc_dir_->path() + f.target.substr(f.target.find_last_of('/')) + (host_network ? "-host" : "");
        sys::write_file_atomic(file, f.content, 0644, false);
        out.emplace_back(f.target, file);
    }
    return etc_files_[host_network] = out;
}

// The content of each bind mount's source, by mount index: the digest of the context files it
// selects (as COPY would), or the key of the stage / digest of the image `from` names.
static std::map<size_t, std::string> bind_mount_contents(Solver& s, const StageState& st, const Instruction& in, size_t idx) {
    std::map<size_t, std::string> out;
    for (size_t mi = 0; mi < in.mounts.size(); mi++) {
        const auto& m = in.mounts[mi];
        if (m.type != "bind") continue;
        if (m.from.empty()) {
            CopySpec cs;
            cs.sources = {m.source.empty() ? "." : m.source};
            cs.dest = "/";
            cs.label = "RUN --mount=type=bind";
            std::lock_guard<std::mutex> l(s.statcache->mu);
            CopyPlan p = plan_copy(s.context->root(), cs);
            out[mi] = content_digest(s.context->root(), p, &s.statcache->cache()).str();
        } else {
            StageRef ref = s.from_ref(st, idx, m.from, mi);
            out[mi] = ref.stage >= 0 ? s.finished_stage(ref.stage)->key : s.image(ref.image).manifest_digest.str();
        }
    }
    return out;
}

void execute_run(Solver& s, const StageState& st, const Instruction& in, size_t idx, int step_id, StepOutcome& out) {
    std::string workdir = st.config.config.working_dir.empty() ? "/" : st.config.config.working_dir;

    const RunPlan plan = plan_run(in, st.shell, workdir, s.opts);
    const json inputs = run_inputs(st, in, plan.network, bind_mount_contents(s, st, in, idx));
    cas::Digest key = cache_key(inputs);
    std::string step_ident = s.step_identity(st, idx);
    out.key = key.str();
    if (s.lookup(step_ident, [&] { return inputs; }, key, out) || s.opts.explain_only) return;

    // Run it.
    auto t0 = std::chrono::steady_clock::now();
    out.clock.mark("resolve");
    MountedRoot root = MountedRoot::writable(s.store, s.snaps, s.chain_of(st));
    RunResources held(s.store);
    runtime::RunSpec spec;
    spec.rootfs = root.path();
    spec.argv = plan.argv;
    spec.env = s.run_env(st);
    spec.cwd = sys::clean_path(workdir);  // WORKDIR /a/../b made /b; /a need not exist
    spec.user = st.config.config.user;
    // What a RUN sees as BuildKit runs it: hostname "buildkitsandbox", no HOSTNAME variable
    // (a step that records either makes the same layer).
    spec.hostname = "buildkitsandbox";
    spec.hostname_env = false;
    spec.network = plan.network == "host" ? runtime::Network::Host : runtime::Network::None;
    spec.limits = s.opts.limits;
    spec.read_only_root = false;
    attach_sandbox_files(s, plan, spec);
    attach_mounts(s, st, in, idx, plan, held, spec);

    sys::UniqueFd root_fd = sys::open_dir(root.path());
    MountStubs stubs;
    std::vector<std::string> targets;
    for (auto& m : spec.mounts) targets.push_back(m.target);
    // /proc, /dev and /sys made for the run stay in the layer: BuildKit's runc leaves them too.
    sys::with_context(in.original, [&] { stubs.before(root_fd.get(), targets); });

    OutputPump pump(s.progress, step_id);
    spec.stdout_fd = spec.stderr_fd = pump.write_fd();
    sys::UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    spec.stdin_fd = devnull.get();
    runtime::RunResult res;
    out.clock.mark("mount");  // the root, bind/cache/secret mounts and the output pump
    try {
        res = runtime::run(spec);
    } catch (const Error& e) {
        pump.finish();
        sys::fail(e.code(), in.original + ": " + e.what() + pump.tail(), e.sys_errno());
    }
    pump.finish();
    out.clock.split("spawn", double(res.spawn_us) / 1000.0, "wait");
    out.peak_memory = res.peak_memory_bytes;
    out.cpu_ns = res.cpu_usage_ns;
    if (res.how != runtime::RunResult::How::Exited || res.exit_code != 0)
        sys::fail(Code::FailedPrecondition, in.original + ": " + res.describe(spec.limits) + pump.tail());

    stubs.after(root_fd.get());
    root_fd.reset();
    held.views.clear();
    root.unmount();
    layers::drop_unchanged_copy_ups(root.upper_dir(), stubs.copied);
    s.snapshot_layer(root, st, out);
    int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    s.record(step_ident, inputs, key, in, out, ms);
}

}  // namespace builder
