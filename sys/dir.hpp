// Directory listing helpers.
#pragma once
#include <string>
#include <vector>

namespace sys {

// Names in the directory open at `dirfd` (without "." and ".."); empty if unreadable.
std::vector<std::string> list_dir_at(int dirfd);

}  // namespace sys
