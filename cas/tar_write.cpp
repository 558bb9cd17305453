#include "cas/tar_write.hpp"

#include <archive_entry.h>

#include <cerrno>
#include <string>

#include "cas/tar_read.hpp"
#include "sys/error.hpp"

namespace cas {

struct archive* new_pax_writer() {
    struct archive* a = archive_write_new();
    if (!a) sys::fail(sys::Code::Internal, "archive_write_new failed");
    if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK) {
        std::string msg = archive_err(a);
        archive_write_free(a);
        sys::fail(sys::Code::Internal, "tar writer: " + msg);
    }
    return a;
}

}  // namespace cas

#ifdef IMGBUILD_STATIC_LIBARCHIVE
// libarchive 3.6's pax writer calls this helper for a file type it cannot store (a socket). Its
// own definition sits in archive_write_set_format.o beside the table of every writer (xar, 7zip,
// zip, iso9660, ...), so linking it statically would pull libxml2, ICU and nettle in. This
// definition, linked before libarchive.a (this object is always pulled with new_pax_writer,
// the only caller of the pax writer), keeps the static link to the 21 objects imgbuild uses.
extern "C" void __archive_write_entry_filetype_unsupported(struct archive* a, struct archive_entry* entry,
                                                           const char* format) {
    archive_set_error(a, EINVAL, "%s format cannot archive file type 0%o", format,
                      unsigned(archive_entry_filetype(entry)));
}
#endif
