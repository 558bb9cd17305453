// BuildKit's shell-word lexer (frontend/dockerfile/shell): quote removal, escapes and
// variable expansion as used for Dockerfile instruction words. Supports $v, ${v},
// ${v:-x} ${v-x} ${v:+x} ${v+x} ${v:?msg} ${v?msg} ${v#p} ${v##p} ${v%p} ${v%%p}
// ${v/p/r} ${v//p/r}, single/double quotes, the escape token (\ or `).
// Errors: sys::Error(InvalidInput, "failed to process \"WORD\": <reason>").
#pragma once
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace frontend {

class ShellLex {
public:
    // Variables in scope. Lookup is case-sensitive (Linux).
    using Env = std::map<std::string, std::string>;

    explicit ShellLex(char escape = '\\') : escape_(escape) {}

    bool raw_quotes = false;           // keep quote characters in the result
    bool raw_escapes = false;          // keep escape characters in the result
    bool skip_unset_env = false;       // leave $unset / ${unset...} as written
    bool skip_process_quotes = false;  // treat quotes as ordinary characters

    struct Result {
        std::string word;                 // single-word result (ProcessWord)
        std::vector<std::string> words;   // split result (ProcessWords)
        std::set<std::string> matched;    // variables referenced and set
        std::set<std::string> unmatched;  // variables referenced but unset
    };

    // One word: quotes removed, variables expanded, whitespace kept.
    std::string process_word(std::string_view word, const Env& env) const;
    // Split into words after expansion (unquoted whitespace from expansions splits).
    std::vector<std::string> process_words(std::string_view word, const Env& env) const;
    Result process(std::string_view word, const Env& env) const;

    char escape() const { return escape_; }

private:
    char escape_;
};

// Shell glob (`*`, `?`, `[...]`, `\x`) match of the whole string, as used by ${v#p} etc.
bool shell_pattern_match(std::string_view pattern, std::string_view s);

}  // namespace frontend
