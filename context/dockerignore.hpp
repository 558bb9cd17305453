// .dockerignore matching with docker/moby patternmatcher semantics, and Go's filepath.Match
// (used for COPY source globs, one path component at a time).
//
// Patterns: comments (a line starting with '#'), blank lines skipped; surrounding whitespace
// trimmed; '!' marks an exception; each pattern cleaned like filepath.Clean, leading '/'
// stripped. `*` and `?` never match '/', `**` matches any number of directories, `[...]`
// classes, `\` escapes. A path is excluded when the LAST pattern matching it (or one of its
// parent directories) is not an exception.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "sys/path.hpp"

namespace context {

// Go's filepath.Match: `*` any run of non-'/' bytes, `?` one non-'/' byte, `[a-z]` / `[^a]`
// classes, `\` escapes. Throws sys::Error(InvalidInput) on a malformed pattern.
bool path_match(std::string_view pattern, std::string_view name);
// True if the text contains an unescaped glob metacharacter (`*`, `?`, `[`).
bool has_glob_meta(std::string_view text);
// The path helpers live in sys/path.hpp; context code names them unqualified.
using sys::clean_path;
using sys::split_fields;

class IgnoreMatcher {
public:
    IgnoreMatcher() = default;
    // Patterns as they appear in a .dockerignore (already split into lines or not):
    // comments/blank lines dropped, cleaned, '!' exceptions kept. Throws InvalidInput on a
    // malformed pattern, naming `origin` (a file name) when given.
    static IgnoreMatcher parse(std::string_view text, const std::string& origin = ".dockerignore");
    // The same for a list of patterns given one by one (COPY --exclude).
    static IgnoreMatcher from_patterns(const std::vector<std::string>& patterns);
    // <dir of buildfile>/<basename of buildfile>.dockerignore if it exists, else
    // <context_dir>/.dockerignore, else an empty matcher. buildfile_path may be empty.
    static IgnoreMatcher load(const std::string& context_dir, const std::string& buildfile_path);

    // rel_path: slash-separated, relative to the context root ("a/b.txt"; a leading "/" or
    // "./" is tolerated). is_dir is accepted for API symmetry: moby's semantics do not
    // depend on it (a pattern matching a directory excludes everything under it).
    bool excluded(std::string_view rel_path, bool is_dir = false) const;
    // For an excluded directory: could an exception ('!') pattern re-include something
    // below it? If so the directory must still be walked (its entries checked one by one).
    // Conservative: true whenever a wildcard could reach below rel_dir.
    bool may_contain_exception(std::string_view rel_dir) const;

    bool empty() const { return patterns_.empty(); }
    bool has_exceptions() const { return exceptions_; }
    // The file the patterns came from ("" when none / not loaded from a file).
    const std::string& source_file() const { return source_file_; }
    // Cleaned patterns in order, exceptions prefixed with '!' (for cache keys / debugging).
    std::vector<std::string> patterns() const;

    struct Token;
    struct Pattern {
        std::string cleaned;            // without the '!'
        bool exception = false;
        int kind = 0;                   // exact, prefix, suffix, regexp (see .cpp)
        std::vector<Token> tokens;      // for regexp kind
        std::vector<std::string> dirs;  // cleaned split on '/'
    };

private:
    void add(std::string pattern);
    bool pattern_matches(const Pattern& p, std::string_view path) const;
    std::vector<Pattern> patterns_;
    bool exceptions_ = false;
    std::string source_file_;
};

struct IgnoreMatcher::Token {
    enum Kind { Lit, Star, Quest, DStarDir, DStarAny, Class } kind;
    char ch = 0;                                    // Lit
    bool negated = false;                           // Class
    std::vector<std::pair<char, char>> ranges;      // Class
};

}  // namespace context
