// The end of a build: the image (config + manifest) in the store, its tags, and the
// requested outputs (an OCI layout or docker-archive tar, or the final rootfs as files).
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "context/copy.hpp"
#include "context/dockerignore.hpp"
#include "builder/solver_internal.hpp"
#include "cas/transfer.hpp"
#include "layers/layer.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/env.hpp"
#include "sys/path.hpp"

namespace builder {

using sys::Code;
using sys::Error;

// "k=v,k=v" (docker buildx option syntax); a key without '=' gets an empty value.
static std::vector<std::pair<std::string, std::string>> parse_kv_list(const std::string& text) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& kv : sys::split_fields(text, ',')) out.push_back(sys::split_kv(kv));
    return out;
}

SecretSpec parse_secret_spec(const std::string& text) {
    SecretSpec s;
    std::string type;
    for (const auto& [k, v] : parse_kv_list(text)) {
        if (k == "id") s.id = v;
        else if (k == "src" || k == "source") s.src = v;
        else if (k == "env") s.env = v;
        else if (k == "type") type = v;
        else sys::fail(Code::InvalidInput, "--secret " + text + ": unknown key \"" + k + "\"");
    }
    if (s.id.empty()) sys::fail(Code::InvalidInput, "--secret " + text + ": id= is required");
    if (type == "env" && s.env.empty()) {
        s.env = s.src.empty() ? s.id : s.src;
        s.src.clear();
    }
    if (s.src.empty() && s.env.empty()) sys::fail(Code::InvalidInput, "--secret " + text + ": want src=FILE or env=VAR");
    return s;
}

OutputSpec parse_output_spec(const std::string& text) {
    if (text.find('=') == std::string::npos) return {"local", text};
    OutputSpec o;
    for (const auto& [k, v] : parse_kv_list(text)) {
        if (k == "type") o.type = v;
        else if (k == "dest") o.dest = v;
        else if (k == "preserve-owner" && (v == "true" || v == "false")) o.preserve_owner = v == "true";
        else if (k == "preserve-owner") sys::fail(Code::InvalidInput, "--output " + text + ": preserve-owner must be true or false");
        else sys::fail(Code::InvalidInput, "--output " + text + ": unknown key \"" + k + "\"");
    }
    if (o.type != "oci" && o.type != "docker" && o.type != "local")
        sys::fail(Code::InvalidInput, "--output " + text + ": type must be oci, docker or local");
    if (o.dest.empty()) sys::fail(Code::InvalidInput, "--output " + text + ": dest= is required");
    if (o.preserve_owner && o.type != "local") sys::fail(Code::InvalidInput, "--output " + text + ": preserve-owner is for type=local");
    return o;
}

// The user files written to the host belong to: the caller, or under sudo the user who ran sudo.
static Owner invoking_user() {
    Owner o{uint32_t(::getuid()), uint32_t(::getgid())};
    if (o.uid != 0) return o;
    const char* u = std::getenv("SUDO_UID");
    const char* g = std::getenv("SUDO_GID");
    auto num = [](const char* s, uint32_t* out) {
        if (!s || !*s || std::strlen(s) > 10) return false;
        for (const char* p = s; *p; p++)
            if (*p < '0' || *p > '9') return false;
        unsigned long long v = std::strtoull(s, nullptr, 10);
        if (v > 0xfffffffeull) return false;
        *out = uint32_t(v);
        return true;
    };
    Owner sudo = o;
    if (num(u, &sudo.uid) && num(g, &sudo.gid)) return sudo;
    return o;
}

// The final root as files in `dest` on the host: never setuid/setgid, file capabilities or
// device nodes (a warning lists the ones skipped); paths resolved inside dest, so a symlink
// already there cannot lead the writes out of it.
static void write_local(Solver& s, const StageState& st, const OutputSpec& out) {
    const std::string& dest = out.dest;
    sys::mkdir_p(dest);
    MountedRoot view = MountedRoot::view(s.store, s.snaps, s.chain_of(st));
    sys::UniqueFd vfd = sys::open_dir(view.path());
    sys::UniqueFd dfd = sys::open_dir(dest);
    SourceRoot src{vfd.get(), nullptr, false, "final image"};
    CopySpec spec;
    spec.sources = {"/"};
    spec.dest = "/";
    spec.to_host = true;
    if (out.preserve_owner) spec.preserve_owner = true;
    else spec.chown = invoking_user();
    spec.label = "--output type=local";
    CopyPlan plan = plan_copy(src, spec);
    CopyStats stats = execute_copy(src, plan, dfd.get());
    if (!stats.skipped_devices.empty()) {
        std::string list;
        for (const auto& d : stats.skipped_devices) list += (list.empty() ? "" : ", ") + ("/" + d);
        s.progress.info("warning: --output type=local: skipped " + std::to_string(stats.skipped_devices.size()) +
                        " device node(s): " + list);
    }
}

BuildResult finish_build(Solver& s, const StageState& fin, std::vector<StepReport> reports) {
    cas::ImageConfig config = fin.config;
    config.created = fin.created.empty() ? s.timestamp() : fin.created;
    config.architecture = host_platform().arch;
    config.os = "linux";
    for (const auto& [k, v] : s.opts.labels) config.config.labels[k] = v;
    BuildResult r;
    r.manifest = cas::write_image(s.store, config, fin.layers);
    cas::Image img = cas::load_image(s.store, r.manifest.digest);
    r.config_digest = img.config_digest;
    for (const auto& t : s.opts.tags) {
        cas::tag_image(s.store, t, r.manifest);
        r.tags.push_back(t);
    }
    for (const auto& o : s.opts.outputs) {
        if (o.type == "local") {
            write_local(s, fin, o);
            s.progress.info("exported the root filesystem to " + o.dest);
            continue;
        }
        cas::ExportOptions eo;
        eo.format = o.type == "docker" ? cas::ExportFormat::Docker : cas::ExportFormat::Oci;
        eo.names = s.opts.tags;
        if (eo.format == cas::ExportFormat::Oci) eo.map_layer = layers::compress_on_export(s.store, s.opts.export_compression);
        cas::export_image(s.store, img, o.dest, eo);
        s.progress.info("exported " + o.type + " image to " + o.dest);
    }
    r.steps = std::move(reports);
    return r;
}

}  // namespace builder
