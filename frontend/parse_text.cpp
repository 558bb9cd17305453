#include "frontend/parse_text.hpp"

#include <cstdio>

#include "frontend/parser.hpp"

namespace frontend {

char32_t decode_one(std::string_view s, size_t i, size_t& len, bool& valid) {
    auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = b(i);
    valid = true;
    len = 1;
    if (c < 0x80) return c;
    int n = 0;
    char32_t cp = 0, min = 0;
    if ((c & 0xE0) == 0xC0) {
        n = 1, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 2, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        n = 3, cp = c & 0x07, min = 0x10000;
    } else {
        valid = false;
        return 0xFFFD;
    }
    if (i + n >= s.size()) {
        valid = false;
        return 0xFFFD;
    }
    for (int k = 1; k <= n; ++k) {
        if ((b(i + k) & 0xC0) != 0x80) {
            valid = false;
            return 0xFFFD;
        }
        cp = (cp << 6) | (b(i + k) & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        valid = false;
        return 0xFFFD;
    }
    len = n + 1;
    return cp;
}

std::u32string decode_utf8(std::string_view s) {
    std::u32string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        size_t len;
        bool valid;
        out.push_back(decode_one(s, i, len, valid));
        i += len;
    }
    return out;
}

bool valid_utf8(std::string_view s, size_t* bad_offset) {
    for (size_t i = 0; i < s.size();) {
        size_t len;
        bool valid;
        decode_one(s, i, len, valid);
        if (!valid) {
            if (bad_offset) *bad_offset = i;
            return false;
        }
        i += len;
    }
    return true;
}

void append_utf8(std::string& out, char32_t c) {
    if (c < 0x80) {
        out += static_cast<char>(c);
    } else if (c < 0x800) {
        out += static_cast<char>(0xC0 | (c >> 6));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out += static_cast<char>(0xE0 | (c >> 12));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c <= 0x10FFFF) {
        out += static_cast<char>(0xF0 | (c >> 18));
        out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
        append_utf8(out, 0xFFFD);
    }
}

bool is_go_space(char32_t c) {
    switch (c) {
        case '\t': case '\n': case '\v': case '\f': case '\r': case ' ': case 0x85: case 0xA0:
        case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
            return true;
        default:
            return c >= 0x2000 && c <= 0x200A;
    }
}

bool is_go_digit(char32_t c) { return c >= '0' && c <= '9'; }

bool is_go_letter(char32_t c) {
    if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    // Approximation of unicode.IsLetter for non-ASCII: anything that is not a space,
    // Latin-1 punctuation/symbol, general punctuation, or the replacement character.
    if (is_go_space(c)) return false;
    if (c < 0xC0) return c == 0xAA || c == 0xB5 || c == 0xBA;
    if (c == 0xD7 || c == 0xF7) return false;
    if (c >= 0x2000 && c <= 0x2BFF) return false;
    if (c >= 0x3000 && c <= 0x303F) return false;
    if (c >= 0xE000 && c <= 0xF8FF) return false;
    if (c >= 0xFE00 && c <= 0xFE0F) return false;
    if (c >= 0xFF00 && c <= 0xFF20) return false;
    return c != 0xFFFD && c != 0xFEFF;
}

std::string to_lower_ascii(std::string_view s) {
    std::string out(s);
    for (auto& ch : out)
        if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    return out;
}

std::string trim_space(std::string_view s) {
    auto u = decode_utf8(s);
    size_t b = 0, e = u.size();
    while (b < e && is_go_space(u[b])) ++b;
    while (e > b && is_go_space(u[e - 1])) --e;
    std::string out;
    for (size_t i = b; i < e; ++i) append_utf8(out, u[i]);
    return out;
}

namespace {
bool go_printable(char32_t c) {
    if (c < 0x20 || c == 0x7F) return false;
    if (c < 0x7F) return true;
    if (c < 0xA1) return false;  // C1 controls and NBSP
    if (c == 0xAD) return false;  // soft hyphen (Cf)
    if (is_go_space(c)) return false;
    if ((c >= 0x200B && c <= 0x200F) || (c >= 0x202A && c <= 0x202E) || (c >= 0x2060 && c <= 0x206F)) return false;
    if (c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB)) return false;
    if (c >= 0xE000 && c <= 0xF8FF) return false;
    if (c >= 0xFFFE && c <= 0xFFFF) return false;
    return true;
}
}  // namespace

std::string go_quote(std::string_view s) {
    std::string out = "\"";
    char buf[16];
    for (size_t i = 0; i < s.size();) {
        size_t len;
        bool valid;
        char32_t c = decode_one(s, i, len, valid);
        if (!valid) {
            std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(s[i]));
            out += buf;
            i += 1;
            continue;
        }
        i += len;
        switch (c) {
            case '"': out += "\\\""; continue;
            case '\\': out += "\\\\"; continue;
            case '\a': out += "\\a"; continue;
            case '\b': out += "\\b"; continue;
            case '\f': out += "\\f"; continue;
            case '\n': out += "\\n"; continue;
            case '\r': out += "\\r"; continue;
            case '\t': out += "\\t"; continue;
            case '\v': out += "\\v"; continue;
            default: break;
        }
        if (go_printable(c)) {
            append_utf8(out, c);
        } else if (c < 0x80) {
            std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
            out += buf;
        } else if (c < 0x10000) {
            std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
            out += buf;
        } else {
            std::snprintf(buf, sizeof buf, "\\U%08x", static_cast<unsigned>(c));
            out += buf;
        }
    }
    out += '"';
    return out;
}

}  // namespace frontend
