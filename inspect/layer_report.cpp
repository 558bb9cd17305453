#include "inspect/layer_report.hpp"

#include <algorithm>
#include <map>
#include <set>
#include "sys/path.hpp"

namespace inspect {
namespace {

struct Node {
    char type = 'f';
    uint32_t mode = 0, uid = 0, gid = 0;
    uint64_t size = 0;
};

struct PathStats {
    size_t count = 0;
    uint64_t cumulative = 0;
    uint64_t min = 0;
};

// Paths strictly below `dir` in a sorted map/set: [lower_bound(dir + "/"), first key without that prefix).
template <typename M>
auto below(M& m, const std::string& dir) {
    std::string prefix = dir.empty() ? "" : dir + "/";
    auto first = m.lower_bound(prefix);
    auto last = first;
    while (last != m.end() && last->first.compare(0, prefix.size(), prefix) == 0) ++last;
    return std::make_pair(first, last);
}

bool has_below(const std::set<std::string>& s, const std::string& dir) {
    std::string prefix = dir + "/";
    auto it = s.lower_bound(prefix);
    return it != s.end() && it->compare(0, prefix.size(), prefix) == 0;
}

bool is_meta(const std::string& path) {
    return sys::base_name(path).rfind(".wh.", 0) == 0;
}

class Analyzer {
public:
    LayerReport layer(const std::vector<layers::LayerEntry>& entries) {
        LayerReport rep;
        std::vector<const layers::LayerEntry*> plain, deletions;
        std::set<std::string> paths;  // everything this layer names (for leaf detection)
        for (const auto& e : entries) {
            if (e.whiteout || e.opaque) {
                deletions.push_back(&e);
                if (e.whiteout) paths.insert(e.hidden);
            } else if (!e.path.empty() && !is_meta(e.path)) {
                plain.push_back(&e);
                paths.insert(e.path);
            }
        }
        // Classify against what the lower layers made visible.
        for (const auto* e : plain) {
            LayerChange c;
            c.kind = visible_.count(e->path) ? LayerChange::Kind::Modified : LayerChange::Kind::Added;
            c.path = e->path;
            c.type = e->type;
            c.mode = e->mode, c.uid = e->uid, c.gid = e->gid;
            c.size = e->type == 'f' ? e->size : 0;
            c.link = e->link;
            rep.changes.push_back(c);
        }
        std::set<std::string> plain_paths;
        for (const auto* e : plain) plain_paths.insert(e->path);
        for (const auto* e : deletions) {
            if (e->whiteout) delete_whiteout(e->hidden, plain_paths, rep);
            else delete_opaque(e->hidden, plain_paths, rep);
        }
        for (const auto* e : plain) {
            uint64_t size = e->type == 'f' ? e->size : 0;
            bool leaf = e->type != 'd' || !has_below(paths, e->path);
            if (leaf) record(e->path, size);
            auto it = visible_.find(e->path);
            if (it != visible_.end() && it->second.type == 'd' && e->type != 'd') erase_below(e->path);
            visible_[e->path] = Node{e->type, e->mode, e->uid, e->gid, size};
        }
        std::sort(rep.changes.begin(), rep.changes.end(), [](auto& a, auto& b) { return a.path < b.path; });
        for (const auto& c : rep.changes) {
            switch (c.kind) {
                case LayerChange::Kind::Added: rep.added++, rep.added_bytes += c.size; break;
                case LayerChange::Kind::Modified: rep.modified++, rep.modified_bytes += c.size; break;
                case LayerChange::Kind::Deleted: rep.deleted++, rep.deleted_bytes += c.size; break;
            }
        }
        return rep;
    }

    Efficiency efficiency() const {
        Efficiency e;
        uint64_t min_sum = 0;
        for (const auto& [path, s] : stats_) {
            e.content_bytes += s.cumulative;
            min_sum += s.min;
            if (s.count >= 2) {
                e.wasted_bytes += s.cumulative;
                e.inefficiencies.push_back({path, s.count, s.cumulative});
            }
        }
        e.score = e.content_bytes == 0 ? 1.0 : double(min_sum) / double(e.content_bytes);
        std::sort(e.inefficiencies.begin(), e.inefficiencies.end(), [](auto& a, auto& b) {
            return a.cumulative_size != b.cumulative_size ? a.cumulative_size > b.cumulative_size : a.path < b.path;
        });
        return e;
    }

private:
    void record(const std::string& path, uint64_t size) {
        PathStats& s = stats_[path];
        s.min = s.count == 0 ? size : std::min(s.min, size);
        s.count++;
        s.cumulative += size;
    }

    void erase_below(const std::string& dir) {
        auto [first, last] = below(visible_, dir);
        visible_.erase(first, last);
    }

    // Each file hidden under `dir` (not re-added by this layer) is deleted: a 0-byte record.
    uint64_t hide_below(const std::string& dir, const std::set<std::string>& readded) {
        uint64_t bytes = 0;
        auto [first, last] = below(visible_, dir);
        for (auto it = first; it != last; ++it) {
            if (it->second.type == 'd' || readded.count(it->first)) continue;
            bytes += it->second.size;
            record(it->first, 0);
        }
        visible_.erase(first, last);
        return bytes;
    }

    void delete_whiteout(const std::string& path, const std::set<std::string>& readded, LayerReport& rep) {
        LayerChange c;
        c.kind = LayerChange::Kind::Deleted;
        c.path = path;
        auto it = visible_.find(path);
        if (it == visible_.end()) {
            c.type = '?';  // a whiteout of something no lower layer has
        } else {
            c.type = it->second.type;
            c.mode = it->second.mode, c.uid = it->second.uid, c.gid = it->second.gid;
            if (it->second.type == 'd') {
                c.size = hide_below(path, readded);
            } else {
                c.size = it->second.size;
                record(path, 0);
            }
            visible_.erase(path);
        }
        rep.changes.push_back(c);
    }

    // An opaque directory hides all lower contents: report each hidden top-level child that
    // this layer does not re-add as deleted (with the bytes it held).
    void delete_opaque(const std::string& dir, const std::set<std::string>& readded, LayerReport& rep) {
        std::string prefix = dir.empty() ? "" : dir + "/";
        std::map<std::string, LayerChange> by_child;
        auto [first, last] = below(visible_, dir);
        for (auto it = first; it != last; ++it) {
            size_t slash = it->first.find('/', prefix.size());
            std::string top = slash == std::string::npos ? it->first : it->first.substr(0, slash);
            if (readded.count(top)) continue;
            LayerChange& c = by_child[top];
            if (it->first == top) {
                c.path = top;
                c.type = it->second.type;
                c.mode = it->second.mode, c.uid = it->second.uid, c.gid = it->second.gid;
            }
            if (it->second.type != 'd') c.size += it->second.size;
        }
        for (auto& [path, c] : by_child) {
            c.kind = LayerChange::Kind::Deleted;
            c.path = path;
            rep.changes.push_back(c);
        }
        hide_below(dir, readded);
    }

    std::map<std::string, Node> visible_;
    std::map<std::string, PathStats> stats_;
};

}  // namespace

const char* layer_change_name(LayerChange::Kind k) {
    switch (k) {
        case LayerChange::Kind::Added: return "added";
        case LayerChange::Kind::Modified: return "modified";
        case LayerChange::Kind::Deleted: return "deleted";
    }
    return "?";
}

LayerAnalysis analyze_layers(const std::vector<std::vector<layers::LayerEntry>>& layer_entries) {
    Analyzer an;
    LayerAnalysis out;
    for (const auto& entries : layer_entries) out.layers.push_back(an.layer(entries));
    out.efficiency = an.efficiency();
    return out;
}

std::vector<HistoryRow> history_rows(const cas::Image& image) {
    std::vector<HistoryRow> rows;
    const auto& layers = image.manifest.layers;
    const auto& diff_ids = image.config.diff_ids;
    size_t li = 0;
    auto take_layer = [&](HistoryRow& r) {
        if (li >= layers.size()) return;
        r.layer = layers[li];
        if (li < diff_ids.size()) r.diff_id = diff_ids[li];
        li++;
    };
    for (const auto& h : image.config.history) {
        HistoryRow r;
        r.created = h.created;
        r.created_by = h.created_by;
        r.comment = h.comment;
        r.empty_layer = h.empty_layer;
        if (!h.empty_layer) take_layer(r);
        rows.push_back(std::move(r));
    }
    while (li < layers.size()) {  // layers the history does not describe
        HistoryRow r;
        r.created = image.config.created.value_or("");
        take_layer(r);
        rows.push_back(std::move(r));
    }
    return rows;
}

std::vector<std::string> layer_created_by(const cas::Image& image) {
    std::vector<std::string> out(image.manifest.layers.size());
    size_t li = 0;
    for (const auto& r : history_rows(image))
        if (r.layer && li < out.size()) out[li++] = r.created_by;
    return out;
}

const char* entry_type_name(char type) {
    switch (type) {
        case 'f': return "file";
        case 'd': return "dir";
        case 'l': return "symlink";
        case 'h': return "hardlink";
        case 'c': return "char";
        case 'b': return "block";
        case 'p': return "fifo";
        case 's': return "socket";
    }
    return "unknown";
}

std::string mode_string(char type, uint32_t mode) {
    std::string s(10, '-');
    switch (type) {
        case 'd': s[0] = 'd'; break;
        case 'l': s[0] = 'l'; break;
        case 'c': s[0] = 'c'; break;
        case 'b': s[0] = 'b'; break;
        case 'p': s[0] = 'p'; break;
        case 's': s[0] = 's'; break;
        case 'h': s[0] = 'h'; break;
        case '?': s[0] = '?'; break;
        default: break;
    }
    const char* rwx = "rwxrwxrwx";
    for (int i = 0; i < 9; i++)
        if (mode & (0400u >> i)) s[size_t(i + 1)] = rwx[i];
    if (mode & 04000) s[3] = (mode & 0100) ? 's' : 'S';
    if (mode & 02000) s[6] = (mode & 0010) ? 's' : 'S';
    if (mode & 01000) s[9] = (mode & 0001) ? 't' : 'T';
    return s;
}

}  // namespace inspect
