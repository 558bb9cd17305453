// Whiteouts and tar entry paths: the pure helpers live in cas/tar_paths.hpp (import
// verification uses them too); layers/ code uses them under these names.
#pragma once
#include "cas/tar_paths.hpp"

namespace layers {

using cas::kOpaqueMarker;
using cas::kOverlayOpaqueXattr;
using cas::kOverlayXattrPrefix;
using cas::kWhiteoutPrefix;
using cas::OciEntry;
using cas::classify_oci_path;
using cas::clean_entry_path;
using cas::is_overlay_opaque_value;
using cas::is_overlay_whiteout;
using cas::layer_xattr_allowed;
using cas::oci_opaque_path;
using cas::oci_whiteout_path;
using cas::split_parent;

}  // namespace layers
