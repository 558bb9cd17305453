// Pull an image from a registry into the content store, and push one from it.
// Every manifest and blob is verified (size and digest) before it becomes visible in the
// store; caps: manifest 4 MiB, config 16 MiB, layers the size their descriptor declares.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cas/image.hpp"
#include "cas/layer_verify.hpp"
#include "cas/store.hpp"
#include "registry/client.hpp"
#include "registry/reference.hpp"

namespace registry {

inline constexpr uint64_t kMaxManifest = 4u << 20;
inline constexpr uint64_t kMaxConfig = 16u << 20;

struct PullOptions {
    std::string os = "linux";
    std::string architecture;  // default: this machine's
    std::string variant;
    bool tag = true;           // tag the image in the store with the reference's name:tag
    cas::LayerCaps caps;       // every layer is verified (cas::verify_layer_stream) before it is stored
};

struct PullResult {
    cas::Descriptor manifest;   // the platform manifest
    cas::Digest resolved;       // what the reference resolved to (index or manifest digest)
    std::string local_name;     // store ref it was tagged as ("" when not tagged)
};

PullResult pull(cas::Store& store, const RemoteRef& ref, const Options& opts, const PullOptions& po = {});
// Resolve REF to its digest (index or manifest) without downloading blobs.
cas::Digest resolve_digest(const RemoteRef& ref, const Options& opts);

struct PushOptions {
    // Applied to each layer before upload (e.g. compress); default: as stored.
    std::function<cas::Descriptor(const cas::Descriptor&)> map_layer;
    // Repositories of the same registry the blobs may be mounted from.
    std::vector<std::string> mount_from;
};

// Returns the digest of the pushed manifest.
cas::Digest push(const cas::Store& store, const cas::Image& image, const RemoteRef& dest, const Options& opts,
                 const PushOptions& po = {});

// Low-level pieces (also used by the remote build cache).
// GET a manifest by tag/digest: verified against Docker-Content-Digest and the digest in the
// reference; the mediaType must match the Content-Type.
struct FetchedManifest {
    std::string bytes;
    std::string media_type;
    cas::Digest digest;
};
FetchedManifest fetch_manifest(Client& c, const std::string& reference);
// Download a blob into an uncommitted, sealed ingest file unless the store has it (nullopt):
// size and digest checked; the caller commits it (or drops it: nothing visible).
std::optional<cas::BlobWriter> download_blob(Client& c, cas::Store& store, const cas::Descriptor& d, uint64_t cap);
// GET a small blob (config) into memory, size and digest checked.
std::string fetch_small_blob(Client& c, const cas::Descriptor& d, uint64_t cap);
// Download a blob into the store unless present (verified; never partial on failure).
void fetch_blob(Client& c, cas::Store& store, const cas::Descriptor& d, uint64_t cap);
// Upload a blob unless the registry has it (HEAD; then mount; then POST + PUT).
void upload_blob(Client& c, const cas::Store& store, const cas::Descriptor& d, const std::vector<std::string>& mount_from);
// The offset an upload session's Range header ("0-N") says to continue from.
std::optional<uint64_t> upload_offset(const std::string& range);
// PUT a manifest; returns its digest.
cas::Digest put_manifest(Client& c, const std::string& reference, const std::string& bytes, const std::string& media_type);

}  // namespace registry
