// Small text helpers shared by the Buildfile front end: UTF-8 decoding the way Go does it
// (invalid bytes become U+FFFD), Go's unicode.IsSpace/IsLetter/IsDigit approximations.
#pragma once
#include <string>
#include <string_view>

namespace frontend {

std::u32string decode_utf8(std::string_view s);
void append_utf8(std::string& out, char32_t c);
// Decode one code point at s[i]; returns it and sets `len` (1 for an invalid byte, U+FFFD).
char32_t decode_one(std::string_view s, size_t i, size_t& len, bool& valid);
bool valid_utf8(std::string_view s, size_t* bad_offset = nullptr);

bool is_go_space(char32_t c);
bool is_go_letter(char32_t c);
bool is_go_digit(char32_t c);

std::string to_lower_ascii(std::string_view s);
std::string trim_space(std::string_view s);

}  // namespace frontend
