// RUN: key, cache hit, or run in a container over a writable snapshot, then diff.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <deque>
#include <thread>

#include "sys/units.hpp"
#include "context/dockerignore.hpp"
#include "builder/solver_internal.hpp"
#include "layers/layer.hpp"
#include "runtime/spec.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"

namespace builder {

using nlohmann::json;
using sys::Code;
using sys::Error;

namespace {

std::string trim(const std::string& s) {
    size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
    return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// Is `cmd` nothing but the heredoc marker of `h` ("<<EOF", "<<-EOF", "<<'EOF'")?
bool is_lone_marker(const std::string& cmd, const Heredoc& h) {
    std::string c = trim(cmd);
    if (c.rfind("<<", 0) != 0) return false;
    c = c.substr(2);
    if (!c.empty() && c[0] == '-') c = c.substr(1);
    if (c.size() >= 2 && (c[0] == '\'' || c[0] == '"') && c.back() == c[0]) c = c.substr(1, c.size() - 2);
    return c == h.name;
}

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
// not end up in the layer (BuildKit does the same).
struct MountStubs {
    std::vector<std::string> targets;  // cleaned absolute mount targets
    std::vector<std::string> tops;     // first missing component for each (or "" if it existed)

    void before(int root_fd, const std::vector<std::string>& mount_targets) {
        for (const auto& t : mount_targets) {
            std::string cur, top;
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

// A mount target as an absolute, cleaned path (relative ones are under the workdir).
std::string clean_target(const std::string& t, const std::string& workdir) {
    return clean_path(t.empty() || t[0] != '/' ? sys::path_join(workdir.empty() ? "/" : workdir, t) : t);
}

// Resolve `rel` confined to the root at root_fd and return the host path it names (for a
// bind mount source): symlinks inside cannot lead outside the root.
std::string host_path_in_root(int root_fd, const std::string& rel, const std::string& what) {
    sys::UniqueFd fd = sys::open_in_root(root_fd, rel, O_PATH);
    char link[64];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd.get());
    char real[4096];
    ssize_t len = ::readlink(link, real, sizeof real - 1);
    if (len < 0) sys::throw_errno(what + ": resolve " + rel);
    return std::string(real, size_t(len));
}

const SecretSpec* find_secret(const BuildOptions& o, const std::string& id) {
    for (auto& s : o.secrets)
        if (s.id == id) return &s;
    return nullptr;
}

std::string read_secret(const SecretSpec& s) {
    if (!s.env.empty()) {
        const char* v = std::getenv(s.env.c_str());
        if (!v) throw Error(Code::NotFound, "secret " + s.id + ": environment variable " + s.env + " is not set");
        return v;
    }
    return sys::read_file(s.src, 4u << 20);
}

}  // namespace

void execute_run(Solver& s, StageState& st, const Instruction& in, size_t idx, int step_id, StepOutcome& out) {
    const std::string where = s.where(in);
    std::string workdir = st.config.config.working_dir.empty() ? "/" : st.config.config.working_dir;

    // argv
    std::vector<std::string> argv;
    std::optional<std::pair<std::string, std::string>> script;  // (container path, content) for #! heredocs
    if (in.json_form) {
        argv = in.args;
    } else {
        std::string cmd = in.args.empty() ? "" : in.args[0];
        if (in.heredocs.size() == 1 && is_lone_marker(cmd, in.heredocs[0])) {
            const Heredoc& h = in.heredocs[0];
            if (h.content.rfind("#!", 0) == 0) {
                script = std::make_pair("/run/imgbuild-heredoc/" + h.name, h.content);
                argv = {script->first};
            } else {
                argv = st.shell;
                argv.push_back(h.content);
            }
        } else {
            // The shell itself reads the heredocs: pass the whole text through.
            for (const auto& h : in.heredocs) cmd += "\n" + h.content + h.name;
            argv = st.shell;
            argv.push_back(cmd);
        }
    }
    if (argv.empty()) throw Error(Code::InvalidInput, where + ": RUN has no command");

    // Key inputs
    json inputs = s.base_inputs(st, in);
    if (!in.json_form) inputs["shell"] = st.shell;
    json hd = json::array();
    for (auto& h : in.heredocs) hd.push_back({h.name, h.content});
    inputs["heredocs"] = hd;
    std::string network = in.network == "default" ? (s.opts.network == runtime::Network::Host ? "host" : "none") : in.network;
    inputs["network"] = network;
    json mounts = json::array();
    for (const auto& m : in.mounts) {
        json mj = {{"type", m.type}, {"target", m.target}, {"source", m.source}, {"from", m.from}, {"id", m.id},
                   {"readonly", m.readonly}, {"sharing", m.sharing}, {"mode", m.mode}, {"uid", m.uid},
                   {"gid", m.gid}, {"size", m.size}, {"env", m.env}, {"required", m.required}};
        if (m.type == "bind") {
            if (m.from.empty()) {
                CopySpec cs;
                cs.sources = {m.source.empty() ? "." : m.source};
                cs.dest = "/";
                cs.where = where;
                std::lock_guard<std::mutex> l(s.statcache_mu);
                CopyPlan p = plan_copy(s.context->root(), cs);
                mj["content"] = content_digest(s.context->root(), p, &*s.statcache).str();
            } else {
                StageRef ref = resolve_stage_ref(s.ast, m.from, st.index, true);
                mj["content"] = ref.stage >= 0 ? s.finished_stage(ref.stage)->key : s.image(ref.image).manifest_digest.str();
            }
        }
        mounts.push_back(mj);  // secrets by id only: never their content
    }
    inputs["mounts"] = mounts;
    cas::Digest key = cache_key(inputs);
    std::string step_ident = s.step_identity(st, idx);
    st.key = key.str();
    if (s.lookup(step_ident, [&] { return inputs; }, key, out) || s.opts.explain_only) return;

    // Run it.
    auto t0 = std::chrono::steady_clock::now();
    out.clock.mark("resolve");
    std::string parent = s.chain_of(st);
    MountedRoot root = MountedRoot::writable(s.store, s.snaps, parent);
    sys::TempDir scratch(s.store.tmp_dir(), "run-");  // secrets, heredoc scripts
    std::vector<MountedRoot> views;                    // stage/image roots for bind mounts
    std::vector<sys::FileLock> locks;                  // cache mounts with sharing=locked
    std::vector<sys::TempDir> private_caches;

    runtime::RunSpec spec;
    spec.rootfs = root.path();
    spec.argv = argv;
    spec.env = s.run_env(st);
    spec.cwd = workdir;
    spec.user = st.config.config.user;
    spec.hostname = "imgbuild";
    spec.network = network == "host" ? runtime::Network::Host : runtime::Network::None;
    spec.limits = s.opts.limits;
    spec.read_only_root = false;
    int n = 0;
    for (const auto& m : in.mounts) {
        runtime::Mount rm;
        std::string what = where + ": RUN --mount=type=" + m.type;
        if (m.type == "bind") {
            if (!m.readonly && m.from.empty())
                throw Error(Code::InvalidInput, what + ": rw bind mounts are not supported yet (use a cache mount)");
            rm.kind = runtime::Mount::Kind::Bind;
            rm.target = clean_target(m.target, workdir);
            rm.read_only = true;
            std::string src = m.source.empty() ? "/" : m.source;
            if (m.from.empty()) {
                rm.source = host_path_in_root(s.context->fd(), src, what);
            } else {
                StageRef ref = resolve_stage_ref(s.ast, m.from, st.index, true);
                std::string chain;
                if (ref.stage >= 0) chain = s.chain_of(*s.finished_stage(ref.stage));
                else chain = unpack_image(s.store, s.snaps, s.image(ref.image));
                views.push_back(MountedRoot::view(s.store, s.snaps, chain));
                sys::UniqueFd vfd = sys::open_dir(views.back().path());
                rm.source = host_path_in_root(vfd.get(), src, what);
            }
        } else if (m.type == "cache") {
            std::string id = m.id.empty() ? clean_target(m.target, workdir) : m.id;
            std::string dir = s.store.cache_mounts_dir() + "/" + cas::Digest::of(id).short_hex(32);
            bool fresh = !sys::exists(dir);
            sys::mkdir_p(dir, 0755);
            if (fresh) {
                uint32_t uid = m.uid.empty() ? 0 : uint32_t(std::stoul(m.uid));
                uint32_t gid = m.gid.empty() ? 0 : uint32_t(std::stoul(m.gid));
                mode_t mode = m.mode.empty() ? 0755 : mode_t(std::stoul(m.mode, nullptr, 8));
                if (::chown(dir.c_str(), uid, gid) != 0 || ::chmod(dir.c_str(), mode) != 0) sys::throw_errno(what + ": set up " + dir);
            }
            if (m.sharing == "locked") {
                locks.emplace_back(dir + ".lock", sys::FileLock::Exclusive);
            } else if (m.sharing == "private") {
                sys::FileLock l = sys::FileLock::try_lock(dir + ".lock", sys::FileLock::Exclusive);
                if (l) locks.push_back(std::move(l));
                else {  // in use by another build: a fresh private directory
                    private_caches.emplace_back(s.store.tmp_dir(), "cache-");
                    dir = private_caches.back().path();
                }
            }
            rm.kind = runtime::Mount::Kind::Bind;
            rm.source = dir;
            rm.target = clean_target(m.target, workdir);
            rm.read_only = m.readonly;
        } else if (m.type == "tmpfs") {
            rm.kind = runtime::Mount::Kind::Tmpfs;
            rm.target = clean_target(m.target, workdir);
            if (!m.size.empty()) rm.options = "size=" + std::to_string(sys::parse_size(m.size, what + " size"));
        } else if (m.type == "secret") {
            std::string id = m.id;
            const SecretSpec* sec = find_secret(s.opts, id);
            if (!sec) {
                if (m.required) throw Error(Code::NotFound, what + ": secret " + id + " not provided (use --secret id=" + id + ",src=FILE)");
                continue;
            }
            std::string value = read_secret(*sec);
            if (!m.env.empty()) {
                spec.env.push_back(m.env + "=" + value);
                if (m.target.empty()) continue;
            }
            std::string file = scratch.path() + "/secret-" + std::to_string(n++);
            sys::write_file_atomic(file, value, 0400, false);
            if (!m.uid.empty() || !m.gid.empty())
                if (::chown(file.c_str(), m.uid.empty() ? 0 : std::stoul(m.uid), m.gid.empty() ? 0 : std::stoul(m.gid)) != 0)
                    sys::throw_errno(what + ": chown secret " + id);
            if (!m.mode.empty() && ::chmod(file.c_str(), mode_t(std::stoul(m.mode, nullptr, 8))) != 0)
                sys::throw_errno(what + ": chmod secret " + id);
            rm.kind = runtime::Mount::Kind::Bind;
            rm.source = file;
            rm.target = m.target.empty() ? "/run/secrets/" + id : clean_target(m.target, workdir);
            rm.read_only = true;
        } else {
            throw Error(Code::InvalidInput, what + ": unsupported mount type");
        }
        spec.mounts.push_back(rm);
    }
    if (script) {
        std::string file = scratch.path() + "/heredoc-" + std::to_string(n++);
        sys::write_file_atomic(file, script->second, 0755, false);
        spec.mounts.push_back({runtime::Mount::Kind::Bind, file, script->first, true, ""});
    }

    sys::UniqueFd root_fd = sys::open_dir(root.path());
    MountStubs stubs;
    std::vector<std::string> targets;
    for (auto& m : spec.mounts) targets.push_back(m.target);
    for (const char* d : {"/proc", "/dev", "/sys"}) targets.push_back(d);
    stubs.before(root_fd.get(), targets);

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
        throw Error(e.code(), where + ": " + in.original + ": " + e.what() + pump.tail());
    }
    pump.finish();
    out.clock.split("spawn", double(res.spawn_us) / 1000.0, "wait");
    out.peak_memory = res.peak_memory_bytes;
    out.cpu_ns = res.cpu_usage_ns;
    if (res.how != runtime::RunResult::How::Exited || res.exit_code != 0)
        throw Error(Code::FailedPrecondition, where + ": " + in.original + ": " + res.describe(spec.limits) + pump.tail());

    stubs.after(root_fd.get());
    root_fd.reset();
    views.clear();
    s.snapshot_layer(root, st, out);
    int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    s.record(step_ident, inputs, key, in, out, ms);
}

}  // namespace builder
