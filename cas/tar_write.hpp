// The one tar format imgbuild writes (layers, `export` archives): pax_restricted, a ustar header
// per entry and an extended header only when a field does not fit (long names, xattrs, big
// ids/sizes). Every archive_write_new() goes through here.
#pragma once
#include <archive.h>

namespace cas {

// archive_write_new() set to pax_restricted; the caller frees it (archive_write_free).
// Fails with Code::Internal.
struct archive* new_pax_writer();

}  // namespace cas
