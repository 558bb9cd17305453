// What a step's cache key is made of, as pure functions of the stage state and the
// instruction (plus what the caller resolved beforehand: the content digest of context files,
// the key of a stage or the digest of an image a --from names). No I/O, no shared state: the
// executors (solver_run.cpp, solver_copy.cpp) resolve, call these, hash the result with
// cache_key(), and `cache explain` diffs two of them.
#pragma once
#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>

#include "builder/solver_internal.hpp"

namespace builder {

// Inputs every filesystem step shares: the parent key, the instruction as written, the
// stage's ENV, USER, WORKDIR, its ARGs (proxy build-args left out: they do not change
// results) and the platform.
nlohmann::json base_inputs(const StageState& st, const Instruction& in);

// RUN. `network`: the plan's network mode ("none" / "host"). `mount_content`: by mount index,
// the content of each bind mount's source (context digest, stage key or image digest).
// Secrets are named by id only, never by content.
nlohmann::json run_inputs(const StageState& st, const Instruction& in, const std::string& network,
                          const std::map<size_t, std::string>& mount_content);

// COPY / ADD. `from`: the key of the stage or the digest of the image --from names (if any);
// `content`: the digest of the context files selected (when copying from the context).
nlohmann::json copy_inputs(const StageState& st, const Instruction& in, const std::optional<std::string>& from,
                           const std::optional<std::string>& content);

// WORKDIR that creates its directory (owned by the stage's USER).
nlohmann::json workdir_inputs(const StageState& st, const Instruction& in);

// Keys of the steps that change no files: chained from the parent key.
std::string metadata_key(const StageState& st, const Instruction& in);
std::string arg_key(const StageState& st, const Instruction& in);

}  // namespace builder
