// Counting limits per key, shared by the whole process: at most LIMIT holders of a Slot for
// KEY at once (e.g. transfers per registry host). acquire() blocks until one is free.
#pragma once
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>

namespace sys {

class KeyedSlots {
public:
    class Slot {
    public:
        Slot(Slot&& o) noexcept : owner_(o.owner_), key_(std::move(o.key_)) { o.owner_ = nullptr; }
        Slot(const Slot&) = delete;
        Slot& operator=(const Slot&) = delete;
        Slot& operator=(Slot&&) = delete;
        ~Slot() {
            if (owner_) owner_->release(key_);
        }

    private:
        friend class KeyedSlots;
        Slot(KeyedSlots* owner, std::string key) : owner_(owner), key_(std::move(key)) {}
        KeyedSlots* owner_;
        std::string key_;
    };

    // LIMIT < 1 counts as 1.
    Slot acquire(const std::string& key, int limit) {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [&] { return used_[key] < (limit < 1 ? 1 : limit); });
        used_[key]++;
        return Slot(this, key);
    }

private:
    void release(const std::string& key) {
        {
            std::lock_guard<std::mutex> l(mu_);
            used_[key]--;
        }
        cv_.notify_all();
    }
    std::mutex mu_;
    std::condition_variable cv_;
    std::map<std::string, int> used_;
};

}  // namespace sys
