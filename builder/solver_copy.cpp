// COPY / ADD: key from the selected sources' content, cache hit, or copy into a writable
// snapshot on fds (builder/copy.hpp), then diff like a RUN.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include "context/copy.hpp"
#include "builder/solver_internal.hpp"
#include "builder/step_inputs.hpp"
#include "layers/layer.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"
#include "sys/path.hpp"

namespace builder {

using nlohmann::json;
using sys::Code;
using sys::Error;

namespace {

// DirectRoot for a writable MountedRoot: `base` (just created through the overlay, absent
// from every lower layer) is the same directory in the upper dir when it resolves there
// without symlinks to the same inode. Then the overlay is unmounted (writing under a mounted
// overlay's upper dir is undefined) and the upper dir is the root; else -1.
int direct_upper(MountedRoot& root, int merged_fd, const std::string& base, sys::UniqueFd& upper_fd) {
    sys::UniqueFd upper = sys::open_dir(root.upper_dir());
    std::string rel = base;
    while (!rel.empty() && rel[0] == '/') rel.erase(0, 1);
    if (rel.empty()) return -1;
    int fd = sys::openat2_fd(upper.get(), rel.c_str(), O_PATH | O_DIRECTORY,
                             RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV);
    if (fd < 0) return -1;
    sys::UniqueFd in_upper{fd};
    struct stat a, b;
    if (::fstatat(merged_fd, rel.c_str(), &a, AT_SYMLINK_NOFOLLOW) != 0 || ::fstat(in_upper.get(), &b) != 0) return -1;
    if (!S_ISDIR(a.st_mode) || a.st_ino != b.st_ino) return -1;
    root.unmount();
    upper_fd = std::move(upper);
    return upper_fd.get();
}

}  // namespace

void execute_copy_step(Solver& s, const StageState& st, const Instruction& in, size_t idx, int step_id,
                       StepOutcome& out) {
    CopySpec spec;
    spec.instruction = in.kind == Instruction::Kind::Add ? "ADD" : "COPY";
    spec.dest = in.dest;
    spec.workdir = st.config.config.working_dir.empty() ? "/" : st.config.config.working_dir;
    spec.excludes = in.excludes;
    spec.parents = in.parents;
    spec.link = in.link;
    if (!in.chmod.empty()) {
        size_t used = 0;
        unsigned long m = 0;
        try {
            m = std::stoul(in.chmod, &used, 8);
        } catch (...) {
            used = 0;
        }
        if (used != in.chmod.size() || m > 07777)
            sys::fail(Code::InvalidInput, "--chmod=" + in.chmod + ": want an octal mode such as 0755");
        spec.chmod = uint32_t(m);
    }
    if (!in.checksum.empty()) spec.checksum = in.checksum;
    // The parser moves heredoc sources (`COPY <<EOF /dst`) out of srcs into heredocs.
    spec.sources = in.srcs;
    std::vector<const Heredoc*> heredocs;
    for (const auto& h : in.heredocs) heredocs.push_back(&h);

    // Where the sources come from.
    StageRef ref;
    std::shared_ptr<const StageState> from_stage;
    std::optional<std::string> from_key, content;
    std::optional<CopyPlan> ctx_plan;
    if (!in.from.empty()) {
        ref = s.from_ref(st, idx, in.from);
        if (ref.stage >= 0) {
            from_stage = s.finished_stage(ref.stage);
            from_key = from_stage->key;
        } else {
            from_key = s.image(ref.image).manifest_digest.str();
        }
    } else if (!spec.sources.empty()) {
        std::lock_guard<std::mutex> l(s.statcache->mu);
        ctx_plan = plan_copy(s.context->root(), spec);
        content = content_digest(s.context->root(), *ctx_plan, &s.statcache->cache()).str();
    }
    const json inputs = copy_inputs(st, in, from_key, content);
    cas::Digest key = cache_key(inputs);
    out.key = key.str();
    std::string step_ident = s.step_identity(st, idx);
    // For `cache explain`: which context file differs (kept out of the key itself). Built
    // only on a miss; a file the stat cache cannot vouch for (racy) is hashed again.
    json explain_inputs;
    auto with_files = [&]() -> json {
        if (!explain_inputs.is_null()) return explain_inputs;
        explain_inputs = inputs;
        if (ctx_plan) {
            json files = json::object();
            std::lock_guard<std::mutex> l(s.statcache->mu);
            for (const CopyEntry& e : ctx_plan->entries) {
                std::string h = e.link_target;
                if (S_ISREG(e.mode)) {
                    size_t i = size_t(&e - ctx_plan->entries.data());
                    if (i < ctx_plan->hexes.size()) h = ctx_plan->hexes[i];  // hashed for the key moments ago
                    if (h.empty()) h = s.statcache->cache().lookup(e.src, FileStamp::of(e));
                    if (h.empty()) h = sha256_file_in_root(s.context->fd(), e.src);
                }
                files[e.dst.empty() ? "." : e.dst] = std::to_string(e.mode) + ":" + h;
            }
            explain_inputs["files"] = std::move(files);
        }
        return explain_inputs;
    };
    if (s.lookup(step_ident, with_files, key, out) || s.opts.explain_only) return;

    auto t0 = std::chrono::steady_clock::now();
    out.clock.mark("resolve");
    MountedRoot root = MountedRoot::writable(s.store, s.snaps, s.chain_of(st));
    out.clock.mark("mount");
    sys::UniqueFd dest_fd = sys::open_dir(root.path());
    if (!in.chown.empty()) spec.chown = resolve_owner(dest_fd.get(), in.chown);
    // A COPY into a new directory writes straight into the step's private upper dir.
    sys::UniqueFd upper_fd;
    DirectRoot direct;
    if (heredocs.empty()) direct = [&](const std::string& base) { return direct_upper(root, dest_fd.get(), base, upper_fd); };
    if (!spec.sources.empty()) {
        if (ctx_plan) {
            ctx_plan->spec.chown = spec.chown;
            execute_copy(s.context->root(), *ctx_plan, dest_fd.get(), direct);
        } else {
            std::string chain = from_stage ? s.chain_of(*from_stage) : unpack_image(s.store, s.snaps, s.image(ref.image));
            MountedRoot view = MountedRoot::view(s.store, s.snaps, chain);
            sys::UniqueFd vfd = sys::open_dir(view.path());
            SourceRoot src{vfd.get(), nullptr, false, from_stage ? "stage " + from_stage->label : "image " + ref.image};
            spec.preserve_owner = true;  // BuildKit keeps the source owners for COPY --from without --chown
            CopyPlan p = plan_copy(src, spec);
            execute_copy(src, p, dest_fd.get(), direct);
        }
    }
    for (const Heredoc* h : heredocs) write_heredoc(dest_fd.get(), spec, h->name, h->content);
    dest_fd.reset();
    out.clock.mark("copy");
    s.snapshot_layer(root, st, out);
    int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    s.record(step_ident, with_files(), key, in, out, ms);
}

void execute_workdir_step(Solver& s, const StageState& st, const Instruction& in, size_t idx, StepOutcome& out) {
    const std::string wd = st.config.config.working_dir;
    const std::string user = st.config.config.user;
    const json inputs = workdir_inputs(st, in);
    cas::Digest key = cache_key(inputs);
    out.key = key.str();
    std::string step_ident = s.step_identity(st, idx);
    if (s.lookup(step_ident, [&] { return inputs; }, key, out) || s.opts.explain_only) return;
    auto t0 = std::chrono::steady_clock::now();
    MountedRoot root = MountedRoot::writable(s.store, s.snaps, s.chain_of(st));
    {
        sys::UniqueFd dest_fd = sys::open_dir(root.path());
        Owner owner;
        if (!user.empty())
            owner = sys::with_context("WORKDIR " + wd + ": USER " + user,
                                      [&] { return resolve_owner(dest_fd.get(), user); });
        // The directory made is the lexically cleaned path, as BuildKit's mkdir resolves it:
        // WORKDIR /a/../b makes /b, not /a.
        mkdir_in_root(dest_fd.get(), sys::clean_path(wd), 0755, owner);
    }
    s.snapshot_layer(root, st, out);
    int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    s.record(step_ident, inputs, key, in, out, ms);
}

}  // namespace builder
