#include "cas/fsck.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cas/gc.hpp"
#include "cas/image.hpp"
#include "cas/refs.hpp"
#include "sys/error.hpp"

namespace cas {

Digest hash_blob(const Store& store, const Digest& d) { return store.hash_blob(d); }

static std::vector<std::string> dir_names(const std::string& dir) { return sys::list_dir(dir, /*missing_ok=*/true); }

FsckReport fsck(const Store& store) {
    FsckReport r;
    sys::FileLock lock = store.lock_shared();
    // 1. Every blob hashes to its name; nothing else lives under blobs/sha256.
    for (auto& n : dir_names(store.blobs_dir())) {
        std::string text = "sha256:" + n;
        if (!Digest::valid(text)) {
            r.problems.push_back("stray file blobs/sha256/" + n + " (not a digest)");
            continue;
        }
        Digest d = Digest::parse(text);
        struct stat st;
        if (::lstat(store.blob_path(d).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
            r.problems.push_back("blob " + d.str() + " is not a regular file");
            continue;
        }
        try {
            Digest got = hash_blob(store, d);
            r.blobs_checked++;
            r.bytes_checked += uint64_t(st.st_size);
            if (got != d) r.problems.push_back("blob " + d.str() + ": content does not match its digest (it hashes to " + got.str() + ")");
        } catch (const std::exception& e) {
            r.problems.push_back("blob " + d.str() + ": " + e.what());
        }
    }
    // 2. index.json parses; every root's closure is present with the right sizes.
    std::vector<Descriptor> roots;
    try {
        roots = store_roots(store);
    } catch (const std::exception& e) {
        r.problems.push_back(e.what());
    }
    for (auto& root : roots) {
        auto ann = root.annotations.find(kAnnotationImgbuildRef);
        std::string name = ann != root.annotations.end() ? ann->second : root.digest.str();
        r.refs_checked++;
        MarkResult m = mark({root}, store_reader(store));
        for (auto& p : m.problems) r.problems.push_back("ref " + name + ": " + p);
        for (auto& d : m.reachable)
            if (!store.has_blob(d) && !m.missing.count(d))
                r.problems.push_back("ref " + name + ": blob " + d.str() + " is missing");
        if (m.problems.empty() && is_manifest_type(root.media_type)) {
            try {
                Image im = load_image(store, root.digest);
                if (im.manifest_size != root.size)
                    r.problems.push_back("ref " + name + ": manifest " + root.digest.str() + " size " +
                                         std::to_string(im.manifest_size) + " != descriptor size " + std::to_string(root.size));
                for (auto& l : im.manifest.layers)
                    if (store.has_blob(l.digest) && store.blob_size(l.digest) != l.size)
                        r.problems.push_back("ref " + name + ": layer " + l.digest.str() + " size " +
                                             std::to_string(store.blob_size(l.digest)) + " != descriptor size " +
                                             std::to_string(l.size));
            } catch (const std::exception& e) {
                r.problems.push_back("ref " + name + ": " + e.what());
            }
        }
    }
    r.partial_ingests = dir_names(store.ingest_dir()).size();
    return r;
}

}  // namespace cas
