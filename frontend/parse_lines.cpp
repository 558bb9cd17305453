// BuildKit's per-instruction line parsers. Each keeps BuildKit's exact splitting so the
// node dump matches BuildKit's for the same input.
#include "frontend/parse_lines.hpp"

#include <nlohmann/json.hpp>

#include "frontend/parse_text.hpp"
#include "frontend/shell_lex.hpp"
#include "sys/error.hpp"

namespace frontend::detail {
namespace {

bool is_re_ws(char c) { return c == '\t' || c == '\v' || c == '\f' || c == '\r' || c == ' '; }

bool is_ascii_space(unsigned char c) { return c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' || c == ' '; }

// Space test on the code point at s[i] (Go unicode.IsSpace); sets len.
bool space_at(std::string_view s, size_t i, size_t& len) {
    bool valid;
    char32_t c = decode_one(s, i, len, valid);
    return valid && is_go_space(c);
}

enum class JsonResult { Ok, NotJson, NotStrings };

constexpr const char* kNotStringArray = "when using JSON array syntax, arrays must be comprised of strings only";

JsonResult parse_json_array(std::string_view rest, std::vector<std::string>& out) {
    size_t i = 0;
    while (i < rest.size()) {
        size_t len;
        if (!space_at(rest, i, len)) break;
        i += len;
    }
    rest.remove_prefix(i);
    if (rest.empty() || rest[0] != '[') return JsonResult::NotJson;
    // Bound nesting before handing to the (recursive) JSON parser.
    int depth = 0;
    bool in_str = false;
    for (size_t k = 0; k < rest.size(); ++k) {
        char c = rest[k];
        if (in_str) {
            if (c == '\\') ++k;
            else if (c == '"') in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            if (++depth > 256) return JsonResult::NotJson;
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    nlohmann::json j = nlohmann::json::parse(rest.begin(), rest.end(), nullptr, false);
    if (j.is_discarded() || !j.is_array()) return JsonResult::NotJson;
    out.clear();
    for (const auto& e : j) {
        if (!e.is_string()) return JsonResult::NotStrings;
        out.push_back(e.get<std::string>());
    }
    return JsonResult::Ok;
}

void parse_strings_ws(const std::string& rest, Node& node) {
    if (rest.empty()) return;
    node.args = split_ws(rest);
}

// A JSON array of strings becomes the node's args (JSON form): true. Text that is not JSON:
// false, the caller decides. A JSON array with a non-string is an error.
static bool parse_json_form(const std::string& rest, Node& node) {
    std::vector<std::string> arr;
    switch (parse_json_array(rest, arr)) {
        case JsonResult::Ok:
            node.args = std::move(arr);
            node.json = true;
            return true;
        case JsonResult::NotStrings:
            throw LineError(kNotStringArray);
        case JsonResult::NotJson:
            break;
    }
    return false;
}

void parse_maybe_json(const std::string& rest, Node& node) {
    if (rest.empty()) return;
    if (!parse_json_form(rest, node)) node.args = {rest};
}

void parse_maybe_json_to_list(const std::string& rest, Node& node) {
    if (!parse_json_form(rest, node)) parse_strings_ws(rest, node);
}

void parse_name_val(const std::string& rest, const std::string& key, char escape, Node& node) {
    auto words = parse_words(rest, escape);
    if (words.empty()) return;
    if (words[0].find('=') == std::string::npos) {
        auto parts = split_ws(rest, 2);
        if (parts.size() < 2) throw LineError(key + " must have two arguments");
        node.args = {parts[0], parts[1], ""};
        return;
    }
    for (const auto& w : words) {
        auto eq = w.find('=');
        if (eq == std::string::npos)
            throw LineError("Syntax error - can't find = in " + go_quote(w) + ". Must be of the form: name=value");
        node.args.push_back(w.substr(0, eq));
        node.args.push_back(w.substr(eq + 1));
        node.args.push_back("=");
    }
}

void parse_health(const std::string& rest, Node& node) {
    size_t sep = 0;
    while (sep < rest.size() && !is_ascii_space(static_cast<unsigned char>(rest[sep]))) ++sep;
    size_t next = sep;
    while (next < rest.size() && is_ascii_space(static_cast<unsigned char>(rest[next]))) ++next;
    if (sep == 0) return;
    Node cmd;
    parse_maybe_json(rest.substr(next), cmd);
    node.args.push_back(rest.substr(0, sep));
    for (auto& a : cmd.args) node.args.push_back(std::move(a));
    node.json = cmd.json;
}

}  // namespace

std::vector<std::string> split_ws(std::string_view s, int max_parts) {
    std::vector<std::string> out;
    size_t start = 0;
    for (size_t i = 0; i < s.size();) {
        if (max_parts > 0 && static_cast<int>(out.size()) == max_parts - 1) break;
        if (is_re_ws(s[i])) {
            size_t j = i;
            while (j < s.size() && is_re_ws(s[j])) ++j;
            out.emplace_back(s.substr(start, i - start));
            start = i = j;
        } else {
            ++i;
        }
    }
    out.emplace_back(s.substr(start));
    return out;
}

std::string extract_flags(const std::string& line, std::vector<std::string>& flags) {
    enum { InSpaces, InWord, InQuote } phase = InSpaces;
    std::string word;
    char quote = 0;
    bool blank_ok = false;
    const size_t n = line.size();
    for (size_t pos = 0; pos <= n; ++pos) {
        char ch = pos < n ? line[pos] : 0;
        if (phase == InSpaces) {
            if (pos == n) break;
            if (is_ascii_space(static_cast<unsigned char>(ch))) continue;
            if (ch != '-' || pos + 1 == n || line[pos + 1] != '-') return line.substr(pos);
            phase = InWord;
        }
        if ((phase == InWord || phase == InQuote) && pos == n) {
            if (word != "--" && (blank_ok || !word.empty())) flags.push_back(word);
            break;
        }
        if (phase == InWord) {
            if (is_ascii_space(static_cast<unsigned char>(ch))) {
                phase = InSpaces;
                if (word == "--") return line.substr(pos);
                if (blank_ok || !word.empty()) flags.push_back(word);
                word.clear();
                blank_ok = false;
                continue;
            }
            if (ch == '\'' || ch == '"') {
                quote = ch;
                blank_ok = true;
                phase = InQuote;
                continue;
            }
            if (ch == '\\') {
                if (pos + 1 == n) continue;
                ch = line[++pos];
            }
            word += ch;
            continue;
        }
        if (phase == InQuote) {
            if (ch == quote) {
                phase = InWord;
                continue;
            }
            if (ch == '\\') {
                if (pos + 1 == n) {
                    phase = InWord;
                    continue;
                }
                ch = line[++pos];
            }
            word += ch;
        }
    }
    return "";
}

std::vector<std::string> parse_words(std::string_view rest, char escape) {
    enum { InSpaces, InWord, InQuote } phase = InSpaces;
    std::vector<std::string> words;
    std::string word;
    char quote = 0;
    bool blank_ok = false;
    const size_t n = rest.size();
    size_t w = 1;
    for (size_t pos = 0; pos <= n; pos += w) {
        bool space = false;
        char ch = 0;
        if (pos < n) {
            space = space_at(rest, pos, w);
            ch = rest[pos];
        } else {
            w = 1;
        }
        auto cur = [&] { return rest.substr(pos, w); };
        if (phase == InSpaces) {
            if (pos == n) break;
            if (space) continue;
            phase = InWord;
        }
        if ((phase == InWord || phase == InQuote) && pos == n) {
            if (blank_ok || !word.empty()) words.push_back(word);
            break;
        }
        if (phase == InWord) {
            if (space) {
                phase = InSpaces;
                if (blank_ok || !word.empty()) words.push_back(word);
                word.clear();
                blank_ok = false;
                continue;
            }
            if (ch == '\'' || ch == '"') {
                quote = ch;
                blank_ok = true;
                phase = InQuote;
            }
            if (ch == escape) {
                if (pos + w == n) continue;
                word += ch;
                pos += w;
                space_at(rest, pos, w);
            }
            word += cur();
            continue;
        }
        if (phase == InQuote) {
            if (ch == quote) phase = InWord;
            if (ch == escape && quote != '\'') {
                if (pos + w == n) {
                    phase = InWord;
                    continue;
                }
                pos += w;
                word += ch;
                space_at(rest, pos, w);
            }
            word += cur();
        }
    }
    return words;
}

std::vector<Heredoc> heredocs_from_line(const std::string& line) {
    ShellLex lex('\\');
    lex.raw_quotes = true;
    lex.raw_escapes = true;
    std::vector<std::string> words;
    try {
        words = lex.process_words(line, {});
    } catch (const std::exception&) {
        return {};
    }
    std::vector<Heredoc> docs;
    for (const auto& word : words) {
        // ^(\d*)<<(-?)([^<]*)$
        size_t i = 0;
        while (i < word.size() && word[i] >= '0' && word[i] <= '9') ++i;
        if (word.compare(i, 2, "<<") != 0) continue;
        i += 2;
        Heredoc h;
        if (i < word.size() && word[i] == '-') {
            h.chomp_tabs = true;
            ++i;
        }
        std::string rest = word.substr(i);
        if (rest.find('<') != std::string::npos || rest.empty()) continue;
        ShellLex nlex('\\');
        nlex.skip_unset_env = true;
        std::vector<std::string> cooked, raw;
        try {
            cooked = nlex.process_words(rest, {});
            if (cooked.size() != 1) continue;
            nlex.raw_quotes = true;
            raw = nlex.process_words(rest, {});
        } catch (const sys::Error& e) {
            throw LineError(e.what());
        }
        if (raw.size() != cooked.size())
            throw LineError("internal lexing of heredoc produced inconsistent results: " + rest);
        auto quotes = [](const std::string& s) {
            size_t c = 0;
            for (char ch : s) c += ch == '\'' || ch == '"';
            return c;
        };
        h.name = cooked[0];
        h.expand = quotes(cooked[0]) == quotes(raw[0]);
        docs.push_back(std::move(h));
    }
    return docs;
}

Node node_from_line(const std::string& line, char escape, int depth) {
    Node node;
    node.original = line;
    std::string trimmed = trim_space(line);
    auto cmdline = split_ws(trimmed, 2);
    std::string rest;
    if (cmdline.size() == 2) rest = trim_space(extract_flags(cmdline[1], node.flags));
    node.value = cmdline[0];
    const std::string cmd = to_lower_ascii(node.value);
    if (cmd == "add" || cmd == "copy" || cmd == "volume") {
        parse_maybe_json_to_list(rest, node);
    } else if (cmd == "run" || cmd == "cmd" || cmd == "entrypoint" || cmd == "shell") {
        parse_maybe_json(rest, node);
    } else if (cmd == "arg") {
        node.args = parse_words(rest, escape);
    } else if (cmd == "env") {
        parse_name_val(rest, "ENV", escape, node);
    } else if (cmd == "label") {
        parse_name_val(rest, "LABEL", escape, node);
    } else if (cmd == "expose" || cmd == "from") {
        parse_strings_ws(rest, node);
    } else if (cmd == "maintainer" || cmd == "stopsignal" || cmd == "user" || cmd == "workdir") {
        if (!rest.empty()) node.args = {rest};
    } else if (cmd == "healthcheck") {
        parse_health(rest, node);
    } else if (cmd == "onbuild") {
        if (!rest.empty()) {
            if (depth > 0) throw LineError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
            node.children.push_back(node_from_line(rest, escape, depth + 1));
        }
    }
    return node;
}

}  // namespace frontend::detail
