// Stages and the stage graph. parse_buildfile() turns text into global ARGs + stages of
// typed instructions; plan_stages() resolves FROM (global ARGs, --build-arg overrides,
// automatic platform ARGs), stage references (FROM <stage>, COPY --from, RUN
// --mount=from=), detects cycles, and computes the stages the target needs in build order.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "frontend/instructions.hpp"

namespace frontend {

struct Stage {
    std::string name;      // `AS name` lower-cased, or empty
    int index = 0;         // 0-based position in the file
    std::string base;      // FROM argument as written (unexpanded)
    std::string platform;  // FROM --platform as written (unexpanded)
    SourceLoc loc;         // the FROM line
    Instruction from;      // the FROM instruction itself
    std::vector<Instruction> instructions;  // after FROM
};

struct BuildfileAST {
    std::string file;                  // name used in messages
    char escape = '\\';
    std::vector<Instruction> global_args;  // ARGs before the first FROM
    std::vector<Stage> stages;
    std::vector<std::string> warnings;
};

// Parse (pure; `name` is used in error messages "Buildfile:12: unknown instruction: RUNN").
// Errors: unknown instruction/flag, bad arguments, instruction before FROM (only ARG),
// empty file, unterminated heredoc, duplicate or invalid stage names.
BuildfileAST parse_buildfile(std::string_view text, const std::string& name,
                             const ParseLimits& limits = {});

// Host platform values: linux/amd64 on this machine (computed from the build host).
struct Platform {
    std::string os = "linux", arch, variant;
    std::string str() const;  // "linux/amd64", "linux/arm/v7"
};
Platform host_platform();

// ARGs every build has without declaring them: TARGETPLATFORM TARGETOS TARGETARCH
// TARGETVARIANT BUILDPLATFORM BUILDOS BUILDARCH BUILDVARIANT (for the host).
std::map<std::string, std::string> automatic_platform_args();
// Proxy ARGs usable without declaration (values only from --build-arg; not stored in
// image history): HTTP_PROXY http_proxy HTTPS_PROXY https_proxy FTP_PROXY ftp_proxy
// NO_PROXY no_proxy ALL_PROXY all_proxy.
bool is_predefined_arg(const std::string& name);

// Where a stage reference points.
struct StageRef {
    int stage = -1;     // >= 0: a stage index
    std::string image;  // else: an image reference (or "scratch")
};

struct PlannedStage {
    int index = 0;
    StageRef base;                // FROM after expansion
    std::string platform;         // expanded --platform, empty if none
    std::vector<int> deps;        // stages needed (FROM, COPY --from, RUN --mount from), sorted
    std::vector<std::string> images;  // external images referenced by --from / mount from
    // What each `COPY --from` / `RUN --mount=from=` names, resolved once here (by instruction
    // index; mounts by instruction and mount index): the solver uses these, never its own.
    std::map<size_t, StageRef> copy_from;
    std::map<std::pair<size_t, size_t>, StageRef> mount_from;
};

struct BuildPlan {
    int target = -1;                     // stage index built
    std::vector<int> order;              // needed stages, each after its dependencies
    std::map<int, std::vector<int>> deps;  // for each needed stage
    std::vector<PlannedStage> stages;    // every stage (index = position), planned or not
    // Global ARG values after --build-arg overrides (+ automatic args), for FROM expansion.
    ShellLex::Env global_env;
    // --build-arg names no ARG in the needed stages (or globals) declares (for a warning).
    std::vector<std::string> unused_build_args;
};

// `target` empty = last stage. Errors: `target stage "x" could not be found`,
// `circular dependency detected on stage: x`, FROM expanding to an empty name,
// `invalid stage index N` for a numeric --from out of range.
BuildPlan plan_stages(const BuildfileAST& ast, const std::map<std::string, std::string>& build_args,
                      const std::string& target);

// The value `ARG key[=default]` takes inside a stage (BuildKit dispatchArg): --build-arg
// wins, then the (already expanded) default, then the global ARG value, then the
// automatic platform args; nullopt = declared but unset.
std::optional<std::string> stage_arg_value(const std::string& key, const std::optional<std::string>& expanded_default,
                                           const std::map<std::string, std::string>& build_args,
                                           const ShellLex::Env& global_env);

// Resolve a (expanded) --from / FROM value against the stages visible from stage `current`
// (names match case-insensitively; a number is an index, FROM does not accept numbers).
StageRef resolve_stage_ref(const BuildfileAST& ast, const std::string& value, int current, bool allow_index);

}  // namespace frontend
