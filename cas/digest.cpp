#include "cas/digest.hpp"
#include "cas/digest_count.hpp"

#include "sys/error.hpp"

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

void Digester::Free::operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }

Digester::Digester() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1)
        sys::fail(sys::Code::Internal, "OpenSSL: cannot initialise sha256");
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
    if (EVP_DigestUpdate(ctx_.get(), data, n) != 1) sys::fail(sys::Code::Internal, "OpenSSL: sha256 update failed");
    size_ += n;
    t_hashed += n;
}

Digest Digester::finish() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), md, &len) != 1) sys::fail(sys::Code::Internal, "OpenSSL: sha256 final failed");
    static const char* hx = "0123456789abcdef";
    std::string s = "sha256:";
    for (unsigned i = 0; i < len; i++) {
        s.push_back(hx[md[i] >> 4]);
        s.push_back(hx[md[i] & 15]);
    }
    return Digest(std::move(s));
}

}  // namespace cas
