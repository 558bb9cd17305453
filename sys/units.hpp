// Human-readable quantities on the command line and in the config file.
#pragma once
#include <cstdint>
#include <string>

namespace sys {

// Parse "512m", "1g", "64k", "1024" (bytes; binary units). Throws InvalidInput naming `what`.
uint64_t parse_size(const std::string& text, const std::string& what);
// Parse "2s", "500ms", "3m", "1h", "7d", "10" (seconds). Returns milliseconds.
int64_t parse_duration_ms(const std::string& text, const std::string& what);

}  // namespace sys
