// Images in the store: load (verifying every blob read), resolve a user's IMAGE argument,
// write a new image (config + manifest), and tag/untag/list refs.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "cas/oci.hpp"
#include "cas/refs.hpp"
#include "cas/store.hpp"

namespace cas {

struct Image {
    Digest manifest_digest = Digest::of("");
    Manifest manifest;
    Digest config_digest = Digest::of("");  // the image ID
    ImageConfig config;
    uint64_t manifest_size = 0;
    std::string manifest_media_type;  // of the manifest document
    // Sum of the config and layer blob sizes.
    uint64_t total_size() const;
    Descriptor manifest_descriptor() const;
};

// Reads and verifies the manifest and config blobs (layers are not read); checks that the
// config's diff_ids match the manifest's layer count.
Image load_image(const Store& store, const Digest& manifest);
// IMAGE is NAME[:TAG], NAME@sha256:..., sha256:<manifest or config digest>, or an
// unambiguous image-ID (config digest) prefix. NotFound: `image "x" not found`.
Image resolve_image(const Store& store, const std::string& ref);
// Write config blob + manifest blob (layers must already be in the store); returns the
// manifest descriptor. diff_ids must have one entry per layer.
Descriptor write_image(Store& store, const ImageConfig& config, const std::vector<Descriptor>& layers);
void tag_image(Store& store, const std::string& ref, const Descriptor& manifest);
std::vector<std::pair<std::string, Descriptor>> list_refs(const Store& store);
// NotFound if the ref does not exist.
void untag(Store& store, const std::string& ref);
// All refs (normalised names) that point at this manifest digest.
std::vector<std::string> refs_to(const Store& store, const Digest& manifest);

}  // namespace cas
