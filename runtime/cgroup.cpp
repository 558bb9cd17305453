// cgroup v1 and v2. Hierarchies come from /proc/self/mountinfo and /proc/self/cgroup.
// v2: <mount>/imgbuild/<name> (controllers enabled top-down; the mount root is exempt from the
// no-internal-processes rule). v1: <mount>/<our own cgroup>/imgbuild/<name> per controller
// (memory, cpu, cpuacct, pids), so the container stays under imgbuild's own limits.
#include "runtime/cgroup.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/proc.hpp"

namespace runtime {

namespace {

struct Hierarchy {
    std::string mount;   // mount point
    std::string root;    // root of the mount inside the hierarchy
    bool v2 = false;
    std::vector<std::string> controllers;
};

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::string cur;
    std::istringstream in(s);
    while (std::getline(in, cur, sep)) out.push_back(cur);
    return out;
}

std::string unescape(const std::string& s) {  // mountinfo octal escapes (\040)
    std::string o;
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i] == '\\' && i + 3 < s.size() + 0 && i + 3 <= s.size()) {
            o += char(std::stoi(s.substr(i + 1, 3), nullptr, 8));
            i += 3;
        } else {
            o += s[i];
        }
    }
    return o;
}

std::vector<Hierarchy> hierarchies() {
    std::vector<Hierarchy> hs;
    std::istringstream in(sys::read_file("/proc/self/mountinfo"));
    std::string line;
    while (std::getline(in, line)) {
        auto dash = line.find(" - ");
        if (dash == std::string::npos) continue;
        auto pre = split(line.substr(0, dash), ' ');
        auto post = split(line.substr(dash + 3), ' ');
        if (pre.size() < 5 || post.size() < 3) continue;
        Hierarchy h;
        h.root = unescape(pre[3]);
        h.mount = unescape(pre[4]);
        if (post[0] == "cgroup2") {
            h.v2 = true;
            try {
                h.controllers = split(sys::read_file(h.mount + "/cgroup.controllers", 4096), ' ');
                for (auto& c : h.controllers)
                    if (!c.empty() && c.back() == '\n') c.pop_back();
            } catch (...) {
            }
        } else if (post[0] == "cgroup") {
            for (auto& o : split(post[2], ','))
                if (o == "memory" || o == "cpu" || o == "cpuacct" || o == "pids") h.controllers.push_back(o);
            if (h.controllers.empty()) continue;
        } else {
            continue;
        }
        hs.push_back(std::move(h));
    }
    return hs;
}

// Our own cgroup path in a v1 hierarchy that has `controller`, from /proc/self/cgroup.
std::string own_path(const std::string& controller) {
    std::istringstream in(sys::read_file("/proc/self/cgroup"));
    std::string line;
    while (std::getline(in, line)) {
        auto a = line.find(':'), b = line.find(':', a + 1);
        if (a == std::string::npos || b == std::string::npos) continue;
        for (auto& c : split(line.substr(a + 1, b - a - 1), ','))
            if (c == controller) return line.substr(b + 1);
    }
    return "/";
}

bool has_ctl(const std::vector<std::string>& v, const std::string& c) { return std::find(v.begin(), v.end(), c) != v.end(); }

void write_file(const std::string& path, const std::string& value) {
    sys::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) sys::throw_errno("cgroup: open " + path);
    if (::write(fd.get(), value.data(), value.size()) != ssize_t(value.size()))
        sys::throw_errno("cgroup: write " + value + " to " + path);
}

bool try_read(const std::string& path, std::string* out) {
    try {
        *out = sys::read_file(path, 1 << 20);
        return true;
    } catch (...) {
        return false;
    }
}

uint64_t read_u64(const std::string& path) {
    std::string s;
    if (!try_read(path, &s)) return 0;
    return std::strtoull(s.c_str(), nullptr, 10);
}

uint64_t read_key(const std::string& path, const std::string& key) {
    std::string s;
    if (!try_read(path, &s)) return 0;
    std::istringstream in(s);
    std::string k;
    uint64_t v;
    while (in >> k >> v)
        if (k == key) return v;
    return 0;
}

}  // namespace

// mkdir parent (shared by all containers; EEXIST is fine) and then child. Another process's
// Cgroup::remove() may rmdir the empty parent in between: then the child's mkdir fails with
// ENOENT and the pair is retried.
template <typename F>
static void mkdir_under_shared_parent(const std::string& parent, const std::string& child, F&& setup_parent) {
    for (int attempt = 0;; attempt++) {
        if (::mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST) sys::throw_errno("cgroup: mkdir " + parent);
        setup_parent();
        if (::mkdir(child.c_str(), 0755) == 0) return;
        if (errno != ENOENT || attempt > 20) sys::throw_errno("cgroup: mkdir " + child);
    }
}

Cgroup::Cgroup(const std::string& name, const Limits& limits) {
    auto hs = hierarchies();
    const Hierarchy* v2 = nullptr;
    for (auto& h : hs)
        if (h.v2 && h.root == "/") v2 = &h;
    auto v1_for = [&](const char* c) -> const Hierarchy* {
        for (auto& h : hs)
            if (!h.v2 && has_ctl(h.controllers, c)) return &h;
        return nullptr;
    };
    struct Need {
        const char* ctl;
        bool wanted;
    } needs[] = {{"memory", true}, {"cpu", limits.cpus > 0}, {"pids", true}};
    std::vector<std::string> v2_enable;
    std::map<const Hierarchy*, bool> v1_use;
    for (auto& n : needs) {
        if (!n.wanted) continue;
        if (v2 && has_ctl(v2->controllers, n.ctl)) {
            v2_enable.push_back(n.ctl);
        } else if (const Hierarchy* h = v1_for(n.ctl)) {
            v1_use[h] = true;
        } else if ((std::string(n.ctl) == "memory" && limits.memory_bytes) || (std::string(n.ctl) == "cpu" && limits.cpus > 0) ||
                   (std::string(n.ctl) == "pids" && limits.pids > 0)) {
            sys::fail(sys::Code::FailedPrecondition, std::string("cgroup: a ") + n.ctl + " limit was asked for but no cgroup hierarchy has the " + n.ctl + " controller");
        }
    }
    if (!v2 || !has_ctl(v2->controllers, "cpu"))
        if (const Hierarchy* h = v1_for("cpuacct")) v1_use[h] = true;  // CPU time read-back

    // On a hybrid host whose cgroup v2 has none of our controllers, a v2 cgroup would only
    // cost another migration (an RCU grace period per run): use the v1 hierarchies alone.
    if (v2 && v2_enable.empty() && !v1_use.empty() && !has_ctl(v2->controllers, "cpu")) v2 = nullptr;
    try {
        if (v2) {
            std::string parent = v2->mount + "/imgbuild";
            std::string ctl;
            for (auto& c : v2_enable) {
                if (!ctl.empty()) ctl += ' ';
                ctl += '+';
                ctl += c;
            }
            if (!ctl.empty()) write_file(v2->mount + "/cgroup.subtree_control", ctl);
            Dir d{parent + "/" + name, true, v2_enable};
            mkdir_under_shared_parent(parent, d.path, [&] {
                if (!ctl.empty()) write_file(parent + "/cgroup.subtree_control", ctl);
            });
            d_.push_back(d);
        }
        for (auto& [h, _] : v1_use) {
            std::string own = own_path(h->controllers[0]);
            if (h->root != "/" && own.rfind(h->root, 0) == 0) own = own.substr(h->root.size());
            std::string parent = sys::path_join(h->mount + own, "imgbuild");
            Dir d{parent + "/" + name, false, h->controllers};
            mkdir_under_shared_parent(parent, d.path, [] {});
            d_.push_back(d);
        }
        for (auto& d : d_) dirs_.push_back(d.path);

        const Dir* d = nullptr;
        if (limits.memory_bytes && has("memory", &d)) {
            std::string v = std::to_string(limits.memory_bytes);
            if (d->v2) {
                write_file(d->path + "/memory.max", v);
                if (sys::exists(d->path + "/memory.swap.max")) write_file(d->path + "/memory.swap.max", "0");
            } else {
                write_file(d->path + "/memory.limit_in_bytes", v);
                if (sys::exists(d->path + "/memory.memsw.limit_in_bytes")) write_file(d->path + "/memory.memsw.limit_in_bytes", v);
            }
        }
        if (limits.cpus > 0 && has("cpu", &d)) {
            const int64_t period = 100000;
            int64_t quota = std::max<int64_t>(1000, int64_t(std::llround(limits.cpus * double(period))));
            if (d->v2) {
                write_file(d->path + "/cpu.max", std::to_string(quota) + " " + std::to_string(period));
            } else {
                write_file(d->path + "/cpu.cfs_period_us", std::to_string(period));
                write_file(d->path + "/cpu.cfs_quota_us", std::to_string(quota));
            }
        }
        if (limits.pids > 0 && has("pids", &d)) write_file(d->path + "/pids.max", std::to_string(limits.pids));
    } catch (...) {
        remove();
        throw;
    }
}

Cgroup::~Cgroup() {
    try {
        remove();
    } catch (...) {
    }
}

bool Cgroup::has(const char* controller, const Dir** out) const {
    for (auto& d : d_)
        if (has_ctl(d.controllers, controller)) {
            *out = &d;
            return true;
        }
    return false;
}

std::vector<sys::UniqueFd> Cgroup::v1_join_fds() const {
    std::vector<sys::UniqueFd> fds;
    for (auto& d : d_) {
        if (d.v2) continue;
        std::string tasks = d.path + "/tasks";
        sys::UniqueFd fd(::open(tasks.c_str(), O_WRONLY | O_CLOEXEC));
        if (!fd) sys::throw_errno("cgroup: open " + tasks);
        fds.push_back(std::move(fd));
    }
    return fds;
}

sys::UniqueFd Cgroup::v2_dir_fd() const {
    for (auto& d : d_) {
        if (!d.v2) continue;
        sys::UniqueFd fd(::open(d.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!fd) sys::throw_errno("cgroup: open " + d.path);
        return fd;
    }
    return {};
}

void Cgroup::add_to_v2(pid_t pid) {
    for (auto& d : d_)
        if (d.v2) write_file(d.path + "/cgroup.procs", std::to_string(pid));
}

std::vector<pid_t> Cgroup::pids() const {
    std::vector<pid_t> out;
    for (auto& d : d_) {
        std::string s;
        if (!try_read(d.path + "/cgroup.procs", &s)) continue;
        std::istringstream in(s);
        pid_t p;
        while (in >> p)
            if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
    }
    return out;
}

CgroupStats Cgroup::stats() const {
    CgroupStats s;
    const Dir* d = nullptr;
    if (has("memory", &d)) {
        if (d->v2) {
            s.peak_memory_bytes = read_u64(d->path + "/memory.peak");
            s.oom_kills = read_key(d->path + "/memory.events", "oom_kill");
        } else {
            s.peak_memory_bytes = read_u64(d->path + "/memory.max_usage_in_bytes");
            std::string oc;
            if (try_read(d->path + "/memory.oom_control", &oc) && oc.find("oom_kill ") != std::string::npos)
                s.oom_kills = read_key(d->path + "/memory.oom_control", "oom_kill");
            else
                s.oom_kills = read_u64(d->path + "/memory.failcnt") ? 1 : 0;
        }
    }
    if (has("cpuacct", &d)) {
        s.cpu_usage_ns = read_u64(d->path + "/cpuacct.usage");
    } else {
        for (auto& x : d_)
            if (x.v2) s.cpu_usage_ns = read_key(x.path + "/cpu.stat", "usage_usec") * 1000;
    }
    return s;
}

void Cgroup::kill_all() {
    for (auto& d : d_)
        if (d.v2 && sys::exists(d.path + "/cgroup.kill")) {
            try {
                write_file(d.path + "/cgroup.kill", "1");
            } catch (...) {
            }
        }
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (int i = 0;; i++) {
        auto left = pids();
        if (left.empty()) return;
        for (pid_t p : left) ::kill(p, SIGKILL);
        if (std::chrono::steady_clock::now() > until)
            sys::fail(sys::Code::System, "cgroup: processes still running after SIGKILL in " + d_.front().path);
        std::this_thread::sleep_for(std::chrono::microseconds(i < 100 ? 200 : 2000));
    }
}

void Cgroup::remove() {
    if (d_.empty()) return;
    kill_all();
    for (auto it = d_.rbegin(); it != d_.rend(); ++it) {
        for (int i = 0;; i++) {
            if (::rmdir(it->path.c_str()) == 0 || errno == ENOENT) break;
            if (errno != EBUSY || i > 1000) sys::throw_errno("cgroup: remove " + it->path);
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
        // The shared "imgbuild" parent goes too once no other container uses it (EBUSY or
        // ENOTEMPTY while one does; a concurrent create retries, see mkdir_under_shared_parent).
        std::string parent = it->path.substr(0, it->path.find_last_of('/'));
        (void)::rmdir(parent.c_str());
    }
    d_.clear();
}

std::string Cgroup::default_name() {
    static std::atomic<unsigned> n{0};
    return "imgbuild-" + sys::owner_tag() + std::to_string(n++);
}

std::vector<std::string> Cgroup::reap_stale() {
    std::vector<std::string> removed;
    try {
        std::vector<Dir> parents;
        for (auto& h : hierarchies()) {
            if (h.v2) {
                if (h.root == "/") parents.push_back({h.mount + "/imgbuild", true, {}});
                continue;
            }
            std::string own = own_path(h.controllers[0]);
            if (h.root != "/" && own.rfind(h.root, 0) == 0) own = own.substr(h.root.size());
            parents.push_back({sys::path_join(h.mount + own, "imgbuild"), false, {}});
        }
        auto alive = [](pid_t pid, uint64_t start) {
            if (start != 0) return sys::process_alive(pid, start);
            return sys::process_start_time(pid) != 0;  // old names: the pid alone (reuse keeps it)
        };
        for (const Dir& parent : parents) {
            std::vector<std::string> names;
            try {
                names = sys::list_dir(parent.path, true);
            } catch (const std::exception&) {
                continue;
            }
            for (const std::string& name : names) {
                if (!is_stale(name, alive)) continue;
                Cgroup cg;
                cg.d_.push_back({parent.path + "/" + name, parent.v2, {}});
                try {
                    cg.remove();
                    removed.push_back(parent.path + "/" + name);
                } catch (const std::exception&) {
                }
            }
        }
    } catch (const std::exception&) {
    }
    return removed;
}

}  // namespace runtime
