// How many bytes this thread has hashed with cas::Digester (Digest::of included), so a test
// or a benchmark can check that work is not repeated (Store::put hashes its data once).
#pragma once
#include <cstdint>

namespace cas {

uint64_t bytes_hashed_on_this_thread();

}  // namespace cas
