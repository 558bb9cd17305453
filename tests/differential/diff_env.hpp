// Fixtures of the differential suite: the cases under testdata/differential/, the shared
// busybox base (made with umoci, imported into imgbuild, exported as a docker-archive that
// docker loads, so both builders start from the very same layer), building a case with
// imgbuild, and a private dockerd (../shared/design/PEERS.md) for recording and live runs.
#pragma once
#include <gtest/gtest.h>

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../e2e/busybox_fixture.hpp"
#include "snapshot.hpp"
#include "sys/fs.hpp"

namespace diff {

std::string cases_dir();
std::vector<std::string> case_names();

// testdata/differential/<name>/case.json (or {}): "args" (extra build flags for both builders),
// "modes" ({path: "0600"} applied to the context copy), "known" (differences explained in
// docs/DIFFERENCES.md, exact strings as compare() prints them), "buildkit_fails" (the reason
// the reference BuildKit cannot build it while imgbuild can, e.g. heredocs), "mtimes" ([[A, B]...]:
// paths whose modification times are compared, see snapshot()).
nlohmann::json case_meta(const std::string& name);

// A copy of the case directory without the harness files, with the modes of case.json.
class CaseContext {
public:
    explicit CaseContext(const std::string& name);
    const std::string& path() const { return dir_.path(); }

private:
    sys::TempDir dir_;
};

// Under ctest, one fixture (tests DifferentialShared.Up / .Down, FIXTURES_SETUP/CLEANUP) makes
// the store with the base image, the base docker-archive and one dockerd once, in the directory
// IMGBUILD_DIFF_SHARED names, and every case process attaches to them: a case then costs its two
// builds, not a base image and a daemon start each. Without the variable (the binary run by
// hand) or before Up has finished, each process makes its own, as before.
std::string shared_dir();  // "" when IMGBUILD_DIFF_SHARED is unset
void shared_up();          // makes the shared state (replacing a stale one); throws on failure
void shared_down();        // stops the shared dockerd (by its pid and start time) and removes the dir

// One store with the base image, shared by every case of the test binary (or of the fixture).
class Env {
public:
    static Env& get();
    const std::string& error() const { return error_; }
    const std::string& base_tar() const { return base_tar_; }
    const Tree& base_tree() const { return base_tree_; }
    e2e::CmdResult ib(const std::string& args) const;
    // Builds case `name` with imgbuild; returns its snapshot, or {"error": output} if the build failed.
    nlohmann::json build(const std::string& name) const;

private:
    Env();
    std::optional<sys::TempDir> own_;  // when not attached to the shared fixture
    std::string root_;
    std::string base_tar_;
    Tree base_tree_;
    std::string error_;
};

// A dockerd with a private data-root, exec-root and socket; stopped by its PID (the shared
// fixture's is stopped by shared_down()).
class Docker {
public:
    static Docker& get();
    const std::string& error() const { return error_; }
    e2e::CmdResult docker(const std::string& args) const;
    nlohmann::json build(const std::string& name) const;
    ~Docker();

private:
    Docker();
    std::optional<sys::TempDir> own_;  // when not attached to the shared fixture
    std::string dir_;
    pid_t pid_ = -1;  // only a dockerd this process started and stops
    std::string error_;
};

}  // namespace diff
