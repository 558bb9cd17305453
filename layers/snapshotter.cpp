// Snapshotter on disk:  <snapshots>/<id>/{fs,work,meta.json}, id = 16 hex of sha256(key).
// A snapshot appears only by an atomic rename of a fully built temp dir (tmp-*), and is
// valid only while meta.json names the same key; commit rewrites meta.json, then renames
// the dir to the new id (RENAME_NOREPLACE), so a crash in between leaves a dir that no
// lookup accepts. Short ids keep lowerdir paths short; MountGuard passes one per fsconfig.
#include "layers/snapshotter.hpp"

#include "layers/strip.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "sys/error.hpp"
#include "sys/fs.hpp"

namespace layers {
namespace {

using Kind = SnapshotInfo::Kind;

std::string id_of(const std::string& key) { return cas::Digest::of(key).short_hex(16); }

const char* kind_name(Kind k) {
    switch (k) {
        case Kind::Committed: return "committed";
        case Kind::Active: return "active";
        case Kind::View: return "view";
    }
    return "?";
}

std::string to_json(const SnapshotInfo& i) {
    nlohmann::json j{{"key", i.key}, {"parent", i.parent}, {"kind", kind_name(i.kind)}, {"labels", i.labels}};
    return j.dump();
}

std::optional<SnapshotInfo> from_json(const std::string& text) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    try {
        SnapshotInfo i;
        i.key = j.at("key").get<std::string>();
        i.parent = j.at("parent").get<std::string>();
        std::string k = j.at("kind").get<std::string>();
        if (k == "committed") i.kind = Kind::Committed;
        else if (k == "active") i.kind = Kind::Active;
        else if (k == "view") i.kind = Kind::View;
        else return std::nullopt;
        i.labels = j.at("labels").get<std::map<std::string, std::string>>();
        return i;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

void rename_noreplace(const std::string& from, const std::string& to, const std::string& what) {
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0) {
        if (errno == EEXIST || errno == ENOTEMPTY) sys::fail(sys::Code::AlreadyExists, what + ": already exists", errno);
        sys::throw_errno(what + ": rename " + from + " to " + to);
    }
}

}  // namespace

Snapshotter::Snapshotter(const cas::Store& store) : store_(store), dir_(store.snapshots_dir()) {
    sys::mkdir_p(dir_, 0700);
    // Each snapshot in its own ext4 block group where there is room: a 20,000-file COPY right
    // after a prune otherwise allocates among the just-freed inodes, and ext4 without a journal
    // rescans every recently deleted inode of the group for each new one (70% of a cold COPY).
    sys::set_topdir_hint(dir_);
    std::string empty = dir_ + "/empty";
    if (::mkdir(empty.c_str(), 0755) != 0 && errno != EEXIST) sys::throw_errno("create " + empty);
}

static std::string snap_dir(const std::string& root, const std::string& key) { return root + "/" + id_of(key); }

std::string Snapshotter::upper_dir(const std::string& key) const { return snap_dir(dir_, key) + "/fs"; }
std::string Snapshotter::layer_dir(const std::string& key) const { return snap_dir(dir_, key) + "/fs"; }

std::optional<SnapshotInfo> Snapshotter::stat(const std::string& key) const {
    std::string meta = snap_dir(dir_, key) + "/meta.json";
    std::string text;
    try {
        text = sys::read_file(meta, 1 << 20);
    } catch (const sys::Error& e) {
        if (e.code() == sys::Code::NotFound) return std::nullopt;
        throw;
    }
    auto info = from_json(text);
    if (!info || info->key != key) return std::nullopt;  // half-committed, or a different key
    return info;
}

std::vector<SnapshotInfo> Snapshotter::walk() const {
    std::vector<SnapshotInfo> out;
    for (const auto& n : sys::list_dir(dir_)) {
        if (n.size() != 16 || n.find_first_not_of("0123456789abcdef") != std::string::npos) continue;
        std::string text;
        try {
            text = sys::read_file(dir_ + "/" + n + "/meta.json", 1 << 20);
        } catch (const sys::Error&) {
            continue;
        }
        auto info = from_json(text);
        if (info && id_of(info->key) == n) out.push_back(std::move(*info));
    }
    std::sort(out.begin(), out.end(), [](const SnapshotInfo& a, const SnapshotInfo& b) { return a.key < b.key; });
    return out;
}

// Lower dirs of committed `key` and its ancestors, top-most first ("" -> the shared empty dir).
static std::vector<std::string> chain_dirs(const Snapshotter& s, const std::string& root, const std::string& key) {
    if (key.empty()) return {root + "/empty"};
    std::vector<std::string> out;
    std::string cur = key;
    while (!cur.empty()) {
        auto info = s.stat(cur);
        if (!info) sys::fail(sys::Code::NotFound, "snapshot " + cur + " not found");
        if (info->kind != Kind::Committed)
            sys::fail(sys::Code::FailedPrecondition, "snapshot " + cur + " is not committed");
        if (out.size() > 4096) sys::fail(sys::Code::FailedPrecondition, "snapshot chain of " + key + " is too deep");
        out.push_back(s.layer_dir(cur));
        cur = info->parent;
    }
    return out;
}

static MountSpec create(Snapshotter& s, const std::string& root, const std::string& key, const std::string& parent,
                        Kind kind, const std::map<std::string, std::string>& labels) {
    return sys::with_context("prepare snapshot " + key, [&] {
        if (key.empty()) sys::fail(sys::Code::InvalidInput, "empty snapshot key");
        MountSpec spec;
        spec.lowerdirs = chain_dirs(s, root, parent);
        sys::TempDir tmp(root, "tmp-");
        sys::mkdir_p(tmp.path() + "/fs", 0755);
        if (kind == Kind::Active) sys::mkdir_p(tmp.path() + "/work", 0700);
        SnapshotInfo info{key, parent, kind, labels};
        // No fsync: an active snapshot or a view does not outlive its step (or a crash).
        sys::write_file_atomic(tmp.path() + "/meta.json", to_json(info), 0644, false);
        std::string dst = snap_dir(root, key);
        rename_noreplace(tmp.path(), dst, "snapshot " + key);
        tmp.release();
        if (kind == Kind::Active) {
            spec.upperdir = dst + "/fs";
            spec.workdir = dst + "/work";
        } else {
            // The view's own (empty) dir on top: overlay without an upper dir needs two lowers.
            spec.lowerdirs.insert(spec.lowerdirs.begin(), dst + "/fs");
            spec.read_only = true;
        }
        return spec;
    });
}

MountSpec Snapshotter::prepare(const std::string& key, const std::string& parent,
                               const std::map<std::string, std::string>& labels) {
    return create(*this, dir_, key, parent, Kind::Active, labels);
}

MountSpec Snapshotter::view(const std::string& key, const std::string& parent) {
    return create(*this, dir_, key, parent, Kind::View, {});
}

MountSpec Snapshotter::writable_over(const std::string& parent) const {
    MountSpec spec;
    spec.lowerdirs = chain_dirs(*this, dir_, parent);
    return spec;
}

MountSpec Snapshotter::mounts_for(const std::string& key) const {
    MountSpec spec;
    if (key.empty()) sys::fail(sys::Code::InvalidInput, "mounts for an empty snapshot key");
    spec.lowerdirs = chain_dirs(*this, dir_, key);
    // Overlay without an upper dir needs two lowers: add the shared empty dir at the bottom.
    if (spec.lowerdirs.size() == 1) spec.lowerdirs.push_back(dir_ + "/empty");
    spec.read_only = true;
    return spec;
}

void Snapshotter::commit(const std::string& name, const std::string& key, StripScope scope) {
    sys::with_context("commit snapshot " + key + " as " + name, [&] {
        auto info = stat(key);
        if (!info) sys::fail(sys::Code::NotFound, "snapshot " + key + " not found");
        if (info->kind != Kind::Active) sys::fail(sys::Code::FailedPrecondition, "snapshot " + key + " is not active");
        if (stat(name)) sys::fail(sys::Code::AlreadyExists, "snapshot " + name + " already exists");
        std::string src = snap_dir(dir_, key);
        sys::remove_tree(src + "/work");  // refuses if something is still mounted there
        strip_to_layer_content(src + "/fs", scope);  // shared by chain id: exactly what the layer holds
        // Atomic, not durable: layer data is never fsynced on the build path, so neither is
        // this metadata. The layer blob the cache record names is the source of truth; a
        // snapshot lost in a crash is unpacked again from it.
        SnapshotInfo committed{name, info->parent, Kind::Committed, info->labels};
        sys::write_file_atomic(src + "/meta.json", to_json(committed), 0644, false);
        try {
            rename_noreplace(src, snap_dir(dir_, name), "snapshot " + name);
        } catch (...) {
            info->kind = Kind::Active;  // lost a race: give the key back to its owner to remove
            sys::write_file_atomic(src + "/meta.json", to_json(*info), 0644, false);
            throw;
        }
    });
}

void Snapshotter::remove(const std::string& key) {
    sys::with_context("remove snapshot " + key, [&] {
        auto info = stat(key);
        if (!info) sys::fail(sys::Code::NotFound, "snapshot " + key + " not found");
        // Only committed snapshots can be parents: removing an active one or a view (every
        // build step and `run`) need not read every snapshot's metadata.
        if (info->kind == Kind::Committed)
            for (const auto& s : walk())
                if (s.parent == key)
                    sys::fail(sys::Code::FailedPrecondition, "snapshot " + s.key + " is based on it");
        // Make it disappear atomically, then delete (never across a mount point). Not durable:
        // if a crash brings it back, gc removes it again.
        sys::TempDir grave(dir_, "tmp-rm-");
        std::string dst = grave.path() + "/s";
        if (::rename(snap_dir(dir_, key).c_str(), dst.c_str()) != 0) sys::throw_errno("rename to " + dst);
        sys::remove_tree(grave.path());
        grave.release();
    });
}

}  // namespace layers
