#include "frontend/parse_flags.hpp"

#include "frontend/parse_text.hpp"

namespace frontend::detail {

void Flags::parse(const std::vector<std::string>& args) {
    for (const auto& full : args) {
        if (full.rfind("--", 0) != 0) throw LineError("arg should start with -- : " + full);
        if (full == "--") return;
        std::string arg = full.substr(2), value;
        auto eq = arg.find('=');
        bool has_eq = eq != std::string::npos;
        if (has_eq) {
            value = arg.substr(eq + 1);
            arg.resize(eq);
        }
        auto it = decl_.find(arg);
        if (it == decl_.end()) throw LineError("unknown flag: " + arg);
        if (values_.count(arg) && it->second != Strings) throw LineError("duplicate flag specified: " + arg);
        switch (it->second) {
            case Bool: {
                if (has_eq && value.empty()) throw LineError("missing a value on flag: " + arg);
                std::string lower = to_lower_ascii(value);
                if (lower.empty() || lower == "true")
                    values_[arg] = {"true"};
                else if (lower == "false")
                    values_[arg] = {"false"};
                else
                    throw LineError("expecting boolean value for flag " + arg + ", not: " + value);
                break;
            }
            case String:
                if (!has_eq) throw LineError("missing a value on flag: " + arg);
                values_[arg] = {value};
                break;
            case Strings:
                if (!has_eq) throw LineError("missing a value on flag: " + arg);
                values_[arg].push_back(value);
                break;
        }
    }
}

std::string Flags::str(const std::string& name) const {
    auto it = values_.find(name);
    return it == values_.end() || it->second.empty() ? std::string() : it->second.back();
}

std::vector<std::string> Flags::strs(const std::string& name) const {
    auto it = values_.find(name);
    return it == values_.end() ? std::vector<std::string>{} : it->second;
}

namespace {

// encoding/csv-style split of one record: fields separated by ',', "quoted" fields.
std::vector<std::string> csv_fields(const std::string& s) {
    std::vector<std::string> out;
    std::string cur;
    size_t i = 0;
    for (;;) {
        cur.clear();
        if (i < s.size() && s[i] == '"') {
            ++i;
            for (;;) {
                if (i >= s.size()) throw LineError("parse error on mount " + s + ": extraneous or missing \" in quoted-field");
                if (s[i] == '"') {
                    if (i + 1 < s.size() && s[i + 1] == '"') {
                        cur += '"';
                        i += 2;
                        continue;
                    }
                    ++i;
                    break;
                }
                cur += s[i++];
            }
            if (i < s.size() && s[i] != ',') throw LineError("parse error on mount " + s + ": extraneous or missing \" in quoted-field");
        } else {
            while (i < s.size() && s[i] != ',') cur += s[i++];
        }
        out.push_back(cur);
        if (i >= s.size()) break;
        ++i;  // ','
    }
    return out;
}

bool parse_bool_value(const std::string& key, const std::string& v) {
    std::string l = to_lower_ascii(v);
    if (l == "" || l == "true" || l == "1") return true;
    if (l == "false" || l == "0") return false;
    throw LineError("invalid value for " + key + ": " + v);
}

bool all_digits(const std::string& s, int base) {
    if (s.empty()) return false;
    for (char c : s)
        if (!(c >= '0' && c <= (base == 8 ? '7' : '9'))) return false;
    return true;
}

bool has_var(const std::string& s) { return s.find('$') != std::string::npos; }

}  // namespace

RunMount parse_run_mount(const std::string& value) {
    RunMount m;
    bool ro_set = false, ro = false;
    for (const auto& field : csv_fields(value)) {
        if (field.empty()) continue;
        auto eq = field.find('=');
        std::string key = to_lower_ascii(trim_space(field.substr(0, eq)));
        std::string val = eq == std::string::npos ? "" : field.substr(eq + 1);
        bool has_val = eq != std::string::npos;
        if (key == "type") {
            m.type = to_lower_ascii(val);
        } else if (key == "target" || key == "dst" || key == "destination" || key == "dest") {
            m.target = val;
        } else if (key == "source" || key == "src") {
            m.source = val;
        } else if (key == "from") {
            m.from = val;
        } else if (key == "id") {
            m.id = val;
        } else if (key == "readonly" || key == "ro") {
            ro_set = true;
            ro = has_val ? parse_bool_value(key, val) : true;
        } else if (key == "readwrite" || key == "rw") {
            ro_set = true;
            ro = !(has_val ? parse_bool_value(key, val) : true);
        } else if (key == "sharing") {
            m.sharing = val;
        } else if (key == "mode") {
            m.mode = val;
        } else if (key == "uid") {
            m.uid = val;
        } else if (key == "gid") {
            m.gid = val;
        } else if (key == "size") {
            m.size = val;
        } else if (key == "required") {
            m.required = has_val ? parse_bool_value(key, val) : true;
        } else if (key == "env") {
            m.env = val;
        } else {
            throw LineError("unexpected key '" + key + "' in '" + field + "'");
        }
    }
    if (m.type == "ssh") throw LineError("RUN --mount=type=ssh is not implemented");
    if (m.type != "bind" && m.type != "cache" && m.type != "tmpfs" && m.type != "secret")
        throw LineError("unsupported mount type \"" + m.type + "\"");
    m.readonly = ro_set ? ro : m.type == "bind";
    if (m.type == "secret" && ro_set && !ro) throw LineError("secret mounts can only be readonly");
    if (m.type == "tmpfs" && !m.from.empty()) throw LineError("'from' is not supported on tmpfs mounts");
    finish_run_mount(m);
    return m;
}

void finish_run_mount(RunMount& m) {
    auto check = [](bool ok, const std::string& msg) {
        if (!ok) throw LineError(msg);
    };
    if (m.type == "secret") {
        if (m.id.empty() && m.target.empty() && m.env.empty())
            throw LineError("secret mount requires an id, a target or an env");
        if (m.id.empty() && !m.target.empty() && !has_var(m.target)) {
            auto slash = m.target.find_last_of('/');
            m.id = slash == std::string::npos ? m.target : m.target.substr(slash + 1);
        }
        if (m.target.empty() && m.env.empty() && !m.id.empty()) m.target = "/run/secrets/" + m.id;
    } else {
        check(!m.target.empty(), "mount type " + m.type + " requires a target");
    }
    if (m.type == "cache") {
        if (m.id.empty()) m.id = m.target;
        if (!has_var(m.sharing))
            check(m.sharing == "shared" || m.sharing == "private" || m.sharing == "locked",
                  "unsupported sharing value \"" + m.sharing + "\"");
    }
    if (!m.mode.empty() && !has_var(m.mode)) check(all_digits(m.mode, 8), "invalid value for mode: " + m.mode);
    if (!m.uid.empty() && !has_var(m.uid)) check(all_digits(m.uid, 10), "invalid value for uid: " + m.uid);
    if (!m.gid.empty() && !has_var(m.gid)) check(all_digits(m.gid, 10), "invalid value for gid: " + m.gid);
}

}  // namespace frontend::detail
