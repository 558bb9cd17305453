// `imgbuild run IMAGE` end to end: the image's config applies, flags override it, the exit
// status propagates, and nothing is left behind.
#include <gtest/gtest.h>

#include <cstdlib>

#include "build_env.hpp"

using e2e::BuildEnv;
using e2e::Ctx;

namespace {

// Builds (once per process) an image with a config to apply.
const std::string& runimg() {
    static std::string err = [] {
        Ctx ctx;
        ctx.file("Buildfile", R"BF(FROM busybox:latest
ENV GREETING=hi WHO=world
WORKDIR /work
RUN echo data > /work/file && echo 'app:x:1234:1234::/work:/bin/sh' >> /etc/passwd && echo 'app:x:1234:' >> /etc/group
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo $GREETING $WHO from $(pwd) as $(id -u)"]
)BF");
        auto r = BuildEnv::get().ib("build -t runimg:1 " + ctx.path());
        return r.status == 0 ? std::string() : r.out;
    }();
    return err;
}

}  // namespace

TEST(Run, AppliesImageConfig) {
    REQUIRE_BASE();
    ASSERT_EQ(runimg(), "");
    auto r = BuildEnv::get().ib("run --rm runimg:1", false);
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.out, "hi world from /work as 0\n");
}

TEST(Run, FlagsOverrideConfig) {
    REQUIRE_BASE();
    ASSERT_EQ(runimg(), "");
    auto& env = BuildEnv::get();
    auto r = env.ib("run --rm -e WHO=there -w /tmp -u app runimg:1 'echo $GREETING $WHO from $(pwd) as $(id -u)'", false);
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.out, "hi there from /tmp as 1234\n");
    r = env.ib("run --rm --entrypoint /bin/cat runimg:1 /work/file", false);
    EXPECT_EQ(r.status, 0);
    EXPECT_EQ(r.out, "data\n");
    r = env.ib("run --rm --hostname box runimg:1 hostname", false);
    EXPECT_EQ(r.out, "box\n");
}

TEST(Run, ExitStatusAndErrors) {
    REQUIRE_BASE();
    ASSERT_EQ(runimg(), "");
    auto& env = BuildEnv::get();
    EXPECT_EQ(env.ib("run --rm runimg:1 'exit 42'").status, 42);
    auto r = env.ib("run --rm --entrypoint /nope runimg:1");
    EXPECT_EQ(r.status, 127);
    EXPECT_NE(r.out.find("/nope"), std::string::npos) << r.out;
    r = env.ib("run --rm no-such:image true");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.out.find("no-such:image"), std::string::npos) << r.out;
    r = env.ib("run --rm --timeout 1s runimg:1 'sleep 30'");
    EXPECT_EQ(r.status, 124);
    EXPECT_NE(r.out.find("timed out"), std::string::npos) << r.out;
}

TEST(Run, WritesAreThrownAwayAndNothingLeaks) {
    REQUIRE_BASE();
    ASSERT_EQ(runimg(), "");
    auto& env = BuildEnv::get();
    EXPECT_EQ(env.ib("run --rm runimg:1 'echo changed > /work/file'").status, 0);
    auto r = env.ib("run --rm runimg:1 'cat /work/file'", false);
    EXPECT_EQ(r.out, "data\n");
    // No mount, snapshot or temp dir is left by the runs.
    EXPECT_EQ(sys::read_file("/proc/self/mountinfo").find(env.root()), std::string::npos);
    auto left = e2e::run_cmd("ls " + env.root() + "/tmp");
    EXPECT_EQ(left.out, "");
    auto active = e2e::run_cmd("grep -l '\"kind\":\"active\"' " + env.root() + "/snapshots/*/meta.json");
    EXPECT_EQ(active.out, "") << "active snapshots left behind";
}

// docker run gives every container /etc/hosts (localhost and the hostname), /etc/hostname and
// /etc/resolv.conf, whatever the image has; imgbuild binds them read-only (a RUN's are too) and
// a -v on one of them wins. Before, an image without them had no name for localhost.
TEST(Run, GivesEtcHostsHostnameAndResolvConf) {
    REQUIRE_BASE();
    ASSERT_EQ(runimg(), "");
    auto& env = BuildEnv::get();
    auto r = env.ib("run --rm runimg:1 'cat /etc/hostname /etc/hosts; ping -c1 -W1 localhost >/dev/null && echo ping-ok'", false);
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(r.out.rfind("imgbuild\n127.0.0.1\tlocalhost imgbuild\n::1\tlocalhost ip6-localhost ip6-loopback\n", 0), 0u) << r.out;
    EXPECT_NE(r.out.find("ping-ok"), std::string::npos) << r.out;
    r = env.ib("run --rm --hostname box --read-only runimg:1 'cat /etc/hostname; grep -c box /etc/hosts; grep -c ^nameserver /etc/resolv.conf'", false);
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(r.out.substr(0, 6), "box\n1\n") << r.out;
    EXPECT_GT(std::atoi(r.out.substr(6).c_str()), 0) << r.out;
    r = env.ib("run --rm runimg:1 'echo 1.2.3.4 evil >> /etc/hosts'");
    EXPECT_NE(r.status, 0) << "the container wrote to /etc/hosts";
    Ctx ctx;
    ctx.file("myhosts", "10.0.0.1 mine\n");
    r = env.ib("run --rm -v " + ctx.path() + "/myhosts:/etc/hosts:ro runimg:1 'cat /etc/hosts'", false);
    EXPECT_EQ(r.out, "10.0.0.1 mine\n");
    EXPECT_EQ(e2e::run_cmd("ls " + env.root() + "/tmp").out, "");
}

// Start-up cost: libcurl and its ~26 dependencies are dlopen()ed by the first registry request
// (registry/curl_dl.cpp), libarchive and its ~11 (libxml2, ICU, nettle, ...) by the first tar
// read or written (cas/archive_dl.cpp), not loaded by the dynamic linker for every command. ld.so
// lists what it loads when LD_TRACE_LOADED_OBJECTS is set (what ldd does), without running it.
TEST(Run, BinaryDoesNotLoadLibcurlOrLibarchiveAtStartup) {
    auto r = e2e::run_cmd("LD_TRACE_LOADED_OBJECTS=1 " + e2e::bin(), false);
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("libc.so.6"), std::string::npos) << r.out;  // the listing is real
    EXPECT_EQ(r.out.find("libcurl"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("libgnutls"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("libarchive"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("libxml2"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("libicu"), std::string::npos) << r.out;
}

// With the static archives of the -dev packages (IMGBUILD_STATIC_DEPS, docs/ARCHITECTURE.md),
// the binary loads libc and libm only: no libstdc++, libcrypto, yaml-cpp, libseccomp, zlib, zstd.
TEST(Run, BinaryNeedsOnlyLibcAtStartup) {
#ifndef IMGBUILD_STATIC_DEPS_LINKED
    GTEST_SKIP() << "built without IMGBUILD_STATIC_DEPS (a static archive was missing at configure time)";
#endif
    auto r = e2e::run_cmd("LD_TRACE_LOADED_OBJECTS=1 " + e2e::bin(), false);
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("libc.so.6"), std::string::npos) << r.out;
    for (const char* lib : {"libstdc++", "libcrypto", "libyaml-cpp", "libseccomp", "libz.so", "libzstd", "libgcc_s"})
        EXPECT_EQ(r.out.find(lib), std::string::npos) << lib << " is loaded at start-up:\n" << r.out;
}

// ... and libarchive is linked in too (its tar objects only): a build that writes a layer and an
// export that writes a tar never dlopen() libarchive.so.13 and its ~11 libraries (~7 ms here, in
// the first step that wrote a layer). ld.so names every object it maps when LD_DEBUG=files.
TEST(Run, StaticBuildWritesLayersWithoutLoadingLibarchiveSo) {
#ifndef IMGBUILD_STATIC_DEPS_LINKED
    GTEST_SKIP() << "built without IMGBUILD_STATIC_DEPS: libarchive is dlopen()ed (cas/archive_dl.cpp)";
#endif
    Ctx ctx;
    ctx.file("Buildfile", "FROM scratch\nCOPY a /a\n");
    ctx.file("a", "layer content\n");
    auto& env = BuildEnv::get();
    std::string out_tar = ctx.path() + "/out.tar";
    for (const std::string& args : {"build --no-cache -t staticla:1 " + ctx.path(),
                                    "export staticla:1 --format docker -o " + out_tar}) {
        auto r = e2e::run_cmd("LD_DEBUG=files " + e2e::bin() + " --root " + env.root() + " " + args);
        ASSERT_EQ(r.status, 0) << args << "\n" << r.out;
        EXPECT_NE(r.out.find("file=libc.so.6"), std::string::npos) << r.out;  // the listing is real
        EXPECT_EQ(r.out.find("libarchive.so"), std::string::npos) << args << " loaded libarchive.so:\n" << r.out;
    }
    EXPECT_EQ(e2e::run_cmd("tar tf " + out_tar + " manifest.json").status, 0) << "export wrote no docker archive";
}

// A run's (and a build step's) writable overlay is scratch: mounted volatile, so unmounting it
// does not syncfs() the file system under the store (that was ~10 ms of every `run`, and the
// whole dirty page cache after a big RUN). Kernels before 5.10 lack the option.
TEST(Run, ScratchOverlayIsVolatile) {
    REQUIRE_BASE();
    ASSERT_EQ(runimg(), "");
    auto r = BuildEnv::get().ib("run --rm runimg:1 'grep \" / overlay \" /proc/mounts'", false);
    ASSERT_EQ(r.status, 0) << r.out;
    ASSERT_NE(r.out.find("upperdir="), std::string::npos) << r.out;
    if (r.out.find("volatile") == std::string::npos) {
        auto k = e2e::run_cmd("uname -r");
        int major = 0, minor = 0;
        std::sscanf(k.out.c_str(), "%d.%d", &major, &minor);
        if (major < 5 || (major == 5 && minor < 10)) GTEST_SKIP() << "kernel " << k.out << " has no overlay volatile option";
    }
    EXPECT_NE(r.out.find("volatile"), std::string::npos) << r.out;
}
