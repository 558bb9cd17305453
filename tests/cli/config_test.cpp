// The YAML config loader: defaults, every key, and errors naming the file and the key.
#include <gtest/gtest.h>

#include "cli/config.hpp"
#include "sys/error.hpp"
#include "sys/fs.hpp"

using cli::Config;
using cli::load_config;

namespace {

struct ConfigFile {
    sys::TempDir dir{"/tmp", "imgbuild-config-"};
    std::string path = dir.path() + "/config.yaml";
    explicit ConfigFile(const std::string& text) { sys::write_file_atomic(path, text, 0644, false); }
};

std::string error_of(const std::string& text) {
    ConfigFile f(text);
    try {
        load_config(f.path, true);
    } catch (const sys::Error& e) {
        EXPECT_EQ(e.code(), sys::Code::InvalidInput) << e.what();
        std::string w = e.what();
        EXPECT_EQ(w.rfind(f.path + ": ", 0), 0u) << w;  // names the file first
        return w.substr(f.path.size() + 2);
    }
    ADD_FAILURE() << "accepted: " << text;
    return "";
}

}  // namespace

TEST(Config, MissingOptionalFileGivesDefaults) {
    Config c = load_config("/nonexistent/imgbuild/config.yaml", false);
    EXPECT_EQ(c.root, "");
    EXPECT_EQ(c.compression, "gzip");
    EXPECT_EQ(c.memory_bytes, 0u);
    EXPECT_EQ(c.gc_keep_storage, 0u);
    try {
        load_config("/nonexistent/imgbuild/config.yaml", true);
        FAIL() << "a required missing file was accepted";
    } catch (const sys::Error& e) {
        EXPECT_EQ(e.code(), sys::Code::NotFound);
    }
}

TEST(Config, EmptyFileGivesDefaults) {
    ConfigFile f("");
    EXPECT_EQ(load_config(f.path, true).compression, "gzip");
}

TEST(Config, EveryKey) {
    ConfigFile f(
        "root: /var/lib/x\n"
        "compression: zstd\n"
        "run:\n  memory: 512m\n  cpus: 1.5\n  pids_limit: 64\n"
        "gc:\n  keep_storage: 2g\n  keep_duration: 48h\n");
    Config c = load_config(f.path, true);
    EXPECT_EQ(c.root, "/var/lib/x");
    EXPECT_EQ(c.compression, "zstd");
    EXPECT_EQ(c.memory_bytes, 512ull << 20);
    EXPECT_DOUBLE_EQ(c.cpus, 1.5);
    EXPECT_EQ(c.pids_limit, 64);
    EXPECT_EQ(c.gc_keep_storage, 2ull << 30);
    EXPECT_EQ(c.gc_keep_duration_s, 48 * 3600);
}

TEST(Config, ErrorsNameFileAndKey) {
    EXPECT_EQ(error_of("roots: /x\n"), "unknown key \"roots\"");
    EXPECT_EQ(error_of("run:\n  memroy: 1g\n"), "unknown key \"run.memroy\"");
    EXPECT_EQ(error_of("gc:\n  keep: 1\n"), "unknown key \"gc.keep\"");
    EXPECT_EQ(error_of("compression: lz4\n"), "compression must be gzip, zstd or none");
    EXPECT_EQ(error_of("- a\n- b\n"), "top level must be a mapping");
    EXPECT_EQ(error_of("run: 5\n"), "run. must be a mapping");
    std::string bad_size = error_of("run:\n  memory: lots\n");
    EXPECT_EQ(bad_size.rfind("run.memory", 0), 0u) << bad_size;
    std::string bad_yaml = error_of("root: [unclosed\n");
    EXPECT_FALSE(bad_yaml.empty());
}
