// Iterate the entries of a stored layer tar (any compression) without extracting it,
// e.g. for layer-efficiency reports. Whiteouts are reported with the path they hide.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "cas/digest.hpp"
#include "cas/store.hpp"

namespace layers {

struct LayerEntry {
    std::string path;  // cleaned tar path ("a/.wh.b" for a whiteout)
    char type = 'f';   // f, d, l (symlink), h (hard link), c, b, p
    uint64_t size = 0;
    uint32_t mode = 0;  // permission bits (07777)
    uint32_t uid = 0, gid = 0;
    std::string link;         // symlink or hard link target
    bool whiteout = false;    // .wh.NAME: `hidden` is deleted from lower layers
    bool opaque = false;      // .wh..wh..opq: `hidden` (a dir) hides its lower contents
    std::string hidden;
};

void for_each_layer_entry(const cas::Store& store, const cas::Digest& layer,
                          const std::function<void(const LayerEntry&)>& fn);
std::vector<LayerEntry> list_layer(const cas::Store& store, const cas::Digest& layer);

}  // namespace layers
