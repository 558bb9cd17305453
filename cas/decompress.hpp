// Layer decompression with only the declared, built-in decompressor: zlib for gzip, libzstd
// for zstd, nothing for a plain tar. Never libarchive's filters: its "all" set (and any
// filter built without its library) runs external programs, which must never happen on
// attacker bytes as root. Truncated streams, bad checksums and trailing garbage are errors.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "sys/fd.hpp"

namespace cas {

enum class Compression { None, Gzip, Zstd };

// The compression a layer media type declares (OCI and docker types; "+gzip", "+zstd",
// plain tar and the foreign/nondistributable variants). InvalidInput for anything else.
Compression compression_for_media_type(std::string_view media_type);

// For blobs whose type is not declared (docker-archive layers, snapshots): gzip or zstd by
// their magic bytes, None otherwise (then the tar reader rejects what is not a tar).
Compression sniff_compression(const void* head, size_t n);
Compression sniff_compression_fd(int fd);  // reads the first bytes with pread (offset unchanged)

// Reads the decompressed bytes of `fd` (not owned; read from its current offset).
class Decompressor {
public:
    // `input`, when given, sees every byte read from fd, in order, before it is decompressed.
    using InputTap = std::function<void(const char*, size_t)>;
    Decompressor(int fd, Compression c, std::string what, InputTap input = {});
    ~Decompressor();
    Decompressor(const Decompressor&) = delete;
    Decompressor& operator=(const Decompressor&) = delete;
    // Up to n bytes; 0 only at the clean end of the stream. Throws InvalidInput naming `what`
    // for corrupt or truncated input (a gzip member without its trailer, a zstd frame cut
    // short) and for trailing bytes that are not another gzip member / zstd frame.
    size_t read(void* buf, size_t n);
    uint64_t consumed() const;  // compressed bytes used so far (for the ratio guard)
    uint64_t produced() const;  // decompressed bytes returned so far
    Compression compression() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace cas
