// Temp files next to their destination (for write-then-rename). Implemented in sys/fs.cpp.
#pragma once
#include <string>

#include "sys/fd.hpp"

namespace sys {

// A new temp file "<path>.tmp-XXXXXX" beside path (same directory, so rename is atomic),
// under an unpredictable name, created O_EXCL (never follows or reuses a planted file or
// symlink), mode 0600 until the caller chmods it. *tmp_path receives its name.
UniqueFd create_temp_beside(const std::string& path, std::string* tmp_path);

}  // namespace sys
