// plan_run: a RUN instruction as plain data (argv, network, mounts), pure, no store.
#include <gtest/gtest.h>

#include "builder/run_plan.hpp"
#include "frontend/stages.hpp"
#include "sys/error.hpp"

using namespace builder;

namespace {

const std::vector<std::string> kShell = {"/bin/sh", "-c"};

// The first RUN of a one-stage Buildfile.
frontend::Instruction run_of(const std::string& text) {
    auto ast = frontend::parse_buildfile("FROM scratch\n" + text, "Buildfile");
    for (const auto& in : ast.stages.at(0).instructions)
        if (in.kind == frontend::Instruction::Kind::Run) return in;
    throw std::runtime_error("no RUN");
}

RunPlan plan(const std::string& text, const BuildOptions& o = {}, const std::string& wd = "/work") {
    return plan_run(run_of(text), kShell, wd, o);
}

sys::Code code_of(const std::string& text, const BuildOptions& o = {}) {
    try {
        plan(text, o);
    } catch (const sys::Error& e) {
        return e.code();
    }
    return sys::Code::Internal;
}

}  // namespace

TEST(RunPlan, ShellAndJsonForms) {
    EXPECT_EQ(plan("RUN make -j2\n").argv, (std::vector<std::string>{"/bin/sh", "-c", "make -j2"}));
    EXPECT_EQ(plan("RUN [\"/bin/echo\", \"a b\"]\n").argv, (std::vector<std::string>{"/bin/echo", "a b"}));
    RunPlan p = plan("RUN <<EOF\n#!/bin/busybox sh\necho hi\nEOF\n");
    ASSERT_TRUE(p.script);
    EXPECT_EQ(p.argv, (std::vector<std::string>{p.script->first}));
    EXPECT_EQ(p.script->second, "#!/bin/busybox sh\necho hi\n");
}

TEST(RunPlan, NetworkAndEntitlements) {
    EXPECT_EQ(plan("RUN true\n").network, "none");
    BuildOptions host;
    host.network = runtime::Network::Host;
    host.allow = {"network.host"};
    EXPECT_EQ(plan("RUN true\n", host).network, "host");
    EXPECT_EQ(plan("RUN --network=none true\n", host).network, "none");
    EXPECT_EQ(code_of("RUN --network=host true\n"), sys::Code::FailedPrecondition);
    EXPECT_EQ(plan("RUN --network=host true\n", host).network, "host");
    EXPECT_EQ(code_of("RUN --security=insecure true\n"), sys::Code::FailedPrecondition);
    BuildOptions insecure;
    insecure.allow = {"security.insecure"};
    EXPECT_EQ(code_of("RUN --security=insecure true\n", insecure), sys::Code::InvalidInput);  // not implemented
    EXPECT_NO_THROW(plan("RUN --security=sandbox true\n"));
    EXPECT_THROW(check_entitlement_name("device.all", "--allow"), sys::Error);
    EXPECT_NO_THROW(check_entitlement_name("network.host", "--allow"));
}

TEST(RunPlan, Mounts) {
    RunPlan p = plan(
        "RUN --mount=type=bind,target=src --mount=type=bind,from=build,source=/out,target=/o,rw "
        "--mount=type=cache,target=/root/.cache --mount=type=cache,id=go,target=../go "
        "--mount=type=tmpfs,target=/t,size=1m --mount=type=secret,id=tok --mount=type=secret,id=e,env=E true\n");
    ASSERT_EQ(p.mounts.size(), 7u);
    EXPECT_EQ(p.mounts[0].target, "/work/src");
    EXPECT_EQ(p.mounts[0].source, "/");
    EXPECT_EQ(p.mounts[0].from, "");
    EXPECT_TRUE(p.mounts[0].read_only);
    EXPECT_EQ(p.mounts[1].from, "build");
    EXPECT_EQ(p.mounts[1].source, "/out");
    EXPECT_FALSE(p.mounts[1].read_only);
    EXPECT_EQ(p.mounts[2].cache_id, "/root/.cache");
    EXPECT_EQ(p.mounts[3].cache_id, "go");
    EXPECT_EQ(p.mounts[3].target, "/go");
    EXPECT_EQ(p.mounts[4].type, "tmpfs");
    EXPECT_EQ(p.mounts[4].tmpfs_size, "1m");
    EXPECT_EQ(p.mounts[5].target, "/run/secrets/tok");
    EXPECT_EQ(p.mounts[6].target, "");  // env only
    for (size_t i = 0; i < p.mounts.size(); i++) EXPECT_EQ(p.mounts[i].index, i);
}
