// Helpers shared by the store commands (images, inspect, tag, rmi, import, export, prune,
// fsck): open the store from the globals, and print tables and sizes for people.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cli/registry.hpp"
#include "cas/store.hpp"

namespace cli {

cas::Store open_store(const Globals& g);
// $SOURCE_DATE_EPOCH for builds (nullopt when unset or empty; not a number: an error).
std::optional<int64_t> source_date_epoch_env();
// The config's GC policy (gc_keep_storage / gc_keep_duration), run after every build.
void apply_config_gc(cas::Store& store, const Config& config);
// "1.5 MB" (decimal units, as docker prints).
std::string human_size(uint64_t bytes);
// Left-aligned columns, two spaces apart; rows[0] is the header.
void print_table(const std::vector<std::vector<std::string>>& rows);
// "2026-11-29 10:00:00" from an RFC 3339 timestamp ("" -> "-").
std::string short_time(const std::string& rfc3339);

}  // namespace cli
