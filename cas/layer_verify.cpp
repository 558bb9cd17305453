// verify_layer_stream: one pass over a layer blob through its declared decompressor, a
// digester and libarchive's tar reader (headers only; entry data is skipped, not written).
#include "cas/layer_verify.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <cstring>
#include <exception>
#include <map>
#include <vector>

#include "cas/tar_paths.hpp"
#include "cas/tar_read.hpp"
#include "sys/error.hpp"

namespace cas {
namespace {

[[noreturn]] void bad(const std::string& msg) { sys::fail(sys::Code::InvalidInput, msg); }

// The decompressed stream: hashed, counted against the caps, handed to libarchive.
struct Stream {
    Stream(int fd, Compression c, const std::string& what, uint64_t blob_size, const LayerCaps& caps, LayerBudget b,
           const StreamTaps& taps)
        : in(fd, c, what, taps.compressed), what(what), blob_size(blob_size), caps(caps), budget(b), tee(taps.uncompressed) {}
    Decompressor in;
    std::string what;
    uint64_t blob_size;
    const LayerCaps& caps;
    LayerBudget budget;  // the import's bytes before this layer, plus this layer's so far
    const std::function<void(const char*, size_t)>& tee;
    StreamDigester diff;  // hashed on a second thread while this one decompresses and parses
    PullSource tar_source{[this](char* buf, size_t cap) { return pull(buf, cap); }};

    size_t pull(char* buf, size_t cap) {
        size_t n = in.read(buf, cap);
        diff.update(buf, n);
        if (tee && n > 0) tee(buf, n);
        budget.stream_bytes += n;
        if (budget.stream_bytes > caps.max_total_bytes)
            bad("uncompressed size exceeds the import limit of " + std::to_string(caps.max_total_bytes) + " bytes");
        uint64_t out = in.produced(), used = std::max<uint64_t>(in.consumed(), 1);
        if (out > caps.ratio_min_bytes && out / used > caps.max_ratio)
            bad("compression ratio " + std::to_string(out / used) + ":1 after " + std::to_string(out) +
                " uncompressed bytes exceeds the limit of " + std::to_string(caps.max_ratio) + ":1 (a decompression bomb?)");
        return n;
    }
};

void erase_under(std::set<std::string>& s, const std::string& path, bool self) {
    if (self) s.erase(path);
    std::string lo = path.empty() ? "" : path + "/", hi = path.empty() ? "\xff" : path + "0";  // '0' == '/' + 1
    s.erase(s.lower_bound(lo), s.lower_bound(hi));
}

// Per-entry rules on the layer's own entries (by path, with their type char). What depends on
// the image's earlier layers (their symlinks) is recorded as ops, applied in image order.
class EntryCheck {
public:
    EntryCheck(const LayerCaps& caps, LayerBudget& b, LayerChainOps& ops) : caps_(caps), budget_(b), ops_(ops) {}

    void entry(struct archive_entry* e, const std::string& raw) {
        if (++entries_ > caps_.max_entries) bad("more than " + std::to_string(caps_.max_entries) + " entries");
        check_sizes(e, raw);
        std::string path = clean_entry_path(raw);  // rejects ".."
        unsigned type = archive_entry_filetype(e);
        const char* hard = archive_entry_hardlink(e);
        check_name(path);
        if (path.empty()) {
            if (type != AE_IFDIR || hard) bad("entry replaces the layer root (only a directory may stand at \".\")");
            return;
        }
        OciEntry oe = classify_oci_path(path);  // rejects ".wh." naming nothing
        if (oe.kind == OciEntry::Kind::Meta) return;
        check_ancestors(oe.kind == OciEntry::Kind::Opaque ? oe.dir + "/" : path, raw);
        if (oe.kind == OciEntry::Kind::Opaque) return erase(oe.dir, false);
        if (oe.kind == OciEntry::Kind::Whiteout) return erase(path, true);
        char kind = 'f';
        if (hard) {
            std::string target = clean_entry_path(hard);
            auto it = seen_.find(target);
            if (target.empty() || it == seen_.end() || it->second == 'd')
                bad("hard link target \"" + std::string(hard) +
                    "\" is not an earlier non-directory entry of this layer (missing, later, a directory or outside)");
            kind = 'h';
        } else {
            switch (type) {
                case AE_IFDIR: kind = 'd'; break;
                case AE_IFLNK:
                    kind = 'l';
                    if (!archive_entry_symlink(e)) bad("symlink without a target");
                    break;
                case AE_IFREG: declare(e); break;
                case AE_IFCHR:
                case AE_IFBLK:
                case AE_IFIFO: kind = 'n'; break;
                default: bad("unsupported entry type " + std::to_string(type) + " (sockets and the like cannot be in a layer)");
            }
        }
        // This entry replaces whatever lower layers had at `path` (and below, unless a directory).
        erase(path, kind != 'd');
        if (kind != 'd') erase_under_seen(path);
        seen_[path] = kind;
    }

    // The layer's symlinks stay visible to the image's later layers.
    void finish() {
        for (auto& [p, k] : seen_)
            if (k == 'l') ops_.symlinks.push_back(p);
    }
    uint64_t entries() const { return entries_; }

private:
    void check_sizes(struct archive_entry* e, const std::string& raw) {
        const char* h = archive_entry_hardlink(e);
        const char* s = archive_entry_symlink(e);
        size_t llen = h ? std::strlen(h) : s ? std::strlen(s) : 0;
        if (raw.size() > caps_.max_path_len || llen > caps_.max_path_len)
            bad("path or link target longer than " + std::to_string(caps_.max_path_len) + " bytes");
        if (s && !h && llen > kMaxSymlinkTargetLen)
            bad("symlink target longer than the " + std::to_string(kMaxSymlinkTargetLen) + " bytes symlink(2) stores");
        size_t ext = raw.size() + llen;
        archive_entry_xattr_reset(e);
        const char* name;
        const void* val;
        size_t vlen;
        while (archive_entry_xattr_next(e, &name, &val, &vlen) == ARCHIVE_OK) ext += std::strlen(name) + vlen;
        if (ext > caps_.max_pax_bytes) bad("extended header data larger than " + std::to_string(caps_.max_pax_bytes) + " bytes");
    }

    // A name unpack could never create: a component past NAME_MAX. (A hard link's target is an
    // earlier entry, checked as that entry.)
    void check_name(const std::string& path) {
        if (std::string_view c = overlong_component(path); !c.empty())
            bad("a name of " + std::to_string(c.size()) + " bytes, longer than the " + std::to_string(kMaxNameLen) +
                " a file system can hold (NAME_MAX): \"" + std::string(c.substr(0, 64)) + "...\"");
    }

    // A regular file counts at its declared size: sparse files at their full (apparent) size.
    void declare(struct archive_entry* e) {
        if (!archive_entry_size_is_set(e) || archive_entry_size(e) < 0) bad("regular file without a valid size");
        uint64_t size = uint64_t(archive_entry_size(e));
        if (size > caps_.max_total_bytes || budget_.declared_bytes + size > caps_.max_total_bytes)
            bad("declared size " + std::to_string(size) + " exceeds the import limit of " +
                std::to_string(caps_.max_total_bytes) + " uncompressed bytes (sparse files count in full)");
        budget_.declared_bytes += size;
    }

    // No proper ancestor of `path` may be a symlink: one this layer planted, or one an earlier
    // layer left that this layer has not replaced.
    // (An ancestor this layer has not named yet is checked against the earlier layers' symlinks
    // when the ops are applied; the chain only shrinks while one layer's ops apply, so each
    // ancestor needs checking once.)
    void check_ancestors(const std::string& path, const std::string& raw) {
        for (size_t i = path.find('/'); i != std::string::npos; i = path.find('/', i + 1)) {
            std::string a = path.substr(0, i);
            if (a.empty()) continue;
            auto it = seen_.find(a);
            if (it != seen_.end()) {
                if (it->second == 'l') bad("path goes through the symlink \"" + a + "\" planted by an earlier entry");
                continue;
            }
            if (checked_.insert(a).second) ops_.ops.push_back({LayerChainOps::Op::Check, a, raw});
        }
    }
    void erase(const std::string& path, bool self) {
        ops_.ops.push_back({self ? LayerChainOps::Op::EraseSelf : LayerChainOps::Op::EraseUnder, path, ""});
    }
    void erase_under_seen(const std::string& path) {
        seen_.erase(seen_.lower_bound(path + "/"), seen_.lower_bound(path + "0"));
    }

    const LayerCaps& caps_;
    LayerBudget& budget_;
    LayerChainOps& ops_;
    std::set<std::string> checked_;
    uint64_t entries_ = 0;
    std::map<std::string, char> seen_;  // sorted: a replaced directory drops its subtree
};

}  // namespace

StreamedLayer read_layer_stream(int fd, const Descriptor& layer, const LayerCaps& caps, const LayerBudget& before,
                                const StreamTaps& taps) {
    const std::string what = "layer " + layer.digest.str();
    Compression c = sys::with_context(what, [&] { return compression_for_media_type(layer.media_type); });
    Stream src(fd, c, what, layer.size, caps, before, taps);
    auto fail = [&](const std::string& msg) -> void {
        if (src.tar_source.failed()) {
            try {
                src.tar_source.rethrow_if_failed();
            } catch (const sys::Error& e) {
                if (e.code() == sys::Code::InvalidInput) throw e.wrap(what);
                throw;
            }
        }
        bad(what + ": " + msg);
    };
    ReadArchive tar;
    if (!tar.a) sys::fail(sys::Code::Internal, what + ": archive_read_new failed");
    archive_read_support_format_tar(tar.a);
    archive_read_support_format_empty(tar.a);
    if (src.tar_source.open(tar.a) != ARCHIVE_OK)
        fail("not a tar archive: " + archive_err(tar.a));
    StreamedLayer out;
    LayerBudget declared = before;
    EntryCheck check(caps, declared, out.chain);
    std::string last = "(start)";
    for (;;) {
        struct archive_entry* e = nullptr;
        int r = archive_read_next_header(tar.a, &e);
        if (r == ARCHIVE_EOF) break;
        // ARCHIVE_RETRY is what libarchive answers for a header with a bad checksum.
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) fail("damaged tar after entry \"" + last + "\": " + archive_err(tar.a));
        const char* raw = archive_entry_pathname(e);
        if (!raw) raw = archive_entry_pathname_utf8(e);
        if (!raw) fail("entry without a path after \"" + last + "\"");
        last = raw;
        try {
            check.entry(e, last);
        } catch (const sys::Error& err) {
            throw err.wrap(what + ": entry \"" + last + "\"");
        }
        if (archive_read_data_skip(tar.a) != ARCHIVE_OK) fail("damaged tar in entry \"" + last + "\": " + archive_err(tar.a));
        if (src.tar_source.failed()) fail("");
    }
    check.finish();
    try {
        src.tar_source.drain();  // the diff_id covers the whole stream, padding after the end marker too
    } catch (const sys::Error& e) {
        if (e.code() == sys::Code::InvalidInput) throw e.wrap(what);
        throw;
    }
    out.layer = VerifiedLayer{src.diff.finish(), src.in.produced(), check.entries()};
    out.declared_bytes = declared.declared_bytes - before.declared_bytes;
    return out;
}

VerifiedLayer apply_layer(const StreamedLayer& s, const Descriptor& layer, const Digest& expected_diff_id,
                          const LayerCaps& caps, LayerBudget& budget, LayerChain& chain) {
    const std::string what = "layer " + layer.digest.str();
    if (s.layer.diff_id != expected_diff_id)
        bad(what + ": uncompressed content hashes to " + s.layer.diff_id.str() + " but the config's diff_id is " +
            expected_diff_id.str());
    if (budget.stream_bytes + s.layer.bytes > caps.max_total_bytes)
        bad(what + ": uncompressed size exceeds the import limit of " + std::to_string(caps.max_total_bytes) + " bytes");
    if (budget.declared_bytes + s.declared_bytes > caps.max_total_bytes)
        bad(what + ": declared sizes exceed the import limit of " + std::to_string(caps.max_total_bytes) +
            " uncompressed bytes (sparse files count in full)");
    for (const auto& op : s.chain.ops) {
        if (op.kind == LayerChainOps::Op::Check) {
            if (chain.symlinks.count(op.path))
                bad(what + ": entry \"" + op.entry + "\": path goes through the symlink \"" + op.path +
                    "\" planted by an earlier layer");
        } else {
            erase_under(chain.symlinks, op.path, op.kind == LayerChainOps::Op::EraseSelf);
        }
    }
    chain.symlinks.insert(s.chain.symlinks.begin(), s.chain.symlinks.end());
    budget.stream_bytes += s.layer.bytes;
    budget.declared_bytes += s.declared_bytes;
    return s.layer;
}

VerifiedLayer verify_layer_stream(int fd, const Descriptor& layer, const Digest& expected_diff_id, const LayerCaps& caps,
                                  LayerBudget& budget, LayerChain& chain, const StreamTaps& taps) {
    return apply_layer(read_layer_stream(fd, layer, caps, budget, taps), layer, expected_diff_id, caps, budget, chain);
}

VerifiedLayer verify_layer_stream(const Store& store, const Descriptor& layer, const Digest& expected_diff_id,
                                  const LayerCaps& caps, LayerBudget& budget, LayerChain& chain) {
    sys::UniqueFd fd = store.open_blob(layer.digest);
    return verify_layer_stream(fd.get(), layer, expected_diff_id, caps, budget, chain);
}

}  // namespace cas
