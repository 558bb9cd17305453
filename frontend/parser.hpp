// Buildfile (Dockerfile) parser: text -> nodes with start/end lines. Pure: no I/O, no
// variable expansion. Mirrors BuildKit's frontend/dockerfile/parser: parser directives
// (`# syntax=`, `# escape=`, `# check=`), comments, line continuations (comment and empty
// lines inside are skipped), heredocs (RUN/COPY/ADD), JSON (exec) form vs shell form, and
// BuildKit's node dump format (used for conformance tests).
//
// Errors are sys::Error(Code::InvalidInput) reading
//   "<name>:<line>: <message>\n >>> <offending line>"
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "sys/error.hpp"

namespace frontend {

// One heredoc attached to RUN/COPY/ADD: `<<EOF` (expand), `<<'EOF'`/`<<"EOF"` (no
// expansion), `<<-EOF` (leading tabs stripped from content lines and the terminator).
struct Heredoc {
    std::string name;     // the delimiter word, quotes removed
    std::string content;  // lines between the instruction and the terminator, each with its '\n'
    bool expand = true;
    bool chomp_tabs = false;
};

// One parsed line. For an instruction node: `value` is the instruction keyword as written
// ("RUN", "from"), `flags` the leading `--x=y` words, `args` the arguments as BuildKit's
// per-instruction line parsers split them (shell form: one string; JSON form: the array;
// ENV/LABEL: key, value, separator triples; HEALTHCHECK: type then command...). ONBUILD
// has no args but one child: the parsed trigger instruction.
struct Node {
    std::string value;
    std::vector<std::string> flags;
    std::vector<std::string> args;
    std::vector<Node> children;  // ONBUILD: exactly one
    std::vector<Heredoc> heredocs;
    bool json = false;           // args came from a JSON array
    std::string original;        // the logical line (continuations joined)
    int start_line = 0;          // 1-based
    int end_line = 0;            // last physical line, heredoc bodies included
    std::vector<std::string> comments;  // comment lines right before the instruction
};

struct ParseLimits {
    size_t max_file_bytes = 64u << 20;     // whole file
    size_t max_line_bytes = 1u << 20;      // one logical line (continuations joined)
    size_t max_instructions = 100000;      // logical lines
    size_t max_heredoc_bytes = 16u << 20;  // one heredoc body
};

struct ParseResult {
    std::vector<Node> nodes;
    char escape = '\\';
    std::vector<std::string> warnings;  // e.g. empty continuation lines
};

// Parse `text`. `name` prefixes error messages ("Buildfile:12: ...").
ParseResult parse_dockerfile(std::string_view text, const std::string& name, const ParseLimits& limits = {});

// BuildKit's Node.Dump(): `from "ubuntu"`, `copy ["--from=a"] "x" "y"`, `onbuild (run "a")`.
std::string dump_node(const Node& node);
// Go strconv.Quote of a string (printable Unicode kept, others escaped).
std::string go_quote(std::string_view s);

// Format a located message: "<name>:<line>: <msg>" + "\n >>> <line text>" if given.
std::string located_message(const std::string& name, int line, const std::string& msg,
                            std::string_view offending = {});
// The same text as an InvalidInput error whose location travels as data (sys::Error::loc()),
// so later layers do not prefix it again.
[[noreturn]] void fail_located(const std::string& name, int line, const std::string& msg, std::string_view offending = {});

}  // namespace frontend
