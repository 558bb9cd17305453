#include "sys/passwd.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sys/error.hpp"
#include "sys/fs.hpp"

namespace sys {

std::optional<std::string> read_root_file(int rootfd, const std::string& path, size_t max_bytes) {
    UniqueFd pfd = try_open_in_root(rootfd, path, O_PATH);
    if (!pfd) {
        if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
        throw_errno("open " + path + " in the root");
    }
    struct stat st{};
    if (::fstat(pfd.get(), &st) != 0) throw_errno("stat " + path + " in the root");
    if (!S_ISREG(st.st_mode)) fail(Code::InvalidInput, path + " in the root is not a regular file");
    if (uint64_t(st.st_size) > max_bytes) fail(Code::InvalidInput, path + " in the root is too large");
    // Reopen the inode the O_PATH fd pins (no second path lookup).
    std::string self = "/proc/self/fd/" + std::to_string(pfd.get());
    UniqueFd fd(::open(self.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (!fd) throw_errno("open " + path + " in the root");
    std::string data;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw_errno("read " + path + " in the root");
        if (n == 0) break;
        data.append(buf, size_t(n));
        if (data.size() > max_bytes) fail(Code::InvalidInput, path + " in the root is too large");
    }
    return data;
}

std::vector<std::vector<std::string>> parse_account_db(const std::string& text) {
    std::vector<std::vector<std::string>> rows;
    size_t i = 0;
    while (i < text.size()) {
        size_t j = text.find('\n', i);
        if (j == std::string::npos) j = text.size();
        std::string line = text.substr(i, j - i);
        i = j + 1;
        if (line.empty() || line[0] == '#' || line[0] == '+' || line[0] == '-') continue;
        std::vector<std::string> f;
        size_t p = 0;
        for (;;) {
            size_t q = line.find(':', p);
            f.push_back(line.substr(p, q == std::string::npos ? std::string::npos : q - p));
            if (q == std::string::npos) break;
            p = q + 1;
        }
        rows.push_back(std::move(f));
    }
    return rows;
}

std::optional<std::vector<std::string>> find_account(const std::vector<std::vector<std::string>>& db, const std::string& name) {
    for (const auto& row : db)
        if (!row.empty() && row[0] == name) return row;
    return std::nullopt;
}

}  // namespace sys
