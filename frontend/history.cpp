#include "frontend/history.hpp"

#include <algorithm>
#include <cstdio>
#include <set>

namespace frontend {
namespace {

std::string join(const std::vector<std::string>& v, const std::string& sep = " ") {
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + v[i];
    return out;
}

// fmt's %v of a []string: [a b]
std::string go_list(const std::vector<std::string>& v) { return "[" + join(v) + "]"; }

// fmt's %q of an int: strconv.QuoteRune.
std::string go_quote_rune(int r) {
    switch (r) {
        case '\a': return "'\\a'";
        case '\b': return "'\\b'";
        case '\f': return "'\\f'";
        case '\n': return "'\\n'";
        case '\r': return "'\\r'";
        case '\t': return "'\\t'";
        case '\v': return "'\\v'";
        case '\'': return "'\\''";
        case '\\': return "'\\\\'";
        default: break;
    }
    char buf[16];
    if (r >= 0x20 && r < 0x7f) std::snprintf(buf, sizeof buf, "'%c'", char(r));
    else if (r >= 0 && r < 0x80) std::snprintf(buf, sizeof buf, "'\\x%02x'", unsigned(r));
    else std::snprintf(buf, sizeof buf, "'\\u%04x'", unsigned(r) & 0xffffu);
    return buf;
}

// v / 10^prec with the fraction's trailing zeros dropped ("1.5", "2").
std::string frac(uint64_t v, int prec) {
    uint64_t p = 1;
    for (int i = 0; i < prec; ++i) p *= 10;
    std::string f = std::to_string(v % p);
    f = std::string(size_t(prec) - f.size(), '0') + f;
    while (!f.empty() && f.back() == '0') f.pop_back();
    return std::to_string(v / p) + (f.empty() ? "" : "." + f);
}

std::string with_shell(const Instruction& in, const std::vector<std::string>& shell) {
    if (in.json_form) return go_quote_list(in.args);
    std::vector<std::string> v = shell;
    v.push_back(in.args.empty() ? "" : in.args[0]);
    return go_quote_list(v);
}

std::string kvs(const std::vector<KeyValue>& kv) {
    std::string out;
    for (const auto& p : kv) out += " " + p.key + "=" + p.value;
    return out;
}

std::string run_text(const Instruction& in, const HistoryState& st) {
    std::vector<std::string> words;
    if (!st.run_args.empty()) {
        words.push_back("|" + std::to_string(st.run_args.size()));
        for (const auto& [k, v] : st.run_args) words.push_back(k + "=" + v);
    }
    if (!in.json_form) words.insert(words.end(), st.shell.begin(), st.shell.end());
    words.insert(words.end(), in.args.begin(), in.args.end());
    return "RUN " + join(words) + " # buildkit";
}

std::string healthcheck_text(const Healthcheck& h) {
    auto dur = [](const std::string& v, int64_t ns) { return go_quote(go_duration(v.empty() ? 0 : ns)); };
    return "HEALTHCHECK &{" + go_quote_list(h.test) + " " + dur(h.interval, h.interval_ns) + " " +
           dur(h.timeout, h.timeout_ns) + " " + dur(h.start_period, h.start_period_ns) + " " +
           go_quote_rune(h.retries.empty() ? 0 : h.retries_n) + "}";
}

}  // namespace

std::string go_quote_list(const std::vector<std::string>& v) {
    std::vector<std::string> q;
    for (const auto& s : v) q.push_back(go_quote(s));
    return "[" + join(q) + "]";
}

std::string go_duration(int64_t ns) {
    if (ns == 0) return "0s";
    std::string sign = ns < 0 ? "-" : "";
    uint64_t u = ns < 0 ? uint64_t(0) - uint64_t(ns) : uint64_t(ns);
    if (u < 1000) return sign + std::to_string(u) + "ns";
    if (u < 1000000) return sign + frac(u, 3) + "\xC2\xB5s";
    if (u < 1000000000) return sign + frac(u, 6) + "ms";
    std::string out = frac(u % 60000000000ull, 9) + "s";
    uint64_t m = u / 60000000000ull;
    if (m > 0) {
        out = std::to_string(m % 60) + "m" + out;
        if (m / 60 > 0) out = std::to_string(m / 60) + "h" + out;
    }
    return sign + out;
}

std::string buildkit_created_by(const Instruction& in, const HistoryState& st) {
    using K = Instruction::Kind;
    switch (in.kind) {
        case K::Run: return run_text(in, st);
        case K::Copy:
        case K::Add: {
            std::vector<std::string> w = in.srcs;
            w.push_back(in.dest);
            return std::string(in.kind == K::Copy ? "COPY " : "ADD ") + join(w) + " # buildkit";
        }
        case K::Env: return "ENV" + kvs(in.kvs);
        case K::Label: return "LABEL" + kvs(in.kvs);
        case K::Arg: {
            std::string out = "ARG";
            for (const auto& d : in.arg_defs) out += " " + d.key + (d.value ? "=" + *d.value : "");
            return out;
        }
        case K::Cmd: return "CMD " + with_shell(in, st.shell);
        case K::Entrypoint: return "ENTRYPOINT " + with_shell(in, st.shell);
        case K::Shell: return "SHELL " + go_list(in.args);
        case K::Volume: return "VOLUME " + go_list(in.args);
        case K::Expose: {
            std::vector<std::string> ports = expose_ports(in.args);
            std::set<std::string> uniq(ports.begin(), ports.end());
            std::string out = "EXPOSE map[";
            for (const auto& p : uniq) out += (p == *uniq.begin() ? "" : " ") + p + ":{}";
            return out + "]";
        }
        case K::Healthcheck: return healthcheck_text(in.health);
        case K::Workdir: return "WORKDIR " + st.workdir;
        case K::User: return "USER " + in.value;
        case K::Stopsignal: return "STOPSIGNAL " + in.value;
        case K::Maintainer: return "MAINTAINER " + in.value;
        case K::Onbuild: return "";
        case K::From: break;
    }
    return in.original;
}

}  // namespace frontend
