// Whole-stream reads on a file descriptor (the one read loop).
#pragma once
#include <cstddef>
#include <functional>
#include <string>

namespace sys {

// read(2) fd to EOF into buf (cap bytes at a time), retrying EINTR: f(data, n) for each chunk.
// A read error throws (errno kept) naming `what`: "read <what>: <strerror>".
void read_chunks(int fd, char* buf, size_t cap, const std::string& what, const std::function<void(const char*, size_t)>& f);

}  // namespace sys
