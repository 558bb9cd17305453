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

// What BuildKit binds over every RUN (executor/oci/hosts.go, util/resolvconf).
TEST(SandboxFiles, HostsAndOrder) {
    EXPECT_EQ(sandbox_hosts("buildkitsandbox"), "127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    auto f = sandbox_files("buildkitsandbox", "nameserver 10.0.0.2\n", false);
    ASSERT_EQ(f.size(), 2u);
    EXPECT_EQ(f[0].target, "/etc/resolv.conf");  // BuildKit's mount order
    EXPECT_EQ(f[0].content, "nameserver 10.0.0.2\n");
    EXPECT_EQ(f[1].target, "/etc/hosts");
}

TEST(SandboxFiles, ResolvConfDropsLoopbackWithoutHostNetwork) {
    std::string host = "# generated\n"
                       "; old comment\n"
                       "\n"
                       "nameserver 127.0.0.53\n"
                       "nameserver 10.0.0.2\r\n"
                       "nameserver ::1\n"
                       "nameserver ::ffff:127.0.0.1\n"
                       "nameserver 2001:DB8:0:0:0:0:0:1\n"
                       "nameserver fe80::1%eth0\n"
                       "nameserver not-an-ip\n"
                       "nameserver 010.1.1.1\n"
                       "domain old.example\n"
                       "search a.example b.example\n"
                       "options ndots:2\n"
                       "options edns0 rotate\n"
                       "sortlist 10.0.0.0/255.0.0.0\n";
    EXPECT_EQ(sandbox_resolv_conf(host, false),
              "nameserver 10.0.0.2\nnameserver 2001:db8::1\nnameserver fe80::1%eth0\n"
              "search a.example b.example\noptions ndots:2 edns0 rotate\nsortlist 10.0.0.0/255.0.0.0\n");
    // Host networking keeps the host's servers as they are (a local resolver answers there).
    EXPECT_EQ(sandbox_resolv_conf("nameserver 127.0.0.53\n", true), "nameserver 127.0.0.53\n");
}

TEST(SandboxFiles, ResolvConfDefaultsWhenNoServerIsLeft) {
    std::string google = "nameserver 8.8.8.8\nnameserver 8.8.4.4\nnameserver 2001:4860:4860::8888\nnameserver 2001:4860:4860::8844\n";
    EXPECT_EQ(sandbox_resolv_conf("", false), google);
    EXPECT_EQ(sandbox_resolv_conf("", true), google);
    EXPECT_EQ(sandbox_resolv_conf("nameserver 127.0.0.1\nsearch x\n", false), google + "search x\n");
}

TEST(SandboxFiles, SystemdResolvedStubReadsItsUpstreamFile) {
    EXPECT_EQ(resolv_conf_source("nameserver 127.0.0.53\noptions edns0 trust-ad\n", false), "/run/systemd/resolve/resolv.conf");
    EXPECT_EQ(resolv_conf_source("nameserver 127.0.0.53\n", true), "/etc/resolv.conf");
    EXPECT_EQ(resolv_conf_source("nameserver 127.0.0.53\nnameserver 10.0.0.2\n", false), "/etc/resolv.conf");
    EXPECT_EQ(resolv_conf_source("# nameserver 127.0.0.53\nnameserver 10.0.0.2\n", false), "/etc/resolv.conf");
}
