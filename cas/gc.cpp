#include "cas/gc.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cas/refs.hpp"
#include "sys/error.hpp"

namespace cas {

MarkResult mark(const std::vector<Descriptor>& roots, const BlobReader& read) {
    MarkResult r;
    std::vector<Descriptor> stack(roots.rbegin(), roots.rend());
    while (!stack.empty()) {
        Descriptor d = std::move(stack.back());
        stack.pop_back();
        if (!r.reachable.insert(d.digest).second) continue;
        bool manifest = is_manifest_type(d.media_type), index = is_index_type(d.media_type);
        if (!manifest && !index) continue;
        try {
            std::optional<std::string> bytes = read(d.digest);
            if (!bytes) {
                r.missing.insert(d.digest);
                r.problems.push_back((manifest ? "manifest " : "index ") + d.digest.str() + " is missing");
                continue;
            }
            if (manifest) {
                Manifest m = parse_manifest(*bytes, d.media_type);
                for (auto it = m.layers.rbegin(); it != m.layers.rend(); ++it) stack.push_back(*it);
                stack.push_back(m.config);
                if (m.subject) stack.push_back(*m.subject);
            } else {
                Index i = parse_index(*bytes, d.media_type);
                for (auto it = i.manifests.rbegin(); it != i.manifests.rend(); ++it) stack.push_back(*it);
            }
        } catch (const std::exception& e) {
            r.problems.push_back(std::string(manifest ? "manifest " : "index ") + d.digest.str() + ": " + e.what());
        }
    }
    return r;
}

std::vector<Descriptor> store_roots(const Store& store) { return read_store_index(store).manifests; }

BlobReader store_reader(const Store& store) {
    return [&store](const Digest& d) -> std::optional<std::string> {
        if (!store.has_blob(d)) return std::nullopt;
        return store.read_verified(d, kMaxManifestBytes);
    };
}

// Remove ingest files no live writer holds (a writer keeps an exclusive flock on its file).
static void sweep_ingest(const Store& store, GcResult& res, bool dry_run) {
    std::string dir = store.ingest_dir();
    std::vector<std::string> names;
    try {
        names = sys::list_dir(dir, /*missing_ok=*/true);
    } catch (const sys::Error&) {
        return;  // unreadable ingest dir: nothing to sweep (as before)
    }
    for (auto& n : names) {
        std::string p = dir + "/" + n;
        sys::UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
        if (!fd) continue;
        if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;  // in use
        struct stat st;
        if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (!dry_run && ::unlink(p.c_str()) != 0) continue;
        res.ingest_files_removed++;
        res.ingest_bytes_freed += uint64_t(st.st_size);
    }
}

GcResult collect_garbage(Store& store, const GcOptions& opts) {
    sys::FileLock lock = store.lock_exclusive();
    std::vector<Descriptor> roots = store_roots(store);
    roots.insert(roots.end(), opts.extra_root_descriptors.begin(), opts.extra_root_descriptors.end());
    MarkResult m = mark(roots, store_reader(store));
    if (!m.problems.empty())
        sys::fail(sys::Code::FailedPrecondition,
                         "garbage collection refused, the store is damaged (run imgbuild fsck): " + m.problems.front());
    for (auto& d : opts.extra_roots) m.reachable.insert(d);
    if (opts.extra_roots_hook)
        for (auto& d : opts.extra_roots_hook(store)) m.reachable.insert(d);
    GcResult res;
    for (auto& d : store.list_blobs()) {
        if (m.reachable.count(d)) continue;
        uint64_t size = store.blob_size(d);
        if (!opts.dry_run) store.delete_blob(d);
        res.removed.emplace_back(d, size);
        res.bytes_freed += size;
    }
    if (!opts.dry_run && !res.removed.empty()) sys::fsync_path(store.blobs_dir());
    sweep_ingest(store, res, opts.dry_run);
    return res;
}

}  // namespace cas
