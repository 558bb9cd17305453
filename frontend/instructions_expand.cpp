// Per-instruction variable expansion (which fields expand follows BuildKit, see
// instructions.hpp), history text, and Go duration parsing.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <optional>
#include <string>

#include "frontend/instructions.hpp"
#include "frontend/parse_flags.hpp"
#include "frontend/parse_text.hpp"
#include "sys/error.hpp"

namespace frontend {

namespace {

bool parse_port(const std::string& s, unsigned& out) {
    if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos) return false;
    out = unsigned(std::stoul(s));
    return out <= 65535;
}

// EXPOSE's port spec as docker's nat.ParsePortSpec checks it: PORT[-PORT][/tcp|udp|sctp].
// Specs with ':' (ip:host:container) are left to the consumer, as before.
std::optional<std::string> bad_port_spec(const std::string& spec) {
    if (spec.find(':') != std::string::npos) return std::nullopt;
    size_t slash = spec.find('/');
    std::string range = spec.substr(0, slash);
    if (slash != std::string::npos) {
        std::string proto = spec.substr(slash + 1);
        for (char& c : proto) c = char(std::tolower((unsigned char)c));
        if (proto != "tcp" && proto != "udp" && proto != "sctp") return "invalid proto: " + spec.substr(slash + 1);
    }
    size_t dash = range.find('-');
    unsigned lo = 0, hi = 0;
    bool ok = dash == std::string::npos ? parse_port(range, lo)
                                        : parse_port(range.substr(0, dash), lo) && parse_port(range.substr(dash + 1), hi) && hi >= lo;
    if (!ok) return "invalid containerPort: " + range;
    return std::nullopt;
}

}  // namespace

Instruction expand(const Instruction& in, const ShellLex& lex, const ShellLex::Env& env) {
    using K = Instruction::Kind;
    Instruction out = in;
    auto word = [&](std::string& s) { s = lex.process_word(s, env); };
    auto fail = [&](const std::string& msg) {
        fail_located(in.loc.file, in.loc.start_line, msg, in.original);
    };
    try {
        switch (in.kind) {
            case K::From:
                word(out.base);
                word(out.platform);
                break;
            case K::Env:
            case K::Label:
                for (auto& kv : out.kvs) {
                    word(kv.key);
                    word(kv.value);
                }
                break;
            case K::Arg:
                for (auto& a : out.arg_defs) {
                    word(a.key);
                    if (a.value) word(*a.value);
                }
                break;
            case K::Workdir:
            case K::User:
            case K::Stopsignal:
                word(out.value);
                break;
            case K::Expose: {
                out.args.clear();
                for (const auto& a : in.args)
                    for (auto& w : lex.process_words(a, env)) out.args.push_back(std::move(w));
                for (const auto& p : out.args)
                    if (auto why = bad_port_spec(p)) fail(*why);
                break;
            }
            case K::Volume:
                for (auto& a : out.args) word(a);
                break;
            case K::Copy:
            case K::Add: {
                for (auto& s : out.srcs) word(s);
                word(out.dest);
                word(out.from);
                word(out.chown);
                word(out.chmod);
                word(out.checksum);
                for (auto& e : out.excludes) word(e);
                ShellLex doc = lex;
                doc.skip_process_quotes = true;
                doc.raw_escapes = true;
                for (auto& h : out.heredocs)
                    if (h.expand) h.content = doc.process_word(h.content, env);
                if (!out.chmod.empty() && out.chmod.find_first_not_of("01234567") != std::string::npos)
                    fail("invalid chmod parameter: " + out.chmod + " (only octal modes are implemented)");
                if (!out.chmod.empty() && out.chmod.size() > 4) fail("invalid chmod parameter: " + out.chmod);
                break;
            }
            case K::Run:
                for (auto& m : out.mounts) {
                    for (std::string* f : {&m.target, &m.source, &m.from, &m.id, &m.mode, &m.uid, &m.gid, &m.size,
                                           &m.env, &m.sharing})
                        word(*f);
                    detail::finish_run_mount(m);
                }
                break;
            default:
                break;
        }
    } catch (const detail::LineError& e) {
        fail(e.what());
    } catch (const sys::Error& e) {
        if (e.loc()) throw;  // already located (thrown by fail above)
        fail(e.what());
    }
    return out;
}

std::string created_by(const Instruction& in, const std::vector<std::string>& shell) {
    if (in.kind != Instruction::Kind::Run) return in.original;
    std::string s = "RUN";
    if (!in.json_form)
        for (const auto& p : shell) s += " " + p;
    for (const auto& a : in.args) s += " " + a;
    return s + " # buildkit";
}

std::vector<std::string> expose_ports(const std::vector<std::string>& args) {
    auto num = [](const std::string& raw, const std::string& s) {
        if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos || std::stoul(s) > 65535)
            sys::fail(sys::Code::InvalidInput, "invalid containerPort: " + raw);
        return std::stoul(s);
    };
    std::vector<std::string> out;
    for (const auto& raw : args) {
        std::string port = raw, proto = "tcp";
        if (auto slash = raw.find('/'); slash != std::string::npos) {
            port = raw.substr(0, slash);
            if (slash + 1 < raw.size()) proto = raw.substr(slash + 1);
        }
        std::transform(proto.begin(), proto.end(), proto.begin(), [](unsigned char c) { return char(std::tolower(c)); });
        if (proto != "tcp" && proto != "udp" && proto != "sctp")
            sys::fail(sys::Code::InvalidInput, "invalid proto: " + proto);
        auto dash = port.find('-');
        unsigned long lo = num(raw, port.substr(0, dash));
        unsigned long hi = dash == std::string::npos ? lo : num(raw, port.substr(dash + 1));
        if (hi < lo) sys::fail(sys::Code::InvalidInput, "invalid range specified for containerPort: " + raw);
        for (unsigned long p = lo; p <= hi; ++p) out.push_back(std::to_string(p) + "/" + proto);
    }
    return out;
}

int64_t parse_go_duration_ns(const std::string& text) {
    auto bad = [&]() -> int64_t {
        sys::fail(sys::Code::InvalidInput, "time: invalid duration " + go_quote(text));
    };
    std::string s = text;
    bool neg = false;
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        s.erase(0, 1);
    }
    if (s == "0") return 0;
    if (s.empty()) return bad();
    long double total = 0;
    size_t i = 0;
    while (i < s.size()) {
        size_t st = i;
        while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
        if (i == st) return bad();
        std::string num = s.substr(st, i - st);
        if (num == "." || std::count(num.begin(), num.end(), '.') > 1) return bad();
        size_t us = i;
        while (i < s.size() && !((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
        std::string unit = s.substr(us, i - us);
        long double mult;
        if (unit == "ns") mult = 1;
        else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") mult = 1e3;
        else if (unit == "ms") mult = 1e6;
        else if (unit == "s") mult = 1e9;
        else if (unit == "m") mult = 60e9;
        else if (unit == "h") mult = 3600e9;
        else if (unit.empty()) sys::fail(sys::Code::InvalidInput, "time: missing unit in duration " + go_quote(text));
        else sys::fail(sys::Code::InvalidInput, "time: unknown unit " + go_quote(unit) + " in duration " + go_quote(text));
        total += std::stold(num) * mult;
        if (total > 9.2e18L) return bad();
    }
    int64_t v = static_cast<int64_t>(std::llround(static_cast<double>(total)));
    return neg ? -v : v;
}

}  // namespace frontend
