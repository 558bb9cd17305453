#include "diff_env.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "sys/proc.hpp"

namespace diff {
namespace fs = std::filesystem;
using e2e::run_cmd;
using e2e::shell_quote;
using Json = nlohmann::json;

std::string cases_dir() { return std::string(IMGBUILD_SRC) + "/testdata/differential"; }

std::vector<std::string> case_names() {
    std::vector<std::string> out;
    if (!fs::is_directory(cases_dir())) return out;
    for (const auto& e : fs::directory_iterator(cases_dir()))
        if (fs::exists(e.path() / "Buildfile")) out.push_back(e.path().filename());
    std::sort(out.begin(), out.end());
    return out;
}

Json case_meta(const std::string& name) {
    std::ifstream in(cases_dir() + "/" + name + "/case.json");
    if (!in) return Json::object();
    return Json::parse(in);
}

CaseContext::CaseContext(const std::string& name) : dir_("/tmp", "imgbuild-diff-ctx-") {
    std::string src = cases_dir() + "/" + name;
    for (const auto& e : fs::directory_iterator(src)) {
        std::string f = e.path().filename();
        if (f == "expected.json" || f == "case.json") continue;
        fs::copy(e.path(), dir_.path() + "/" + f, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
    }
    Json m = case_meta(name);
    if (m.contains("modes"))
        for (auto it = m["modes"].begin(); it != m["modes"].end(); ++it)
            ::chmod((dir_.path() + "/" + it.key()).c_str(), mode_t(std::stoul(it.value().get<std::string>(), nullptr, 8)));
}

static MtimePairs mtime_pairs(const std::string& name) {
    MtimePairs out;
    for (const auto& p : case_meta(name).value("mtimes", Json::array()))
        out.emplace_back(p.at(0).get<std::string>(), p.at(1).get<std::string>());
    return out;
}

static std::string build_args(const std::string& name) {
    std::string a;
    Json m = case_meta(name);
    if (m.contains("args"))
        for (const auto& s : m["args"]) a += " " + shell_quote(s.get<std::string>());
    return a;
}

// The base rootfs: busybox, a few users and groups (app 1000 with a supplementary group).
static void make_base_oci(const std::string& dir) {
    std::string bundle = dir + ".bundle", img = shell_quote(dir + ":latest");
    e2e::must("umoci init --layout " + shell_quote(dir));
    e2e::must("umoci new --image " + img);
    e2e::must("umoci unpack --image " + img + " " + shell_quote(bundle));
    fs::remove_all(bundle + "/rootfs");
    fs::create_directory(bundle + "/rootfs");
    e2e::make_busybox_rootfs(bundle + "/rootfs");
    fs::create_directories(bundle + "/rootfs/home");
    std::ofstream(bundle + "/rootfs/etc/passwd")
        << "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
           "app:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
    std::ofstream(bundle + "/rootfs/etc/group")
        << "root:x:0:\ndaemon:x:1:\napp:x:1000:\nextra:x:2000:app\nnogroup:x:65534:\n";
    e2e::must("umoci repack --image " + img + " --history.created_by 'imgbuild differential base' " + shell_quote(bundle));
    e2e::must("umoci config --image " + img +
              " --config.cmd /bin/sh --config.env PATH=/bin --history.created_by 'CMD [\"/bin/sh\"]'");
    e2e::must("umoci gc --layout " + shell_quote(dir));
    fs::remove_all(bundle);
}

Env& Env::get() {
    static Env env;
    return env;
}

std::string shared_dir() {
    const char* d = std::getenv("IMGBUILD_DIFF_SHARED");
    return d && *d ? d : "";
}

static std::string env_ready() { return shared_dir() + "/env.ready"; }
static std::string docker_ready() { return shared_dir() + "/docker.ready"; }

static e2e::CmdResult ib_at(const std::string& root, const std::string& args) {
    return run_cmd(std::string(IMGBUILD_BIN) + " --root " + root + " " + args);
}

// Why builds cannot run here, or "".
static std::string env_missing() {
    if (::geteuid() != 0) return "builds need root (namespaces, overlay)";
    if (!e2e::have_tool("umoci") || ::access("/bin/busybox", X_OK) != 0)
        return "umoci or /bin/busybox (busybox-static) missing: scripts/setup installs them";
    return "";
}

// The base image in the imgbuild store at `root` (tag diffbase:latest) and as a
// docker-archive; returns the archive's path.
static std::string make_base(const std::string& root) {
    std::string oci = root + "/base-oci";
    make_base_oci(oci);
    e2e::CmdResult r = ib_at(root, "import " + shell_quote(oci) + " --tag diffbase:latest");
    if (r.status != 0) throw std::runtime_error("import base: " + r.out);
    std::string tar = root + "/base.tar";
    r = ib_at(root, "export diffbase:latest --format docker -o " + shell_quote(tar));
    if (r.status != 0) throw std::runtime_error("export base: " + r.out);
    return tar;
}

// Cases of the recorded and the live suite may build the same case at once in the shared store
// and daemon: each process tags its own.
static std::string unique_tag(const std::string& name) { return "diff-" + name + ":p" + std::to_string(::getpid()); }

Env::Env() {
    if (error_ = env_missing(); !error_.empty()) return;
    if (!shared_dir().empty() && ::access(env_ready().c_str(), F_OK) == 0) {
        root_ = shared_dir() + "/store";
        base_tar_ = root_ + "/base.tar";
    } else {
        own_.emplace("/tmp", "imgbuild-diff-store-");
        root_ = own_->path();
        base_tar_ = make_base(root_);
    }
    base_tree_ = read_tree(base_tar_);
}

e2e::CmdResult Env::ib(const std::string& args) const { return ib_at(root_, args); }

Json Env::build(const std::string& name) const {
    CaseContext ctx(name);
    std::string tag = unique_tag(name);
    e2e::CmdResult r = ib("build --progress plain --no-cache -t " + tag + " -f " + ctx.path() + "/Buildfile" + build_args(name) +
                          " " + ctx.path());
    if (r.status != 0) return {{"error", r.out}};
    std::string tar = ctx.path() + "/.out.tar";  // inside the temp dir: removed if snapshot() throws
    r = ib("export " + tag + " --format docker -o " + shell_quote(tar));
    if (r.status != 0) throw std::runtime_error("export " + tag + ": " + r.out);
    Json snap = snapshot(tar, base_tree_, mtime_pairs(name));
    fs::remove(tar);
    return snap;
}

Docker& Docker::get() {
    static Docker d;
    return d;
}

static std::string docker_missing() {
    if (::access("/usr/bin/docker", X_OK) != 0 || ::access("/usr/sbin/dockerd", X_OK) != 0)
        return "docker.io (/usr/bin/docker, /usr/sbin/dockerd) is not installed: scripts/setup --peers installs it";
    return "";
}

static e2e::CmdResult docker_at(const std::string& d, const std::string& args) {
    return run_cmd("DOCKER_BUILDKIT=1 DOCKER_CONFIG=" + d + "/config DOCKER_HOST=unix://" + d +
                   "/docker.sock /usr/bin/docker " + args);
}

// Starts a dockerd with everything under `d` (its own session when `detach`, so it outlives the
// fixture's Up process), waits until it answers and loads the base archive into it. Returns
// its pid, or -1 with `error` set when it exited.
static pid_t start_dockerd(const std::string& d, const std::string& base_tar, bool detach, std::string& error) {
    fs::create_directories(d + "/config");
    std::vector<std::string> argv = {"/usr/sbin/dockerd", "--data-root", d + "/data", "--exec-root", d + "/exec",
                                     "-H", "unix://" + d + "/docker.sock", "--pidfile", d + "/docker.pid",
                                     "--storage-driver=overlay2", "--iptables=false", "--ip6tables=false",
                                     "--ip-forward=false", "--ip-masq=false", "--bridge=none"};
    std::vector<char*> av;
    for (auto& s : argv) av.push_back(s.data());
    av.push_back(nullptr);
    // dockerd restarts a containerd that misses health checks (a loaded machine) with SIGUSR1
    // first, and containerd writes its stack dump to $TMPDIR: keep that inside `d`.
    fs::create_directories(d + "/tmp");
    std::vector<std::string> env = {"TMPDIR=" + d + "/tmp"};
    for (char** e = environ; *e; ++e)
        if (std::strncmp(*e, "TMPDIR=", 7) != 0) env.emplace_back(*e);
    std::vector<char*> ev;
    for (auto& s : env) ev.push_back(s.data());
    ev.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, (d + "/dockerd.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    if (detach) posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, av[0], &fa, &attr, av.data(), ev.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) throw std::runtime_error("spawn dockerd failed");
    for (int i = 0; i < 300; ++i) {
        if (docker_at(d, "info").status == 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        if (::waitpid(pid, nullptr, WNOHANG) == pid) {
            std::ifstream log(d + "/dockerd.log");
            error = "dockerd exited: " + std::string((std::istreambuf_iterator<char>(log)), {});
            return -1;
        }
    }
    e2e::CmdResult r = docker_at(d, "load -i " + shell_quote(base_tar));
    if (r.status != 0) throw std::runtime_error("docker load base: " + r.out);
    return pid;
}

Docker::Docker() {
    if (error_ = docker_missing(); !error_.empty()) return;
    if (!shared_dir().empty() && ::access(docker_ready().c_str(), F_OK) == 0) {
        dir_ = shared_dir() + "/docker";
        return;
    }
    if (error_ = Env::get().error(); !error_.empty()) return;
    own_.emplace("/tmp", "imgbuild-diff-docker-");
    dir_ = own_->path();
    pid_ = start_dockerd(dir_, Env::get().base_tar(), false, error_);
}

Docker::~Docker() {
    if (pid_ > 0) {
        ::kill(pid_, SIGTERM);
        ::waitpid(pid_, nullptr, 0);
    }
}

// The shared dockerd is recorded as "<pid> <start time>", so a stale record never names
// another process.
static std::string dockerd_owner() { return shared_dir() + "/dockerd.owner"; }

static void stop_shared_dockerd() {
    std::ifstream in(dockerd_owner());
    pid_t pid = 0;
    uint64_t start = 0;
    if (!(in >> pid >> start) || !sys::process_alive(pid, start)) return;
    ::kill(pid, SIGTERM);
    for (int i = 0; i < 300 && sys::process_alive(pid, start); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (sys::process_alive(pid, start)) ::kill(pid, SIGKILL);
    for (int i = 0; i < 50 && sys::process_alive(pid, start); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

void shared_down() {
    stop_shared_dockerd();
    sys::remove_tree(shared_dir());
}

void shared_up() {
    shared_down();  // a run that was killed may have left one
    fs::create_directories(shared_dir());
    if (std::string why = env_missing(); !why.empty()) return;  // the cases skip with the reason
    std::string store = shared_dir() + "/store";
    fs::create_directories(store);
    std::string tar = make_base(store);
    std::ofstream(env_ready()) << "ok\n";
    if (!docker_missing().empty()) return;
    std::string error;
    pid_t pid = start_dockerd(shared_dir() + "/docker", tar, true, error);
    if (pid < 0) throw std::runtime_error(error);
    std::ofstream(dockerd_owner()) << pid << " " << sys::process_start_time(pid) << "\n";
    std::ofstream(docker_ready()) << "ok\n";
}

e2e::CmdResult Docker::docker(const std::string& args) const { return docker_at(dir_, args); }

Json Docker::build(const std::string& name) const {
    CaseContext ctx(name);
    std::string tag = unique_tag(name);
    e2e::CmdResult r = docker("build --no-cache --network=none -q -t " + tag + " -f " + ctx.path() + "/Buildfile" +
                              build_args(name) + " " + ctx.path());
    if (r.status != 0) return {{"error", r.out}};
    std::string tar = ctx.path() + "/.docker.tar";  // inside the temp dir: removed if snapshot() throws
    r = docker("save -o " + shell_quote(tar) + " " + tag);
    if (r.status != 0) throw std::runtime_error("docker save " + tag + ": " + r.out);
    Json snap = snapshot(tar, Env::get().base_tree(), mtime_pairs(name));
    fs::remove(tar);
    return snap;
}

}  // namespace diff
