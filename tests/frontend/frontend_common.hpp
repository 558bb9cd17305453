// Shared helpers for the front-end tests: locating the BuildKit conformance data.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace frontend_test {

// /work/shared (or $IMGBUILD_SHARED) + "/conformance/buildkit"; empty if missing.
inline std::string conformance_dir() {
    std::string base = IMGBUILD_SHARED;
    if (const char* e = std::getenv("IMGBUILD_SHARED"); e && *e) base = e;
    std::string dir = base + "/conformance/buildkit";
    return std::filesystem::is_directory(dir) ? dir : std::string();
}

inline std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline std::string testdata_dir() { return std::string(IMGBUILD_SRC) + "/testdata"; }

}  // namespace frontend_test
