#include "sys/units.hpp"

#include <cctype>
#include <cmath>

#include "sys/error.hpp"

namespace sys {

uint64_t parse_size(const std::string& text, const std::string& what) {
    size_t i = 0;
    while (i < text.size() && (std::isdigit((unsigned char)text[i]) || text[i] == '.')) i++;
    if (i == 0) fail(sys::Code::InvalidInput, what + ": invalid size \"" + text + "\"");
    double v;
    try {
        v = std::stod(text.substr(0, i));
    } catch (...) {
        fail(sys::Code::InvalidInput, what + ": invalid size \"" + text + "\"");
    }
    std::string unit = text.substr(i);
    for (auto& c : unit) c = char(std::tolower((unsigned char)c));
    if (!unit.empty() && unit.back() == 'b') unit.pop_back();
    if (!unit.empty() && unit.back() == 'i') unit.pop_back();
    double mul = 1;
    if (unit == "") mul = 1;
    else if (unit == "k") mul = 1024.0;
    else if (unit == "m") mul = 1024.0 * 1024;
    else if (unit == "g") mul = 1024.0 * 1024 * 1024;
    else if (unit == "t") mul = 1024.0 * 1024 * 1024 * 1024;
    else fail(sys::Code::InvalidInput, what + ": invalid size unit in \"" + text + "\"");
    return uint64_t(std::llround(v * mul));
}

int64_t parse_duration_ms(const std::string& text, const std::string& what) {
    size_t i = 0;
    while (i < text.size() && (std::isdigit((unsigned char)text[i]) || text[i] == '.')) i++;
    if (i == 0) fail(sys::Code::InvalidInput, what + ": invalid duration \"" + text + "\"");
    double v = std::stod(text.substr(0, i));
    std::string unit = text.substr(i);
    double mul;
    if (unit == "" || unit == "s") mul = 1000;
    else if (unit == "ms") mul = 1;
    else if (unit == "m") mul = 60e3;
    else if (unit == "h") mul = 3600e3;
    else if (unit == "d") mul = 86400e3;
    else fail(sys::Code::InvalidInput, what + ": invalid duration unit in \"" + text + "\"");
    return int64_t(std::llround(v * mul));
}

}  // namespace sys
