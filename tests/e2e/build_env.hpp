// Shared by the build end-to-end tests: one store per test binary with the busybox base
// image built FROM scratch by imgbuild itself (testdata/busybox), and helpers to write a
// context and drive `imgbuild build` / `imgbuild run`.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "busybox_fixture.hpp"
#include "sys/fs.hpp"

namespace e2e {

inline std::string bin() { return IMGBUILD_BIN; }

class BuildEnv {
public:
    static BuildEnv& get() {
        static BuildEnv env;
        return env;
    }
    const std::string& root() const { return root_.path(); }
    // "imgbuild --root <store> " + args
    CmdResult ib(const std::string& args, bool merge_stderr = true) const {
        return run_cmd(bin() + " --root " + root() + " " + args, merge_stderr);
    }
    const std::string& base_error() const { return base_error_; }

private:
    BuildEnv() : root_("/tmp", "imgbuild-e2e-store-") {
        sys::TempDir ctx("/tmp", "imgbuild-e2e-base-");
        namespace fs = std::filesystem;
        for (const char* f : {"Buildfile", "passwd", "group"})
            fs::copy_file(std::string(IMGBUILD_SRC) + "/testdata/busybox/" + f, ctx.path() + "/" + f);
        if (!fs::exists("/bin/busybox")) {
            base_error_ = "/bin/busybox missing (apt-get install busybox-static)";
            return;
        }
        fs::copy_file("/bin/busybox", ctx.path() + "/busybox");
        CmdResult r = ib("build --progress plain -t busybox:latest " + ctx.path());
        if (r.status != 0) base_error_ = "building the busybox base failed:\n" + r.out;
    }
    sys::TempDir root_;
    std::string base_error_;
};

// A build context in a temp dir.
class Ctx {
public:
    Ctx() : dir_("/tmp", "imgbuild-e2e-ctx-") {}
    const std::string& path() const { return dir_.path(); }
    Ctx& file(const std::string& rel, const std::string& content, mode_t mode = 0644) {
        std::string p = dir_.path() + "/" + rel;
        std::filesystem::create_directories(std::filesystem::path(p).parent_path());
        sys::write_file_atomic(p, content, mode, false);
        return *this;
    }

private:
    sys::TempDir dir_;
};

#define REQUIRE_BASE()                                                              \
    do {                                                                            \
        if (::geteuid() != 0) GTEST_SKIP() << "builds need root (namespaces, overlay)"; \
        ASSERT_EQ(e2e::BuildEnv::get().base_error(), "");                           \
    } while (0)

}  // namespace e2e
