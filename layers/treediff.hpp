// File-level view of directory trees (two mounted images, two extracted layers, ...):
// scan a tree into sorted plain records, and diff two trees into added/modified/deleted.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cas/digest.hpp"

namespace layers {

struct TreeNode {
    std::string path;  // relative, no leading "/" (the root itself is not listed)
    char type = 'f';   // f regular, d dir, l symlink, c char dev, b block dev, p fifo, s socket
    uint32_t mode = 0;  // permission bits incl. setuid/setgid/sticky (07777)
    uint32_t uid = 0, gid = 0;
    uint64_t size = 0;                    // regular files
    std::optional<cas::Digest> digest;    // regular files: sha256 of the content
    std::string link;                     // symlink target
    uint32_t rdev_major = 0, rdev_minor = 0;
    std::string hardlink_of;              // first path (sorted) sharing this inode, "" if none
    std::map<std::string, std::string> xattrs;  // layer-relevant xattrs only (see whiteout.hpp)
    int64_t mtime = 0;
    bool operator==(const TreeNode&) const = default;
};

struct ScanOptions {
    bool digests = true;  // hash regular file contents
};

// All entries below root, sorted bytewise by path. Does not follow symlinks.
std::vector<TreeNode> scan_tree(const std::string& root, const ScanOptions& opts = {});

struct TreeChange {
    enum class Kind { Added, Modified, Deleted };
    Kind kind = Kind::Added;
    std::string path;
    std::optional<TreeNode> before, after;
    std::vector<std::string> fields;  // for Modified: "type","mode","uid","gid","size","content","link","rdev","hardlink","xattrs","mtime"
};

struct DiffTreeOptions {
    bool compare_mtime = false;
    bool digests = true;
};

// Changes that turn tree `a` into tree `b`, sorted by path.
std::vector<TreeChange> diff_trees(const std::string& a, const std::string& b, const DiffTreeOptions& opts = {});
std::vector<TreeChange> diff_nodes(const std::vector<TreeNode>& a, const std::vector<TreeNode>& b,
                                   const DiffTreeOptions& opts = {});
const char* change_kind_name(TreeChange::Kind k);  // "added" | "modified" | "deleted"

}  // namespace layers
