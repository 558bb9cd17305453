// USER resolution: "name[:group]" or numeric ids, looked up in the image's own /etc/passwd and
// /etc/group, read through the root-confined resolver (regular files only, size-capped).
// Unknown names and out-of-range ids are errors, never a silent fallback to root.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <sstream>

#include "runtime/internal.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"

namespace runtime::detail {

namespace {

constexpr size_t kMaxDbBytes = 4u << 20;

// nullopt if the file does not exist; throws if it is not a regular file or too large.
std::optional<std::string> read_db(int rootfd, const char* path) {
    sys::UniqueFd fd = sys::try_open_in_root(rootfd, path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
    if (!fd) {
        if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
        sys::throw_errno(std::string("open ") + path + " in the root");
    }
    struct stat st{};
    if (::fstat(fd.get(), &st) != 0) sys::throw_errno(std::string("stat ") + path);
    if (!S_ISREG(st.st_mode)) sys::fail(sys::Code::InvalidInput, std::string(path) + " in the root is not a regular file");
    if (size_t(st.st_size) > kMaxDbBytes) sys::fail(sys::Code::InvalidInput, std::string(path) + " in the root is too large");
    std::string data;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) sys::throw_errno(std::string("read ") + path);
        if (n == 0) break;
        data.append(buf, size_t(n));
        if (data.size() > kMaxDbBytes) sys::fail(sys::Code::InvalidInput, std::string(path) + " in the root is too large");
    }
    return data;
}

std::vector<std::vector<std::string>> parse_db(const std::string& text) {
    std::vector<std::vector<std::string>> rows;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
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

}  // namespace

int64_t parse_id(const std::string& s, const char* what) {
    if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) return -1;
    if (s.size() > 10 || std::stoull(s) > 4294967294ull)
        sys::fail(sys::Code::InvalidInput, std::string(what) + " " + s + " is out of range (0..4294967294)");
    return int64_t(std::stoull(s));
}

Identity resolve_user(int rootfd, const std::string& user) {
    std::string upart = user, gpart;
    bool has_group = false;
    if (auto c = user.find(':'); c != std::string::npos) {
        upart = user.substr(0, c);
        gpart = user.substr(c + 1);
        has_group = true;
        if (gpart.empty()) sys::fail(sys::Code::InvalidInput, "user \"" + user + "\": empty group");
    }
    if (upart.empty()) upart = "0";

    auto passwd_text = read_db(rootfd, "/etc/passwd");
    auto group_text = read_db(rootfd, "/etc/group");
    auto passwd = passwd_text ? parse_db(*passwd_text) : std::vector<std::vector<std::string>>{};
    auto groups = group_text ? parse_db(*group_text) : std::vector<std::vector<std::string>>{};

    Identity id;
    std::string name;
    int64_t uid = parse_id(upart, "uid");
    const std::vector<std::string>* pw = nullptr;
    for (auto& row : passwd) {
        if (row.size() < 7) continue;
        if (uid >= 0 ? row[2] == upart || (parse_id(row[2], "uid") == uid) : row[0] == upart) {
            pw = &row;
            break;
        }
    }
    if (uid < 0) {
        if (!pw) sys::fail(sys::Code::NotFound, "unable to find user " + upart + ": no matching entries in passwd file");
        uid = parse_id((*pw)[2], "uid");
        if (uid < 0) sys::fail(sys::Code::InvalidInput, "user " + upart + ": bad uid in passwd file");
    }
    id.uid = uid_t(uid);
    if (pw) {
        name = (*pw)[0];
        int64_t g = parse_id((*pw)[3], "gid");
        if (g < 0) sys::fail(sys::Code::InvalidInput, "user " + upart + ": bad gid in passwd file");
        id.gid = gid_t(g);
        if (!(*pw)[5].empty()) id.home = (*pw)[5];
    }

    if (has_group) {
        int64_t gid = parse_id(gpart, "gid");
        if (gid < 0) {
            bool found = false;
            for (auto& row : groups) {
                if (row.size() >= 3 && row[0] == gpart) {
                    gid = parse_id(row[2], "gid");
                    found = gid >= 0;
                    break;
                }
            }
            if (!found) sys::fail(sys::Code::NotFound, "unable to find group " + gpart + ": no matching entries in group file");
        }
        id.gid = gid_t(gid);
        id.groups = {};  // an explicit group: no supplementary groups (BuildKit/runc)
        return id;
    }
    // Supplementary groups: those listing the user as a member (runc's GetExecUser, which
    // BuildKit and docker use); the primary gid is not added.

    if (!name.empty()) {
        for (auto& row : groups) {
            if (row.size() < 4 || row[3].empty()) continue;
            std::istringstream members(row[3]);
            std::string m;
            while (std::getline(members, m, ',')) {
                if (m != name) continue;
                int64_t g = parse_id(row[2], "gid");
                if (g >= 0 && std::find(id.groups.begin(), id.groups.end(), gid_t(g)) == id.groups.end())
                    id.groups.push_back(gid_t(g));
            }
        }
    }
    return id;
}

}  // namespace runtime::detail
