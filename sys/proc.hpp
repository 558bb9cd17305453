// Facts about processes from /proc.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>

namespace sys {

// The process's start time (field 22 of /proc/PID/stat, clock ticks since boot), or 0 if
// there is no such process. A pid plus its start time names one process even after the pid
// is reused.
uint64_t process_start_time(pid_t pid);

// True if `pid` runs and started at `start_time` (as process_start_time returned it).
inline bool process_alive(pid_t pid, uint64_t start_time) { return start_time != 0 && process_start_time(pid) == start_time; }

// Names that say which process made them, so a later process can remove what a killed one
// left (cgroups, temp dirs): owner_tag() is "<pid>-<start time>-" of this process, put after a
// prefix that ends in '-'; tag_owner_dead(name) is true when `name` holds "-<pid>-<start>-" and
// that process no longer runs (false without a tag).
std::string owner_tag();
bool tag_owner_dead(const std::string& name);

// Replaces this process with a fresh run of the same binary and arguments (/proc/self/exe,
// /proc/self/cmdline), `name`=`value` added to the environment. Returns only on failure (the
// variable is unset again); call it before any thread, lock or mount exists.
void reexec_self_with(const std::string& name, const std::string& value);

}  // namespace sys
