// Snapshotter in containerd's shape. Committed snapshots are unpacked layers, named by
// chain ID and shared by every image and build that uses them; active snapshots are
// writable (a fresh upper + work dir over the parent chain). The snapshotter only
// *describes* mounts; the caller mounts them (in a private mount namespace) via MountGuard.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cas/digest.hpp"
#include "cas/store.hpp"
#include "layers/strip.hpp"

namespace layers {

// What to mount at a target: either an overlay or a plain (bind) directory.
struct MountSpec {
    enum class Type { Overlay, Bind };
    Type type = Type::Overlay;
    std::vector<std::string> lowerdirs;  // top-most first
    std::string upperdir, workdir;       // empty for a read-only view
    std::string source;                  // Bind: the directory
    bool read_only = false;
};

struct SnapshotInfo {
    enum class Kind { Committed, Active, View };
    std::string key;
    std::string parent;  // "" for none
    Kind kind = Kind::Committed;
    std::map<std::string, std::string> labels;
};

class Snapshotter {
public:
    explicit Snapshotter(const cas::Store& store);
    // New writable snapshot on top of committed `parent` ("" = empty root).
    MountSpec prepare(const std::string& key, const std::string& parent,
                      const std::map<std::string, std::string>& labels = {});
    MountSpec view(const std::string& key, const std::string& parent);
    // The upper dir of an active snapshot (what a step changed), for diffing.
    std::string upper_dir(const std::string& key) const;
    // The directory holding a committed snapshot's own layer contents.
    std::string layer_dir(const std::string& key) const;
    // Turn an active snapshot into committed `name` (atomic). AlreadyExists if name exists.
    // The upper dir is stripped to what its layer tar holds (strip_to_layer_content; `scope`
    // DirItself when the caller's diff of that same dir found its entries clean).
    void commit(const std::string& name, const std::string& key, StripScope scope = StripScope::Everything);
    void remove(const std::string& key);
    std::optional<SnapshotInfo> stat(const std::string& key) const;
    std::vector<SnapshotInfo> walk() const;
    // The lower dirs of a writable mount over committed `parent` ("" = empty), for a caller that
    // brings its own upper and work dirs (MountedRoot::scratch).
    MountSpec writable_over(const std::string& parent) const;
    // Mounts for using committed `key` as a read-only root.
    MountSpec mounts_for(const std::string& key) const;

private:
    const cas::Store& store_;
    std::string dir_;
};

// Mounts a MountSpec at target on construction; unmounts (MNT_DETACH) on destruction.
// Uses the new mount API (fsopen/fsconfig lowerdir+) so 100+ layers fit.
class MountGuard {
public:
    MountGuard(const MountSpec& spec, const std::string& target);
    MountGuard(MountGuard&&) noexcept;
    MountGuard& operator=(MountGuard&&) = delete;
    ~MountGuard();
    void unmount();

private:
    std::string target_;
};

// chainID(n) = sha256(chainID(n-1) + " " + diffID(n)), chainID(0) = diffID(0) (OCI image spec).
cas::Digest chain_id(const std::vector<cas::Digest>& diff_ids);

}  // namespace layers
