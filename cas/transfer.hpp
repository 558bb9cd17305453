// Import images from, and export them to, the two exchange formats:
//   * an OCI image layout (a directory, or a tar of one)
//   * a docker-archive (`docker save` / `skopeo copy ... docker-archive:`) tar
// Input is untrusted: every digest and path is validated, sizes and entry counts are capped,
// and every blob is streamed through a BlobWriter that verifies it before it becomes visible.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cas/image.hpp"
#include "cas/layer_verify.hpp"
#include "cas/oci.hpp"
#include "cas/store.hpp"

namespace cas {

struct ImportOptions {
    std::optional<std::string> tag;              // name the (single) imported image NAME:TAG
    uint64_t max_total_bytes = 64ull << 30;      // all files of one archive (as stored, compressed)
    LayerCaps caps;                              // layer verification (cas/layer_verify.hpp)
    uint64_t max_entries = 200'000;              // tar entries
    std::string os = "linux";                    // platform picked from a multi-platform index
    std::string architecture;                    // default: this machine's
};

struct ImportedImage {
    std::vector<std::string> refs;  // normalised names it was tagged with
    Descriptor manifest;
    Digest config;                  // the image ID
};

// PATH is an OCI layout directory, an OCI layout tar, or a docker-archive tar (or an
// extracted docker-archive directory). Every image is tagged; an image whose name cannot
// be found in the archive needs opts.tag. Holds the store's shared lock throughout.
// All or nothing: layers are staged in ingest/ and verified (verify_layer_stream, with
// opts.caps) before any blob, manifest, config or ref becomes visible; a rejected import
// leaves nothing behind. Members of a tar that no image refers to are never stored.
std::vector<ImportedImage> import_images(Store& store, const std::string& path, const ImportOptions& opts = {});

enum class ExportFormat { Oci, Docker };

// Applied to each layer descriptor before it is written (e.g. compress it into the store
// and return the compressed blob's descriptor). The manifest is rewritten to match; the
// config (whose diff_ids are of the uncompressed layers) is unchanged.
using LayerMapper = std::function<Descriptor(const Descriptor&)>;

struct ExportOptions {
    ExportFormat format = ExportFormat::Oci;
    std::vector<std::string> names;  // refs to record (RepoTags / ref.name); may be empty
    LayerMapper map_layer;           // optional
};

// Oci: PATH is a directory (created, or an existing OCI layout the image is added to), or a
// tar when PATH ends in ".tar". Docker: PATH is a tar. Tars are written to a temp file and
// renamed into place.
void export_image(const Store& store, const Image& image, const std::string& path, const ExportOptions& opts);

// "amd64", "arm64", ... for this machine (GOARCH names).
std::string host_architecture();

}  // namespace cas
