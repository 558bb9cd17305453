#include "builder/cache.hpp"

#include <dirent.h>
#include <sys/stat.h>

#include <ctime>

#include "sys/error.hpp"
#include "sys/fs.hpp"

namespace builder {

using nlohmann::json;

cas::Digest cache_key(const json& inputs) {
    json doc = inputs;
    doc["v"] = kCacheVersion;
    return cas::Digest::of(doc.dump());  // nlohmann::json objects are key-sorted
}

json to_json(const LayerRef& l) {
    return {{"digest", l.digest.str()}, {"diff_id", l.diff_id.str()}, {"size", l.size}, {"mediaType", l.media_type}};
}

LayerRef layer_from_json(const json& j) {
    LayerRef l{cas::Digest::parse(j.at("digest").get<std::string>()), cas::Digest::parse(j.at("diff_id").get<std::string>()),
               j.at("size").get<uint64_t>(), j.at("mediaType").get<std::string>()};
    return l;
}

static json record_json(const CacheRecord& r) {
    json j = {{"key", r.key.str()},         {"created_by", r.created_by}, {"step", r.step},
              {"created", r.created},       {"last_used", r.last_used},   {"hits", r.hits},
              {"duration_ms", r.duration_ms}};
    j["layer"] = r.layer ? to_json(*r.layer) : json(nullptr);
    return j;
}

static CacheRecord record_from_json(const json& j) {
    CacheRecord r{cas::Digest::parse(j.at("key").get<std::string>()), std::nullopt, "", ""};
    if (!j.at("layer").is_null()) r.layer = layer_from_json(j.at("layer"));
    r.created_by = j.value("created_by", "");
    r.step = j.value("step", "");
    r.created = j.value("created", int64_t(0));
    r.last_used = j.value("last_used", int64_t(0));
    r.hits = j.value("hits", int64_t(0));
    r.duration_ms = j.value("duration_ms", int64_t(0));
    return r;
}

Cache::Cache(const cas::Store& store) : store_(store) {
    sys::mkdir_p(store_.cache_records_dir());
    sys::mkdir_p(store_.cache_steps_dir());
}

std::optional<CacheRecord> Cache::lookup(const cas::Digest& key) const {
    std::string path = store_.cache_records_dir() + "/" + key.hex() + ".json";
    std::string text;
    try {
        text = sys::read_file(path, 1 << 20);
    } catch (const sys::Error& e) {
        if (e.code() == sys::Code::NotFound) return std::nullopt;
        throw;
    }
    std::optional<CacheRecord> parsed;
    try {
        parsed = record_from_json(json::parse(text));
    } catch (const std::exception&) {
        // A damaged record is a miss, not a failed build; it is rewritten when the step runs.
        return std::nullopt;
    }
    CacheRecord& r = *parsed;
    if (r.key != key) return std::nullopt;
    // The blob was written without fsync: after a power loss it may be short (ext4 delayed
    // allocation leaves zero-length files), so its size must match.
    if (r.layer) {
        struct stat st;
        if (::lstat(store_.blob_path(r.layer->digest).c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
            uint64_t(st.st_size) != r.layer->size)
            return std::nullopt;
    }
    return r;
}

// Atomic, not durable: a crash may lose the record (the step runs again), never corrupt it.
void Cache::put(const CacheRecord& rec) {
    sys::write_file_atomic(store_.cache_records_dir() + "/" + rec.key.hex() + ".json", record_json(rec).dump(), 0644, false);
}

void Cache::touch(CacheRecord& rec) {
    // A fully cached rebuild writes nothing: last use is kept to the hour (enough for LRU
    // pruning by age), so back-to-back rebuilds do not rewrite their records.
    int64_t now = int64_t(std::time(nullptr));
    if (now - rec.last_used < kTouchGranularity_s && now >= rec.last_used) return;
    rec.hits++;
    rec.last_used = now;
    sys::write_file_atomic(store_.cache_records_dir() + "/" + rec.key.hex() + ".json", record_json(rec).dump(), 0644, false);
}

std::vector<CacheRecord> Cache::list() const {
    std::vector<CacheRecord> out;
    for (const std::string& n : sys::list_dir(store_.cache_records_dir(), /*missing_ok=*/true)) {
        if (n.size() != 69 || n.substr(64) != ".json") continue;
        if (!cas::Digest::valid("sha256:" + n.substr(0, 64))) continue;
        if (auto r = lookup(cas::Digest::parse("sha256:" + n.substr(0, 64)))) out.push_back(*r);
    }
    return out;
}

void Cache::remove(const cas::Digest& key) {
    std::string path = store_.cache_records_dir() + "/" + key.hex() + ".json";
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) sys::throw_errno("remove cache record " + key.str());
}

static std::string step_file(const cas::Store& store, const std::string& step_id) {
    return store.cache_steps_dir() + "/" + cas::Digest::of(step_id).hex() + ".json";
}

std::optional<json> Cache::last_inputs(const std::string& step_id) const {
    try {
        return json::parse(sys::read_file(step_file(store_, step_id), 64 << 20));
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

void Cache::save_inputs(const std::string& step_id, const json& inputs) {
    sys::write_file_atomic(step_file(store_, step_id), inputs.dump(), 0644, false);
}

static std::string shorten(const json& v) {
    std::string s = v.is_string() ? "\"" + v.get<std::string>() + "\"" : v.dump();
    if (s.size() > 60) s = s.substr(0, 57) + "...";
    return s;
}

// Inputs are an object whose keys name what they are: "parent", "instruction", "env",
// "args", "user", "workdir", "shell", "mounts", "files" (path -> digest), "from" (stage keys).
std::string explain_difference(const json& prev, const json& cur) {
    if (prev == cur) return "";
    auto get = [](const json& j, const char* k) { return j.contains(k) ? j.at(k) : json(nullptr); };
    // Most specific first: what a user changed by hand.
    if (get(prev, "instruction") != get(cur, "instruction")) return "instruction changed: " + shorten(get(cur, "instruction"));
    for (const char* k : {"args", "env"}) {
        json a = get(prev, k), b = get(cur, k);
        if (a == b) continue;
        const char* what = std::string(k) == "args" ? "build-arg" : "env";
        if (b.is_object()) {
            for (auto& [name, val] : b.items()) {
                if (!a.is_object() || !a.contains(name)) return std::string(what) + " " + name + " added (" + shorten(val) + ")";
                if (a.at(name) != val)
                    return std::string(what) + " " + name + " changed (" + shorten(a.at(name)) + " -> " + shorten(val) + ")";
            }
        }
        if (a.is_object()) {
            for (auto& [name, val] : a.items())
                if (!b.is_object() || !b.contains(name)) return std::string(what) + " " + name + " removed";
        }
    }
    json fa = get(prev, "files"), fb = get(cur, "files");
    if (fa != fb) {
        if (fb.is_object()) {
            for (auto& [path, d] : fb.items()) {
                if (!fa.is_object() || !fa.contains(path)) return "file \"" + path + "\" added";
                if (fa.at(path) != d) return "file \"" + path + "\" changed";
            }
        }
        if (fa.is_object()) {
            for (auto& [path, d] : fa.items())
                if (!fb.is_object() || !fb.contains(path)) return "file \"" + path + "\" removed";
        }
    }
    for (const char* k : {"user", "workdir", "shell", "mounts", "network", "from", "platform"})
        if (get(prev, k) != get(cur, k)) return std::string(k) + " changed";
    if (get(prev, "parent") != get(cur, "parent")) return "parent step changed";
    for (auto& [k, v] : cur.items())
        if (get(prev, k.c_str()) != v) return k + " changed";
    return "inputs changed";
}

}  // namespace builder
