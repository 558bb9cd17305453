// Content digest of a COPY selection and the stat cache (cold/warm, edits, racy edits).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "context/context.hpp"
#include "context_util.hpp"

using namespace context;
using ctxtest::put;

namespace {

struct ContextHash : ::testing::Test {
    ctxtest::Tmp ctx, store;
    std::string cache_dir() { return store.p("cache/statcache/abc"); }
    cas::Digest digest(CopySpec spec, StatCache* sc) {
        Context c = Context::open(ctx.p(), "");
        CopyPlan plan = plan_copy(c.root(), spec);
        return content_digest(c.root(), plan, sc);
    }
    static CopySpec all(std::string dest = "/app/") {
        CopySpec s;
        s.sources = {"."};
        s.dest = std::move(dest);
        return s;
    }
    // Hash with a fresh StatCache loaded from disk (a new build), then save it.
    cas::Digest build(CopySpec spec = all(), StatCache::Stats* stats = nullptr) {
        StatCache sc(cache_dir());
        cas::Digest d = digest(std::move(spec), &sc);
        if (stats) *stats = sc.stats();
        sc.save();
        return d;
    }
    void set_mtime(const std::string& p, const struct timespec& t) {
        struct timespec ts[2] = {t, t};
        ASSERT_EQ(::utimensat(AT_FDCWD, p.c_str(), ts, AT_SYMLINK_NOFOLLOW), 0);
    }
    // Entries changed (ctime) in the second the cache is written are racy: let the clock move on.
    static void wait_next_second() {
        time_t t0 = ::time(nullptr);
        while (::time(nullptr) == t0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    void age_all() {
        // Move every file's mtime well into the past so no entry is racy.
        struct timespec old {1600000000, 0};
        for (auto p : {"a.txt", "b/c.txt", "b/d.bin"}) set_mtime(ctx.p(p), old);
    }
    void SetUp() override {
        put(ctx.p("a.txt"), "alpha");
        put(ctx.p("b/c.txt"), "charlie");
        put(ctx.p("b/d.bin"), std::string(100000, 'x'), 0755);
        ctxtest::link("a.txt", ctx.p("b/link"));
        age_all();
    }
};

TEST_F(ContextHash, ColdWarmSameAndCacheUsed) {
    StatCache::Stats s1, s2;
    wait_next_second();
    cas::Digest cold = build(all(), &s1);
    EXPECT_EQ(s1.hits, 0u);
    cas::Digest warm = build(all(), &s2);
    EXPECT_EQ(cold, warm);
    EXPECT_EQ(s2.hits, 3u);  // three regular files, none re-read
    EXPECT_EQ(s2.misses + s2.racy, 0u);
    // no cache at all gives the same digest
    EXPECT_EQ(digest(all(), nullptr), cold);
}

TEST_F(ContextHash, WarmCacheIsTrustedWhenNotRacy) {
    // Prove a warm lookup does not read the file: store a wrong digest for a matching stat.
    {
        StatCache sc(cache_dir());
        struct stat st;
        ASSERT_EQ(::lstat(ctx.p("a.txt").c_str(), &st), 0);
        sc.store("a.txt", FileStamp::of(st), std::string(64, 'f'));
        sc.save_with_time(int64_t(::time(nullptr) + 100) * 1000000000);
    }
    StatCache sc(cache_dir());
    struct stat st;
    ASSERT_EQ(::lstat(ctx.p("a.txt").c_str(), &st), 0);
    EXPECT_EQ(sc.lookup("a.txt", FileStamp::of(st)), std::string(64, 'f'));
}

TEST_F(ContextHash, RacyEntryIsRehashed) {
    // Same size, same mtime, written in the same second as the cache: must be re-read.
    struct stat st;
    ASSERT_EQ(::lstat(ctx.p("a.txt").c_str(), &st), 0);
    {
        StatCache sc(cache_dir());
        sc.store("a.txt", FileStamp::of(st), std::string(64, 'f'));
        sc.save_with_time(int64_t(st.st_mtim.tv_sec) * 1000000000 + 999999999);
    }
    StatCache sc(cache_dir());
    EXPECT_EQ(sc.lookup("a.txt", FileStamp::of(st)), "");
    EXPECT_EQ(sc.stats().racy, 1u);
    cas::Digest d = digest(all(), &sc);
    EXPECT_EQ(d, digest(all(), nullptr));
}

TEST_F(ContextHash, SharedSetHashesEachFileOnceAcrossBuilds) {
    // Two builds of one process (bake targets) with the same context share one stat cache.
    StatCacheSet set;
    auto a = set.get(ctx.p(), cache_dir());
    auto b = set.get(ctx.p(), cache_dir());
    ASSERT_EQ(a.get(), b.get());
    cas::Digest d1 = digest(all(), &a->cache());
    cas::Digest d2 = digest(all(), &b->cache());  // the second build reads no file
    EXPECT_EQ(d1, d2);
    StatCache::Stats st = set.stats().at(ctx.p());
    EXPECT_EQ(st.misses + st.racy, 3u);
    EXPECT_EQ(st.hits, 3u);
    // A build's own stat cache (one `imgbuild build`) keeps the racy rule for what it stored:
    // the files' ctime is this second, so they are read again.
    StatCache plain(store.p("plain"));
    digest(all(), &plain);
    EXPECT_EQ(digest(all(), &plain), d1);
    EXPECT_EQ(plain.stats().hits, 0u);
    // An edit (other size) is seen through the shared cache too.
    put(ctx.p("a.txt"), "ALPHA!");
    EXPECT_NE(digest(all(), &a->cache()), d1);
    EXPECT_EQ(digest(all(), &a->cache()), digest(all(), nullptr));
}

TEST_F(ContextHash, EditsAreDetected) {
    cas::Digest d0 = build();
    // content edit, same size, mtime restored: caught (ctime / racy rules)
    struct stat st;
    ASSERT_EQ(::lstat(ctx.p("b/c.txt").c_str(), &st), 0);
    put(ctx.p("b/c.txt"), "CHARLIE");
    set_mtime(ctx.p("b/c.txt"), st.st_mtim);
    cas::Digest d1 = build();
    EXPECT_NE(d0, d1);
    // and the fresh entry is now cached
    StatCache::Stats s;
    EXPECT_EQ(build(all(), &s), d1);
    // a plain edit changing the size
    put(ctx.p("a.txt"), "alpha2");
    cas::Digest d2 = build();
    EXPECT_NE(d1, d2);
    // mode change
    ASSERT_EQ(::chmod(ctx.p("a.txt").c_str(), 0600), 0);
    cas::Digest d3 = build();
    EXPECT_NE(d2, d3);
    // symlink target change
    ::unlink(ctx.p("b/link").c_str());
    ctxtest::link("b/c.txt", ctx.p("b/link"));
    EXPECT_NE(build(), d3);
}

TEST_F(ContextHash, MtimeOnlyChangeKeepsDigest) {
    cas::Digest d0 = build();
    set_mtime(ctx.p("a.txt"), {1500000000, 5});
    set_mtime(ctx.p("b"), {1500000000, 5});
    EXPECT_EQ(build(), d0);
}

TEST_F(ContextHash, OwnershipChmodDestChangeDigest) {
    cas::Digest d0 = build();
    CopySpec s = all();
    s.chown = Owner{1000, 1000};
    cas::Digest d1 = build(s);
    EXPECT_NE(d0, d1);
    s.chown = Owner{1000, 1001};
    EXPECT_NE(build(s), d1);
    CopySpec m = all();
    m.chmod = 0700;
    EXPECT_NE(build(m), d0);
    // source ownership only matters when preserved (COPY --from)
    ASSERT_EQ(::lchown(ctx.p("a.txt").c_str(), 5, 5), 0);
    EXPECT_EQ(build(), d0);
    CopySpec keep = all();
    keep.preserve_owner = true;
    cas::Digest k1 = build(keep);
    ASSERT_EQ(::lchown(ctx.p("a.txt").c_str(), 6, 6), 0);
    EXPECT_NE(build(keep), k1);
    // the same files placed differently
    CopySpec file;
    file.sources = {"a.txt"};
    file.dest = "/x";
    CopySpec other = file;
    other.sources = {"b/c.txt"};
    EXPECT_NE(build(file), build(other));
}

// The digest's bytes are part of every COPY step's cache key: a change to how a record is
// written must come with a new cache key version. Pinned for a fixed selection (owner and mode
// forced, so neither the umask nor the test user shows): files, a symlink, a setuid mode.
TEST_F(ContextHash, DigestBytesArePinned) {
    CopySpec s = all();
    s.chown = Owner{1, 2};
    s.chmod = 04755;
    EXPECT_EQ(digest(s, nullptr).str(), "sha256:2a6bfdc41e4da53551f2c7802bc30b276e6a1cf19c7623d808d0b38b7623409d");
}

TEST_F(ContextHash, DamagedCacheFileIsIgnored) {
    cas::Digest d0 = build();
    put(cache_dir() + "/statcache", "garbage\0\0\1", 0600);
    EXPECT_EQ(build(), d0);
    put(cache_dir() + "/statcache", "imgbuild-statcache 1 5\nzz", 0600);
    EXPECT_EQ(build(), d0);
}

// The loaded file is searched in place: entries in any order (a file not written by save()),
// a repeated path (the later entry wins), lookups out of order, new paths added and saved.
TEST_F(ContextHash, CacheFileInAnyOrderIsSearchedAndMergedOnSave) {
    const std::string h1(64, '1'), h2(64, '2'), h3(64, '3'), h4(64, '4');
    auto rec = [](const std::string& hex, uint64_t size, const std::string& path) {
        return hex + " " + std::to_string(size) + " 1000000000 1000000000 7 9 " + path + std::string(1, '\0');
    };
    std::string file = std::string("imgbuild-statcache 1 ") + std::to_string(int64_t(2000000000) * 1000000000) + "\n" +
                       rec(h1, 1, "z/last") + rec(h2, 2, "a.txt") + rec(h3, 3, "a/b") + rec(h4, 4, "a.txt");
    put(cache_dir() + "/statcache", file, 0600);
    auto stamp = [](uint64_t size) { return FileStamp{size, 7, 9, 1000000000, 1000000000}; };
    {
        StatCache sc(cache_dir());
        EXPECT_EQ(sc.lookup("a/b", stamp(3)), h3);
        EXPECT_EQ(sc.lookup("a.txt", stamp(4)), h4);  // the later of the two
        EXPECT_EQ(sc.lookup("a.txt", stamp(2)), "");
        EXPECT_EQ(sc.lookup("z/last", stamp(1)), h1);
        EXPECT_EQ(sc.lookup("a/b", stamp(3)), h3);    // backwards: binary search
        EXPECT_EQ(sc.lookup("nope", stamp(1)), "");
        sc.store("m/new", stamp(5), std::string(64, '5'));
        sc.store("a/b", stamp(6), std::string(64, '6'));
        sc.save_with_time(int64_t(2000000001) * 1000000000);
    }
    StatCache again(cache_dir());
    EXPECT_EQ(again.lookup("m/new", stamp(5)), std::string(64, '5'));
    EXPECT_EQ(again.lookup("a/b", stamp(6)), std::string(64, '6'));
    EXPECT_EQ(again.lookup("a.txt", stamp(4)), h4);
    EXPECT_EQ(again.lookup("z/last", stamp(1)), h1);
    EXPECT_EQ(again.stats().hits, 4u);
}

TEST_F(ContextHash, TwentyThousandFilesColdAndWarm) {
    // File creation is slow on this CI's disk (20k creates take tens of seconds on ext4
    // here), so the tree lives on tmpfs when there is one; IMGBUILD_HASH_BENCH_DIR overrides.
    const char* env = ::getenv("IMGBUILD_HASH_BENCH_DIR");
    std::string parent = env ? env : (::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    sys::TempDir bigdir(parent, "imgbuild-ctx-big-");
    struct {
        sys::TempDir& d;
        std::string p(const std::string& r = "") const { return r.empty() ? d.path() : d.path() + "/" + r; }
    } big{bigdir};
    for (int d = 0; d < 100; ++d) {
        char dir[32];
        std::snprintf(dir, sizeof dir, "d%03d", d);
        ASSERT_EQ(::mkdir(big.p(dir).c_str(), 0755), 0);
        for (int f = 0; f < 200; ++f) {
            std::string name = std::string(dir) + "/f" + std::to_string(f) + ".txt";
            int fd = ::open(big.p(name).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
            ASSERT_GE(fd, 0);
            std::string data = name + " small content\n";
            ASSERT_EQ(::write(fd, data.data(), data.size()), ssize_t(data.size()));
            ::close(fd);
        }
    }
    Context c = Context::open(big.p(), "");
    CopySpec s = all();
    auto timed = [&](StatCache::Stats* st) {
        auto t0 = std::chrono::steady_clock::now();
        StatCache sc(store.p("big"));
        CopyPlan plan = plan_copy(c.root(), s);
        cas::Digest d = content_digest(c.root(), plan, &sc);
        sc.save();
        *st = sc.stats();
        double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        return std::make_pair(d, ms);
    };
    StatCache::Stats cold_s, warm_s;
    auto [cold, cold_ms] = timed(&cold_s);
    // files changed in the cache's write second are racy: the next build re-reads them
    // once and rewrites the cache; after that every lookup is a hit
    wait_next_second();
    StatCache::Stats mid;
    timed(&mid);
    auto [warm, warm_ms] = timed(&warm_s);
    EXPECT_EQ(cold, warm);
    EXPECT_EQ(warm_s.hits, 20000u);
    EXPECT_EQ(cold_s.hits, 0u);
    std::printf("[ context ] hashing 20000 small files in %s: cold %.0f ms, warm %.0f ms\n", parent.c_str(), cold_ms, warm_ms);
    RecordProperty("cold_ms", int(cold_ms));
    RecordProperty("warm_ms", int(warm_ms));
    EXPECT_LT(warm_ms, 10000);
}

}  // namespace

// A file that goes away between selection and hashing is reported with its own code (the
// parallel hashers keep the error, not its text), under the hashing context.
TEST(ContextHashErrors, VanishedFileKeepsItsCode) {
    ctxtest::Tmp ctx;
    for (int i = 0; i < 80; i++) put(ctx.p("f" + std::to_string(i)), "x" + std::to_string(i));  // parallel path
    Context c = Context::open(ctx.p(), "");
    CopySpec spec;
    spec.sources = {"."};
    spec.dest = "/";
    CopyPlan plan = plan_copy(c.root(), spec);
    ASSERT_EQ(::unlink(ctx.p("f42").c_str()), 0);
    try {
        content_digest(c.root(), plan, nullptr);
        FAIL() << "expected an error";
    } catch (const sys::Error& e) {
        EXPECT_EQ(e.code(), sys::Code::NotFound) << e.what();
        EXPECT_EQ(e.sys_errno(), ENOENT) << e.what();
        EXPECT_NE(std::string(e.what()).find("hash "), std::string::npos) << e.what();
    }
}

