#include "sys/passwd.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sys/error.hpp"
#include "sys/fs.hpp"

namespace sys {

std::optional<std::string> read_root_file(int rootfd, const std::string& path, size_t max_bytes) {
    struct stat st{};
    UniqueFd fd = try_open_regular_in_root(rootfd, path, path + " in the root", &st);
    if (!fd) {
        if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
        throw_errno("open " + path + " in the root");
    }
    if (uint64_t(st.st_size) > max_bytes) fail(Code::InvalidInput, path + " in the root is too large");
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
