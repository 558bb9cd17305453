#include "builder/progress.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "sys/error.hpp"
#include "sys/fs.hpp"

namespace builder {

namespace {

using Clock = std::chrono::steady_clock;

void write_fd(int fd, const std::string& s) {
    try {
        sys::write_all(fd, s.data(), s.size(), "progress output");
    } catch (const sys::Error&) {
        // progress output is best effort
    }
}

std::string secs(int64_t ms) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1fs", double(ms) / 1000.0);
    return buf;
}

// BuildKit's plain format: "#3 [2/5] RUN make", "#3 0.412 output line", "#3 DONE 1.2s".
class PlainProgress : public Progress {
public:
    explicit PlainProgress(int fd) : fd_(fd), t0_(Clock::now()) {}
    void start(int id, const std::string& name) override {
        std::lock_guard<std::mutex> l(mu_);
        starts_[id] = Clock::now();
        write_fd(fd_, "#" + std::to_string(id) + " " + name + "\n");
    }
    void log(int id, const std::string& line) override {
        std::lock_guard<std::mutex> l(mu_);
        auto it = starts_.find(id);
        double t = it == starts_.end() ? 0 : std::chrono::duration<double>(Clock::now() - it->second).count();
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.3f", t);
        write_fd(fd_, "#" + std::to_string(id) + " " + buf + " " + line + "\n");
    }
    void cached(int id) override {
        std::lock_guard<std::mutex> l(mu_);
        write_fd(fd_, "#" + std::to_string(id) + " CACHED\n");
    }
    void done(int id, int64_t ms) override {
        std::lock_guard<std::mutex> l(mu_);
        write_fd(fd_, "#" + std::to_string(id) + " DONE " + secs(ms) + "\n");
    }
    void error(int id, const std::string& msg) override {
        std::lock_guard<std::mutex> l(mu_);
        write_fd(fd_, "#" + std::to_string(id) + " ERROR: " + msg + "\n");
    }
    void info(const std::string& line) override {
        std::lock_guard<std::mutex> l(mu_);
        write_fd(fd_, line + "\n");
    }

private:
    int fd_;
    Clock::time_point t0_;
    std::mutex mu_;
    std::map<int, Clock::time_point> starts_;
};

// TTY: one line per step as it finishes; the running steps' last log lines are shown dimmed
// under a status line that is redrawn in place.
class TtyProgress : public Progress {
public:
    explicit TtyProgress(int fd) : fd_(fd), t0_(Clock::now()) {}
    void start(int id, const std::string& name) override {
        std::lock_guard<std::mutex> l(mu_);
        steps_[id] = {name, Clock::now(), {}};
        redraw();
    }
    void log(int id, const std::string& line) override {
        std::lock_guard<std::mutex> l(mu_);
        auto it = steps_.find(id);
        if (it == steps_.end()) return;
        auto& tail = it->second.tail;
        tail.push_back(line);
        if (tail.size() > 4) tail.pop_front();
        redraw();
    }
    void cached(int id) override { finish_step(id, " CACHED", 0, true); }
    void done(int id, int64_t ms) override { finish_step(id, "", ms, false); }
    void error(int id, const std::string& msg) override {
        std::lock_guard<std::mutex> l(mu_);
        clear();
        auto it = steps_.find(id);
        std::string name = it == steps_.end() ? "" : it->second.name;
        write_fd(fd_, "\033[31m => ERROR " + name + ": " + msg + "\033[0m\n");
        if (it != steps_.end())
            for (auto& t : it->second.tail) write_fd(fd_, "\033[2m    " + t + "\033[0m\n");
        steps_.erase(id);
        redraw();
    }
    void info(const std::string& line) override {
        std::lock_guard<std::mutex> l(mu_);
        clear();
        write_fd(fd_, line + "\n");
        redraw();
    }
    void finish() override {
        std::lock_guard<std::mutex> l(mu_);
        clear();
    }

private:
    struct Step {
        std::string name;
        Clock::time_point start;
        std::deque<std::string> tail;
    };
    void finish_step(int id, const std::string& mark, int64_t ms, bool cached) {
        std::lock_guard<std::mutex> l(mu_);
        clear();
        auto it = steps_.find(id);
        std::string name = it == steps_.end() ? "" : it->second.name;
        write_fd(fd_, (cached ? "\033[34m => " : "\033[32m => ") + name + mark + (cached ? "" : " " + secs(ms)) + "\033[0m\n");
        steps_.erase(id);
        redraw();
    }
    void clear() {
        for (int i = 0; i < drawn_; i++) write_fd(fd_, "\033[1A\033[2K");
        drawn_ = 0;
    }
    void redraw() {
        clear();
        for (auto& [id, s] : steps_) {
            int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - s.start).count();
            std::string line = " => " + s.name + " " + secs(ms);
            if (line.size() > 120) line = line.substr(0, 120);
            write_fd(fd_, line + "\n");
            drawn_++;
            for (auto& t : s.tail) {
                std::string tl = t.size() > 116 ? t.substr(0, 116) : t;
                write_fd(fd_, "\033[2m    " + tl + "\033[0m\n");
                drawn_++;
            }
        }
    }
    int fd_;
    Clock::time_point t0_;
    std::mutex mu_;
    std::map<int, Step> steps_;
    int drawn_ = 0;
};

class JsonProgress : public Progress {
public:
    explicit JsonProgress(int fd) : fd_(fd), t0_(Clock::now()) {}
    void start(int id, const std::string& name) override { emit({{"event", "start"}, {"step", id}, {"name", name}}); }
    void log(int id, const std::string& line) override { emit({{"event", "log"}, {"step", id}, {"line", line}}); }
    void cached(int id) override { emit({{"event", "cached"}, {"step", id}}); }
    void done(int id, int64_t ms) override { emit({{"event", "done"}, {"step", id}, {"duration_ms", ms}}); }
    void error(int id, const std::string& m) override { emit({{"event", "error"}, {"step", id}, {"message", m}}); }
    void phases(int id, const std::vector<std::pair<std::string, double>>& ms) override {
        nlohmann::json p = nlohmann::json::array();
        for (const auto& [name, v] : ms) p.push_back({{"phase", name}, {"ms", double(int64_t(v * 1000)) / 1000}});
        emit({{"event", "phases"}, {"step", id}, {"phases", p}});
    }
    void info(const std::string& line) override { emit({{"event", "info"}, {"message", line}}); }

private:
    void emit(nlohmann::json j) {
        j["time_ms"] = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0_).count();
        std::lock_guard<std::mutex> l(mu_);
        write_fd(fd_, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    }
    int fd_;
    Clock::time_point t0_;
    std::mutex mu_;
};

class QuietProgress : public Progress {
public:
    void start(int, const std::string&) override {}
    void log(int, const std::string&) override {}
    void cached(int) override {}
    void done(int, int64_t) override {}
    void error(int, const std::string&) override {}
    void info(const std::string&) override {}
};

}  // namespace

std::unique_ptr<Progress> make_progress(const std::string& mode, int fd) {
    if (mode == "plain") return std::make_unique<PlainProgress>(fd);
    if (mode == "json") return std::make_unique<JsonProgress>(fd);
    if (mode == "tty") return std::make_unique<TtyProgress>(fd);
    if (mode == "quiet") return std::make_unique<QuietProgress>();
    if (mode == "auto") {
        if (::isatty(fd)) return std::make_unique<TtyProgress>(fd);
        return std::make_unique<PlainProgress>(fd);
    }
    sys::fail(sys::Code::InvalidInput, "--progress: unknown mode \"" + mode + "\" (want auto, tty, plain or json)");
}

}  // namespace builder
