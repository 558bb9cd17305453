#include "inspect/image_diff.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>

#include "layers/layer.hpp"
#include "sys/error.hpp"

namespace inspect {

const char* operand_kind_name(DiffOperand::Kind k) {
    switch (k) {
        case DiffOperand::Kind::Image: return "image";
        case DiffOperand::Kind::Layer: return "layer";
        case DiffOperand::Kind::Directory: return "directory";
    }
    return "?";
}

DiffOperand classify_operand(const cas::Store& store, const std::string& arg) {
    DiffOperand op;
    op.arg = arg;
    struct stat st;
    if (!arg.empty() && ::stat(arg.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode)) sys::fail(sys::Code::InvalidInput, "diff: " + arg + ": not a directory");
        op.kind = DiffOperand::Kind::Directory;
        op.id = std::filesystem::absolute(arg).lexically_normal().string();
        return op;
    }
    try {
        op.image = cas::resolve_image(store, arg);
        op.kind = DiffOperand::Kind::Image;
        op.id = op.image->manifest_digest.str();
        return op;
    } catch (const sys::Error& e) {
        if (e.code() != sys::Code::NotFound) throw;
        if (!cas::Digest::valid(arg))
            sys::fail(sys::Code::NotFound, "diff: " + arg + ": no such directory or image (" + e.what() + ")");
    }
    cas::Digest d = cas::Digest::parse(arg);
    if (!store.has_blob(d))
        sys::fail(sys::Code::NotFound, "diff: " + arg + ": no such directory, image or layer blob in the store");
    op.kind = DiffOperand::Kind::Layer;
    op.layer = d;
    op.id = d.str();
    return op;
}

OperandTree::OperandTree(cas::Store& store, layers::Snapshotter& snaps, const DiffOperand& op) {
    switch (op.kind) {
        case DiffOperand::Kind::Directory:
            path_ = op.id;
            break;
        case DiffOperand::Kind::Layer:
            extracted_ = store.temp_dir("diff-layer-");
            layers::apply_layer(store, *op.layer, extracted_.path());
            path_ = extracted_.path();
            break;
        case DiffOperand::Kind::Image: {
            std::string top = unpack_image(store, snaps, *op.image);
            view_.emplace(layers::MountedRoot::view(store, snaps, top));
            path_ = view_->path();
            break;
        }
    }
}

namespace {

nlohmann::json optional_list(const std::optional<std::vector<std::string>>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json string_or_null(const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); }

const char* type_name(const layers::TreeNode& n) {
    switch (n.type) {
        case 'f': return "file";
        case 'd': return "dir";
        case 'l': return "symlink";
        case 'c': return n.rdev_major == 0 && n.rdev_minor == 0 ? "whiteout" : "char";
        case 'b': return "block";
        case 'p': return "fifo";
        case 's': return "socket";
    }
    return "unknown";
}

}  // namespace

std::vector<ConfigChange> diff_configs(const cas::ContainerConfig& a, const cas::ContainerConfig& b) {
    std::vector<ConfigChange> out;
    auto cmp = [&](const char* field, nlohmann::json x, nlohmann::json y) {
        if (x != y) out.push_back({field, std::move(x), std::move(y)});
    };
    cmp("env", a.env, b.env);
    cmp("cmd", optional_list(a.cmd), optional_list(b.cmd));
    cmp("entrypoint", optional_list(a.entrypoint), optional_list(b.entrypoint));
    cmp("labels", a.labels, b.labels);
    cmp("user", string_or_null(a.user), string_or_null(b.user));
    cmp("workdir", string_or_null(a.working_dir), string_or_null(b.working_dir));
    cmp("exposed_ports", a.exposed_ports, b.exposed_ports);
    cmp("volumes", a.volumes, b.volumes);
    cmp("stop_signal", string_or_null(a.stop_signal), string_or_null(b.stop_signal));
    cmp("shell", optional_list(a.shell), optional_list(b.shell));
    return out;
}

DiffStat diff_stat(const std::vector<layers::TreeChange>& changes) {
    DiffStat s;
    for (const auto& c : changes) {
        uint64_t before = c.before && c.before->type == 'f' ? c.before->size : 0;
        uint64_t after = c.after && c.after->type == 'f' ? c.after->size : 0;
        switch (c.kind) {
            case layers::TreeChange::Kind::Added: s.added++; break;
            case layers::TreeChange::Kind::Modified: s.modified++; break;
            case layers::TreeChange::Kind::Deleted: s.deleted++; break;
        }
        if (after > before) s.bytes_added += after - before;
        else s.bytes_removed += before - after;
    }
    return s;
}

nlohmann::json node_json(const layers::TreeNode& n) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", n.mode);
    nlohmann::json j = {{"type", type_name(n)}, {"mode", mode}, {"uid", n.uid}, {"gid", n.gid}, {"size", n.size}};
    if (n.digest) j["digest"] = n.digest->str();
    if (n.type == 'l') j["link"] = n.link;
    if (!n.hardlink_of.empty()) j["hardlink_of"] = n.hardlink_of;
    if (n.type == 'c' || n.type == 'b') j["rdev"] = std::to_string(n.rdev_major) + ":" + std::to_string(n.rdev_minor);
    return j;
}

nlohmann::json change_json(const layers::TreeChange& c) {
    nlohmann::json j = {{"path", "/" + c.path}, {"change", layers::change_kind_name(c.kind)}, {"fields", c.fields}};
    if (c.before) j["before"] = node_json(*c.before);
    if (c.after) j["after"] = node_json(*c.after);
    return j;
}

}  // namespace inspect
