// ADD of a local archive: tar (plain, gzip, bzip2, xz, zstd) detected by content with
// libarchive and extracted through DestWriter, i.e. every entry resolved inside the
// destination root. An entry whose cleaned path climbs out of the extraction directory is an
// error. Independent of layers/ (layer extraction has whiteout rules ADD must not apply).
#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>

#include "context/copy.hpp"
#include "sys/error.hpp"

namespace context {
namespace {

struct ArchiveFree {
    void operator()(archive* a) const { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveFree>;

ArchivePtr open_reader(int fd) {
    if (::lseek(fd, 0, SEEK_SET) < 0) sys::throw_errno("seek");
    ArchivePtr a(archive_read_new());
    if (!a) sys::fail(sys::Code::Internal, "archive_read_new failed");
    // Built-in decompressors only: libarchive answers ARCHIVE_WARN when a filter would run an
    // external program (built without its library); ADD never execs anything on the host.
    for (auto add : {archive_read_support_filter_gzip, archive_read_support_filter_bzip2, archive_read_support_filter_xz,
                     archive_read_support_filter_zstd})
        if (add(a.get()) != ARCHIVE_OK)
            sys::fail(sys::Code::FailedPrecondition,
                             "libarchive lacks a built-in decompressor (it would run an external program); refusing");
    archive_read_support_format_tar(a.get());
    archive_read_support_format_gnutar(a.get());
    if (archive_read_open_fd(a.get(), fd, 1 << 16) != ARCHIVE_OK) return nullptr;
    return a;
}

// Clean an entry name relative to the extraction directory; "" for the directory itself.
std::string entry_path(const char* raw, const std::string& shown) {
    if (!raw) sys::fail(sys::Code::InvalidInput, shown + ": archive entry without a name");
    std::string p = raw;
    while (!p.empty() && p[0] == '/') p.erase(0, 1);
    std::string c = clean_path(p);
    if (c == ".") return "";
    if (c == ".." || c.rfind("../", 0) == 0)
        sys::fail(sys::Code::InvalidInput, shown + ": archive entry " + raw + " escapes the destination directory");
    return c;
}

std::string join(const std::string& a, const std::string& b) {
    if (a.empty()) return b;
    if (b.empty()) return a;
    return a + "/" + b;
}

}  // namespace

bool is_tar_archive(int fd) {
    bool yes = false;
    {
        ArchivePtr a = open_reader(fd);
        if (a) {
            archive_entry* e;
            int r = archive_read_next_header(a.get(), &e);
            yes = (r == ARCHIVE_OK || r == ARCHIVE_WARN);
        }
    }
    if (::lseek(fd, 0, SEEK_SET) < 0) sys::throw_errno("seek");
    return yes;
}

void extract_archive(int fd, const std::string& shown, DestWriter& w, const std::string& rel_dir,
                     const std::optional<Owner>& chown, const std::optional<uint32_t>& /*chmod*/, CopyStats& stats) {
    ArchivePtr a = open_reader(fd);
    if (!a) sys::fail(sys::Code::InvalidInput, shown + ": cannot read archive");
    auto fail = [&](const std::string& what) {
        sys::fail(sys::Code::InvalidInput, shown + ": " + what + ": " + archive_error_string(a.get()));
    };
    if (!rel_dir.empty()) w.dir(rel_dir, DestWriter::Meta{0755, chown ? *chown : Owner{}, -1, 0});
    // The entries replace what is in their way, as docker's archive package unpacks them.
    struct Mode {
        DestWriter& w;
        DestWriter::Overwrite saved;
        ~Mode() { w.overwrite = saved; }
    } mode{w, w.overwrite};
    w.overwrite = DestWriter::Overwrite::Archive;
    archive_entry* e;
    std::vector<char> buf;
    for (;;) {
        int r = archive_read_next_header(a.get(), &e);
        if (r == ARCHIVE_EOF) break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) fail("read archive");
        std::string name = entry_path(archive_entry_pathname(e), shown);
        if (name.empty()) continue;
        std::string rel = join(rel_dir, name);
        DestWriter::Meta m;
        m.mode = archive_entry_mode(e) & 07777;
        m.owner = Owner{uint32_t(archive_entry_uid(e)), uint32_t(archive_entry_gid(e))};
        m.mtime_ns = int64_t(archive_entry_mtime(e)) * 1000000000 + archive_entry_mtime_nsec(e);
        m.rdev = archive_entry_rdev(e);
        if (const char* hl = archive_entry_hardlink(e)) {
            w.hardlink(rel, join(rel_dir, entry_path(hl, shown)), &m);
            ++stats.hardlinks;
            continue;
        }
        switch (archive_entry_filetype(e)) {
        case AE_IFDIR:
            w.dir(rel, m);
            ++stats.dirs;
            break;
        case AE_IFLNK: {
            const char* t = archive_entry_symlink(e);
            w.symlink(rel, t ? t : "", m);
            ++stats.symlinks;
            break;
        }
        case AE_IFREG: {
            sys::UniqueFd out = w.create_file(rel);
            const void* block;
            size_t size;
            la_int64_t off;
            for (;;) {
                int rr = archive_read_data_block(a.get(), &block, &size, &off);
                if (rr == ARCHIVE_EOF) break;
                if (rr != ARCHIVE_OK && rr != ARCHIVE_WARN) fail("read " + name);
                const char* p = static_cast<const char*>(block);
                while (size > 0) {
                    ssize_t n = ::pwrite(out.get(), p, size, off);
                    if (n < 0) {
                        if (errno == EINTR) continue;
                        sys::throw_errno("write " + rel);
                    }
                    p += n, off += n, size -= size_t(n), stats.bytes += uint64_t(n);
                }
            }
            if (archive_entry_size_is_set(e) && ::ftruncate(out.get(), archive_entry_size(e)) != 0)
                sys::throw_errno("truncate " + rel);
            w.finish_file(out.get(), m);
            ++stats.files;
            break;
        }
        case AE_IFCHR:
        case AE_IFBLK:
        case AE_IFIFO:
            w.special(rel, archive_entry_filetype(e), m);
            ++stats.specials;
            break;
        default:
            break;  // sockets and unknown types are skipped
        }
    }
}

}  // namespace context
