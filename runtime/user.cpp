// USER resolution: "name[:group]" or numeric ids, looked up in the image's own /etc/passwd and
// /etc/group, read by sys/passwd.hpp (regular files only, never a device or FIFO; size-capped).
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
#include "sys/passwd.hpp"

namespace runtime::detail {

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
    if (upart.empty()) upart.push_back('0');  // (= "0": GCC 12 warns -Wrestrict falsely on that)

    auto passwd_text = sys::read_root_file(rootfd, "/etc/passwd");
    auto group_text = sys::read_root_file(rootfd, "/etc/group");
    auto passwd = sys::parse_account_db(passwd_text.value_or(""));
    auto groups = sys::parse_account_db(group_text.value_or(""));

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
