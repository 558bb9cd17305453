#include "sys/io.hpp"

#include <unistd.h>

#include <cerrno>

#include "sys/error.hpp"

namespace sys {

void read_chunks(int fd, char* buf, size_t cap, const std::string& what, const std::function<void(const char*, size_t)>& f) {
    for (;;) {
        ssize_t n = ::read(fd, buf, cap);
        if (n < 0) {
            if (errno == EINTR) continue;
            throw_errno("read " + what);
        }
        if (n == 0) return;
        f(buf, size_t(n));
    }
}

}  // namespace sys
