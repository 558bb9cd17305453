// Per-instruction variable expansion (which fields expand follows BuildKit, see
// instructions.hpp), history text, and Go duration parsing.
#include <algorithm>
#include <cmath>

#include "frontend/instructions.hpp"
#include "frontend/parse_flags.hpp"
#include "frontend/parse_text.hpp"
#include "sys/error.hpp"

namespace frontend {

Instruction expand(const Instruction& in, const ShellLex& lex, const ShellLex::Env& env) {
    using K = Instruction::Kind;
    Instruction out = in;
    auto word = [&](std::string& s) { s = lex.process_word(s, env); };
    auto fail = [&](const std::string& msg) {
        // The location travels as data on the error (at() writes the same "file:line: " prefix).
        const sys::SourceLoc loc{in.loc.file, in.loc.start_line};
        std::string text = located_message(loc.file, loc.line, msg, in.original);
        text.erase(0, loc.file.size() + 1 + std::to_string(loc.line).size() + 2);
        throw sys::Error(sys::Code::InvalidInput, text).at(loc);
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

int64_t parse_go_duration_ns(const std::string& text) {
    auto bad = [&]() -> int64_t {
        throw sys::Error(sys::Code::InvalidInput, "time: invalid duration " + go_quote(text));
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
        else if (unit.empty()) throw sys::Error(sys::Code::InvalidInput, "time: missing unit in duration " + go_quote(text));
        else throw sys::Error(sys::Code::InvalidInput, "time: unknown unit " + go_quote(unit) + " in duration " + go_quote(text));
        total += std::stold(num) * mult;
        if (total > 9.2e18L) return bad();
    }
    int64_t v = static_cast<int64_t>(std::llround(static_cast<double>(total)));
    return neg ? -v : v;
}

}  // namespace frontend
