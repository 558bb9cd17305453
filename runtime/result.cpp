#include <csignal>
#include <cstring>

#include "runtime/spec.hpp"

namespace runtime {

static std::string mib(uint64_t b) {
    if (b % (1024 * 1024) == 0) return std::to_string(b / (1024 * 1024)) + " MiB";
    return std::to_string(b) + " bytes";
}

std::string RunResult::describe(const Limits& l) const {
    switch (how) {
        case How::Exited: return "exited with code " + std::to_string(exit_code);
        case How::Signaled: {
            const char* name = sigabbrev_np(exit_code);
            return "killed by signal " + std::to_string(exit_code) + (name ? std::string(" (SIG") + name + ")" : "");
        }
        case How::OutOfMemory: return "killed: out of memory (limit " + mib(l.memory_bytes) + ")";
        case How::TimedOut: {
            int64_t ms = l.timeout_ms;
            return "killed: timed out after " + (ms % 1000 ? std::to_string(ms) + "ms" : std::to_string(ms / 1000) + "s");
        }
    }
    return "unknown";
}

int RunResult::shell_status() const {
    switch (how) {
        case How::Exited: return exit_code;
        case How::Signaled: return 128 + exit_code;
        case How::OutOfMemory: return 137;
        case How::TimedOut: return 124;
    }
    return 1;
}

}  // namespace runtime
