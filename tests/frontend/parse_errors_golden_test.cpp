// Golden error tests: every testdata/parse-errors/NAME.Buildfile must fail parse or
// planning with exactly the text in NAME.err (NAME.target, if present, is the --target).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "frontend/stages.hpp"
#include "frontend_common.hpp"
#include "sys/error.hpp"

namespace fs = std::filesystem;
using namespace frontend;
using frontend_test::slurp;

TEST(ParseErrorsGolden, EveryCaseGivesExactMessage) {
    fs::path dir = frontend_test::testdata_dir() + "/parse-errors";
    ASSERT_TRUE(fs::is_directory(dir)) << dir;
    std::vector<fs::path> files;
    for (auto& e : fs::directory_iterator(dir))
        if (e.path().extension() == ".Buildfile") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    ASSERT_GE(files.size(), 20u);
    for (const auto& f : files) {
        SCOPED_TRACE(f.filename().string());
        fs::path err = f, tgt = f;
        err.replace_extension(".err");
        tgt.replace_extension(".target");
        ASSERT_TRUE(fs::exists(err));
        std::string target;
        if (fs::exists(tgt)) {
            target = slurp(tgt);
            while (!target.empty() && target.back() == '\n') target.pop_back();
        }
        try {
            auto ast = parse_buildfile(slurp(f), "Buildfile");
            plan_stages(ast, {}, target);
            ADD_FAILURE() << "accepted";
        } catch (const sys::Error& e) {
            EXPECT_EQ(e.code(), sys::Code::InvalidInput);
            EXPECT_EQ(std::string(e.what()), slurp(err));
        }
    }
}
