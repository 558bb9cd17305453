#include "layers/layer_entries.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <exception>

#include "cas/tar_read.hpp"
#include "layers/stream.hpp"
#include "layers/whiteout.hpp"
#include "sys/error.hpp"

namespace layers {
namespace {

struct Src {
    Src(const cas::Store& store, const cas::Digest& d) : in(store.open_blob(d), "layer " + d.str()) {}
    detail::DecompressReader in;
    cas::PullSource tar_source{[this](char* buf, size_t cap) { return in.read(buf, cap); }};
};

char type_char(unsigned t, bool hard) {
    if (hard) return 'h';
    switch (t) {
        case AE_IFDIR: return 'd';
        case AE_IFLNK: return 'l';
        case AE_IFCHR: return 'c';
        case AE_IFBLK: return 'b';
        case AE_IFIFO: return 'p';
        default: return 'f';
    }
}

}  // namespace

void for_each_layer_entry(const cas::Store& store, const cas::Digest& layer,
                          const std::function<void(const LayerEntry&)>& fn) {
    const std::string what = "list layer " + layer.str();
    Src src(store, layer);
    cas::ReadArchive tar;
    struct archive* a = tar.a;
    archive_read_support_format_tar(a);
    auto fail = [&](const std::string& m) {
        src.tar_source.rethrow_if_failed();
        sys::fail(sys::Code::InvalidInput, what + ": " + m + ": " + cas::archive_err(a));
    };
    if (src.tar_source.open(a) != ARCHIVE_OK) fail("not a tar");
    for (;;) {
        struct archive_entry* e = nullptr;
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF) break;
        if (r < ARCHIVE_WARN) fail("bad tar header");
        LayerEntry le;
        const char* p = archive_entry_pathname(e);
        le.path = clean_entry_path(p ? p : "");
        const char* hard = archive_entry_hardlink(e);
        le.type = type_char(archive_entry_filetype(e), hard != nullptr);
        le.size = uint64_t(archive_entry_size(e));
        le.mode = archive_entry_perm(e) & 07777;
        le.uid = uint32_t(archive_entry_uid(e));
        le.gid = uint32_t(archive_entry_gid(e));
        if (hard) le.link = hard;
        else if (const char* s = archive_entry_symlink(e)) le.link = s;
        OciEntry oe = classify_oci_path(le.path);
        if (oe.kind == OciEntry::Kind::Whiteout) {
            le.whiteout = true;
            le.hidden = oe.dir.empty() ? oe.name : oe.dir + "/" + oe.name;
        } else if (oe.kind == OciEntry::Kind::Opaque) {
            le.opaque = true;
            le.hidden = oe.dir;
        }
        fn(le);
    }
}

std::vector<LayerEntry> list_layer(const cas::Store& store, const cas::Digest& layer) {
    std::vector<LayerEntry> out;
    for_each_layer_entry(store, layer, [&](const LayerEntry& e) { out.push_back(e); });
    return out;
}

}  // namespace layers
