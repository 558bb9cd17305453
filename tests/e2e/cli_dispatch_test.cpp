// The command line's dispatch through the real binary: main() builds only the options of the
// command a line names (cli::register_commands), so every form that names no command, or
// names it after global options, must still reach the same parser as before.
#include <gtest/gtest.h>

#include "busybox_fixture.hpp"
#include "sys/fs.hpp"

using e2e::CmdResult;
using e2e::run_cmd;

namespace {

std::string ib(const std::string& args) { return std::string(IMGBUILD_BIN) + " " + args; }

}  // namespace

TEST(CliDispatch, TopLevelHelpListsEveryCommand) {
    for (const char* h : {"--help", "-h"}) {
        CmdResult r = run_cmd(ib(h));
        EXPECT_EQ(r.status, 0) << h;
        for (const char* c : {"bake", "build", "cache", "diff", "export", "fsck", "history", "images", "import",
                              "inspect", "layers", "login", "prune", "pull", "push", "rmi", "run", "tag"})
            EXPECT_NE(r.out.find(std::string("\n  ") + c + " "), std::string::npos) << h << " does not list " << c;
    }
}

TEST(CliDispatch, CommandHelpAfterGlobalOptions) {
    sys::TempDir t("/tmp", "imgbuild-e2e-cli-");
    CmdResult r = run_cmd(ib("--root " + t.path() + "/s --log-level=warn run --help"));
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("--pids-limit"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("--build-arg"), std::string::npos) << "run's help shows build's options:\n" << r.out;
    r = run_cmd(ib("--root=" + t.path() + "/s build --help"));
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("--build-arg"), std::string::npos) << r.out;
}

TEST(CliDispatch, BareBuildFormAndUsageErrors) {
    sys::TempDir t("/tmp", "imgbuild-e2e-cli-");
    // `imgbuild -f FILE DIR` is a build: the missing Buildfile is named.
    CmdResult r = run_cmd(ib("--root " + t.path() + "/s -f " + t.path() + "/nope " + t.path()));
    EXPECT_EQ(r.status, 1) << r.out;
    EXPECT_NE(r.out.find(t.path() + "/nope"), std::string::npos) << r.out;
    // A flag another command has is still a usage error for this one (exit 2).
    r = run_cmd(ib("--root " + t.path() + "/s images --build-arg X=1"));
    EXPECT_EQ(r.status, 2) << r.out;
    r = run_cmd(ib("--version"));
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.out.find("imgbuild "), std::string::npos) << r.out;
}
