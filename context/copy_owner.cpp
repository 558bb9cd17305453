// --chown resolution inside the destination root: /etc/passwd and /etc/group read through
// sys/passwd.hpp (regular files only, never a device or FIFO; size-capped). See copy.hpp.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "context/copy.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/passwd.hpp"

namespace context {
namespace {

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

// The record named `name` in the root's `path` (sys/passwd.hpp: regular files only).
std::optional<std::vector<std::string>> find_entry(int root_fd, const std::string& path, const std::string& name) {
    return sys::find_account(sys::parse_account_db(sys::read_root_file(root_fd, path).value_or("")), name);
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
    if (user.empty()) sys::fail(sys::Code::InvalidInput, "invalid --chown \"" + spec + "\": empty user");
    if (has_group && group.empty()) sys::fail(sys::Code::InvalidInput, "invalid --chown \"" + spec + "\": empty group");
    Owner o;
    if (all_digits(user)) {
        auto id = parse_id(user);
        if (!id) sys::fail(sys::Code::InvalidInput, "invalid --chown \"" + spec + "\": uid out of range");
        o.uid = o.gid = *id;
    } else {
        auto f = find_entry(dest_root_fd, "/etc/passwd", user);
        if (!f || f->size() < 4)
            sys::fail(sys::Code::NotFound, "unable to find user " + user + ": no matching entries in passwd file");
        auto uid = parse_id((*f)[2]);
        auto gid = parse_id((*f)[3]);
        if (!uid || !gid) sys::fail(sys::Code::InvalidInput, "/etc/passwd: bad ids for user " + user);
        o.uid = *uid;
        o.gid = *gid;
    }
    if (has_group) {
        if (all_digits(group)) {
            auto id = parse_id(group);
            if (!id) sys::fail(sys::Code::InvalidInput, "invalid --chown \"" + spec + "\": gid out of range");
            o.gid = *id;
        } else {
            auto f = find_entry(dest_root_fd, "/etc/group", group);
            if (!f || f->size() < 3)
                sys::fail(sys::Code::NotFound, "unable to find group " + group + ": no matching entries in group file");
            auto gid = parse_id((*f)[2]);
            if (!gid) sys::fail(sys::Code::InvalidInput, "/etc/group: bad id for group " + group);
            o.gid = *gid;
        }
    }
    return o;
}

}  // namespace context
