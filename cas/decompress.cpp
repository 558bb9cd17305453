#include "cas/decompress.hpp"

#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <vector>

#include "sys/buffer.hpp"
#include "sys/error.hpp"

namespace cas {

Compression compression_for_media_type(std::string_view mt) {
    auto ends = [&](std::string_view s) { return mt.size() >= s.size() && mt.substr(mt.size() - s.size()) == s; };
    if (mt == "application/vnd.docker.image.rootfs.diff.tar.gzip" ||
        mt == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip")
        return Compression::Gzip;
    bool oci = mt.substr(0, 35) == "application/vnd.oci.image.layer.v1." ||
               mt.substr(0, 51) == "application/vnd.oci.image.layer.nondistributable.v1.";
    if (oci && ends(".tar+gzip")) return Compression::Gzip;
    if (oci && ends(".tar+zstd")) return Compression::Zstd;
    if (oci && ends(".tar")) return Compression::None;
    if (mt == "application/vnd.docker.image.rootfs.diff.tar") return Compression::None;
    sys::fail(sys::Code::InvalidInput, "unsupported layer media type \"" + std::string(mt) + "\"");
}

Compression sniff_compression(const void* head, size_t n) {
    auto* m = static_cast<const unsigned char*>(head);
    if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b) return Compression::Gzip;
    if (n >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) return Compression::Zstd;
    return Compression::None;
}

Compression sniff_compression_fd(int fd) {
    unsigned char m[4] = {0, 0, 0, 0};
    ssize_t n;
    do n = ::pread(fd, m, sizeof m, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) sys::throw_errno("read blob header");
    return sniff_compression(m, size_t(n));
}

struct Decompressor::Impl {
    int fd;
    Compression c;
    std::string what;
    Decompressor::InputTap tap;
    sys::ScratchBuffer in{1 << 20};
    size_t in_pos = 0, in_len = 0;
    bool eof = false, done = false, member_open = false;
    uint64_t consumed = 0, produced = 0;
    z_stream z{};
    ZSTD_DStream* zs = nullptr;
    size_t zret = 0;  // last ZSTD_decompressStream result: 0 = frame complete
    uint64_t members = 0, frames = 0;

    [[noreturn]] void bad(const std::string& why) { sys::fail(sys::Code::InvalidInput, what + ": " + why); }

    // Refill the input buffer when it is empty; false at end of file.
    bool fill() {
        if (in_pos < in_len) return true;
        if (eof) return false;
        ssize_t n;
        do n = ::read(fd, in.data(), in.size());
        while (n < 0 && errno == EINTR);
        if (n < 0) sys::throw_errno(what + ": read");
        in_pos = 0;
        in_len = size_t(n);
        if (tap && n > 0) tap(in.data(), in_len);
        if (n == 0) eof = true;
        return n > 0;
    }

    size_t plain(unsigned char* out, size_t n) {
        if (!fill()) return 0;
        size_t k = std::min(n, in_len - in_pos);
        std::copy(in.bytes() + in_pos, in.bytes() + in_pos + k, out);
        in_pos += k;
        consumed += k;
        return k;
    }

    size_t gzip(unsigned char* out, size_t n) {
        for (;;) {
            if (!member_open) {  // before a member: the end of the stream, or a gzip magic
                if (!fill()) {
                    if (members == 0) bad("empty gzip stream");
                    return 0;
                }
                if (in.bytes()[in_pos] != 0x1f || (in_len - in_pos >= 2 && in.bytes()[in_pos + 1] != 0x8b))
                    bad(members ? "trailing data after the gzip stream" : "not a gzip stream (declared gzip)");
                if (inflateReset(&z) != Z_OK) bad("gzip: inflateReset failed");
                member_open = true;
            }
            bool have = fill();
            size_t avail = have ? in_len - in_pos : 0;
            size_t cap = std::min<size_t>(n, 1u << 30);
            z.next_in = in.bytes() + in_pos;
            z.avail_in = uInt(avail);
            z.next_out = out;
            z.avail_out = uInt(cap);
            int r = inflate(&z, Z_NO_FLUSH);
            size_t used = avail - z.avail_in;
            in_pos += used;
            consumed += used;
            size_t got = cap - z.avail_out;
            if (r == Z_STREAM_END) {
                member_open = false;
                members++;
            } else if (r == Z_BUF_ERROR || (r == Z_OK && !have && got == 0)) {
                if (!have) bad("truncated gzip stream (unexpected end of data)");
                bad("corrupt gzip stream (no progress)");
            } else if (r != Z_OK) {
                bad(std::string("corrupt gzip stream: ") + (z.msg ? z.msg : zError(r)));
            }
            if (got) return got;
        }
    }

    size_t zstd(unsigned char* out, size_t n) {
        for (;;) {
            bool have = fill();
            ZSTD_inBuffer ib{in.data() + in_pos, have ? in_len - in_pos : 0, 0};
            ZSTD_outBuffer ob{out, n, 0};
            if (!have && zret == 0) {
                if (!frames) bad("empty zstd stream");
                return 0;
            }
            zret = ZSTD_decompressStream(zs, &ob, &ib);
            if (ZSTD_isError(zret)) bad(std::string("corrupt zstd stream: ") + ZSTD_getErrorName(zret));
            in_pos += ib.pos;
            consumed += ib.pos;
            if (zret == 0) frames++;
            if (ob.pos) return ob.pos;
            if (!have && zret != 0) bad("truncated zstd stream (unexpected end of data)");
        }
    }
};

Decompressor::Decompressor(int fd, Compression c, std::string what, InputTap input)
    : impl_(new Impl{fd, c, std::move(what), std::move(input)}) {
    if (c == Compression::Gzip) {
        if (inflateInit2(&impl_->z, 15 + 16) != Z_OK) sys::fail(sys::Code::Internal, "gzip: inflateInit2 failed");
    } else if (c == Compression::Zstd) {
        impl_->zs = ZSTD_createDStream();
        if (!impl_->zs) sys::fail(sys::Code::Internal, "zstd: cannot create a decompression context");
    }
}

Decompressor::~Decompressor() {
    if (impl_->c == Compression::Gzip) inflateEnd(&impl_->z);
    if (impl_->zs) ZSTD_freeDStream(impl_->zs);
}

size_t Decompressor::read(void* buf, size_t n) {
    if (n == 0 || impl_->done) return 0;
    auto* out = static_cast<unsigned char*>(buf);
    size_t got = 0;
    switch (impl_->c) {
        case Compression::None: got = impl_->plain(out, n); break;
        case Compression::Gzip: got = impl_->gzip(out, n); break;
        case Compression::Zstd: got = impl_->zstd(out, n); break;
    }
    if (got == 0) impl_->done = true;
    impl_->produced += got;
    return got;
}

uint64_t Decompressor::consumed() const { return impl_->consumed; }
uint64_t Decompressor::produced() const { return impl_->produced; }
Compression Decompressor::compression() const { return impl_->c; }

}  // namespace cas
