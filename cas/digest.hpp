// Digests are a type, not a string: a Digest only comes from a validating parse
// ("sha256:" + 64 lowercase hex) or from a Digester. Only the store maps one to a path.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

struct SHA256state_st;  // OpenSSL's SHA256_CTX

namespace cas {

class Digest {
public:
    // Throws sys::Error(InvalidInput) naming the bad text.
    static Digest parse(std::string_view text);
    static bool valid(std::string_view text);
    // sha256 of a whole buffer.
    static Digest of(std::string_view data);

    const std::string& str() const { return text_; }  // "sha256:<hex>"
    std::string hex() const { return text_.substr(7); }
    std::string short_hex(size_t n = 12) const { return text_.substr(7, n); }
    std::string algorithm() const { return "sha256"; }

    bool operator==(const Digest& o) const { return text_ == o.text_; }
    bool operator!=(const Digest& o) const { return text_ != o.text_; }
    bool operator<(const Digest& o) const { return text_ < o.text_; }

private:
    explicit Digest(std::string t) : text_(std::move(t)) {}
    friend class Digester;
    std::string text_;
};

// Streaming sha256 (OpenSSL's SHA256 functions, see digest.cpp).
class Digester {
public:
    Digester();
    Digester(Digester&&) noexcept;
    Digester& operator=(Digester&&) noexcept;
    ~Digester();
    void update(const void* data, size_t n);
    void update(std::string_view s) { update(s.data(), s.size()); }
    uint64_t size() const { return size_; }
    // Finalizes; the digester must not be updated afterwards.
    Digest finish();

private:
    struct Free {
        void operator()(::SHA256state_st* c) const;
    };
    std::unique_ptr<::SHA256state_st, Free> ctx_;
    uint64_t size_ = 0;
};

// sha256 on a second thread, for big streams: the caller fills a block, hands it over (submit)
// and goes on reading or writing the next one while the worker hashes. On this machine the
// hash (~1.7 GB/s with SHA-NI) is most of the cost of writing a big layer into the store.
// Continues from the state of the Digester it is given; at most kInFlight blocks wait at once
// (submit blocks until one is hashed). Bytes count as hashed by the thread that submits them.
class BackgroundDigester {
public:
    static constexpr size_t kInFlight = 4;
    static constexpr size_t kBlock = 1 << 20;  // what callers hand over at a time
    // Below this a stream is hashed inline: a thread costs more than ~2.5 ms of hashing.
    static constexpr uint64_t kWorthFrom = 4u << 20;
    // A second thread helps only with a second core.
    static bool worth_it();
    explicit BackgroundDigester(Digester d);
    BackgroundDigester(const BackgroundDigester&) = delete;
    BackgroundDigester& operator=(const BackgroundDigester&) = delete;
    ~BackgroundDigester();  // stops the worker; blocks not yet hashed are dropped
    // Hands `block` over; returns an empty block (its capacity kept) to fill next.
    std::string submit(std::string block);
    // Hands over bytes the caller does not copy (a mapped file): they must stay valid and
    // unchanged until wait() or finish() has returned. Does not count against kInFlight.
    void submit_view(const void* p, size_t n);
    // Waits until everything submitted so far is hashed (the views may then go away).
    void wait() noexcept;
    // Waits for every submitted block, then finalizes. Call once; no submit afterwards.
    Digest finish();

private:
    struct State;
    std::unique_ptr<State> st_;
};

// A Digester for a stream that may be big and whose caller has other work per chunk
// (decompressing, parsing the tar, writing files): inline up to kWorthFrom bytes, then the bytes
// are copied into blocks that a BackgroundDigester hashes meanwhile. (BlobWriter drives a
// BackgroundDigester itself: its write buffer is the block, with no copy.)
class StreamDigester {
public:
    StreamDigester() = default;
    StreamDigester(StreamDigester&&) noexcept = default;
    StreamDigester& operator=(StreamDigester&&) noexcept = default;
    void update(const void* data, size_t n);
    uint64_t size() const { return size_; }
    Digest finish();  // call once

private:
    Digester inline_;
    std::unique_ptr<BackgroundDigester> bg_;
    std::string block_;
    uint64_t size_ = 0;
};

}  // namespace cas

template <>
struct std::hash<cas::Digest> {
    size_t operator()(const cas::Digest& d) const noexcept { return std::hash<std::string>()(d.str()); }
};
