// libarchive, loaded on first use. imgbuild is not linked against libarchive: Debian's
// libarchive.so.13 brings libxml2, ICU (libicuuc + its 30 MB data), nettle, acl, lzma, lz4 and
// bz2 -- 11 of the binary's 20 shared libraries, about 6 ms of loading and relocation on this
// machine for every command, although a fully cached build, `run` of an unpacked image, `inspect`
// and most of `images`/`cache` never read or write a tar. This file defines the libarchive
// functions imgbuild calls (the list below, checked against <archive.h> by the compiler: a
// definition that differs from the header's declaration does not compile); the first call
// dlopen()s libarchive.so.13 and each definition forwards to the real function. Same scheme as
// registry/curl_dl.cpp. A function newly used elsewhere must be added to the list (the link
// fails until it is).
#include <archive.h>
#include <archive_entry.h>

#include <mutex>

#include "sys/dl.hpp"

// clang-format off
#define IMGBUILD_LIBARCHIVE_FUNCTIONS(X) \
    X(__LA_MODE_T, archive_entry_filetype, (struct archive_entry* a0), (a0)) \
    X(void, archive_entry_free, (struct archive_entry* a0), (a0)) \
    X(la_int64_t, archive_entry_gid, (struct archive_entry* a0), (a0)) \
    X(const char*, archive_entry_hardlink, (struct archive_entry* a0), (a0)) \
    X(__LA_MODE_T, archive_entry_mode, (struct archive_entry* a0), (a0)) \
    X(time_t, archive_entry_mtime, (struct archive_entry* a0), (a0)) \
    X(long, archive_entry_mtime_nsec, (struct archive_entry* a0), (a0)) \
    X(struct archive_entry*, archive_entry_new, (), ()) \
    X(const char*, archive_entry_pathname, (struct archive_entry* a0), (a0)) \
    X(const char*, archive_entry_pathname_utf8, (struct archive_entry* a0), (a0)) \
    X(__LA_MODE_T, archive_entry_perm, (struct archive_entry* a0), (a0)) \
    X(dev_t, archive_entry_rdev, (struct archive_entry* a0), (a0)) \
    X(dev_t, archive_entry_rdevmajor, (struct archive_entry* a0), (a0)) \
    X(dev_t, archive_entry_rdevminor, (struct archive_entry* a0), (a0)) \
    X(void, archive_entry_set_filetype, (struct archive_entry* a0, unsigned int a1), (a0, a1)) \
    X(void, archive_entry_set_gid, (struct archive_entry* a0, la_int64_t a1), (a0, a1)) \
    X(void, archive_entry_set_hardlink, (struct archive_entry* a0, const char* a1), (a0, a1)) \
    X(void, archive_entry_set_mode, (struct archive_entry* a0, __LA_MODE_T a1), (a0, a1)) \
    X(void, archive_entry_set_mtime, (struct archive_entry* a0, time_t a1, long a2), (a0, a1, a2)) \
    X(void, archive_entry_set_pathname, (struct archive_entry* a0, const char* a1), (a0, a1)) \
    X(void, archive_entry_set_perm, (struct archive_entry* a0, __LA_MODE_T a1), (a0, a1)) \
    X(void, archive_entry_set_rdevmajor, (struct archive_entry* a0, dev_t a1), (a0, a1)) \
    X(void, archive_entry_set_rdevminor, (struct archive_entry* a0, dev_t a1), (a0, a1)) \
    X(void, archive_entry_set_size, (struct archive_entry* a0, la_int64_t a1), (a0, a1)) \
    X(void, archive_entry_set_symlink, (struct archive_entry* a0, const char* a1), (a0, a1)) \
    X(void, archive_entry_set_uid, (struct archive_entry* a0, la_int64_t a1), (a0, a1)) \
    X(la_int64_t, archive_entry_size, (struct archive_entry* a0), (a0)) \
    X(int, archive_entry_size_is_set, (struct archive_entry* a0), (a0)) \
    X(const char*, archive_entry_symlink, (struct archive_entry* a0), (a0)) \
    X(la_int64_t, archive_entry_uid, (struct archive_entry* a0), (a0)) \
    X(void, archive_entry_xattr_add_entry, (struct archive_entry* a0, const char* a1, const void* a2, size_t a3), (a0, a1, a2, a3)) \
    X(int, archive_entry_xattr_next, (struct archive_entry* a0, const char** a1, const void** a2, size_t* a3), (a0, a1, a2, a3)) \
    X(int, archive_entry_xattr_reset, (struct archive_entry* a0), (a0)) \
    X(const char*, archive_error_string, (struct archive* a0), (a0)) \
    X(la_ssize_t, archive_read_data, (struct archive* a0, void* a1, size_t a2), (a0, a1, a2)) \
    X(int, archive_read_data_block, (struct archive* a0, const void** a1, size_t* a2, la_int64_t* a3), (a0, a1, a2, a3)) \
    X(int, archive_read_data_skip, (struct archive* a0), (a0)) \
    X(int, archive_read_free, (struct archive* a0), (a0)) \
    X(struct archive*, archive_read_new, (), ()) \
    X(int, archive_read_next_header, (struct archive* a0, struct archive_entry** a1), (a0, a1)) \
    X(int, archive_read_open, (struct archive* a0, void* a1, archive_open_callback* a2, archive_read_callback* a3, archive_close_callback* a4), (a0, a1, a2, a3, a4)) \
    X(int, archive_read_open_fd, (struct archive* a0, int a1, size_t a2), (a0, a1, a2)) \
    X(int, archive_read_open_filename, (struct archive* a0, const char* a1, size_t a2), (a0, a1, a2)) \
    X(int, archive_read_open_memory, (struct archive* a0, const void* a1, size_t a2), (a0, a1, a2)) \
    X(int, archive_read_support_filter_bzip2, (struct archive* a0), (a0)) \
    X(int, archive_read_support_filter_gzip, (struct archive* a0), (a0)) \
    X(int, archive_read_support_filter_xz, (struct archive* a0), (a0)) \
    X(int, archive_read_support_filter_zstd, (struct archive* a0), (a0)) \
    X(int, archive_read_support_format_empty, (struct archive* a0), (a0)) \
    X(int, archive_read_support_format_gnutar, (struct archive* a0), (a0)) \
    X(int, archive_read_support_format_tar, (struct archive* a0), (a0)) \
    X(int, archive_write_close, (struct archive* a0), (a0)) \
    X(la_ssize_t, archive_write_data, (struct archive* a0, const void* a1, size_t a2), (a0, a1, a2)) \
    X(int, archive_write_fail, (struct archive* a0), (a0)) \
    X(int, archive_write_free, (struct archive* a0), (a0)) \
    X(int, archive_write_header, (struct archive* a0, struct archive_entry* a1), (a0, a1)) \
    X(struct archive*, archive_write_new, (), ()) \
    X(int, archive_write_open2, (struct archive* a0, void* a1, archive_open_callback* a2, archive_write_callback* a3, archive_close_callback* a4, archive_free_callback* a5), (a0, a1, a2, a3, a4, a5)) \
    X(int, archive_write_open_fd, (struct archive* a0, int a1), (a0, a1)) \
    X(int, archive_write_set_bytes_per_block, (struct archive* a0, int a1), (a0, a1)) \
    X(int, archive_write_set_format_pax_restricted, (struct archive* a0), (a0))
// clang-format on

namespace {

struct LibArchive {
#define X(ret, name, params, args) ret(*name) params = nullptr;
    IMGBUILD_LIBARCHIVE_FUNCTIONS(X)
#undef X
};

const LibArchive& la() {
    static std::once_flag once;
    static LibArchive a;
    std::call_once(once, [] {
        void* lib = sys::open_library("libarchive.so.13", "reading and writing layers", "libarchive13");
#define X(ret, name, params, args) sys::bind_symbol(lib, a.name, #name, "libarchive.so.13");
        IMGBUILD_LIBARCHIVE_FUNCTIONS(X)
#undef X
    });
    return a;
}

}  // namespace

extern "C" {
#define X(ret, name, params, args) \
    ret name params { return la().name args; }
IMGBUILD_LIBARCHIVE_FUNCTIONS(X)
#undef X
}
