// The scratch buffer of a read/write loop: allocated, never zero-filled. On a VM the first touch
// of each 4 KiB page is a fault (~14 us on this project's CI machines), so a zero-filled 1 MiB
// std::vector costs ~4 ms before the first byte is read; this one touches only the pages that a
// read fills -- one or two for a small file.
#pragma once
#include <cstddef>
#include <memory>

namespace sys {

class ScratchBuffer {
public:
    explicit ScratchBuffer(size_t n) : p_(new char[n]), n_(n) {}
    char* data() { return p_.get(); }
    unsigned char* bytes() { return reinterpret_cast<unsigned char*>(p_.get()); }
    size_t size() const { return n_; }

private:
    std::unique_ptr<char[]> p_;
    size_t n_;
};

}  // namespace sys
