// The pure parts of store GC: which cache records a policy drops, and in which order
// snapshots go (children first, parents of kept ones stay).
#include <gtest/gtest.h>

#include "builder/store_gc.hpp"

using namespace builder;

namespace {

CacheRecord rec(const std::string& name, int64_t used, const std::string& layer = "", uint64_t size = 0) {
    CacheRecord r{cas::Digest::of(name), std::nullopt, "", "", 0, 0, 0, 0};
    r.created = used;
    r.last_used = used;
    r.step = name;
    if (!layer.empty()) r.layer = LayerRef{cas::Digest::of(layer), cas::Digest::of(layer + "-diff"), size, "x"};
    return r;
}

std::vector<std::string> dropped(std::vector<CacheRecord> recs, const CachePolicy& p, int64_t now,
                                 const std::set<cas::Digest>& image_blobs = {}) {
    auto drop = plan_record_drops(recs, image_blobs, p, now);
    std::vector<std::string> out;
    for (size_t i = 0; i < recs.size(); i++)
        if (drop[i]) out.push_back(recs[i].step);
    return out;
}

layers::SnapshotInfo snap(const std::string& key, const std::string& parent) {
    layers::SnapshotInfo s;
    s.key = key;
    s.parent = parent;
    return s;
}

}  // namespace

TEST(StoreGcPlan, NoPolicyKeepsEverythingAllDropsEverything) {
    std::vector<CacheRecord> recs{rec("a", 10, "la", 5), rec("b", 20)};
    EXPECT_TRUE(dropped(recs, {}, 1000).empty());
    CachePolicy all;
    all.all = true;
    EXPECT_EQ(dropped(recs, all, 1000), (std::vector<std::string>{"a", "b"}));
}

TEST(StoreGcPlan, KeepDurationDropsOnlyOlderRecords) {
    CachePolicy p;
    p.keep_duration_s = 100;
    // "new" was last used 50s ago, "old" 500s ago; a recent hit keeps an old record alive.
    CacheRecord touched = rec("touched", 100);
    touched.last_used = 990;
    EXPECT_EQ(dropped({rec("new", 950), rec("old", 500), touched}, p, 1000), (std::vector<std::string>{"old"}));
}

TEST(StoreGcPlan, KeepStorageDropsLeastRecentlyUsedFirst) {
    CachePolicy p;
    p.keep_storage = 150;
    std::vector<CacheRecord> recs{rec("mid", 20, "l2", 100), rec("oldest", 10, "l1", 100), rec("newest", 30, "l3", 100)};
    EXPECT_EQ(dropped(recs, p, 1000), (std::vector<std::string>{"oldest", "mid"}));
    // A layer an image also uses costs the cache nothing: only "oldest" must go now.
    EXPECT_EQ(dropped(recs, p, 1000, {cas::Digest::of("l3")}), (std::vector<std::string>{"oldest"}));
    // Two records sharing one layer count it once.
    std::vector<CacheRecord> shared{rec("x", 10, "same", 100), rec("y", 20, "same", 100)};
    EXPECT_TRUE(dropped(shared, p, 1000).empty());
}

TEST(StoreGcPlan, SnapshotsChildrenFirstParentsOfKeptStay) {
    // base <- mid <- kept ; base <- orphan <- orphan-child ; lone
    std::vector<layers::SnapshotInfo> all{snap("base", ""), snap("mid", "base"), snap("kept", "mid"),
                                          snap("orphan", "base"), snap("orphan-child", "orphan"), snap("lone", "")};
    auto order = plan_snapshot_removal(all, {"kept"});
    std::set<std::string> gone(order.begin(), order.end());
    EXPECT_EQ(gone, (std::set<std::string>{"orphan", "orphan-child", "lone"}));
    auto pos = [&](const std::string& k) { return std::find(order.begin(), order.end(), k) - order.begin(); };
    EXPECT_LT(pos("orphan-child"), pos("orphan"));
    EXPECT_TRUE(plan_snapshot_removal(all, {"kept", "orphan-child", "lone"}).empty());
}
