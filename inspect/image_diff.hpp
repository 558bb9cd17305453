// `imgbuild diff A B`: each side is an image, a layer blob in the store, or a local
// directory. Images are mounted read-only (overlay view of their unpacked chain), a layer is
// extracted into a temp dir (whiteouts in overlay form: char devices 0:0), a directory is used
// as is; the two trees are compared with layers::diff_trees. For two images the container
// configs are compared too.
#pragma once
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "layers/rootfs.hpp"
#include "cas/image.hpp"
#include "cas/store.hpp"
#include "layers/snapshotter.hpp"
#include "layers/treediff.hpp"
#include "sys/fs.hpp"

namespace inspect {

struct DiffOperand {
    enum class Kind { Image, Layer, Directory };
    Kind kind = Kind::Directory;
    std::string arg;  // as given
    std::string id;   // image: manifest digest; layer: blob digest; directory: absolute path
    std::optional<cas::Image> image;
    std::optional<cas::Digest> layer;
};
const char* operand_kind_name(DiffOperand::Kind k);  // "image" | "layer" | "directory"

// An existing path is a directory (a non-directory path is InvalidInput); otherwise an image
// reference (cas::resolve_image); otherwise a full sha256 digest of a layer blob in the
// store. NotFound names the argument when it is none of these.
DiffOperand classify_operand(const cas::Store& store, const std::string& arg);

// The operand's file tree, available at path() for as long as this lives. Images need the
// caller to be in a private mount namespace (enter_private_mount_namespace()).
class OperandTree {
public:
    OperandTree(cas::Store& store, layers::Snapshotter& snaps, const DiffOperand& op);
    const std::string& path() const { return path_; }

private:
    sys::TempDir extracted_;           // layer: its contents
    std::optional<layers::MountedRoot> view_;  // image: its read-only root
    std::string path_;
};

// Config fields that differ between two images: env, cmd, entrypoint, labels, user,
// workdir, exposed_ports, volumes, stop_signal, shell (in that order). before/after are the
// JSON values (null when unset).
struct ConfigChange {
    std::string field;
    nlohmann::json before, after;
};
std::vector<ConfigChange> diff_configs(const cas::ContainerConfig& a, const cas::ContainerConfig& b);

struct DiffStat {
    size_t added = 0, modified = 0, deleted = 0;
    uint64_t bytes_added = 0;    // sizes of added files, plus growth of modified ones
    uint64_t bytes_removed = 0;  // sizes of deleted files, plus shrinkage of modified ones
};
DiffStat diff_stat(const std::vector<layers::TreeChange>& changes);

// JSON shapes used by `diff --json` (documented in README).
nlohmann::json node_json(const layers::TreeNode& n);      // {type, mode, uid, gid, size, digest?, link?}
nlohmann::json change_json(const layers::TreeChange& c);  // {path, change, fields, before?, after?}

}  // namespace inspect
