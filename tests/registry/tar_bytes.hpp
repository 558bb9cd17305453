// In-memory layer blobs for registry tests: a minimal ustar writer (regular files, directories,
// symlinks; any path, including unsafe ones a real tool would refuse to write) and gzip by zlib.
#pragma once
#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace regtest {

struct TarEntry {
    std::string path;
    std::string data;
    char type = '0';  // '0' file, '5' directory, '2' symlink (data = target)
};

inline std::string ustar(const std::vector<TarEntry>& entries) {
    std::string out;
    for (auto& e : entries) {
        char h[512] = {};
        std::snprintf(h, 100, "%s", e.path.c_str());
        std::snprintf(h + 100, 8, "%07o", e.type == '5' ? 0755 : 0644);
        std::snprintf(h + 108, 8, "%07o", 0);
        std::snprintf(h + 116, 8, "%07o", 0);
        size_t size = e.type == '0' ? e.data.size() : 0;
        std::snprintf(h + 124, 12, "%011zo", size);
        std::snprintf(h + 136, 12, "%011o", 0);
        h[156] = e.type;
        if (e.type == '2') std::snprintf(h + 157, 100, "%s", e.data.c_str());
        std::memcpy(h + 257, "ustar\0" "00", 8);
        std::memset(h + 148, ' ', 8);
        unsigned sum = 0;
        for (unsigned char c : h) sum += c;
        std::snprintf(h + 148, 8, "%06o", sum);
        out.append(h, 512);
        if (size) {
            out += e.data;
            out.append((512 - size % 512) % 512, '\0');
        }
    }
    out.append(1024, '\0');
    return out;
}

inline std::string gzip(const std::string& in) {
    z_stream z{};
    if (deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) throw std::runtime_error("deflateInit2");
    std::string out(deflateBound(&z, in.size()) + 64, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = uInt(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = uInt(out.size());
    int rc = deflate(&z, Z_FINISH);
    deflateEnd(&z);
    if (rc != Z_STREAM_END) throw std::runtime_error("deflate");
    out.resize(z.total_out);
    return out;
}

}  // namespace regtest
