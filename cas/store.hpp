// The content store: an OCI image layout on disk plus imgbuild's own state beside it.
//
//   <root>/oci-layout, index.json, blobs/sha256/<hex>   (a valid OCI image layout)
//   <root>/ingest/      partial writes (never visible under blobs/)
//   <root>/locks/       flock files
//   <root>/refs/        imgbuild's ref records (full names -> manifest descriptor)
//   <root>/cache/       build cache records (builder/)
//   <root>/snapshots/   unpacked layers and work snapshots (layers/)
//
// Writing follows containerd's shape: writer(expected) -> write... -> commit(size, expected):
// data goes to ingest/, is fsynced, verified, renamed into blobs/sha256/<hex>, and the
// directory is fsynced. An existing blob is success.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cas/digest.hpp"
#include "sys/fd.hpp"
#include "sys/fs.hpp"

namespace cas {

class Store;

// Streams one blob into ingest/. Destroying an uncommitted writer aborts (removes the partial).
class BlobWriter {
public:
    BlobWriter(BlobWriter&&) noexcept;
    BlobWriter& operator=(BlobWriter&&) noexcept;
    ~BlobWriter();
    void write(const void* data, size_t n);
    void write(std::string_view s) { write(s.data(), s.size()); }
    // Bytes the caller keeps valid and unchanged until release_borrowed() (a mapped file):
    // written from where they are and, past BackgroundDigester::kWorthFrom on a machine with a
    // second core, hashed there by the background digester -- no copy into the write buffer.
    void write_borrowed(const void* data, size_t n);
    // Returns once nothing handed to write_borrowed is still being read.
    void release_borrowed() noexcept;
    uint64_t size() const;
    // Verify (expected size/digest when given, else what was written), fsync, rename into
    // blobs/, fsync dir. Throws InvalidInput naming both digests on mismatch (and aborts).
    Digest commit(std::optional<uint64_t> expected_size = std::nullopt,
                  std::optional<Digest> expected = std::nullopt);
    void abort();
    // For verifying before commit (import): flush, finish the digest (no writes afterwards;
    // commit uses it) and return it.
    Digest seal();
    // A new read-only fd on the (sealed or not) ingest file, offset 0.
    sys::UniqueFd open_for_read();
    // Layer data on the build path: commit skips both fsyncs (the rename into blobs/ stays
    // atomic). After a power loss such a blob may be short or zero-filled; readers of cache
    // records check the recorded size, and fsck/export verify digests.
    void set_durable(bool durable);
    // The caller hashes the bytes it writes (a layer verified as it streams computes its diff_id
    // anyway): write() does not hash them again, and commit() must be given that digest as
    // `expected` -- it names the blob. Call before the first write; seal() is then refused.
    void set_hashed_by_caller();

private:
    friend class Store;
    struct Impl;
    explicit BlobWriter(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Where blobs live inside any OCI image layout (the store, an exported or imported layout):
// kLayoutBlobsDir/<hex>.
inline constexpr const char* kLayoutBlobsDir = "blobs/sha256";
std::string layout_blob_rel(const Digest& d);

class Store {
public:
    // Opens (creating if needed) the store at root.
    static Store open(const std::string& root);

    const std::string& root() const { return root_; }
    std::string blob_path(const Digest& d) const;  // the only digest -> path mapping
    bool has_blob(const Digest& d) const;
    // Size from lstat; NotFound if missing.
    uint64_t blob_size(const Digest& d) const;

    BlobWriter writer();
    // Write a whole buffer; returns its digest.
    Digest put(std::string_view data);
    // Read a whole blob (capped at max_bytes) and verify its digest; a mismatch is an
    // InvalidInput error naming the digest ("blob sha256:...: content does not match its digest").
    std::string read_verified(const Digest& d, size_t max_bytes = 64u << 20) const;
    // Open a blob for streaming reads (the caller verifies while reading when untrusted).
    sys::UniqueFd open_blob(const Digest& d) const;
    // Read a blob in chunks: f(data, n) for each, then verify the whole: a mismatch throws the
    // same InvalidInput error as read_verified (after the last chunk: a consumer must treat the
    // throw as "discard what you got").
    void stream_blob(const Digest& d, const std::function<void(const char*, size_t)>& f) const;
    // The digest of the blob's content as it is on disk (fsck compares it with the name).
    Digest hash_blob(const Digest& d) const;
    void delete_blob(const Digest& d);
    std::vector<Digest> list_blobs() const;

    // Every on-disk name of the store is spelled here and nowhere else (created on open).
    std::string blobs_dir() const { return root_ + "/" + kLayoutBlobsDir; }  // blob files (0444 once committed)
    std::string index_path() const { return root_ + "/index.json"; }
    std::string layout_path() const { return root_ + "/oci-layout"; }
    std::string ingest_dir() const { return root_ + "/ingest"; }
    std::string locks_dir() const { return root_ + "/locks"; }
    std::string refs_dir() const { return root_ + "/refs"; }
    std::string cache_dir() const { return root_ + "/cache"; }
    std::string cache_records_dir() const { return cache_dir() + "/records"; }  // build cache records (builder/)
    std::string cache_steps_dir() const { return cache_dir() + "/steps"; }      // last inputs per step (--explain)
    std::string cache_mounts_dir() const { return cache_dir() + "/mounts"; }    // RUN --mount=type=cache dirs
    std::string statcache_dir() const { return cache_dir() + "/statcache"; }    // context stat caches
    std::string statcache_dir(const std::string& context_dir) const;             // one context's (path as given)
    std::string snapshots_dir() const { return root_ + "/snapshots"; }
    std::string tmp_dir() const { return root_ + "/tmp"; }
    // A private directory under tmp_dir() ("<prefix><owner tag>XXXXXX"), removed on destruction;
    // the owner tag lets the next process that opens the store remove it if this one is killed
    // (it may hold a build secret, a copy of the context, an empty mountpoint).
    sys::TempDir temp_dir(const std::string& prefix) const;

    // Store-wide lock: GC takes it Exclusive; writers of refs/blobs take it Shared.
    sys::FileLock lock_shared() const;
    sys::FileLock lock_exclusive() const;

private:
    explicit Store(std::string root) : root_(std::move(root)) {}
    void read_blob_chunks(const Digest& d, const std::function<void(const char*, size_t)>& f) const;
    std::string root_;
};

}  // namespace cas
