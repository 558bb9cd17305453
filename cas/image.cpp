#include "cas/image.hpp"

#include "sys/error.hpp"

namespace cas {

uint64_t Image::total_size() const {
    uint64_t n = manifest.config.size;
    for (auto& l : manifest.layers) n += l.size;
    return n;
}

Descriptor Image::manifest_descriptor() const {
    Descriptor d;
    d.media_type = manifest_media_type;
    d.digest = manifest_digest;
    d.size = manifest_size;
    return d;
}

Image load_image(const Store& store, const Digest& md) {
    return sys::with_context("image " + md.str(), [&] {
        std::string bytes = store.read_verified(md, kMaxManifestBytes);
        Manifest m = parse_manifest(bytes);
        std::string cfg = store.read_verified(m.config.digest, kMaxConfigBytes);
        if (cfg.size() != m.config.size)
            sys::fail(sys::Code::InvalidInput, "config " + m.config.digest.str() + ": size " +
                                                          std::to_string(cfg.size()) + " does not match the manifest's " +
                                                          std::to_string(m.config.size));
        ImageConfig c = sys::with_context("config " + m.config.digest.str(), [&] { return parse_config(cfg); });
        if (c.diff_ids.size() != m.layers.size())
            sys::fail(sys::Code::InvalidInput, "config " + m.config.digest.str() + " has " +
                                                          std::to_string(c.diff_ids.size()) + " diff_ids but the manifest has " +
                                                          std::to_string(m.layers.size()) + " layers");
        std::string mt = m.media_type.empty() ? std::string(media::kManifest) : m.media_type;
        Digest cd = m.config.digest;
        return Image{md, std::move(m), cd, std::move(c), bytes.size(), mt};
    });
}

static bool is_hex(std::string_view s) {
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return !s.empty();
}

[[noreturn]] static void image_not_found(const std::string& text) {
    sys::fail(sys::Code::NotFound, "image \"" + text + "\" not found");
}

Image resolve_image(const Store& store, const std::string& text) {
    if (text.empty()) image_not_found(text);
    // sha256:<hex...> or a bare hex prefix: manifest digest or image ID (config digest).
    std::string_view hex = text;
    bool prefixed = hex.rfind("sha256:", 0) == 0;
    if (prefixed) hex.remove_prefix(7);
    if (is_hex(hex) && text.find('@') == std::string::npos) {
        if (hex.size() == 64 && store.has_blob(Digest::parse("sha256:" + std::string(hex)))) {
            Digest d = Digest::parse("sha256:" + std::string(hex));
            for (auto& [name, desc] : list_refs(store))
                if (desc.digest == d) return load_image(store, d);
        }
        if (!prefixed) {
            if (auto d = lookup_ref(store, text)) return load_image(store, d->digest);
        }
        std::optional<Image> found;
        for (auto& [name, desc] : list_refs(store)) {
            Image im = load_image(store, desc.digest);
            if (im.config_digest.hex().rfind(hex, 0) != 0 && im.manifest_digest.hex().rfind(hex, 0) != 0) continue;
            if (found && found->manifest_digest != im.manifest_digest)
                sys::fail(sys::Code::InvalidInput, "image ID prefix \"" + text + "\" is ambiguous");
            found = std::move(im);
        }
        if (found) return *found;
        image_not_found(text);
    }
    Reference r = parse_reference(text);
    if (r.digest) {
        if (!store.has_blob(*r.digest)) image_not_found(text);
        return load_image(store, *r.digest);
    }
    auto d = lookup_ref(store, r.str());
    if (!d) image_not_found(text);
    return load_image(store, d->digest);
}

Descriptor write_image(Store& store, const ImageConfig& config, const std::vector<Descriptor>& layers) {
    if (config.diff_ids.size() != layers.size())
        sys::fail(sys::Code::InvalidInput, "write image: " + std::to_string(config.diff_ids.size()) +
                                                      " diff_ids for " + std::to_string(layers.size()) + " layers");
    if (!config.history.empty() && non_empty_layer_count(config) != layers.size())
        sys::fail(sys::Code::InvalidInput, "write image: history has " +
                                                      std::to_string(non_empty_layer_count(config)) +
                                                      " non-empty entries for " + std::to_string(layers.size()) + " layers");
    for (auto& l : layers) {
        if (!store.has_blob(l.digest))
            sys::fail(sys::Code::FailedPrecondition, "write image: layer " + l.digest.str() + " is not in the store");
        if (store.blob_size(l.digest) != l.size)
            sys::fail(sys::Code::InvalidInput, "write image: layer " + l.digest.str() + " has size " +
                                                          std::to_string(store.blob_size(l.digest)) + ", descriptor says " +
                                                          std::to_string(l.size));
    }
    std::string cfg = serialize(config);
    Manifest m;
    m.config.media_type = media::kConfig;
    m.config.digest = store.put(cfg);
    m.config.size = cfg.size();
    m.layers = layers;
    std::string mb = serialize(m);
    Descriptor d;
    d.media_type = media::kManifest;
    d.digest = store.put(mb);
    d.size = mb.size();
    return d;
}

void tag_image(Store& store, const std::string& ref, const Descriptor& manifest) { set_ref(store, ref, manifest); }

std::vector<std::pair<std::string, Descriptor>> list_refs(const Store& store) { return store_refs(store); }

void untag(Store& store, const std::string& ref) {
    if (!remove_ref(store, ref)) sys::fail(sys::Code::NotFound, "image \"" + ref + "\" not found");
}

std::vector<std::string> refs_to(const Store& store, const Digest& manifest) {
    std::vector<std::string> out;
    for (auto& [name, d] : list_refs(store))
        if (d.digest == manifest) out.push_back(name);
    return out;
}

}  // namespace cas
