// Whiteouts in their two forms, and tar entry path cleaning. Pure functions (in cas/ so that
// import verification and layers/ share one copy; layers/whiteout.hpp re-exports them).
//   OCI form (in layer tars):   dir/.wh.NAME  (NAME deleted)   dir/.wh..wh..opq  (dir opaque)
//   overlay form (on disk):     dir/NAME is a char device 0:0  dir has trusted.overlay.opaque=y
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace cas {

inline constexpr std::string_view kWhiteoutPrefix = ".wh.";
inline constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
inline constexpr const char* kOverlayOpaqueXattr = "trusted.overlay.opaque";
inline constexpr std::string_view kOverlayXattrPrefix = "trusted.overlay.";

// What a (cleaned, relative) tar entry path means for overlay.
struct OciEntry {
    enum class Kind {
        Plain,     // an ordinary entry: create `path`
        Whiteout,  // create a char 0:0 device `dir/name` (name deleted below)
        Opaque,    // set trusted.overlay.opaque=y on `dir`
        Meta,      // another .wh..wh.* entry (aufs metadata): ignored
    };
    Kind kind = Kind::Plain;
    std::string dir;   // parent directory ("" = layer root)
    std::string name;  // the base name (for Whiteout: the hidden name)
};
// Throws sys::Error(InvalidInput) for whiteouts of "." / ".." / "" .
OciEntry classify_oci_path(const std::string& clean_path);

// Overlay form -> OCI tar names.
std::string oci_whiteout_path(const std::string& dir, const std::string& name);  // dir/.wh.name
std::string oci_opaque_path(const std::string& dir);                              // dir/.wh..wh..opq
bool is_overlay_whiteout(mode_t mode, dev_t rdev);  // char device 0:0
bool is_overlay_opaque_value(std::string_view xattr_value);  // "y"

// How long names in a layer may be: one set of limits for every place a layer passes. A build's
// diff writes no longer path (the step fails, naming it), import refuses a layer with one up
// front, unpack creates every path import accepts.
inline constexpr size_t kMaxNameLen = 255;             // a path component: NAME_MAX of Linux file systems
inline constexpr size_t kMaxEntryPathLen = 64 << 10;   // an entry path or hard-link target: past PATH_MAX
                                                       // in a PAX header, unpacked part by part
inline constexpr size_t kMaxSymlinkTargetLen = 4095;   // what symlink(2) stores (PATH_MAX - 1)
// The first component of a cleaned entry path longer than kMaxNameLen, or "" when none is; a
// whiteout's last component counts without its ".wh." prefix (the name it stands for).
std::string_view overlong_component(std::string_view clean_path);

// Normalize a tar entry path: strip leading "/" and "./", drop "." and empty components.
// ".." components are rejected (InvalidInput) because a layer path never needs them.
// Returns "" for the layer root itself ("." or "/").
std::string clean_entry_path(std::string_view path);

// Split "a/b/c" into {"a/b", "c"}; {"", "c"} for a top-level name.
std::pair<std::string, std::string> split_parent(const std::string& path);

// Which xattrs cross the layer boundary (written into tars and applied from them):
// user.*, security.capability, trusted.* except trusted.overlay.*.
bool layer_xattr_allowed(std::string_view name);

}  // namespace cas
