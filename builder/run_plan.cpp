#include "builder/run_plan.hpp"

#include <arpa/inet.h>

#include <algorithm>

#include "context/context.hpp"
#include "context/dockerignore.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"

namespace builder {

using frontend::Heredoc;
using frontend::Instruction;
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

// A Buildfile (or the ONBUILD of its base) asks; only the person running the build grants.
void check_entitlements(const BuildOptions& o, const Instruction& in) {
    auto need = [&](const char* ent, const std::string& flag) {
        if (!o.allow.count(ent))
            sys::fail(Code::FailedPrecondition, "RUN " + flag + " needs the " + ent +
                                                      " entitlement: pass --allow " + ent +
                                                      " to imgbuild build (or list it under allow: in the config file)");
    };
    if (in.network == "host") need("network.host", "--network=host");
    if (in.security == "insecure") {
        need("security.insecure", "--security=insecure");
        sys::fail(Code::InvalidInput, "RUN --security=insecure is not implemented");
    }
}

void plan_argv(const Instruction& in, const std::vector<std::string>& shell, RunPlan& p) {
    if (in.json_form) {
        p.argv = in.args;
        return;
    }
    std::string cmd = in.args.empty() ? "" : in.args[0];
    if (in.heredocs.size() == 1 && is_lone_marker(cmd, in.heredocs[0])) {
        const Heredoc& h = in.heredocs[0];
        if (h.content.rfind("#!", 0) == 0) {
            p.script = std::make_pair("/run/imgbuild-heredoc/" + h.name, h.content);
            p.argv = {p.script->first};
        } else {
            p.argv = shell;
            p.argv.push_back(h.content);
        }
        return;
    }
    // The shell itself reads the heredocs: pass the whole text through.
    for (const auto& h : in.heredocs) cmd += "\n" + h.content + h.name;
    p.argv = shell;
    p.argv.push_back(cmd);
}

}  // namespace

void check_entitlement_name(const std::string& name, const std::string& what) {
    if (name != "network.host" && name != "security.insecure")
        sys::fail(Code::InvalidInput, what + ": unknown entitlement \"" + name + "\" (known: network.host, security.insecure)");
}

std::string clean_mount_target(const std::string& t, const std::string& workdir) {
    return context::clean_path(t.empty() || t[0] != '/' ? sys::path_join(workdir.empty() ? "/" : workdir, t) : t);
}

// A --mount uid/gid (decimal) or mode (octal) option: all digits and in range, or InvalidInput.
static std::optional<uint32_t> mount_number(const std::string& v, const char* name, int base, uint64_t max) {
    if (v.empty()) return std::nullopt;
    const char* digits = base == 8 ? "01234567" : "0123456789";
    bool ok = v.size() <= 12 && v.find_first_not_of(digits) == std::string::npos;
    uint64_t n = ok ? std::stoull(v, nullptr, base) : 0;
    if (!ok || n > max)
        sys::fail(Code::InvalidInput, std::string("RUN --mount: invalid value for ") + name + ": \"" + v + "\"" +
                                          (base == 8 ? " (an octal mode up to 7777)" : " (0 to 4294967294)"));
    return uint32_t(n);
}

namespace {

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    for (size_t p = 0; p < text.size();) {
        size_t q = std::min(text.find('\n', p), text.size());
        size_t end = q > p && text[q - 1] == '\r' ? q - 1 : q;  // as Go's line scanner
        out.push_back(text.substr(p, end - p));
        p = q + 1;
    }
    return out;
}

std::vector<std::string> fields(const std::string& line) {
    std::vector<std::string> out;
    const char* ws = " \t\r\n\v\f";
    for (size_t i = line.find_first_not_of(ws); i != std::string::npos; i = line.find_first_not_of(ws, i)) {
        size_t j = line.find_first_of(ws, i);
        out.push_back(line.substr(i, j - i));
        i = j;
    }
    return out;
}

// A nameserver address as Go's netip.ParseAddr reads it and Addr.String writes it ("" if
// invalid); *loopback: 127.0.0.0/8, ::1, or an IPv4-mapped loopback.
std::string canonical_ip(const std::string& text, bool* loopback) {
    unsigned char a[16];
    char buf[INET6_ADDRSTRLEN];
    *loopback = false;
    if (::inet_pton(AF_INET, text.c_str(), a) == 1) {
        *loopback = a[0] == 127;
        return ::inet_ntop(AF_INET, a, buf, sizeof buf);
    }
    std::string addr = text, zone;
    if (size_t pct = text.find('%'); pct != std::string::npos) {
        addr = text.substr(0, pct), zone = text.substr(pct);
        if (zone.size() < 2) return "";
    }
    if (::inet_pton(AF_INET6, addr.c_str(), a) != 1) return "";
    static const unsigned char kOne[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    *loopback = std::equal(a, a + 16, kOne) || (std::equal(a, a + 12, kMapped) && a[12] == 127);
    return ::inet_ntop(AF_INET6, a, buf, sizeof buf) + zone;
}

}  // namespace

std::string sandbox_hosts(const std::string& hostname) {
    return "127.0.0.1\tlocalhost " + (hostname.empty() ? std::string("buildkitsandbox") : hostname) +
           "\n::1\tlocalhost ip6-localhost ip6-loopback\n";
}

std::string sandbox_resolv_conf(const std::string& host_conf, bool host_network) {
    std::vector<std::pair<std::string, bool>> servers;  // (address, loopback)
    std::vector<std::string> search, options, other;
    for (const std::string& line : lines_of(host_conf)) {
        if (line.empty() || line[0] == '#' || line[0] == ';') continue;
        std::vector<std::string> f = fields(line);
        if (f.empty()) continue;
        if (f[0] == "nameserver") {
            bool lo = false;
            std::string ip = f.size() < 2 ? "" : canonical_ip(f[1], &lo);
            if (!ip.empty()) servers.emplace_back(ip, lo);
        } else if (f[0] == "domain" || f[0] == "search") {
            if (f.size() >= 2) search.assign(f.begin() + 1, f.end());  // the last one wins
        } else if (f[0] == "options") {
            options.insert(options.end(), f.begin() + 1, f.end());
        } else {
            other.push_back(line);
        }
    }
    if (!host_network || servers.empty()) {
        std::vector<std::pair<std::string, bool>> kept;
        for (auto& s : servers)
            if (!s.second) kept.push_back(s);
        if (kept.empty())
            for (const char* d : {"8.8.8.8", "8.8.4.4", "2001:4860:4860::8888", "2001:4860:4860::8844"}) kept.emplace_back(d, false);
        servers = kept;
    }
    std::string out;
    for (auto& s : servers) out += "nameserver " + s.first + "\n";
    auto line = [&](const char* key, const std::vector<std::string>& v) {
        if (v.empty()) return;
        out += key;
        for (auto& x : v) out += " " + x;
        out += "\n";
    };
    line("search", search);
    line("options", options);
    for (auto& o : other) out += o + "\n";
    return out;
}

std::string resolv_conf_source(const std::string& etc_resolv_conf, bool host_network) {
    if (host_network) return "/etc/resolv.conf";
    std::vector<std::string> servers;
    for (const std::string& line : lines_of(etc_resolv_conf)) {
        std::vector<std::string> f = fields(line);
        if (f.size() >= 2 && f[0] == "nameserver") servers.push_back(f[1]);
    }
    return servers.size() == 1 && servers[0] == "127.0.0.53" ? "/run/systemd/resolve/resolv.conf" : "/etc/resolv.conf";
}

// A host file's content, "" when there is none.
static std::string read_host_file(const std::string& path) {
    try {
        return sys::read_file(path, 1u << 20);
    } catch (const Error& e) {
        if (e.code() != Code::NotFound) throw;
        return std::string();
    }
}

std::string read_host_resolv_conf(bool host_network) {
    std::string etc = read_host_file("/etc/resolv.conf");
    std::string src = resolv_conf_source(etc, host_network);
    return src == "/etc/resolv.conf" ? etc : read_host_file(src);
}

std::vector<SandboxFile> run_etc_files(const std::string& hostname, bool host_network) {
    std::string hosts = host_network ? read_host_file("/etc/hosts") : "";
    return {{"/etc/hosts", hosts.empty() ? sandbox_hosts(hostname) : hosts},
            {"/etc/hostname", hostname + "\n"},
            {"/etc/resolv.conf", sandbox_resolv_conf(read_host_resolv_conf(host_network), host_network)}};
}

std::vector<SandboxFile> sandbox_files(const std::string& hostname, const std::string& host_resolv_conf, bool host_network) {
    return {{"/etc/resolv.conf", sandbox_resolv_conf(host_resolv_conf, host_network)},
            {"/etc/hosts", sandbox_hosts(hostname)}};
}

RunPlan plan_run(const Instruction& in, const std::vector<std::string>& shell, const std::string& workdir,
                 const BuildOptions& opts) {
    RunPlan p;
    plan_argv(in, shell, p);
    if (p.argv.empty()) sys::fail(Code::InvalidInput, "RUN has no command");
    check_entitlements(opts, in);
    p.network = in.network == "default" ? (opts.network == runtime::Network::Host ? "host" : "none") : in.network;
    std::string wd = workdir.empty() ? "/" : workdir;
    for (size_t i = 0; i < in.mounts.size(); i++) {
        const auto& m = in.mounts[i];
        RunMountPlan mp;
        mp.type = m.type;
        mp.index = i;
        mp.read_only = m.readonly;
        if (m.type == "cache" || m.type == "secret") {
            mp.uid = mount_number(m.uid, "uid", 10, 4294967294u);
            mp.gid = mount_number(m.gid, "gid", 10, 4294967294u);
            mp.mode = mount_number(m.mode, "mode", 8, 07777);
        }
        if (m.type == "bind") {
            mp.target = clean_mount_target(m.target, wd);
            mp.source = m.source.empty() ? "/" : m.source;
            mp.from = m.from;
        } else if (m.type == "cache") {
            mp.target = clean_mount_target(m.target, wd);
            mp.cache_id = m.id.empty() ? mp.target : m.id;
        } else if (m.type == "tmpfs") {
            mp.target = clean_mount_target(m.target, wd);
            mp.read_only = false;
            mp.tmpfs_size = m.size;
        } else if (m.type == "secret") {
            mp.read_only = true;
            if (!m.target.empty()) mp.target = clean_mount_target(m.target, wd);
            else if (m.env.empty()) mp.target = "/run/secrets/" + m.id;
        } else {
            sys::fail(Code::InvalidInput, "RUN --mount=type=" + m.type + ": unsupported mount type");
        }
        p.mounts.push_back(std::move(mp));
    }
    return p;
}

}  // namespace builder
