#include "cli/build_cache.hpp"

#include <cstdio>
#include <functional>
#include <vector>

#include "cas/decompress.hpp"
#include "cas/layer_verify.hpp"
#include "cas/oci.hpp"
#include "cli/remote_util.hpp"
#include "layers/layer.hpp"
#include "registry/transfer.hpp"
#include "sys/buffer.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/io.hpp"
#include "sys/passwd.hpp"

namespace cli {

using nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& m) { sys::fail(sys::Code::InvalidInput, m); }

json record_to_json(const builder::CacheRecord& r) {
    return {{"key", r.key.str()}, {"layer", r.layer ? builder::to_json(*r.layer) : json(nullptr)},
            {"created_by", r.created_by}, {"step", r.step}, {"created", r.created}};
}

builder::CacheRecord record_from(const json& j) {
    builder::CacheRecord r{cas::Digest::parse(j.at("key").get<std::string>()), std::nullopt, "", ""};
    if (!j.at("layer").is_null()) r.layer = builder::layer_from_json(j.at("layer"));
    r.created_by = j.value("created_by", "");
    r.step = j.value("step", "");
    r.created = j.value("created", int64_t(0));
    return r;
}

std::map<std::string, builder::CacheRecord> parse_cache_config(const std::string& bytes, const std::string& where) {
    std::map<std::string, builder::CacheRecord> out;
    try {
        json j = json::parse(bytes);
        for (auto& rj : j.at("records")) {
            builder::CacheRecord r = record_from(rj);
            out.emplace(r.key.str(), r);
        }
    } catch (const sys::Error& e) {
        throw e.wrap(where);
    } catch (const std::exception& e) {
        bad(where + ": not an imgbuild cache config: " + e.what());
    }
    return out;
}

// A blob of an OCI layout directory staged in the store's ingest (size and digest checked),
// not committed. Only a regular file is opened (a FIFO or device there never blocks or runs
// a driver).
sys::UniqueFd open_local_blob(const std::string& dir, const cas::Digest& d, const std::string& what) {
    sys::UniqueFd root = sys::open_dir(dir);
    sys::UniqueFd fd = sys::try_open_regular_in_root(root.get(), cas::layout_blob_rel(d), what);
    if (!fd) sys::throw_errno(what);
    return fd;
}

// Checks a blob's bytes as they are read, in order: `size` bytes hashing to d. add() throws as
// soon as there are too many; finish() after the last.
class BlobCheck {
public:
    BlobCheck(const cas::Digest& d, uint64_t size, std::string what) : d_(d), size_(size), what_(std::move(what)) {}
    void add(const char* p, size_t n) {
        if (h_.size() + n > size_) bad(what_ + " is larger than " + std::to_string(size_) + " bytes");
        h_.update(p, n);
    }
    void finish() {
        if (h_.size() != size_) bad(what_ + " has " + std::to_string(h_.size()) + " bytes, not " + std::to_string(size_));
        cas::Digest got = h_.finish();
        if (got != d_) bad(what_ + " hashes to " + got.str());
    }

private:
    cas::Digest d_;
    uint64_t size_;
    std::string what_;
    cas::Digester h_;
};

cas::BlobWriter stage_local_blob(cas::Store& store, const std::string& dir, const cas::Digest& d, uint64_t size) {
    std::string what = dir + ": blob " + d.str();
    sys::UniqueFd fd = open_local_blob(dir, d, what);
    cas::BlobWriter w = store.writer();
    BlobCheck check(d, size, what);
    sys::ScratchBuffer buf(1 << 20);
    sys::read_chunks(fd.get(), buf.data(), buf.size(), what, [&](const char* p, size_t n) {
        check.add(p, n);
        w.write(p, n);
    });
    check.finish();
    w.seal();
    return w;
}

// Copy a blob from an OCI layout directory into the store (verified).
void copy_local_blob(cas::Store& store, const std::string& dir, const cas::Digest& d, uint64_t size) {
    if (store.has_blob(d)) return;
    stage_local_blob(store, dir, d, size).commit(size, d);
}

}  // namespace

CacheSpec parse_cache_spec(const std::string& text, bool to) {
    CacheSpec s;
    if (text.find('=') == std::string::npos) {  // `--cache-from R` short form
        s.type = "registry";
        s.ref = text;
        return s;
    }
    size_t p = 0;
    while (p <= text.size()) {
        size_t c = text.find(',', p);
        std::string kv = text.substr(p, c == std::string::npos ? std::string::npos : c - p);
        auto eq = kv.find('=');
        std::string k = kv.substr(0, eq), v = eq == std::string::npos ? "" : kv.substr(eq + 1);
        if (k == "type") s.type = v;
        else if (k == "ref" || k == (to ? "dest" : "src")) s.ref = v;
        else if (k == "mode" && (v == "min" || v == "max")) s.max = v == "max";
        else if (k == "ignore-error") s.ignore_error = v == "true";
        else if (k == "compression" && to && (v == "gzip" || v == "zstd" || v == "none")) s.compression = v;
        else bad(std::string(to ? "--cache-to " : "--cache-from ") + text + ": unknown or bad key \"" + kv + "\"");
        if (c == std::string::npos) break;
        p = c + 1;
    }
    if ((s.type != "registry" && s.type != "local") || s.ref.empty())
        bad(std::string(to ? "--cache-to " : "--cache-from ") + text + ": expected type=registry,ref=R or type=local," +
            (to ? "dest" : "src") + "=DIR");
    return s;
}

RemoteCache::RemoteCache(const Globals& g, cas::Store& store, const std::vector<std::string>& from, bool explain_only)
    : g_(g), store_(store), explain_only_(explain_only) {
    for (auto& text : from) {
        Source s{parse_cache_spec(text, false), {}};
        try {
            std::string cfg;
            if (s.spec.type == "local") {
                // Regular files only (a FIFO or device there is never opened): sys::read_root_file.
                sys::UniqueFd dir = sys::open_dir(s.spec.ref);
                auto read = [&](const std::string& rel, size_t cap) {
                    auto data = sys::read_root_file(dir.get(), rel, cap);
                    if (!data) sys::fail(sys::Code::NotFound, s.spec.ref + ": no " + rel);
                    return *data;
                };
                json idx = json::parse(read("index.json", 1 << 20));
                cas::Descriptor md = cas::parse_descriptor(idx.at("manifests").at(0));
                std::string mb = read(cas::layout_blob_rel(md.digest), registry::kMaxManifest);
                if (cas::Digest::of(mb) != md.digest) bad(s.spec.ref + ": manifest does not match its digest");
                cas::Manifest m = cas::parse_manifest(mb, cas::media::kManifest);
                if (m.config.media_type != kCacheMediaType) bad(s.spec.ref + ": not an imgbuild cache");
                copy_local_blob(store_, s.spec.ref, m.config.digest, m.config.size);
                cfg = store_.read_verified(m.config.digest, registry::kMaxConfig);
            } else {
                registry::RemoteRef r = registry::parse_remote_ref(s.spec.ref);
                registry::Client c(r.api_host(), r.repository, registry_options(g_));
                registry::FetchedManifest fm = registry::fetch_manifest(c, r.reference());
                cas::Manifest m = cas::parse_manifest(fm.bytes, fm.media_type);
                if (m.config.media_type != kCacheMediaType) bad(s.spec.ref + ": not an imgbuild cache");
                registry::fetch_blob(c, store_, m.config, registry::kMaxConfig);
                cfg = store_.read_verified(m.config.digest, registry::kMaxConfig);
            }
            s.records = parse_cache_config(cfg, s.spec.ref);
            sources_.push_back(std::move(s));
        } catch (const std::exception& e) {
            std::fprintf(stderr, "warning: --cache-from %s: %s (ignored)\n", text.c_str(), e.what());
        }
    }
}

builder::LayerRef RemoteCache::fetch_layer(const Source& s, const builder::LayerRef& l) {
    cas::Descriptor d;
    d.media_type = l.media_type;
    d.digest = l.digest;
    d.size = l.size;
    const bool compressed = cas::compression_for_media_type(l.media_type) != cas::Compression::None;
    // Layers are kept uncompressed (so the image built from a hit is the one the exporting
    // machine built): a compressed cache layer is decompressed once, while it is verified, into
    // the uncompressed blob; the compressed one is not kept.
    if (!store_.has_blob(l.digest)) {
        // Verified as a pulled or imported layer is (declared decompressor, tar integrity,
        // diff_id, caps, unsafe entries) before anything is committed: a corrupt or hostile
        // cache entry never becomes visible, and the caller rebuilds the step. What is kept is
        // checked against the record's digest (uncompressed) or diff_id (compressed, whose
        // decompressed stream is the blob kept), so a local file that changes between its
        // check and its read cannot slip in.
        std::optional<cas::BlobWriter> w;
        sys::UniqueFd fd;
        std::optional<BlobCheck> in_place;  // a local compressed layer: checked as it is decompressed
        if (s.spec.type == "local" && compressed) {
            // Not copied into the store first: the layer that is kept is the uncompressed stream,
            // checked against the record's diff_id as it is written; the file's own size and
            // digest are checked in the same pass, from the bytes the decompressor reads.
            std::string what = s.spec.ref + ": blob " + l.digest.str();
            fd = open_local_blob(s.spec.ref, l.digest, what);
            in_place.emplace(l.digest, l.size, what);
        } else if (s.spec.type == "local") {
            w.emplace(stage_local_blob(store_, s.spec.ref, l.digest, l.size));
        } else {
            registry::RemoteRef r = registry::parse_remote_ref(s.spec.ref);
            registry::Client c(r.api_host(), r.repository, registry_options(g_));
            w = registry::download_blob(c, store_, d, l.size);
        }
        if (w) fd = w->open_for_read();
        if (fd) {
            cas::LayerCaps caps = g_.config.import_caps();
            cas::LayerBudget before, budget;
            {
                std::lock_guard<std::mutex> lk(mu_);
                before = budget = spent_;  // the cap counts every cache layer of this build, as a pull's
            }
            cas::LayerChain chain;
            std::optional<cas::BlobWriter> plain;
            cas::StreamTaps taps;
            if (in_place) taps.compressed = [&in_place](const char* p, size_t n) { in_place->add(p, n); };
            if (compressed) {
                plain.emplace(store_.writer());
                plain->set_durable(false);  // layer data on the build path, as a step's own diff
                // The verification hashes the stream the blob gets and checks it is l.diff_id:
                // the writer need not hash it a second time.
                plain->set_hashed_by_caller();
                taps.uncompressed = [&plain](const char* p, size_t n) { plain->write(p, n); };
            }
            cas::verify_layer_stream(fd.get(), d, l.diff_id, caps, budget, chain, taps);
            fd.reset();
            if (in_place) in_place->finish();
            {
                std::lock_guard<std::mutex> lk(mu_);  // layers verified at once on other stages count too
                uint64_t stream = spent_.stream_bytes + budget.stream_bytes - before.stream_bytes;
                uint64_t declared = spent_.declared_bytes + budget.declared_bytes - before.declared_bytes;
                if (stream > caps.max_total_bytes || declared > caps.max_total_bytes)
                    bad("layer " + l.digest.str() + ": the cache layers of this build exceed the import limit of " +
                        std::to_string(caps.max_total_bytes) + " bytes");
                spent_ = {stream, declared};
            }
            if (!compressed) {
                w->commit(l.size, l.digest);
                return l;
            }
            if (w) w->abort();
            cas::Digest u = plain->commit(std::nullopt, l.diff_id);  // verified: the stream hashed to it
            return builder::LayerRef{u, u, store_.blob_size(u), layers::media_type_for(layers::Compression::None)};
        }
    } else if (!compressed && l.diff_id != l.digest) {
        bad("cache layer " + l.digest.str() + " is uncompressed but its record gives the diff_id " + l.diff_id.str());
    }
    if (!compressed) return l;
    // The compressed blob is in the store already (e.g. a pulled image's layer).
    layers::LayerBlob u = layers::recompress(store_, l.digest, layers::Compression::None);
    if (u.diff_id != l.diff_id) bad("cache layer " + l.digest.str() + " decompresses to " + u.diff_id.str() + ", not its diff_id " + l.diff_id.str());
    return builder::LayerRef{u.digest, u.diff_id, u.size, u.media_type};
}

std::optional<builder::CacheRecord> RemoteCache::lookup(const cas::Digest& key) {
    for (auto& s : sources_) {
        auto it = s.records.find(key.str());
        if (it == s.records.end()) continue;
        builder::CacheRecord rec = it->second;
        if (rec.layer && !explain_only_) {
            std::string id = s.spec.ref + "@" + rec.layer->digest.str();
            {
                std::lock_guard<std::mutex> l(mu_);
                if (refused_.count(id)) continue;  // reported once; the step runs
            }
            try {
                rec.layer = fetch_layer(s, *rec.layer);  // downloaded on a hit only
            } catch (const sys::Error& e) {
                std::fprintf(stderr, "warning: cache %s: %s (the step is rebuilt)\n", s.spec.ref.c_str(), e.what());
                std::lock_guard<std::mutex> l(mu_);
                refused_.insert(id);
                continue;
            }
        }
        std::lock_guard<std::mutex> l(mu_);
        hits_[key.str()] = s.spec.type + ":" + s.spec.ref;
        return rec;
    }
    return std::nullopt;
}

std::string RemoteCache::source_of(const std::string& key) const {
    std::lock_guard<std::mutex> l(mu_);
    auto it = hits_.find(key);
    return it == hits_.end() ? "" : it->second;
}

namespace {

void export_one(const Globals& g, cas::Store& store, const builder::BuildResult& r, const CacheSpec& spec) {
    builder::Cache cache(store);
    std::string final_stage = r.steps.empty() ? "" : r.steps.back().stage;
    json records = json::array();
    std::vector<cas::Descriptor> layers;
    std::set<cas::Digest> seen;
    std::function<cas::Descriptor(const cas::Descriptor&)> compress;
    if (!spec.compression.empty() && spec.compression != "none")
        compress = layers::compress_on_export(store, layers::parse_compression(spec.compression));
    for (auto& st : r.steps) {
        if (st.cache_key.empty() || (!spec.max && st.stage != final_stage)) continue;
        auto rec = cache.lookup(cas::Digest::parse(st.cache_key));
        if (!rec) continue;
        if (rec->layer && compress) {  // the record names the compressed blob; the diff_id stays
            cas::Descriptor c = compress(cas::Descriptor{rec->layer->media_type, rec->layer->digest, rec->layer->size, {}, std::nullopt, {}, ""});
            rec->layer = builder::LayerRef{c.digest, rec->layer->diff_id, c.size, c.media_type};
        }
        records.push_back(record_to_json(*rec));
        if (rec->layer && seen.insert(rec->layer->digest).second) {
            cas::Descriptor d;
            d.media_type = rec->layer->media_type;
            d.digest = rec->layer->digest;
            d.size = rec->layer->size;
            layers.push_back(d);
        }
    }
    std::string cfg = cas::canonical(json{{"records", records}});
    cas::Manifest m;
    m.artifact_type = kCacheMediaType;
    m.config.media_type = kCacheMediaType;
    m.config.digest = cas::Digest::of(cfg);
    m.config.size = cfg.size();
    m.layers = layers;
    std::string mb = cas::serialize(m);
    if (spec.type == "local") {
        sys::mkdir_p(spec.ref + "/blobs/sha256");
        auto put = [&](const cas::Digest& d, const std::string& data) {
            sys::write_file_atomic(spec.ref + "/blobs/sha256/" + d.hex(), data);
        };
        for (auto& l : layers) {
            std::string path = spec.ref + "/blobs/sha256/" + l.digest.hex();
            if (sys::exists(path)) continue;
            std::string data;
            store.stream_blob(l.digest, [&](const char* p, size_t n) { data.append(p, n); });
            put(l.digest, data);
        }
        put(m.config.digest, cfg);
        put(cas::Digest::of(mb), mb);
        cas::Index idx;
        cas::Descriptor md;
        md.media_type = cas::media::kManifest;
        md.digest = cas::Digest::of(mb);
        md.size = mb.size();
        md.artifact_type = kCacheMediaType;
        idx.manifests.push_back(md);
        sys::write_file_atomic(spec.ref + "/oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
        sys::write_file_atomic(spec.ref + "/index.json", cas::serialize(idx));
        return;
    }
    registry::RemoteRef ref = registry::parse_remote_ref(spec.ref);
    registry::Client c(ref.api_host(), ref.repository, registry_options(g));
    for (auto& l : layers) registry::upload_blob(c, store, l, {});
    store.put(cfg);  // upload_blob reads from the store
    registry::upload_blob(c, store, m.config, {});
    registry::put_manifest(c, ref.reference(), mb, cas::media::kManifest);
}

}  // namespace

void export_cache(const Globals& g, cas::Store& store, const builder::BuildResult& r, const std::vector<std::string>& to) {
    for (auto& text : to) {
        CacheSpec spec = parse_cache_spec(text, true);
        try {
            export_one(g, store, r, spec);
        } catch (const std::exception& e) {
            if (!spec.ignore_error) throw;
            std::fprintf(stderr, "warning: --cache-to %s: %s (ignored)\n", text.c_str(), e.what());
        }
    }
}

}  // namespace cli
