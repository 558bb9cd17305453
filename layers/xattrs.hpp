// Overlay upper dir entries as diff_upper reads them: the xattrs that cross the layer boundary,
// the opaque marker.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace layers {

// Sorted (name, value) xattrs of dirfd/name (not following a final symlink) that cross the
// layer boundary. With fd >= 0 (the entry already open) the f*xattr calls skip the path walk
// through /proc/self/fd that symlinks need.
// `foreign` is set when the entry has an xattr a snapshot does not keep (snapshot_keeps_xattr).
std::vector<std::pair<std::string, std::string>> read_xattrs(int dirfd, const std::string& name, const std::string& shown,
                                                             bool& foreign, int fd = -1);
// An upper dir entry overlay marked opaque (it hides the lower layers' contents).
bool dir_is_opaque(int fd);

}  // namespace layers
