// Per-target progress: every target's lines are prefixed with its name, and the per-build step
// ids of different targets never collide in the shared output.
#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "bake/run.hpp"

namespace {

struct Recorder : builder::Progress {
    std::vector<std::pair<int, std::string>> starts;
    std::vector<int> done_ids;
    std::vector<std::string> infos;
    std::vector<std::pair<int, size_t>> phase_ids;  // (step, number of phases)
    void start(int id, const std::string& name) override { starts.emplace_back(id, name); }
    void log(int, const std::string&) override {}
    void cached(int id) override { done_ids.push_back(id); }
    void done(int id, int64_t) override { done_ids.push_back(id); }
    void error(int, const std::string&) override {}
    void info(const std::string& line) override { infos.push_back(line); }
    void phases(int id, const std::vector<std::pair<std::string, double>>& ms) override { phase_ids.emplace_back(id, ms.size()); }
};

}  // namespace

TEST(BakeProgress, PrefixesNamesAndRenumbersSteps) {
    Recorder rec;
    std::atomic<int> next{1};
    auto a = bake::prefixed_progress(rec, "app", next);
    auto b = bake::prefixed_progress(rec, "base", next);
    a->start(1, "[stage-0 1/2] RUN x");
    b->start(1, "[stage-0 1/1] RUN y");  // the same id in another build
    a->start(2, "[stage-0 2/2] COPY . /");
    b->done(1, 5);
    a->cached(1);
    a->info("writing image sha256:ab");
    b->phases(1, {{"mount", 1.5}, {"run", 2.0}});  // sub-step timings reach --progress json
    ASSERT_EQ(rec.starts.size(), 3u);
    EXPECT_EQ(rec.starts[0], (std::pair<int, std::string>{1, "[app] [stage-0 1/2] RUN x"}));
    EXPECT_EQ(rec.starts[1], (std::pair<int, std::string>{2, "[base] [stage-0 1/1] RUN y"}));
    EXPECT_EQ(rec.starts[2].first, 3);
    EXPECT_EQ(rec.done_ids, (std::vector<int>{2, 1}));  // each target's id 1 maps to its own step
    EXPECT_EQ(rec.infos, std::vector<std::string>{"[app] writing image sha256:ab"});
    EXPECT_EQ(rec.phase_ids, (std::vector<std::pair<int, size_t>>{{2, 2u}}));
}
