// Remote image references: [HOST[:PORT]/]PATH[:TAG][@sha256:...], normalised as docker does
// ("debian" -> docker.io/library/debian:latest). The API host for docker.io is registry-1.docker.io.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "cas/digest.hpp"

namespace registry {

struct RemoteRef {
    std::string registry;    // "docker.io", "127.0.0.1:5000", "localhost"
    std::string repository;  // "library/debian", "team/app"
    std::string tag;         // empty when only a digest was given
    std::optional<cas::Digest> digest;
    // "HOST/REPO:TAG" or "HOST/REPO@sha256:..." (or both).
    std::string str() const;
    std::string name() const { return registry + "/" + repository; }
    // The tag or digest used to GET the manifest (digest wins).
    std::string reference() const { return digest ? digest->str() : tag; }
    // Host[:port] to connect to.
    std::string api_host() const;
};

// Throws sys::Error(InvalidInput) naming the text.
RemoteRef parse_remote_ref(std::string_view text);
// True when the first path component names a registry host (has '.' or ':' or is "localhost").
bool names_registry(std::string_view text);
// The key used in auth files: "docker.io" -> "https://index.docker.io/v1/" is also tried.
std::string canonical_registry(std::string_view host);

}  // namespace registry
