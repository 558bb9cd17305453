// OCI image-spec types (descriptor, manifest, index, image config) with strict parsing and
// canonical serialisation (sorted keys, no whitespace: the same value gives the same digest).
// Docker's v2 manifest / manifest list / container config media types are accepted on parse.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cas/digest.hpp"

namespace cas {

namespace media {
inline constexpr const char* kOciLayout = "1.0.0";
inline constexpr const char* kManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* kIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* kConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr const char* kLayer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr const char* kLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr const char* kLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr const char* kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr const char* kDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr const char* kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr const char* kDockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr const char* kDockerLayer = "application/vnd.docker.image.rootfs.diff.tar";
}  // namespace media

bool is_manifest_type(std::string_view mt);  // OCI or docker v2 manifest
bool is_index_type(std::string_view mt);     // OCI index or docker manifest list
bool is_layer_type(std::string_view mt);

// Caps on JSON documents read from a store or an archive.
inline constexpr size_t kMaxManifestBytes = 4u << 20;
inline constexpr size_t kMaxConfigBytes = 8u << 20;

inline constexpr const char* kAnnotationRefName = "org.opencontainers.image.ref.name";
inline constexpr const char* kAnnotationImgbuildRef = "io.imgbuild.ref.name";

struct Platform {
    std::string architecture;
    std::string os;
    std::string variant;
    std::string os_version;
    std::vector<std::string> os_features;
};

struct Descriptor {
    std::string media_type;
    Digest digest = Digest::of("");
    uint64_t size = 0;
    std::map<std::string, std::string> annotations;
    std::optional<Platform> platform;
    std::vector<std::string> urls;
    std::string artifact_type;
};

struct Manifest {
    int schema_version = 2;
    std::string media_type = media::kManifest;  // "" if the document had none
    Descriptor config;
    std::vector<Descriptor> layers;
    std::map<std::string, std::string> annotations;
    std::optional<Descriptor> subject;
    std::string artifact_type;
};

struct Index {
    int schema_version = 2;
    std::string media_type = media::kIndex;
    std::vector<Descriptor> manifests;
    std::map<std::string, std::string> annotations;
};

struct HistoryEntry {
    std::string created;
    std::string created_by;
    std::string author;
    std::string comment;
    bool empty_layer = false;
};

// The "config" object of an image config (docker's container config keys).
struct ContainerConfig {
    std::string user;
    std::vector<std::string> env;
    std::optional<std::vector<std::string>> entrypoint;
    std::optional<std::vector<std::string>> cmd;
    std::string working_dir;
    std::map<std::string, std::string> labels;
    std::vector<std::string> exposed_ports;  // "80/tcp"
    std::vector<std::string> volumes;
    std::string stop_signal;
    std::optional<nlohmann::json> healthcheck;
    std::vector<std::string> on_build;
    std::optional<std::vector<std::string>> shell;
};

struct ImageConfig {
    std::string architecture = "amd64";
    std::string os = "linux";
    std::string variant;
    std::optional<std::string> created;  // RFC 3339
    std::string author;
    ContainerConfig config;
    std::string rootfs_type = "layers";
    std::vector<Digest> diff_ids;
    std::vector<HistoryEntry> history;
    // The document this was parsed from: unknown fields survive a round trip.
    nlohmann::json raw = nlohmann::json::object();
};

// JSON conversion (nlohmann ADL hooks). from_json validates (digests, sizes, types).
void to_json(nlohmann::json& j, const Platform& p);
void from_json(const nlohmann::json& j, Platform& p);
void to_json(nlohmann::json& j, const Descriptor& d);
void from_json(const nlohmann::json& j, Descriptor& d);
void to_json(nlohmann::json& j, const Manifest& m);
void to_json(nlohmann::json& j, const Index& i);
void to_json(nlohmann::json& j, const ImageConfig& c);

// Strict parsers. All throw sys::Error(InvalidInput) with a message naming what is wrong.
// expected_media_type: the mediaType of the descriptor that pointed here ("" = unknown); a
// document whose own mediaType disagrees is rejected.
Manifest parse_manifest(std::string_view bytes, std::string_view expected_media_type = "");
Index parse_index(std::string_view bytes, std::string_view expected_media_type = "");
ImageConfig parse_config(std::string_view bytes);
Descriptor parse_descriptor(const nlohmann::json& j);

// Canonical bytes (sorted keys, compact).
std::string canonical(const nlohmann::json& j);
std::string serialize(const Manifest& m);
std::string serialize(const Index& i);
std::string serialize(const ImageConfig& c);

// Number of history entries that are not empty_layer.
size_t non_empty_layer_count(const ImageConfig& c);

}  // namespace cas
