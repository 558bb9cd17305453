#include "sys/proc.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "sys/fd.hpp"

namespace sys {

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

}  // namespace sys
