// Buildfile parser main loop (BuildKit frontend/dockerfile/parser/parser.go semantics):
// physical lines -> logical lines (directives, comments, continuations) -> nodes, then
// heredoc bodies for RUN/COPY/ADD (also under ONBUILD).
#include "frontend/parser.hpp"

#include <optional>
#include <utility>

#include "frontend/parse_lines.hpp"
#include "frontend/parse_text.hpp"
#include "sys/error.hpp"

namespace frontend {
namespace {

using detail::LineError;

std::string_view trim_newline(std::string_view s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

std::string_view trim_leading_ws(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        size_t len;
        bool valid;
        char32_t c = decode_one(s, i, len, valid);
        if (!valid || !is_go_space(c)) break;
        i += len;
    }
    return s.substr(i);
}

bool is_comment(std::string_view line) {
    auto t = trim_leading_ws(trim_newline(line));
    return !t.empty() && t[0] == '#';
}

// Parser directives: `# name=value` lines at the very top.
class Directives {
public:
    char escape = '\\';
    std::string syntax, check;

    // Throws LineError on a repeated or invalid directive.
    void see(std::string_view line) {
        if (done_) return;
        std::string name, value;
        if (!match(line, name, value)) {
            done_ = true;
            return;
        }
        name = to_lower_ascii(name);
        if (name != "syntax" && name != "escape" && name != "check") {
            done_ = true;
            return;
        }
        for (const auto& s : seen_)
            if (s == name) throw LineError("only one " + name + " parser directive can be used");
        seen_.push_back(name);
        if (name == "escape") {
            if (value != "`" && value != "\\")
                throw LineError("invalid escape token '" + value + "' does not match ` or \\");
            escape = value[0];
        } else if (name == "syntax") {
            syntax = value;
        } else {
            check = value;
        }
    }

private:
    // ^#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.+?)[ \t]*$
    static bool match(std::string_view l, std::string& name, std::string& value) {
        auto blank = [](char c) { return c == ' ' || c == '\t'; };
        auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
        size_t i = 0;
        if (l.empty() || l[0] != '#') return false;
        ++i;
        while (i < l.size() && blank(l[i])) ++i;
        if (i >= l.size() || !alpha(l[i])) return false;
        size_t ns = i;
        while (i < l.size() && (alpha(l[i]) || (l[i] >= '0' && l[i] <= '9'))) ++i;
        name = l.substr(ns, i - ns);
        while (i < l.size() && blank(l[i])) ++i;
        if (i >= l.size() || l[i] != '=') return false;
        ++i;
        while (i < l.size() && blank(l[i])) ++i;
        size_t e = l.size();
        while (e > i && blank(l[e - 1])) --e;
        if (e <= i) return false;
        value = l.substr(i, e - i);
        if (value.find('\n') != std::string::npos) return false;
        return true;
    }
    bool done_ = false;
    std::vector<std::string> seen_;
};

// Continuation: the escape token at the end (trailing blanks allowed), not itself escaped.
bool trim_continuation(std::string& line, char escape) {
    size_t e = line.size();
    while (e > 0 && (line[e - 1] == ' ' || line[e - 1] == '\t')) --e;
    if (e == 0 || line[e - 1] != escape) return false;
    if (e >= 2 && line[e - 2] == escape) return false;
    line.resize(e - 1);
    return true;
}

std::string chomp_tabs(const std::string& content) {
    std::string out;
    bool bol = true;
    for (char c : content) {
        if (bol && c == '\t') continue;
        bol = c == '\n';
        out += c;
    }
    return out;
}

bool can_contain_heredoc(const Node& n) {
    const Node* node = &n;
    if (to_lower_ascii(node->value) == "onbuild" && !node->children.empty()) node = &node->children[0];
    auto v = to_lower_ascii(node->value);
    return (v == "run" || v == "copy" || v == "add") && !node->json;
}

class Lines {
public:
    explicit Lines(std::string_view text) : text_(text) {}
    // Next physical line including its '\n'.
    bool next(std::string_view& line) {
        if (pos_ >= text_.size()) return false;
        size_t nl = text_.find('\n', pos_);
        size_t end = nl == std::string_view::npos ? text_.size() : nl + 1;
        line = text_.substr(pos_, end - pos_);
        pos_ = end;
        return true;
    }

private:
    std::string_view text_;
    size_t pos_ = 0;
};

std::string shorten(std::string_view s) {
    std::string_view line = trim_newline(s.substr(0, s.find('\n')));
    if (line.size() > 200) return std::string(line.substr(0, 200)) + "...";
    return std::string(line);
}

}  // namespace

std::string located_message(const std::string& name, int line, const std::string& msg, std::string_view offending) {
    std::string out = name + ":" + std::to_string(line) + ": " + msg;
    if (!offending.empty()) out += "\n >>> " + shorten(offending);
    return out;
}

[[noreturn]] void fail_located(const std::string& name, int line, const std::string& msg, std::string_view offending) {
    std::string text = msg;
    if (!offending.empty()) text += "\n >>> " + shorten(offending);
    throw sys::Error(sys::Code::InvalidInput, text).at(sys::SourceLoc{name, line});
}

// The line and the reason of the first NUL byte or invalid UTF-8 sequence, if any.
static std::optional<std::pair<int, std::string>> first_bad_byte(std::string_view text) {
    size_t bad = std::string_view::npos;
    std::string what;
    size_t nul = text.find('\0');
    size_t utf = 0;
    bool ok_utf = valid_utf8(text, &utf);
    if (nul != std::string_view::npos) bad = nul, what = "NUL byte in line";
    if (!ok_utf && utf < bad) bad = utf, what = "invalid UTF-8 in line";
    if (bad == std::string_view::npos) return std::nullopt;
    int line = 1;
    for (size_t i = 0; i < bad; ++i) line += text[i] == '\n';
    return std::make_pair(line, what);
}

ParseResult parse_dockerfile(std::string_view text, const std::string& name, const ParseLimits& limits) {
    auto fail = [&](int line, const std::string& msg, std::string_view offending = {}) -> void {
        fail_located(name, line, msg, offending);
    };
    if (text.size() > limits.max_file_bytes)
        fail(1, "file too large (" + std::to_string(text.size()) + " bytes, limit " +
                    std::to_string(limits.max_file_bytes) + ")");
    // Reject NUL bytes and invalid UTF-8 up front, with the line they are on.
    if (auto bad = first_bad_byte(text)) fail(bad->first, bad->second);
    ParseResult result;
    Directives d;
    Lines lines(text);
    int current = 0;
    std::vector<std::string> comments;
    std::string_view raw;
    auto check_len = [&](size_t n, int line) {
        if (n > limits.max_line_bytes)
            fail(line, "line too long (" + std::to_string(n) + " bytes, limit " +
                           std::to_string(limits.max_line_bytes) + ")");
    };
    // processLine: trim newline (and leading blanks), see directives, drop comments.
    auto process = [&](std::string_view tok, bool strip_left, int line_no) -> std::string {
        tok = trim_newline(tok);
        check_len(tok.size(), line_no);
        if (strip_left) tok = trim_leading_ws(tok);
        try {
            d.see(tok);
        } catch (const LineError& e) {
            fail(line_no, e.what(), tok);
        }
        if (is_comment(tok)) return {};
        return std::string(tok);
    };
    while (lines.next(raw)) {
        if (current == 0 && raw.substr(0, 3) == "\xEF\xBB\xBF") raw.remove_prefix(3);
        if (is_comment(raw)) {
            auto c = trim_space(trim_leading_ws(trim_newline(raw)).substr(1));
            if (c.empty())
                comments.clear();
            else
                comments.push_back(c);
        }
        std::string line = process(raw, true, current + 1);
        ++current;
        const int start = current;
        bool eol = !trim_continuation(line, d.escape);
        if (eol && line.empty()) continue;
        bool empty_cont = false;
        while (!eol && lines.next(raw)) {
            std::string cont = process(raw, false, current + 1);
            ++current;
            if (is_comment(raw)) continue;
            if (trim_leading_ws(cont).empty()) {
                empty_cont = true;
                continue;
            }
            eol = !trim_continuation(cont, d.escape);
            line += cont;
            check_len(line.size(), start);
        }
        if (empty_cont)
            result.warnings.push_back(located_message(name, start, "empty continuation line found in: " + shorten(line)));
        if (result.nodes.size() >= limits.max_instructions)
            fail(start, "too many instructions (limit " + std::to_string(limits.max_instructions) + ")");
        Node node;
        try {
            node = detail::node_from_line(line, d.escape);
        } catch (const LineError& e) {
            fail(start, e.what(), line);
        }
        if (can_contain_heredoc(node) && line.find("<<") != std::string::npos) {
            try {
                node.heredocs = detail::heredocs_from_line(line);
            } catch (const LineError& e) {
                fail(start, e.what(), line);
            }
            for (auto& h : node.heredocs) {
                bool terminated = false;
                while (lines.next(raw)) {
                    ++current;
                    std::string_view term = trim_newline(raw);
                    if (h.chomp_tabs) {
                        size_t t = 0;
                        while (t < term.size() && term[t] == '\t') ++t;
                        term.remove_prefix(t);
                    }
                    if (term == h.name) {
                        terminated = true;
                        break;
                    }
                    if (h.content.size() + raw.size() > limits.max_heredoc_bytes)
                        fail(start, "heredoc too large (limit " + std::to_string(limits.max_heredoc_bytes) +
                                        " bytes)", line);
                    h.content += raw;
                }
                if (!terminated) fail(start, "unterminated heredoc", line);
                if (h.chomp_tabs) h.content = chomp_tabs(h.content);
            }
        }
        node.start_line = start;
        node.end_line = current;
        node.comments = std::move(comments);
        comments.clear();
        result.nodes.push_back(std::move(node));
    }
    if (result.nodes.empty()) fail(current > 0 ? current : 1, "file with no instructions");
    result.escape = d.escape;
    return result;
}

std::string dump_node(const Node& node) {
    std::string s = to_lower_ascii(node.value);
    if (!node.flags.empty()) {
        s += " [";
        for (size_t i = 0; i < node.flags.size(); ++i) s += (i ? " " : "") + go_quote(node.flags[i]);
        s += "]";
    }
    for (const auto& c : node.children) s += " (" + dump_node(c) + ")";
    for (const auto& a : node.args) s += " " + go_quote(a);
    return trim_space(s);
}

}  // namespace frontend
