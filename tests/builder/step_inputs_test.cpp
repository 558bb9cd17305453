// The cache inputs of each kind of step (builder/step_inputs.hpp): pure functions of the stage
// state and the instruction, so what makes a key change is tested without a store or a build.
#include <gtest/gtest.h>

#include "builder/cache.hpp"
#include "builder/step_inputs.hpp"
#include "frontend/stages.hpp"

using namespace builder;
using nlohmann::json;

namespace {

// The instruction of a one-instruction stage, expanded as the solver hands it to an executor.
Instruction step(const std::string& line) {
    auto ast = frontend::parse_buildfile("FROM scratch\n" + line + "\n", "Buildfile");
    ShellLex lex(ast.escape);
    return frontend::expand(ast.stages.at(0).instructions.at(0), lex, {});
}

StageState stage() {
    StageState st;
    st.key = "sha256:parent";
    st.config.config.env = {"PATH=/bin", "A=1"};
    st.config.config.user = "app";
    st.config.config.working_dir = "/w";
    st.args = {{"V", "1"}, {"HTTP_PROXY", "http://proxy:3128"}};
    return st;
}

TEST(StepInputs, BaseInputsLeaveProxyArgsOut) {
    json j = base_inputs(stage(), step("RUN true"));
    EXPECT_EQ(j["parent"], "sha256:parent");
    EXPECT_EQ(j["instruction"], "RUN true");
    EXPECT_EQ(j["args"], json({{"V", "1"}}));  // HTTP_PROXY does not change results
    EXPECT_EQ(j["env"]["A"], "1");
    EXPECT_EQ(j["user"], "app");
    EXPECT_EQ(j["workdir"], "/w");
    // A different proxy is the same key; a different ARG is not.
    StageState other = stage();
    other.args["HTTP_PROXY"] = "http://elsewhere:80";
    EXPECT_EQ(cache_key(base_inputs(other, step("RUN true"))), cache_key(j));
    other.args["V"] = "2";
    EXPECT_NE(cache_key(base_inputs(other, step("RUN true"))), cache_key(j));
}

TEST(StepInputs, RunShellMountsAndNetwork) {
    const StageState st = stage();
    json shell_form = run_inputs(st, step("RUN echo hi"), "none", {});
    EXPECT_EQ(shell_form["shell"], json({"/bin/sh", "-c"}));
    EXPECT_FALSE(run_inputs(st, step("RUN [\"echo\", \"hi\"]"), "none", {}).contains("shell"));

    Instruction in = step("RUN --mount=type=bind,source=src,target=/s --mount=type=secret,id=tok cat /s/x");
    json j = run_inputs(st, in, "host", {{0, "sha256:ctx"}});
    EXPECT_EQ(j["network"], "host");
    ASSERT_EQ(j["mounts"].size(), 2u);
    EXPECT_EQ(j["mounts"][0]["content"], "sha256:ctx");
    EXPECT_EQ(j["mounts"][1]["id"], "tok");
    EXPECT_FALSE(j["mounts"][1].contains("content"));  // a secret is named, never hashed
    EXPECT_NE(cache_key(j), cache_key(run_inputs(st, in, "host", {{0, "sha256:other"}})));
    EXPECT_NE(cache_key(j), cache_key(run_inputs(st, in, "none", {{0, "sha256:ctx"}})));
    EXPECT_EQ(cache_key(j), cache_key(run_inputs(st, in, "host", {{0, "sha256:ctx"}})));  // deterministic
}

TEST(StepInputs, CopyFromAStageOrTheContext) {
    const StageState st = stage();
    json ctx = copy_inputs(st, step("COPY --chown=1:2 a b /dst/"), std::nullopt, std::string("sha256:files"));
    EXPECT_EQ(ctx["sources"], json({"a", "b"}));
    EXPECT_EQ(ctx["dest"], "/dst/");
    EXPECT_EQ(ctx["chown"], "1:2");
    EXPECT_EQ(ctx["content"], "sha256:files");
    EXPECT_FALSE(ctx.contains("from"));
    json from = copy_inputs(st, step("COPY --from=build /out /out"), std::string("sha256:stagekey"), std::nullopt);
    EXPECT_EQ(from["from"], "sha256:stagekey");
    EXPECT_FALSE(from.contains("content"));
    // The other stage's key is part of the key: a rebuilt source stage misses.
    EXPECT_NE(cache_key(from), cache_key(copy_inputs(st, step("COPY --from=build /out /out"),
                                                     std::string("sha256:newkey"), std::nullopt)));
    json heredoc = copy_inputs(st, step("COPY <<EOF /greeting\nhello\nEOF"), std::nullopt, std::nullopt);
    ASSERT_EQ(heredoc["heredocs"].size(), 1u);
    EXPECT_EQ(heredoc["heredocs"][0][1], "hello\n");
}

TEST(StepInputs, WorkdirIsOwnedByTheUser) {
    StageState st = stage();
    json j = workdir_inputs(st, step("WORKDIR /w"));
    EXPECT_EQ(j["mkdir"], "/w");
    EXPECT_EQ(j["owner"], "app");
    st.config.config.user = "root";
    EXPECT_NE(cache_key(workdir_inputs(st, step("WORKDIR /w"))), cache_key(j));
}

TEST(StepInputs, MetadataAndArgKeysChainFromTheParent) {
    StageState st = stage();
    Instruction env = step("ENV B=2");
    std::string k = metadata_key(st, env);
    EXPECT_EQ(metadata_key(st, env), k);
    EXPECT_NE(arg_key(st, env), k);  // an ARG step is keyed apart from a metadata step
    StageState other = st;
    other.key = "sha256:another-parent";
    EXPECT_NE(metadata_key(other, env), k);
    other = st;
    other.args["V"] = "2";
    EXPECT_NE(metadata_key(other, env), k);
    EXPECT_NE(arg_key(other, step("ARG V")), arg_key(st, step("ARG V")));
}

}  // namespace
