// Deterministic PAX tar writing over libarchive: numeric ids only, no atime/ctime, whole
// second mtimes, raw (BINARY) header charset, no block padding beyond the end marker.
#pragma once
#include <archive.h>
#include <archive_entry.h>

#include <exception>
#include <string>

#include "layers/stream.hpp"

namespace layers::detail {

class TarWriter {
public:
    explicit TarWriter(Sink sink);
    ~TarWriter();
    TarWriter(const TarWriter&) = delete;
    TarWriter& operator=(const TarWriter&) = delete;
    // Writes the header of `e` (the entry is not consumed).
    void header(struct archive_entry* e, const std::string& what);
    void data(const void* p, size_t n, const std::string& what);
    // Writes the end-of-archive marker and flushes everything to the sink.
    void close();

private:
    [[noreturn]] void fail(const std::string& what);
    static la_ssize_t write_cb(struct archive*, void* ctx, const void* buf, size_t n);
    struct archive* a_ = nullptr;
    BufferedSink out_;
    std::exception_ptr err_;
    bool closed_ = false;
};

// archive_entry with RAII.
struct Entry {
    struct archive_entry* e = archive_entry_new();
    Entry() = default;
    Entry(const Entry&) = delete;
    ~Entry() { archive_entry_free(e); }
};

}  // namespace layers::detail
