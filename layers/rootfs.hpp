// Roots for build steps and `imgbuild run`: an image's layers unpacked into shared
// snapshots, and a writable (or read-only) overlay of them mounted in this process's
// private mount namespace. Everything here is RAII: the mount goes before the temp mount
// point, and an uncommitted active snapshot is removed.
#pragma once
#include <sys/stat.h>

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cas/digest.hpp"
#include "cas/image.hpp"
#include "cas/store.hpp"
#include "layers/snapshotter.hpp"
#include "sys/fs.hpp"

namespace layers {

// For prune, under the store's exclusive lock: the parent chains of the `MountedRoot::scratch`
// slots in use (prune keeps them and their ancestors); the slots nobody holds are removed unless
// `dry_run`.
std::set<std::string> scratch_in_use(const cas::Store& store, bool dry_run);

// Move this process into a new mount namespace whose mounts do not propagate back to the
// host (unshare(CLONE_NEWNS) + MS_REC|MS_PRIVATE on /). Must be called before threads start.
// Every mount made afterwards disappears with the process, even after a crash.
void enter_private_mount_namespace();

// Unpack the layers (blobs + diff_ids, in order) into committed snapshots; returns the
// top chain key, or "" for no layers.
std::string unpack_chain(cas::Store& store, layers::Snapshotter& snaps, const std::vector<cas::Digest>& blobs,
                         const std::vector<cas::Digest>& diff_ids);
std::string unpack_image(cas::Store& store, layers::Snapshotter& snaps, const cas::Image& image);
// After `import` or `pull`: unpack the image's layers into committed snapshots now, as docker
// load and pull do, so that its first build step or `run` does not (a busybox base: ~55 ms of
// the first RUN). A failure is reported as a warning only: the image is in the store and the
// unpack is tried again on first use.
void unpack_after_import(cas::Store& store, const cas::Digest& manifest);

// A directory of a mounted root as a build step found it: what its layer entry would hold.
struct DirState {
    std::string path;  // absolute and symlink-free, inside the root
    struct stat st{};
    std::vector<std::pair<std::string, std::string>> xattrs;  // those a layer carries
};
// The state of `path` in the tree at root_fd; nullopt unless it is a directory there (no symlink
// followed on the way).
std::optional<DirState> dir_state(int root_fd, const std::string& path);
// After MountedRoot::unmount, before the diff: remove from upper_dir each of `dirs` (any order) that overlay copied up only because an entry was made in it and removed
// again (a mount stub): still an empty, non-opaque directory there with the type, mode, owner
// and layer xattrs dir_state saw. Such a copy is no change -- BuildKit's differ leaves it out --
// but diff_upper would write it into the layer. Anything else the step did there keeps it.
void drop_unchanged_copy_ups(const std::string& upper_dir, const std::vector<DirState>& dirs);

// A mounted root: writable (a fresh active snapshot over `parent`) or a read-only view.
class MountedRoot {
public:
    // Writable root over committed `parent` ("" = empty). The active snapshot is removed on
    // destruction unless commit() was called.
    static MountedRoot writable(cas::Store& store, layers::Snapshotter& snaps, const std::string& parent);
    // Writable root over committed `parent` whose writes are thrown away (`imgbuild run`): the
    // upper, work and mount point dirs are a reusable slot, <snapshots>/scratch/<n>/, instead of
    // a fresh active snapshot (ext4 directory creation and removal were ~2 ms of a 25 ms
    // `run true`). The slot is held by an exclusive flock on <snapshots>/scratch/<n>.lock while
    // this lives; its upper dir is reused only when nothing an earlier holder did shows there
    // (empty, root-owned 0755, no xattr but the uuid overlay sets at its first mount), else it
    // is made anew. Emptied again on destruction. The slot's lock file names `parent` while it is
    // held: that is the lease prune honours (scratch_in_use), so call this with the store's
    // shared lock held, as for creating the snapshots.
    // `stubs`: files (relative to the root, e.g. "etc/hosts") that exist in the root even where
    // the image has none, as empty 0644 files in a read-only layer of the slot's own below the
    // image's (<slot>/stubs): the holder's mount targets are not created in the upper dir, which
    // then stays empty and is reused as it is (`run true` of an image without /etc/hosts: ~0.5 ms).
    // The image's own file, or a symlink or whiteout in its way, hides the stub as usual.
    static MountedRoot scratch(cas::Store& store, layers::Snapshotter& snaps, const std::string& parent,
                               const std::vector<std::string>& stubs = {});
    // Read-only view of committed `key` ("" = an empty directory).
    static MountedRoot view(cas::Store& store, layers::Snapshotter& snaps, const std::string& key);

    MountedRoot(MountedRoot&& o) noexcept;
    MountedRoot& operator=(MountedRoot&&) = delete;
    ~MountedRoot();

    const std::string& path() const { return scratch_ ? scratch_->mountpoint : mountpoint_.path(); }
    // The active snapshot's key (writable roots; "" for views).
    const std::string& active_key() const { return active_key_; }
    // The upper dir (what changed); writable roots only.
    std::string upper_dir() const;
    // Unmount (keep the snapshot) — before diffing the upper dir.
    void unmount();
    // Commit the active snapshot as `name` (a chain key). Losing a race to an identical
    // commit is success (the duplicate is removed). `scope` as Snapshotter::commit.
    void commit(const std::string& name, StripScope scope = StripScope::Everything);
    // Scratch roots: a file of this slot's (<slot>/files/`name`, outside the root) holding
    // `content`, for the holder to bind read-only into its container (`run`'s /etc/hosts, ...).
    // Rewritten only when its content differs, so running the same way again writes nothing.
    std::string slot_file(const std::string& name, const std::string& content) const;

private:
    MountedRoot(layers::Snapshotter& snaps) : snaps_(&snaps) {}
    layers::Snapshotter* snaps_;
    std::string active_key_;  // "" for views
    struct Scratch {
        sys::FileLock lock;
        std::string dir, mountpoint;
        ~Scratch();  // empties the upper dir; the lock goes last
    };
    std::unique_ptr<Scratch> scratch_;  // declared before the mount: the mount is released first
    sys::TempDir mountpoint_;
    std::optional<layers::MountGuard> mount_;
};

}  // namespace layers
