// Snapshot hygiene before a commit (issue 12.13).
#pragma once
#include <string>
#include <string_view>

namespace layers {

// Make dir (an upper dir about to be committed as a shared snapshot) hold exactly what
// diff_upper writes into its layer tar: sockets are removed, and xattrs no layer carries
// (POSIX ACLs, security.selinux, ...; see layer_xattr_allowed) are dropped, the overlay
// opaque marker kept. Two uppers with one diff_id then commit to the same snapshot, so no
// build can plant state a later build with the same chain id would inherit. Snapshotter::
// commit calls it. DirItself strips the dir's own xattrs only: for a dir whose entries a diff
// walk found clean (LayerBlob::entries_only_layer_content).
enum class StripScope { Everything, DirItself };

// An xattr a committed snapshot keeps: one a layer tar carries (layer_xattr_allowed), or overlay's
// opaque marker (diff_upper turns it into .wh..wh..opq). strip_to_layer_content removes the rest,
// and diff_upper flags an entry holding any other (LayerBlob::entries_only_layer_content).
bool snapshot_keeps_xattr(std::string_view name);
void strip_to_layer_content(const std::string& dir, StripScope scope = StripScope::Everything);

}  // namespace layers
