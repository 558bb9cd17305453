#include "layers/rootfs.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <random>
#include <string_view>
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

namespace {

std::string scratch_root(const cas::Store& store) { return store.snapshots_dir() + "/scratch"; }

// Nothing an earlier holder did shows in this upper dir: empty, root-owned 0755, and no xattr
// but trusted.overlay.uuid (set by overlay at the first mount; a container cannot set trusted.*).
bool upper_untouched(int fd) {
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode) || (st.st_mode & 07777) != 0755 || st.st_uid != 0 || st.st_gid != 0)
        return false;
    char names[64];
    ssize_t n = ::flistxattr(fd, names, sizeof names);
    if (n < 0) return false;  // ERANGE: more than overlay's own
    constexpr std::string_view kUuid("trusted.overlay.uuid\0", 21);
    if (n != 0 && std::string_view(names, size_t(n)) != kUuid) return false;
    return sys::list_dir(fd, "scratch upper dir").empty();
}

// (Re)make `dir` as an empty directory with exactly `mode` (whatever the umask).
void fresh_dir(const std::string& dir, mode_t mode) {
    if (sys::exists(dir)) sys::remove_tree(dir);
    if (::mkdir(dir.c_str(), mode) != 0) sys::throw_errno("create " + dir);
    if (::chmod(dir.c_str(), mode) != 0) sys::throw_errno("chmod " + dir);
}

// Empty the slot's upper dir for the next holder (kept when untouched: the common case).
void reset_slot(const std::string& dir) {
    // A `volatile` overlay (layers/mount.cpp) leaves work/work/incompat/volatile, and refuses a
    // work dir that has it: the kernel's sign that the upper dir may be torn by a crash. Ours is
    // kept only when it is provably empty and untouched, so the marker can go.
    std::string incompat = dir + "/work/work/incompat";
    if (sys::exists(incompat)) sys::remove_tree(incompat);
    sys::UniqueFd fd(::open((dir + "/fs").c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (fd && upper_untouched(fd.get())) {
        // A fresh upper dir's times are its creation's: so are a reused one's.
        if (::futimens(fd.get(), nullptr) != 0) sys::throw_errno("touch " + dir + "/fs");
        return;
    }
    fd.reset();
    fresh_dir(dir + "/fs", 0755);
    fresh_dir(dir + "/work", 0700);  // whatever a killed holder's overlay left there
}

// The slot's stub layer: each of `files` an empty 0644 file, its directories 0755 (made once;
// a lower layer is never written through the overlay).
std::string stub_layer(const std::string& dir, const std::vector<std::string>& files) {
    for (const std::string& f : files) {
        if (f.empty() || f[0] == '/' || f.find("..") != std::string::npos)
            sys::fail(sys::Code::Internal, "stub file " + f + ": not a plain relative path");
        std::string path = dir + "/" + f;
        struct stat st;
        if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0 && (st.st_mode & 07777) == 0644) continue;
        for (size_t slash = f.find('/'); slash != std::string::npos; slash = f.find('/', slash + 1)) {
            std::string d = dir + "/" + f.substr(0, slash);
            sys::mkdir_p(d, 0755);
            if (::chmod(d.c_str(), 0755) != 0) sys::throw_errno("chmod " + d);
        }
        sys::write_file_atomic(path, "", 0644, false);
    }
    return dir;
}

}  // namespace

MountedRoot MountedRoot::scratch(cas::Store& store, layers::Snapshotter& snaps, const std::string& parent,
                                 const std::vector<std::string>& stubs) {
    return sys::with_context("prepare a writable root over " + (parent.empty() ? std::string("nothing") : parent), [&] {
        MountSpec spec = snaps.writable_over(parent);  // the lower dirs (checks the chain is committed)
        std::string root = scratch_root(store);
        sys::mkdir_p(root, 0700);
        MountedRoot r(snaps);
        for (unsigned n = 0;; n++) {
            if (n > 4096) sys::fail(sys::Code::FailedPrecondition, "more than 4096 writable roots in use in " + root);
            std::string base = root + "/" + std::to_string(n);
            sys::FileLock lock = sys::FileLock::try_lock(base + ".lock", sys::FileLock::Exclusive);
            if (!lock) continue;  // another process's
            for (const std::string& d : {base, base + "/work", base + "/root"})
                if (::mkdir(d.c_str(), 0700) != 0 && errno != EEXIST) sys::throw_errno("create " + d);
            reset_slot(base);
            // The lease: prune keeps `parent` while the slot is held.
            // Rewritten only when it names another snapshot: the same image run again (the
            // common case) then truncates and dirties nothing for write-back.
            std::string lease = parent + "\n", held(lease.size() + 1, '\0');
            ssize_t got = ::pread(lock.fd(), held.data(), held.size(), 0);
            if (got != ssize_t(lease.size()) || held.compare(0, lease.size(), lease) != 0)
                if (::ftruncate(lock.fd(), 0) != 0 || ::pwrite(lock.fd(), lease.data(), lease.size(), 0) != ssize_t(lease.size()))
                    sys::throw_errno("write the lease in " + base + ".lock");
            r.scratch_.reset(new Scratch{std::move(lock), base, base + "/root"});
            break;
        }
        if (!stubs.empty()) spec.lowerdirs.push_back(stub_layer(r.scratch_->dir + "/stubs", stubs));
        spec.upperdir = r.scratch_->dir + "/fs";
        spec.workdir = r.scratch_->dir + "/work";
        r.mount_.emplace(spec, r.scratch_->mountpoint);
        return r;
    });
}

std::string MountedRoot::slot_file(const std::string& name, const std::string& content) const {
    if (!scratch_) sys::fail(sys::Code::Internal, "slot_file: not a scratch root");
    std::string dir = scratch_->dir + "/files", path = dir + "/" + name;
    try {
        if (sys::read_file(path, content.size()) == content) return path;
    } catch (const sys::Error& e) {  // missing, or longer than `content`
        if (e.code() != sys::Code::NotFound && e.code() != sys::Code::InvalidInput) throw;
    }
    sys::mkdir_p(dir, 0700);
    sys::write_file_atomic(path, content, 0644, false);
    return path;
}

MountedRoot::Scratch::~Scratch() {
    if (dir.empty()) return;
    try {
        reset_slot(dir);
    } catch (const std::exception& e) {  // the next holder tries again
        std::fprintf(stderr, "imgbuild: warning: cannot empty %s: %s\n", dir.c_str(), e.what());
    }
}

std::set<std::string> scratch_in_use(const cas::Store& store, bool dry_run) {
    std::string root = scratch_root(store);
    std::set<std::string> keys;
    for (const std::string& name : sys::list_dir(root, /*missing_ok=*/true)) {
        if (name.size() <= 5 || name.compare(name.size() - 5, 5, ".lock") != 0) continue;
        std::string slot = root + "/" + name.substr(0, name.size() - 5), lock_path = root + "/" + name;
        if (sys::FileLock idle = sys::FileLock::try_lock(lock_path, sys::FileLock::Exclusive)) {  // nobody holds it
            if (!dry_run && sys::exists(slot)) sys::remove_tree(slot);
            continue;
        }
        std::string key = sys::read_file(lock_path, 1 << 16);
        while (!key.empty() && key.back() == '\n') key.pop_back();
        if (!key.empty()) keys.insert(key);
    }
    return keys;
}

MountedRoot MountedRoot::view(cas::Store& store, layers::Snapshotter& snaps, const std::string& key) {
    MountedRoot r(snaps);
    r.mountpoint_ = store.temp_dir("view-");
    if (!key.empty()) r.mount_.emplace(snaps.mounts_for(key), r.mountpoint_.path());
    return r;
}

MountedRoot::MountedRoot(MountedRoot&& o) noexcept
    : snaps_(o.snaps_), active_key_(std::exchange(o.active_key_, {})), scratch_(std::move(o.scratch_)),
      mountpoint_(std::move(o.mountpoint_)), mount_(std::move(o.mount_)) {
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
