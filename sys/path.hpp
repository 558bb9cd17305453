// Pure path and text helpers (no filesystem access): the one copy of each for every module.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace sys {

// Split on every `sep`, keeping empty fields: "a,,b" -> {"a", "", "b"}; "" -> {""}.
std::vector<std::string> split_fields(std::string_view s, char sep);

// Lexical clean like Go's path.Clean: collapse "//", drop ".", resolve ".." against the
// previous component (never above "/" for a rooted path); "" -> ".".
std::string clean_path(std::string_view path);

// The part after the last '/' (the whole string when it has none): "a/b" -> "b", "a/" -> "".
std::string base_name(std::string_view path);
// The part before the last '/', "" when there is none: "a/b" -> "a", "b" -> "", "/b" -> "".
std::string dir_name(std::string_view path);

}  // namespace sys
