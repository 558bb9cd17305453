// Shared helpers for the front-end tests: locating the BuildKit conformance data.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace frontend_test {

// BuildKit's parser and shell-lexer conformance files (not ours, so never copied into the
// repo). The one setting: $IMGBUILD_CONFORMANCE_DIR at test time, else the CMake cache
// variable IMGBUILD_CONFORMANCE_DIR (default ../shared/conformance/buildkit beside the
// checkout). Empty if the directory is missing.
inline std::string conformance_setting() {
    const char* e = std::getenv("IMGBUILD_CONFORMANCE_DIR");
    return e && *e ? std::string(e) : std::string(IMGBUILD_CONFORMANCE_DIR);
}
inline std::string conformance_dir() {
    std::string dir = conformance_setting();
    return std::filesystem::is_directory(dir) ? dir : std::string();
}

// The skip message when the corpus is absent: says where it looked and how to point at it.
inline std::string conformance_missing() {
    return "BuildKit conformance corpus NOT FOUND at " + conformance_setting() +
           " (set IMGBUILD_CONFORMANCE_DIR, the env var or the CMake cache variable)";
}

inline std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline std::string testdata_dir() { return std::string(IMGBUILD_SRC) + "/testdata"; }

}  // namespace frontend_test
