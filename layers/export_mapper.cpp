#include <nlohmann/json.hpp>

#include "cas/oci.hpp"
#include "layers/layer.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"

namespace layers {

namespace {

// cache/compressed/<gzip|zstd>/<hex of the uncompressed blob>: {"digest","size","mediaType"} of
// its compressed form, so a second push or export does not compress the layer again.
std::string memo_path(const cas::Store& store, Compression c, const cas::Digest& d) {
    return store.cache_dir() + "/compressed/" + (c == Compression::Gzip ? "gzip" : "zstd") + "/" + d.hex();
}

std::optional<cas::Descriptor> memo_lookup(const cas::Store& store, Compression c, const cas::Descriptor& d) {
    std::string p = memo_path(store, c, d.digest);
    if (!sys::exists(p)) return std::nullopt;
    try {
        auto j = nlohmann::json::parse(sys::read_file(p, 4096));
        cas::Descriptor nd = d;
        nd.digest = cas::Digest::parse(j.at("digest").get<std::string>());
        nd.size = j.at("size").get<uint64_t>();
        nd.media_type = j.at("mediaType").get<std::string>();
        if (nd.media_type != media_type_for(c) || !store.has_blob(nd.digest)) return std::nullopt;
        return nd;
    } catch (const std::exception&) {
        return std::nullopt;  // a damaged memo: compress again
    }
}

}  // namespace

std::function<cas::Descriptor(const cas::Descriptor&)> compress_on_export(cas::Store& store, Compression c) {
    return [&store, c](const cas::Descriptor& d) {
        if (c == Compression::None) return d;
        if (d.media_type != cas::media::kLayer && d.media_type != cas::media::kDockerLayer) return d;
        if (auto hit = memo_lookup(store, c, d)) return *hit;
        LayerBlob lb = recompress(store, d.digest, c);
        cas::Descriptor nd = d;
        nd.media_type = lb.media_type;
        nd.digest = lb.digest;
        nd.size = lb.size;
        std::string p = memo_path(store, c, d.digest);
        sys::mkdir_p(p.substr(0, p.rfind('/')), 0700);
        sys::write_file_atomic(p, nlohmann::json{{"digest", nd.digest.str()}, {"size", nd.size}, {"mediaType", nd.media_type}}.dump());
        return nd;
    };
}

Compression parse_compression(const std::string& name) {
    if (name == "gzip") return Compression::Gzip;
    if (name == "zstd") return Compression::Zstd;
    if (name == "none") return Compression::None;
    sys::fail(sys::Code::InvalidInput, "compression \"" + name + "\": want gzip, zstd or none");
}

}  // namespace layers
