// The content store: blobs are streamed into ingest/, fsynced (unless the writer is not
// durable: layer data on the build path), verified, renamed into blobs/sha256/<hex>, and the
// directory is fsynced. Nothing partial is ever under blobs/.
#include "cas/store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <vector>

#include "sys/buffer.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/io.hpp"
#include "sys/proc.hpp"

namespace cas {

namespace {

constexpr size_t kWriteBuffer = 1 << 20;
// A durable writer starts the write-back of every this many bytes as it goes
// (sync_file_range, not waiting), so that the fsync of commit finds little left to write.
constexpr uint64_t kWritebackStep = 8u << 20;

}  // namespace

// ---------------------------------------------------------------- BlobWriter

struct BlobWriter::Impl {
    std::string blobs_dir;  // Store::blobs_dir()
    std::string tmp_path;  // ingest/<random>
    sys::UniqueFd fd;      // flock'ed exclusively while in use: prune skips live ingests
    Digester digester;
    std::unique_ptr<BackgroundDigester> bg;  // takes over from `digester` past its kWorthFrom
    uint64_t written = 0;
    // Store::put hashed the content already: write() does not hash it again and commit()
    // takes this digest (and skips its presence check: put looked just before).
    std::optional<Digest> known;
    bool caller_hashes = false;  // set_hashed_by_caller: commit's `expected` is the digest
    std::string buf;
    bool done = false;
    std::optional<Digest> sealed;
    bool durable = true;
    uint64_t flushed = 0, writeback_from = 0;  // bytes on the file; where write-back last started

    void flush() {
        if (buf.empty()) return;
        write_through(buf.data(), buf.size());
        if (bg) buf = bg->submit(std::move(buf));  // written; hashed by the worker meanwhile
        else buf.clear();
    }
    bool hashes_here() const { return !known && !caller_hashes; }
    // Past kWorthFrom bytes the background digester takes over from the inline one.
    void start_background_if_worth(uint64_t upto) {
        if (bg || !hashes_here() || upto < BackgroundDigester::kWorthFrom || !BackgroundDigester::worth_it()) return;
        flush();  // hashed inline already
        bg = std::make_unique<BackgroundDigester>(std::move(digester));
    }
    Digest finish_digest() { return bg ? bg->finish() : digester.finish(); }
    // Background mode: every byte goes through a block (the worker needs its own copy).
    void append_blocks(const char* p, size_t n) {
        while (n > 0) {
            size_t k = std::min(n, kWriteBuffer - buf.size());
            buf.append(p, k);
            p += k;
            n -= k;
            if (buf.size() >= kWriteBuffer) flush();
        }
    }
    void write_through(const char* p, size_t n) {
        sys::write_all(fd.get(), p, n, tmp_path);
        flushed += n;
        if (durable && flushed - writeback_from >= kWritebackStep) {
            ::sync_file_range(fd.get(), off64_t(writeback_from), off64_t(flushed - writeback_from), SYNC_FILE_RANGE_WRITE);
            writeback_from = flushed;  // best effort: commit's fsync is what counts
        }
    }
    void discard() noexcept {
        if (done) return;
        done = true;
        fd.reset();
        bg.reset();  // joins the worker
        if (!tmp_path.empty()) ::unlink(tmp_path.c_str());
    }
};

BlobWriter::BlobWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BlobWriter::BlobWriter(BlobWriter&&) noexcept = default;
BlobWriter& BlobWriter::operator=(BlobWriter&& o) noexcept {
    if (this != &o) {
        if (impl_) impl_->discard();
        impl_ = std::move(o.impl_);
    }
    return *this;
}
BlobWriter::~BlobWriter() {
    if (impl_) impl_->discard();
}

void BlobWriter::write(const void* data, size_t n) {
    if (!impl_ || impl_->done || impl_->sealed)
        sys::fail(sys::Code::FailedPrecondition, "write to a finished blob writer");
    try {
        Impl& im = *impl_;
        im.start_background_if_worth(im.written);
        if (im.bg) {
            im.written += n;
            im.append_blocks(static_cast<const char*>(data), n);
            return;
        }
        if (im.hashes_here()) im.digester.update(data, n);
        impl_->written += n;
        if (n >= kWriteBuffer) {
            impl_->flush();
            impl_->write_through(static_cast<const char*>(data), n);
            return;
        }
        impl_->buf.append(static_cast<const char*>(data), n);
        if (impl_->buf.size() >= kWriteBuffer) impl_->flush();
    } catch (...) {
        impl_->discard();
        throw;
    }
}

void BlobWriter::write_borrowed(const void* data, size_t n) {
    if (!impl_ || impl_->done || impl_->sealed)
        sys::fail(sys::Code::FailedPrecondition, "write to a finished blob writer");
    Impl& im = *impl_;
    try {
        im.start_background_if_worth(im.written + n);
        if (!im.bg) return write(data, n);
        im.flush();  // what was buffered goes first, to the file and to the digester
        im.write_through(static_cast<const char*>(data), n);
        im.written += n;
        im.bg->submit_view(data, n);
    } catch (...) {
        im.discard();
        throw;
    }
}

void BlobWriter::release_borrowed() noexcept {
    if (impl_ && impl_->bg) impl_->bg->wait();
}

void BlobWriter::set_durable(bool durable) {
    if (impl_) impl_->durable = durable;
}

void BlobWriter::set_hashed_by_caller() {
    if (!impl_ || impl_->done || impl_->written > 0)
        sys::fail(sys::Code::FailedPrecondition, "set_hashed_by_caller after the first write");
    impl_->caller_hashes = true;
}

uint64_t BlobWriter::size() const { return impl_ ? impl_->written : 0; }

void BlobWriter::abort() {
    if (impl_) impl_->discard();
}

Digest BlobWriter::commit(std::optional<uint64_t> expected_size, std::optional<Digest> expected) {
    if (!impl_ || impl_->done) sys::fail(sys::Code::FailedPrecondition, "commit of a finished blob writer");
    Impl& im = *impl_;
    try {
        im.flush();
        uint64_t size = im.written;
        if (im.caller_hashes && !expected)
            sys::fail(sys::Code::FailedPrecondition, "commit of a caller-hashed blob without its digest");
        Digest got = im.sealed ? *im.sealed : im.known ? *im.known : im.caller_hashes ? *expected : im.finish_digest();
        std::string name = expected ? expected->str() : got.str();
        if (expected_size && *expected_size != size)
            sys::fail(sys::Code::InvalidInput, "commit blob " + name + ": size " + std::to_string(size) +
                                                          " does not match the expected " + std::to_string(*expected_size));
        if (expected && *expected != got)
            sys::fail(sys::Code::InvalidInput,
                             "commit blob: content digest " + got.str() + " does not match the expected " + expected->str());
        std::string dir = im.blobs_dir;
        std::string final_path = dir + "/" + got.hex();
        struct stat st;
        if (!im.known && ::lstat(final_path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && uint64_t(st.st_size) == size) {
            im.discard();  // already present: success (blob writes are idempotent)
            return got;
        }
        if (::fchmod(im.fd.get(), 0444) != 0) sys::throw_errno("chmod " + im.tmp_path);  // blobs are immutable
        if (im.durable && ::fsync(im.fd.get()) != 0) sys::throw_errno("fsync " + im.tmp_path);
        if (::rename(im.tmp_path.c_str(), final_path.c_str()) != 0)
            sys::throw_errno("commit blob " + got.str() + ": rename " + im.tmp_path);
        im.done = true;
        im.fd.reset();
        if (im.durable) sys::fsync_path(dir);
        return got;
    } catch (...) {
        im.discard();
        throw;
    }
}

Digest BlobWriter::seal() {
    if (!impl_ || impl_->done) sys::fail(sys::Code::FailedPrecondition, "seal of a finished blob writer");
    if (impl_->caller_hashes) sys::fail(sys::Code::FailedPrecondition, "seal of a caller-hashed blob");
    if (!impl_->sealed) {
        impl_->flush();
        impl_->sealed = impl_->known ? *impl_->known : impl_->finish_digest();
    }
    return *impl_->sealed;
}

sys::UniqueFd BlobWriter::open_for_read() {
    if (!impl_ || impl_->done) sys::fail(sys::Code::FailedPrecondition, "read of a finished blob writer");
    impl_->flush();
    sys::UniqueFd fd(::open(impl_->tmp_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) sys::throw_errno("open " + impl_->tmp_path);
    return fd;
}

// ---------------------------------------------------------------- Store

Store Store::open(const std::string& root_in) {
    if (root_in.empty()) sys::fail(sys::Code::InvalidInput, "store root is empty");
    std::string root = root_in;
    while (root.size() > 1 && root.back() == '/') root.pop_back();
    Store s(root);
    sys::with_context("open store " + root, [&] {
        sys::mkdir_p(root, 0700);
        for (const std::string& dir : {s.blobs_dir(), s.ingest_dir(), s.locks_dir(), s.refs_dir(), s.cache_dir(),
                                       s.snapshots_dir(), s.tmp_dir()})
            sys::mkdir_p(dir, 0700);
        // What killed processes left in tmp/ (their mounts went with their mount namespaces).
        for (const std::string& name : sys::list_dir(s.tmp_dir()))
            if (sys::tag_owner_dead(name)) {
                try {
                    sys::remove_tree(s.tmp_dir() + "/" + name);
                } catch (const sys::Error&) {  // another process reaping the same: fine
                }
            }
        if (!sys::exists(s.layout_path()) || !sys::exists(s.index_path())) {
            sys::FileLock l(s.locks_dir() + "/index.lock", sys::FileLock::Exclusive);
            if (!sys::exists(s.layout_path()))
                sys::write_file_atomic(s.layout_path(), "{\"imageLayoutVersion\":\"1.0.0\"}");
            if (!sys::exists(s.index_path()))
                sys::write_file_atomic(s.index_path(),
                                       "{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[],"
                                       "\"schemaVersion\":2}");
        }
    });
    return s;
}

sys::TempDir Store::temp_dir(const std::string& prefix) const {
    sys::mkdir_p(tmp_dir(), 0700);
    return sys::TempDir(tmp_dir(), prefix + sys::owner_tag());
}

std::string layout_blob_rel(const Digest& d) { return std::string(kLayoutBlobsDir) + "/" + d.hex(); }

std::string Store::blob_path(const Digest& d) const { return root_ + "/" + layout_blob_rel(d); }

bool Store::has_blob(const Digest& d) const {
    struct stat st;
    return ::lstat(blob_path(d).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

uint64_t Store::blob_size(const Digest& d) const {
    struct stat st;
    if (::lstat(blob_path(d).c_str(), &st) != 0) sys::throw_errno("blob " + d.str());
    return uint64_t(st.st_size);
}

BlobWriter Store::writer() {
    auto im = std::make_unique<BlobWriter::Impl>();
    im->blobs_dir = blobs_dir();
    std::string tmpl = ingest_dir() + "/blob-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    im->fd.reset(::mkostemp(buf.data(), O_CLOEXEC));
    if (!im->fd) sys::throw_errno("create ingest file in " + ingest_dir());
    im->tmp_path = buf.data();
    if (::flock(im->fd.get(), LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        ::unlink(im->tmp_path.c_str());
        sys::throw_errno("lock " + im->tmp_path, e);
    }
    im->buf.reserve(kWriteBuffer);
    return BlobWriter(std::move(im));
}

Digest Store::put(std::string_view data) {
    // One hash and one lstat. Already stored with this size (a cached rebuild's config and
    // manifest): nothing is written, not even a temporary file in ingest/. Otherwise the writer
    // takes the digest computed here instead of hashing the data a second time.
    Digest d = Digest::of(data);
    struct stat st;
    if (::lstat(blob_path(d).c_str(), &st) == 0 && S_ISREG(st.st_mode) && uint64_t(st.st_size) == data.size())
        return d;
    BlobWriter w = writer();
    w.impl_->known = d;
    w.write(data);
    return w.commit(data.size());
}

std::string Store::read_verified(const Digest& d, size_t max_bytes) const {
    std::string data;
    try {
        data = sys::read_file(blob_path(d), max_bytes);
    } catch (const sys::Error& e) {
        if (e.code() == sys::Code::NotFound) sys::fail(sys::Code::NotFound, "blob " + d.str() + " not found");
        throw e.wrap("read blob " + d.str());
    }
    Digest got = Digest::of(data);
    if (got != d)
        sys::fail(sys::Code::InvalidInput,
                         "blob " + d.str() + ": content does not match its digest (it hashes to " + got.str() + ")");
    return data;
}

sys::UniqueFd Store::open_blob(const Digest& d) const {
    sys::UniqueFd fd(::open(blob_path(d).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) {
        if (errno == ENOENT) sys::fail(sys::Code::NotFound, "blob " + d.str() + " not found");
        sys::throw_errno("open blob " + d.str());
    }
    return fd;
}

void Store::delete_blob(const Digest& d) {
    if (::unlink(blob_path(d).c_str()) != 0 && errno != ENOENT) sys::throw_errno("delete blob " + d.str());
}

std::vector<Digest> Store::list_blobs() const {
    std::vector<Digest> out;
    std::string dir = blobs_dir();
    for (const std::string& name : sys::with_context("list", [&] { return sys::list_dir(dir); })) {
        std::string text = "sha256:" + name;
        if (Digest::valid(text)) out.push_back(Digest::parse(text));
    }
    std::sort(out.begin(), out.end());
    return out;
}

sys::FileLock Store::lock_shared() const { return sys::FileLock(locks_dir() + "/store.lock", sys::FileLock::Shared); }
sys::FileLock Store::lock_exclusive() const {
    return sys::FileLock(locks_dir() + "/store.lock", sys::FileLock::Exclusive);
}

void Store::stream_blob(const Digest& d, const std::function<void(const char*, size_t)>& f) const {
    Digester dg;
    read_blob_chunks(d, [&](const char* p, size_t n) {
        dg.update(p, n);
        f(p, n);
    });
    Digest got = dg.finish();
    if (got != d)
        sys::fail(sys::Code::InvalidInput,
                         "blob " + d.str() + ": content does not match its digest (it hashes to " + got.str() + ")");
}

Digest Store::hash_blob(const Digest& d) const {
    Digester dg;
    read_blob_chunks(d, [&](const char* p, size_t n) { dg.update(p, n); });
    return dg.finish();
}

void Store::read_blob_chunks(const Digest& d, const std::function<void(const char*, size_t)>& f) const {
    sys::UniqueFd fd = open_blob(d);
    sys::ScratchBuffer buf(1 << 20);
    sys::read_chunks(fd.get(), buf.data(), buf.size(), "blob " + d.str(), f);
}

std::string Store::statcache_dir(const std::string& context_dir) const {
    return statcache_dir() + "/" + Digest::of(context_dir).short_hex(32);
}

}  // namespace cas
