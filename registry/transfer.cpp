#include "registry/transfer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <map>
#include <mutex>
#include <set>

#include "cas/layer_verify.hpp"
#include "cas/oci.hpp"
#include "cas/refs.hpp"
#include "cas/transfer.hpp"
#include "sys/error.hpp"
#include "sys/flight.hpp"
#include "sys/parallel.hpp"
#include "sys/slots.hpp"

namespace registry {

namespace {

const char* kAccept =
    "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

[[noreturn]] void bad(const std::string& msg) { sys::fail(sys::Code::InvalidInput, msg); }

std::string strip_params(std::string ct) {
    if (auto p = ct.find(';'); p != std::string::npos) ct.resize(p);
    while (!ct.empty() && ct.back() == ' ') ct.pop_back();
    return ct;
}

// At most Options::max_concurrent blob transfers per registry host, process-wide.
sys::KeyedSlots& host_slots() {
    static sys::KeyedSlots s;
    return s;
}

// A blob downloaded once for this process (one transfer per digest and store): a sealed,
// digest-checked ingest file until the first user commits it, and for a layer what pass 1 of
// its verification found. Shared by every pull (thread) that needs the digest meanwhile.
struct StagedBlob {
    explicit StagedBlob(cas::Descriptor d) : desc(std::move(d)) {}
    cas::Descriptor desc;
    std::mutex mu;
    std::optional<cas::BlobWriter> w;         // nullopt: in the store
    std::optional<cas::StreamedLayer> read;   // layers only
    std::mutex read_mu;                        // filling `read` after the download

    void commit(cas::Store& store) {
        std::lock_guard<std::mutex> l(mu);
        if (w && !store.has_blob(desc.digest)) w->commit(desc.size, desc.digest);
        w.reset();
    }
    sys::UniqueFd open(const cas::Store& store) {
        std::lock_guard<std::mutex> l(mu);
        return w ? w->open_for_read() : store.open_blob(desc.digest);
    }
};

sys::SingleFlight<StagedBlob>& blob_flights() {
    static sys::SingleFlight<StagedBlob> f;
    return f;
}

sys::SingleFlight<bool>& upload_flights() {
    static sys::SingleFlight<bool> f;
    return f;
}

void check_cap(const cas::Descriptor& d, uint64_t cap) {
    if (d.size > cap) bad("blob " + d.digest.str() + ": declared size " + std::to_string(d.size) + " exceeds the cap");
}

// GET the blob into a fresh ingest file (sealed, size and digest checked); with `caps`, pass 1
// of the layer's verification reads the bytes as they arrive (cas::LayerFeed). `cancel` stops
// the transfer (Cancelled) when another transfer of the same pull has failed.
std::shared_ptr<StagedBlob> download(Client& c, cas::Store& store, const cas::Descriptor& d, uint64_t cap,
                                     const cas::LayerCaps* caps, const std::atomic<bool>* cancel) {
    check_cap(d, cap);
    auto s = std::make_shared<StagedBlob>(d);
    std::string what = "blob " + d.digest.str() + " from " + c.host() + "/" + c.repository();
    std::optional<cas::LayerFeed> feed;
    HttpRequest req;
    req.url = "/v2/" + c.repository() + "/blobs/" + d.digest.str();
    req.max_body = d.size;  // more than declared aborts the transfer
    req.sink = [&](const char* p, size_t n) {
        if (cancel && *cancel) sys::fail(sys::Code::Cancelled, "stopped: another transfer failed");
        s->w->write(p, n);
        if (feed) feed->feed(p, n);
    };
    sys::KeyedSlots::Slot slot = host_slots().acquire(c.host(), c.options().max_concurrent);
    HttpResponse r = sys::with_context(what, [&] {
        return c.send(req, false, [&] {
            s->w.emplace(store.writer());
            if (caps) feed.emplace(d, *caps);
        });
    });
    if (r.status != 200) c.fail(what, r);
    cas::Digest got = s->w->seal();
    if (s->w->size() != d.size)
        bad(what + ": got " + std::to_string(s->w->size()) + " bytes, the descriptor says " + std::to_string(d.size));
    if (got != d.digest) bad(what + ": content hashes to " + got.str());
    if (feed) s->read = feed->finish();
    return s;
}

// The blob staged for this process: downloaded by this call, or shared with the call of
// another thread that was already downloading it; nothing transferred when the store has it.
std::shared_ptr<StagedBlob> stage(Client& c, cas::Store& store, const cas::Descriptor& d, uint64_t cap,
                                  const cas::LayerCaps* caps, const std::atomic<bool>* cancel) {
    std::shared_ptr<StagedBlob> s;
    while (!s) {
        try {
            s = blob_flights().run(store.root() + "\n" + d.digest.str(), [&] {
                if (!store.has_blob(d.digest)) return download(c, store, d, cap, caps, cancel);
                return std::make_shared<StagedBlob>(d);
            });
        } catch (const sys::Error& e) {
            // The transfer this call waited for was stopped by the failure of another pull: try again.
            if (e.code() != sys::Code::Cancelled || (cancel && *cancel)) throw;
        }
    }
    if (caps) {  // in the store already, or staged by a caller that did not verify it: read it here
        std::lock_guard<std::mutex> l(s->read_mu);
        if (!s->read) {
            sys::UniqueFd fd = s->open(store);
            s->read = cas::read_layer_stream(fd.get(), d, *caps);
        }
    }
    return s;
}

}  // namespace

FetchedManifest fetch_manifest(Client& c, const std::string& reference) {
    HttpRequest req;
    req.url = "/v2/" + c.repository() + "/manifests/" + reference;
    req.headers.push_back(kAccept);
    req.max_body = kMaxManifest;
    std::string what = "manifest " + c.host() + "/" + c.repository() + ":" + reference;
    HttpResponse r = sys::with_context(what, [&] { return c.send(req); });
    if (r.status != 200) c.fail(what, r);
    FetchedManifest m{r.body, "", cas::Digest::of(r.body)};
    std::string ct = strip_params(r.header("content-type"));
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(r.body);
    } catch (const nlohmann::json::exception&) {
        bad(what + ": not JSON");
    }
    std::string mt = j.is_object() && j.contains("mediaType") && j["mediaType"].is_string() ? j["mediaType"].get<std::string>() : "";
    if (!mt.empty() && !ct.empty() && mt != ct)
        bad(what + ": mediaType " + mt + " differs from the Content-Type " + ct);
    m.media_type = mt.empty() ? ct : mt;
    if (!cas::is_manifest_type(m.media_type) && !cas::is_index_type(m.media_type))
        bad(what + ": unsupported media type \"" + m.media_type + "\"");
    std::string dcd = r.header("docker-content-digest");
    if (!dcd.empty() && dcd != m.digest.str())
        bad(what + ": Docker-Content-Digest " + dcd + " does not match the content (" + m.digest.str() + ")");
    if (cas::Digest::valid(reference) && cas::Digest::parse(reference) != m.digest)
        bad(what + ": content hashes to " + m.digest.str());
    return m;
}

std::optional<cas::BlobWriter> download_blob(Client& c, cas::Store& store, const cas::Descriptor& d, uint64_t cap) {
    if (store.has_blob(d.digest)) return std::nullopt;
    return std::move(download(c, store, d, cap, nullptr, nullptr)->w);
}

std::string fetch_small_blob(Client& c, const cas::Descriptor& d, uint64_t cap) {
    check_cap(d, cap);
    std::string what = "blob " + d.digest.str() + " from " + c.host() + "/" + c.repository();
    HttpRequest req;
    req.url = "/v2/" + c.repository() + "/blobs/" + d.digest.str();
    req.max_body = d.size;
    HttpResponse r = sys::with_context(what, [&] { return c.send(req); });
    if (r.status != 200) c.fail(what, r);
    if (r.body.size() != d.size)
        bad(what + ": got " + std::to_string(r.body.size()) + " bytes, the descriptor says " + std::to_string(d.size));
    if (cas::Digest::of(r.body) != d.digest) bad(what + ": content hashes to " + cas::Digest::of(r.body).str());
    return r.body;
}

void fetch_blob(Client& c, cas::Store& store, const cas::Descriptor& d, uint64_t cap) {
    stage(c, store, d, cap, nullptr, nullptr)->commit(store);
}

PullResult pull(cas::Store& store, const RemoteRef& ref, const Options& opts, const PullOptions& po) {
    Client c(ref.api_host(), ref.repository, opts);
    sys::FileLock lock = store.lock_shared();
    FetchedManifest top = fetch_manifest(c, ref.reference());
    PullResult res{{}, top.digest, ""};
    FetchedManifest man = top;
    if (cas::is_index_type(top.media_type)) {
        cas::Index idx = cas::parse_index(top.bytes, top.media_type);
        std::string arch = po.architecture.empty() ? cas::host_architecture() : po.architecture;
        std::optional<cas::Descriptor> pick;
        std::string seen;
        for (auto& m : idx.manifests) {
            if (!m.platform) continue;
            seen += " " + m.platform->os + "/" + m.platform->architecture;
            if (m.platform->os == po.os && m.platform->architecture == arch &&
                (po.variant.empty() || m.platform->variant == po.variant) && !pick)
                pick = m;
        }
        if (!pick) sys::fail(sys::Code::NotFound, ref.str() + ": no image for " + po.os + "/" + arch + " (index has" + seen + ")");
        man = fetch_manifest(c, pick->digest.str());
        if (man.digest != pick->digest || man.bytes.size() != pick->size)
            bad(ref.str() + ": manifest " + pick->digest.str() + " does not match its index entry");
        if (!cas::is_manifest_type(man.media_type)) bad(ref.str() + ": nested index is not supported");
        store.put(top.bytes);
    }
    cas::Manifest m = sys::with_context("manifest " + man.digest.str(), [&] { return cas::parse_manifest(man.bytes, man.media_type); });
    // Nothing becomes visible before every layer is verified: config and layers are staged
    // (sealed, digest-checked ingest files), verified in order, then committed together.
    bool have_config = store.has_blob(m.config.digest);
    std::string config = have_config ? store.read_verified(m.config.digest, kMaxConfig) : fetch_small_blob(c, m.config, kMaxConfig);
    cas::ImageConfig cfg = sys::with_context("config " + m.config.digest.str(), [&] { return cas::parse_config(config); });
    if (cfg.diff_ids.size() != m.layers.size())
        bad(ref.str() + ": config has " + std::to_string(cfg.diff_ids.size()) + " diff_ids but the manifest has " +
            std::to_string(m.layers.size()) + " layers");
    // Layers are downloaded in parallel (at most max_concurrent per registry, one transfer per
    // digest), each read by pass 1 of its verification while it arrives; pass 2 (diff_ids,
    // budget, symlinks of earlier layers) runs in layer order once all are there.
    std::vector<cas::Descriptor> uniq;
    std::map<cas::Digest, size_t> index;
    for (const auto& l : m.layers) {
        if (!cas::is_layer_type(l.media_type)) bad(ref.str() + ": layer " + l.digest.str() + " has media type " + l.media_type);
        if (index.emplace(l.digest, uniq.size()).second) uniq.push_back(l);  // descriptor urls are ignored
    }
    std::vector<std::shared_ptr<StagedBlob>> staged(uniq.size());
    std::atomic<bool> cancel{false};
    sys::parallel_for(uniq.size(), size_t(opts.max_concurrent), [&](size_t i) {
        const cas::Descriptor& l = uniq[i];
        if (opts.log && !store.has_blob(l.digest)) opts.log("pulling " + l.digest.short_hex() + " (" + std::to_string(l.size) + " bytes)");
        staged[i] = sys::with_context(ref.str(), [&] { return stage(c, store, l, l.size, &po.caps, &cancel); });
    }, &cancel);
    cas::LayerBudget budget;
    cas::LayerChain chain;
    for (size_t i = 0; i < m.layers.size(); i++) {
        const StagedBlob& s = *staged[index.at(m.layers[i].digest)];
        sys::with_context(ref.str(), [&] { cas::apply_layer(*s.read, m.layers[i], cfg.diff_ids[i], po.caps, budget, chain); });
    }
    for (auto& s : staged) s->commit(store);
    if (!have_config) store.put(config);
    cas::Digest put = store.put(man.bytes);
    if (put != man.digest) bad("manifest digest changed while storing");
    res.manifest.media_type = man.media_type;
    res.manifest.digest = man.digest;
    res.manifest.size = man.bytes.size();
    if (po.tag && !ref.tag.empty()) {
        res.local_name = cas::normalize_ref(ref.name() + ":" + ref.tag);
        cas::tag_image(store, res.local_name, res.manifest);
    }
    return res;
}

cas::Digest resolve_digest(const RemoteRef& ref, const Options& opts) {
    Client c(ref.api_host(), ref.repository, opts);
    return fetch_manifest(c, ref.reference()).digest;
}

// "0-N" (a Range header of an upload session): the next offset, N+1. distribution answers
// "0-0" for an empty session too; a wrong guess there fails the final digest check (and the
// upload restarts).
std::optional<uint64_t> upload_offset(const std::string& range) {
    if (range.rfind("0-", 0) != 0) return std::nullopt;
    try {
        size_t used = 0;
        uint64_t end = std::stoull(range.substr(2), &used);
        if (used != range.size() - 2) return std::nullopt;
        return end == 0 ? 0 : end + 1;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

namespace {

// PATCH the blob in chunks into the session at LOC, then PUT ?digest=. After a chunk fails
// (cut connection, 5xx, 416) the session is asked where it stands (GET LOC -> Range) and the
// upload continues from the registry's offset. false: the session is gone (start over).
bool upload_chunks(Client& c, const cas::Store& store, const cas::Descriptor& d, std::string loc, const std::string& what) {
    sys::UniqueFd fd = store.open_blob(d.digest);
    uint64_t off = 0, chunk = c.options().chunk_size;
    int failures = 0;
    while (off < d.size) {
        uint64_t n = std::min(chunk, d.size - off);
        HttpRequest patch;
        patch.method = "PATCH";
        patch.url = loc;
        patch.headers.push_back("Content-Type: application/octet-stream");
        patch.headers.push_back("Content-Range: " + std::to_string(off) + "-" + std::to_string(off + n - 1));
        patch.body.resize(size_t(n));
        for (uint64_t got = 0; got < n;) {
            ssize_t k = ::pread(fd.get(), patch.body.data() + got, size_t(n - got), off_t(off + got));
            if (k <= 0) sys::throw_errno(what + ": read blob");
            got += uint64_t(k);
        }
        std::optional<HttpResponse> r;
        try {
            r = c.send_once(patch, true);
        } catch (const sys::Error& e) {
            if (e.code() != sys::Code::System) throw;
        }
        if (r && r->status == 202) {
            if (!r->header("location").empty()) loc = resolve_url(loc, r->header("location"));
            auto next = upload_offset(r->header("range"));
            off = next && *next <= off + n ? *next : off + n;
            continue;
        }
        if (r && r->status != 416 && !(r->status >= 500 || r->status == 429)) c.fail(what, *r);
        if (++failures > c.options().retries) bad(what + ": chunk at offset " + std::to_string(off) + " failed too often");
        // Where does the session stand? (distribution appends a re-sent chunk: never re-send blindly.)
        HttpRequest status;
        status.url = loc;
        HttpResponse st = c.send(status, true);
        if (st.status == 404) return false;
        if (st.status != 204 && st.status != 200) c.fail(what, st);
        if (!st.header("location").empty()) loc = resolve_url(loc, st.header("location"));
        auto next = upload_offset(st.header("range"));
        if (!next || *next > d.size) return false;
        if (c.options().log) c.options().log("upload " + d.digest.short_hex() + ": resuming at offset " + std::to_string(*next));
        off = *next;
    }
    loc += (loc.find('?') == std::string::npos ? "?" : "&") + std::string("digest=") + d.digest.str();
    HttpRequest put;
    put.method = "PUT";
    put.url = loc;
    HttpResponse pr = c.send_once(put, true);
    if (pr.status == 201) return true;
    if (pr.status == 400 || pr.status == 404) return false;  // digest invalid (a bad resume) or session gone
    c.fail(what, pr);
}

}  // namespace

namespace {

void upload_one(Client& c, const cas::Store& store, const cas::Descriptor& d, const std::vector<std::string>& mount_from) {
    std::string what = "upload " + d.digest.str() + " to " + c.host() + "/" + c.repository();
    std::string path = "/v2/" + c.repository() + "/blobs/";
    HttpRequest head;
    head.url = path + d.digest.str();
    head.head = true;
    HttpResponse h = sys::with_context(what, [&] { return c.send(head, true); });
    if (h.status == 200) return;
    for (auto& from : mount_from) {
        if (from == c.repository()) continue;
        HttpRequest m;
        m.method = "POST";
        m.url = path + "uploads/?mount=" + d.digest.str() + "&from=" + from;
        HttpResponse r = sys::with_context(what, [&] { return c.send(m, true); });
        if (r.status == 201) {
            if (c.options().log) c.options().log("mounted " + d.digest.short_hex() + " from " + from);
            return;
        }
    }
    for (int i = 0;; i++) {
        HttpRequest post;
        post.method = "POST";
        post.url = path + "uploads/";
        HttpResponse r = sys::with_context(what, [&] { return c.send(post, true); });
        if (r.status != 202 || r.header("location").empty()) c.fail(what, r);
        std::string loc = resolve_url(c.base_url() + post.url, r.header("location"));
        uint64_t chunk = c.options().chunk_size;
        try {
            if (chunk && d.size > chunk) {
                if (upload_chunks(c, store, d, loc, what)) return;
                if (i >= c.options().retries) bad(what + ": the upload session was lost");
                continue;  // session gone: start a new one
            }
            loc += (loc.find('?') == std::string::npos ? "?" : "&") + std::string("digest=") + d.digest.str();
            sys::UniqueFd fd;
            HttpRequest put;
            put.method = "PUT";
            put.url = loc;
            put.headers.push_back("Content-Type: application/octet-stream");
            put.read_size = d.size;
            put.read = [&](char* b, size_t n) -> size_t {
                ssize_t k = ::read(fd.get(), b, n);
                return k < 0 ? 0 : size_t(k);
            };
            // Each attempt re-reads the blob from the start (a fresh upload session on retry).
            HttpResponse pr = c.send(put, true, [&] { fd = store.open_blob(d.digest); });
            if (pr.status == 201) return;
            if (i >= c.options().retries || pr.status < 500) c.fail(what, pr);
        } catch (const sys::Error& e) {
            if (e.code() != sys::Code::System || i >= c.options().retries) throw e.wrap(what);
        }
    }
}

}  // namespace

void upload_blob(Client& c, const cas::Store& store, const cas::Descriptor& d, const std::vector<std::string>& mount_from) {
    upload_flights().run(c.host() + "/" + c.repository() + "\n" + d.digest.str(), [&] {
        sys::KeyedSlots::Slot slot = host_slots().acquire(c.host(), c.options().max_concurrent);
        upload_one(c, store, d, mount_from);
        return std::make_shared<bool>(true);
    });
}

cas::Digest put_manifest(Client& c, const std::string& reference, const std::string& bytes, const std::string& media_type) {
    std::string what = "push manifest " + c.host() + "/" + c.repository() + ":" + reference;
    HttpRequest req;
    req.method = "PUT";
    req.url = "/v2/" + c.repository() + "/manifests/" + reference;
    req.headers.push_back("Content-Type: " + media_type);
    req.body = bytes;
    HttpResponse r = sys::with_context(what, [&] { return c.send(req, true); });
    if (r.status != 201 && r.status != 200) c.fail(what, r);
    cas::Digest d = cas::Digest::of(bytes);
    std::string dcd = r.header("docker-content-digest");
    if (!dcd.empty() && dcd != d.str()) bad(what + ": registry stored " + dcd + ", expected " + d.str());
    return d;
}

cas::Digest push(const cas::Store& store, const cas::Image& image, const RemoteRef& dest, const Options& opts,
                 const PushOptions& po) {
    Client c(dest.api_host(), dest.repository, opts);
    cas::Manifest m = image.manifest;
    // Blobs go up in parallel (at most max_concurrent per registry; one upload per digest):
    // each layer mapped (compressed) first, the config as it is; the manifest last.
    std::vector<cas::Descriptor> blobs;
    std::map<cas::Digest, size_t> index;
    for (const auto& l : m.layers)
        if (index.emplace(l.digest, blobs.size()).second) blobs.push_back(l);
    size_t n_layers = blobs.size();
    if (index.emplace(m.config.digest, blobs.size()).second) blobs.push_back(m.config);
    std::vector<cas::Descriptor> sent(blobs.size());
    std::atomic<bool> cancel{false};
    sys::parallel_for(blobs.size(), size_t(opts.max_concurrent), [&](size_t i) {
        cas::Descriptor d = blobs[i];
        if (i < n_layers && po.map_layer) {
            d = po.map_layer(d);
            if (d.media_type == cas::media::kDockerLayerGzip) d.media_type = cas::media::kLayerGzip;
            if (d.media_type == cas::media::kDockerLayer) d.media_type = cas::media::kLayer;
        }
        if (opts.log) opts.log("pushing " + d.digest.short_hex() + " (" + std::to_string(d.size) + " bytes)");
        upload_blob(c, store, d, po.mount_from);
        sent[i] = d;
    }, &cancel);
    for (auto& l : m.layers) l = sent[index.at(l.digest)];
    std::string bytes;
    std::string mt = image.manifest_media_type.empty() ? cas::media::kManifest : image.manifest_media_type;
    if (po.map_layer) {
        // Re-encoded layers carry OCI media types: the manifest becomes an OCI manifest.
        mt = cas::media::kManifest;
        m.media_type = mt;
        if (m.config.media_type == cas::media::kDockerConfig) m.config.media_type = cas::media::kConfig;
        bytes = cas::serialize(m);
    } else {
        bytes = store.read_verified(image.manifest_digest, kMaxManifest);
    }
    return put_manifest(c, dest.reference(), bytes, mt);
}

}  // namespace registry
