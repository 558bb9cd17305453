// Byte streams shared by the layer writer, the extractor and recompress(): a deterministic
// compressor (zlib gzip with no name/mtime, or zstd) feeding a sink, and a decompressing
// reader over a stored blob (libarchive "raw" format, so gzip/zstd/xz/none are detected).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "layers/layer.hpp"
#include "sys/fd.hpp"

struct archive;

namespace layers::detail {

using Sink = std::function<void(const void*, size_t)>;

// Buffers small writes into large ones before handing them to the sink.
class BufferedSink {
public:
    explicit BufferedSink(Sink sink, size_t cap = 1 << 20);
    void write(const void* p, size_t n);
    void flush();

private:
    Sink sink_;
    std::string buf_;
    size_t cap_;
};

class Compressor {
public:
    Compressor(Compression c, Sink sink);
    ~Compressor();
    void write(const void* p, size_t n);
    void finish();  // flush the trailer; no writes afterwards

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Reads the decompressed bytes of a blob (any compression libarchive knows, or none).
class DecompressReader {
public:
    DecompressReader(sys::UniqueFd fd, const std::string& what);
    ~DecompressReader();
    DecompressReader(const DecompressReader&) = delete;
    DecompressReader& operator=(const DecompressReader&) = delete;
    // Returns 0 at end of stream; throws on corrupt input.
    size_t read(void* buf, size_t n);
    // The compression that was detected (None for a plain tar).
    Compression detected() const { return detected_; }

private:
    sys::UniqueFd fd_;
    std::string what_;
    struct archive* a_ = nullptr;
    Compression detected_ = Compression::None;
};

}  // namespace layers::detail
