// Header-only test helpers: run commands, and build a busybox OCI image with umoci (no
// network needed) -- /bin/busybox from busybox-static, one symlink per applet, /etc/passwd,
// /etc/group, /tmp 1777, Cmd /bin/sh, Env PATH=/bin, one history entry.
//
//   std::string why = e2e::make_busybox_oci(dir, "latest");   // OCI layout at dir, tag latest
//   if (!why.empty()) GTEST_SKIP() << why;                     // a tool is missing
//   e2e::make_docker_archive(dir, "latest", tar, "busybox:latest");  // via skopeo copy
//
// Failures of the tools themselves throw std::runtime_error (so a test fails, not skips).
#pragma once
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace e2e {

struct CmdResult {
    int status = -1;  // exit status (or 128+signal)
    std::string out;  // stdout (and stderr when merged)
};

// Runs `cmd` with /bin/sh; stderr is merged into out unless merge_stderr is false
// (then it goes to the test's stderr).
inline CmdResult run_cmd(const std::string& cmd, bool merge_stderr = true) {
    CmdResult r;
    std::string full = cmd + (merge_stderr ? " 2>&1" : "");
    FILE* p = ::popen(full.c_str(), "r");
    if (!p) throw std::runtime_error("popen failed: " + cmd);
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    int st = ::pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    return r;
}

// How many times `needle` occurs in `hay` (overlapping occurrences count).
inline size_t count_substr(const std::string& hay, const std::string& needle) {
    size_t n = 0;
    for (size_t i = hay.find(needle); i != std::string::npos; i = hay.find(needle, i + 1)) n++;
    return n;
}

inline bool have_tool(const std::string& name) { return run_cmd("command -v " + name + " >/dev/null").status == 0; }

inline std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

inline void must(const std::string& cmd) {
    CmdResult r = run_cmd(cmd);
    if (r.status != 0) throw std::runtime_error("command failed (" + std::to_string(r.status) + "): " + cmd + "\n" + r.out);
}

// Build the busybox rootfs in `rootfs` (an existing, empty directory).
inline void make_busybox_rootfs(const std::string& rootfs) {
    namespace fs = std::filesystem;
    fs::create_directories(rootfs + "/bin");
    fs::create_directories(rootfs + "/etc");
    fs::create_directories(rootfs + "/tmp");
    fs::create_directories(rootfs + "/root");
    ::chmod((rootfs + "/tmp").c_str(), 01777);
    fs::copy_file("/bin/busybox", rootfs + "/bin/busybox", fs::copy_options::overwrite_existing);
    ::chmod((rootfs + "/bin/busybox").c_str(), 0755);
    CmdResult list = run_cmd("/bin/busybox --list", false);
    if (list.status != 0) throw std::runtime_error("busybox --list failed");
    size_t i = 0;
    while (i < list.out.size()) {
        size_t j = list.out.find('\n', i);
        if (j == std::string::npos) j = list.out.size();
        std::string applet = list.out.substr(i, j - i);
        i = j + 1;
        if (applet.empty() || applet == "busybox" || applet.find('/') != std::string::npos) continue;
        fs::create_symlink("busybox", rootfs + "/bin/" + applet);
    }
    std::ofstream(rootfs + "/etc/passwd") << "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n";
    std::ofstream(rootfs + "/etc/group") << "root:x:0:\nnogroup:x:65534:\n";
}

// Returns "" on success, or the reason it cannot be built here (for GTEST_SKIP).
inline std::string make_busybox_oci(const std::string& dir, const std::string& tag = "latest") {
    for (const char* t : {"umoci"})
        if (!have_tool(t)) return std::string(t) + " is not installed (scripts/setup installs it)";
    if (::access("/bin/busybox", X_OK) != 0) return "/bin/busybox (busybox-static) is not installed";
    std::string bundle = dir + ".bundle";
    std::string img = shell_quote(dir + ":" + tag);
    must("umoci init --layout " + shell_quote(dir));
    must("umoci new --image " + img);
    must("umoci unpack --image " + img + " " + shell_quote(bundle));
    std::filesystem::remove_all(bundle + "/rootfs");
    std::filesystem::create_directory(bundle + "/rootfs");
    make_busybox_rootfs(bundle + "/rootfs");
    must("umoci repack --image " + img + " --history.created_by 'imgbuild test: busybox rootfs' " + shell_quote(bundle));
    must("umoci config --image " + img + " --config.cmd /bin/sh --config.env PATH=/bin --history.created_by 'CMD /bin/sh'");
    must("umoci gc --layout " + shell_quote(dir));
    std::filesystem::remove_all(bundle);
    return "";
}

// skopeo copy oci:DIR:TAG docker-archive:TAR:NAME. Returns "" or why it cannot run.
inline std::string make_docker_archive(const std::string& oci_dir, const std::string& tag, const std::string& tar,
                                       const std::string& name) {
    if (!have_tool("skopeo")) return "skopeo is not installed (scripts/setup installs it)";
    must("skopeo --insecure-policy copy -q oci:" + shell_quote(oci_dir + ":" + tag) + " docker-archive:" +
         shell_quote(tar + ":" + name));
    return "";
}

}  // namespace e2e
