// inspect/image_diff: operand classification, directory and layer trees, config diffs,
// stats and the JSON shapes of `imgbuild diff --json`.
#include <gtest/gtest.h>
#include <unistd.h>

#include "inspect/image_diff.hpp"
#include "tests/context/context_util.hpp"
#include "layers/layer.hpp"
#include "sys/error.hpp"

namespace {

struct DiffFixture : ::testing::Test {
    sys::TempDir tmp{"/tmp", "inspect-diff-test-"};
    cas::Store store = cas::Store::open(tmp.path() + "/store");
    std::string dir(const std::string& name) {
        std::string p = tmp.path() + "/" + name;
        sys::mkdir_p(p);
        return p;
    }
};

}  // namespace

TEST_F(DiffFixture, ClassifiesDirectoriesLayersAndErrors) {
    std::string d = dir("a");
    auto op = inspect::classify_operand(store, d);
    EXPECT_EQ(op.kind, inspect::DiffOperand::Kind::Directory);
    EXPECT_EQ(op.id, d);
    ctxtest::put(d + "/file", "x");
    try {
        inspect::classify_operand(store, d + "/file");
        ADD_FAILURE() << "a regular file is not a diff operand";
    } catch (const sys::Error& e) {
        EXPECT_EQ(e.code(), sys::Code::InvalidInput);
        EXPECT_NE(std::string(e.what()).find("not a directory"), std::string::npos) << e.what();
    }
    try {
        inspect::classify_operand(store, "nosuch-image:1");
        ADD_FAILURE() << "expected NotFound";
    } catch (const sys::Error& e) {
        EXPECT_EQ(e.code(), sys::Code::NotFound);
    }
    std::string absent = cas::Digest::of("not stored").str();
    try {
        inspect::classify_operand(store, absent);
        ADD_FAILURE() << "expected NotFound";
    } catch (const sys::Error& e) {
        EXPECT_EQ(e.code(), sys::Code::NotFound);
        EXPECT_NE(std::string(e.what()).find(absent), std::string::npos) << e.what();
    }
}

TEST_F(DiffFixture, LayerBlobIsExtractedAndComparesEqualToItsSource) {
    if (::geteuid() != 0) GTEST_SKIP() << "extracting a layer sets owners (needs root)";
    std::string src = dir("src");
    ctxtest::put(src + "/etc/conf", "hello\n");
    ctxtest::put(src + "/bin/tool", "#!/bin/sh\n", 0755);
    ctxtest::link("tool", src + "/bin/alias");
    layers::LayerBlob blob = layers::diff_upper(store, src, layers::DiffOptions{layers::Compression::Gzip, std::nullopt});
    auto op = inspect::classify_operand(store, blob.digest.str());
    ASSERT_EQ(op.kind, inspect::DiffOperand::Kind::Layer);
    layers::Snapshotter snaps(store);
    std::string extracted;
    {
        inspect::OperandTree t(store, snaps, op);
        extracted = t.path();
        EXPECT_TRUE(layers::diff_trees(src, t.path()).empty());
        ctxtest::put(src + "/etc/conf", "changed\n");
        auto ch = layers::diff_trees(t.path(), src);
        ASSERT_EQ(ch.size(), 1u);
        EXPECT_EQ(ch[0].path, "etc/conf");
        auto j = inspect::change_json(ch[0]);
        EXPECT_EQ(j["path"], "/etc/conf");
        EXPECT_EQ(j["change"], "modified");
        EXPECT_NE(std::find(j["fields"].begin(), j["fields"].end(), "content"), j["fields"].end());
        EXPECT_EQ(j["before"]["digest"], cas::Digest::of("hello\n").str());
        EXPECT_EQ(j["after"]["digest"], cas::Digest::of("changed\n").str());
        EXPECT_EQ(j["before"]["type"], "file");
        EXPECT_EQ(j["before"]["mode"], "0644");
        auto s = inspect::diff_stat(ch);
        EXPECT_EQ(s.modified, 1u);
        EXPECT_EQ(s.bytes_added, 2u);
        EXPECT_EQ(s.bytes_removed, 0u);
    }
    EXPECT_NE(::access(extracted.c_str(), F_OK), 0) << "the extracted layer is removed";
}

TEST(ImageDiff, ConfigDifferencesNameTheFields) {
    cas::ContainerConfig a, b;
    EXPECT_TRUE(inspect::diff_configs(a, b).empty());
    a.env = {"PATH=/bin"};
    b.env = {"PATH=/bin", "X=1"};
    b.cmd = std::vector<std::string>{"/bin/sh"};
    a.labels["k"] = "v";
    b.labels["k"] = "w";
    b.user = "nobody";
    a.working_dir = "/srv";
    b.exposed_ports = {"80/tcp"};
    b.entrypoint = std::vector<std::string>{};
    auto d = inspect::diff_configs(a, b);
    std::vector<std::string> fields;
    for (auto& c : d) fields.push_back(c.field);
    EXPECT_EQ(fields, (std::vector<std::string>{"env", "cmd", "entrypoint", "labels", "user", "workdir", "exposed_ports"}));
    EXPECT_EQ(d[1].before, nullptr);
    EXPECT_EQ(d[1].after, nlohmann::json({"/bin/sh"}));
    EXPECT_EQ(d[2].after, nlohmann::json::array());  // an empty entrypoint differs from none
    EXPECT_EQ(d[3].after["k"], "w");
    EXPECT_EQ(d[5].after, nullptr);
}

TEST(ImageDiff, StatCountsKindsAndBytes) {
    layers::TreeNode f1, f2;
    f1.path = f2.path = "x";
    f1.size = 10;
    f2.size = 4;
    layers::TreeNode d;
    d.type = 'd';
    std::vector<layers::TreeChange> ch = {
        {layers::TreeChange::Kind::Added, "a", std::nullopt, f1, {}},
        {layers::TreeChange::Kind::Modified, "x", f1, f2, {"size"}},
        {layers::TreeChange::Kind::Deleted, "y", f2, std::nullopt, {}},
        {layers::TreeChange::Kind::Deleted, "z", d, std::nullopt, {}},
    };
    auto s = inspect::diff_stat(ch);
    EXPECT_EQ(s.added, 1u);
    EXPECT_EQ(s.modified, 1u);
    EXPECT_EQ(s.deleted, 2u);
    EXPECT_EQ(s.bytes_added, 10u);
    EXPECT_EQ(s.bytes_removed, 6u + 4u);
    auto j = inspect::node_json(d);
    EXPECT_EQ(j["type"], "dir");
    EXPECT_FALSE(j.contains("digest"));
}
