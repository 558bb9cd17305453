// BuildKit-compatible shell-word lexer. Works on decoded code points (invalid UTF-8 bytes
// become U+FFFD, as Go's text/scanner does) and re-encodes results as UTF-8.
#include "frontend/shell_lex.hpp"

#include "frontend/parse_text.hpp"
#include "frontend/parser.hpp"
#include "sys/error.hpp"

namespace frontend {
namespace {

constexpr char32_t kEOF = static_cast<char32_t>(-1);

struct WordsBuilder {
    std::string word;
    std::vector<std::string> words;
    bool in_word = false;

    void add_raw_char(char32_t c) {
        append_utf8(word, c);
        in_word = true;
    }
    void add_char(char32_t c) {
        if (is_go_space(c)) {
            if (in_word && !word.empty()) {
                words.push_back(std::move(word));
                word.clear();
                in_word = false;
            }
        } else {
            add_raw_char(c);
        }
    }
    void add_string(const std::string& s) {
        for (char32_t c : decode_utf8(s)) add_char(c);
    }
    void add_raw_string(const std::string& s) {
        word += s;
        in_word = true;
    }
    std::vector<std::string> finish() {
        if (!word.empty()) {
            words.push_back(std::move(word));
            word.clear();
        }
        return std::move(words);
    }
};

struct LexError {
    std::string msg;
};

class Word {
public:
    Word(const ShellLex& lex, std::string_view src, const ShellLex::Env& env, ShellLex::Result& res)
        : lex_(lex), src_(decode_utf8(src)), env_(env), res_(res) {}

    void run() {
        std::vector<std::string> words;
        res_.word = stop_on(kEOF, lex_.raw_escapes, &words);
        res_.words = std::move(words);
    }

private:
    char32_t peek() const { return pos_ < src_.size() ? src_[pos_] : kEOF; }
    char32_t next() { return pos_ < src_.size() ? src_[pos_++] : kEOF; }

    bool get_env(const std::string& name, std::string& out) {
        auto it = env_.find(name);
        if (it == env_.end()) {
            res_.unmatched.insert(name);
            out.clear();
            return false;
        }
        res_.matched.insert(name);
        out = it->second;
        return true;
    }

    // Process until `stop` (consumed) or end of input. Collects split words if asked.
    std::string stop_on(char32_t stop, bool raw_escapes, std::vector<std::string>* words_out) {
        if (++depth_ > 200) throw LexError{"expansion nested too deeply"};
        std::string result;
        WordsBuilder words;
        const char32_t esc = static_cast<unsigned char>(lex_.escape());
        while (peek() != kEOF) {
            char32_t ch = peek();
            if (stop != kEOF && ch == stop) {
                next();
                if (words_out) *words_out = words.finish();
                --depth_;
                return result;
            }
            bool quote_fn = !lex_.skip_process_quotes && (ch == '\'' || ch == '"');
            if (quote_fn || ch == '$') {
                std::string tmp = ch == '\'' ? single_quote() : ch == '"' ? double_quote() : dollar();
                result += tmp;
                if (ch == '$')
                    words.add_string(tmp);
                else
                    words.add_raw_string(tmp);
                continue;
            }
            ch = next();
            if (ch == esc) {
                if (raw_escapes) {
                    words.add_raw_char(ch);
                    append_utf8(result, ch);
                }
                ch = next();
                if (ch == kEOF) break;
                words.add_raw_char(ch);
            } else {
                words.add_char(ch);
            }
            append_utf8(result, ch);
        }
        if (stop != kEOF) {
            std::string s;
            append_utf8(s, stop);
            throw LexError{"unexpected end of statement while looking for matching " + s};
        }
        if (words_out) *words_out = words.finish();
        --depth_;
        return result;
    }

    std::string single_quote() {
        std::string result;
        char32_t ch = next();
        if (lex_.raw_quotes) append_utf8(result, ch);
        for (;;) {
            ch = next();
            if (ch == kEOF) throw LexError{"unexpected end of statement while looking for matching single-quote"};
            if (ch == '\'') {
                if (lex_.raw_quotes) append_utf8(result, ch);
                return result;
            }
            append_utf8(result, ch);
        }
    }

    std::string double_quote() {
        std::string result;
        const char32_t esc = static_cast<unsigned char>(lex_.escape());
        char32_t ch = next();
        if (lex_.raw_quotes) append_utf8(result, ch);
        for (;;) {
            char32_t p = peek();
            if (p == kEOF) throw LexError{"unexpected end of statement while looking for matching double-quote"};
            if (p == '"') {
                ch = next();
                if (lex_.raw_quotes) append_utf8(result, ch);
                return result;
            }
            if (p == '$') {
                result += dollar();
                continue;
            }
            ch = next();
            if (ch == esc) {
                if (lex_.raw_escapes) append_utf8(result, ch);
                char32_t q = peek();
                if (q == kEOF) continue;
                if (q == '"' || q == '$' || q == esc) ch = next();
            }
            append_utf8(result, ch);
        }
    }

    static bool is_special_param(char32_t c) {
        switch (c) {
            case '@': case '*': case '#': case '?': case '-': case '$': case '!': case '0':
                return true;
            default:
                return false;
        }
    }

    std::string name() {
        std::string out;
        while (peek() != kEOF) {
            char32_t ch = peek();
            if (out.empty() && is_go_digit(ch)) {
                while (peek() != kEOF && is_go_digit(peek())) append_utf8(out, next());
                return out;
            }
            if (out.empty() && is_special_param(ch)) {
                append_utf8(out, next());
                return out;
            }
            if (!is_go_letter(ch) && !is_go_digit(ch) && ch != '_') break;
            append_utf8(out, next());
        }
        return out;
    }

    std::string dollar() {
        next();  // '$'
        if (peek() != '{') {
            std::string n = name();
            if (n.empty()) return "$";
            std::string v;
            bool set = get_env(n, v);
            if (!set && lex_.skip_unset_env) return "$" + n;
            return v;
        }
        next();  // '{'
        char32_t p = peek();
        if (p == kEOF) throw LexError{"syntax error: missing '}'"};
        if (p == '{' || p == '}' || p == ':') throw LexError{"syntax error: bad substitution"};
        std::string n = name();
        char32_t ch = next();
        std::string chs;
        if (ch != kEOF) append_utf8(chs, ch);
        bool null_is_unset = false;
        switch (ch) {
            case '}': {
                std::string v;
                bool set = get_env(n, v);
                if (!set && lex_.skip_unset_env) return "${" + n + "}";
                return v;
            }
            case ':':
                null_is_unset = true;
                ch = next();
                if (ch != kEOF) append_utf8(chs, ch);
                [[fallthrough]];
            case '+': case '-': case '?': case '#': case '%': {
                bool raw = ch == '#' || ch == '%';
                if (null_is_unset && raw) throw LexError{"unsupported modifier (" + chs + ") in substitution"};
                std::string word;
                try {
                    word = stop_on('}', raw, nullptr);
                } catch (const LexError&) {
                    if (peek() == kEOF) throw LexError{"syntax error: missing '}'"};
                    throw;
                }
                std::string v;
                bool set = get_env(n, v);
                if (lex_.skip_unset_env && !set) return "${" + n + chs + word + "}";
                switch (ch) {
                    case '-':
                        return (!set || (null_is_unset && v.empty())) ? word : v;
                    case '+':
                        return (!set || (null_is_unset && v.empty())) ? std::string() : word;
                    case '?':
                        if (!set) throw LexError{n + ": " + (word.empty() ? "is not allowed to be unset" : word)};
                        if (null_is_unset && v.empty())
                            throw LexError{n + ": " + (word.empty() ? "is not allowed to be empty" : word)};
                        return v;
                    case '%': case '#': {
                        bool greedy = false;
                        if (!word.empty() && static_cast<unsigned char>(word[0]) == ch) {
                            greedy = true;
                            word.erase(0, 1);
                        }
                        return ch == '%' ? trim_suffix(word, v, greedy) : trim_prefix(word, v, greedy);
                    }
                    default:
                        throw LexError{"unsupported modifier (" + chs + ") in substitution"};
                }
            }
            case '/': {
                bool all = peek() == '/';
                if (all) next();
                std::string pattern, repl;
                try {
                    pattern = stop_on('/', true, nullptr);
                } catch (const LexError&) {
                    if (peek() == kEOF) throw LexError{"syntax error: missing '/' in ${}"};
                    throw;
                }
                try {
                    repl = stop_on('}', true, nullptr);
                } catch (const LexError&) {
                    if (peek() == kEOF) throw LexError{"syntax error: missing '}'"};
                    throw;
                }
                std::string v;
                bool set = get_env(n, v);
                if (lex_.skip_unset_env && !set) return "${" + n + "/" + pattern + "/" + repl + "}";
                return replace(v, pattern, repl, all);
            }
            default:
                if (ch == kEOF) throw LexError{"syntax error: missing '}'"};
                throw LexError{"unsupported modifier (" + chs + ") in substitution"};
        }
    }

    // Byte offsets of code point boundaries in s (including s.size()).
    static std::vector<size_t> boundaries(const std::string& s) {
        std::vector<size_t> b;
        for (size_t i = 0; i <= s.size(); ++i)
            if (i == s.size() || (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) b.push_back(i);
        return b;
    }

    static std::string trim_prefix(const std::string& pat, const std::string& v, bool greedy) {
        auto b = boundaries(v);
        if (greedy) {
            for (size_t k = b.size(); k-- > 0;)
                if (shell_pattern_match(pat, std::string_view(v).substr(0, b[k]))) return v.substr(b[k]);
        } else {
            for (size_t k = 0; k < b.size(); ++k)
                if (shell_pattern_match(pat, std::string_view(v).substr(0, b[k]))) return v.substr(b[k]);
        }
        return v;
    }

    static std::string trim_suffix(const std::string& pat, const std::string& v, bool greedy) {
        auto b = boundaries(v);
        if (greedy) {
            for (size_t k = 0; k < b.size(); ++k)
                if (shell_pattern_match(pat, std::string_view(v).substr(b[k]))) return v.substr(0, b[k]);
        } else {
            for (size_t k = b.size(); k-- > 0;)
                if (shell_pattern_match(pat, std::string_view(v).substr(b[k]))) return v.substr(0, b[k]);
        }
        return v;
    }

    // Leftmost, longest match of `pat` in v, replaced once or everywhere.
    static std::string replace(const std::string& v, const std::string& pat, const std::string& repl, bool all) {
        auto b = boundaries(v);
        std::string out;
        size_t i = 0;  // index into b
        size_t copied = 0;
        while (i < b.size()) {
            size_t found_end = SIZE_MAX;
            for (size_t j = b.size(); j-- > i;) {
                if (shell_pattern_match(pat, std::string_view(v).substr(b[i], b[j] - b[i]))) {
                    found_end = j;
                    break;
                }
            }
            if (found_end == SIZE_MAX) {
                ++i;
                continue;
            }
            out.append(v, copied, b[i] - copied);
            out += repl;
            copied = b[found_end];
            if (!all) break;
            if (found_end == i) {
                // empty match: copy one code point and move on
                if (i + 1 < b.size()) out.append(v, b[i], b[i + 1] - b[i]);
                copied = i + 1 < b.size() ? b[i + 1] : v.size();
                i += 1;
            } else {
                i = found_end;
            }
        }
        out.append(v, std::min(copied, v.size()), std::string::npos);
        return out;
    }

    const ShellLex& lex_;
    std::u32string src_;
    size_t pos_ = 0;
    const ShellLex::Env& env_;
    ShellLex::Result& res_;
    int depth_ = 0;
};

// Glob tokens over code points.
bool match_at(const std::u32string& p, size_t pi, const std::u32string& s, size_t si, int budget_depth);

bool class_match(const std::u32string& p, size_t& pi, char32_t c, bool& ok) {
    // p[pi] == '['; on success pi points after ']'.
    size_t i = pi + 1;
    bool neg = false;
    if (i < p.size() && (p[i] == '!' || p[i] == '^')) {
        neg = true;
        ++i;
    }
    bool matched = false;
    bool first = true;
    while (i < p.size() && (p[i] != ']' || first)) {
        first = false;
        char32_t lo = p[i];
        if (lo == '\\' && i + 1 < p.size()) lo = p[++i];
        ++i;
        char32_t hi = lo;
        if (i + 1 < p.size() && p[i] == '-' && p[i + 1] != ']') {
            hi = p[i + 1];
            if (hi == '\\' && i + 2 < p.size()) {
                hi = p[i + 2];
                ++i;
            }
            i += 2;
        }
        if (lo <= c && c <= hi) matched = true;
    }
    if (i >= p.size()) return false;  // unterminated: not a class
    pi = i + 1;
    ok = matched != neg;
    return true;
}

bool match_at(const std::u32string& p, size_t pi, const std::u32string& s, size_t si, int depth) {
    // Iterative with single star backtracking point (standard wildcard algorithm).
    size_t star_p = SIZE_MAX, star_s = 0;
    while (si < s.size()) {
        if (pi < p.size()) {
            char32_t c = p[pi];
            if (c == '*') {
                star_p = ++pi;
                star_s = si;
                continue;
            }
            if (c == '?') {
                ++pi;
                ++si;
                continue;
            }
            if (c == '[') {
                size_t np = pi;
                bool ok = false;
                if (class_match(p, np, s[si], ok)) {
                    if (ok) {
                        pi = np;
                        ++si;
                        continue;
                    }
                } else if (s[si] == '[') {
                    ++pi;
                    ++si;
                    continue;
                }
            } else {
                char32_t lit = c;
                size_t adv = 1;
                if (c == '\\' && pi + 1 < p.size()) {
                    lit = p[pi + 1];
                    adv = 2;
                }
                if (lit == s[si]) {
                    pi += adv;
                    ++si;
                    continue;
                }
            }
        }
        if (star_p == SIZE_MAX) return false;
        pi = star_p;
        si = ++star_s;
    }
    while (pi < p.size() && p[pi] == '*') ++pi;
    return pi == p.size();
}

}  // namespace

bool shell_pattern_match(std::string_view pattern, std::string_view s) {
    return match_at(decode_utf8(pattern), 0, decode_utf8(s), 0, 0);
}

ShellLex::Result ShellLex::process(std::string_view word, const Env& env) const {
    Result res;
    try {
        Word w(*this, word, env, res);
        w.run();
    } catch (const LexError& e) {
        sys::fail(sys::Code::InvalidInput, "failed to process " + go_quote(word) + ": " + e.msg);
    }
    return res;
}

std::string ShellLex::process_word(std::string_view word, const Env& env) const {
    return process(word, env).word;
}

std::vector<std::string> ShellLex::process_words(std::string_view word, const Env& env) const {
    return process(word, env).words;
}

}  // namespace frontend
