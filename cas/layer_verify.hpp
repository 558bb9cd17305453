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
//   * unsafe entries: a path with ".." (or one that is too long), a non-directory (or a hard
//     link) at the layer root ("." or "/"), a whiteout naming nothing (".wh.", ".wh..",
//     ".wh.."), a hard link whose target is not an earlier non-directory entry of the same
//     layer, an entry whose path goes through a symlink planted by an earlier entry of this
//     layer or by an earlier layer of the image (unless this layer replaced or deleted it
//     first), sockets and other types a layer cannot hold.
#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "cas/decompress.hpp"
#include "cas/digest.hpp"
#include "cas/oci.hpp"
#include "cas/store.hpp"

namespace cas {

struct LayerCaps {
    uint64_t max_total_bytes = 64ull << 30;    // uncompressed, all layers of one import
    uint64_t max_ratio = 1000;                 // uncompressed : compressed, per layer
    uint64_t ratio_min_bytes = 512ull << 20;   // the ratio guard applies past this many bytes of a layer
    uint64_t max_entries = 2'000'000;          // per layer
    size_t max_path_len = 4096;                // entry path and link target
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

// Verify the blob readable from fd (from its current offset) as the layer `layer` (its digest
// and size name it in errors; its media type picks the decompressor). compressed_size is the
// blob's size for the ratio guard. Throws InvalidInput ("layer sha256:...: ...") on any of
// the failures listed above; on success the chain and budget are updated.
VerifiedLayer verify_layer_stream(int fd, const Descriptor& layer, const Digest& expected_diff_id,
                                  const LayerCaps& caps, LayerBudget& budget, LayerChain& chain);

// The same for a blob already in the store.
VerifiedLayer verify_layer_stream(const Store& store, const Descriptor& layer, const Digest& expected_diff_id,
                                  const LayerCaps& caps, LayerBudget& budget, LayerChain& chain);

}  // namespace cas
