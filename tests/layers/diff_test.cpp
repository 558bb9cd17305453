// diff_upper: deterministic bytes, whiteout/opaque conversion, compression, round trip
// through apply_layer (no mount needed: the upper dir is built by hand in overlay form).
#include <algorithm>
#include <vector>

#include "helpers.hpp"
#include "layers/layer.hpp"
#include "layers/layer_entries.hpp"

using namespace layers;

namespace {

const std::string kLongName = std::string(120, 'n') + ".txt";  // forces a PAX extended header

// An upper dir in overlay form. `reverse` creates everything in the opposite order
// (different inode numbers and readdir order); `mtime` is stamped on every entry.
void build_upper(const std::string& u, bool reverse, time_t mtime) {
    std::vector<std::function<void()>> steps = {
        [&] { lt::mkdir(u + "/etc"); lt::write(u + "/etc/hosts", "127.0.0.1 localhost\n"); },
        [&] { lt::write(u + "/etc/" + kLongName, "long\n"); },
        [&] { lt::whiteout(u + "/etc/passwd"); },
        [&] {
            lt::mkdir(u + "/opq");
            lt::set_opaque(u + "/opq");
            lt::write(u + "/opq/-dash", "sorts before the marker bytewise\n");
            lt::write(u + "/opq/z", "z\n");
        },
        [&] { lt::mkdir(u + "/bin"); lt::write(u + "/bin/tool", std::string(100000, 'x'), 04755); },
        [&] { ::setxattr((u + "/bin/tool").c_str(), "user.note", "hi", 2, 0); },
        [&] { ::symlink("../etc/hosts", (u + "/bin/hosts-link").c_str()); },
        [&] { ::link((u + "/etc/hosts").c_str(), (u + "/bin/hosts-hard").c_str()); },
        [&] { ::mkfifo((u + "/fifo").c_str(), 0600); },
        [&] { ::chown((u + "/etc/hosts").c_str(), 1234, 5678); },
    };
    if (reverse) {
        // Dependencies: dirs first, then the rest reversed.
        steps[0]();
        steps[3]();
        steps[4]();
        for (int i = int(steps.size()) - 1; i >= 0; i--)
            if (i != 0 && i != 3 && i != 4) steps[size_t(i)]();
    } else {
        for (auto& s : steps) s();
    }
    for (auto& n : lt::scan_paths(u)) lt::set_mtime(u + "/" + n, mtime + (reverse ? 7 : 0));
}

}  // namespace

TEST(Diff, SameInputTwiceGivesSameBytes) {
    lt::Env env;
    std::string u = env.path("upper");
    build_upper(u, false, 2000000000);
    auto a = diff_upper(env.store, u);
    auto b = diff_upper(env.store, u);
    EXPECT_EQ(a.digest, b.digest);
    EXPECT_EQ(a.digest, a.diff_id);  // uncompressed by default
    EXPECT_EQ(a.media_type, "application/vnd.oci.image.layer.v1.tar");
    EXPECT_FALSE(a.empty);
    EXPECT_EQ(a.size, env.store.blob_size(a.digest));
}

TEST(Diff, DifferentDirsMtimesAndInodeOrderGiveSameBytes) {
    lt::Env env;
    std::string u1 = env.path("one"), u2 = env.path("two");
    build_upper(u1, false, 2000000000);
    build_upper(u2, true, 2100000000);
    DiffOptions o;
    o.source_date_epoch = 1700000000;  // both trees are newer: every mtime is clamped
    auto a = diff_upper(env.store, u1, o);
    auto b = diff_upper(env.store, u2, o);
    EXPECT_EQ(a.digest, b.digest);
    // Without the clamp the mtimes show through.
    EXPECT_NE(diff_upper(env.store, u1).digest, diff_upper(env.store, u2).digest);
    // Another process (another pid) writes the same bytes.
    pid_t pid = ::fork();
    if (pid == 0) {
        try {
            auto c = diff_upper(env.store, u1, o);
            ::_exit(c.digest == a.digest ? 0 : 1);
        } catch (...) {
            ::_exit(2);
        }
    }
    int st = 0;
    ::waitpid(pid, &st, 0);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

TEST(Diff, TarContentsAreOciFormAndMachineIndependent) {
    if (!lt::have("python3")) GTEST_SKIP() << "python3 not installed";
    lt::Env env;
    std::string u = env.path("upper");
    build_upper(u, false, 2000000000);
    auto b = diff_upper(env.store, u);
    std::string out;
    std::string py =
        "import tarfile,sys\n"
        "t=tarfile.open(sys.argv[1])\n"
        "for m in t:\n"
        "  print(m.name, m.type.decode(), m.uid, m.gid, repr(m.uname), repr(m.gname), m.mtime, oct(m.mode), m.linkname,"
        " sorted(m.pax_headers.keys()))\n";
    lt::write(env.dir.path() + "/list.py", py);
    ASSERT_EQ(lt::run("python3 " + env.dir.path() + "/list.py " + env.store.blob_path(b.digest), &out), 0) << out;
    // Order: sorted, opaque marker first in its dir, whiteouts in OCI form.
    std::vector<std::string> names;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) names.push_back(line.substr(0, line.find(' ')));
    std::vector<std::string> want = {"bin", "bin/hosts-hard", "bin/hosts-link", "bin/tool", "etc",
                                     "etc/.wh.passwd", "etc/hosts", "etc/" + kLongName, "fifo", "opq",
                                     "opq/.wh..wh..opq", "opq/-dash", "opq/z"};
    EXPECT_EQ(names, want) << out;
    EXPECT_EQ(out.find("atime"), std::string::npos) << out;
    EXPECT_EQ(out.find("hdrcharset"), std::string::npos) << out;  // no extended header unless needed
    EXPECT_EQ(out.find("ctime"), std::string::npos) << out;
    EXPECT_NE(out.find("bin/hosts-hard 0 1234 5678 '' ''"), std::string::npos) << out;  // numeric ids, no names
    EXPECT_NE(out.find("bin/tool 0 0 0 '' '' 2000000000 0o4755"), std::string::npos) << out;  // setuid kept
    EXPECT_NE(out.find("etc/hosts 1 1234 5678 '' '' 2000000000 0o644 bin/hosts-hard"), std::string::npos) << out;  // hard link to the first path
    EXPECT_NE(out.find("SCHILY.xattr.user.note"), std::string::npos) << out;
    // The extended header's name must not depend on the process (libarchive once used the pid).
    std::string raw = lt::read(env.store.blob_path(b.digest));
    EXPECT_EQ(raw.find("PaxHeader."), std::string::npos);
    EXPECT_EQ(raw.find("trusted.overlay"), std::string::npos);
}

TEST(Diff, EmptyUpper) {
    lt::Env env;
    auto b = diff_upper(env.store, env.path("upper"));
    EXPECT_TRUE(b.empty);
    EXPECT_EQ(b.size, 1024u);  // just the end-of-archive marker
}

TEST(Diff, CompressionIsDeterministicAndDiffIdIsTheTar) {
    lt::Env env;
    std::string u = env.path("upper");
    build_upper(u, false, 2000000000);
    auto none = diff_upper(env.store, u);
    for (Compression c : {Compression::Gzip, Compression::Zstd}) {
        DiffOptions o;
        o.compression = c;
        auto x = diff_upper(env.store, u, o);
        auto y = diff_upper(env.store, u, o);
        EXPECT_EQ(x.digest, y.digest);
        EXPECT_NE(x.digest, none.digest);
        EXPECT_EQ(x.diff_id, none.diff_id);
        EXPECT_EQ(x.media_type, media_type_for(c));
        auto r = recompress(env.store, none.digest, c);
        EXPECT_EQ(r.digest, x.digest);
        EXPECT_EQ(r.diff_id, none.diff_id);
        auto back = recompress(env.store, x.digest, Compression::None);
        EXPECT_EQ(back.digest, none.digest);
        // Each form extracts to the same tree.
        std::string d = env.path("x" + std::to_string(int(c)));
        auto res = apply_layer(env.store, x.digest, d, none.diff_id);
        EXPECT_EQ(res.diff_id, none.diff_id);
    }
    std::string gz = lt::read(env.store.blob_path(diff_upper(env.store, u, {Compression::Gzip, {}}).digest));
    ASSERT_GT(gz.size(), 10u);
    EXPECT_EQ(uint8_t(gz[0]), 0x1f);
    EXPECT_EQ(uint8_t(gz[3]), 0);                 // no FNAME/FCOMMENT/FEXTRA
    EXPECT_EQ(gz.substr(4, 4), std::string(4, '\0'));  // mtime 0
}

// Files from BackgroundDigester::kWorthFrom (4 MiB) on are read through a mapping and their bytes
// go to the blob and to the hashing thread without a copy; the blob writer switches to that
// thread in the middle of the first big file. The tar is the same one the inline path writes:
// the gzip form (hashed inline, from the same mapping through the compressor) names the same
// diff_id, the stored bytes hash to the blob's name, and every file extracts byte for byte.
TEST(Diff, BigFilesReadThroughAMappingGiveTheSameTar) {
    lt::Env env;
    std::string u = env.path("upper");
    lt::mkdir(u + "/d");
    auto pattern = [](size_t n, unsigned seed) {
        std::string s(n, '\0');
        for (size_t i = 0; i < n; i++) s[i] = char(((i + seed) * 2654435761u) >> 13);
        return s;
    };
    const std::vector<std::pair<std::string, std::string>> files = {
        {"a", "small before\n"},
        {"d/big1", pattern((9u << 20) + 123, 1)},  // not a multiple of the 1 MiB chunks
        {"d/big2", pattern(4u << 20, 2)},          // exactly the threshold
        {"d/big3", pattern((5u << 20) - 1, 3)},
        {"d/small", "between\n"},
        {"z", pattern(3u << 20, 4)},  // below the threshold: read() as before
    };
    for (auto& [name, data] : files) lt::write(u + "/" + name, data);
    for (auto& n : lt::scan_paths(u)) lt::set_mtime(u + "/" + n, 2000000000);
    auto none = diff_upper(env.store, u);
    EXPECT_EQ(cas::Digest::of(lt::read(env.store.blob_path(none.digest))), none.digest);
    auto gz = diff_upper(env.store, u, {Compression::Gzip, {}});
    EXPECT_EQ(gz.diff_id, none.diff_id);
    EXPECT_EQ(recompress(env.store, gz.digest, Compression::None).digest, none.digest);
    std::string d = env.path("applied");
    apply_layer(env.store, none.digest, d, none.diff_id);
    for (auto& [name, data] : files) EXPECT_TRUE(lt::read(d + "/" + name) == data) << name;
}

TEST(Diff, ApplyRoundTripRecreatesTheUpperDir) {
    lt::Env env;
    std::string u = env.path("upper"), d = env.path("applied");
    build_upper(u, false, 2000000000);
    // security.capability (cap_net_raw+ep, vfs_cap_data v2) survives the round trip.
    const std::string cap = lt::file_caps_net_raw();
    ASSERT_EQ(::setxattr((u + "/bin/tool").c_str(), "security.capability", cap.data(), cap.size(), 0), 0);
    lt::write(u + "/caf\xc3\xa9-\xff", "non-ASCII and non-UTF-8 name\n");
    auto b = diff_upper(env.store, u);
    auto r = apply_layer(env.store, b.digest, d, b.diff_id);
    EXPECT_EQ(r.diff_id, b.diff_id);
    EXPECT_EQ(r.entries, 14u);
    auto ch = diff_trees(u, d, {true, true});
    EXPECT_TRUE(ch.empty()) << lt::describe(ch);
    char v[4] = {};
    EXPECT_EQ(::getxattr((d + "/opq").c_str(), "trusted.overlay.opaque", v, sizeof v), 1);
    EXPECT_EQ(v[0], 'y');
    struct stat st;
    ASSERT_EQ(::lstat((d + "/etc/passwd").c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
    ASSERT_EQ(::stat((d + "/bin/tool").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 04755u);
    char capbuf[64];
    ssize_t n = ::getxattr((d + "/bin/tool").c_str(), "security.capability", capbuf, sizeof capbuf);
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string(capbuf, size_t(n)), cap);
    // The entry lister sees the same layer.
    auto entries = list_layer(env.store, b.digest);
    ASSERT_EQ(entries.size(), 14u);
    auto wh = std::find_if(entries.begin(), entries.end(), [](const LayerEntry& e) { return e.whiteout; });
    ASSERT_NE(wh, entries.end());
    EXPECT_EQ(wh->hidden, "etc/passwd");
    EXPECT_EQ(std::count_if(entries.begin(), entries.end(), [](const LayerEntry& e) { return e.opaque; }), 1);
    EXPECT_EQ(std::count_if(entries.begin(), entries.end(), [](const LayerEntry& e) { return e.type == 'h'; }), 1);
}

TEST(Diff, DiffIdMismatchIsAnError) {
    lt::Env env;
    std::string u = env.path("upper");
    lt::write(u + "/f", "x");
    auto b = diff_upper(env.store, u);
    try {
        apply_layer(env.store, b.digest, env.path("d"), cas::Digest::of("something else"));
        FAIL() << "no error";
    } catch (const sys::Error& e) {
        EXPECT_EQ(e.code(), sys::Code::InvalidInput);
        EXPECT_NE(std::string(e.what()).find(b.digest.str()), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("diff_id"), std::string::npos) << e.what();
    }
}

TEST(Diff, TreeDiffReportsChanges) {
    lt::Env env;
    std::string a = env.path("a"), b = env.path("b");
    lt::write(a + "/same", "1");
    lt::write(b + "/same", "1");
    lt::write(a + "/gone", "1");
    lt::write(b + "/new", "22");
    lt::write(a + "/mod", "1");
    lt::write(b + "/mod", "2", 0600);
    auto ch = diff_trees(a, b);
    ASSERT_EQ(ch.size(), 3u) << lt::describe(ch);
    EXPECT_EQ(ch[0].path, "gone");
    EXPECT_EQ(ch[0].kind, TreeChange::Kind::Deleted);
    EXPECT_EQ(ch[1].path, "mod");
    EXPECT_EQ(ch[1].kind, TreeChange::Kind::Modified);
    EXPECT_EQ(ch[1].fields, (std::vector<std::string>{"mode", "content"}));
    EXPECT_EQ(ch[2].path, "new");
    EXPECT_EQ(ch[2].after->size, 2u);
}

// compress_on_export remembers the compressed form of a layer: a second push/export reuses it
// without reading (or compressing) the uncompressed blob again.
TEST(Diff, CompressOnExportReusesTheCompressedForm) {
    lt::Env env;
    std::string u = env.path("upper");
    build_upper(u, false, 2000000000);
    auto none = diff_upper(env.store, u);
    cas::Descriptor d{cas::media::kLayer, none.digest, none.size, {}, std::nullopt, {}, ""};
    auto map = compress_on_export(env.store, Compression::Zstd);
    cas::Descriptor first = map(d);
    EXPECT_EQ(first.media_type, media_type_for(Compression::Zstd));
    env.store.delete_blob(none.digest);  // the uncompressed blob is not needed any more
    cas::Descriptor again = map(d);
    EXPECT_EQ(again.digest, first.digest);
    EXPECT_EQ(again.size, first.size);
    // Once the compressed blob is gone too, the memo is not trusted.
    env.store.delete_blob(first.digest);
    EXPECT_THROW(map(d), sys::Error);
}
