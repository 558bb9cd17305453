#include "runtime/tty.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <time.h>

#include <cerrno>
#include <string>

#include "sys/error.hpp"

namespace runtime {

Pty::Pty(int term_fd) {
    master_.reset(::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!master_) sys::throw_errno("open /dev/ptmx");
    int unlock = 0, n = -1;
    if (::ioctl(master_.get(), TIOCSPTLCK, &unlock) != 0) sys::throw_errno("unlock pty");
    if (::ioctl(master_.get(), TIOCGPTN, &n) != 0) sys::throw_errno("get pty number");
    // Open the peer through the master (TIOCGPTPEER): no path lookup in /dev/pts.
    int s = ::ioctl(master_.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0) sys::throw_errno("open pty peer " + std::to_string(n));
    slave_.reset(s);
    struct winsize ws{};
    if (term_fd >= 0 && ::isatty(term_fd) && ::ioctl(term_fd, TIOCGWINSZ, &ws) == 0) ::ioctl(slave_.get(), TIOCSWINSZ, &ws);
}

void Pty::make_raw(int in_fd) {
    if (!::isatty(in_fd) || ::tcgetattr(in_fd, &saved_) != 0) return;
    struct termios raw = saved_;
    ::cfmakeraw(&raw);
    if (::tcsetattr(in_fd, TCSANOW, &raw) == 0) raw_fd_ = in_fd;
}

Pty::~Pty() {
    if (raw_fd_ >= 0) ::tcsetattr(raw_fd_, TCSANOW, &saved_);
}

bool pump(int from, int to) {
    char buf[16384];
    ssize_t n = ::read(from, buf, sizeof buf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    if (n <= 0) return false;
    for (ssize_t off = 0; off < n;) {
        ssize_t w = ::write(to, buf + off, size_t(n - off));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) {
            struct timespec ts{0, 1000000};
            ::nanosleep(&ts, nullptr);
            continue;
        }
        if (w <= 0) return false;
        off += w;
    }
    return true;
}

}  // namespace runtime
