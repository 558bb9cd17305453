#include "diff_env.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

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

Env::Env() : root_("/tmp", "imgbuild-diff-store-") {
    if (::geteuid() != 0) {
        error_ = "builds need root (namespaces, overlay)";
        return;
    }
    if (!e2e::have_tool("umoci") || ::access("/bin/busybox", X_OK) != 0) {
        error_ = "umoci or /bin/busybox (busybox-static) missing: scripts/setup installs them";
        return;
    }
    std::string oci = root_.path() + "/base-oci";
    make_base_oci(oci);
    e2e::CmdResult r = ib("import " + shell_quote(oci) + " --tag diffbase:latest");
    if (r.status != 0) throw std::runtime_error("import base: " + r.out);
    base_tar_ = root_.path() + "/base.tar";
    r = ib("export diffbase:latest --format docker -o " + shell_quote(base_tar_));
    if (r.status != 0) throw std::runtime_error("export base: " + r.out);
    base_tree_ = read_tree(base_tar_);
}

e2e::CmdResult Env::ib(const std::string& args) const {
    return run_cmd(std::string(IMGBUILD_BIN) + " --root " + root_.path() + " " + args);
}

Json Env::build(const std::string& name) const {
    CaseContext ctx(name);
    std::string tag = "diff-" + name + ":latest";
    e2e::CmdResult r = ib("build --progress plain -t " + tag + " -f " + ctx.path() + "/Buildfile" + build_args(name) +
                          " " + ctx.path());
    if (r.status != 0) return {{"error", r.out}};
    std::string tar = ctx.path() + ".out.tar";
    r = ib("export " + tag + " --format docker -o " + shell_quote(tar));
    if (r.status != 0) throw std::runtime_error("export " + tag + ": " + r.out);
    Json snap = snapshot(tar, base_tree_);
    fs::remove(tar);
    return snap;
}

Docker& Docker::get() {
    static Docker d;
    return d;
}

Docker::Docker() : dir_("/tmp", "imgbuild-diff-docker-") {
    if (::access("/usr/bin/docker", X_OK) != 0 || ::access("/usr/sbin/dockerd", X_OK) != 0) {
        error_ = "docker.io (/usr/bin/docker, /usr/sbin/dockerd) is not installed: scripts/setup --peers installs it";
        return;
    }
    if (!Env::get().error().empty()) {
        error_ = Env::get().error();
        return;
    }
    const std::string d = dir_.path();
    fs::create_directories(d + "/config");
    std::vector<std::string> argv = {"/usr/sbin/dockerd", "--data-root", d + "/data", "--exec-root", d + "/exec",
                                     "-H", "unix://" + d + "/docker.sock", "--pidfile", d + "/docker.pid",
                                     "--storage-driver=overlay2", "--iptables=false", "--ip6tables=false",
                                     "--ip-forward=false", "--ip-masq=false", "--bridge=none"};
    std::vector<char*> av;
    for (auto& s : argv) av.push_back(s.data());
    av.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, (d + "/dockerd.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    int rc = posix_spawn(&pid_, av[0], &fa, nullptr, av.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("spawn dockerd failed");
    for (int i = 0; i < 300; ++i) {
        if (docker("info").status == 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
            pid_ = -1;
            std::ifstream log(d + "/dockerd.log");
            error_ = "dockerd exited: " + std::string((std::istreambuf_iterator<char>(log)), {});
            return;
        }
    }
    e2e::CmdResult r = docker("load -i " + shell_quote(Env::get().base_tar()));
    if (r.status != 0) throw std::runtime_error("docker load base: " + r.out);
}

Docker::~Docker() {
    if (pid_ > 0) {
        ::kill(pid_, SIGTERM);
        ::waitpid(pid_, nullptr, 0);
    }
}

e2e::CmdResult Docker::docker(const std::string& args) const {
    const std::string d = dir_.path();
    return run_cmd("DOCKER_BUILDKIT=1 DOCKER_CONFIG=" + d + "/config DOCKER_HOST=unix://" + d +
                   "/docker.sock /usr/bin/docker " + args);
}

Json Docker::build(const std::string& name) const {
    CaseContext ctx(name);
    std::string tag = "diff-" + name + ":latest";
    e2e::CmdResult r = docker("build --network=none -q -t " + tag + " -f " + ctx.path() + "/Buildfile" +
                              build_args(name) + " " + ctx.path());
    if (r.status != 0) return {{"error", r.out}};
    std::string tar = ctx.path() + ".docker.tar";
    r = docker("save -o " + shell_quote(tar) + " " + tag);
    if (r.status != 0) throw std::runtime_error("docker save " + tag + ": " + r.out);
    Json snap = snapshot(tar, Env::get().base_tree());
    fs::remove(tar);
    return snap;
}

}  // namespace diff
