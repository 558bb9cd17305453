#include "snapshot.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>
#include <set>
#include <stdexcept>

#include "cas/digest.hpp"

namespace diff {
namespace {

using Json = nlohmann::json;

struct ArchiveFree {
    void operator()(archive* a) const { archive_read_free(a); }
};
using Reader = std::unique_ptr<archive, ArchiveFree>;

Reader open_reader() {
    Reader a(archive_read_new());
    archive_read_support_format_tar(a.get());
    archive_read_support_filter_gzip(a.get());
    return a;
}

std::string read_data(archive* a) {
    std::string out;
    char buf[65536];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0) out.append(buf, size_t(n));
    if (n < 0) throw std::runtime_error(std::string("tar read: ") + archive_error_string(a));
    return out;
}

// Every regular file of the outer docker-archive tar, by name.
std::map<std::string, std::string> read_outer(const std::string& tar_path) {
    Reader a = open_reader();
    if (archive_read_open_filename(a.get(), tar_path.c_str(), 1 << 16) != ARCHIVE_OK)
        throw std::runtime_error("open " + tar_path + ": " + archive_error_string(a.get()));
    std::map<std::string, std::string> files;
    archive_entry* e;
    while (archive_read_next_header(a.get(), &e) == ARCHIVE_OK) {
        std::string name = archive_entry_pathname(e);
        if (name.rfind("./", 0) == 0) name = name.substr(2);
        if (archive_entry_filetype(e) == AE_IFREG) files[name] = read_data(a.get());
    }
    return files;
}

std::string clean(std::string p) {
    while (p.rfind("./", 0) == 0) p = p.substr(2);
    while (!p.empty() && p[0] == '/') p = p.substr(1);
    while (!p.empty() && p.back() == '/') p.pop_back();
    return p;
}

std::string octal(unsigned mode) {
    char b[8];
    std::snprintf(b, sizeof b, "%04o", mode & 07777);
    return b;
}

struct Node {
    std::string kind, mode, owner, data, target, xattrs;
    std::string group;  // hard-link group key ("" = none)
    int64_t mtime = 0;  // seconds (docker's layer tars hold whole seconds)
};

void remove_under(std::map<std::string, Node>& t, const std::string& dir, bool self) {
    if (self) t.erase(dir);
    std::string pre = dir.empty() ? "" : dir + "/";
    for (auto it = t.lower_bound(pre); it != t.end() && it->first.rfind(pre, 0) == 0;) it = t.erase(it);
}

std::string kind_of(archive_entry* e) {
    switch (archive_entry_filetype(e)) {
        case AE_IFDIR: return "dir";
        case AE_IFLNK: return "symlink";
        case AE_IFCHR: return "char";
        case AE_IFBLK: return "block";
        case AE_IFIFO: return "fifo";
        default: return "file";
    }
}

std::string xattrs_of(archive_entry* e) {
    std::set<std::string> xs;
    archive_entry_xattr_reset(e);
    const char* name;
    const void* val;
    size_t len;
    while (archive_entry_xattr_next(e, &name, &val, &len) == ARCHIVE_OK)
        xs.insert(std::string(name) + "=" + std::string(static_cast<const char*>(val), len));
    std::string out;
    for (const auto& x : xs) out += " xattr " + x;
    return out;
}

void apply_layer(std::map<std::string, Node>& tree, const std::string& blob) {
    Reader a = open_reader();
    if (archive_read_open_memory(a.get(), blob.data(), blob.size()) != ARCHIVE_OK)
        throw std::runtime_error(std::string("layer: ") + archive_error_string(a.get()));
    archive_entry* e;
    int r;
    // ARCHIVE_WARN: a pax UTF-8 name this ("C") locale cannot convert (docker writes non-ASCII
    // names so); libarchive then keeps the raw bytes.
    while ((r = archive_read_next_header(a.get(), &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
        const char* raw = archive_entry_pathname(e);
        if (!raw) raw = archive_entry_pathname_utf8(e);
        std::string path = clean(raw ? raw : "");
        if (path.empty()) continue;
        std::string dir = path.find('/') == std::string::npos ? "" : path.substr(0, path.rfind('/'));
        std::string base = path.substr(path.find('/') == std::string::npos ? 0 : path.rfind('/') + 1);
        if (base == ".wh..wh..opq") {
            remove_under(tree, dir, false);
            continue;
        }
        if (base.rfind(".wh.", 0) == 0) {
            remove_under(tree, (dir.empty() ? "" : dir + "/") + base.substr(4), true);
            continue;
        }
        if (const char* hl = archive_entry_hardlink(e)) {
            std::string target = clean(hl);
            auto it = tree.find(target);
            if (it == tree.end()) throw std::runtime_error("hard link " + path + " to missing " + target);
            if (it->second.group.empty()) it->second.group = target;
            Node n = it->second;
            tree[path] = n;
            continue;
        }
        Node n;
        n.kind = kind_of(e);
        n.mode = octal(archive_entry_mode(e));
        n.owner = std::to_string(archive_entry_uid(e)) + ":" + std::to_string(archive_entry_gid(e));
        n.xattrs = xattrs_of(e);
        n.mtime = int64_t(archive_entry_mtime(e));
        if (n.kind == "symlink") n.target = archive_entry_symlink(e);
        if (n.kind == "file") {
            std::string d = read_data(a.get());
            cas::Digester h;
            h.update(d);
            n.data = std::to_string(d.size()) + " " + h.finish().str();
        }
        if (n.kind == "char" || n.kind == "block")
            n.data = std::to_string(archive_entry_rdevmajor(e)) + "," + std::to_string(archive_entry_rdevminor(e));
        if (n.kind != "dir") remove_under(tree, path, false);  // a non-dir replaces a dir and its children
        tree[path] = n;
    }
    if (r != ARCHIVE_EOF) throw std::runtime_error(std::string("layer: ") + archive_error_string(a.get()));
}

Tree render(const std::map<std::string, Node>& nodes) {
    std::map<std::string, std::vector<std::string>> groups;
    for (const auto& [p, n] : nodes)
        if (!n.group.empty()) groups[n.group].push_back(p);
    Tree out;
    for (const auto& [p, n] : nodes) {
        std::string s = n.kind + " " + n.mode + " " + n.owner;
        if (!n.data.empty()) s += " " + n.data;
        if (!n.target.empty()) s += " -> " + n.target;
        s += n.xattrs;
        if (!n.group.empty() && groups[n.group].size() > 1) s += " hardlink-group=" + groups[n.group].front();
        out[p] = s;
    }
    return out;
}

struct Image {
    Json config;
    Tree tree;
    std::map<std::string, int64_t> mtimes;
};

Image read_image(const std::string& tar_path) {
    auto files = read_outer(tar_path);
    auto mf = files.find("manifest.json");
    if (mf == files.end()) throw std::runtime_error(tar_path + ": no manifest.json");
    Json m = Json::parse(mf->second).at(0);
    Image img;
    img.config = Json::parse(files.at(m.at("Config").get<std::string>()));
    std::map<std::string, Node> nodes;
    for (const auto& l : m.at("Layers")) apply_layer(nodes, files.at(l.get<std::string>()));
    img.tree = render(nodes);
    for (const auto& [p, n] : nodes) img.mtimes[p] = n.mtime;
    return img;
}

bool blank(const Json& v) {
    return v.is_null() || (v.is_string() && v.get<std::string>().empty()) || (v.is_object() && v.empty());
}

}  // namespace

Tree read_tree(const std::string& tar_path) { return read_image(tar_path).tree; }

Json snapshot(const std::string& tar_path, const Tree& base, const MtimePairs& mtime_pairs) {
    Image img = read_image(tar_path);
    Json out;
    Json tree = Json::object();
    for (const auto& [p, s] : img.tree) {
        auto it = base.find(p);
        if (it == base.end() || it->second != s) tree[p] = s;
    }
    Json deleted = Json::array();
    for (const auto& [p, s] : base)
        if (!img.tree.count(p)) deleted.push_back(p);
    out["tree"] = tree;
    out["deleted"] = deleted;
    Json cfg = Json::object();
    const Json& c = img.config.contains("config") ? img.config["config"] : Json::object();
    for (const char* k : {"Env", "Cmd", "Entrypoint", "User", "WorkingDir", "ExposedPorts", "Volumes", "Labels",
                          "StopSignal", "Healthcheck", "Shell", "OnBuild"})
        if (c.contains(k) && !blank(c[k])) cfg[k] = c[k];
    out["config"] = cfg;
    out["layers"] = img.config.at("rootfs").at("diff_ids").size();
    Json hist = Json::array();
    if (img.config.contains("history"))
        for (const auto& h : img.config["history"])
            hist.push_back({{"created_by", h.value("created_by", "")}, {"empty_layer", h.value("empty_layer", false)}});
    out["history"] = hist;
    if (!mtime_pairs.empty()) {
        Json order = Json::object();
        for (const auto& [a, b] : mtime_pairs) {
            auto ia = img.mtimes.find(clean(a)), ib = img.mtimes.find(clean(b));
            order[a + " vs " + b] = ia == img.mtimes.end() || ib == img.mtimes.end() ? "missing"
                                    : ia->second < ib->second                        ? "older"
                                    : ia->second == ib->second                       ? "same"
                                                                                     : "newer";
        }
        out["mtimes"] = order;
    }
    return out;
}

std::vector<std::string> compare(const Json& want, const Json& got) {
    std::vector<std::string> d;
    Json wt = want.value("tree", Json::object()), gt = got.value("tree", Json::object());
    for (auto it = wt.begin(); it != wt.end(); ++it) {
        if (!gt.contains(it.key()))
            d.push_back("tree " + it.key() + ": want " + it.value().get<std::string>() + ", missing or as in base");
        else if (gt[it.key()] != it.value())
            d.push_back("tree " + it.key() + ": want " + it.value().get<std::string>() + ", got " +
                        gt[it.key()].get<std::string>());
    }
    for (auto it = gt.begin(); it != gt.end(); ++it)
        if (!wt.contains(it.key())) d.push_back("tree " + it.key() + ": unexpected " + it.value().get<std::string>());
    if (want.value("deleted", Json::array()) != got.value("deleted", Json::array()))
        d.push_back("deleted: want " + want.value("deleted", Json::array()).dump() + ", got " +
                    got.value("deleted", Json::array()).dump());
    Json wc = want.value("config", Json::object()), gc = got.value("config", Json::object());
    std::set<std::string> keys;
    for (auto it = wc.begin(); it != wc.end(); ++it) keys.insert(it.key());
    for (auto it = gc.begin(); it != gc.end(); ++it) keys.insert(it.key());
    for (const auto& k : keys) {
        Json a = wc.value(k, Json()), b = gc.value(k, Json());
        if (a != b) d.push_back("config " + k + ": want " + a.dump() + ", got " + b.dump());
    }
    if (want.value("layers", 0) != got.value("layers", 0))
        d.push_back("layers: want " + std::to_string(want.value("layers", 0)) + ", got " +
                    std::to_string(got.value("layers", 0)));
    Json wh = want.value("history", Json::array()), gh = got.value("history", Json::array());
    for (size_t i = 0; i < std::max(wh.size(), gh.size()); ++i) {
        Json a = i < wh.size() ? wh[i] : Json(), b = i < gh.size() ? gh[i] : Json();
        if (a != b) d.push_back("history[" + std::to_string(i) + "]: want " + a.dump() + ", got " + b.dump());
    }
    Json wm = want.value("mtimes", Json::object()), gm = got.value("mtimes", Json::object());
    if (wm != gm) d.push_back("mtimes: want " + wm.dump() + ", got " + gm.dump());
    return d;
}

}  // namespace diff
