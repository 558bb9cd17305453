// LayerFeed: pass 1 of layer verification (read_layer_stream) on a thread of its own, reading
// the bytes a download feeds into a pipe. The reader never closes its end early: after an error
// it drains the pipe to its end, so the writer never blocks forever nor gets SIGPIPE; the next
// feed() sees the error and throws it.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <exception>
#include <optional>
#include <thread>
#include <vector>

#include "cas/layer_verify.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"

namespace cas {

struct LayerFeed::Impl {
    sys::UniqueFd rd, wr;
    std::thread reader;
    std::atomic<bool> failed{false};
    std::exception_ptr err;  // written by the reader before `failed` is set
    std::optional<StreamedLayer> out;

    void close_and_join() {
        wr.reset();
        if (reader.joinable()) reader.join();
    }
};

LayerFeed::LayerFeed(const Descriptor& layer, const LayerCaps& caps) : impl_(new Impl) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) sys::throw_errno("layer " + layer.digest.str() + ": pipe");
    impl_->rd = sys::UniqueFd(p[0]);
    impl_->wr = sys::UniqueFd(p[1]);
    ::fcntl(p[1], F_SETPIPE_SZ, 1 << 20);  // fewer wake-ups; the default size works too
    Impl* im = impl_.get();
    im->reader = std::thread([im, layer, caps] {
        try {
            im->out = read_layer_stream(im->rd.get(), layer, caps);
        } catch (...) {
            im->err = std::current_exception();
            im->failed = true;
        }
        std::vector<char> sink(1 << 16);
        for (;;) {  // to the writer's end (bytes after a clean end are not expected)
            ssize_t n = ::read(im->rd.get(), sink.data(), sink.size());
            if (n == 0 || (n < 0 && errno != EINTR)) break;
        }
    });
}

LayerFeed::~LayerFeed() {
    if (impl_) impl_->close_and_join();
}

void LayerFeed::feed(const void* data, size_t n) {
    if (impl_->failed) std::rethrow_exception(impl_->err);
    if (!impl_->wr) sys::fail(sys::Code::FailedPrecondition, "feed after the end of a layer");
    sys::write_all(impl_->wr.get(), static_cast<const char*>(data), n, "layer pipe");
}

StreamedLayer LayerFeed::finish() {
    impl_->close_and_join();
    if (impl_->err) std::rethrow_exception(impl_->err);
    if (!impl_->out) sys::fail(sys::Code::Internal, "layer verification ended without a result");
    return std::move(*impl_->out);
}

}  // namespace cas
