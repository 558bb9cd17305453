// Image references (`name[:tag]`, `name@sha256:...`) and the store's ref table.
// Refs live in the store's index.json (so the store is a valid OCI layout that skopeo/umoci
// can read): each entry is a manifest descriptor annotated with
//   org.opencontainers.image.ref.name = TAG      (what `oci:DIR:TAG` looks up)
//   io.imgbuild.ref.name              = NAME:TAG (imgbuild's full name)
// Updates take the index lock, re-read, and rewrite index.json by temp file + rename.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cas/oci.hpp"
#include "cas/store.hpp"

namespace cas {

struct Reference {
    std::string name;               // "busybox", "example.com:5000/team/app"
    std::string tag;                // "latest" unless given (empty when only a digest was given)
    std::optional<Digest> digest;   // from NAME@sha256:...
    std::string str() const;        // "name:tag" or "name@sha256:..."
};

// Validates (docker's grammar: lowercase path components, optional registry host[:port],
// tag [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}) and normalises: default tag "latest", and the
// docker.io default prefixes ("docker.io/library/", "docker.io/") are dropped.
// Throws sys::Error(InvalidInput) naming the text.
Reference parse_reference(std::string_view text);
// parse_reference(text).str() for a tagged reference ("busybox" -> "busybox:latest").
std::string normalize_ref(std::string_view text);
bool is_valid_reference(std::string_view text);

// The store's index.json (validated).
Index read_store_index(const Store& store);
std::optional<Descriptor> lookup_ref(const Store& store, const std::string& ref);
// Every named ref, sorted by name.
std::vector<std::pair<std::string, Descriptor>> store_refs(const Store& store);
// Add or move a ref (normalised) to point at the manifest descriptor.
void set_ref(Store& store, const std::string& ref, const Descriptor& manifest);
// Remove a ref; false if it did not exist.
bool remove_ref(Store& store, const std::string& ref);

}  // namespace cas
