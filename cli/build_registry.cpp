#include "cli/build_registry.hpp"

#include "cli/remote_util.hpp"
#include "registry/transfer.hpp"
#include "sys/error.hpp"

namespace cli {

std::function<cas::Image(cas::Store&, const std::string&)> make_base_resolver(const Globals& g, const std::string& policy,
                                                                             std::shared_ptr<ResolvedBases> rec) {
    registry::Options opts = registry_options(g);
    registry::PullOptions po;
    po.caps = g.config.import_caps();
    return [opts, po, policy, rec](cas::Store& store, const std::string& ref) -> cas::Image {
        // The resolved digest goes into the metadata file and, for a registry reference, into
        // the image's history: an empty-layer entry "FROM REF@DIGEST" after the base's own
        // (dated like the base, so the same base gives the same image).
        auto record = [&](cas::Image im) {
            {
                std::lock_guard<std::mutex> l(rec->mu);
                rec->digests[ref] = im.manifest_digest.str();
            }
            if (registry::names_registry(ref)) {
                cas::HistoryEntry h;
                h.created = im.config.created.value_or("");
                h.created_by = "FROM " + (ref.find('@') == std::string::npos ? ref + "@" + im.manifest_digest.str() : ref);
                h.comment = "imgbuild: base image";
                h.empty_layer = true;
                im.config.history.push_back(h);
            }
            return im;
        };
        bool remote = registry::names_registry(ref) || ref.find('@') != std::string::npos || policy == "always";
        if (policy == "never" || !cas::is_valid_reference(ref) || ref.rfind("sha256:", 0) == 0)
            return record(cas::resolve_image(store, ref));
        if (policy == "missing" || !remote) {
            try {
                return record(cas::resolve_image(store, ref));
            } catch (const sys::Error& e) {
                if (e.code() != sys::Code::NotFound) throw;
            }
        }
        registry::RemoteRef r = registry::parse_remote_ref(ref);
        registry::PullResult pr = registry::pull(store, r, opts, po);
        return record(cas::load_image(store, pr.manifest.digest));
    };
}

std::vector<std::string> take_registry_outputs(std::vector<std::string>& outputs) {
    std::vector<std::string> names, rest;
    for (auto& o : outputs) {
        if (o.find("type=registry") == std::string::npos) {
            rest.push_back(o);
            continue;
        }
        std::string name;
        size_t p = 0;
        while (p <= o.size()) {
            size_t c = o.find(',', p);
            std::string kv = o.substr(p, c == std::string::npos ? std::string::npos : c - p);
            auto eq = kv.find('=');
            std::string k = kv.substr(0, eq), v = eq == std::string::npos ? "" : kv.substr(eq + 1);
            if (k == "name") name = v;
            else if (k != "type" && k != "push") sys::fail(sys::Code::InvalidInput, "--output " + o + ": unknown key \"" + k + "\"");
            if (c == std::string::npos) break;
            p = c + 1;
        }
        if (name.empty()) sys::fail(sys::Code::InvalidInput, "--output " + o + ": type=registry needs name=REF");
        names.push_back(name);
    }
    outputs = rest;
    return names;
}

}  // namespace cli
