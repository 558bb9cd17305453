// Signal forwarding: a handler writes the signal number into one pipe per running container
// (a fixed pool of slots, pipes never closed, so the handler never writes to a reused fd).
#include "runtime/signals.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "runtime/spec.hpp"
#include "sys/error.hpp"

namespace runtime {

namespace {

struct Slot {
    std::atomic<int> wfd{-1};
    int rfd = -1;
    std::atomic<bool> busy{false};
};
constexpr int kSlots = 64;
Slot g_slots[kSlots];

void handler(int sig) { forward_signal(sig); }

}  // namespace

void forward_signal(int sig) {
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    for (auto& s : g_slots) {
        int fd = s.wfd.load(std::memory_order_acquire);
        if (fd >= 0 && s.busy.load(std::memory_order_acquire)) (void)!::write(fd, &b, 1);
    }
    errno = saved;
}

void install_signal_forwarding() {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::sigaction(s, &sa, nullptr);
}

SignalSlot::SignalSlot() {
    for (int i = 0; i < kSlots; i++) {
        bool expected = false;
        if (!g_slots[i].busy.compare_exchange_strong(expected, true)) continue;
        Slot& s = g_slots[i];
        if (s.rfd < 0) {
            int p[2];
            if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
                s.busy = false;
                sys::throw_errno("signal pipe");
            }
            s.rfd = p[0];
            s.wfd.store(p[1], std::memory_order_release);
        }
        unsigned char buf[64];
        while (::read(s.rfd, buf, sizeof buf) > 0) {
        }
        index_ = i;
        return;
    }
    sys::fail(sys::Code::FailedPrecondition, "too many containers running at once in this process");
}

SignalSlot::~SignalSlot() { g_slots[index_].busy.store(false, std::memory_order_release); }

int SignalSlot::fd() const { return g_slots[index_].rfd; }

int SignalSlot::take() {
    unsigned char b;
    int last = 0;
    while (::read(fd(), &b, 1) == 1) last = b;
    return last;
}

}  // namespace runtime
