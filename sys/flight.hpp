// Process-wide "one at a time per key" (single flight): the first caller of run(KEY, f) runs
// f(); callers with the same KEY meanwhile wait for it and share its result (or its
// exception). Once f() has returned the key is free again: a later call runs f() anew.
#pragma once
#include <condition_variable>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace sys {

template <typename T>
class SingleFlight {
public:
    // f() returns std::shared_ptr<T>; so does run(), the same value for every caller of one flight.
    template <typename F>
    std::shared_ptr<T> run(const std::string& key, F&& f) {
        std::shared_ptr<Call> call;
        bool owner = false;
        {
            std::unique_lock<std::mutex> l(mu_);
            auto it = calls_.find(key);
            if (it == calls_.end()) {
                call = std::make_shared<Call>();
                calls_.emplace(key, call);
                owner = true;
            } else {
                call = it->second;
            }
        }
        if (!owner) {
            std::unique_lock<std::mutex> l(mu_);
            cv_.wait(l, [&] { return call->done; });
            if (call->error) std::rethrow_exception(call->error);
            return call->value;
        }
        std::shared_ptr<T> value;
        std::exception_ptr error;
        try {
            value = f();
        } catch (...) {
            error = std::current_exception();
        }
        {
            std::lock_guard<std::mutex> l(mu_);
            call->done = true;
            call->value = value;
            call->error = error;
            calls_.erase(key);
        }
        cv_.notify_all();
        if (error) std::rethrow_exception(error);
        return value;
    }

private:
    struct Call {
        bool done = false;
        std::shared_ptr<T> value;
        std::exception_ptr error;
    };
    std::mutex mu_;
    std::condition_variable cv_;
    std::map<std::string, std::shared_ptr<Call>> calls_;
};

}  // namespace sys
