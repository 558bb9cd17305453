// Build progress output: `plain` (every line, prefixed with the step, for CI), `tty`
// (per-step lines with timing and CACHED marks, the running step's last log lines), and
// `json` (one object per event, for machines). Thread-safe: stages run in parallel.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace builder {

class Progress {
public:
    virtual ~Progress() = default;
    // A step starts: id is unique in the build; name like "[stage 2/5] RUN make".
    virtual void start(int id, const std::string& name) = 0;
    virtual void log(int id, const std::string& line) = 0;
    virtual void cached(int id) = 0;
    virtual void done(int id, int64_t duration_ms) = 0;
    virtual void error(int id, const std::string& message) = 0;
    // Sub-step timings of a step that ran (name, ms), after done(); only `json` shows them.
    virtual void phases(int /*id*/, const std::vector<std::pair<std::string, double>>& /*ms*/) {}
    // Free-form lines (e.g. "writing image sha256:...").
    virtual void info(const std::string& line) = 0;
    virtual void finish() {}
};

// mode: auto | tty | plain | json | quiet ("auto" = tty when stderr is a terminal, else plain).
std::unique_ptr<Progress> make_progress(const std::string& mode, int fd = 2);

}  // namespace builder
