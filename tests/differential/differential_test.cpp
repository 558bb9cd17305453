// The differential suite: every case under testdata/differential/ is built by imgbuild and
// compared with what docker BuildKit built (recorded in expected.json): file tree, config,
// layer count, history. Differences explained in docs/DIFFERENCES.md are listed per case in
// case.json "known" (exact strings); anything else fails, and so does a stale "known" entry.
//
// DifferentialLive.* (ctest labels differential_live, interop) build each case with a private
// dockerd, check the recording still holds, and with IMGBUILD_DIFF_RECORD=1 rewrite it
// (scripts/record-differential).
#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "diff_env.hpp"

namespace {
using Json = nlohmann::json;

// gtest names allow only [A-Za-z0-9_].
std::string test_name(std::string s) {
    for (char& c : s)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    return s;
}

std::string expected_path(const std::string& name) { return diff::cases_dir() + "/" + name + "/expected.json"; }

// Failures for `got` against `want`, minus the case's explained differences.
void check(const std::string& name, const Json& want, const Json& got, bool use_known) {
    if (use_known && want.contains("error") && !got.contains("error") &&
        diff::case_meta(name).contains("buildkit_fails"))
        return;  // the reference BuildKit lacks the feature (docs/DIFFERENCES.md); imgbuild has it
    if (want.contains("error") || got.contains("error")) {
        EXPECT_EQ(want.contains("error"), got.contains("error"))
            << name << ": one builder failed and the other did not:\n"
            << (got.contains("error") ? got["error"].dump() : "(BuildKit failed)");
        return;
    }
    std::vector<std::string> d = diff::compare(want, got);
    std::set<std::string> known;
    if (use_known)
        for (const auto& k : diff::case_meta(name).value("known", Json::array())) known.insert(k.get<std::string>());
    std::string unexplained, stale;
    for (const auto& s : d)
        if (!known.erase(s)) unexplained += "  " + s + "\n";
    for (const auto& s : known) stale += "  " + s + "\n";
    if (const char* dir = std::getenv("IMGBUILD_DIFF_REPORT"))  // one file per case, for triage
        std::ofstream(std::string(dir) + "/" + name + ".txt") << unexplained << (stale.empty() ? "" : "stale:\n" + stale);
    EXPECT_EQ(unexplained, "") << name << ": differences from BuildKit not in docs/DIFFERENCES.md";
    EXPECT_EQ(stale, "") << name << ": case.json lists differences that no longer occur";
}

// ctest's fixture around every case (diff_env.hpp): Up before the first, Down after the last.
TEST(DifferentialShared, Up) {
    if (diff::shared_dir().empty()) GTEST_SKIP() << "IMGBUILD_DIFF_SHARED is unset (ctest sets it): each case process makes its own base and dockerd";
    diff::shared_up();
    EXPECT_TRUE(std::filesystem::is_directory(diff::shared_dir()));
}

TEST(DifferentialShared, Down) {
    if (diff::shared_dir().empty()) GTEST_SKIP() << "IMGBUILD_DIFF_SHARED is unset (ctest sets it)";
    diff::shared_down();
    EXPECT_FALSE(std::filesystem::exists(diff::shared_dir()));
}

class Differential : public testing::TestWithParam<std::string> {};

TEST_P(Differential, SameAsBuildKit) {
    const std::string name = GetParam();
    std::ifstream in(expected_path(name));
    if (!in) GTEST_SKIP() << "no BuildKit recording for " << name << " (scripts/record-differential makes it)";
    if (!diff::Env::get().error().empty()) GTEST_SKIP() << diff::Env::get().error();
    Json want = Json::parse(in);
    check(name, want, diff::Env::get().build(name), true);
}

INSTANTIATE_TEST_SUITE_P(Cases, Differential, testing::ValuesIn(diff::case_names()),
                         [](const auto& info) { return test_name(info.param); });

class DifferentialLive : public testing::TestWithParam<std::string> {};

TEST_P(DifferentialLive, RecordingHoldsAndImgbuildAgrees) {
    const std::string name = GetParam();
    if (!diff::Docker::get().error().empty()) GTEST_SKIP() << diff::Docker::get().error();
    Json live = diff::Docker::get().build(name);
    if (live.contains("error")) live = {{"error", true}};
    if (const char* rec = std::getenv("IMGBUILD_DIFF_RECORD"); rec && std::string(rec) == "1") {
        std::ofstream(expected_path(name)) << live.dump(1) << "\n";
    } else {
        std::ifstream in(expected_path(name));
        ASSERT_TRUE(in) << "no recording for " << name << " (IMGBUILD_DIFF_RECORD=1 writes it)";
        check(name, Json::parse(in), live, false);
    }
    check(name, live, diff::Env::get().build(name), true);
}

INSTANTIATE_TEST_SUITE_P(Live, DifferentialLive, testing::ValuesIn(diff::case_names()),
                         [](const auto& info) { return test_name(info.param); });

}  // namespace
