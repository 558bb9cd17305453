#include "cas/oci.hpp"

#include "sys/error.hpp"

namespace cas {

using json = nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& msg) { sys::fail(sys::Code::InvalidInput, msg); }

json parse_json(std::string_view bytes, size_t cap, const char* what) {
    if (bytes.size() > cap)
        bad(std::string(what) + ": document is " + std::to_string(bytes.size()) + " bytes, over the limit of " +
            std::to_string(cap));
    json j = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) bad(std::string(what) + ": not valid JSON");
    if (!j.is_object()) bad(std::string(what) + ": not a JSON object");
    return j;
}

std::string get_string(const json& j, const char* key, const char* what, bool required = false) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) {
        if (required) bad(std::string(what) + ": missing \"" + key + "\"");
        return "";
    }
    if (!it->is_string()) bad(std::string(what) + ": \"" + key + "\" is not a string");
    return it->get<std::string>();
}

std::vector<std::string> get_strings(const json& j, const char* key, const char* what) {
    std::vector<std::string> out;
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return out;
    if (!it->is_array()) bad(std::string(what) + ": \"" + key + "\" is not an array");
    for (auto& e : *it) {
        if (!e.is_string()) bad(std::string(what) + ": \"" + key + "\" has a non-string element");
        out.push_back(e.get<std::string>());
    }
    return out;
}

std::optional<std::vector<std::string>> get_opt_strings(const json& j, const char* key, const char* what) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    return get_strings(j, key, what);
}

std::map<std::string, std::string> get_string_map(const json& j, const char* key, const char* what) {
    std::map<std::string, std::string> out;
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return out;
    if (!it->is_object()) bad(std::string(what) + ": \"" + key + "\" is not an object");
    for (auto& [k, v] : it->items()) {
        if (!v.is_string()) bad(std::string(what) + ": \"" + key + "." + k + "\" is not a string");
        out[k] = v.get<std::string>();
    }
    return out;
}

std::vector<std::string> get_key_set(const json& j, const char* key, const char* what) {
    std::vector<std::string> out;
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return out;
    if (!it->is_object()) bad(std::string(what) + ": \"" + key + "\" is not an object");
    for (auto& [k, v] : it->items()) out.push_back(k);
    return out;
}

int get_schema_version(const json& j, const char* what) {
    auto it = j.find("schemaVersion");
    if (it == j.end() || !it->is_number_integer() || it->get<int64_t>() != 2)
        bad(std::string(what) + ": schemaVersion must be 2");
    return 2;
}

void check_media_type(const std::string& own, std::string_view expected, bool (*ok)(std::string_view), const char* what) {
    if (!own.empty() && !ok(own)) bad(std::string(what) + ": unexpected mediaType \"" + own + "\"");
    if (!expected.empty() && !ok(expected))
        bad(std::string(what) + ": descriptor mediaType \"" + std::string(expected) + "\" does not name a " + what);
    if (!own.empty() && !expected.empty() && own != expected)
        bad(std::string(what) + ": mediaType \"" + own + "\" does not match the descriptor's \"" +
            std::string(expected) + "\"");
}

void put_if(json& j, const char* key, const std::string& v) {
    if (v.empty()) j.erase(key);
    else j[key] = v;
}
template <typename C>
void put_if_nonempty(json& j, const char* key, const C& v) {
    if (v.empty()) j.erase(key);
    else j[key] = v;
}
json key_set(const std::vector<std::string>& keys) {
    json o = json::object();
    for (auto& k : keys) o[k] = json::object();
    return o;
}

}  // namespace

bool is_manifest_type(std::string_view mt) { return mt == media::kManifest || mt == media::kDockerManifest; }
bool is_index_type(std::string_view mt) { return mt == media::kIndex || mt == media::kDockerManifestList; }
bool is_layer_type(std::string_view mt) {
    return mt == media::kLayer || mt == media::kLayerGzip || mt == media::kLayerZstd || mt == media::kDockerLayerGzip ||
           mt == media::kDockerLayer || mt == "application/vnd.oci.image.layer.nondistributable.v1.tar" ||
           mt == "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip" ||
           mt == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
}

// ---------------------------------------------------------------- descriptor / platform

void to_json(json& j, const Platform& p) {
    j = json::object();
    j["architecture"] = p.architecture;
    j["os"] = p.os;
    put_if(j, "variant", p.variant);
    put_if(j, "os.version", p.os_version);
    put_if_nonempty(j, "os.features", p.os_features);
}

void from_json(const json& j, Platform& p) {
    if (!j.is_object()) bad("platform: not an object");
    p.architecture = get_string(j, "architecture", "platform", true);
    p.os = get_string(j, "os", "platform", true);
    p.variant = get_string(j, "variant", "platform");
    p.os_version = get_string(j, "os.version", "platform");
    p.os_features = get_strings(j, "os.features", "platform");
}

void to_json(json& j, const Descriptor& d) {
    j = json::object();
    j["mediaType"] = d.media_type;
    j["digest"] = d.digest.str();
    j["size"] = d.size;
    put_if_nonempty(j, "annotations", d.annotations);
    if (d.platform) j["platform"] = *d.platform;
    put_if_nonempty(j, "urls", d.urls);
    put_if(j, "artifactType", d.artifact_type);
}

Descriptor parse_descriptor(const json& j) {
    if (!j.is_object()) bad("descriptor: not an object");
    Descriptor d;
    d.media_type = get_string(j, "mediaType", "descriptor", true);
    if (d.media_type.empty() || d.media_type.size() > 255) bad("descriptor: bad mediaType");
    std::string dg = get_string(j, "digest", "descriptor", true);
    d.digest = sys::with_context("descriptor", [&] { return Digest::parse(dg); });
    auto it = j.find("size");
    if (it == j.end() || !it->is_number_integer() || it->get<int64_t>() < 0)
        bad("descriptor " + dg + ": size must be a non-negative integer");
    d.size = it->get<uint64_t>();
    d.annotations = get_string_map(j, "annotations", "descriptor");
    if (auto p = j.find("platform"); p != j.end() && !p->is_null()) d.platform = p->get<Platform>();
    d.urls = get_strings(j, "urls", "descriptor");
    d.artifact_type = get_string(j, "artifactType", "descriptor");
    return d;
}

void from_json(const json& j, Descriptor& d) { d = parse_descriptor(j); }

static std::vector<Descriptor> parse_descriptors(const json& j, const char* key, const char* what) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_array()) bad(std::string(what) + ": \"" + key + "\" must be an array");
    std::vector<Descriptor> out;
    for (auto& e : *it) out.push_back(parse_descriptor(e));
    return out;
}

// ---------------------------------------------------------------- manifest / index

void to_json(json& j, const Manifest& m) {
    j = json::object();
    j["schemaVersion"] = m.schema_version;
    put_if(j, "mediaType", m.media_type);
    j["config"] = m.config;
    j["layers"] = m.layers;
    put_if_nonempty(j, "annotations", m.annotations);
    if (m.subject) j["subject"] = *m.subject;
    put_if(j, "artifactType", m.artifact_type);
}

Manifest parse_manifest(std::string_view bytes, std::string_view expected) {
    json j = parse_json(bytes, kMaxManifestBytes, "manifest");
    Manifest m;
    m.schema_version = get_schema_version(j, "manifest");
    m.media_type = get_string(j, "mediaType", "manifest");
    check_media_type(m.media_type, expected, is_manifest_type, "manifest");
    if (j.contains("manifests")) bad("manifest: has both \"manifests\" and \"layers\" (an index is not a manifest)");
    if (!j.contains("config")) bad("manifest: missing \"config\"");
    m.config = parse_descriptor(j["config"]);
    m.layers = parse_descriptors(j, "layers", "manifest");
    m.annotations = get_string_map(j, "annotations", "manifest");
    if (auto s = j.find("subject"); s != j.end() && !s->is_null()) m.subject = parse_descriptor(*s);
    m.artifact_type = get_string(j, "artifactType", "manifest");
    return m;
}

void to_json(json& j, const Index& i) {
    j = json::object();
    j["schemaVersion"] = i.schema_version;
    put_if(j, "mediaType", i.media_type);
    j["manifests"] = i.manifests;
    put_if_nonempty(j, "annotations", i.annotations);
}

Index parse_index(std::string_view bytes, std::string_view expected) {
    json j = parse_json(bytes, kMaxManifestBytes, "index");
    Index i;
    i.schema_version = get_schema_version(j, "index");
    i.media_type = get_string(j, "mediaType", "index");
    check_media_type(i.media_type, expected, is_index_type, "index");
    if (j.contains("layers") || j.contains("config"))
        bad("index: has both \"manifests\" and \"layers\"/\"config\" (a manifest is not an index)");
    i.manifests = parse_descriptors(j, "manifests", "index");
    i.annotations = get_string_map(j, "annotations", "index");
    return i;
}

// ---------------------------------------------------------------- image config

size_t non_empty_layer_count(const ImageConfig& c) {
    size_t n = 0;
    for (auto& h : c.history)
        if (!h.empty_layer) n++;
    return n;
}

void to_json(json& j, const ImageConfig& c) {
    j = c.raw.is_object() ? c.raw : json::object();
    j["architecture"] = c.architecture;
    j["os"] = c.os;
    put_if(j, "variant", c.variant);
    if (c.created) j["created"] = *c.created;
    else j.erase("created");
    put_if(j, "author", c.author);

    json cc = j.contains("config") && j["config"].is_object() ? j["config"] : json::object();
    const ContainerConfig& k = c.config;
    put_if(cc, "User", k.user);
    put_if_nonempty(cc, "Env", k.env);
    if (k.entrypoint) cc["Entrypoint"] = *k.entrypoint;
    else cc.erase("Entrypoint");
    if (k.cmd) cc["Cmd"] = *k.cmd;
    else cc.erase("Cmd");
    put_if(cc, "WorkingDir", k.working_dir);
    put_if_nonempty(cc, "Labels", k.labels);
    if (k.exposed_ports.empty()) cc.erase("ExposedPorts");
    else cc["ExposedPorts"] = key_set(k.exposed_ports);
    if (k.volumes.empty()) cc.erase("Volumes");
    else cc["Volumes"] = key_set(k.volumes);
    put_if(cc, "StopSignal", k.stop_signal);
    if (k.healthcheck) cc["Healthcheck"] = *k.healthcheck;
    else cc.erase("Healthcheck");
    put_if_nonempty(cc, "OnBuild", k.on_build);
    if (k.shell) cc["Shell"] = *k.shell;
    else cc.erase("Shell");
    j["config"] = cc;

    json rootfs = json::object();
    rootfs["type"] = c.rootfs_type;
    rootfs["diff_ids"] = json::array();
    for (auto& d : c.diff_ids) rootfs["diff_ids"].push_back(d.str());
    j["rootfs"] = rootfs;

    if (c.history.empty()) j.erase("history");
    else {
        json h = json::array();
        for (auto& e : c.history) {
            json o = json::object();
            put_if(o, "created", e.created);
            put_if(o, "created_by", e.created_by);
            put_if(o, "author", e.author);
            put_if(o, "comment", e.comment);
            if (e.empty_layer) o["empty_layer"] = true;
            h.push_back(o);
        }
        j["history"] = h;
    }
}

ImageConfig parse_config(std::string_view bytes) {
    json j = parse_json(bytes, kMaxConfigBytes, "image config");
    const char* w = "image config";
    ImageConfig c;
    c.architecture = get_string(j, "architecture", w, true);
    c.os = get_string(j, "os", w, true);
    c.variant = get_string(j, "variant", w);
    if (j.contains("created") && !j["created"].is_null()) c.created = get_string(j, "created", w);
    c.author = get_string(j, "author", w);
    if (auto it = j.find("config"); it != j.end() && !it->is_null()) {
        if (!it->is_object()) bad("image config: \"config\" is not an object");
        const json& cc = *it;
        const char* cw = "image config.config";
        ContainerConfig& k = c.config;
        k.user = get_string(cc, "User", cw);
        k.env = get_strings(cc, "Env", cw);
        k.entrypoint = get_opt_strings(cc, "Entrypoint", cw);
        k.cmd = get_opt_strings(cc, "Cmd", cw);
        k.working_dir = get_string(cc, "WorkingDir", cw);
        k.labels = get_string_map(cc, "Labels", cw);
        k.exposed_ports = get_key_set(cc, "ExposedPorts", cw);
        k.volumes = get_key_set(cc, "Volumes", cw);
        k.stop_signal = get_string(cc, "StopSignal", cw);
        if (auto h = cc.find("Healthcheck"); h != cc.end() && !h->is_null()) {
            if (!h->is_object()) bad("image config.config: \"Healthcheck\" is not an object");
            k.healthcheck = *h;
        }
        k.on_build = get_strings(cc, "OnBuild", cw);
        k.shell = get_opt_strings(cc, "Shell", cw);
    }
    auto rf = j.find("rootfs");
    if (rf == j.end() || !rf->is_object()) bad("image config: missing \"rootfs\"");
    c.rootfs_type = get_string(*rf, "type", "image config.rootfs", true);
    if (c.rootfs_type != "layers") bad("image config: rootfs.type must be \"layers\", not \"" + c.rootfs_type + "\"");
    for (auto& s : get_strings(*rf, "diff_ids", "image config.rootfs"))
        c.diff_ids.push_back(sys::with_context("image config: rootfs.diff_ids", [&] { return Digest::parse(s); }));
    if (auto h = j.find("history"); h != j.end() && !h->is_null()) {
        if (!h->is_array()) bad("image config: \"history\" is not an array");
        for (auto& e : *h) {
            if (!e.is_object()) bad("image config: history entry is not an object");
            HistoryEntry he;
            he.created = get_string(e, "created", "image config.history");
            he.created_by = get_string(e, "created_by", "image config.history");
            he.author = get_string(e, "author", "image config.history");
            he.comment = get_string(e, "comment", "image config.history");
            if (auto el = e.find("empty_layer"); el != e.end() && !el->is_null()) {
                if (!el->is_boolean()) bad("image config: history empty_layer is not a boolean");
                he.empty_layer = el->get<bool>();
            }
            c.history.push_back(std::move(he));
        }
    }
    if (!c.history.empty() && non_empty_layer_count(c) != c.diff_ids.size())
        bad("image config: " + std::to_string(c.diff_ids.size()) + " diff_ids but " +
            std::to_string(non_empty_layer_count(c)) + " history entries that add a layer");
    c.raw = std::move(j);
    return c;
}

std::string canonical(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::strict); }
std::string serialize(const Manifest& m) { return canonical(json(m)); }
std::string serialize(const Index& i) { return canonical(json(i)); }
std::string serialize(const ImageConfig& c) { return canonical(json(c)); }

}  // namespace cas
