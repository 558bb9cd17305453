// BuildKit parser conformance: every parser/testfiles case dumps exactly as BuildKit's,
// every testfiles-negative case is rejected, and testfile-line gives BuildKit's lines.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "frontend/parser.hpp"
#include "frontend_common.hpp"
#include "sys/error.hpp"

namespace fs = std::filesystem;
using namespace frontend;
using frontend_test::conformance_dir;
using frontend_test::slurp;

namespace {

std::vector<fs::path> cases(const std::string& sub) {
    std::vector<fs::path> out;
    for (auto& e : fs::directory_iterator(conformance_dir() + "/parser/" + sub))
        if (e.is_directory()) out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

TEST(ParserConformance, TestfilesDumpMatchesBuildKit) {
    if (conformance_dir().empty()) GTEST_SKIP() << frontend_test::conformance_missing();
    int total = 0, passed = 0;
    for (const auto& dir : cases("testfiles")) {
        ++total;
        std::string dump;
        try {
            auto res = parse_dockerfile(slurp(dir / "Dockerfile"), "Dockerfile");
            for (const auto& n : res.nodes) dump += "(" + dump_node(n) + ")\n";
        } catch (const std::exception& e) {
            ADD_FAILURE() << dir.filename() << ": " << e.what();
            continue;
        }
        std::string want = slurp(dir / "result");
        EXPECT_EQ(dump, want) << dir.filename();
        passed += dump == want;
    }
    EXPECT_GT(total, 0);
    std::printf("parser testfiles: %d/%d pass\n", passed, total);
}

TEST(ParserConformance, NegativeCasesRejected) {
    if (conformance_dir().empty()) GTEST_SKIP() << frontend_test::conformance_missing();
    int total = 0, rejected = 0;
    for (const auto& dir : cases("testfiles-negative")) {
        ++total;
        try {
            parse_dockerfile(slurp(dir / "Dockerfile"), "Dockerfile");
            ADD_FAILURE() << dir.filename() << " was accepted";
        } catch (const sys::Error& e) {
            EXPECT_EQ(e.code(), sys::Code::InvalidInput);
            ++rejected;
        }
    }
    EXPECT_GT(total, 0);
    std::printf("parser testfiles-negative: %d/%d rejected\n", rejected, total);
}

TEST(ParserConformance, LineInformation) {
    if (conformance_dir().empty()) GTEST_SKIP() << frontend_test::conformance_missing();
    auto res = parse_dockerfile(slurp(conformance_dir() + "/parser/testfile-line/Dockerfile"), "Dockerfile");
    // BuildKit's TestLineInformation expectations.
    std::vector<std::pair<int, int>> want = {{5, 5}, {11, 12}, {17, 31}};
    ASSERT_EQ(res.nodes.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(res.nodes[i].start_line, want[i].first) << i;
        EXPECT_EQ(res.nodes[i].end_line, want[i].second) << i;
    }
}
