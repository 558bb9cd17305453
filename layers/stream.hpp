// Byte streams shared by the layer writer, the extractor and recompress(): a deterministic
// compressor (zlib gzip with no name/mtime, or zstd) feeding a sink, and a decompressing
// reader over a stored blob (gzip/zstd/none by magic; built-in decompressors only).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "cas/decompress.hpp"
#include "layers/layer.hpp"
#include "sys/fd.hpp"

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

// Reads the decompressed bytes of a stored blob whose compression is not declared: gzip
// or zstd by magic, else a plain tar. Only the built-in decompressors of cas/decompress.hpp
// run (never libarchive's filters, which can exec external programs).
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
    Compression detected_ = Compression::None;
    std::unique_ptr<cas::Decompressor> in_;
};

}  // namespace layers::detail
