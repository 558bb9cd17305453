// What each layer of an image adds, modifies and deletes, and an efficiency report in the
// shape `dive` computes: every path that appears in more than one layer (overwritten, or
// deleted by a whiteout) wastes its cumulative size; score = sum over paths of the smallest
// size seen / sum of all sizes seen. Unlike dive, deleting a directory (a whiteout of a
// directory, or an opaque directory) counts as deleting each file it held, so a file removed
// with `rm -rf dir` is wasted space too. Pure: works on layer entry lists.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cas/image.hpp"
#include "layers/layer_entries.hpp"

namespace inspect {

struct LayerChange {
    enum class Kind { Added, Modified, Deleted };
    Kind kind = Kind::Added;
    std::string path;  // relative, no leading "/"
    char type = 'f';   // of the entry; for Deleted: of what it hid ('d' for a directory)
    uint32_t mode = 0, uid = 0, gid = 0;
    uint64_t size = 0;  // Added/Modified: the entry's size; Deleted: bytes it hid
    std::string link;   // symlink / hard link target
};
const char* layer_change_name(LayerChange::Kind k);  // "added" | "modified" | "deleted"

struct LayerReport {
    std::vector<LayerChange> changes;  // sorted by path
    size_t added = 0, modified = 0, deleted = 0;
    uint64_t added_bytes = 0, modified_bytes = 0, deleted_bytes = 0;
};

struct Inefficiency {
    std::string path;
    size_t count = 0;              // layers in which the path was written or deleted
    uint64_t cumulative_size = 0;  // sum of the sizes written (dive's "total space")
};

struct Efficiency {
    double score = 1.0;         // 0..1
    uint64_t wasted_bytes = 0;  // sum of cumulative_size over inefficiencies (as dive)
    uint64_t content_bytes = 0; // sum of every file size in every layer
    std::vector<Inefficiency> inefficiencies;  // biggest cumulative size first
};

// One entry list per layer, bottom first.
struct LayerAnalysis {
    std::vector<LayerReport> layers;
    Efficiency efficiency;
};
LayerAnalysis analyze_layers(const std::vector<std::vector<layers::LayerEntry>>& layer_entries);

// History entries of an image paired with its layers (non-empty entries take the layers in
// order). An image without history gets one synthetic row per layer.
struct HistoryRow {
    std::string created, created_by, comment;
    bool empty_layer = false;
    std::optional<cas::Descriptor> layer;  // the manifest's layer descriptor
    std::optional<cas::Digest> diff_id;
};
std::vector<HistoryRow> history_rows(const cas::Image& image);
// The created_by text for layer i (by the same pairing), "" when unknown.
std::vector<std::string> layer_created_by(const cas::Image& image);

// "-rwxr-xr-x" / "drwxr-xr-x" / "lrwxrwxrwx" from a type char and permission bits.
std::string mode_string(char type, uint32_t mode);
// "file" | "dir" | "symlink" | "hardlink" | "char" | "block" | "fifo" | "socket" | "unknown"
const char* entry_type_name(char type);

}  // namespace inspect
