// The one reader of an image's /etc/passwd and /etc/group on the host side (USER, --chown).
// The file is resolved inside the root (openat2 RESOLVE_IN_ROOT) as an O_PATH fd, so nothing
// is opened yet; only a regular file is then reopened for reading (through /proc/self/fd:
// sys::try_open_regular_in_root), size-capped. A device node, FIFO or socket is never opened on the host.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace sys {

constexpr size_t kMaxAccountDbBytes = 4u << 20;

// The file's content; nullopt if it does not exist. Throws InvalidInput naming `path` if it
// is not a regular file or larger than `max_bytes`.
std::optional<std::string> read_root_file(int rootfd, const std::string& path, size_t max_bytes = kMaxAccountDbBytes);

// Colon-separated records (passwd/group syntax); skips empty lines, comments and NIS
// "+"/"-" entries.
std::vector<std::vector<std::string>> parse_account_db(const std::string& text);

// The fields of the first record whose first field is `name`.
std::optional<std::vector<std::string>> find_account(const std::vector<std::vector<std::string>>& db, const std::string& name);

}  // namespace sys
