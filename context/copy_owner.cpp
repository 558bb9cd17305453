// --chown resolution inside the destination root: /etc/passwd and /etc/group read through
// openat2(RESOLVE_IN_ROOT), regular files only, size-capped. See copy.hpp.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "context/copy.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"

namespace context {
namespace {

constexpr size_t kMaxDbSize = 4u << 20;

std::optional<uint32_t> parse_id(const std::string& s) {
    if (s.empty() || s.size() > 10) return std::nullopt;
    for (char c : s)
        if (c < '0' || c > '9') return std::nullopt;
    unsigned long long v = std::strtoull(s.c_str(), nullptr, 10);
    if (v > 0xfffffffeull) return std::nullopt;  // (uid_t)-1 is "no change", never an id
    return uint32_t(v);
}

bool all_digits(const std::string& s) {
    if (s.empty()) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}

// Read a db file inside the root; "" if it does not exist.
std::string read_db(int root_fd, const std::string& path) {
    sys::UniqueFd fd = sys::try_open_in_root(root_fd, path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
    if (!fd) {
        if (errno == ENOENT || errno == ENOTDIR) return "";
        sys::throw_errno("open " + path);
    }
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) sys::throw_errno("stat " + path);
    if (!S_ISREG(st.st_mode)) throw sys::Error(sys::Code::InvalidInput, path + ": not a regular file");
    if (uint64_t(st.st_size) > kMaxDbSize) throw sys::Error(sys::Code::InvalidInput, path + ": too large");
    std::string data(size_t(st.st_size), '\0');
    size_t got = 0;
    while (got < data.size()) {
        ssize_t n = ::read(fd.get(), data.data() + got, data.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) sys::throw_errno("read " + path);
        if (n == 0) break;
        got += size_t(n);
    }
    data.resize(got);
    return data;
}

// Find the line whose first field is `name`; returns its fields.
std::optional<std::vector<std::string>> find_entry(const std::string& db, const std::string& name) {
    size_t i = 0;
    while (i < db.size()) {
        size_t j = db.find('\n', i);
        if (j == std::string::npos) j = db.size();
        std::string line = db.substr(i, j - i);
        i = j + 1;
        if (line.empty() || line[0] == '#' || line[0] == '+' || line[0] == '-') continue;
        std::vector<std::string> f = split_fields(line, ':');
        if (!f.empty() && f[0] == name) return f;
    }
    return std::nullopt;
}

}  // namespace

Owner resolve_owner(int dest_root_fd, const std::string& spec) {
    std::string user = spec, group;
    size_t colon = spec.find(':');
    bool has_group = colon != std::string::npos;
    if (has_group) {
        user = spec.substr(0, colon);
        group = spec.substr(colon + 1);
    }
    if (user.empty()) throw sys::Error(sys::Code::InvalidInput, "invalid --chown \"" + spec + "\": empty user");
    if (has_group && group.empty()) throw sys::Error(sys::Code::InvalidInput, "invalid --chown \"" + spec + "\": empty group");
    Owner o;
    if (all_digits(user)) {
        auto id = parse_id(user);
        if (!id) throw sys::Error(sys::Code::InvalidInput, "invalid --chown \"" + spec + "\": uid out of range");
        o.uid = o.gid = *id;
    } else {
        auto f = find_entry(read_db(dest_root_fd, "/etc/passwd"), user);
        if (!f || f->size() < 4)
            throw sys::Error(sys::Code::NotFound, "unable to find user " + user + ": no matching entries in passwd file");
        auto uid = parse_id((*f)[2]);
        auto gid = parse_id((*f)[3]);
        if (!uid || !gid) throw sys::Error(sys::Code::InvalidInput, "/etc/passwd: bad ids for user " + user);
        o.uid = *uid;
        o.gid = *gid;
    }
    if (has_group) {
        if (all_digits(group)) {
            auto id = parse_id(group);
            if (!id) throw sys::Error(sys::Code::InvalidInput, "invalid --chown \"" + spec + "\": gid out of range");
            o.gid = *id;
        } else {
            auto f = find_entry(read_db(dest_root_fd, "/etc/group"), group);
            if (!f || f->size() < 3)
                throw sys::Error(sys::Code::NotFound, "unable to find group " + group + ": no matching entries in group file");
            auto gid = parse_id((*f)[2]);
            if (!gid) throw sys::Error(sys::Code::InvalidInput, "/etc/group: bad id for group " + group);
            o.gid = *gid;
        }
    }
    return o;
}

}  // namespace context
