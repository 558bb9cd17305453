// sha256 through OpenSSL's SHA256_Init/Update/Final, not EVP: in OpenSSL 3 the first EVP digest
// initialises the library context (reads openssl.cnf, loads the default provider, registers every
// algorithm), 2.4 ms of every imgbuild process on this machine -- a tenth of a fully cached
// build. The SHA256 functions are deprecated in OpenSSL 3 but run the same assembly
// (sha256_block_data_order, SHA-NI where the CPU has it) without that set-up.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>

#include "cas/digest.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "cas/digest_count.hpp"

#include "sys/error.hpp"
#include "sys/parallel.hpp"

namespace cas {

bool Digest::valid(std::string_view t) {
    if (t.size() != 71 || t.substr(0, 7) != "sha256:") return false;
    for (char c : t.substr(7))
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

Digest Digest::parse(std::string_view t) {
    if (!valid(t)) {
        std::string shown(t.substr(0, 100));
        sys::fail(sys::Code::InvalidInput, "invalid digest \"" + shown + "\": want sha256: and 64 lowercase hex digits");
    }
    return Digest(std::string(t));
}

Digest Digest::of(std::string_view data) {
    Digester d;
    d.update(data);
    return d.finish();
}

void Digester::Free::operator()(SHA256_CTX* c) const { delete c; }

Digester::Digester() : ctx_(new SHA256_CTX) {
    if (SHA256_Init(ctx_.get()) != 1) sys::fail(sys::Code::Internal, "OpenSSL: cannot initialise sha256");
}
Digester::Digester(Digester&&) noexcept = default;
Digester& Digester::operator=(Digester&&) noexcept = default;
Digester::~Digester() = default;

namespace {
thread_local uint64_t t_hashed = 0;
}  // namespace

uint64_t bytes_hashed_on_this_thread() { return t_hashed; }

void Digester::update(const void* data, size_t n) {
    if (n == 0) return;
    if (SHA256_Update(ctx_.get(), data, n) != 1) sys::fail(sys::Code::Internal, "OpenSSL: sha256 update failed");
    size_ += n;
    t_hashed += n;
}

Digest Digester::finish() {
    unsigned char md[SHA256_DIGEST_LENGTH];
    const unsigned len = sizeof md;
    if (SHA256_Final(md, ctx_.get()) != 1) sys::fail(sys::Code::Internal, "OpenSSL: sha256 final failed");
    static const char* hx = "0123456789abcdef";
    std::string s = "sha256:";
    for (unsigned i = 0; i < len; i++) {
        s.push_back(hx[md[i] >> 4]);
        s.push_back(hx[md[i] & 15]);
    }
    return Digest(std::move(s));
}

struct BackgroundDigester::State {
    struct Item {
        std::string block;            // owned bytes (submit), handed back through `spare`
        const char* view = nullptr;   // or the caller's bytes (submit_view)
        size_t view_len = 0;
    };
    Digester d;
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Item> queue;          // submitted, not yet hashed (in order)
    std::vector<std::string> spare;  // hashed, handed back by submit
    size_t blocks = 0;               // owned blocks in the queue or with the worker
    bool busy = false;               // the worker holds an item
    bool stop = false;
    std::thread worker;

    void run() {
        std::unique_lock<std::mutex> l(mu);
        for (;;) {
            cv.wait(l, [&] { return stop || !queue.empty(); });
            if (stop) return;
            Item it = std::move(queue.front());
            queue.pop_front();
            busy = true;
            l.unlock();
            // cannot fail: SHA256_Update on memory
            if (it.view) d.update(it.view, it.view_len);
            else d.update(it.block.data(), it.block.size());
            it.block.clear();
            l.lock();
            busy = false;
            if (!it.view) {
                blocks--;
                spare.push_back(std::move(it.block));
            }
            cv.notify_all();
        }
    }
};

BackgroundDigester::BackgroundDigester(Digester d) : st_(std::make_unique<State>()) {
    st_->d = std::move(d);
    st_->worker = std::thread([s = st_.get()] { s->run(); });
}

BackgroundDigester::~BackgroundDigester() {
    {
        std::lock_guard<std::mutex> l(st_->mu);
        st_->stop = true;
    }
    st_->cv.notify_all();
    st_->worker.join();
}

std::string BackgroundDigester::submit(std::string block) {
    t_hashed += block.size();
    size_t cap = block.capacity();
    std::unique_lock<std::mutex> l(st_->mu);
    st_->cv.wait(l, [&] { return st_->blocks < kInFlight; });
    st_->blocks++;
    st_->queue.push_back(State::Item{std::move(block), nullptr, 0});
    st_->cv.notify_all();
    std::string next;
    if (!st_->spare.empty()) {
        next = std::move(st_->spare.back());
        st_->spare.pop_back();
    }
    l.unlock();
    if (next.capacity() < cap) next.reserve(cap);
    return next;
}

void BackgroundDigester::submit_view(const void* p, size_t n) {
    if (n == 0) return;
    t_hashed += n;
    std::lock_guard<std::mutex> l(st_->mu);
    st_->queue.push_back(State::Item{{}, static_cast<const char*>(p), n});
    st_->cv.notify_all();
}

void BackgroundDigester::wait() noexcept {
    std::unique_lock<std::mutex> l(st_->mu);
    st_->cv.wait(l, [&] { return st_->queue.empty() && !st_->busy; });
}

Digest BackgroundDigester::finish() {
    wait();
    return st_->d.finish();
}

bool BackgroundDigester::worth_it() { return sys::cpu_width() > 1; }

void StreamDigester::update(const void* data, size_t n) {
    if (!bg_ && size_ + n > BackgroundDigester::kWorthFrom && BackgroundDigester::worth_it()) {
        bg_ = std::make_unique<BackgroundDigester>(std::move(inline_));
        block_.reserve(BackgroundDigester::kBlock);
    }
    size_ += n;
    if (!bg_) return inline_.update(data, n);
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
        size_t k = std::min(n, BackgroundDigester::kBlock - block_.size());
        block_.append(p, k);
        p += k;
        n -= k;
        if (block_.size() == BackgroundDigester::kBlock) block_ = bg_->submit(std::move(block_));
    }
}

Digest StreamDigester::finish() {
    if (!bg_) return inline_.finish();
    if (!block_.empty()) block_ = bg_->submit(std::move(block_));
    return bg_->finish();
}

}  // namespace cas
