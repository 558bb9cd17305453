// "KEY=VALUE" entries (process environments, image Env, build args, option lists): the one
// parser and the one find/replace for every module.
#pragma once
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sys {

// "K=V" -> {"K", "V"}; "K" (no '=') -> {"K", ""}; only the first '=' splits.
std::pair<std::string, std::string> split_kv(std::string_view kv);
// The key of "K=V" (the whole entry when it has no '=').
std::string env_key(std::string_view kv);
// Does env hold an entry for key ("key=..." or a bare "key")?
bool env_has(const std::vector<std::string>& env, std::string_view key);
// Replace the entry for key in place, or append "key=value".
void env_set(std::vector<std::string>& env, const std::string& key, const std::string& value);
// key -> value (a later entry for the same key wins).
std::map<std::string, std::string> env_map(const std::vector<std::string>& env);

}  // namespace sys
