// Hostile build inputs found by a black-box review (wave 2): each must fail with a located,
// clear error and exit 1 -- not hang, not crash with an internal error, not build an image
// whose layer means something else outside this store.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "build_env.hpp"
#include "cas/digest.hpp"
#include "sys/fs.hpp"

using e2e::BuildEnv;
using e2e::Ctx;
using testing::HasSubstr;
using testing::Not;

namespace {

e2e::CmdResult build(const Ctx& ctx, const std::string& extra = "") {
    // `timeout`: a regression that blocks must fail the test, not hang the suite.
    return e2e::run_cmd("timeout -s KILL 60 " + e2e::bin() + " --root " + BuildEnv::get().root() +
                        " build --no-cache --progress plain " + extra + " " + ctx.path());
}

// The build fails with exit 1 and a message holding every one of `needles`.
void expect_refused(const Ctx& ctx, const std::vector<std::string>& needles, const std::string& extra = "") {
    auto r = build(ctx, extra);
    EXPECT_EQ(r.status, 1) << r.out;
    for (const auto& n : needles) EXPECT_THAT(r.out, HasSubstr(n)) << r.out;
    EXPECT_THAT(r.out, Not(HasSubstr("internal error"))) << r.out;
}

}  // namespace

// A context whose Buildfile is a FIFO: opening it blocked forever (SIGINT/SIGTERM ignored,
// the store lock held). It is refused as not a regular file, as .dockerignore already was.
TEST(HostileInputs, BuildfileFifoIsRefusedNotOpened) {
    REQUIRE_BASE();
    Ctx ctx;
    ASSERT_EQ(::mkfifo((ctx.path() + "/Buildfile").c_str(), 0644), 0);
    expect_refused(ctx, {ctx.path() + "/Buildfile: not a regular file"});
    // A device is not read either (it was read up to the 64 MiB cap).
    Ctx dev;
    ASSERT_EQ(::symlink("/dev/zero", (dev.path() + "/Dockerfile").c_str()), 0);
    expect_refused(dev, {"not a regular file"});
}

// A file a RUN or COPY names ".wh.X" was written into the layer tar as is: in this store's
// snapshot a file, everywhere the image is exported or pulled a whiteout deleting X.
TEST(HostileInputs, WhiteoutNamedFilesAreRefused) {
    REQUIRE_BASE();
    Ctx run;
    run.file("Buildfile", "FROM busybox:latest\nRUN mkdir /d && echo keep > /d/keep\nRUN touch /.wh.home\n");
    expect_refused(run, {"Buildfile:3", ".wh.home"});
    Ctx opq;
    opq.file("Buildfile", "FROM busybox:latest\nRUN mkdir /d && touch /d/.wh..wh..opq\n");
    expect_refused(opq, {"d/.wh..wh..opq"});
    Ctx copy;
    copy.file("Buildfile", "FROM busybox:latest\nCOPY .wh.tmp /\n").file(".wh.tmp", "x\n");
    expect_refused(copy, {"Buildfile:2", ".wh.tmp"});
    EXPECT_EQ(BuildEnv::get().ib("fsck").status, 0);
}

// RUN --mount uid/gid/mode were converted with std::stoul: an out-of-range value was an
// internal error (exit 2), a 2^32 uid wrapped to root, 4294967295 meant "leave as is".
TEST(HostileInputs, MountOwnerAndModeAreRangeChecked) {
    REQUIRE_BASE();
    for (std::string opt : {"type=cache,target=/c,id=hostile-a,uid=99999999999999999999999",
                            "type=cache,target=/c,id=hostile-b,uid=4294967296",
                            "type=cache,target=/c,id=hostile-c,gid=4294967295",
                            "type=cache,target=/c,id=hostile-d,mode=77777777777777777777777",
                            "type=cache,target=/c,id=hostile-e,mode=0899",
                            "type=secret,id=s,uid=99999999999999999999999,required=false"}) {
        Ctx ctx;
        ctx.file("Buildfile", "FROM busybox:latest\nRUN --mount=" + opt + " true\n");
        SCOPED_TRACE(opt);
        expect_refused(ctx, {"Buildfile:2", "invalid value for"});
    }
    // In range: the cache directory gets that owner and mode.
    Ctx ok;
    ok.file("Buildfile",
            "FROM busybox:latest\nRUN --mount=type=cache,target=/c,id=hostile-ok,uid=4294967294,gid=7,mode=0710 "
            "stat -c '%u %g %a' /c > /owner && cat /owner\n");
    auto r = build(ok);
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_THAT(r.out, HasSubstr("4294967294 7 710")) << r.out;
}

// An ARG default that fails to expand inside a stage lost its FILE:LINE (ENV had it).
TEST(HostileInputs, ArgExpansionErrorIsLocated) {
    REQUIRE_BASE();
    Ctx ctx;
    ctx.file("My.bf", "FROM busybox:latest\nARG B=${A:-x\n");
    expect_refused(ctx, {"My.bf:2", "missing '}'"}, "-f " + ctx.path() + "/My.bf");
}

// An imported image whose config has no history (valid OCI: it is optional) imported fine,
// and every build that added a layer on it then failed at the very end ("history has 1
// non-empty entries for N layers"), after running its steps. The base's layers get entries.
TEST(HostileInputs, BaseWithoutHistoryCanBeBuiltOn) {
    REQUIRE_BASE();
    using json = nlohmann::json;
    auto& env = BuildEnv::get();
    sys::TempDir t("/tmp", "imgbuild-e2e-nohist-");
    std::string oci = t.path() + "/oci";
    ASSERT_EQ(env.ib("export busybox:latest --format oci -o " + oci).status, 0);
    auto blob = [&](const std::string& digest) { return oci + "/blobs/sha256/" + digest.substr(7); };
    auto put = [&](const std::string& data) {
        std::string d = cas::Digest::of(data).str();
        sys::write_file_atomic(blob(d), data, 0644, false);
        return d;
    };
    json index = json::parse(sys::read_file(oci + "/index.json"));
    json manifest = json::parse(sys::read_file(blob(index["manifests"][0]["digest"])));
    json config = json::parse(sys::read_file(blob(manifest["config"]["digest"])));
    ASSERT_TRUE(config.contains("history"));
    config.erase("history");
    std::string craw = config.dump();
    manifest["config"]["digest"] = put(craw);
    manifest["config"]["size"] = craw.size();
    std::string mraw = manifest.dump();
    index["manifests"][0]["digest"] = put(mraw);
    index["manifests"][0]["size"] = mraw.size();
    sys::write_file_atomic(oci + "/index.json", index.dump(), 0644, false);

    std::string store = t.path() + "/store";
    auto ib = [&](const std::string& a) { return e2e::run_cmd(e2e::bin() + " --root " + store + " " + a); };
    auto r = ib("import " + oci + " --tag nohist:1");
    ASSERT_EQ(r.status, 0) << r.out;
    Ctx ctx;
    ctx.file("Buildfile", "FROM nohist:1\nRUN echo on-top > /top\n");
    r = ib("build -t ontop:1 " + ctx.path());
    ASSERT_EQ(r.status, 0) << r.out;
    r = ib("run --rm ontop:1 cat /top");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(r.out, "on-top\n");
    r = ib("history ontop:1");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_THAT(r.out, HasSubstr("echo on-top")) << r.out;
    EXPECT_EQ(ib("fsck").status, 0);
}

// COPY onto a symlink the image planted follows it as BuildKit does (docs/DIFFERENCES.md), but
// only inside the image's root: links to a host path, "/../../..", "../../.." or a chain of
// them leave the host's files and directories as they were.
TEST(HostileInputs, CopyOntoEscapingSymlinkStaysInTheImage) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    sys::TempDir host("/tmp", "imgbuild-e2e-victim-");
    sys::write_file_atomic(host.path() + "/victim", "keep\n");
    const std::string h = host.path();
    Ctx ctx;
    ctx.file("a.txt", "from the context\n");
    ctx.file("Buildfile", "FROM busybox:latest\n"
                          "RUN ln -s /../../../.." + h + "/victim /abs && ln -s ../../../../.." + h + " /dir && "
                          "ln -s abs /chain && ln -s " + h + "/made/new /missing\n"
                          "COPY a.txt /chain\n"
                          "COPY a.txt /dir/\n"
                          "COPY a.txt /missing\n");
    auto r = env.ib("build --no-cache --progress plain -t escape-link:1 " + ctx.path());
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(sys::read_file(h + "/victim"), "keep\n");
    EXPECT_EQ(sys::list_dir(h), std::vector<std::string>{"victim"}) << "something was written outside the image";
    r = env.ib("run --rm escape-link:1 cat " + h + "/victim " + h + "/a.txt " + h + "/made/new");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(r.out, "from the context\nfrom the context\nfrom the context\n");
    r = env.ib("run --rm escape-link:1 readlink /chain");
    EXPECT_EQ(r.out, "abs\n");
    EXPECT_EQ(env.ib("rmi escape-link:1").status, 0);
}

// A RUN can make a tree deeper than PATH_MAX (here 40 directories of 200 bytes): its layer tar holds
// the paths in PAX headers, and exporting it and importing it again must work (import refused
// paths past 4096 bytes; unpack could not create them). Past the layer limit the build fails
// at that step instead of making an image no import takes back.
TEST(HostileInputs, DeepTreeFromRunSurvivesExportAndImport) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    // Made bottom-up by moving directories, read with `cd -P`: every syscall sees a short path
    // (a plain cd chdirs to the absolute $PWD, past PATH_MAX).
    auto make = [](int levels) {
        return "RUN mkdir /deep && cd /deep && p=$(printf %0200d " + std::to_string(levels) +
               ") && mkdir $p && echo bottom > $p/f && for i in $(seq " + std::to_string(levels - 1) +
               " -1 1); do n=$(printf %0200d $i); mkdir t && mv $p t/ && mv t $n && p=$n || exit 1; done\n";
    };
    const std::string read = "cd /deep && for i in $(seq 1 40); do cd -P $(printf %0200d $i) || exit 1; done && cat f";
    Ctx ctx;
    ctx.file("Buildfile", "FROM busybox:latest\n" + make(40));
    auto r = env.ib("build --no-cache --progress plain -t deep-tree:1 " + ctx.path());
    ASSERT_EQ(r.status, 0) << r.out;
    sys::TempDir t("/tmp", "imgbuild-e2e-deep-");
    for (const char* format : {"oci", "docker"}) {
        SCOPED_TRACE(format);
        std::string out = t.path() + "/" + format + ".tar", store = t.path() + "/store-" + format;
        r = env.ib("export deep-tree:1 --format " + std::string(format) + " -o " + out);
        ASSERT_EQ(r.status, 0) << r.out;
        auto ib = [&](const std::string& a) { return e2e::run_cmd(e2e::bin() + " --root " + store + " " + a); };
        r = ib("import " + out + " --tag deep-tree:1");
        ASSERT_EQ(r.status, 0) << r.out;
        r = ib("run --rm deep-tree:1 sh -c '" + read + "'");
        EXPECT_EQ(r.status, 0) << r.out;
        EXPECT_EQ(r.out, "bottom\n");
        EXPECT_EQ(ib("fsck").status, 0);
    }
    EXPECT_EQ(env.ib("rmi deep-tree:1").status, 0);

    Ctx deeper;  // 330 x 201 bytes: past the 65536 a layer entry may have
    deeper.file("Buildfile", "FROM busybox:latest\n" + make(330));
    expect_refused(deeper, {"Buildfile:2", "longer than the 65536 a layer entry may have"});
}
