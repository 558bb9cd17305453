// End-to-end tests of the store commands through the real binary, with skopeo and umoci
// as the peers that must read what imgbuild writes and write what imgbuild reads.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "busybox_fixture.hpp"
#include "sys/fs.hpp"

using json = nlohmann::json;
using e2e::CmdResult;
using e2e::run_cmd;
using e2e::shell_quote;

namespace {

// One busybox OCI layout (tag "latest") shared by every test in this file.
class StoreCmds : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        shared_ = new sys::TempDir("/tmp", "imgbuild-e2e-bb-");
        skip_ = e2e::make_busybox_oci(shared_->path() + "/oci", "latest");
    }
    static void TearDownTestSuite() {
        delete shared_;
        shared_ = nullptr;
    }
    void SetUp() override {
        if (!skip_.empty()) GTEST_SKIP() << skip_;
    }

    std::string layout() const { return shared_->path() + "/oci"; }
    std::string root() const { return tmp_.path() + "/store"; }
    std::string path(const std::string& n) const { return tmp_.path() + "/" + n; }

    CmdResult ib(const std::string& args, bool merge = true) const {
        return run_cmd(std::string(IMGBUILD_BIN) + " --root " + shell_quote(root()) + " " + args, merge);
    }
    json ib_json(const std::string& args) const {
        CmdResult r = ib(args, false);
        EXPECT_EQ(r.status, 0) << args << "\n" << r.out;
        return json::parse(r.out);
    }
    void import_busybox(const std::string& tag = "busybox:latest") const {
        CmdResult r = ib("import " + shell_quote(layout()) + " --tag " + tag);
        ASSERT_EQ(r.status, 0) << r.out;
    }
    json skopeo(const std::string& args) const {
        CmdResult r = run_cmd("skopeo --insecure-policy " + args, false);
        EXPECT_EQ(r.status, 0) << args << "\n" << r.out;
        return json::parse(r.out.empty() ? "{}" : r.out);
    }
    size_t count_files(const std::string& dir) const {
        size_t n = 0;
        if (DIR* d = ::opendir(dir.c_str())) {
            while (auto* e = ::readdir(d))
                if (e->d_name[0] != '.') n++;
            ::closedir(d);
        }
        return n;
    }

    static sys::TempDir* shared_;
    static std::string skip_;
    sys::TempDir tmp_{"/tmp", "imgbuild-e2e-store-"};
};
sys::TempDir* StoreCmds::shared_ = nullptr;
std::string StoreCmds::skip_;

std::vector<std::string> layer_digests(const json& inspect) {
    std::vector<std::string> v;
    for (auto& l : inspect["Layers"]) v.push_back(l["digest"]);
    return v;
}
std::vector<std::string> diff_ids(const json& inspect) {
    std::vector<std::string> v;
    for (auto& l : inspect["Layers"]) v.push_back(l["diffId"]);
    return v;
}

TEST_F(StoreCmds, ImportOciLayoutMatchesSkopeo) {
    import_busybox();
    json ins = ib_json("inspect busybox --json");
    json sk = skopeo("inspect oci:" + layout() + ":latest");
    json skc = skopeo("inspect --config oci:" + layout() + ":latest");
    EXPECT_EQ(ins["Digest"], sk["Digest"]);
    EXPECT_EQ(layer_digests(ins), sk["Layers"].get<std::vector<std::string>>());
    EXPECT_EQ(ins["Config"], skc["config"]);
    EXPECT_EQ(ins["RootFS"]["diff_ids"], skc["rootfs"]["diff_ids"]);
    EXPECT_EQ(ins["History"], skc["history"]);
    EXPECT_EQ(ins["Config"]["Cmd"], json::array({"/bin/sh"}));

    json imgs = ib_json("images --json");
    ASSERT_EQ(imgs.size(), 1u);
    EXPECT_EQ(imgs[0]["ref"], "busybox:latest");
    EXPECT_EQ(imgs[0]["id"], ins["Id"]);
    CmdResult table = ib("images");
    EXPECT_NE(table.out.find("busybox"), std::string::npos);
    EXPECT_NE(table.out.find(ins["Id"].get<std::string>().substr(7, 12)), std::string::npos);
    // Plain inspect for people names the layers.
    EXPECT_NE(ib("inspect busybox").out.find(sk["Layers"][0].get<std::string>()), std::string::npos);
}

// import unpacks the layers into committed snapshots (as docker load does): one per layer, and
// the first build step on the image mounts them instead of unpacking (its mount phase was ~55 ms
// for the busybox base, most of a cold one-line RUN).
TEST_F(StoreCmds, ImportUnpacksLayersForTheFirstStep) {
    import_busybox();
    size_t layers = ib_json("inspect busybox --json")["Layers"].size();
    ASSERT_GT(layers, 0u);
    size_t committed = 0;
    for (auto& e : std::filesystem::directory_iterator(root() + "/snapshots")) {
        std::error_code ec;
        if (!std::filesystem::exists(e.path() / "meta.json", ec)) continue;
        json meta = json::parse(sys::read_file((e.path() / "meta.json").string()));
        committed += meta.value("kind", "") == "committed";
    }
    EXPECT_EQ(committed, layers);
    EXPECT_EQ(ib("fsck").status, 0);
}

TEST_F(StoreCmds, ExportOciReadBySkopeoAndUmoci) {
    import_busybox();
    std::string out = path("exported");
    ASSERT_EQ(ib("export busybox --format oci -o " + shell_quote(out)).status, 0);
    json sk = skopeo("inspect oci:" + out + ":latest");
    json ins = ib_json("inspect busybox --json");
    EXPECT_EQ(sk["Digest"], ins["Digest"]);
    EXPECT_EQ(sk["Layers"].get<std::vector<std::string>>(), layer_digests(ins));
    if (!e2e::have_tool("umoci")) GTEST_SKIP() << "umoci not installed";
    std::string bundle = path("bundle");
    CmdResult u = run_cmd("umoci unpack --image " + shell_quote(out + ":latest") + " " + shell_quote(bundle));
    ASSERT_EQ(u.status, 0) << u.out;
    struct stat st;
    ASSERT_EQ(::lstat((bundle + "/rootfs/bin/busybox").c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    ASSERT_EQ(::lstat((bundle + "/rootfs/bin/sh").c_str(), &st), 0);
    EXPECT_TRUE(S_ISLNK(st.st_mode));
    // OCI layout tar round trip: same manifest digest.
    std::string tar = path("busybox-oci.tar");
    ASSERT_EQ(ib("export busybox --format oci -o " + shell_quote(tar)).status, 0);
    ASSERT_EQ(ib("rmi busybox").status, 0);
    CmdResult imp = ib("import " + shell_quote(tar));
    ASSERT_EQ(imp.status, 0) << imp.out;
    EXPECT_NE(imp.out.find("busybox:latest"), std::string::npos);
    EXPECT_EQ(ib_json("inspect busybox --json")["Digest"], ins["Digest"]);
}

TEST_F(StoreCmds, ExportDockerReadBySkopeo) {
    import_busybox();
    std::string tar = path("busybox-docker.tar");
    ASSERT_EQ(ib("export busybox:latest --format docker -o " + shell_quote(tar)).status, 0);
    json sk = skopeo("inspect docker-archive:" + tar);
    json skc = skopeo("inspect --config docker-archive:" + tar);
    json ins = ib_json("inspect busybox --json");
    EXPECT_EQ(skc["rootfs"]["diff_ids"], ins["RootFS"]["diff_ids"]);
    EXPECT_EQ(skc["config"], ins["Config"]);
    EXPECT_EQ(sk["Layers"].size(), ins["Layers"].size());
}

TEST_F(StoreCmds, ImportSkopeoDockerArchiveSameLayersAndConfig) {
    import_busybox("busybox:oci");
    std::string tar = path("from-skopeo.tar");
    std::string why = e2e::make_docker_archive(layout(), "latest", tar, "busybox:latest");
    if (!why.empty()) GTEST_SKIP() << why;
    CmdResult r = ib("import " + shell_quote(tar));
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("Loaded image: busybox:latest"), std::string::npos) << r.out;  // docker.io/library/ dropped
    json from_docker = ib_json("inspect busybox:latest --json");
    json from_oci = ib_json("inspect busybox:oci --json");
    EXPECT_EQ(diff_ids(from_docker), diff_ids(from_oci));
    EXPECT_EQ(from_docker["Config"], from_oci["Config"]);
    EXPECT_EQ(from_docker["History"], from_oci["History"]);
    // docker-archive layers are uncompressed: digest == diff_id.
    EXPECT_EQ(layer_digests(from_docker), diff_ids(from_docker));
    json skc = skopeo("inspect --config docker-archive:" + tar);
    EXPECT_EQ(from_docker["Config"], skc["config"]);
    // An OCI layout written by skopeo (uncompressed layers, its own manifest) as well.
    std::string sk_oci = path("skopeo-oci");
    skopeo("copy -q --dest-compress=false oci:" + layout() + ":latest oci:" + sk_oci + ":v1");
    ASSERT_EQ(ib("import " + shell_quote(sk_oci) + " --tag busybox:skopeo").status, 0);
    json from_sk = ib_json("inspect busybox:skopeo --json");
    EXPECT_EQ(diff_ids(from_sk), diff_ids(from_oci));
    EXPECT_EQ(from_sk["Config"], from_oci["Config"]);
    EXPECT_EQ(ib("fsck").status, 0);
}

TEST_F(StoreCmds, TagRmiPrune) {
    import_busybox();
    ASSERT_EQ(ib("tag busybox example.com/team/bb:v1").status, 0);
    json imgs = ib_json("images --json");
    ASSERT_EQ(imgs.size(), 2u);
    EXPECT_EQ(imgs[0]["id"], imgs[1]["id"]);
    CmdResult rmi = ib("rmi busybox");
    ASSERT_EQ(rmi.status, 0);
    EXPECT_NE(rmi.out.find("Untagged: busybox:latest"), std::string::npos);
    EXPECT_EQ(ib_json("images --json").size(), 1u);
    CmdResult nothing = ib("prune");
    ASSERT_EQ(nothing.status, 0) << nothing.out;
    EXPECT_NE(nothing.out.find("freed 0 blobs"), std::string::npos) << nothing.out;
    // By ID: removes every name of the image.
    std::string id = imgs[0]["id"].get<std::string>().substr(7, 12);
    ASSERT_EQ(ib("rmi " + id).status, 0);
    EXPECT_EQ(ib_json("images --json").size(), 0u);
    CmdResult pr = ib("prune");
    ASSERT_EQ(pr.status, 0) << pr.out;
    EXPECT_NE(pr.out.find("freed 3 blobs"), std::string::npos) << pr.out;
    EXPECT_EQ(count_files(root() + "/blobs/sha256"), 0u);
    CmdResult missing = ib("rmi busybox");
    EXPECT_EQ(missing.status, 1);
    EXPECT_NE(missing.out.find("image \"busybox\" not found"), std::string::npos) << missing.out;
    EXPECT_EQ(ib("inspect nothing:here").status, 1);
}

TEST_F(StoreCmds, CorruptByteFailsFsckAndReads) {
    import_busybox();
    json ins = ib_json("inspect busybox --json");
    std::string layer = ins["Layers"][0]["digest"];
    std::string config = ins["Id"];
    for (const std::string& d : {layer, config}) {
        std::string p = root() + "/blobs/sha256/" + d.substr(7);
        int fd = ::open(p.c_str(), O_RDWR);
        ASSERT_GE(fd, 0);
        char c;
        ASSERT_EQ(::pread(fd, &c, 1, 100), 1);
        c ^= 1;
        ASSERT_EQ(::pwrite(fd, &c, 1, 100), 1);
        ::close(fd);
    }
    CmdResult f = ib("fsck");
    EXPECT_EQ(f.status, 1) << f.out;
    EXPECT_NE(f.out.find(layer), std::string::npos) << f.out;
    EXPECT_NE(f.out.find(config), std::string::npos) << f.out;
    CmdResult i = ib("inspect busybox");
    EXPECT_EQ(i.status, 1);
    EXPECT_NE(i.out.find(config), std::string::npos) << i.out;
    EXPECT_NE(i.out.find("does not match its digest"), std::string::npos) << i.out;
    // Prune keeps damaged blobs that are referenced, but refuses to guess what a damaged
    // manifest references.
    EXPECT_EQ(ib("prune").status, 0);
    EXPECT_EQ(ib("fsck").status, 1);
    std::string mp = root() + "/blobs/sha256/" + ins["Digest"].get<std::string>().substr(7);
    sys::write_file_atomic(mp, "{}");
    CmdResult p = ib("prune");
    EXPECT_EQ(p.status, 1);
    EXPECT_NE(p.out.find(ins["Digest"].get<std::string>()), std::string::npos) << p.out;
}

TEST_F(StoreCmds, ConcurrentImportsBothSucceed) {
    std::string tar = path("bb.tar");
    std::string why = e2e::make_docker_archive(layout(), "latest", tar, "busybox:latest");
    if (!why.empty()) GTEST_SKIP() << why;
    std::string bin = std::string(IMGBUILD_BIN) + " --root " + shell_quote(root());
    CmdResult r = run_cmd("(" + bin + " import " + shell_quote(tar) + " --tag a:1 & " + bin + " import " +
                          shell_quote(layout()) + " --tag b:1 & " + bin + " import " + shell_quote(tar) +
                          " --tag c:1 & wait %1 && wait %2 && wait %3)");
    EXPECT_EQ(r.status, 0) << r.out;
    json imgs = ib_json("images --json");
    ASSERT_EQ(imgs.size(), 3u) << imgs.dump();
    CmdResult f = ib("fsck");
    EXPECT_EQ(f.status, 0) << f.out;
}

// A docker-archive with one big layer, so the import is still running when it is killed.
std::string make_big_archive(const std::string& dir) {
    std::string script = R"PY(
import hashlib, io, json, os, sys, tarfile
d = sys.argv[1]
layer = os.path.join(d, "layer.tar")
with tarfile.open(layer, "w", format=tarfile.PAX_FORMAT) as t:
    ti = tarfile.TarInfo("big.bin"); ti.size = 300 << 20
    class Z(io.RawIOBase):
        left = ti.size
        def readable(self): return True
        def readinto(self, b):
            n = min(len(b), self.left); b[:n] = b"\x5a" * n; self.left -= n; return n
    t.addfile(ti, io.BufferedReader(Z(), 1 << 20))
h = hashlib.sha256()
with open(layer, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""): h.update(chunk)
diff = "sha256:" + h.hexdigest()
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": [diff]}}).encode()
with tarfile.open(os.path.join(d, "big.tar"), "w") as t:
    t.add(layer, "layer.tar")
    for name, data in (("config.json", cfg), ("manifest.json", json.dumps([{"Config": "config.json", "RepoTags": ["big:1"], "Layers": ["layer.tar"]}]).encode())):
        ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
os.unlink(layer)
)PY";
    std::ofstream(dir + "/mk.py") << script;
    e2e::must("python3 " + shell_quote(dir + "/mk.py") + " " + shell_quote(dir));
    return dir + "/big.tar";
}

TEST_F(StoreCmds, KilledImportLeavesConsistentStore) {
    if (!e2e::have_tool("python3")) GTEST_SKIP() << "python3 not installed";
    import_busybox();  // something valid already in the store
    std::string tar = make_big_archive(tmp_.path());
    std::string ingest = root() + "/ingest";
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        int null = ::open("/dev/null", O_WRONLY);
        ::dup2(null, 1);
        ::dup2(null, 2);
        std::string r = root();
        ::execl(IMGBUILD_BIN, IMGBUILD_BIN, "--root", r.c_str(), "import", tar.c_str(), (char*)nullptr);
        ::_exit(127);
    }
    // Kill it once a partial blob of some size is being written.
    bool seen = false;
    for (int i = 0; i < 4000 && !seen; i++) {
        if (DIR* d = ::opendir(ingest.c_str())) {
            while (auto* e = ::readdir(d)) {
                struct stat st;
                if (e->d_name[0] != '.' && ::stat((ingest + "/" + e->d_name).c_str(), &st) == 0 && st.st_size > (8 << 20))
                    seen = true;
            }
            ::closedir(d);
        }
        if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ::kill(pid, SIGKILL);
    int st = 0;
    ::waitpid(pid, &st, 0);
    ASSERT_TRUE(seen) << "the import finished before it could be killed";
    ASSERT_TRUE(WIFSIGNALED(st));
    // No partial blob under blobs/: every file there hashes to its name (fsck checks it).
    CmdResult f = ib("fsck");
    EXPECT_EQ(f.status, 0) << f.out;
    EXPECT_NE(f.out.find("partial write"), std::string::npos) << f.out;
    EXPECT_EQ(ib_json("images --json").size(), 1u);
    // prune clears the abandoned ingest; the import then succeeds.
    CmdResult p = ib("prune");
    EXPECT_EQ(p.status, 0) << p.out;
    EXPECT_EQ(count_files(ingest), 0u);
    CmdResult again = ib("import " + shell_quote(tar));
    EXPECT_EQ(again.status, 0) << again.out;
    EXPECT_EQ(ib("fsck").status, 0);
}

TEST_F(StoreCmds, RejectsHostileArchives) {
    // A docker-archive whose manifest points outside the archive, and an OCI layout with a bad digest.
    std::string d = path("evil");
    sys::mkdir_p(d);
    std::ofstream(d + "/manifest.json") << R"([{"Config":"../../../etc/passwd","RepoTags":["x:1"],"Layers":[]}])";
    CmdResult r = ib("import " + shell_quote(d));
    EXPECT_EQ(r.status, 1) << r.out;
    std::string o = path("evil-oci");
    sys::mkdir_p(o);
    std::ofstream(o + "/oci-layout") << R"({"imageLayoutVersion":"1.0.0"})";
    std::ofstream(o + "/index.json")
        << R"({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../../../etc/passwd","size":10}]})";
    r = ib("import " + shell_quote(o) + " --tag x:1");
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.out.find("invalid digest"), std::string::npos) << r.out;
    // Untagged OCI image without --tag: asks for one.
    r = ib("import " + shell_quote(layout()));
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.out.find("--tag"), std::string::npos) << r.out;
    EXPECT_EQ(ib("fsck").status, 0);
}

}  // namespace
