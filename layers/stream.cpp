#include "layers/stream.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>
#include <zstd.h>

#include <cstring>
#include <vector>

#include "sys/buffer.hpp"
#include "sys/error.hpp"

namespace layers {

const char* media_type_for(Compression c) {
    switch (c) {
        case Compression::Gzip: return "application/vnd.oci.image.layer.v1.tar+gzip";
        case Compression::Zstd: return "application/vnd.oci.image.layer.v1.tar+zstd";
        case Compression::None: break;
    }
    return "application/vnd.oci.image.layer.v1.tar";
}

namespace detail {

BufferedSink::BufferedSink(Sink sink, size_t cap) : sink_(std::move(sink)), cap_(cap) { buf_.reserve(cap); }

void BufferedSink::write(const void* p, size_t n) {
    if (buf_.size() + n > cap_) flush();
    if (n >= cap_) {
        sink_(p, n);
        return;
    }
    buf_.append(static_cast<const char*>(p), n);
}

void BufferedSink::flush() {
    if (buf_.empty()) return;
    sink_(buf_.data(), buf_.size());
    buf_.clear();
}

// Fixed parameters: the same input gives the same compressed bytes on any machine with
// the same library versions (gzip header has no name and mtime 0; zstd output does not
// depend on the number of worker threads once workers are enabled).
constexpr int kGzipLevel = 6;
constexpr int kZstdLevel = 3;
constexpr int kZstdWorkers = 2;

struct Compressor::Impl {
    Compression c;
    Sink sink;
    z_stream z{};
    ZSTD_CCtx* zs = nullptr;
    sys::ScratchBuffer out{1 << 18};
    bool finished = false;

    void gz(const void* p, size_t n, int flush) {
        z.next_in = static_cast<Bytef*>(const_cast<void*>(p));
        z.avail_in = uInt(n);
        for (;;) {
            z.next_out = out.bytes();
            z.avail_out = uInt(out.size());
            int r = deflate(&z, flush);
            if (r == Z_STREAM_ERROR) sys::fail(sys::Code::Internal, "gzip: deflate failed");
            size_t have = out.size() - z.avail_out;
            if (have) sink(out.data(), have);
            if (flush == Z_FINISH ? r == Z_STREAM_END : (z.avail_in == 0 && z.avail_out != 0)) break;
        }
    }
    void zstd(const void* p, size_t n, ZSTD_EndDirective end) {
        ZSTD_inBuffer in{p, n, 0};
        for (;;) {
            ZSTD_outBuffer o{out.data(), out.size(), 0};
            size_t r = ZSTD_compressStream2(zs, &o, &in, end);
            if (ZSTD_isError(r)) sys::fail(sys::Code::Internal, std::string("zstd: ") + ZSTD_getErrorName(r));
            if (o.pos) sink(out.data(), o.pos);
            if (end == ZSTD_e_end ? r == 0 : in.pos == in.size) break;
        }
    }
};

Compressor::Compressor(Compression c, Sink sink) : impl_(new Impl{c, std::move(sink)}) {
    if (c == Compression::Gzip) {
        if (deflateInit2(&impl_->z, kGzipLevel, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            sys::fail(sys::Code::Internal, "gzip: deflateInit2 failed");
    } else if (c == Compression::Zstd) {
        impl_->zs = ZSTD_createCCtx();
        if (!impl_->zs) sys::fail(sys::Code::Internal, "zstd: cannot create context");
        ZSTD_CCtx_setParameter(impl_->zs, ZSTD_c_compressionLevel, kZstdLevel);
        ZSTD_CCtx_setParameter(impl_->zs, ZSTD_c_checksumFlag, 1);
        // Ignored (error) when libzstd is built without threads: output is still deterministic.
        ZSTD_CCtx_setParameter(impl_->zs, ZSTD_c_nbWorkers, kZstdWorkers);
    }
}

Compressor::~Compressor() {
    if (impl_->c == Compression::Gzip) deflateEnd(&impl_->z);
    if (impl_->zs) ZSTD_freeCCtx(impl_->zs);
}

void Compressor::write(const void* p, size_t n) {
    if (n == 0) return;
    switch (impl_->c) {
        case Compression::None: impl_->sink(p, n); break;
        case Compression::Gzip: {
            const char* c = static_cast<const char*>(p);
            while (n > 0) {  // avail_in is 32-bit
                size_t k = std::min<size_t>(n, 1u << 30);
                impl_->gz(c, k, Z_NO_FLUSH);
                c += k;
                n -= k;
            }
            break;
        }
        case Compression::Zstd: impl_->zstd(p, n, ZSTD_e_continue); break;
    }
}

void Compressor::finish() {
    if (impl_->finished) return;
    impl_->finished = true;
    if (impl_->c == Compression::Gzip) impl_->gz(nullptr, 0, Z_FINISH);
    if (impl_->c == Compression::Zstd) impl_->zstd(nullptr, 0, ZSTD_e_end);
}

DecompressReader::DecompressReader(sys::UniqueFd fd, const std::string& what) : fd_(std::move(fd)) {
    detected_ = cas::sniff_compression_fd(fd_.get());
    in_ = std::make_unique<cas::Decompressor>(fd_.get(), detected_, what);
}

DecompressReader::~DecompressReader() = default;

size_t DecompressReader::read(void* buf, size_t n) { return in_->read(buf, n); }

}  // namespace detail
}  // namespace layers
