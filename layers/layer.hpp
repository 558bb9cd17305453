// Layer tars: applying one into a directory (root-confined, whiteouts -> overlay form,
// diff_id verified, caps against bombs) and producing one from an overlay upper dir
// (whiteouts -> OCI form, deterministic bytes, digests computed while streaming).
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "cas/decompress.hpp"
#include "cas/digest.hpp"
#include "cas/oci.hpp"
#include "cas/store.hpp"
#include "cas/tar_paths.hpp"

namespace layers {

using Compression = cas::Compression;  // None | Gzip | Zstd
const char* media_type_for(Compression c);  // application/vnd.oci.image.layer.v1.tar[+gzip|+zstd]

struct ApplyLimits {
    uint64_t max_total_bytes = 64ull << 30;
    uint64_t max_entries = 2'000'000;
    size_t max_path_len = cas::kMaxEntryPathLen;  // as import: deeper than PATH_MAX is opened part by part
    size_t max_pax_bytes = 1 << 20;
};

struct ApplyResult {
    cas::Digest diff_id;      // sha256 of the uncompressed tar stream
    uint64_t entries = 0;
    uint64_t bytes = 0;       // uncompressed
};

// Extract the blob `layer` from the store (gzip/zstd/none detected from its bytes) into
// target_dir. If expected_diff_id is set, a mismatch is an error naming the layer. On any
// error the caller removes target_dir; the message names the layer digest and tar entry.
ApplyResult apply_layer(const cas::Store& store, const cas::Digest& layer, const std::string& target_dir,
                        const std::optional<cas::Digest>& expected_diff_id = std::nullopt,
                        const ApplyLimits& limits = {});

struct DiffOptions {
    Compression compression = Compression::None;
    std::optional<int64_t> source_date_epoch;  // clamp mtimes to it
    bool durable = true;  // false: no fsync of the blob (build path; see cas::BlobWriter::set_durable)
};

struct LayerBlob {
    cas::Digest digest;      // of the stored blob (== diff_id when uncompressed)
    cas::Digest diff_id;     // of the uncompressed tar
    uint64_t size = 0;       // blob size
    std::string media_type;
    bool empty = false;      // the upper dir had no changes
    // diff_upper saw no entry below the dir with something its tar leaves out (a socket; an
    // xattr but the layer ones and overlay's opaque marker): committing the dir needs
    // strip_to_layer_content for the dir itself only (overlay puts trusted.overlay.* there).
    bool entries_only_layer_content = false;
};

// Walk only the overlay upper dir, write a deterministic OCI layer tar into the store.
LayerBlob diff_upper(cas::Store& store, const std::string& upper_dir, const DiffOptions& opts = {});

// Re-encode a stored layer blob with another compression (for export); returns the new blob.
LayerBlob recompress(cas::Store& store, const cas::Digest& layer, Compression to);

// For cas::export_image's map_layer hook: uncompressed layers are compressed into the store
// (once; the same input gives the same blob) and exported compressed. Others pass as they are.
std::function<cas::Descriptor(const cas::Descriptor&)> compress_on_export(cas::Store& store, Compression c);
// "gzip" | "zstd" | "none"; InvalidInput otherwise.
Compression parse_compression(const std::string& name);

}  // namespace layers
