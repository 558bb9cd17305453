// Normalized view of an image for the differential suite: the file tree of the final image
// (layers applied in order, whiteouts honoured), the parts of the config a user sees, the layer
// count and the history. Both sides (imgbuild and docker BuildKit) go through the same code: the
// image is read from a docker-archive tar (`docker save` / `imgbuild export --format docker`).
//
//   Tree base = diff::read_tree(base_tar);
//   nlohmann::json snap = diff::snapshot(image_tar, base);   // tree entries relative to base
//   std::vector<std::string> d = diff::compare(expected, snap);  // "" when equal
#pragma once
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace diff {

// path (no leading '/') -> "type mode uid:gid [size sha256] [-> target] [xattr k=v...] [hardlink=path]"
using Tree = std::map<std::string, std::string>;

// The merged file tree of the image in a docker-archive tar.
Tree read_tree(const std::string& tar_path);

// Pairs of paths whose modification times are compared (case.json "mtimes"): times differ
// between builds, their order does not.
using MtimePairs = std::vector<std::pair<std::string, std::string>>;

// {"tree": {path: entry} for entries not identical to `base`, "deleted": [base paths gone],
//  "config": {...}, "layers": N, "history": [{"created_by", "empty_layer"}]}, and with
// `mtime_pairs` "mtimes": {"A vs B": "older" | "same" | "newer" | "missing"} (A's mtime against
// B's, in whole seconds as docker's layer tars hold them).
nlohmann::json snapshot(const std::string& tar_path, const Tree& base, const MtimePairs& mtime_pairs = {});

// Human-readable differences between an expected and an actual snapshot, one per line item.
std::vector<std::string> compare(const nlohmann::json& expected, const nlohmann::json& actual);

}  // namespace diff
