#include "layers/rootfs.hpp"

#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <random>
#include <utility>

#include "cas/image.hpp"
#include "layers/unpack.hpp"
#include "sys/error.hpp"

namespace layers {

void enter_private_mount_namespace() {
    if (::unshare(CLONE_NEWNS) != 0) sys::throw_errno("unshare(CLONE_NEWNS) for a private mount namespace");
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) sys::throw_errno("make / private");
}

std::string unpack_chain(cas::Store& store, layers::Snapshotter& snaps, const std::vector<cas::Digest>& blobs,
                         const std::vector<cas::Digest>& diff_ids) {
    if (blobs.empty()) return "";
    return layers::ensure_unpacked(store, snaps, blobs, diff_ids);
}

std::string unpack_image(cas::Store& store, layers::Snapshotter& snaps, const cas::Image& image) {
    std::vector<cas::Digest> blobs;
    for (const auto& l : image.manifest.layers) blobs.push_back(l.digest);
    return unpack_chain(store, snaps, blobs, image.config.diff_ids);
}

void unpack_after_import(cas::Store& store, const cas::Digest& manifest) {
    try {
        layers::Snapshotter snaps(store);
        sys::FileLock gc_guard = store.lock_shared();
        unpack_image(store, snaps, cas::load_image(store, manifest));
    } catch (const sys::Error& e) {
        std::fprintf(stderr, "imgbuild: warning: %s: not unpacked now (it will be on first use): %s\n",
                     manifest.str().c_str(), e.what());
    }
}

static std::string unique_suffix() {
    static std::atomic<unsigned> n{0};
    static const unsigned long seed = std::random_device{}();
    return std::to_string(::getpid()) + "-" + std::to_string(seed % 100000) + "-" + std::to_string(n++);
}

MountedRoot MountedRoot::writable(cas::Store& store, layers::Snapshotter& snaps, const std::string& parent) {
    MountedRoot r(snaps);
    r.active_key_ = "active-" + unique_suffix();
    layers::MountSpec spec = snaps.prepare(r.active_key_, parent);
    r.mountpoint_ = store.temp_dir("root-");
    r.mount_.emplace(spec, r.mountpoint_.path());
    return r;
}

MountedRoot MountedRoot::view(cas::Store& store, layers::Snapshotter& snaps, const std::string& key) {
    MountedRoot r(snaps);
    r.mountpoint_ = store.temp_dir("view-");
    if (!key.empty()) r.mount_.emplace(snaps.mounts_for(key), r.mountpoint_.path());
    return r;
}

MountedRoot::MountedRoot(MountedRoot&& o) noexcept
    : snaps_(o.snaps_), active_key_(std::exchange(o.active_key_, {})), mountpoint_(std::move(o.mountpoint_)),
      mount_(std::move(o.mount_)) {
    o.mount_.reset();
}

MountedRoot::~MountedRoot() {
    mount_.reset();  // unmount before the temp mount point is removed
    if (!active_key_.empty()) {
        try {
            snaps_->remove(active_key_);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "imgbuild: warning: cannot remove snapshot %s: %s\n", active_key_.c_str(), e.what());
        }
    }
}

std::string MountedRoot::upper_dir() const { return snaps_->upper_dir(active_key_); }

void MountedRoot::unmount() { mount_.reset(); }

void MountedRoot::commit(const std::string& name, StripScope scope) {
    mount_.reset();
    try {
        snaps_->commit(name, active_key_, scope);
    } catch (const sys::Error& e) {
        if (e.code() != sys::Code::AlreadyExists) throw;
        snaps_->remove(active_key_);  // an identical snapshot exists: keep that one
    }
    active_key_.clear();
}

}  // namespace layers
