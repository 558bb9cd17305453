#include "cas/oci.hpp"
#include "layers/layer.hpp"
#include "sys/error.hpp"

namespace layers {

std::function<cas::Descriptor(const cas::Descriptor&)> compress_on_export(cas::Store& store, Compression c) {
    return [&store, c](const cas::Descriptor& d) {
        if (c == Compression::None) return d;
        if (d.media_type != cas::media::kLayer && d.media_type != cas::media::kDockerLayer) return d;
        LayerBlob lb = recompress(store, d.digest, c);
        cas::Descriptor nd = d;
        nd.media_type = lb.media_type;
        nd.digest = lb.digest;
        nd.size = lb.size;
        return nd;
    };
}

Compression parse_compression(const std::string& name) {
    if (name == "gzip") return Compression::Gzip;
    if (name == "zstd") return Compression::Zstd;
    if (name == "none") return Compression::None;
    throw sys::Error(sys::Code::InvalidInput, "compression \"" + name + "\": want gzip, zstd or none");
}

}  // namespace layers
