#include "builder/step_inputs.hpp"

#include "sys/env.hpp"

namespace builder {

using nlohmann::json;

json base_inputs(const StageState& st, const Instruction& in) {
    json args = json::object();
    for (auto& [k, v] : st.args)
        if (!is_predefined_arg(k)) args[k] = v;  // proxy settings do not change results
    return {{"parent", st.key},
            {"instruction", in.original},
            {"env", sys::env_map(st.config.config.env)},
            {"args", args},
            {"user", st.config.config.user},
            {"workdir", st.config.config.working_dir},
            {"platform", host_platform().str()}};
}

json run_inputs(const StageState& st, const Instruction& in, const std::string& network,
                const std::map<size_t, std::string>& mount_content) {
    json inputs = base_inputs(st, in);
    if (!in.json_form) inputs["shell"] = st.shell;
    json hd = json::array();
    for (auto& h : in.heredocs) hd.push_back({h.name, h.content});
    inputs["heredocs"] = hd;
    inputs["network"] = network;
    json mounts = json::array();
    for (size_t mi = 0; mi < in.mounts.size(); mi++) {
        const auto& m = in.mounts[mi];
        json mj = {{"type", m.type}, {"target", m.target}, {"source", m.source}, {"from", m.from}, {"id", m.id},
                   {"readonly", m.readonly}, {"sharing", m.sharing}, {"mode", m.mode}, {"uid", m.uid},
                   {"gid", m.gid}, {"size", m.size}, {"env", m.env}, {"required", m.required}};
        if (auto c = mount_content.find(mi); c != mount_content.end()) mj["content"] = c->second;
        mounts.push_back(mj);  // secrets by id only: never their content
    }
    inputs["mounts"] = mounts;
    return inputs;
}

json copy_inputs(const StageState& st, const Instruction& in, const std::optional<std::string>& from,
                 const std::optional<std::string>& content) {
    json inputs = base_inputs(st, in);
    inputs["dest"] = in.dest;
    inputs["sources"] = in.srcs;
    inputs["chown"] = in.chown;
    inputs["chmod"] = in.chmod;
    inputs["excludes"] = in.excludes;
    inputs["parents"] = in.parents;
    json hd = json::array();
    for (const auto& h : in.heredocs) hd.push_back({h.name, h.content});
    inputs["heredocs"] = hd;
    if (from) inputs["from"] = *from;
    if (content) inputs["content"] = *content;
    return inputs;
}

json workdir_inputs(const StageState& st, const Instruction& in) {
    json inputs = base_inputs(st, in);
    inputs["mkdir"] = st.config.config.working_dir;
    inputs["owner"] = st.config.config.user;
    return inputs;
}

std::string metadata_key(const StageState& st, const Instruction& in) {
    return cache_key({{"parent", st.key}, {"instruction", in.original}, {"metadata", true}, {"args", st.args}}).str();
}

std::string arg_key(const StageState& st, const Instruction& in) {
    return cache_key({{"parent", st.key}, {"instruction", in.original}, {"args", st.args}}).str();
}

}  // namespace builder
