// Reading a tar with libarchive from a stream we produce ourselves (a decompressor that
// hashes and counts): the one read callback, its buffer, and the exception the stream
// raised inside it, kept so the caller rethrows the real error instead of libarchive's text.
#pragma once
#include <archive.h>

#include <cstddef>
#include <exception>
#include <functional>
#include <string>
#include <vector>

namespace cas {

// archive_read_new / archive_read_free.
struct ReadArchive {
    struct archive* a = archive_read_new();
    ReadArchive() = default;
    ReadArchive(const ReadArchive&) = delete;
    ReadArchive& operator=(const ReadArchive&) = delete;
    ~ReadArchive() { archive_read_free(a); }
};

// libarchive's last error text ("unknown error" when it has none).
std::string archive_err(struct archive* a);

class PullSource {
public:
    // pull(buf, cap): fill up to cap bytes, return how many (0 at the end); may throw.
    using Pull = std::function<size_t(char* buf, size_t cap)>;
    explicit PullSource(Pull pull, size_t buf_size = 1 << 20) : pull_(std::move(pull)), buf_(buf_size) {}
    PullSource(const PullSource&) = delete;
    PullSource& operator=(const PullSource&) = delete;

    // archive_read_open(a) reading from this source; libarchive's status.
    int open(struct archive* a);
    // Pull what is left after libarchive stopped (the padding after the tar's end marker), so
    // whatever the pull computes (a digest) covers the whole stream. Throws as the pull does.
    void drain() {
        while (pull_(buf_.data(), buf_.size()) > 0) {
        }
    }
    // Whether the pull raised an exception inside libarchive.
    bool failed() const { return bool(err_); }
    // Rethrow that exception, if any.
    void rethrow_if_failed() const {
        if (err_) std::rethrow_exception(err_);
    }

private:
    static la_ssize_t read_cb(struct archive*, void* ctx, const void** out);
    Pull pull_;
    std::vector<char> buf_;
    std::exception_ptr err_;
};

}  // namespace cas
