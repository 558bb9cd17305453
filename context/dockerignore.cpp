// .dockerignore (moby patternmatcher) and filepath.Match. See dockerignore.hpp.
#include "context/dockerignore.hpp"

#include <sys/stat.h>

#include <cctype>
#include <cstring>

#include "sys/error.hpp"
#include "sys/fs.hpp"

namespace context {
namespace {

enum Kind { Exact, Prefix, Suffix, Regexp };

[[noreturn]] void bad_pattern(std::string_view p, const std::string& why) {
    sys::fail(sys::Code::InvalidInput, "syntax error in pattern \"" + std::string(p) + "\": " + why);
}

// One `[...]` class starting after the '['; pos is left after the ']'.
// Returns false if the class is unterminated.
bool parse_class(std::string_view p, size_t& pos, bool& negated, std::vector<std::pair<char, char>>& ranges,
                 bool go_match) {
    negated = false;
    ranges.clear();
    if (pos < p.size() && p[pos] == '^') {
        negated = true;
        ++pos;
    }
    bool first = true;
    for (;;) {
        if (pos >= p.size()) return false;
        char c = p[pos];
        // filepath.Match: ']' closes even as the first char ("[]" is an error there);
        // Go regexp: a ']' right after '[' or '[^' is literal.
        if (c == ']' && !(first && !go_match)) {
            ++pos;
            return !(go_match && ranges.empty());
        }
        first = false;
        auto one = [&](char& out) -> bool {
            if (pos >= p.size()) return false;
            if (p[pos] == '\\') {
                ++pos;
                if (pos >= p.size()) return false;
            }
            out = p[pos++];
            return true;
        };
        char lo, hi;
        if (!one(lo)) return false;
        hi = lo;
        if (pos + 1 < p.size() && p[pos] == '-' && p[pos + 1] != ']') {
            ++pos;
            if (!one(hi)) return false;
            if (hi < lo) return false;
        }
        ranges.emplace_back(lo, hi);
    }
}

bool class_has(const std::vector<std::pair<char, char>>& ranges, bool negated, char c) {
    bool in = false;
    for (auto& [lo, hi] : ranges)
        if (c >= lo && c <= hi) in = true;
    return in != negated;
}

// filepath.Match on a (pattern, name) pair, backtracking on '*'.
bool go_match(std::string_view p, size_t pi, std::string_view n, size_t ni) {
    while (pi < p.size()) {
        char c = p[pi];
        if (c == '*') {
            while (pi < p.size() && p[pi] == '*') ++pi;
            for (size_t k = ni;; ++k) {
                if (go_match(p, pi, n, k)) return true;
                if (k >= n.size() || n[k] == '/') return false;
            }
        }
        if (ni >= n.size()) {
            // still validate the rest of the pattern so errors are not data-dependent
            return false;
        }
        if (c == '?') {
            if (n[ni] == '/') return false;
            ++pi, ++ni;
        } else if (c == '[') {
            ++pi;
            bool neg;
            std::vector<std::pair<char, char>> ranges;
            if (!parse_class(p, pi, neg, ranges, true)) bad_pattern(p, "bad character class");
            if (n[ni] == '/' || !class_has(ranges, neg, n[ni])) return false;
            ++ni;
        } else {
            if (c == '\\') {
                ++pi;
                if (pi >= p.size()) bad_pattern(p, "trailing backslash");
                c = p[pi];
            }
            if (n[ni] != c) return false;
            ++pi, ++ni;
        }
    }
    return ni == n.size();
}

void validate_go_pattern(std::string_view p) {
    for (size_t i = 0; i < p.size(); ++i) {
        if (p[i] == '\\') {
            if (++i >= p.size()) bad_pattern(p, "trailing backslash");
        } else if (p[i] == '[') {
            size_t pos = i + 1;
            bool neg;
            std::vector<std::pair<char, char>> r;
            if (!parse_class(p, pos, neg, r, true)) bad_pattern(p, "bad character class");
            i = pos - 1;
        }
    }
}

using Token = IgnoreMatcher::Token;

// The regexp moby builds, as a token list; matched with memoized backtracking.
bool tokens_match(const std::vector<Token>& t, size_t ti, std::string_view s, size_t si, std::vector<signed char>& memo) {
    size_t key = ti * (s.size() + 1) + si;
    if (memo[key] >= 0) return memo[key];
    bool r = false;
    if (ti == t.size()) {
        r = si == s.size();
    } else {
        const Token& k = t[ti];
        switch (k.kind) {
        case Token::Lit:
            r = si < s.size() && s[si] == k.ch && tokens_match(t, ti + 1, s, si + 1, memo);
            break;
        case Token::Quest:
            r = si < s.size() && s[si] != '/' && tokens_match(t, ti + 1, s, si + 1, memo);
            break;
        case Token::Class:
            // A regexp class also matches '/' (moby passes the class through to regexp).
            r = si < s.size() && class_has(k.ranges, k.negated, s[si]) && tokens_match(t, ti + 1, s, si + 1, memo);
            break;
        case Token::Star:
            for (size_t j = si;; ++j) {
                if (tokens_match(t, ti + 1, s, j, memo)) { r = true; break; }
                if (j >= s.size() || s[j] == '/') break;
            }
            break;
        case Token::DStarAny:
            for (size_t j = si; j <= s.size() && !r; ++j) r = tokens_match(t, ti + 1, s, j, memo);
            break;
        case Token::DStarDir:  // (.*/)?
            r = tokens_match(t, ti + 1, s, si, memo);
            for (size_t j = si; j < s.size() && !r; ++j)
                if (s[j] == '/') r = tokens_match(t, ti + 1, s, j + 1, memo);
            break;
        }
    }
    memo[key] = r;
    return r;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace((unsigned char)s.front())) s.remove_prefix(1);
    while (!s.empty() && std::isspace((unsigned char)s.back())) s.remove_suffix(1);
    return s;
}

}  // namespace

bool has_glob_meta(std::string_view text) {
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\\') { ++i; continue; }
        if (text[i] == '*' || text[i] == '?' || text[i] == '[') return true;
    }
    return false;
}

bool path_match(std::string_view pattern, std::string_view name) {
    validate_go_pattern(pattern);
    return go_match(pattern, 0, name, 0);
}

void IgnoreMatcher::add(std::string p) {
    p = std::string(trim(p));
    if (p.empty()) return;
    Pattern pat;
    if (p[0] == '!') {
        if (p.size() == 1) sys::fail(sys::Code::InvalidInput, "illegal exclusion pattern: \"!\"");
        pat.exception = true;
        p = std::string(trim(p.substr(1)));
        if (p.empty()) sys::fail(sys::Code::InvalidInput, "illegal exclusion pattern: \"!\"");
        exceptions_ = true;
    }
    p = clean_path(p);
    if (p.size() > 1 && p[0] == '/') p = p.substr(1);
    validate_go_pattern(p);
    pat.cleaned = p;
    pat.dirs = split_fields(p, '/');
    // Convert exactly as moby's Pattern.compile does, including its match-kind shortcuts.
    Kind kind = Exact;
    for (size_t i = 0, iter = 0; i < p.size(); ++iter) {
        char ch = p[i++];
        Token t{};
        if (ch == '*') {
            if (i < p.size() && p[i] == '*') {
                ++i;
                if (i < p.size() && p[i] == '/') ++i;
                if (i >= p.size()) {
                    if (kind == Exact) kind = Prefix;
                    else {
                        t.kind = Token::DStarAny;
                        pat.tokens.push_back(t);
                        kind = Regexp;
                    }
                } else {
                    t.kind = Token::DStarDir;
                    pat.tokens.push_back(t);
                    kind = Regexp;
                }
                if (iter == 0) kind = Suffix;
            } else {
                t.kind = Token::Star;
                pat.tokens.push_back(t);
                kind = Regexp;
            }
        } else if (ch == '?') {
            t.kind = Token::Quest;
            pat.tokens.push_back(t);
            kind = Regexp;
        } else if (ch == '\\') {
            t.kind = Token::Lit;
            t.ch = i < p.size() ? p[i++] : '\\';
            pat.tokens.push_back(t);
            kind = Regexp;  // an escape is only meaningful to the regexp form
        } else if (ch == '[') {
            t.kind = Token::Class;
            if (!parse_class(p, i, t.negated, t.ranges, false)) bad_pattern(p, "bad character class");
            pat.tokens.push_back(t);
            kind = Regexp;
        } else {
            t.kind = Token::Lit;
            t.ch = ch;
            pat.tokens.push_back(t);
        }
    }
    pat.kind = kind;
    patterns_.push_back(std::move(pat));
}

bool IgnoreMatcher::pattern_matches(const Pattern& p, std::string_view path) const {
    switch (p.kind) {
    case Exact:
        return path == p.cleaned;
    case Prefix:
        return path.substr(0, p.cleaned.size() - 2) == std::string_view(p.cleaned).substr(0, p.cleaned.size() - 2);
    case Suffix: {
        std::string_view suffix = std::string_view(p.cleaned).substr(2);
        if (path.size() >= suffix.size() && path.substr(path.size() - suffix.size()) == suffix) return true;
        return !suffix.empty() && suffix[0] == '/' && path == suffix.substr(1);
    }
    default: {
        std::vector<signed char> memo((p.tokens.size() + 1) * (path.size() + 1), -1);
        return tokens_match(p.tokens, 0, path, 0, memo);
    }
    }
}

IgnoreMatcher IgnoreMatcher::parse(std::string_view text, const std::string& origin) {
    IgnoreMatcher m;
    size_t i = 0;
    bool first = true;
    while (i <= text.size()) {
        size_t j = text.find('\n', i);
        if (j == std::string_view::npos) j = text.size();
        std::string_view line = text.substr(i, j - i);
        i = j + 1;
        if (first && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
        first = false;
        if (!line.empty() && line[0] == '#') continue;
        line = trim(line);
        if (line.empty()) continue;
        try {
            m.add(std::string(line));
        } catch (const sys::Error& e) {
            throw e.wrap(origin);
        }
        if (j == text.size()) break;
    }
    return m;
}

IgnoreMatcher IgnoreMatcher::from_patterns(const std::vector<std::string>& patterns) {
    IgnoreMatcher m;
    for (auto& p : patterns) m.add(p);
    return m;
}

IgnoreMatcher IgnoreMatcher::load(const std::string& context_dir, const std::string& buildfile_path) {
    std::vector<std::string> candidates;
    if (!buildfile_path.empty()) candidates.push_back(buildfile_path + ".dockerignore");
    candidates.push_back(sys::path_join(context_dir, ".dockerignore"));
    for (auto& c : candidates) {
        struct stat st;
        if (::stat(c.c_str(), &st) != 0) {
            if (errno == ENOENT || errno == ENOTDIR) continue;
            sys::throw_errno("stat " + c);
        }
        IgnoreMatcher m = parse(sys::read_regular_file(c, 16u << 20), c);
        m.source_file_ = c;
        return m;
    }
    return IgnoreMatcher();
}

bool IgnoreMatcher::excluded(std::string_view rel, bool) const {
    if (patterns_.empty()) return false;
    std::string path = clean_path(rel);
    if (path.size() > 1 && path[0] == '/') path.erase(0, 1);
    if (path == "." || path == "/") return false;
    bool matched = false;
    for (const Pattern& p : patterns_) {
        if (p.exception != matched) continue;  // cannot change the result
        bool m = pattern_matches(p, path);
        for (size_t k = path.find('/'); !m && k != std::string::npos; k = path.find('/', k + 1))
            m = pattern_matches(p, std::string_view(path).substr(0, k));
        if (m) matched = !p.exception;
    }
    return matched;
}

bool IgnoreMatcher::may_contain_exception(std::string_view rel_dir) const {
    if (!exceptions_) return false;
    std::string dir = clean_path(rel_dir);
    if (dir.size() > 1 && dir[0] == '/') dir.erase(0, 1);
    std::vector<std::string> comps = split_fields(dir, '/');
    for (const Pattern& p : patterns_) {
        if (!p.exception) continue;
        // Walk the pattern's components against the directory's; a `**` component (or one
        // containing `**`) can absorb any depth.
        bool possible = true;
        size_t k = 0;
        for (; k < comps.size(); ++k) {
            if (k >= p.dirs.size()) { possible = false; break; }
            const std::string& pc = p.dirs[k];
            if (pc.find("**") != std::string::npos) break;  // anything below may match
            bool ok;
            try {
                ok = go_match(pc, 0, comps[k], 0);
            } catch (const sys::Error&) {
                ok = true;
            }
            if (!ok) { possible = false; break; }
        }
        if (possible && k == comps.size() && k >= p.dirs.size()) possible = false;  // matches dir itself only
        if (possible) return true;
    }
    return false;
}

std::vector<std::string> IgnoreMatcher::patterns() const {
    std::vector<std::string> out;
    for (auto& p : patterns_) out.push_back((p.exception ? "!" : "") + p.cleaned);
    return out;
}

}  // namespace context
