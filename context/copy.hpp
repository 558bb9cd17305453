// COPY/ADD execution on file descriptors: selected sources (context/context.hpp) from a source
// root (build context, or a stage's / image's rootfs) into a destination root (the snapshot's
// mounted rootfs). Every destination path is resolved INSIDE the destination root
// (openat2 RESOLVE_IN_ROOT), so a symlink in the image cannot lead the copy out of it.
//
// Docker's rules: a dest ending in '/' (or several sources, a directory source, --parents)
// is a directory; a symlink at dest (or a chain) is followed to its target inside the root, as
// BuildKit does (sys::resolve_in_root, LinkRule::RootPath); a single file onto a non-directory dest takes that name; directory sources
// copy their contents; symlinks are copied as links; hardlinks within one copy are kept;
// mtimes are kept from the source; --chown applies to everything copied and to the parent
// directories created; --chmod (BuildKit) to the files and directories copied.
// ADD extracts local tar archives (plain, gzip, bzip2, xz, zstd; detected by content) into
// the destination directory, confined the same way (an entry escaping it is an error).
// --link is accepted and behaves as a normal copy (no independent layer rebasing yet).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "context/context.hpp"
#include "sys/fd.hpp"

namespace context {

// Resolve a --chown spec against the destination root: "uid", "uid:gid", "name",
// "name:group", "uid:group", ... Names come from <root>/etc/passwd and /etc/group (regular
// files, size-capped, opened inside the root). A user without a group gets the user's
// primary group (name) or gid = uid (number), as BuildKit does.
Owner resolve_owner(int dest_root_fd, const std::string& spec);
// The solver may pass the runtime's resolver instead of resolve_owner.
using OwnerResolver = std::function<Owner(const std::string& spec)>;

struct CopyStats {
    uint64_t files = 0, dirs = 0, symlinks = 0, hardlinks = 0, specials = 0, bytes = 0, archives = 0;
    std::vector<std::string> skipped_devices;  // CopySpec::to_host: device nodes not written
};

// Given the destination base directory (absolute in the destination root) that this COPY has
// just created because it did not exist, return the fd of another root in which the same path
// is the same, empty directory (an overlay's private upper dir), or -1 to stay on dest_root_fd.
using DirectRoot = std::function<int(const std::string& base)>;

// Perform the plan. dest_root_fd: the destination rootfs directory. Verifies ADD --checksum
// unless content_digest already did. Throws sys::Error prefixed with plan.spec.label.
// direct_root (COPY only): when the base directory is new, write everything under it into the
// root direct_root returns (no overlay create/lookup per file; nothing below it can exist in
// the lower layers).
CopyStats execute_copy(const SourceRoot& src, CopyPlan& plan, int dest_root_fd, const DirectRoot& direct_root = {});

// COPY <<EOF /dst: write `content` to dest (dest ending in '/' or an existing directory ->
// dest/<name>), mode 0644 (0755 if executable; --chmod wins), owner --chown or root.
// mtime_s < 0: now. Parent directories are created (0755).
void write_heredoc(int dest_root_fd, const CopySpec& spec, const std::string& name, std::string_view content,
                   bool executable = false, int64_t mtime_s = -1);

// Is the file open at fd a tar archive (plain or gzip/bzip2/xz/zstd compressed)? The fd's
// offset is restored to 0.
bool is_tar_archive(int fd);

// Writes file system objects below one base directory inside a destination root, each
// parent resolved inside the root; missing parents created 0755 with dir_owner.
class DestWriter {
public:
    struct Meta {
        uint32_t mode = 0644;   // type bits ignored; permission + setuid/setgid/sticky used
        Owner owner;
        int64_t mtime_ns = -1;  // -1: leave as created
        uint64_t rdev = 0;
    };
    DestWriter(int root_fd, std::string base, Owner dir_owner);
    ~DestWriter();
    const std::string& base() const { return base_; }
    // What writing an entry does to what is already at its name. The name itself is never
    // followed (a symlink there is an entry like any other); its parents are, inside the root.
    enum class Overwrite {
        // COPY, and ADD of plain files (fsutil's copy, which lstats the name): a directory merges
        // into a directory, a non-directory replaces a non-directory; a directory onto a
        // non-directory (a symlink to a directory too) or a non-directory onto a directory fails.
        Copy,
        // ADD extracting a tar (docker's archive package): what is there is removed, a directory
        // with its contents, unless a directory goes onto a directory.
        Archive,
        // Onto the host (--output type=local): a directory replaces a non-directory; a
        // non-directory onto a directory fails.
        Host,
    };
    Overwrite overwrite = Overwrite::Copy;
    // mkdir -p of base itself.
    void ensure_base();
    // rel: relative to base, cleaned, non-empty.
    void dir(const std::string& rel, const Meta& m);
    sys::UniqueFd create_file(const std::string& rel);  // caller writes, then finish_file
    void finish_file(int fd, const Meta& m);
    void symlink(const std::string& rel, const std::string& target, const Meta& m);
    // With `m` (tar hard-link entries), the shared inode then takes the entry's owner and mode, as
    // docker's archive package applies every header, so the last one naming the inode wins.
    void hardlink(const std::string& rel, const std::string& existing_rel, const Meta* m = nullptr);
    void special(const std::string& rel, uint32_t st_mode, const Meta& m);
    // Apply directory mtimes (children first). Called by the destructor too (best effort).
    void finish();
    int root_fd() const { return root_; }

private:
    int parent(const std::string& rel, std::string& leaf);
    int open_dir_rel(const std::string& rel_dir);  // cached, creates missing
    void clear_slot(int pfd, const std::string& leaf, const std::string& rel);
    int root_;
    std::string base_;
    Owner dir_owner_;
    std::string cached_path_;
    sys::UniqueFd cached_fd_;
    std::vector<std::pair<std::string, int64_t>> dir_times_;
    bool finished_ = false;
};

// Extract the tar archive open at fd into w's base (ADD). As BuildKit, entries keep the archive's
// owners and modes: chown/chmod only apply to the directory made for rel_dir.
void extract_archive(int fd, const std::string& shown, DestWriter& w, const std::string& rel_dir,
                     const std::optional<Owner>& chown, const std::optional<uint32_t>& chmod, CopyStats& stats);

// mkdir -p `path` (absolute or relative to the root) inside the root; created dirs get
// `mode` and `owner`. Returns an O_PATH fd of the final directory.
sys::UniqueFd mkdir_in_root(int root_fd, const std::string& path, uint32_t mode, Owner owner);

}  // namespace context
