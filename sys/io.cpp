#include "sys/io.hpp"

#include <sys/mman.h>
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

ReadMapping::ReadMapping(int fd, size_t len, const std::string& what) : len_(len) {
    void* p = ::mmap(nullptr, len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) throw_errno("map " + what);
    (void)::madvise(p, len, MADV_SEQUENTIAL);  // advice only: read ahead what is not cached
    p_ = static_cast<const char*>(p);
}

ReadMapping::~ReadMapping() { ::munmap(const_cast<char*>(p_), len_); }

}  // namespace sys
