// Interop test helpers: a private containers-storage for podman/buildah (never the machine's own
// store), a file-tree snapshot for comparing root filesystems, and image-config access.
#pragma once
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <dirent.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../e2e/build_env.hpp"
#include "cas/digest.hpp"
#include "sys/fs.hpp"

namespace interop {

using e2e::CmdResult;
using e2e::have_tool;
using e2e::run_cmd;
using e2e::shell_quote;

inline std::string src(const std::string& rel) { return std::string(IMGBUILD_SRC) + "/" + rel; }

// Mount points listed in /proc/self/mountinfo at or under `dir`.
inline std::vector<std::string> mounts_under(const std::string& dir) {
    std::vector<std::string> out;
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::string id, parent, devno, root, mp;
        ls >> id >> parent >> devno >> root >> mp;
        if (mp == dir || mp.rfind(dir + "/", 0) == 0) out.push_back(mp);
    }
    return out;
}

// Processes whose command line mentions `dir` (conmon, podman/buildah helpers left behind).
inline std::vector<std::string> processes_mentioning(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
        std::string pid = e.path().filename();
        if (pid.find_first_not_of("0123456789") != std::string::npos || pid == std::to_string(::getpid())) continue;
        std::ifstream f(e.path() / "cmdline");
        std::string cmd((std::istreambuf_iterator<char>(f)), {});
        std::replace(cmd.begin(), cmd.end(), '\0', ' ');
        if (cmd.find(dir) != std::string::npos && cmd.find("interop-test-marker") == std::string::npos)
            out.push_back(pid + ": " + cmd);
    }
    return out;
}

// podman + buildah with a private overlay store and containers.conf in a temp dir (see
// docs/PEERS.md). The destructor removes containers and images with the tools' own
// CLI, detaches whatever is still mounted under the dir (umount2 MNT_DETACH) and deletes it.
class PeerStore {
public:
    PeerStore() : dir_("/tmp", "imgbuild-interop-peer-") {
        const std::string& d = dir_.path();
        std::filesystem::create_directories(d + "/graph");
        std::filesystem::create_directories(d + "/run");
        std::filesystem::create_directories(d + "/tmp");
        std::ofstream(d + "/storage.conf") << "[storage]\ndriver = \"overlay\"\ngraphroot = \"" << d
                                            << "/graph\"\nrunroot = \"" << d << "/run\"\n";
        std::ofstream(d + "/containers.conf")
            << "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\nnetns = \"none\"\n"
            << "[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nruntime = \"runc\"\n"
            << "tmp_dir = \"" << d << "/tmp\"\nstatic_dir = \"" << d << "/graph/libpod\"\nvolume_path = \"" << d
            << "/graph/volumes\"\n";
    }
    ~PeerStore() { cleanup(); }
    const std::string& dir() const { return dir_.path(); }
    // "CONTAINERS_STORAGE_CONF=... CONTAINERS_CONF=... TMPDIR=... "
    std::string env() const {
        const std::string& d = dir_.path();
        return "CONTAINERS_STORAGE_CONF=" + d + "/storage.conf CONTAINERS_CONF=" + d + "/containers.conf TMPDIR=" + d +
               "/tmp ";
    }
    CmdResult tool(const std::string& args, bool merge = true) const { return run_cmd(env() + args, merge); }
    // Idempotent; returns what was left behind (empty when clean).
    std::string cleanup() {
        if (cleaned_) return "";
        cleaned_ = true;
        if (have_tool("buildah")) tool("buildah rm -a");
        if (have_tool("podman")) {
            tool("podman rm -af");
            tool("podman rmi -af");
        } else if (have_tool("buildah")) {
            tool("buildah rmi -af");
        }
        std::string left;
        std::vector<std::string> ms = mounts_under(dir());
        std::sort(ms.rbegin(), ms.rend());
        for (const auto& m : ms) {
            left += "mount " + m + "\n";
            ::umount2(m.c_str(), MNT_DETACH);
        }
        for (const auto& p : processes_mentioning(dir())) left += "process " + p + "\n";
        dir_.remove();
        return left;
    }

private:
    sys::TempDir dir_;
    bool cleaned_ = false;
};

// One entry of a root file system, everything but timestamps.
struct Entry {
    char type = '?';  // f d l c b p s
    unsigned mode = 0, uid = 0, gid = 0;
    long long size = 0;
    std::string content;   // sha256 of a regular file, target of a symlink, rdev of a device
    std::string hardlink;  // first path (in sort order) sharing this inode, if another does
    bool operator==(const Entry&) const = default;
};
using Tree = std::map<std::string, Entry>;

inline std::string describe(const Entry& e) {
    char buf[128];
    std::snprintf(buf, sizeof buf, "%c %04o %u:%u size=%lld", e.type, e.mode, e.uid, e.gid, e.size);
    return std::string(buf) + (e.content.empty() ? "" : " " + e.content.substr(0, 40)) +
           (e.hardlink.empty() ? "" : " hardlink=" + e.hardlink);
}

inline Tree snapshot(const std::string& root) {
    Tree t;
    std::map<std::pair<dev_t, ino_t>, std::vector<std::string>> inodes;
    namespace fs = std::filesystem;
    for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
        std::string p = it->path().string();
        std::string rel = p.substr(root.size());
        struct stat st;
        if (::lstat(p.c_str(), &st) != 0) throw std::runtime_error("lstat " + p);
        Entry e;
        e.mode = st.st_mode & 07777;
        e.uid = st.st_uid;
        e.gid = st.st_gid;
        if (S_ISREG(st.st_mode)) {
            e.type = 'f';
            e.size = st.st_size;
            e.content = cas::Digest::of(sys::read_file(p)).str();
            if (st.st_nlink > 1) inodes[{st.st_dev, st.st_ino}].push_back(rel);
        } else if (S_ISDIR(st.st_mode)) {
            e.type = 'd';
        } else if (S_ISLNK(st.st_mode)) {
            e.type = 'l';
            e.content = fs::read_symlink(p).string();
            e.mode = 0;  // symlink permission bits are meaningless
        } else {
            e.type = S_ISCHR(st.st_mode) ? 'c' : S_ISBLK(st.st_mode) ? 'b' : S_ISFIFO(st.st_mode) ? 'p' : 's';
            e.content = std::to_string(st.st_rdev);
        }
        t[rel] = e;
    }
    for (auto& [ino, paths] : inodes) {
        if (paths.size() < 2) continue;
        std::sort(paths.begin(), paths.end());
        for (const auto& p : paths) t[p].hardlink = paths.front();
    }
    return t;
}

// Differences between two trees as lines "+path ...", "-path ...", "~path a | b"; paths for which
// `allowed(path)` is true are skipped.
template <class Allowed>
std::vector<std::string> tree_diff(const Tree& a, const Tree& b, Allowed allowed) {
    std::vector<std::string> out;
    for (const auto& [p, e] : a) {
        if (allowed(p)) continue;
        auto it = b.find(p);
        if (it == b.end())
            out.push_back("-" + p + " " + describe(e));
        else if (!(it->second == e))
            out.push_back("~" + p + " " + describe(e) + " | " + describe(it->second));
    }
    for (const auto& [p, e] : b)
        if (!allowed(p) && !a.count(p)) out.push_back("+" + p + " " + describe(e));
    return out;
}
inline std::vector<std::string> tree_diff(const Tree& a, const Tree& b) {
    return tree_diff(a, b, [](const std::string&) { return false; });
}

inline std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += x + "\n";
    return s;
}

// `imgbuild --root R inspect IMAGE --json` parsed.
inline nlohmann::json ib_inspect(const std::string& image) {
    CmdResult r = e2e::BuildEnv::get().ib("inspect --json " + image, false);
    if (r.status != 0) throw std::runtime_error("imgbuild inspect " + image + " failed");
    return nlohmann::json::parse(r.out);
}

inline std::string must_out(const std::string& cmd) {
    CmdResult r = run_cmd(cmd, false);
    if (r.status != 0) throw std::runtime_error("command failed (" + std::to_string(r.status) + "): " + cmd);
    return r.out;
}

// The interop Buildfiles in testdata/interop: name -> the line their image prints when run.
struct Case {
    std::string name, expected_output;
};
inline void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }
inline std::vector<Case> cases() {
    return {
        {"app", "user=1000:1000 pwd=/app env=interop gen=generated answer=42 args=arg1"},
        {"simple", "built\nhello from the context\nmode=simple"},
    };
}

// Builds testdata/interop/NAME into the shared e2e store as interop-NAME:latest (once per run).
inline std::string build_case(const std::string& name) {
    static std::map<std::string, std::string> done;
    if (done.count(name)) return done[name];
    std::string dir = src("testdata/interop/" + name);
    CmdResult r = e2e::BuildEnv::get().ib("build --progress plain -t interop-" + name + ":latest " + shell_quote(dir));
    done[name] = r.status == 0 ? "" : "imgbuild build " + name + " failed:\n" + r.out;
    return done[name];
}

#define REQUIRE_TOOLS(...)                                                          \
    do {                                                                            \
        for (const char* t_ : {__VA_ARGS__})                                        \
            if (!interop::have_tool(t_)) GTEST_SKIP() << t_ << " is not installed (bench/run-all.sh and scripts/setup install it)"; \
    } while (0)

}  // namespace interop
