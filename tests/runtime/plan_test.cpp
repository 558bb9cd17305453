// Pure parts: capability mask, PATH candidates, result text, the seccomp program builds.
#include <gtest/gtest.h>

#include "runtime/internal.hpp"

using namespace runtime;

TEST(RuntimePlan, DefaultCapsAreDockers14) {
    EXPECT_EQ(detail::default_caps(), 0xa80425fbull);
    EXPECT_EQ(__builtin_popcountll(detail::default_caps()), 14);
}

TEST(RuntimePlan, ExecCandidatesFollowPath) {
    EXPECT_EQ(detail::exec_candidates("/bin/sh", {}), (std::vector<std::string>{"/bin/sh"}));
    EXPECT_EQ(detail::exec_candidates("sh", {"PATH=/a:/b/"}), (std::vector<std::string>{"/a/sh", "/b/sh"}));
    EXPECT_EQ(detail::exec_candidates("sh", {}).back(), "/bin/sh");
}

TEST(RuntimePlan, Describe) {
    RunResult r;
    Limits l;
    l.memory_bytes = 512ull << 20;
    l.timeout_ms = 1500;
    r.how = RunResult::How::OutOfMemory;
    EXPECT_EQ(r.describe(l), "killed: out of memory (limit 512 MiB)");
    r.how = RunResult::How::TimedOut;
    EXPECT_EQ(r.describe(l), "killed: timed out after 1500ms");
    EXPECT_EQ(r.shell_status(), 124);
}

TEST(RuntimePlan, SeccompProgramBuilds) {
    const auto& prog = detail::default_seccomp_filter();
    EXPECT_GT(prog.size(), 60u);
    EXPECT_LT(prog.size(), 4096u);
}
