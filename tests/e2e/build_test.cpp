// End-to-end tests of `imgbuild build` through the real binary, as root.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <sstream>
#include <nlohmann/json.hpp>

#include "build_env.hpp"
#include "cas/image.hpp"
#include "cas/store.hpp"

using e2e::BuildEnv;
using e2e::Ctx;
using e2e::run_cmd;
using nlohmann::json;

namespace {

cas::Image image_of(const std::string& root, const std::string& ref) {
    cas::Store st = cas::Store::open(root);
    return cas::resolve_image(st, ref);
}

json metadata(const std::string& path) { return json::parse(sys::read_file(path)); }

std::string read(const std::string& p) { return sys::read_file(p); }

// Count of steps that were cache hits / that ran.
std::pair<int, int> hits_and_runs(const json& md) {
    int hits = 0, runs = 0;
    for (auto& s : md["steps"]) (s["cached"].get<bool>() ? hits : runs)++;
    return {hits, runs};
}

// Nothing of imgbuild's may remain mounted or in the cgroup tree after a command.
void expect_no_leaks() {
    std::string mi = read("/proc/self/mountinfo");
    EXPECT_EQ(mi.find(BuildEnv::get().root()), std::string::npos) << mi;
    // Container cgroups are named imgbuild-<pid of the imgbuild process>-<n>. Other tests may
    // run containers at the same time (ctest -j): a cgroup whose owner is gone is a leak.
    e2e::CmdResult c = run_cmd("find /sys/fs/cgroup -maxdepth 4 -type d -name 'imgbuild-*' 2>/dev/null");
    std::istringstream lines(c.out);
    for (std::string dir; std::getline(lines, dir);) {
        // imgbuild-PID-... (builds, runs) or imgbuild-test-PID-N (the runtime's unit tests).
        std::string rest = dir.substr(dir.find_last_of('/') + 1 + 9);
        if (rest.rfind("test-", 0) == 0) rest = rest.substr(5);
        std::string pid = rest.substr(0, rest.find('-'));
        // The owner may have removed it and exited between `find` and this check.
        bool owner_alive = std::filesystem::exists("/proc/" + pid);
        EXPECT_TRUE(owner_alive || !std::filesystem::exists(dir)) << "leaked cgroup of a finished process: " << dir;
    }
}

}  // namespace

TEST(Build, ConfigFromMetadataInstructions) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    Ctx ctx;
    ctx.file("Buildfile", R"(FROM busybox:latest
ENV A=1 B="two words"
LABEL org.example.k=v other="x y"
EXPOSE 80 53/udp
VOLUME ["/data"]
WORKDIR /srv
WORKDIR sub
USER nobody
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --retries=3 CMD ["/bin/true"]
ENTRYPOINT ["/bin/echo"]
CMD ["hello"]
)");
    auto r = env.ib("build --progress plain -t cfg:1 " + ctx.path());
    ASSERT_EQ(r.status, 0) << r.out;
    cas::Image img = image_of(env.root(), "cfg:1");
    const auto& c = img.config.config;
    EXPECT_NE(std::find(c.env.begin(), c.env.end(), "A=1"), c.env.end());
    EXPECT_NE(std::find(c.env.begin(), c.env.end(), "B=two words"), c.env.end());
    EXPECT_NE(std::find(c.env.begin(), c.env.end(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"), c.env.end());
    EXPECT_EQ(c.labels.at("org.example.k"), "v");
    EXPECT_EQ(c.labels.at("other"), "x y");
    EXPECT_EQ(c.exposed_ports, (std::vector<std::string>{"53/udp", "80/tcp"}));
    EXPECT_EQ(c.volumes, (std::vector<std::string>{"/data"}));
    EXPECT_EQ(c.working_dir, "/srv/sub");
    EXPECT_EQ(c.user, "nobody");
    EXPECT_EQ(c.stop_signal, "SIGTERM");
    ASSERT_TRUE(c.healthcheck.has_value());
    EXPECT_EQ((*c.healthcheck)["Test"], json({"CMD", "/bin/true"}));
    EXPECT_EQ((*c.healthcheck)["Interval"], 30000000000LL);
    EXPECT_EQ((*c.healthcheck)["Retries"], 3);
    EXPECT_EQ(*c.entrypoint, (std::vector<std::string>{"/bin/echo"}));
    EXPECT_EQ(*c.cmd, (std::vector<std::string>{"hello"}));
    // History: the base's entries plus one empty-layer entry per metadata instruction.
    size_t n = img.config.history.size();
    ASSERT_GE(n, 12u);
    EXPECT_EQ(img.config.history[n - 1].created_by, "CMD [\"hello\"]");
    EXPECT_TRUE(img.config.history[n - 1].empty_layer);
    EXPECT_EQ(img.config.diff_ids.size(), img.manifest.layers.size());
    // ENTRYPOINT in a stage resets an inherited CMD (docker's rule).
    Ctx c2;
    c2.file("Buildfile", "FROM busybox:latest\nENTRYPOINT [\"/bin/ls\"]\n");
    ASSERT_EQ(env.ib("build -t ep:1 " + c2.path()).status, 0);
    EXPECT_FALSE(image_of(env.root(), "ep:1").config.config.cmd.has_value());
    expect_no_leaks();
}

TEST(Build, FilesFromRunCopyAddAndWhiteouts) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    Ctx ctx;
    ctx.file("a.txt", "from the context\n");
    ctx.file("dir/x", "x\n").file("dir/sub/y", "y\n", 0755);
    ASSERT_EQ(run_cmd("cd " + ctx.path() + " && python3 -c \"import tarfile,io\nt=tarfile.open('arch.tar.gz','w:gz')\n"
                      "d=b'inside the archive\\n'\ni=tarfile.TarInfo('top/in.txt'); i.size=len(d)\nt.addfile(i, io.BytesIO(d))\nt.close()\"")
                  .status,
              0);
    ctx.file("Buildfile", R"(FROM busybox:latest
COPY a.txt /copied/a.txt
COPY dir /tree/
ADD arch.tar.gz /extracted/
RUN mkdir -p /gone/deep && echo doomed > /gone/deep/f && echo old > /replaced && echo keep > /kept
RUN rm -rf /gone /bin/vi && echo new > /replaced && chmod 0600 /replaced
)");
    auto r = env.ib("build --progress plain -t files:1 --output type=local,dest=" + ctx.path() + "/out " + ctx.path());
    ASSERT_EQ(r.status, 0) << r.out;
    std::string out = ctx.path() + "/out";
    EXPECT_EQ(read(out + "/copied/a.txt"), "from the context\n");
    EXPECT_EQ(read(out + "/tree/x"), "x\n");
    EXPECT_EQ(read(out + "/tree/sub/y"), "y\n");
    EXPECT_EQ(std::filesystem::status(out + "/tree/sub/y").permissions() & std::filesystem::perms::owner_exec,
              std::filesystem::perms::owner_exec);
    EXPECT_EQ(read(out + "/extracted/top/in.txt"), "inside the archive\n");
    EXPECT_FALSE(std::filesystem::exists(out + "/gone"));
    EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(out + "/bin/vi")));
    EXPECT_EQ(read(out + "/replaced"), "new\n");
    EXPECT_EQ(read(out + "/kept"), "keep\n");

    // The exported OCI image, unpacked by umoci, has the same files (whiteouts applied).
    if (!e2e::have_tool("umoci")) GTEST_SKIP() << "umoci not installed";
    std::string oci = ctx.path() + "/oci";
    r = env.ib("export files:1 --format oci -o " + oci);
    ASSERT_EQ(r.status, 0) << r.out;
    std::string tag = "latest";
    auto lay = json::parse(read(oci + "/index.json"));
    for (auto& m : lay["manifests"])
        if (m.contains("annotations") && m["annotations"].contains("org.opencontainers.image.ref.name"))
            tag = m["annotations"]["org.opencontainers.image.ref.name"];
    r = run_cmd("umoci unpack --image " + oci + ":" + tag + " " + ctx.path() + "/bundle");
    ASSERT_EQ(r.status, 0) << r.out;
    std::string rootfs = ctx.path() + "/bundle/rootfs";
    EXPECT_EQ(read(rootfs + "/copied/a.txt"), "from the context\n");
    EXPECT_EQ(read(rootfs + "/extracted/top/in.txt"), "inside the archive\n");
    EXPECT_FALSE(std::filesystem::exists(rootfs + "/gone"));
    EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(rootfs + "/bin/vi")));
    EXPECT_TRUE(std::filesystem::exists(std::filesystem::symlink_status(rootfs + "/bin/ls")));
    EXPECT_EQ(read(rootfs + "/replaced"), "new\n");
    expect_no_leaks();
}

TEST(Build, MultiStageTargetAndUnusedFailingStage) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    Ctx ctx;
    ctx.file("Buildfile", R"(FROM busybox:latest AS build
RUN echo built > /artifact
FROM busybox:latest AS broken
RUN exit 7
FROM busybox:latest AS final
COPY --from=build /artifact /artifact
RUN cat /artifact
FROM final AS extra
RUN echo extra > /extra
)");
    auto r = env.ib("build --progress plain --target final -t ms:final --output type=local,dest=" + ctx.path() + "/out " +
                    ctx.path());
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(read(ctx.path() + "/out/artifact"), "built\n");
    EXPECT_FALSE(std::filesystem::exists(ctx.path() + "/out/extra"));
    EXPECT_EQ(r.out.find("exit 7"), std::string::npos) << "the unused stage ran:\n" << r.out;
    r = env.ib("build --target nosuch " + ctx.path());
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.out.find("nosuch"), std::string::npos) << r.out;
}

TEST(Build, IndependentStagesRunInParallel) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    Ctx ctx;
    ctx.file("Buildfile", R"(FROM busybox:latest AS a
RUN sleep 2 && echo a > /a
FROM busybox:latest AS b
RUN sleep 2 && echo b > /b
FROM busybox:latest AS c
RUN sleep 2 && echo c > /c
FROM busybox:latest
COPY --from=a /a /a
COPY --from=b /b /b
COPY --from=c /c /c
)");
    auto t0 = std::chrono::steady_clock::now();
    auto r = env.ib("build --no-cache --jobs 3 -t par:1 " + ctx.path());
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_EQ(r.status, 0) << r.out;
    // Serial would be >= 6 s; in parallel about 2 s. A wide margin for a loaded CI machine.
    EXPECT_LT(secs, 5.0) << r.out;
}

TEST(Build, CacheHitsPartialRebuildNoCacheAndUnusedArg) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    Ctx ctx;
    ctx.file("one.txt", "1\n").file("two.txt", "2\n");
    ctx.file("Buildfile", R"(FROM busybox:latest
ARG USED=a
RUN echo "$USED" > /used && date +%s%N > /stamp1
COPY one.txt /one.txt
RUN date +%s%N > /stamp2
COPY two.txt /two.txt
RUN cat /one.txt /two.txt > /both
)");
    std::string md = ctx.path() + "/md.json";
    auto build = [&](const std::string& extra) {
        auto r = env.ib("build --progress plain --metadata-file " + md + " " + extra + " -t cache:1 " + ctx.path());
        EXPECT_EQ(r.status, 0) << r.out;
        return metadata(md);
    };
    auto m1 = build("");
    EXPECT_EQ(hits_and_runs(m1), std::make_pair(0, 5));
    EXPECT_TRUE(m1["containerimage.digest"].get<std::string>().rfind("sha256:", 0) == 0);
    EXPECT_GT(m1["steps"][0]["peak_memory_bytes"].get<uint64_t>(), 0u);
    auto m2 = build("");
    EXPECT_EQ(hits_and_runs(m2), std::make_pair(5, 0));
    // A fully cached rebuild is the same image (history times come from the cache records).
    EXPECT_EQ(m2["containerimage.digest"], m1["containerimage.digest"]);
    // A --build-arg no stage declares changes nothing.
    auto m3 = build("--build-arg UNUSED=zzz");
    EXPECT_EQ(hits_and_runs(m3), std::make_pair(5, 0));
    // Editing the second COPYed file reruns that COPY and what follows, nothing before.
    ctx.file("two.txt", "2 edited\n");
    auto m4 = build("");
    std::vector<bool> cached;
    for (auto& s : m4["steps"]) cached.push_back(s["cached"]);
    EXPECT_EQ(cached, (std::vector<bool>{true, true, true, false, false}));
    // A used build-arg reruns from its first use.
    auto m5 = build("--build-arg USED=b");
    EXPECT_EQ(hits_and_runs(m5), std::make_pair(0, 5));
    auto m6 = build("--no-cache");
    EXPECT_EQ(hits_and_runs(m6), std::make_pair(0, 5));

    // cache explain names the file and the arg.
    ctx.file("one.txt", "1 edited\n");
    auto e = env.ib("cache explain --json " + ctx.path(), false);
    ASSERT_EQ(e.status, 0) << e.out;
    auto ej = json::parse(e.out);
    ASSERT_EQ(ej.size(), 5u);
    EXPECT_TRUE(ej[0]["hit"].get<bool>());
    EXPECT_FALSE(ej[1]["hit"].get<bool>());
    EXPECT_EQ(ej[1]["reason"], "file \"one.txt\" changed") << e.out;
    e = env.ib("cache explain --json --build-arg USED=c " + ctx.path(), false);
    ASSERT_EQ(e.status, 0) << e.out;
    ej = json::parse(e.out);
    EXPECT_EQ(ej[0]["reason"], "build-arg USED changed (\"a\" -> \"c\")") << e.out;
}

// A COPY of 1,000+ files writes its explain inputs on a thread of their own: they are on disk
// when the build ends, and the next `cache explain` names the one file edited.
TEST(Build, CacheExplainNamesTheEditedFileOfABigCopy) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    Ctx ctx;
    ctx.file("Buildfile", "FROM busybox:latest\nCOPY many/ /many/\n");
    for (int i = 0; i < 1200; i++) ctx.file("many/d" + std::to_string(i / 100) + "/f" + std::to_string(i), std::to_string(i));
    auto r = env.ib("build --progress plain " + ctx.path());
    ASSERT_EQ(r.status, 0) << r.out;
    ctx.file("many/d7/f777", "edited");
    auto e = env.ib("cache explain --json " + ctx.path(), false);
    ASSERT_EQ(e.status, 0) << e.out;
    auto ej = json::parse(e.out);
    ASSERT_EQ(ej.size(), 1u) << e.out;
    EXPECT_FALSE(ej[0]["hit"].get<bool>());
    EXPECT_EQ(ej[0]["reason"], "file \"d7/f777\" changed") << e.out;
}

TEST(Build, FailingRunReportsLineCodeAndOutput) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    Ctx ctx;
    ctx.file("Buildfile", "FROM busybox:latest\nRUN true\nRUN echo some output && echo more >&2 && exit 3\n");
    auto r = env.ib("build --progress plain -t fail:1 " + ctx.path());
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.out.find("Buildfile:3: RUN echo some output && echo more >&2 && exit 3: exited with code 3"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("| more"), std::string::npos) << r.out;
    EXPECT_NE(env.ib("inspect fail:1").status, 0) << "a failed build must tag nothing";
    expect_no_leaks();
}

TEST(Build, OutOfMemoryUnderMemoryLimit) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    Ctx ctx;
    ctx.file("Buildfile", "FROM busybox:latest\nRUN x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo ${#x}\n");
    auto r = env.ib("build --progress plain --memory 64m " + ctx.path());
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.out.find("killed: out of memory (limit 64 MiB)"), std::string::npos) << r.out;
    expect_no_leaks();
}

TEST(Build, CacheSecretAndBindMounts) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    Ctx ctx;
    const std::string secret = "s3cr3t-value-8c1f2e";
    ctx.file("data/input", "bound\n");
    sys::TempDir sd("/tmp", "imgbuild-e2e-secret-");
    sys::write_file_atomic(sd.path() + "/tok", secret, 0600);
    std::string bf = "FROM busybox:latest\n"
                     "RUN --mount=type=cache,target=/cache echo run >> /cache/log && wc -l < /cache/log > /cache-lines\n"
                     "RUN --mount=type=secret,id=tok sha256sum /run/secrets/tok | cut -c1-64 > /secret-hash\n"
                     "RUN --mount=type=secret,id=tok,env=TOK echo -n \"$TOK\" | sha256sum | cut -c1-64 > /env-hash\n"
                     "RUN --mount=type=bind,source=data,target=/mnt cat /mnt/input > /from-bind\n"
                     "RUN --mount=type=tmpfs,target=/scratch echo t > /scratch/t && test -f /scratch/t\n";
    ctx.file("Buildfile", bf);
    std::string args = "build --progress plain --secret id=tok,src=" + sd.path() + "/tok -t mounts:1 --output type=local,dest=";
    auto r = env.ib(args + ctx.path() + "/out1 " + ctx.path());
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(read(ctx.path() + "/out1/from-bind"), "bound\n");
    std::string want = cas::Digest::of(secret).hex() + "\n";
    EXPECT_EQ(read(ctx.path() + "/out1/secret-hash"), want);
    EXPECT_EQ(read(ctx.path() + "/out1/env-hash"), want);
    EXPECT_FALSE(std::filesystem::exists(ctx.path() + "/out1/run/secrets")) << "mount stub left in the image";
    EXPECT_FALSE(std::filesystem::exists(ctx.path() + "/out1/cache/log")) << "cache mount content leaked into a layer";
    EXPECT_FALSE(std::filesystem::exists(ctx.path() + "/out1/scratch/t"));
    // The cache mount persists across builds.
    r = env.ib(args + ctx.path() + "/out2 --no-cache " + ctx.path());
    ASSERT_EQ(r.status, 0) << r.out;
    int first = std::stoi(read(ctx.path() + "/out1/cache-lines"));
    EXPECT_EQ(std::stoi(read(ctx.path() + "/out2/cache-lines")), first + 1);
    // The secret is in no blob of the store: layers, config, history, cache records.
    auto g = run_cmd("grep -rl " + secret + " " + env.root());
    EXPECT_NE(g.status, 0) << "secret found in: " << g.out;
    // A required secret that is missing is an error.
    Ctx c2;
    c2.file("Buildfile", "FROM busybox:latest\nRUN --mount=type=secret,id=nope,required cat /run/secrets/nope\n");
    r = env.ib("build " + c2.path());
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.out.find("nope"), std::string::npos) << r.out;
    expect_no_leaks();
}

TEST(Build, SourceDateEpochGivesTheSameDigestInTwoStores) {
    if (::geteuid() != 0) GTEST_SKIP() << "builds need root";
    std::string digests[2];
    for (int i = 0; i < 2; i++) {
        sys::TempDir store("/tmp", "imgbuild-e2e-sde-");
        Ctx base;
        for (const char* f : {"Buildfile", "passwd", "group"})
            base.file(f, read(std::string(IMGBUILD_SRC) + "/testdata/busybox/" + f));
        base.file("busybox", read("/bin/busybox"), 0755);
        Ctx app;
        app.file("f", "same\n");
        app.file("Buildfile", "FROM busybox:latest\nCOPY f /f\nRUN echo hi > /hi && mkdir /d\nENV X=1\n");
        std::string ib = e2e::bin() + " --root " + store.path() + " build --source-date-epoch 1700000000 ";
        auto r = run_cmd(ib + "-t busybox:latest " + base.path());
        ASSERT_EQ(r.status, 0) << r.out;
        r = run_cmd(ib + "-t app:1 " + app.path(), false);
        ASSERT_EQ(r.status, 0) << r.out;
        digests[i] = r.out;
    }
    EXPECT_EQ(digests[0], digests[1]);
    EXPECT_EQ(digests[0].rfind("sha256:", 0), 0u) << digests[0];
}

TEST(Build, BareFormMeansBuild) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    Ctx ctx;
    ctx.file("Dockerfile", "FROM busybox:latest\nRUN echo bare > /bare\n");
    auto r = env.ib("-f " + ctx.path() + "/Dockerfile -t bare:1 " + ctx.path());
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(env.ib("inspect bare:1").status, 0);
}

TEST(Build, BadInputErrors) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    Ctx ctx;
    ctx.file("Buildfile", "FROM busybox:latest\nRUNN echo\n");
    auto r = env.ib("build " + ctx.path());
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.out.find("Buildfile:2: unknown instruction: RUNN"), std::string::npos) << r.out;
    Ctx c2;
    c2.file("Buildfile", "FROM no-such-image:1\nRUN true\n");
    r = env.ib("build " + c2.path());
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.out.find("Buildfile:1: FROM no-such-image:1"), std::string::npos) << r.out;
    Ctx c3;
    c3.file("Buildfile", "FROM busybox:latest\nCOPY ../etc/passwd /x\n");
    r = env.ib("build " + c3.path());
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.out.find("Buildfile:2"), std::string::npos) << r.out;
    expect_no_leaks();
}

TEST(Build, OnbuildTriggersRunInTheChildBuild) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    Ctx base, child;
    base.file("Buildfile", "FROM busybox:latest\nONBUILD RUN echo triggered > /onbuild\nONBUILD ENV FROM_TRIGGER=1\n");
    child.file("Buildfile", "FROM onbase:1\nRUN cat /onbuild\n");
    ASSERT_EQ(env.ib("build -t onbase:1 " + base.path()).status, 0);
    auto r = env.ib("build --progress plain -t onchild:1 --output type=local,dest=" + child.path() + "/out " + child.path());
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(read(child.path() + "/out/onbuild"), "triggered\n");
    cas::Image img = image_of(env.root(), "onchild:1");
    const auto& e = img.config.config.env;
    EXPECT_NE(std::find(e.begin(), e.end(), "FROM_TRIGGER=1"), e.end());
    EXPECT_TRUE(img.config.config.on_build.empty()) << "triggers are not inherited";
    EXPECT_EQ(image_of(env.root(), "onbase:1").config.config.on_build.size(), 2u);
}

TEST(Build, HeredocsInRunAndCopy) {
    REQUIRE_BASE();
    auto& env = BuildEnv::get();
    Ctx ctx;
    ctx.file("Buildfile", "FROM busybox:latest\n"
                          "ARG NAME=world\n"
                          "RUN <<EOF\n"
                          "echo first > /h1\n"
                          "echo second >> /h1\n"
                          "EOF\n"
                          "RUN <<EOF\n"
                          "#!/bin/sh\n"
                          "echo \"from a script $0\" > /h2\n"
                          "EOF\n"
                          "RUN cat > /h3 <<EOF\n"
                          "stdin of cat\n"
                          "EOF\n"
                          "COPY <<EOF /etc/greeting\n"
                          "hello ${NAME}\n"
                          "EOF\n");
    auto r = env.ib("build --progress plain --output type=local,dest=" + ctx.path() + "/out " + ctx.path());
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(read(ctx.path() + "/out/h1"), "first\nsecond\n");
    EXPECT_EQ(read(ctx.path() + "/out/h2").rfind("from a script ", 0), 0u);
    EXPECT_EQ(read(ctx.path() + "/out/h3"), "stdin of cat\n");
    EXPECT_EQ(read(ctx.path() + "/out/etc/greeting"), "hello world\n");
    EXPECT_FALSE(std::filesystem::exists(ctx.path() + "/out/run/imgbuild-heredoc")) << "heredoc script mount stub left";
}

// BuildKit does not expand variables in --from at all (it takes `$SRC` for an image name);
// imgbuild expands --from like every other word of the step: the stage's ARGs, then ENV
// (inherited from a base stage), ENV winning over an ARG of the same name. The planner (which
// builds the stages) and the step must agree on the stage: the file comes from "two", which
// was built, not from the global ARG's "one".
// Of an inherited ENV and an ARG of the same name, the one declared later names the stage:
// BuildKit keeps one environment that ARG (with a value, here the global default) and ENV
// both write (the same rule RUN sees, differential case arg-after-env).
TEST(Build, CopyFromVariableTakesTheLaterOfEnvAndArg) {
    if (::geteuid() != 0) GTEST_SKIP() << "builds need root";
    auto& env = BuildEnv::get();
    Ctx ctx;
    ctx.file("one.txt", "one\n");
    ctx.file("two.txt", "two\n");
    ctx.file("Buildfile", R"(ARG SRC=one
FROM scratch AS one
COPY one.txt /f
FROM scratch AS two
COPY two.txt /f
FROM scratch AS base
ENV SRC=two
FROM base AS with_arg
ARG SRC
COPY --from=$SRC /f /got
FROM base AS env_only
COPY --from=${SRC} /f /got
)");
    for (auto [target, want, other] : {std::tuple{"with_arg", "one\n", "COPY two.txt"}, std::tuple{"env_only", "two\n", "COPY one.txt"}}) {
        std::string out = ctx.path() + "/out-" + target;
        auto r = env.ib("build --progress plain --target " + std::string(target) + " --output type=local,dest=" + out +
                        " " + ctx.path());
        ASSERT_EQ(r.status, 0) << target << "\n" << r.out;
        EXPECT_EQ(read(out + "/got"), want) << target;
        EXPECT_EQ(r.out.find(other), std::string::npos) << target << ": the other stage was built\n" << r.out;
    }
}
