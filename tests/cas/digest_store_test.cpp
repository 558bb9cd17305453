// Digest parsing and the blob store's ingest/commit/read paths.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cas/digest.hpp"
#include "cas/digest_count.hpp"
#include "cas/store.hpp"
#include "sys/error.hpp"
#include "test_util.hpp"

using cas_test::expect_error;
using cas_test::StoreFixture;

namespace {

const std::string kEmpty = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

size_t count_entries(const std::string& dir) {
    size_t n = 0;
    DIR* d = ::opendir(dir.c_str());
    if (!d) return 0;
    while (auto* e = ::readdir(d))
        if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") n++;
    ::closedir(d);
    return n;
}

// The background digester continues a Digester's state and hashes blocks in order, whatever
// their sizes (empty ones too, and more than it keeps in flight); submitted bytes count as
// hashed by the submitting thread. Dropping it unfinished stops its worker.
TEST(Digest, BackgroundDigesterMatchesTheInlineHash) {
    std::string data(7 << 20, '\0');
    for (size_t i = 0; i < data.size(); i++) data[i] = char((i * 7919) >> 3);
    cas::Digester head;
    head.update(data.data(), 1000);
    uint64_t before = cas::bytes_hashed_on_this_thread();
    cas::BackgroundDigester bg(std::move(head));
    size_t off = 1000, n = 0;
    for (size_t k = 0; off < data.size(); k++) {
        n = std::min<size_t>({k % 5 == 0 ? 0 : (k * 4099) % (600 << 10), data.size() - off});
        std::string block = bg.submit(data.substr(off, n));
        EXPECT_TRUE(block.empty());
        off += n;
    }
    EXPECT_EQ(cas::bytes_hashed_on_this_thread() - before, data.size() - 1000);
    EXPECT_EQ(bg.finish(), cas::Digest::of(data));

    cas::BackgroundDigester dropped{cas::Digester()};
    for (int i = 0; i < 10; i++) (void)dropped.submit(std::string(1 << 20, 'x'));
}

// Views (bytes the caller keeps) and owned blocks hash in the order they were handed over;
// wait() returns once the views are no longer read, so the caller may then drop them.
TEST(Digest, BackgroundDigesterHashesViewsInOrderWithBlocks) {
    std::string data(6 << 20, '\0');
    for (size_t i = 0; i < data.size(); i++) data[i] = char((i * 40503u) >> 5);
    uint64_t before = cas::bytes_hashed_on_this_thread();
    cas::BackgroundDigester bg{cas::Digester()};
    size_t off = 0;
    for (size_t k = 0; off < data.size(); k++) {
        size_t n = std::min<size_t>((k * 7919) % (700 << 10) + 1, data.size() - off);
        if (k % 3 == 0) {
            (void)bg.submit(data.substr(off, n));
        } else {
            std::string kept = data.substr(off, n);  // a view of bytes that go away after wait()
            bg.submit_view(kept.data(), kept.size());
            bg.wait();
            kept.assign(kept.size(), 'X');
        }
        off += n;
    }
    EXPECT_EQ(cas::bytes_hashed_on_this_thread() - before, data.size());
    EXPECT_EQ(bg.finish(), cas::Digest::of(data));
}

// A blob written partly from the caller's bytes (write_borrowed) and partly through the write
// buffer, across the switch to the background digester, is named by the hash of its bytes.
TEST_F(StoreFixture, BorrowedWritesMixWithBufferedOnes) {
    std::string data(10 << 20, '\0');
    for (size_t i = 0; i < data.size(); i++) data[i] = char((i * 2246822519u) >> 17);
    cas::BlobWriter w = store.writer();
    size_t off = 0;
    for (size_t k = 0; off < data.size(); k++) {
        size_t n = std::min<size_t>(k % 2 ? (1 << 20) + k : 3000 + k, data.size() - off);
        if (k % 2) w.write_borrowed(data.data() + off, n);
        else w.write(data.data() + off, n);
        off += n;
    }
    w.release_borrowed();
    EXPECT_EQ(w.commit(), cas::Digest::of(data));
    EXPECT_TRUE(store.has_blob(cas::Digest::of(data)));
}

// A stream digester hashes inline up to kWorthFrom and on the worker past it; whatever the
// chunk sizes around the switch, the digest is the inline one.
TEST(Digest, StreamDigesterMatchesTheInlineHashAcrossTheSwitch) {
    std::string data(11 << 20, '\0');
    for (size_t i = 0; i < data.size(); i++) data[i] = char((i * 2654435761u) >> 24);
    for (size_t chunk : {size_t(1) << 20, size_t(4093), size_t(9) << 20, data.size()}) {
        cas::StreamDigester d;
        for (size_t off = 0; off < data.size(); off += chunk) d.update(data.data() + off, std::min(chunk, data.size() - off));
        EXPECT_EQ(d.size(), data.size());
        EXPECT_EQ(d.finish(), cas::Digest::of(data)) << "chunk " << chunk;
    }
    cas::StreamDigester small;
    small.update("abc", 3);
    EXPECT_EQ(small.finish(), cas::Digest::of("abc"));
}

TEST(Digest, ParsesValid) {
    EXPECT_EQ(cas::Digest::parse(kEmpty).str(), kEmpty);
    EXPECT_EQ(cas::Digest::of("").str(), kEmpty);
}

// Known answers (FIPS 180-2 examples), whole and streamed in uneven pieces.
TEST(Digest, KnownAnswers) {
    EXPECT_EQ(cas::Digest::of("abc").hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cas::Digester d;
    std::string a(1001, 'a');
    for (int i = 0; i < 1000; ++i) d.update(a.data(), size_t(i % 2 ? 999 : 1001));
    EXPECT_EQ(d.size(), 1000000u);
    EXPECT_EQ(d.finish().hex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Digest, RejectsBad) {
    std::string upper = kEmpty;
    upper[10] = 'E';
    for (std::string bad : {upper, std::string("sha256:abc"), std::string("sha256:../../x"),
                            std::string("md5:d41d8cd98f00b204e9800998ecf8427e"), std::string(""), kEmpty + "0",
                            std::string("sha512:") + kEmpty.substr(7), kEmpty.substr(7), std::string("sha256:") + std::string(64, 'g')}) {
        EXPECT_FALSE(cas::Digest::valid(bad)) << bad;
        expect_error([&] { cas::Digest::parse(bad); }, "invalid digest");
    }
}

TEST(Digest, StreamingMatchesWhole) {
    cas::Digester d;
    d.update("hello ");
    d.update("world");
    EXPECT_EQ(d.size(), 11u);
    EXPECT_EQ(d.finish(), cas::Digest::of("hello world"));
}

TEST_F(StoreFixture, LayoutCreated) {
    EXPECT_TRUE(sys::exists(store.root() + "/oci-layout"));
    EXPECT_TRUE(sys::exists(store.root() + "/index.json"));
    EXPECT_TRUE(sys::exists(store.root() + "/blobs/sha256"));
    // Reopening keeps the index.
    cas::Store again = cas::Store::open(store.root());
    EXPECT_EQ(sys::read_file(again.root() + "/index.json"), sys::read_file(store.root() + "/index.json"));
}

TEST_F(StoreFixture, PutAndReadVerified) {
    cas::Digest d = store.put("some content");
    EXPECT_EQ(d, cas::Digest::of("some content"));
    EXPECT_TRUE(store.has_blob(d));
    EXPECT_EQ(store.blob_size(d), 12u);
    EXPECT_EQ(store.read_verified(d), "some content");
    EXPECT_EQ(store.blob_path(d), store.root() + "/blobs/sha256/" + d.hex());
    // Existing blob is success.
    EXPECT_EQ(store.put("some content"), d);
    EXPECT_EQ(store.list_blobs().size(), 1u);
    EXPECT_EQ(count_entries(store.ingest_dir()), 0u);
}

// put hashes its data once (Digest::of, then the writer takes that digest) and looks at the
// blob once; a blob of the wrong size under the name is replaced.
TEST_F(StoreFixture, PutHashesOnceAndReplacesAWrongSizeBlob) {
    std::string data(3 << 20, '\0');  // past the writer's buffer
    for (size_t i = 0; i < data.size(); i++) data[i] = char((i * 7) & 0xff);
    uint64_t before = cas::bytes_hashed_on_this_thread();
    cas::Digest d = store.put(data);
    EXPECT_EQ(cas::bytes_hashed_on_this_thread() - before, data.size());
    EXPECT_EQ(d, cas::Digest::of(data));
    EXPECT_EQ(store.read_verified(d, data.size()), data);
    EXPECT_EQ(count_entries(store.ingest_dir()), 0u);

    before = cas::bytes_hashed_on_this_thread();
    EXPECT_EQ(store.put(data), d);  // present: only the hash of the name
    EXPECT_EQ(cas::bytes_hashed_on_this_thread() - before, data.size());
    EXPECT_EQ(count_entries(store.ingest_dir()), 0u);

    // A short file under the name (a crash after a non-durable write) is replaced.
    ASSERT_EQ(::chmod(store.blob_path(d).c_str(), 0644), 0);
    sys::write_file_atomic(store.blob_path(d), data.substr(0, 10));
    EXPECT_EQ(store.put(data), d);
    EXPECT_EQ(store.blob_size(d), data.size());
    EXPECT_EQ(store.read_verified(d, data.size()), data);
    EXPECT_EQ(store.list_blobs().size(), 1u);
    EXPECT_EQ(count_entries(store.ingest_dir()), 0u);
}

TEST_F(StoreFixture, CommitWrongSizeFailsAndLeavesNothing) {
    auto w = store.writer();
    w.write("abc");
    expect_error([&] { w.commit(4); }, "size 3 does not match the expected 4");
    EXPECT_FALSE(store.has_blob(cas::Digest::of("abc")));
    EXPECT_EQ(count_entries(store.ingest_dir()), 0u);
    EXPECT_EQ(count_entries(store.root() + "/blobs/sha256"), 0u);
}

TEST_F(StoreFixture, CommitWrongDigestNamesBoth) {
    auto w = store.writer();
    w.write("abc");
    cas::Digest want = cas::Digest::of("abd");
    expect_error([&] { w.commit(3, want); }, want.str());
    EXPECT_EQ(count_entries(store.root() + "/blobs/sha256"), 0u);
    EXPECT_EQ(count_entries(store.ingest_dir()), 0u);
    // Using the writer after a failed commit is an error.
    EXPECT_THROW(w.write("x"), sys::Error);
}

// A writer whose caller hashes the bytes (a verified layer stream): the caller's digest names
// the blob, and a commit without it is refused, leaving nothing.
TEST_F(StoreFixture, CallerHashedWriterTakesTheCallersDigest) {
    std::string data(3 << 20, 'y');  // past the write buffer
    cas::Digest d = cas::Digest::of(data);
    {
        auto w = store.writer();
        w.set_hashed_by_caller();
        w.write(data);
        EXPECT_THROW(w.seal(), sys::Error);
        EXPECT_EQ(w.commit(data.size(), d), d);
    }
    EXPECT_EQ(store.read_verified(d, 8 << 20), data);
    {
        auto w = store.writer();
        w.set_hashed_by_caller();
        w.write("abc");
        expect_error([&] { w.commit(3); }, "without its digest");
    }
    EXPECT_EQ(count_entries(store.ingest_dir()), 0u);
    auto late = store.writer();
    late.write("x");
    EXPECT_THROW(late.set_hashed_by_caller(), sys::Error);
}

// A big blob is hashed on a second thread while it is written: whatever the write sizes, the
// digest is the inline one, seal and a wrong expected digest behave as before, and an abort
// after the switch leaves nothing.
TEST_F(StoreFixture, BigBlobHashedInTheBackgroundKeepsItsDigest) {
    std::string data(21 << 20, '\0');
    for (size_t i = 0; i < data.size(); i++) data[i] = char((i * 131 + (i >> 12)) & 0xff);
    cas::Digest d = cas::Digest::of(data);
    {
        auto w = store.writer();
        size_t off = 0, step = 1;
        while (off < data.size()) {  // 1, 2, 4, ... bytes up to 4 MiB at a time, then repeat
            size_t n = std::min(step, data.size() - off);
            w.write(data.data() + off, n);
            off += n;
            step = step >= (4u << 20) ? 1 : step * 2;
        }
        EXPECT_EQ(w.seal(), d);
        EXPECT_EQ(w.commit(), d);
    }
    EXPECT_EQ(store.read_verified(d, data.size()), data);
    {
        auto w = store.writer();
        w.write(data);
        std::string other = "sha256:" + std::string(64, '0');
        expect_error([&] { w.commit(std::nullopt, cas::Digest::parse(other)); }, "does not match the expected");
    }
    {
        auto w = store.writer();
        w.write(data.substr(0, 9 << 20));
        w.abort();
    }
    {
        auto w = store.writer();
        w.write(data.substr(0, 9 << 20));  // destroyed while the worker may still hash
    }
    EXPECT_EQ(count_entries(store.ingest_dir()), 0u);
}

TEST_F(StoreFixture, AbortAndDestroyRemovePartial) {
    {
        auto w = store.writer();
        w.write(std::string(3 << 20, 'x'));  // past the write buffer: really on disk
        EXPECT_EQ(count_entries(store.ingest_dir()), 1u);
        w.abort();
        EXPECT_EQ(count_entries(store.ingest_dir()), 0u);
    }
    {
        auto w = store.writer();
        w.write("partial");
        EXPECT_EQ(count_entries(store.ingest_dir()), 1u);
    }  // destroyed uncommitted
    EXPECT_EQ(count_entries(store.ingest_dir()), 0u);
    EXPECT_EQ(count_entries(store.root() + "/blobs/sha256"), 0u);
}

TEST_F(StoreFixture, LargeStreamInChunks) {
    auto w = store.writer();
    cas::Digester ref;
    std::string chunk(100000, '\0');
    for (int i = 0; i < 100; i++) {
        for (size_t j = 0; j < chunk.size(); j++) chunk[j] = char((i * 31 + j) & 0xff);
        w.write(chunk);
        ref.update(chunk);
    }
    uint64_t n = w.size();
    EXPECT_EQ(n, 10'000'000u);
    cas::Digest d = w.commit(n, ref.finish());
    EXPECT_EQ(store.blob_size(d), n);
}

TEST_F(StoreFixture, CorruptBlobReadNamesDigest) {
    cas::Digest d = store.put("precious bytes");
    {
        int fd = ::open(store.blob_path(d).c_str(), O_WRONLY);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::pwrite(fd, "P", 1, 0), 1);
        ::close(fd);
    }
    expect_error([&] { store.read_verified(d); }, "blob " + d.str() + ": content does not match its digest");
}

TEST_F(StoreFixture, MissingBlobIsNotFound) {
    cas::Digest d = cas::Digest::of("nope");
    try {
        store.read_verified(d);
        FAIL();
    } catch (const sys::Error& e) {
        EXPECT_EQ(e.code(), sys::Code::NotFound);
        EXPECT_NE(std::string(e.what()).find(d.str()), std::string::npos);
    }
    store.delete_blob(d);  // idempotent
}

TEST_F(StoreFixture, ReadCapEnforced) {
    cas::Digest d = store.put(std::string(1000, 'a'));
    EXPECT_THROW(store.read_verified(d, 100), sys::Error);
}

}  // namespace
