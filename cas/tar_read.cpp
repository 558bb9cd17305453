#include "cas/tar_read.hpp"

namespace cas {

std::string archive_err(struct archive* a) {
    const char* s = archive_error_string(a);
    return s ? s : "unknown error";
}

int PullSource::open(struct archive* a) { return archive_read_open(a, this, nullptr, &PullSource::read_cb, nullptr); }

la_ssize_t PullSource::read_cb(struct archive*, void* ctx, const void** out) {
    auto* s = static_cast<PullSource*>(ctx);
    try {
        size_t n = s->pull_(s->buf_.data(), s->buf_.size());
        *out = s->buf_.data();
        return la_ssize_t(n);
    } catch (...) {
        s->err_ = std::current_exception();
        return -1;
    }
}

}  // namespace cas
