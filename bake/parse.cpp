// imgbuild-bake.yaml -> BakeFile. Strict: unknown keys, duplicate keys and values of the
// wrong type are errors naming file:line:column (from yaml-cpp's marks).
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <set>

#include "bake/bake.hpp"
#include "sys/error.hpp"

namespace bake {

using sys::Code;
using sys::Error;

std::string Loc::str() const {
    if (line <= 0) return file;
    return file + ":" + std::to_string(line) + ":" + std::to_string(col);
}

bool valid_name(const std::string& s) {
    if (s.empty() || s.size() > 128) return false;
    for (char c : s)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
    return true;
}

std::optional<Kind> key_kind(const std::string& key) {
    static const std::map<std::string, Kind> schema = {
        {"context", Kind::String},  {"file", Kind::String},     {"target", Kind::String},
        {"name", Kind::String},     {"network", Kind::String},  {"no-cache", Kind::Bool},
        {"tags", Kind::List},       {"output", Kind::List},     {"cache-from", Kind::List},
        {"cache-to", Kind::List},   {"secret", Kind::List},     {"depends", Kind::List},
        {"inherits", Kind::List},   {"args", Kind::Map},        {"labels", Kind::Map},
        {"contexts", Kind::Map},    {"matrix", Kind::Matrix},
    };
    auto it = schema.find(key);
    if (it == schema.end()) return std::nullopt;
    return it->second;
}

namespace {

struct Reader {
    std::string file;

    Loc loc(const YAML::Node& n) const {
        YAML::Mark m = n.Mark();
        if (m.line < 0) return {file, 0, 0};
        return {file, m.line + 1, m.column + 1};
    }
    [[noreturn]] void fail(const YAML::Node& n, const std::string& msg) const {
        sys::fail(Code::InvalidInput, loc(n).str() + ": " + msg);
    }
    // A scalar (strings, numbers and booleans all read as text).
    Str scalar(const YAML::Node& n, const std::string& what) const {
        if (!n.IsScalar()) fail(n, what + ": expected a string");
        return {n.Scalar(), loc(n)};
    }
    std::vector<Str> list(const YAML::Node& n, const std::string& what) const {
        if (!n.IsSequence()) fail(n, what + ": expected a list of strings");
        std::vector<Str> out;
        for (const auto& e : n) out.push_back(scalar(e, what));
        return out;
    }
    // Mapping entries in file order, keys checked for duplicates.
    template <typename F>
    void each(const YAML::Node& n, const std::string& what, F&& f) const {
        if (!n.IsMap()) fail(n, what + ": expected a mapping");
        std::set<std::string> seen;
        for (const auto& kv : n) {
            if (!kv.first.IsScalar()) fail(kv.first, what + ": keys must be strings");
            const std::string& k = kv.first.Scalar();
            if (!seen.insert(k).second) fail(kv.first, what + ": duplicate key \"" + k + "\"");
            f(k, kv.first, kv.second);
        }
    }
};

Value read_value(const Reader& r, Kind kind, const std::string& key, const std::string& what, const YAML::Node& v) {
    Value val;
    val.kind = kind;
    val.loc = r.loc(v);
    std::string w = "\"" + key + "\" in " + what;
    switch (kind) {
    case Kind::String:
        val.scalar = r.scalar(v, w);
        break;
    case Kind::Bool: {
        val.scalar = r.scalar(v, w);
        if (val.scalar.v != "true" && val.scalar.v != "false") r.fail(v, w + ": expected true or false");
        break;
    }
    case Kind::List:
        val.list = r.list(v, w);
        break;
    case Kind::Map:
        r.each(v, w, [&](const std::string& k, const YAML::Node&, const YAML::Node& e) {
            val.map[k] = r.scalar(e, w + " key \"" + k + "\"");
        });
        break;
    case Kind::Matrix:
        r.each(v, w, [&](const std::string& k, const YAML::Node& kn, const YAML::Node& e) {
            if (!valid_name(k)) r.fail(kn, w + ": \"" + k + "\" is not a valid variable name");
            auto vals = r.list(e, w + " key \"" + k + "\"");
            if (vals.empty()) r.fail(e, w + " key \"" + k + "\": no values");
            val.matrix.emplace_back(k, std::move(vals));
        });
        break;
    }
    return val;
}

// Where a named entry (target, variable, group) is, after checking its name.
Loc named(const Reader& r, const YAML::Node& kn, const std::string& kind, const std::string& name) {
    if (!valid_name(name)) r.fail(kn, kind + " name \"" + name + "\": use letters, digits, '-' and '_'");
    return r.loc(kn);
}

RawTarget read_target(const Reader& r, const std::string& name, const YAML::Node& kn, const YAML::Node& v) {
    RawTarget t;
    t.name = name;
    t.loc = named(r, kn, "target", name);
    std::string what = "target \"" + name + "\"";
    if (v.IsNull()) return t;  // `name:` with nothing: an empty target
    r.each(v, what, [&](const std::string& k, const YAML::Node& keynode, const YAML::Node& e) {
        auto kind = key_kind(k);
        if (!kind) r.fail(keynode, "unknown key \"" + k + "\" in " + what);
        t.fields[k] = read_value(r, *kind, k, what, e);
        t.fields[k].loc = r.loc(keynode);
    });
    return t;
}

Variable read_variable(const Reader& r, const std::string& name, const YAML::Node& kn, const YAML::Node& v) {
    Variable var;
    var.name = name;
    var.loc = named(r, kn, "variable", name);
    if (v.IsScalar()) {  // NAME: value (a default)
        var.def = r.scalar(v, "variable \"" + name + "\"");
        return var;
    }
    std::string what = "variable \"" + name + "\"";
    r.each(v, what, [&](const std::string& k, const YAML::Node& keynode, const YAML::Node& e) {
        if (k == "default") var.def = r.scalar(e, what + " default");
        else if (k == "env") var.env = r.scalar(e, what + " env").v;
        else r.fail(keynode, "unknown key \"" + k + "\" in " + what + " (want default, env)");
    });
    return var;
}

}  // namespace

BakeFile parse(std::string_view text, const std::string& name, const std::string& dir) {
    Reader r{name};
    BakeFile f;
    f.name = name;
    f.dir = dir;
    YAML::Node root;
    try {
        root = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
        sys::fail(Code::InvalidInput, name + ":" + std::to_string(e.mark.line + 1) + ":" +
                                            std::to_string(e.mark.column + 1) + ": " + e.msg);
    }
    if (!root.IsMap()) sys::fail(Code::InvalidInput, name + ": expected a mapping with version, variables, targets, groups");
    bool have_targets = false;
    r.each(root, name, [&](const std::string& k, const YAML::Node& kn, const YAML::Node& v) {
        if (k == "version") {
            if (r.scalar(v, "version").v != "1") r.fail(v, "version: only 1 is supported");
        } else if (k == "variables") {
            if (v.IsNull()) return;
            r.each(v, "variables", [&](const std::string& n, const YAML::Node& nk, const YAML::Node& nv) {
                f.variables.push_back(read_variable(r, n, nk, nv));
            });
        } else if (k == "targets") {
            have_targets = true;
            r.each(v, "targets", [&](const std::string& n, const YAML::Node& nk, const YAML::Node& nv) {
                f.targets.push_back(read_target(r, n, nk, nv));
            });
        } else if (k == "groups") {
            if (v.IsNull()) return;
            r.each(v, "groups", [&](const std::string& n, const YAML::Node& nk, const YAML::Node& nv) {
                f.groups.push_back({n, named(r, nk, "group", n), r.list(nv, "group \"" + n + "\"")});
            });
        } else {
            r.fail(kn, "unknown key \"" + k + "\" (want version, variables, targets, groups)");
        }
    });
    if (!have_targets) sys::fail(Code::InvalidInput, name + ": no \"targets\"");
    for (const auto& g : f.groups)
        for (const auto& t : f.targets)
            if (g.name == t.name)
                sys::fail(Code::InvalidInput, g.loc.str() + ": group \"" + g.name + "\" has the name of target \"" +
                                                    t.name + "\" (" + t.loc.str() + ")");
    return f;
}

[[noreturn]] static void bad_set(const std::string& text, const std::string& why) {
    sys::fail(Code::InvalidInput, "--set " + text + ": " + why + " (want PATTERN.KEY=VALUE)");
}

Override parse_set(const std::string& text) {
    Override o;
    o.text = text;
    auto eq = text.find('=');
    if (eq == std::string::npos) bad_set(text, "missing '='");
    std::string lhs = text.substr(0, eq);
    o.value = text.substr(eq + 1);
    if (!lhs.empty() && lhs.back() == '+') {
        o.append = true;
        lhs.pop_back();
    }
    auto dot = lhs.find('.');
    if (dot == std::string::npos || dot == 0) bad_set(text, "missing target pattern");
    o.pattern = lhs.substr(0, dot);
    std::string key = lhs.substr(dot + 1);
    auto kind = key_kind(key.substr(0, key.find('.')));
    if (!kind) bad_set(text, "unknown key \"" + key.substr(0, key.find('.')) + "\"");
    if (*kind == Kind::Map) {
        auto d2 = key.find('.');
        if (d2 == std::string::npos || d2 + 1 == key.size()) bad_set(text, "\"" + key + "\" needs a name: " + key + ".NAME=VALUE");
        o.key = key.substr(0, d2);
        o.subkey = key.substr(d2 + 1);
    } else {
        o.key = key;
        if (*kind == Kind::Matrix || o.key == "inherits" || o.key == "name")
            bad_set(text, "\"" + o.key + "\" cannot be set from the command line");
    }
    if (o.append && *kind != Kind::List) bad_set(text, "+= appends to a list; \"" + o.key + "\" is not one");
    if (*kind == Kind::Bool && o.value != "true" && o.value != "false") bad_set(text, "\"" + o.key + "\" is true or false");
    return o;
}

}  // namespace bake
