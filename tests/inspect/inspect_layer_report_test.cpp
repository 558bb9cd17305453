// inspect/layer_report: per-layer added/modified/deleted, the dive-style efficiency report,
// history pairing, mode strings. Pure: layer entry lists built by hand.
#include <gtest/gtest.h>

#include "inspect/layer_report.hpp"

using inspect::LayerChange;
using layers::LayerEntry;

namespace {

LayerEntry file(const std::string& p, uint64_t size, uint32_t mode = 0644) {
    LayerEntry e;
    e.path = p;
    e.type = 'f';
    e.size = size;
    e.mode = mode;
    return e;
}
LayerEntry dir(const std::string& p) {
    LayerEntry e;
    e.path = p;
    e.type = 'd';
    e.mode = 0755;
    return e;
}
LayerEntry whiteout(const std::string& hidden) {
    LayerEntry e;
    size_t k = hidden.rfind('/');
    e.path = k == std::string::npos ? ".wh." + hidden : hidden.substr(0, k + 1) + ".wh." + hidden.substr(k + 1);
    e.type = 'f';
    e.whiteout = true;
    e.hidden = hidden;
    return e;
}
LayerEntry opaque(const std::string& d) {
    LayerEntry e;
    e.path = d + "/.wh..wh..opq";
    e.opaque = true;
    e.hidden = d;
    return e;
}

const LayerChange* find(const inspect::LayerReport& r, const std::string& path) {
    for (const auto& c : r.changes)
        if (c.path == path) return &c;
    return nullptr;
}

}  // namespace

TEST(LayerReport, AddedModifiedDeletedAgainstLowerLayers) {
    auto an = inspect::analyze_layers({
        {dir("etc"), file("etc/a", 10), file("etc/b", 20)},
        {dir("etc"), file("etc/a", 12), file("etc/c", 5), whiteout("etc/b")},
    });
    ASSERT_EQ(an.layers.size(), 2u);
    EXPECT_EQ(an.layers[0].added, 3u);
    EXPECT_EQ(an.layers[0].added_bytes, 30u);
    const auto& top = an.layers[1];
    ASSERT_NE(find(top, "etc"), nullptr);
    EXPECT_EQ(find(top, "etc")->kind, LayerChange::Kind::Modified);
    EXPECT_EQ(find(top, "etc/a")->kind, LayerChange::Kind::Modified);
    EXPECT_EQ(find(top, "etc/a")->size, 12u);
    EXPECT_EQ(find(top, "etc/c")->kind, LayerChange::Kind::Added);
    ASSERT_NE(find(top, "etc/b"), nullptr);
    EXPECT_EQ(find(top, "etc/b")->kind, LayerChange::Kind::Deleted);
    EXPECT_EQ(find(top, "etc/b")->size, 20u);  // the bytes it hid
    EXPECT_EQ(top.added, 1u);
    EXPECT_EQ(top.modified, 2u);
    EXPECT_EQ(top.deleted, 1u);
    EXPECT_EQ(top.deleted_bytes, 20u);
    // Sorted by path.
    for (size_t i = 1; i < top.changes.size(); i++) EXPECT_LT(top.changes[i - 1].path, top.changes[i].path);
}

TEST(LayerReport, WriteThenDeleteIsWastedAsDive) {
    const uint64_t big = 50ull << 20;
    auto an = inspect::analyze_layers({{file("keep", 100)}, {file("big", big)}, {whiteout("big")}});
    const auto& e = an.efficiency;
    EXPECT_EQ(e.wasted_bytes, big);  // cumulative size of the path seen in two layers
    ASSERT_EQ(e.inefficiencies.size(), 1u);
    EXPECT_EQ(e.inefficiencies[0].path, "big");
    EXPECT_EQ(e.inefficiencies[0].count, 2u);
    EXPECT_EQ(e.content_bytes, big + 100);
    // score = sum of the smallest size per path / sum of all sizes: (100 + 0) / (100 + big)
    EXPECT_DOUBLE_EQ(e.score, 100.0 / double(big + 100));
}

TEST(LayerReport, OverwriteCountsBothCopiesAsDive) {
    auto an = inspect::analyze_layers({{file("f", 10)}, {file("f", 30)}, {file("g", 7)}});
    EXPECT_EQ(an.efficiency.wasted_bytes, 40u);
    EXPECT_DOUBLE_EQ(an.efficiency.score, (10.0 + 7.0) / 47.0);
    EXPECT_EQ(an.layers[1].changes[0].kind, LayerChange::Kind::Modified);
}

TEST(LayerReport, NoWasteScoresOne) {
    auto an = inspect::analyze_layers({{dir("a"), file("a/x", 5)}, {dir("b"), file("b/y", 6)}});
    EXPECT_EQ(an.efficiency.wasted_bytes, 0u);
    EXPECT_TRUE(an.efficiency.inefficiencies.empty());
    EXPECT_DOUBLE_EQ(an.efficiency.score, 1.0);
    EXPECT_DOUBLE_EQ(inspect::analyze_layers({}).efficiency.score, 1.0);
}

TEST(LayerReport, DeletedDirectoryCountsEveryFileItHeld) {
    auto an = inspect::analyze_layers({
        {dir("d"), dir("d/sub"), file("d/sub/x", 1000), file("d/y", 24)},
        {whiteout("d")},
    });
    const auto& top = an.layers[1];
    ASSERT_EQ(top.changes.size(), 1u);
    EXPECT_EQ(top.changes[0].type, 'd');
    EXPECT_EQ(top.changes[0].size, 1024u);
    EXPECT_EQ(an.efficiency.wasted_bytes, 1024u);
    EXPECT_EQ(an.efficiency.inefficiencies.size(), 2u);
    EXPECT_EQ(an.efficiency.inefficiencies[0].path, "d/sub/x");  // biggest first
}

TEST(LayerReport, OpaqueDirectoryHidesLowerContentsButNotReAdds) {
    auto an = inspect::analyze_layers({
        {dir("d"), file("d/old", 300), file("d/same", 10)},
        {dir("d"), opaque("d"), file("d/same", 11), file("d/new", 1)},
        {file("d/old", 2)},  // a path hidden by the opaque dir is "added" again
    });
    const auto& l1 = an.layers[1];
    ASSERT_NE(find(l1, "d/old"), nullptr);
    EXPECT_EQ(find(l1, "d/old")->kind, LayerChange::Kind::Deleted);
    EXPECT_EQ(find(l1, "d/old")->size, 300u);
    EXPECT_EQ(find(l1, "d/same")->kind, LayerChange::Kind::Modified);
    EXPECT_EQ(find(l1, "d/new")->kind, LayerChange::Kind::Added);
    EXPECT_EQ(l1.deleted, 1u);
    EXPECT_EQ(an.layers[2].changes[0].kind, LayerChange::Kind::Added);
    // d/old: 300 + 0 (hidden) + 2; d/same: 10 + 11 (no extra deletion record).
    EXPECT_EQ(an.efficiency.wasted_bytes, 302u + 21u);
}

TEST(LayerReport, ReplacingADirectoryWithAFileDropsItsChildren) {
    auto an = inspect::analyze_layers({{dir("x"), file("x/a", 5)}, {file("x", 3)}, {file("x/a", 1)}});
    EXPECT_EQ(an.layers[1].changes[0].kind, LayerChange::Kind::Modified);
    EXPECT_EQ(an.layers[2].changes[0].kind, LayerChange::Kind::Added);
}

TEST(LayerReport, WhiteoutOfNothingIsListedWithUnknownType) {
    auto an = inspect::analyze_layers({{whiteout("ghost")}});
    ASSERT_EQ(an.layers[0].changes.size(), 1u);
    EXPECT_EQ(an.layers[0].changes[0].type, '?');
    EXPECT_EQ(an.layers[0].changes[0].kind, LayerChange::Kind::Deleted);
}

TEST(LayerReport, HistoryRowsPairNonEmptyEntriesWithLayers) {
    cas::Image im;
    for (int i = 0; i < 2; i++) {
        cas::Descriptor d;
        d.digest = cas::Digest::of("layer" + std::to_string(i));
        d.size = 100u + unsigned(i);
        im.manifest.layers.push_back(d);
        im.config.diff_ids.push_back(cas::Digest::of("diff" + std::to_string(i)));
    }
    im.config.history = {{"t0", "COPY a /", "", "", false}, {"t1", "ENV A=1", "", "", true}, {"t2", "RUN x", "", "", false}};
    auto rows = inspect::history_rows(im);
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[0].layer->digest, im.manifest.layers[0].digest);
    EXPECT_FALSE(rows[1].layer.has_value());
    EXPECT_TRUE(rows[1].empty_layer);
    EXPECT_EQ(rows[2].layer->size, 101u);
    EXPECT_EQ(*rows[2].diff_id, im.config.diff_ids[1]);
    EXPECT_EQ(inspect::layer_created_by(im), (std::vector<std::string>{"COPY a /", "RUN x"}));
    // No history at all: one synthetic row per layer.
    im.config.history.clear();
    im.config.created = "2020-01-01T00:00:00Z";
    rows = inspect::history_rows(im);
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_EQ(rows[1].created, "2020-01-01T00:00:00Z");
    EXPECT_EQ(rows[1].layer->digest, im.manifest.layers[1].digest);
}

TEST(LayerReport, ModeStrings) {
    EXPECT_EQ(inspect::mode_string('f', 0644), "-rw-r--r--");
    EXPECT_EQ(inspect::mode_string('d', 01777), "drwxrwxrwt");
    EXPECT_EQ(inspect::mode_string('l', 0777), "lrwxrwxrwx");
    EXPECT_EQ(inspect::mode_string('f', 04755), "-rwsr-xr-x");
    EXPECT_EQ(inspect::mode_string('f', 02644), "-rw-r-Sr--");
    EXPECT_STREQ(inspect::entry_type_name('h'), "hardlink");
}
