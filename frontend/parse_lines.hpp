// Internal to the Buildfile parser: BuildKit's per-instruction line parsers
// (frontend/dockerfile/parser/line_parsers.go) and the flag splitter.
#pragma once
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "frontend/parser.hpp"

namespace frontend::detail {

// A parse error without location (the caller adds "<file>:<line>: ").
struct LineError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Split "--a=b --c REST" into flags and the rest (BuildKit extractBuilderFlags).
std::string extract_flags(const std::string& line, std::vector<std::string>& flags);

// Words split on whitespace with quotes/escapes kept (BuildKit parseWords).
std::vector<std::string> parse_words(std::string_view rest, char escape);

// BuildKit newNodeFromLine: keyword, flags and args of one logical line (no location).
Node node_from_line(const std::string& line, char escape, int depth = 0);

// Split on runs of [\t\v\f\r ] (Go regexp reWhitespace).
std::vector<std::string> split_ws(std::string_view s, int max_parts = -1);

// Heredoc specs found in a RUN/COPY/ADD line (names, expand, chomp); content not filled.
std::vector<Heredoc> heredocs_from_line(const std::string& line);

}  // namespace frontend::detail
