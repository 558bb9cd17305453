// Nodes -> typed instructions (BuildKit frontend/dockerfile/instructions/parse.go), with
// BuildKit's error wording; and per-instruction expansion for the solver.
#include "frontend/instructions.hpp"

#include <algorithm>

#include "frontend/parse_flags.hpp"
#include "frontend/parse_text.hpp"
#include "sys/error.hpp"

namespace frontend {
namespace {

using detail::Flags;
using detail::LineError;
using K = Instruction::Kind;

struct KindName {
    K kind;
    const char* name;
};
constexpr KindName kKinds[] = {
    {K::From, "from"},       {K::Run, "run"},           {K::Copy, "copy"},     {K::Add, "add"},
    {K::Env, "env"},         {K::Arg, "arg"},           {K::Workdir, "workdir"}, {K::User, "user"},
    {K::Expose, "expose"},   {K::Label, "label"},       {K::Cmd, "cmd"},       {K::Entrypoint, "entrypoint"},
    {K::Volume, "volume"},   {K::Shell, "shell"},       {K::Stopsignal, "stopsignal"},
    {K::Healthcheck, "healthcheck"}, {K::Onbuild, "onbuild"}, {K::Maintainer, "maintainer"},
};

size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (size_t j = 1; j <= b.size(); ++j)
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

std::string unknown_instruction(const std::string& value) {
    std::string msg = "unknown instruction: " + value;
    std::string lower = to_lower_ascii(value);
    if (lower.size() > 64) return msg;
    size_t best = 3;
    const char* best_name = nullptr;
    for (const auto& k : kKinds) {
        size_t d = edit_distance(lower, k.name);
        if (d < best) best = d, best_name = k.name;
    }
    if (best_name) msg += std::string(" (did you mean ") + best_name + "?)";
    return msg;
}

LineError at_least_one(const char* cmd) { return LineError(std::string(cmd) + " requires at least one argument"); }
LineError exactly_one(const char* cmd) { return LineError(std::string(cmd) + " requires exactly one argument"); }

bool is_heredoc_word(const std::string& w) {
    size_t i = 0;
    while (i < w.size() && w[i] >= '0' && w[i] <= '9') ++i;
    return w.compare(i, 2, "<<") == 0 && w.size() > i + 2 && w.find('<', i + 2) == std::string::npos;
}

bool valid_stage_name(const std::string& n) {
    if (n.empty() || !(n[0] >= 'a' && n[0] <= 'z')) return false;
    for (char c : n)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.')) return false;
    return true;
}

void parse_kvs(const Node& n, const char* cmd, Instruction& in) {
    if (n.args.empty()) throw at_least_one(cmd);
    if (n.args.size() % 3 != 0) throw LineError(std::string("Bad input to ") + cmd + ", too many arguments");
    for (size_t i = 0; i + 2 < n.args.size(); i += 3) {
        if (n.args[i].empty()) throw LineError(std::string(cmd) + " names can not be blank");
        in.kvs.push_back({n.args[i], n.args[i + 2] == "=" ? n.args[i + 1] : n.args[i + 1]});
    }
}

void parse_copy_add(const Node& n, Instruction& in, bool add) {
    const char* cmd = add ? "ADD" : "COPY";
    Flags f;
    f.add_string("chown");
    f.add_string("chmod");
    f.add_bool("link");
    f.add_strings("exclude");
    if (add) {
        f.add_string("checksum");
        f.add_bool("keep-git-dir");
    } else {
        f.add_string("from");
        f.add_bool("parents");
    }
    f.parse(n.flags);
    if (n.args.size() < 2)
        throw LineError(std::string(cmd) +
                        " requires at least two arguments, but only one was provided. Destination could not be determined.");
    in.chown = f.str("chown");
    in.chmod = f.str("chmod");
    in.link = f.boolean("link");
    in.excludes = f.strs("exclude");
    if (add) {
        in.checksum = f.str("checksum");
        if (f.boolean("keep-git-dir")) throw LineError("ADD --keep-git-dir is not implemented");
    } else {
        in.from = f.str("from");
        in.parents = f.boolean("parents");
    }
    in.dest = n.args.back();
    in.json_form = n.json;
    if (!n.json && is_heredoc_word(in.dest)) throw LineError(std::string(cmd) + " cannot accept a heredoc as a destination");
    std::vector<Heredoc> docs = n.heredocs;
    in.heredocs.clear();
    for (size_t i = 0; i + 1 < n.args.size(); ++i) {
        const auto& src = n.args[i];
        if (!n.json && !docs.empty() && is_heredoc_word(src)) {
            in.heredocs.push_back(docs.front());
            docs.erase(docs.begin());
            continue;
        }
        in.srcs.push_back(src);
    }
}

void parse_health(const Node& n, Instruction& in) {
    if (n.args.empty()) throw at_least_one("HEALTHCHECK");
    std::string typ = n.args[0];
    std::transform(typ.begin(), typ.end(), typ.begin(), [](char c) { return c >= 'a' && c <= 'z' ? c - 32 : c; });
    std::vector<std::string> rest(n.args.begin() + 1, n.args.end());
    if (typ == "NONE") {
        if (!rest.empty()) throw LineError("HEALTHCHECK NONE takes no arguments");
        in.health.test = {"NONE"};
        return;
    }
    Flags f;
    for (const char* name : {"interval", "timeout", "start-period", "start-interval", "retries"}) f.add_string(name);
    f.parse(n.flags);
    if (typ != "CMD") throw LineError("Unknown type " + go_quote(typ) + " in HEALTHCHECK (try CMD)");
    if (rest.empty() || (rest.size() == 1 && rest[0].empty() && !n.json))
        throw LineError("Missing command after HEALTHCHECK CMD");
    in.health.test = {n.json ? "CMD" : "CMD-SHELL"};
    in.health.test.insert(in.health.test.end(), rest.begin(), rest.end());
    auto interval = [&](const char* flag, std::string& raw, int64_t& ns) {
        raw = f.str(flag);
        if (raw.empty()) return;
        try {
            ns = parse_go_duration_ns(raw);
        } catch (const sys::Error& e) {
            throw LineError(e.what());
        }
        if (ns < 0) throw LineError(std::string("Interval ") + flag + " cannot be negative");
        if (ns != 0 && ns < 1000000) throw LineError(std::string("Interval ") + flag + " cannot be less than 1ms");
    };
    interval("interval", in.health.interval, in.health.interval_ns);
    interval("timeout", in.health.timeout, in.health.timeout_ns);
    interval("start-period", in.health.start_period, in.health.start_period_ns);
    interval("start-interval", in.health.start_interval, in.health.start_interval_ns);
    in.health.retries = f.str("retries");
    if (!in.health.retries.empty()) {
        const auto& r = in.health.retries;
        bool neg = r[0] == '-';
        std::string digits = neg ? r.substr(1) : r;
        if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos)
            throw LineError("strconv.ParseInt: parsing " + go_quote(r) + ": invalid syntax");
        long v = std::stol(digits);
        if (neg && v != 0) throw LineError("--retries cannot be negative (-" + digits + ")");
        in.health.retries_n = static_cast<int>(v);
    }
}

void parse_typed(const Node& n, Instruction& in, K kind, int depth);

void parse_onbuild(const Node& n, Instruction& in, int depth) {
    if (n.children.empty()) throw at_least_one("ONBUILD");
    const Node& child = n.children[0];
    std::string trig = to_lower_ascii(child.value);
    if (trig == "onbuild") throw LineError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    if (trig == "from" || trig == "maintainer") {
        std::string up = child.value;
        std::transform(up.begin(), up.end(), up.begin(), [](char c) { return c >= 'a' && c <= 'z' ? c - 32 : c; });
        throw LineError(up + " isn't allowed as an ONBUILD trigger");
    }
    // Validate the trigger now so errors show at the ONBUILD line.
    bool known = false;
    for (const auto& k : kKinds)
        if (trig == k.name) {
            Instruction inner;
            parse_typed(child, inner, k.kind, depth + 1);
            known = true;
        }
    if (!known) throw LineError(unknown_instruction(child.value));
    in.onbuild = trim_space(child.original);
}

void parse_typed(const Node& n, Instruction& in, K kind, int depth) {
    in.kind = kind;
    in.flags = n.flags;
    if (kind != K::Copy && kind != K::Add && kind != K::Run && kind != K::Healthcheck && kind != K::From) {
        Flags none;
        none.parse(n.flags);
    }
    switch (kind) {
        case K::From: {
            Flags f;
            f.add_string("platform");
            f.parse(n.flags);
            if (n.args.size() == 3 && to_lower_ascii(n.args[1]) == "as") {
                in.stage_name = to_lower_ascii(n.args[2]);
                if (!valid_stage_name(in.stage_name))
                    throw LineError("invalid name for build stage: " + go_quote(n.args[2]) +
                                    ", name can't start with a number or contain symbols");
            } else if (n.args.size() != 1) {
                throw LineError("FROM requires either one or three arguments");
            }
            in.base = n.args[0];
            in.platform = f.str("platform");
            break;
        }
        case K::Run: {
            Flags f;
            f.add_strings("mount");
            f.add_string("network");
            f.add_string("security");
            f.parse(n.flags);
            if (f.used("security")) {
                in.security = f.str("security");
                if (in.security != "sandbox" && in.security != "insecure")
                    throw LineError("security mode " + go_quote(in.security) + " not supported");
            }
            for (const auto& m : f.strs("mount")) in.mounts.push_back(detail::parse_run_mount(m));
            if (f.used("network")) {
                in.network = f.str("network");
                if (in.network != "default" && in.network != "none" && in.network != "host")
                    throw LineError("network mode " + go_quote(in.network) + " not supported");
            }
            in.args = n.args;
            in.json_form = n.json;
            in.heredocs = n.heredocs;
            if (in.args.empty() && in.heredocs.empty()) throw at_least_one("RUN");
            break;
        }
        case K::Copy:
        case K::Add:
            parse_copy_add(n, in, kind == K::Add);
            break;
        case K::Env:
            parse_kvs(n, "ENV", in);
            break;
        case K::Label:
            parse_kvs(n, "LABEL", in);
            break;
        case K::Arg:
            if (n.args.empty()) throw at_least_one("ARG");
            for (const auto& a : n.args) {
                auto eq = a.find('=');
                ArgDef d;
                d.key = a.substr(0, eq);
                if (eq != std::string::npos) d.value = a.substr(eq + 1);
                if (d.key.empty()) throw LineError("ARG names can not be blank");
                in.arg_defs.push_back(std::move(d));
            }
            break;
        case K::Workdir:
        case K::User:
        case K::Stopsignal:
        case K::Maintainer:
            if (n.args.size() != 1) {
                std::string up = kind_keyword(kind);
                for (auto& c : up) c = static_cast<char>(c - 32);
                throw exactly_one(up.c_str());
            }
            in.value = n.args[0];
            break;
        case K::Expose:
            if (n.args.empty()) throw at_least_one("EXPOSE");
            in.args = n.args;
            break;
        case K::Volume:
            if (n.args.empty()) throw at_least_one("VOLUME");
            for (const auto& v : n.args)
                if (trim_space(v).empty()) throw LineError("VOLUME specified can not be an empty string");
            in.args = n.args;
            in.json_form = n.json;
            break;
        case K::Cmd:
        case K::Entrypoint:
            in.args = n.args;
            in.json_form = n.json;
            break;
        case K::Shell:
            if (n.args.empty()) throw at_least_one("SHELL");
            if (!n.json) throw LineError("SHELL requires the arguments to be in JSON form");
            in.args = n.args;
            in.json_form = true;
            break;
        case K::Healthcheck:
            parse_health(n, in);
            break;
        case K::Onbuild:
            if (depth > 0) throw LineError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
            parse_onbuild(n, in, depth);
            break;
    }
}

}  // namespace

const char* kind_keyword(Instruction::Kind k) {
    for (const auto& e : kKinds)
        if (e.kind == k) return e.name;
    return "?";
}

const char* Instruction::keyword() const { return kind_keyword(kind); }

Instruction parse_instruction(const Node& node, const std::string& file) {
    Instruction in;
    in.loc = {file, node.start_line, node.end_line};
    in.original = trim_space(node.original);
    std::string lower = to_lower_ascii(node.value);
    const KindName* k = nullptr;
    for (const auto& e : kKinds)
        if (lower == e.name) k = &e;
    try {
        if (!k) throw LineError(unknown_instruction(node.value));
        parse_typed(node, in, k->kind, 0);
    } catch (const LineError& e) {
        fail_located(file, node.start_line, e.what(), node.original);
    }
    return in;
}

}  // namespace frontend
