// Stages (parse_buildfile) and the stage graph (plan_stages), after BuildKit's
// instructions.Parse and dockerfile2llb dependency resolution.
#include "frontend/stages.hpp"

#include <algorithm>
#include <functional>
#include <optional>
#include <set>

#include "frontend/parse_text.hpp"
#include "sys/error.hpp"

namespace frontend {
namespace {

constexpr size_t kMaxStages = 2000;

[[noreturn]] void fail_at(const Instruction& in, const std::string& msg) {
    fail_located(in.loc.file, in.loc.start_line, msg, in.original);
}

std::string stage_label(const Stage& s) { return s.name.empty() ? std::to_string(s.index) : s.name; }

bool all_digits(const std::string& s) {
    return !s.empty() && s.size() < 10 && s.find_first_not_of("0123456789") == std::string::npos;
}

// Loose image reference check: [domain[:port]/]path[:tag][@digest], path lower-case.
bool valid_image_ref(const std::string& ref) {
    if (ref.empty() || ref.size() > 512) return false;
    for (char c : ref)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-' || c == '/' || c == ':' || c == '@' || c == '+' || c == '='))
            return false;
    std::string name = ref.substr(0, ref.find('@'));
    auto slash = name.find('/');
    std::string path = name;
    if (slash != std::string::npos) {
        std::string first = name.substr(0, slash);
        if (first.find_first_of(".:") != std::string::npos || first == "localhost") path = name.substr(slash + 1);
    }
    auto colon = path.rfind(':');
    if (colon != std::string::npos && path.find('/', colon) == std::string::npos) path.resize(colon);
    if (path.empty() || path.front() == '/' || path.back() == '/') return false;
    for (char c : path)
        if (c >= 'A' && c <= 'Z') return false;
    return true;
}

}  // namespace

std::string Platform::str() const { return os + "/" + arch + (variant.empty() ? "" : "/" + variant); }

Platform host_platform() {
    Platform p;
#if defined(__x86_64__)
    p.arch = "amd64";
#elif defined(__aarch64__)
    p.arch = "arm64";
#elif defined(__arm__)
    p.arch = "arm";
    p.variant = "v7";
#elif defined(__i386__)
    p.arch = "386";
#elif defined(__powerpc64__)
    p.arch = "ppc64le";
#elif defined(__s390x__)
    p.arch = "s390x";
#elif defined(__riscv)
    p.arch = "riscv64";
#else
    p.arch = "unknown";
#endif
    return p;
}

std::map<std::string, std::string> automatic_platform_args() {
    Platform p = host_platform();
    std::map<std::string, std::string> m;
    for (const char* pre : {"TARGET", "BUILD"}) {
        std::string s = pre;
        m[s + "PLATFORM"] = p.str();
        m[s + "OS"] = p.os;
        m[s + "ARCH"] = p.arch;
        m[s + "VARIANT"] = p.variant;
    }
    return m;
}

bool is_predefined_arg(const std::string& name) {
    static const std::set<std::string> names = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                                                "FTP_PROXY",  "ftp_proxy",  "NO_PROXY",    "no_proxy",
                                                "ALL_PROXY",  "all_proxy"};
    return names.count(name) > 0;
}

BuildfileAST parse_buildfile(std::string_view text, const std::string& name, const ParseLimits& limits) {
    ParseResult pr = parse_dockerfile(text, name, limits);
    BuildfileAST ast;
    ast.file = name;
    ast.escape = pr.escape;
    ast.warnings = std::move(pr.warnings);
    std::map<std::string, int> names;
    for (const auto& node : pr.nodes) {
        Instruction in = parse_instruction(node, name);
        if (in.kind == Instruction::Kind::From) {
            if (ast.stages.size() >= kMaxStages)
                fail_at(in, "too many build stages (limit " + std::to_string(kMaxStages) + ")");
            Stage st;
            st.index = static_cast<int>(ast.stages.size());
            st.name = in.stage_name;
            st.base = in.base;
            st.platform = in.platform;
            st.loc = in.loc;
            if (!st.name.empty()) {
                if (names.count(st.name)) fail_at(in, "duplicate stage name " + go_quote(st.name));
                names[st.name] = st.index;
            }
            st.from = std::move(in);
            ast.stages.push_back(std::move(st));
        } else if (ast.stages.empty()) {
            if (in.kind != Instruction::Kind::Arg)
                fail_at(in, std::string("no build stage in current context (only ARG may come before the first FROM, found ") +
                                in.keyword() + ")");
            ast.global_args.push_back(std::move(in));
        } else {
            ast.stages.back().instructions.push_back(std::move(in));
        }
    }
    if (ast.stages.empty()) {
        const auto& last = ast.global_args.back();
        fail_located(name, last.loc.start_line, "no build stage in context: the file has no FROM");
    }
    return ast;
}

std::optional<std::string> stage_arg_value(const std::string& key, const std::optional<std::string>& expanded_default,
                                           const std::map<std::string, std::string>& build_args,
                                           const ShellLex::Env& global_env) {
    if (auto it = build_args.find(key); it != build_args.end()) return it->second;
    if (expanded_default) return expanded_default;
    if (auto it = global_env.find(key); it != global_env.end()) return it->second;
    auto autos = automatic_platform_args();
    if (auto it = autos.find(key); it != autos.end()) return it->second;
    return std::nullopt;
}

StageRef resolve_stage_ref(const BuildfileAST& ast, const std::string& value, int current, bool allow_index) {
    StageRef ref;
    std::string lower = to_lower_ascii(value);
    for (const auto& s : ast.stages)
        if (!s.name.empty() && s.name == lower) {
            ref.stage = s.index;
            return ref;
        }
    if (allow_index && all_digits(value)) {
        int idx = std::stoi(value);
        if (idx >= static_cast<int>(ast.stages.size()))
            sys::fail(sys::Code::InvalidInput, "invalid stage index " + value);
        ref.stage = idx;
        return ref;
    }
    if (!valid_image_ref(value))
        sys::fail(sys::Code::InvalidInput,
                         go_quote(value) + " is not a stage name" + (allow_index ? ", stage index" : "") +
                             " or a valid image reference (undefined stage)");
    ref.image = value;
    return ref;
}

// One stage's walk after its FROM: expands each COPY --from / RUN --mount from= with what the
// solver expands every other word of the step with (the stage's ARGs, then ENV: inherited from
// a base stage, then set here; ENV wins over an ARG of the same name), resolves what it names
// into `ps` and `deps`, and returns the ENV the stage ends with (a `FROM <this stage>` starts
// with it).
static ShellLex::Env plan_stage_froms(const BuildfileAST& ast, const Stage& st, ShellLex& lex,
                                      const std::map<std::string, std::string>& build_args,
                                      const ShellLex::Env& global, ShellLex::Env envs, PlannedStage& ps,
                                      std::set<int>& deps, std::set<std::string>& declared) {
    ShellLex::Env args;
    // As the solver (and BuildKit's one environment): of an ARG and an ENV of the same name,
    // the one declared later wins.
    std::set<std::string> arg_over_env;
    auto scope = [&] {
        ShellLex::Env e = args;
        for (const auto& [k, v] : envs)
            if (!arg_over_env.count(k)) e[k] = v;
        return e;
    };
    auto add_from = [&](const std::string& value, const Instruction& in) -> StageRef {
        StageRef r;
        try {
            r = resolve_stage_ref(ast, value, st.index, true);
        } catch (const sys::Error& e) {
            fail_at(in, e.what());
        }
        if (r.stage >= 0)
            deps.insert(r.stage);
        else if (std::find(ps.images.begin(), ps.images.end(), r.image) == ps.images.end())
            ps.images.push_back(r.image);
        return r;
    };
    for (size_t i = 0; i < st.instructions.size(); i++) {
        const Instruction& in = st.instructions[i];
        using K = Instruction::Kind;
        if (in.kind == K::Arg) {
            for (const auto& d : in.arg_defs) {
                std::optional<std::string> def;
                if (d.value) {
                    try {
                        def = lex.process_word(*d.value, scope());
                    } catch (const sys::Error& e) {
                        fail_at(in, e.what());
                    }
                }
                declared.insert(d.key);
                if (auto v = stage_arg_value(d.key, def, build_args, global)) {
                    args[d.key] = *v;
                    arg_over_env.insert(d.key);
                } else {
                    args.erase(d.key);
                }
            }
        } else if (in.kind == K::Env) {
            Instruction e = expand(in, lex, scope());
            for (const auto& kv : e.kvs) {
                envs[kv.key] = kv.value;
                arg_over_env.erase(kv.key);
            }
        } else if ((in.kind == K::Copy || in.kind == K::Add) && !in.from.empty()) {
            ps.copy_from[i] = add_from(expand(in, lex, scope()).from, in);
        } else if (in.kind == K::Run) {
            const auto mounts = expand(in, lex, scope()).mounts;
            for (size_t m = 0; m < mounts.size(); m++)
                if (!mounts[m].from.empty()) ps.mount_from[{i, m}] = add_from(mounts[m].from, in);
        }
    }
    return envs;
}

BuildPlan plan_stages(const BuildfileAST& ast, const std::map<std::string, std::string>& build_args,
                      const std::string& target) {
    BuildPlan plan;
    ShellLex lex(ast.escape);
    std::set<std::string> consumed;
    // Global scope: automatic platform args, then declared global ARGs.
    ShellLex::Env global = {};
    for (const auto& [k, v] : automatic_platform_args()) global[k] = v;
    for (const auto& in : ast.global_args) {
        Instruction e = expand(in, lex, global);
        for (const auto& d : e.arg_defs) {
            consumed.insert(d.key);
            if (auto it = build_args.find(d.key); it != build_args.end())
                global[d.key] = it->second;
            else if (d.value)
                global[d.key] = *d.value;
        }
    }
    plan.global_env = global;
    const int n = static_cast<int>(ast.stages.size());
    plan.stages.resize(n);
    std::vector<std::optional<sys::Error>> errors(n);  // a stage that cannot be planned: raised if needed
    std::vector<std::set<std::string>> declared(n);
    std::vector<ShellLex::Env> stage_envs(n);  // the ENV each stage ends with: `FROM stage` starts there
    for (const auto& st : ast.stages) {
        PlannedStage& ps = plan.stages[st.index];
        ps.index = st.index;
        std::set<int> deps;
        try {
            Instruction from = expand(st.from, lex, global);
            if (trim_space(from.base).empty())
                fail_at(st.from, "base name (" + st.base + ") should not be blank");
            ps.platform = from.platform;
            try {
                ps.base = resolve_stage_ref(ast, from.base, st.index, false);
            } catch (const sys::Error& e) {
                fail_at(st.from, e.what());
            }
            if (ps.base.stage >= 0) deps.insert(ps.base.stage);
            ShellLex::Env inherited;
            if (ps.base.stage >= 0 && ps.base.stage < st.index) inherited = stage_envs[ps.base.stage];
            stage_envs[st.index] =
                plan_stage_froms(ast, st, lex, build_args, global, std::move(inherited), ps, deps, declared[st.index]);
        } catch (const sys::Error& e) {
            errors[st.index] = e;
        }
        ps.deps.assign(deps.begin(), deps.end());
    }
    // Target.
    if (target.empty()) {
        plan.target = n - 1;
    } else {
        std::string lower = to_lower_ascii(target);
        for (const auto& s : ast.stages)
            if (s.name == lower) plan.target = s.index;
        if (plan.target < 0)
            sys::fail(sys::Code::InvalidInput, ast.file + ": target stage " + go_quote(target) + " could not be found");
    }
    // Cycle detection over every stage (as BuildKit does), then the needed set.
    std::vector<int> color(n, 0);
    std::function<void(int)> visit = [&](int i) {
        color[i] = 1;
        for (int d : plan.stages[i].deps) {
            if (color[d] == 1)
                fail_located(ast.file, ast.stages[d].loc.start_line,
                                    "circular dependency detected on stage: " + stage_label(ast.stages[d]),
                                    ast.stages[d].from.original);
            if (color[d] == 0) visit(d);
        }
        color[i] = 2;
    };
    for (int i = 0; i < n; ++i)
        if (color[i] == 0 && !errors[i]) visit(i);
    std::vector<bool> seen(n, false);
    std::function<void(int)> need = [&](int i) {
        if (seen[i]) return;
        seen[i] = true;
        if (errors[i]) throw *errors[i];  // as raised: code and location kept
        for (int d : plan.stages[i].deps) need(d);
        plan.order.push_back(i);
        plan.deps[i] = plan.stages[i].deps;
    };
    need(plan.target);
    for (int i : plan.order) consumed.insert(declared[i].begin(), declared[i].end());
    auto autos = automatic_platform_args();
    for (const auto& [k, v] : build_args)
        if (!consumed.count(k) && !is_predefined_arg(k) && !autos.count(k)) plan.unused_build_args.push_back(k);
    return plan;
}

}  // namespace frontend
