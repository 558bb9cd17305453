// Whole-stream reads on a file descriptor (the one read loop), and read-only file mappings.
#pragma once
#include <cstddef>
#include <functional>
#include <string>

namespace sys {

// read(2) fd to EOF into buf (cap bytes at a time), retrying EINTR: f(data, n) for each chunk.
// A read error throws (errno kept) naming `what`: "read <what>: <strerror>".
void read_chunks(int fd, char* buf, size_t cap, const std::string& what, const std::function<void(const char*, size_t)>& f);

// The first `len` bytes of a regular file, mapped read-only (MAP_PRIVATE, read sequentially):
// its page-cache pages are read where they are, without a copy into a buffer. Only for a file
// nothing truncates while it is mapped (a read past a shrunken end is SIGBUS): callers check the
// size on the open fd first. len > 0.
class ReadMapping {
public:
    ReadMapping(int fd, size_t len, const std::string& what);
    ~ReadMapping();
    ReadMapping(const ReadMapping&) = delete;
    ReadMapping& operator=(const ReadMapping&) = delete;
    const char* data() const { return p_; }
    size_t size() const { return len_; }

private:
    const char* p_;
    size_t len_;
};

}  // namespace sys
