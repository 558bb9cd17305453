// Independent pieces of work on a few threads: registry blob transfers, the context walk,
// hashing context files.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <thread>
#include <vector>

#include "sys/error.hpp"

namespace sys {

// Threads for CPU- or syscall-bound work: the cores, at most 8.
inline size_t cpu_width() { return std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), 8); }

// Runs job(i) for every i in [0, n) on the calling thread and up to width-1 more. At the first
// failure `cancel` is set (when given): indices not started are skipped, running jobs may check
// it. After all have stopped, the failure of the lowest index is rethrown -- the one a loop
// would have hit first -- a Cancelled one only when nothing else failed.
inline void parallel_for(size_t n, size_t width, const std::function<void(size_t)>& job,
                         std::atomic<bool>* cancel = nullptr) {
    std::atomic<bool> own_cancel{false};
    std::atomic<bool>& stop = cancel ? *cancel : own_cancel;
    std::vector<std::exception_ptr> errs(n);
    std::atomic<size_t> next{0};
    auto worker = [&] {
        for (size_t i; (i = next++) < n && !stop;) {
            try {
                job(i);
            } catch (...) {
                errs[i] = std::current_exception();
                stop = true;
            }
        }
    };
    std::vector<std::thread> threads;
    for (size_t t = 1; t < std::min(n, std::max<size_t>(width, 1)); t++) threads.emplace_back(worker);
    worker();
    for (auto& t : threads) t.join();
    std::exception_ptr first;
    for (auto& e : errs) {
        if (!e) continue;
        try {
            std::rethrow_exception(e);
        } catch (const Error& err) {
            if (err.code() != Code::Cancelled) std::rethrow_exception(e);
        } catch (...) {
            std::rethrow_exception(e);
        }
        if (!first) first = e;
    }
    if (first) std::rethrow_exception(first);
}

}  // namespace sys
