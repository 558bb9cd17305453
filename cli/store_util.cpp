#include "cli/store_util.hpp"

#include <cstdio>
#include <cstdlib>

#include "builder/store_gc.hpp"
#include "sys/error.hpp"

namespace cli {

cas::Store open_store(const Globals& g) { return cas::Store::open(g.root); }

std::optional<int64_t> source_date_epoch_env() {
    const char* e = std::getenv("SOURCE_DATE_EPOCH");
    if (!e || !*e) return std::nullopt;
    try {
        return std::stoll(e);
    } catch (...) {
        sys::fail(sys::Code::InvalidInput, std::string("SOURCE_DATE_EPOCH=") + e + ": not a number");
    }
}

void apply_config_gc(cas::Store& store, const Config& config) {
    if (!config.gc_keep_storage && !config.gc_keep_duration_s) return;
    builder::CachePolicy p;
    if (config.gc_keep_storage) p.keep_storage = config.gc_keep_storage;
    if (config.gc_keep_duration_s) p.keep_duration_s = config.gc_keep_duration_s;
    builder::prune_store(store, p);
}

std::string human_size(uint64_t b) {
    const char* units[] = {"B", "kB", "MB", "GB", "TB"};
    double v = double(b);
    int u = 0;
    while (v >= 1000 && u < 4) {
        v /= 1000;
        u++;
    }
    char buf[32];
    if (u == 0) std::snprintf(buf, sizeof buf, "%llu B", (unsigned long long)b);
    else std::snprintf(buf, sizeof buf, "%.3g %s", v, units[u]);
    return buf;
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
    std::vector<size_t> w;
    for (auto& r : rows)
        for (size_t i = 0; i < r.size(); i++) {
            if (w.size() <= i) w.push_back(0);
            w[i] = std::max(w[i], r[i].size());
        }
    for (auto& r : rows) {
        std::string line;
        for (size_t i = 0; i < r.size(); i++) {
            line += r[i];
            if (i + 1 < r.size()) line += std::string(w[i] - r[i].size() + 2, ' ');
        }
        std::printf("%s\n", line.c_str());
    }
}

std::string short_time(const std::string& t) {
    if (t.size() < 19) return t.empty() ? "-" : t;
    std::string s = t.substr(0, 19);
    s[10] = ' ';
    return s;
}

}  // namespace cli
