// verify_layer_stream: what an import must prove about a layer blob before the blob becomes
// visible in the store (as `docker load` does, and more). Every importer calls it — OCI
// layout directory or tar, docker-archive, registry pull — on the bytes it is about to commit
// (typically the uncommitted ingest file of a BlobWriter), in the image's layer order, with
// one LayerChain per image and one LayerBudget per import:
//
//   for each image:  LayerChain chain;
//     for each layer i:  verify_layer_stream(fd, layer_desc, config.diff_ids[i], caps, budget, chain)
//   only when all succeed: commit the blobs, then the manifest/config, then the refs.
//
// One pass, nothing written: the blob is decompressed with the decompressor its media type
// declares (cas/decompress.hpp: gzip, zstd or none, built in, never an external program),
// the uncompressed stream is hashed (the diff_id must equal the config's rootfs.diff_ids[i])
// and read by libarchive's tar reader (tar formats only, no filters). Rejected, with an
// InvalidInput error naming the layer digest (and the tar entry when there is one):
//   * a diff_id mismatch; corrupt or truncated compression; a damaged tar (bad header
//     checksum, truncated header or data, not a tar at all);
//   * caps (LayerCaps): total uncompressed bytes of the import — counted both as the stream
//     and as the sizes entries declare (a sparse file counts at its full size, a PAX size=
//     record at what it says) — and a compression-ratio guard past ratio_min_bytes;
//     entries per layer, path length, extended-header bytes;
//   * unsafe entries: a path with ".." (or one that is too long, or with a component longer than
//     NAME_MAX, which no file system can create), a symlink target longer than symlink(2) stores, a non-directory (or a hard
//     link) at the layer root ("." or "/"), a whiteout naming nothing (".wh.", ".wh..",
//     ".wh.."), a hard link whose target is not an earlier non-directory entry of the same
//     layer, an entry whose path goes through a symlink planted by an earlier entry of this
//     layer or by an earlier layer of the image (unless this layer replaced or deleted it
//     first), sockets and other types a layer cannot hold.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cas/decompress.hpp"
#include "cas/digest.hpp"
#include "cas/oci.hpp"
#include "cas/tar_paths.hpp"
#include "cas/store.hpp"

namespace cas {

struct LayerCaps {
    uint64_t max_total_bytes = 64ull << 30;    // uncompressed, all layers of one import
    uint64_t max_ratio = 1000;                 // uncompressed : compressed, per layer
    uint64_t ratio_min_bytes = 512ull << 20;   // the ratio guard applies past this many bytes of a layer
    uint64_t max_entries = 2'000'000;          // per layer
    size_t max_path_len = kMaxEntryPathLen;    // entry path and hard-link target (cas/tar_paths.hpp)
    size_t max_pax_bytes = 1 << 20;            // long names, link targets and xattrs of one entry
};

// Bytes spent against LayerCaps::max_total_bytes by one import (all its images).
struct LayerBudget {
    uint64_t stream_bytes = 0;    // uncompressed tar bytes
    uint64_t declared_bytes = 0;  // sizes declared by regular-file entries
};

// What the earlier layers of one image leave behind that later entries must not go through:
// the symlinks that are still visible. Start a new one for every image.
struct LayerChain {
    std::set<std::string> symlinks;
};

struct VerifiedLayer {
    Digest diff_id;          // sha256 of the uncompressed stream
    uint64_t bytes = 0;      // uncompressed stream size
    uint64_t entries = 0;
};

// What one layer needs from, and does to, its image's chain of symlinks, in entry order:
// Check (an ancestor path of an entry must not be an earlier layer's symlink), EraseSelf /
// EraseUnder (this layer replaces or deletes a path, and what was below it); then the layer's
// own symlinks that stay visible.
struct LayerChainOps {
    struct Op {
        enum Kind { Check, EraseSelf, EraseUnder } kind;
        std::string path;
        std::string entry;  // Check: the entry's name (for the error)
    };
    std::vector<Op> ops;
    std::vector<std::string> symlinks;
};

// Pass 1 of a layer, which depends only on its bytes (any order, any thread): the blob
// decompressed, the diff_id computed, the tar read, every entry's own rules and the caps on
// this layer (counting `before`, the import's bytes so far, when known).
struct StreamedLayer {
    VerifiedLayer layer{Digest::of(""), 0, 0};  // diff_id as computed (not yet compared with the config)
    uint64_t declared_bytes = 0;
    LayerChainOps chain;
};
// What the one pass over a layer also hands its caller, each in order and all of it once the call
// returns: `compressed` the blob's bytes as read (to check a digest without reading the blob
// twice), `uncompressed` the decompressed stream (a caller that keeps the layer uncompressed
// writes it in this pass instead of decompressing the blob a second time).
struct StreamTaps {
    std::function<void(const char*, size_t)> compressed, uncompressed;
};
StreamedLayer read_layer_stream(int fd, const Descriptor& layer, const LayerCaps& caps, const LayerBudget& before = {},
                                const StreamTaps& taps = {});
// Pass 2, in the image's layer order: the diff_id against the config's, the import budget, and
// the earlier layers' symlinks. Throws InvalidInput as verify_layer_stream; on success the chain
// and budget are updated.
VerifiedLayer apply_layer(const StreamedLayer& s, const Descriptor& layer, const Digest& expected_diff_id,
                          const LayerCaps& caps, LayerBudget& budget, LayerChain& chain);

// Pass 1 while the bytes arrive (a download): feed() them in order; a thread of its own reads
// them (read_layer_stream) as they come. A verification error surfaces from the next feed()
// (the rest is not needed) or from finish(). Destroying an unfinished one stops its thread.
class LayerFeed {
public:
    LayerFeed(const Descriptor& layer, const LayerCaps& caps);
    ~LayerFeed();
    LayerFeed(const LayerFeed&) = delete;
    LayerFeed& operator=(const LayerFeed&) = delete;
    void feed(const void* data, size_t n);
    StreamedLayer finish();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Verify the blob readable from fd (both passes) (from its current offset) as the layer `layer` (its digest
// and size name it in errors; its media type picks the decompressor). compressed_size is the
// blob's size for the ratio guard. Throws InvalidInput ("layer sha256:...: ...") on any of
// the failures listed above; on success the chain and budget are updated.
VerifiedLayer verify_layer_stream(int fd, const Descriptor& layer, const Digest& expected_diff_id,
                                  const LayerCaps& caps, LayerBudget& budget, LayerChain& chain,
                                  const StreamTaps& taps = {});

// The same for a blob already in the store.
VerifiedLayer verify_layer_stream(const Store& store, const Descriptor& layer, const Digest& expected_diff_id,
                                  const LayerCaps& caps, LayerBudget& budget, LayerChain& chain);

}  // namespace cas
