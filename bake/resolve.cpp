// BakeFile -> Plan: variables, inherits (later wins, maps merge, lists replace), matrix
// expansion, --set overrides, ${VAR} interpolation, groups, and the target graph in build order.
#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>

#include "bake/bake.hpp"
#include "sys/error.hpp"

namespace bake {

using sys::Code;
using sys::Error;

namespace {

[[noreturn]] void fail(const Loc& at, const std::string& msg) { sys::fail(Code::InvalidInput, at.str() + ": " + msg); }

std::string join_cycle(const std::vector<std::string>& stack, const std::string& again) {
    std::string s;
    bool on = false;
    for (const auto& n : stack) {
        if (n == again) on = true;
        if (on) s += n + " -> ";
    }
    return s + again;
}

using Vars = std::map<std::string, std::string>;

Vars resolve_variables(const BakeFile& f, const EnvLookup& env) {
    std::map<std::string, const Variable*> decl;
    for (const auto& v : f.variables) decl[v.name] = &v;
    Vars out;
    std::vector<std::string> stack;
    std::function<void(const Variable&)> visit = [&](const Variable& v) {
        if (out.count(v.name)) return;
        if (std::find(stack.begin(), stack.end(), v.name) != stack.end())
            fail(v.loc, "variables refer to each other in a cycle: " + join_cycle(stack, v.name));
        if (!v.env.empty()) {
            if (auto e = env(v.env)) {
                out[v.name] = *e;  // user data: not interpolated
                return;
            }
        }
        if (!v.def) {
            out[v.name] = "";
            return;
        }
        stack.push_back(v.name);
        // Defaults may use other variables: resolve those first.
        Vars scope;
        const std::string& d = v.def->v;
        for (size_t i = d.find("${"); i != std::string::npos; i = d.find("${", i + 2)) {
            auto e = d.find('}', i);
            if (e == std::string::npos) break;
            auto it = decl.find(d.substr(i + 2, e - i - 2));
            if (it != decl.end()) visit(*it->second);
        }
        stack.pop_back();
        out[v.name] = interpolate(*v.def, out);
    };
    for (const auto& v : f.variables) visit(v);
    return out;
}

// Later wins: maps merge key by key, everything else replaces.
void merge_into(Fields& dst, const Fields& src) {
    for (const auto& [k, v] : src) {
        if (k == "inherits" || k == "matrix" || k == "name") continue;  // identity, not inherited
        auto it = dst.find(k);
        if (it != dst.end() && v.kind == Kind::Map) {
            for (const auto& [mk, mv] : v.map) it->second.map[mk] = mv;
        } else {
            dst[k] = v;
        }
    }
}

struct Inheritance {
    const BakeFile& f;
    std::map<std::string, const RawTarget*> raw;
    std::map<std::string, Fields> done;
    std::vector<std::string> stack;

    const Fields& merged(const RawTarget& t) {
        if (auto it = done.find(t.name); it != done.end()) return it->second;
        if (std::find(stack.begin(), stack.end(), t.name) != stack.end())
            fail(t.loc, "cycle in inherits: " + join_cycle(stack, t.name));
        stack.push_back(t.name);
        Fields out;
        if (auto inh = t.fields.find("inherits"); inh != t.fields.end()) {
            for (const auto& parent : inh->second.list) {
                auto p = raw.find(parent.v);
                if (p == raw.end()) fail(parent.loc, "target \"" + t.name + "\" inherits unknown target \"" + parent.v + "\"");
                merge_into(out, merged(*p->second));
            }
        }
        Fields own = t.fields;
        own.erase("inherits");
        merge_into(out, own);
        stack.pop_back();
        return done[t.name] = out;
    }
};

struct Instance {
    std::string name, source;
    Loc loc;
    Fields fields;
    Vars vars;  // variables + matrix values
};

void expand_matrix(const RawTarget& t, const Fields& fields, const Vars& vars, std::vector<Instance>& out) {
    auto m = t.fields.find("matrix");
    if (m == t.fields.end()) {
        out.push_back({t.name, t.name, t.loc, fields, vars});
        return;
    }
    auto nm = t.fields.find("name");
    if (nm == t.fields.end()) fail(m->second.loc, "target \"" + t.name + "\" has a matrix but no \"name\" template");
    const auto& axes = m->second.matrix;
    std::vector<size_t> idx(axes.size(), 0);
    for (;;) {
        Instance in{"", t.name, t.loc, fields, vars};
        for (size_t a = 0; a < axes.size(); a++) in.vars[axes[a].first] = axes[a].second[idx[a]].v;
        in.name = interpolate(nm->second.scalar, in.vars);
        if (!valid_name(in.name))
            fail(nm->second.scalar.loc, "matrix name \"" + in.name + "\" of target \"" + t.name + "\": use letters, digits, '-' and '_'");
        out.push_back(std::move(in));
        size_t a = axes.size();
        while (a > 0) {
            if (++idx[a - 1] < axes[a - 1].second.size()) break;
            idx[--a] = 0;
        }
        if (a == 0) return;
    }
}

void apply_override(Fields& fields, const Override& o) {
    Loc at{"--set " + o.text, 0, 0};
    Str s{o.value, at};
    Kind kind = *key_kind(o.key);
    Value& v = fields[o.key];
    if (v.kind != kind) v = Value{};
    v.kind = kind;
    v.loc = at;
    if (kind == Kind::Map) v.map[o.subkey] = s;
    else if (kind == Kind::List) {
        if (!o.append) v.list.clear();
        v.list.push_back(s);
    } else {
        v.scalar = s;
    }
}

std::string normal_path(const std::string& base, const std::string& p) {
    std::filesystem::path path(p);
    if (path.is_relative() && !base.empty()) path = std::filesystem::path(base) / path;
    std::string s = path.lexically_normal().string();
    if (s.size() > 1 && s.back() == '/') s.pop_back();
    return s.empty() ? "." : s;
}

// Names (targets, matrix sources, and their instances) -> instance names.
struct Index {
    std::map<std::string, std::vector<std::string>> by_name;  // instance name and source name
    std::set<std::string> instances;
    std::vector<std::string> lookup(const std::string& n) const {
        auto it = by_name.find(n);
        return it == by_name.end() ? std::vector<std::string>{} : it->second;
    }
};

Target interpolate_instance(const BakeFile& f, const Instance& in, const Index& idx) {
    Target t;
    t.name = in.name;
    t.source = in.source;
    t.loc = in.loc;
    auto str = [&](const char* key) -> std::string {
        auto it = in.fields.find(key);
        return it == in.fields.end() ? "" : interpolate(it->second.scalar, in.vars);
    };
    auto list = [&](const char* key) {
        std::vector<std::string> out;
        if (auto it = in.fields.find(key); it != in.fields.end())
            for (const auto& s : it->second.list) out.push_back(interpolate(s, in.vars));
        return out;
    };
    auto map = [&](const char* key) {
        std::map<std::string, std::string> out;
        if (auto it = in.fields.find(key); it != in.fields.end())
            for (const auto& [k, s] : it->second.map) out[k] = interpolate(s, in.vars);
        return out;
    };
    for (const auto& [k, v] : in.fields) t.where[k] = v.loc;
    std::string ctx = str("context");
    t.context = normal_path(f.dir, ctx.empty() ? "." : ctx);
    std::string file = str("file");
    if (!file.empty()) t.file = normal_path(t.context, file);
    t.stage = str("target");
    t.network = str("network");
    if (!t.network.empty() && t.network != "none" && t.network != "host" && t.network != "default")
        fail(in.fields.at("network").scalar.loc, "network: want none or host");
    t.no_cache = str("no-cache") == "true";
    t.tags = list("tags");
    t.outputs = list("output");
    t.cache_from = list("cache-from");
    t.cache_to = list("cache-to");
    t.secrets = list("secret");
    t.args = map("args");
    t.labels = map("labels");
    std::set<std::string> deps;
    auto resolve_dep = [&](const std::string& name, const Loc& at, bool one) {
        auto hits = idx.lookup(name);
        if (hits.empty()) fail(at, "target \"" + t.name + "\" refers to unknown target \"" + name + "\"");
        if (one && hits.size() != 1)
            fail(at, "target \"" + t.name + "\": \"target:" + name + "\" is a matrix of " + std::to_string(hits.size()) +
                         " targets; name one of them");
        for (const auto& h : hits) {
            if (h == t.name) fail(at, "target \"" + t.name + "\" depends on itself");
            deps.insert(h);
        }
        return hits.front();
    };
    if (auto it = in.fields.find("depends"); it != in.fields.end())
        for (const auto& s : it->second.list) resolve_dep(interpolate(s, in.vars), s.loc, false);
    if (auto it = in.fields.find("contexts"); it != in.fields.end()) {
        for (const auto& [k, s] : it->second.map) {
            std::string v = interpolate(s, in.vars);
            if (v.rfind("target:", 0) == 0) t.context_targets[k] = resolve_dep(v.substr(7), s.loc, true);
            else if (v.rfind("docker-image://", 0) == 0) t.context_images[k] = v.substr(15);
            else if (v.find("://") != std::string::npos || v.rfind(".", 0) == 0 || v.rfind("/", 0) == 0)
                fail(s.loc, "contexts." + k + " = \"" + v + "\": only \"target:NAME\" and image references are supported");
            else t.context_images[k] = v;
        }
    }
    t.depends.assign(deps.begin(), deps.end());
    return t;
}

// Depth-first: each target after its dependencies; a cycle is an error naming it.
void order_targets(const std::map<std::string, Target>& all, const std::string& name, std::vector<std::string>& stack,
                   std::set<std::string>& placed, std::vector<Target>& out) {
    if (placed.count(name)) return;
    const Target& t = all.at(name);
    if (std::find(stack.begin(), stack.end(), name) != stack.end())
        fail(t.loc, "cycle between targets: " + join_cycle(stack, name));
    stack.push_back(name);
    for (const auto& d : t.depends) order_targets(all, d, stack, placed, out);
    stack.pop_back();
    placed.insert(name);
    out.push_back(t);
}

}  // namespace

std::string interpolate(const Str& s, const Vars& vars) {
    const std::string& in = s.v;
    std::string out;
    for (size_t i = 0; i < in.size(); i++) {
        if (in[i] != '$' || i + 1 == in.size()) {
            out += in[i];
            continue;
        }
        if (in[i + 1] == '$') {
            out += '$';
            i++;
            continue;
        }
        if (in[i + 1] != '{') {
            out += '$';
            continue;
        }
        auto end = in.find('}', i + 2);
        if (end == std::string::npos) fail(s.loc, "unterminated ${ in \"" + in + "\"");
        std::string name = in.substr(i + 2, end - i - 2);
        auto it = vars.find(name);
        if (it == vars.end()) fail(s.loc, "unknown variable \"" + name + "\" in \"" + in + "\"");
        out += it->second;
        i = end;
    }
    return out;
}

Plan resolve(const BakeFile& f, const std::vector<std::string>& requested, const std::vector<Override>& sets,
             const EnvLookup& env) {
    Vars vars = resolve_variables(f, env);
    Inheritance inh{f, {}, {}, {}};
    for (const auto& t : f.targets) inh.raw[t.name] = &t;
    std::vector<Instance> instances;
    for (const auto& t : f.targets) expand_matrix(t, inh.merged(t), vars, instances);

    Index idx;
    for (const auto& in : instances) {
        if (!idx.instances.insert(in.name).second || (in.name != in.source && inh.raw.count(in.name)))
            fail(in.loc, "target name \"" + in.name + "\" is used twice");
        idx.by_name[in.name].push_back(in.name);
        if (in.source != in.name) idx.by_name[in.source].push_back(in.name);
    }
    for (const auto& o : sets) {
        bool any = false;
        for (auto& in : instances) {
            if (::fnmatch(o.pattern.c_str(), in.name.c_str(), 0) != 0 && ::fnmatch(o.pattern.c_str(), in.source.c_str(), 0) != 0)
                continue;
            apply_override(in.fields, o);
            any = true;
        }
        if (!any) sys::fail(Code::InvalidInput, "--set " + o.text + ": no target matches \"" + o.pattern + "\"");
    }
    std::map<std::string, Target> all;
    for (const auto& in : instances) all.emplace(in.name, interpolate_instance(f, in, idx));

    // Groups -> targets (groups may contain groups).
    std::map<std::string, const Group*> groups;
    for (const auto& g : f.groups) groups[g.name] = &g;
    Plan plan;
    std::vector<std::string> gstack;
    std::function<void(const std::string&, const Loc&, std::vector<std::string>&)> expand =
        [&](const std::string& n, const Loc& at, std::vector<std::string>& out) {
            if (auto g = groups.find(n); g != groups.end()) {
                if (std::find(gstack.begin(), gstack.end(), n) != gstack.end())
                    fail(g->second->loc, "cycle in groups: " + join_cycle(gstack, n));
                gstack.push_back(n);
                for (const auto& m : g->second->members) expand(m.v, m.loc, out);
                gstack.pop_back();
                return;
            }
            auto hits = idx.lookup(n);
            if (hits.empty()) fail(at, "unknown target or group \"" + n + "\"");
            for (auto& h : hits)
                if (std::find(out.begin(), out.end(), h) == out.end()) out.push_back(h);
        };
    for (const auto& g : f.groups) expand(g.name, g.loc, plan.groups[g.name]);

    // Every cycle in the file is an error, whether or not its targets are selected.
    std::vector<std::string> stack;
    std::set<std::string> placed;
    std::vector<Target> everything;
    for (const auto& in : instances) order_targets(all, in.name, stack, placed, everything);

    std::vector<std::string> wanted;
    if (requested.empty()) {
        if (!groups.count("default"))
            sys::fail(Code::InvalidInput, f.name + ": no targets given and no \"default\" group");
        wanted = plan.groups["default"];
    }
    for (const auto& r : requested) expand(r, Loc{"imgbuild bake " + r, 0, 0}, wanted);
    placed.clear();
    for (const auto& w : wanted) order_targets(all, w, stack, placed, plan.targets);
    return plan;
}

nlohmann::ordered_json to_json(const Plan& p) {
    nlohmann::ordered_json j;
    j["group"] = nlohmann::ordered_json::object();
    for (const auto& [g, ts] : p.groups) j["group"][g] = {{"targets", ts}};
    j["target"] = nlohmann::ordered_json::object();
    for (const auto& t : p.targets) {
        nlohmann::ordered_json o;
        o["context"] = t.context;
        if (!t.file.empty()) o["file"] = t.file;
        if (!t.stage.empty()) o["target"] = t.stage;
        if (!t.args.empty()) o["args"] = t.args;
        if (!t.labels.empty()) o["labels"] = t.labels;
        if (!t.tags.empty()) o["tags"] = t.tags;
        nlohmann::ordered_json ctx = nlohmann::ordered_json::object();
        for (const auto& [k, v] : t.context_targets) ctx[k] = "target:" + v;
        for (const auto& [k, v] : t.context_images) ctx[k] = v;
        if (!ctx.empty()) o["contexts"] = ctx;
        if (!t.depends.empty()) o["depends"] = t.depends;
        if (!t.outputs.empty()) o["output"] = t.outputs;
        if (!t.cache_from.empty()) o["cache-from"] = t.cache_from;
        if (!t.cache_to.empty()) o["cache-to"] = t.cache_to;
        if (!t.secrets.empty()) o["secret"] = t.secrets;
        if (!t.network.empty()) o["network"] = t.network;
        if (t.no_cache) o["no-cache"] = true;
        j["target"][t.name] = o;
    }
    return j;
}

}  // namespace bake
