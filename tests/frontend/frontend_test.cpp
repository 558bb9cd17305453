// Front-end unit tests: heredocs, exec/shell form, flags, expansion, ARG scoping, the
// stage graph, and resource limits on hostile input.
#include <gtest/gtest.h>

#include "frontend/stages.hpp"
#include "sys/error.hpp"

using namespace frontend;
using K = Instruction::Kind;

namespace {
std::string error_of(const std::string& text, const ParseLimits& lim = {}) {
    try {
        parse_buildfile(text, "Buildfile", lim);
    } catch (const sys::Error& e) {
        EXPECT_EQ(e.code(), sys::Code::InvalidInput);
        return e.what();
    }
    return "accepted";
}
}  // namespace

TEST(Frontend, HeredocsRunAndCopy) {
    auto ast = parse_buildfile(
        "FROM busybox\n"
        "RUN <<EOF\necho $HOME\nEOF\n"
        "RUN <<-'END' cat >/x && cat <<\"B\"\n\t\tindented\n\tEND\nb $x\nB\n"
        "COPY <<one <<two /dst/\n1\none\n2\ntwo\n"
        "RUN echo done\n",
        "Buildfile");
    const auto& ins = ast.stages.at(0).instructions;
    ASSERT_EQ(ins.size(), 4u);
    ASSERT_EQ(ins[0].heredocs.size(), 1u);
    EXPECT_EQ(ins[0].heredocs[0].name, "EOF");
    EXPECT_EQ(ins[0].heredocs[0].content, "echo $HOME\n");
    EXPECT_TRUE(ins[0].heredocs[0].expand);
    EXPECT_EQ(ins[0].loc.start_line, 2);
    EXPECT_EQ(ins[0].loc.end_line, 4);
    ASSERT_EQ(ins[1].heredocs.size(), 2u);
    EXPECT_EQ(ins[1].heredocs[0].name, "END");
    EXPECT_TRUE(ins[1].heredocs[0].chomp_tabs);
    EXPECT_FALSE(ins[1].heredocs[0].expand);
    EXPECT_EQ(ins[1].heredocs[0].content, "indented\n");
    EXPECT_EQ(ins[1].heredocs[1].name, "B");
    EXPECT_FALSE(ins[1].heredocs[1].expand);
    EXPECT_EQ(ins[1].heredocs[1].content, "b $x\n");
    EXPECT_EQ(ins[2].kind, K::Copy);
    EXPECT_TRUE(ins[2].srcs.empty());
    ASSERT_EQ(ins[2].heredocs.size(), 2u);
    EXPECT_EQ(ins[2].heredocs[1].content, "2\n");
    EXPECT_EQ(ins[2].dest, "/dst/");
    EXPECT_EQ(ins[3].loc.start_line, 15);
}

TEST(Frontend, ExecFormAndShellFallback) {
    auto ast = parse_buildfile("FROM x\nCMD [\"a\", \"b c\"]\nENTRYPOINT [\"a\", 'b']\nRUN [ \"unterminated\"\n",
                               "Buildfile");
    const auto& ins = ast.stages[0].instructions;
    EXPECT_TRUE(ins[0].json_form);
    EXPECT_EQ(ins[0].args, (std::vector<std::string>{"a", "b c"}));
    EXPECT_FALSE(ins[1].json_form);
    EXPECT_EQ(ins[1].args, (std::vector<std::string>{"[\"a\", 'b']"}));
    EXPECT_FALSE(ins[2].json_form);
    EXPECT_EQ(created_by(ins[2]), "RUN /bin/sh -c [ \"unterminated\" # buildkit");
    EXPECT_EQ(created_by(ins[0]), "CMD [\"a\", \"b c\"]");
}

TEST(Frontend, FlagsAndMounts) {
    auto ast = parse_buildfile(
        "FROM --platform=$BUILDPLATFORM busybox AS b\n"
        "RUN --mount=type=cache,target=/root/.cache,sharing=locked --mount=type=secret,id=tok,required "
        "--mount=type=bind,from=b,source=/src,target=/s,rw --network=none make\n"
        "COPY --from=b --chown=1:2 --chmod=755 --link --parents --exclude=*.o --exclude=*.a a b /d/\n"
        "ADD --checksum=sha256:abc http://x/y /z\n"
        "HEALTHCHECK --interval=1m30s --retries=3 CMD curl -f http://localhost/\n",
        "Buildfile");
    const auto& st = ast.stages[0];
    EXPECT_EQ(st.platform, "$BUILDPLATFORM");
    EXPECT_EQ(st.name, "b");
    const auto& run = st.instructions[0];
    ASSERT_EQ(run.mounts.size(), 3u);
    EXPECT_EQ(run.mounts[0].type, "cache");
    EXPECT_EQ(run.mounts[0].id, "/root/.cache");
    EXPECT_EQ(run.mounts[0].sharing, "locked");
    EXPECT_EQ(run.mounts[1].type, "secret");
    EXPECT_EQ(run.mounts[1].target, "/run/secrets/tok");
    EXPECT_TRUE(run.mounts[1].required);
    EXPECT_FALSE(run.mounts[2].readonly);
    EXPECT_EQ(run.mounts[2].from, "b");
    EXPECT_EQ(run.network, "none");
    const auto& cp = st.instructions[1];
    EXPECT_EQ(cp.from, "b");
    EXPECT_EQ(cp.chown, "1:2");
    EXPECT_EQ(cp.chmod, "755");
    EXPECT_TRUE(cp.link);
    EXPECT_TRUE(cp.parents);
    EXPECT_EQ(cp.excludes, (std::vector<std::string>{"*.o", "*.a"}));
    EXPECT_EQ(cp.srcs, (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(st.instructions[2].checksum, "sha256:abc");
    const auto& hc = st.instructions[3].health;
    EXPECT_EQ(hc.test, (std::vector<std::string>{"CMD-SHELL", "curl -f http://localhost/"}));
    EXPECT_EQ(hc.interval_ns, 90'000'000'000LL);
    EXPECT_EQ(hc.retries_n, 3);
    EXPECT_NE(error_of("FROM x\nCOPY --link=maybe a b\n").find("expecting boolean value for flag link"), std::string::npos);
    EXPECT_NE(error_of("FROM x\nHEALTHCHECK --interval=5 CMD true\n").find("missing unit"), std::string::npos);
    EXPECT_NE(error_of("FROM x\nADD --keep-git-dir a b\n").find("not implemented"), std::string::npos);
}

TEST(Frontend, ExpandFollowsBuildKitFieldRules) {
    auto ast = parse_buildfile(
        "FROM x\nENV A=1 B=\"$A two\"\nRUN echo $A\nCOPY --chown=$U ${SRC:-def} $DST\nEXPOSE $PORTS\n"
        "WORKDIR /w/${A}\nCOPY <<EOF /f\nv=$A\nEOF\n",
        "Buildfile");
    ShellLex lex;
    ShellLex::Env env = {{"A", "1"}, {"U", "me"}, {"DST", "/d"}, {"PORTS", "80 443/udp"}};
    const auto& ins = ast.stages[0].instructions;
    auto e0 = expand(ins[0], lex, env);
    EXPECT_EQ(e0.kvs[1].value, "1 two");
    EXPECT_EQ(expand(ins[1], lex, env).args, (std::vector<std::string>{"echo $A"}));
    auto cp = expand(ins[2], lex, env);
    EXPECT_EQ(cp.chown, "me");
    EXPECT_EQ(cp.srcs, (std::vector<std::string>{"def"}));
    EXPECT_EQ(cp.dest, "/d");
    EXPECT_EQ(expand(ins[3], lex, env).args, (std::vector<std::string>{"80", "443/udp"}));
    EXPECT_EQ(expand(ins[4], lex, env).value, "/w/1");
    EXPECT_EQ(expand(ins[5], lex, env).heredocs[0].content, "v=1\n");
    ShellLex::Env none;
    EXPECT_THROW(expand(parse_buildfile("FROM x\nUSER ${U:?need user}\n", "B").stages[0].instructions[0], lex, none),
                 sys::Error);
}

TEST(Frontend, PlanArgsTargetsAndNeededStages) {
    const std::string text =
        "ARG BASE=busybox\nARG TAG\n"
        "FROM ${BASE}:${TAG:-latest} AS base\nARG TAG\nRUN echo $TAG\n"
        "FROM base AS broken\nRUN exit 1\n"
        "FROM busybox AS tools\nENV SRC=base\n"
        "FROM scratch AS final\nARG FROMSTAGE=tools\nCOPY --from=$FROMSTAGE /a /a\n"
        "RUN --mount=from=0,target=/m true\nCOPY --from=alpine:3 /b /b\n";
    auto ast = parse_buildfile(text, "Buildfile");
    ASSERT_EQ(ast.global_args.size(), 2u);
    ASSERT_EQ(ast.stages.size(), 4u);
    auto plan = plan_stages(ast, {{"TAG", "1.36"}, {"UNUSED", "x"}}, "");
    EXPECT_EQ(plan.target, 3);
    EXPECT_EQ(plan.stages[0].base.image, "busybox:1.36");
    EXPECT_EQ(plan.stages[1].base.stage, 0);
    EXPECT_EQ(plan.order, (std::vector<int>{0, 2, 3}));  // "broken" is not needed
    EXPECT_EQ(plan.deps[3], (std::vector<int>{0, 2}));
    EXPECT_EQ(plan.stages[3].images, (std::vector<std::string>{"alpine:3"}));
    EXPECT_EQ(plan.unused_build_args, (std::vector<std::string>{"UNUSED"}));
    // The solver takes --from resolutions from the plan (one resolution, no disagreement).
    const auto& cf = plan.stages[3].copy_from;
    ASSERT_EQ(cf.size(), 2u);
    EXPECT_EQ(cf.at(1).stage, 2);  // COPY --from=$FROMSTAGE (instruction 1 of the stage)
    EXPECT_EQ(cf.at(3).image, "alpine:3");
    ASSERT_EQ(plan.stages[3].mount_from.size(), 1u);
    EXPECT_EQ(plan.stages[3].mount_from.at({2, 0}).stage, 0);
    EXPECT_EQ(plan.global_env.at("BASE"), "busybox");
    EXPECT_EQ(plan.global_env.at("TARGETPLATFORM"), host_platform().str());
    auto p2 = plan_stages(ast, {}, "Broken");
    EXPECT_EQ(p2.order, (std::vector<int>{0, 1}));
    EXPECT_EQ(p2.stages[0].base.image, "busybox:latest");
    EXPECT_EQ(stage_arg_value("TAG", std::nullopt, {}, {{"TAG", "g"}}), std::optional<std::string>("g"));
    EXPECT_EQ(stage_arg_value("TARGETARCH", std::nullopt, {}, {}), std::optional<std::string>(host_platform().arch));
    EXPECT_FALSE(stage_arg_value("NOPE", std::nullopt, {}, {}).has_value());
    EXPECT_TRUE(is_predefined_arg("HTTPS_PROXY"));
#if defined(__x86_64__)
    EXPECT_EQ(host_platform().str(), "linux/amd64");
#endif
}

TEST(Frontend, CycleThroughCopyFrom) {
    auto ast = parse_buildfile("FROM busybox AS a\nCOPY --from=b /x /x\nFROM a AS b\n", "Buildfile");
    try {
        plan_stages(ast, {}, "b");
        FAIL() << "cycle accepted";
    } catch (const sys::Error& e) {
        EXPECT_NE(std::string(e.what()).find("circular dependency detected on stage: "), std::string::npos);
    }
}

TEST(Frontend, HostileInputGivesBoundedCleanErrors) {
    std::string huge = "FROM x\nRUN echo " + std::string(10u << 20, 'a') + "\n";
    EXPECT_NE(error_of(huge).find("Buildfile:2: line too long"), std::string::npos);
    std::string cont = "FROM x\nRUN a";
    for (int i = 0; i < 40000; ++i) cont += " \\\n" + std::string(40, 'b');
    EXPECT_NE(error_of(cont).find("line too long"), std::string::npos);
    std::string many = "FROM x\n";
    many.reserve(9u << 20);
    for (int i = 0; i < 1000000; ++i) many += "RUN a\n";
    EXPECT_NE(error_of(many).find("too many instructions"), std::string::npos);
    EXPECT_EQ(error_of(std::string("FROM x\nRUN a\0b\n", 14)), "Buildfile:2: NUL byte in line");
    EXPECT_EQ(error_of("FROM x\n\nRUN \xff\xfe\n"), "Buildfile:3: invalid UTF-8 in line");
    ParseLimits small;
    small.max_heredoc_bytes = 10;
    EXPECT_NE(error_of("FROM x\nRUN <<E\n0123456789abc\nE\n", small).find("heredoc too large"), std::string::npos);
    small.max_file_bytes = 4;
    EXPECT_NE(error_of("FROM x\n", small).find("file too large"), std::string::npos);
    std::string nested = "FROM x\nCMD " + std::string(100000, '[') + "\n";
    EXPECT_EQ(parse_buildfile(nested, "B").stages[0].instructions[0].json_form, false);
    std::string stages;
    for (int i = 0; i < 3000; ++i) stages += "FROM x\n";
    EXPECT_NE(error_of(stages).find("too many build stages"), std::string::npos);
}

TEST(Frontend, ShellPatternOperators) {
    ShellLex lex;
    ShellLex::Env env = {{"F", "archive.tar.gz"}, {"P", "/usr/local/bin"}};
    EXPECT_EQ(lex.process_word("${F%.*}", env), "archive.tar");
    EXPECT_EQ(lex.process_word("${F%%.*}", env), "archive");
    EXPECT_EQ(lex.process_word("${F#*.}", env), "tar.gz");
    EXPECT_EQ(lex.process_word("${F##*.}", env), "gz");
    EXPECT_EQ(lex.process_word("${P/local/opt}", env), "/usr/opt/bin");
    EXPECT_EQ(lex.process_word("${P//\\//:}", env), ":usr:local:bin");
    EXPECT_EQ(lex.process_word("${F/[a-c]/X}", env), "Xrchive.tar.gz");
    EXPECT_EQ(lex.process_word("${NOPE-dflt} ${F:+set}", env), "dflt set");
    EXPECT_THROW(lex.process_word("${NOPE:?custom msg}", env), sys::Error);
    auto r = lex.process("$F $MISSING", env);
    EXPECT_TRUE(r.matched.count("F"));
    EXPECT_TRUE(r.unmatched.count("MISSING"));
}

// --from expands with the stage's ARGs and ENV (inherited from a base stage), ENV winning,
// as the solver expands the step's other words.
// Of an inherited ENV and a later ARG of the same name (its value the global default), the
// ARG names the stage: BuildKit's one environment, written by both in order.
TEST(Frontend, PlanFromExpandsWithTheLaterOfEnvAndArg) {
    auto ast = parse_buildfile(
        "ARG SRC=one\nFROM scratch AS one\nFROM scratch AS two\nFROM scratch AS base\nENV SRC=two\n"
        "FROM base AS a\nARG SRC\nCOPY --from=$SRC /f /f\n"
        "FROM base AS b\nCOPY --from=$SRC /f /f\n"
        "FROM scratch AS c\nARG SRC\nCOPY --from=$SRC /f /f\n",
        "Buildfile");
    auto plan = plan_stages(ast, {}, "");
    EXPECT_EQ(plan.stages[3].copy_from.at(1).stage, 0);  // inherited ENV SRC=two, then ARG SRC (=one) wins
    EXPECT_EQ(plan.stages[4].copy_from.at(0).stage, 1);  // inherited ENV alone
    EXPECT_EQ(plan.stages[5].copy_from.at(1).stage, 0);  // no ENV: the global ARG
    EXPECT_EQ(plan.stages[3].deps, (std::vector<int>{0, 2}));
}
