// -t: a pseudo-terminal from the host's /dev/ptmx (no libutil), the caller's terminal in raw
// mode while the container runs, and a relay between them.
#pragma once
#include <termios.h>

#include "sys/fd.hpp"

namespace runtime {

class Pty {
public:
    // Opens a master/slave pair; copies the window size from `term_fd` if it is a terminal.
    explicit Pty(int term_fd);
    ~Pty();  // restores the caller's terminal mode
    Pty(const Pty&) = delete;
    Pty& operator=(const Pty&) = delete;
    int master() const { return master_.get(); }
    int slave() const { return slave_.get(); }
    void close_slave() { slave_.reset(); }
    // Put `in_fd` (the caller's terminal) in raw mode until destruction.
    void make_raw(int in_fd);

private:
    sys::UniqueFd master_, slave_;
    int raw_fd_ = -1;
    struct termios saved_{};
};

// Copy what is readable from `from` to `to`; returns false on EOF/EIO.
bool pump(int from, int to);

}  // namespace runtime
