#include "layers/tar_writer.hpp"

#include "cas/tar_write.hpp"

#include "sys/error.hpp"

namespace layers::detail {

la_ssize_t TarWriter::write_cb(struct archive*, void* ctx, const void* buf, size_t n) {
    auto* self = static_cast<TarWriter*>(ctx);
    try {
        self->out_.write(buf, n);
        return la_ssize_t(n);
    } catch (...) {
        self->err_ = std::current_exception();
        return -1;
    }
}

TarWriter::TarWriter(Sink sink) : out_(std::move(sink)) {
    // pax_restricted (cas/tar_write.hpp). The extended header's own name is "dir/PaxHeader/base"
    // (libarchive does not put the pid in it) -- the determinism tests check the bytes.
    // Names are raw bytes: the process never calls setlocale(), so in the "C" locale a
    // non-ASCII name is written with hdrcharset=BINARY, the same on every machine.
    a_ = cas::new_pax_writer();
    if (archive_write_set_bytes_per_block(a_, 0) != ARCHIVE_OK ||
        archive_write_open2(a_, this, nullptr, &TarWriter::write_cb, nullptr, nullptr) != ARCHIVE_OK) {
        std::string msg = archive_error_string(a_) ? archive_error_string(a_) : "?";
        archive_write_free(a_);
        sys::fail(sys::Code::Internal, "tar writer: " + msg);
    }
}

TarWriter::~TarWriter() {
    if (!closed_) {
        // Abandoned: do not let libarchive write an end marker into a sink being torn down.
        archive_write_fail(a_);
    }
    archive_write_free(a_);
}

void TarWriter::fail(const std::string& what) {
    if (err_) std::rethrow_exception(err_);
    sys::fail(sys::Code::Internal,
                     "write tar entry " + what + ": " + (archive_error_string(a_) ? archive_error_string(a_) : "?"));
}

void TarWriter::header(struct archive_entry* e, const std::string& what) {
    // ARCHIVE_WARN: a name that is not valid in the locale's charset was written as raw
    // bytes with hdrcharset=BINARY (checked by the round-trip test).
    int r = archive_write_header(a_, e);
    if (r < ARCHIVE_WARN) fail(what);
}

void TarWriter::data(const void* p, size_t n, const std::string& what) {
    const char* c = static_cast<const char*>(p);
    while (n > 0) {
        la_ssize_t w = archive_write_data(a_, c, n);
        if (w <= 0) fail(what);
        c += w;
        n -= size_t(w);
    }
}

void TarWriter::close() {
    if (archive_write_close(a_) != ARCHIVE_OK) fail("(end of archive)");
    closed_ = true;
    out_.flush();
}

}  // namespace layers::detail
