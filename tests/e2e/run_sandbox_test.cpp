// /etc/hosts and /etc/resolv.conf in a RUN, as BuildKit gives them: generated files bound
// read-only over every RUN (any network), their mount stubs never in the layer, and a hostile
// base whose /etc or /etc/hosts is a symlink cannot take the bind (or a write) out of the root.
#include <sys/stat.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "build_env.hpp"
#include "cas/image.hpp"
#include "cas/store.hpp"
#include "layers/layer_entries.hpp"

using e2e::BuildEnv;
using e2e::Ctx;
using ::testing::HasSubstr;

namespace {

namespace fs = std::filesystem;

const char* const kHosts = "127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n";

std::string read(const std::string& p) { return sys::read_file(p); }

// Paths in each layer of `ref` above the first `skip` layers (the base's).
std::vector<std::set<std::string>> layer_paths(const std::string& ref, size_t skip) {
    cas::Store st = cas::Store::open(BuildEnv::get().root());
    cas::Image img = cas::resolve_image(st, ref);
    std::vector<std::set<std::string>> out;
    for (size_t i = skip; i < img.manifest.layers.size(); i++) {
        std::set<std::string> paths;
        for (auto& e : layers::list_layer(st, img.manifest.layers[i].digest)) paths.insert(e.path);
        out.push_back(paths);
    }
    return out;
}

size_t layer_count(const std::string& ref) {
    cas::Store st = cas::Store::open(BuildEnv::get().root());
    return cas::resolve_image(st, ref).manifest.layers.size();
}

e2e::CmdResult build(const Ctx& ctx, const std::string& args) {
    return BuildEnv::get().ib("build --progress plain " + args + " " + ctx.path());
}

}  // namespace

// Every RUN sees BuildKit's hosts file and a resolv.conf with a nameserver; neither, nor a copy
// of /etc made for their mount stubs, is in the layer (a RUN that changes nothing adds none).
TEST(RunSandbox, EtcHostsAndResolvConfInEveryRun) {
    REQUIRE_BASE();
    Ctx ctx;
    ctx.file("Buildfile", "FROM busybox:latest\n"
                          "RUN cat /etc/hosts > /hosts-seen && ls /etc > /etc-seen && grep -c '^nameserver ' /etc/resolv.conf > /ns\n"
                          "RUN true\n");
    auto r = build(ctx, "-t sandbox:1 --output type=local,dest=" + ctx.path() + "/out");
    ASSERT_EQ(r.status, 0) << r.out;
    std::string out = ctx.path() + "/out";
    EXPECT_EQ(read(out + "/hosts-seen"), kHosts);
    EXPECT_THAT(read(out + "/etc-seen"), HasSubstr("hosts\n"));
    EXPECT_THAT(read(out + "/etc-seen"), HasSubstr("resolv.conf\n"));
    EXPECT_GE(std::stoi(read(out + "/ns")), 1);
    EXPECT_FALSE(fs::exists(out + "/etc/hosts")) << "mount stub left in the image";
    EXPECT_FALSE(fs::exists(out + "/etc/resolv.conf")) << "mount stub left in the image";
    auto layers = layer_paths("sandbox:1", layer_count("busybox:latest"));
    ASSERT_EQ(layers.size(), 2u);
    EXPECT_EQ(layers[0], (std::set<std::string>{"etc-seen", "hosts-seen", "ns"}));
    EXPECT_EQ(layers[1], std::set<std::string>{});
}

// On a base without /etc, the stubs and the /etc made for them go after the RUN (BuildKit's
// recursive stub cleaner); /etc stays when the RUN put something in it.
TEST(RunSandbox, BaseWithoutEtcGetsNoStubs) {
    REQUIRE_BASE();
    Ctx ctx;
    ctx.file("Buildfile", "FROM scratch\n"
                          "COPY --from=busybox:latest /bin /bin\n"
                          "RUN cat /etc/hosts > /hosts-seen\n"
                          "RUN mkdir /etc/made\n");
    auto r = build(ctx, "-t noetc:1");
    ASSERT_EQ(r.status, 0) << r.out;
    auto layers = layer_paths("noetc:1", 1);
    ASSERT_EQ(layers.size(), 2u);
    EXPECT_EQ(layers[0], (std::set<std::string>{"dev", "hosts-seen", "proc", "sys"}));
    EXPECT_EQ(layers[1], (std::set<std::string>{"etc", "etc/made"}));
}

// The files are read-only, as in BuildKit; an image's own /etc/hosts is hidden during the RUN
// and unchanged after it.
TEST(RunSandbox, EtcFilesAreReadOnlyAndHideTheImagesOwn) {
    REQUIRE_BASE();
    Ctx ctx;
    ctx.file("hosts", "10.9.8.7\tmine\n");
    ctx.file("Buildfile", "FROM busybox:latest\nCOPY hosts /etc/hosts\nRUN cat /etc/hosts > /seen\n");
    auto r = build(ctx, "-t ownhosts:1 --output type=local,dest=" + ctx.path() + "/out");
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(read(ctx.path() + "/out/seen"), kHosts);
    EXPECT_EQ(read(ctx.path() + "/out/etc/hosts"), "10.9.8.7\tmine\n");
    auto layers = layer_paths("ownhosts:1", layer_count("busybox:latest") + 1);
    ASSERT_EQ(layers.size(), 1u);
    EXPECT_EQ(layers[0], std::set<std::string>{"seen"});

    for (const char* step : {"RUN echo x >> /etc/hosts", "RUN echo x > /etc/resolv.conf", "RUN rm -rf /etc"}) {
        Ctx bad;
        bad.file("Buildfile", std::string("FROM busybox:latest\n") + step + "\n");
        r = build(bad, "--no-cache");
        EXPECT_EQ(r.status, 1) << step << "\n" << r.out;
        EXPECT_THAT(r.out, HasSubstr(step)) << r.out;
    }
}

// A base whose /etc is a symlink to / or whose /etc/hosts and /etc/resolv.conf are symlinks to
// host paths (absolute, and ../ past the root): the binds land inside the root, where the
// symlink means there (as runc resolves them), never on the host; the RUN cannot write them,
// and nothing made for them is left in the image. The same for `imgbuild run` of those images.
TEST(Security, EtcSymlinksNeverTakeTheBindOutOfTheRoot) {
    REQUIRE_BASE();
    sys::TempDir hd("/tmp", "imgbuild-e2e-etchost-");
    sys::write_file_atomic(hd.path() + "/hosts", "HOST-HOSTS\n", 0644, false);
    sys::write_file_atomic(hd.path() + "/rc", "HOST-RC\n", 0644, false);
    bool host_root_clean = !fs::exists("/hosts") && !fs::exists("/resolv.conf") && !fs::exists("/hostname");
    Ctx ctx;
    ctx.file("Buildfile",
             "FROM busybox:latest AS evil\n"
             "RUN mkdir -p /x /y/etc && ln -s / /x/etc && ln -s " + hd.path() + "/hosts /y/etc/hosts && "
             "ln -s ../../../../../../.." + hd.path() + "/rc /y/etc/resolv.conf\n"
             "FROM scratch AS toroot\n"
             "COPY --from=evil /bin /bin\n"
             "COPY --from=evil /x/ /\n"
             "RUN cat /etc/hosts > /seen && ls / > /ls && (echo pwned > /etc/hosts; echo pwned > /hosts; true)\n"
             "FROM scratch AS tohost\n"
             "COPY --from=evil /bin /bin\n"
             "COPY --from=evil /y/ /\n"
             "RUN cat /etc/hosts > /seen && grep -q nameserver /etc/resolv.conf && "
             "(echo pwned > /etc/hosts; echo pwned > /etc/resolv.conf; true)\n");
    for (const char* target : {"toroot", "tohost"}) {
        SCOPED_TRACE(target);
        std::string out = ctx.path() + "/out-" + target;
        auto r = build(ctx, "--no-cache --target " + std::string(target) + " --output type=local,dest=" + out);
        ASSERT_EQ(r.status, 0) << r.out;
        EXPECT_EQ(read(out + "/seen"), kHosts);
        EXPECT_FALSE(fs::exists(out + "/hosts")) << "mount stub left in the image";
        EXPECT_FALSE(fs::exists(out + "/resolv.conf")) << "mount stub left in the image";
        EXPECT_FALSE(fs::exists(out + hd.path())) << "mount stub dirs left in the image";
        EXPECT_TRUE(fs::is_symlink(out + "/etc")  || fs::is_symlink(out + "/etc/hosts"));
    }
    // `imgbuild run` of the same images binds /etc/hosts, /etc/hostname and /etc/resolv.conf
    // the same way: inside the root, read-only.
    for (const char* target : {"toroot", "tohost"}) {
        SCOPED_TRACE(std::string("run ") + target);
        std::string tag = std::string("etcevil-") + target + ":1";
        ASSERT_EQ(build(ctx, "--target " + std::string(target) + " -t " + tag).status, 0);
        auto r = BuildEnv::get().ib("run --rm " + tag + " sh -c 'cat /etc/hosts /etc/hostname; grep -c nameserver /etc/resolv.conf; "
                                    "echo pwned > /etc/hosts || echo refused'", false);
        EXPECT_EQ(r.status, 0) << r.out;
        EXPECT_EQ(r.out.rfind("127.0.0.1\tlocalhost imgbuild\n::1\tlocalhost ip6-localhost ip6-loopback\nimgbuild\n", 0), 0u) << r.out;
        EXPECT_THAT(r.out, HasSubstr("refused\n"));
    }
    EXPECT_THAT(read(ctx.path() + "/out-toroot/ls"), HasSubstr("hosts\n"));  // the bind, inside the root
    EXPECT_EQ(read(hd.path() + "/hosts"), "HOST-HOSTS\n");
    EXPECT_EQ(read(hd.path() + "/rc"), "HOST-RC\n");
    EXPECT_EQ(sys::list_dir(hd.path()).size(), 2u);
    if (host_root_clean) {
        EXPECT_FALSE(fs::exists("/hosts"));
        EXPECT_FALSE(fs::exists("/resolv.conf"));
        EXPECT_FALSE(fs::exists("/hostname"));
    }
}
