#include "sys/proc.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "sys/error.hpp"
#include "sys/fd.hpp"
#include "sys/fs.hpp"

namespace sys {

std::string owner_tag() {
    static const std::string tag = std::to_string(::getpid()) + "-" + std::to_string(process_start_time(::getpid())) + "-";
    return tag;
}

bool tag_owner_dead(const std::string& name) {
    for (size_t at = name.find('-'); at != std::string::npos; at = name.find('-', at + 1)) {
        const char* s = name.c_str() + at + 1;
        if (*s < '0' || *s > '9') continue;
        char* end = nullptr;
        unsigned long long pid = std::strtoull(s, &end, 10);
        if (*end != '-' || pid == 0 || pid > 4194304) continue;
        const char* t = end + 1;
        if (*t < '0' || *t > '9') continue;
        unsigned long long start = std::strtoull(t, &end, 10);
        if (*end != '-' || start == 0) continue;
        return !process_alive(pid_t(pid), start);
    }
    return false;
}

uint64_t process_start_time(pid_t pid) {
    if (pid <= 0) return 0;
    std::string path = "/proc/" + std::to_string(pid) + "/stat";
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return 0;
    char buf[1024];
    ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
    if (n <= 0) return 0;
    std::string s(buf, size_t(n));
    size_t p = s.rfind(')');  // the command name may hold spaces and parentheses
    if (p == std::string::npos) return 0;
    // After ") ": field 3 (state) ... field 22 (starttime) is the 20th.
    size_t pos = p + 2;
    for (int field = 3; field < 22; field++) {
        pos = s.find(' ', pos);
        if (pos == std::string::npos) return 0;
        pos++;
    }
    return std::strtoull(s.c_str() + pos, nullptr, 10);
}

void reexec_self_with(const std::string& name, const std::string& value) {
    std::string cmdline;
    try {
        cmdline = read_file("/proc/self/cmdline", 1u << 20);
    } catch (const Error&) {
        return;
    }
    std::vector<char*> argv;
    for (size_t p = 0; p < cmdline.size(); p += std::strlen(cmdline.data() + p) + 1) argv.push_back(cmdline.data() + p);
    if (argv.empty()) return;
    argv.push_back(nullptr);
    if (::setenv(name.c_str(), value.c_str(), 1) != 0) return;
    ::execv("/proc/self/exe", argv.data());
    ::unsetenv(name.c_str());
}

}  // namespace sys
