// Per-run receiver of forwarded signals (see install_signal_forwarding in spec.hpp).
#pragma once

namespace runtime {

class SignalSlot {
public:
    SignalSlot();  // takes a free slot; drains stale signals
    ~SignalSlot();
    SignalSlot(const SignalSlot&) = delete;
    SignalSlot& operator=(const SignalSlot&) = delete;
    int fd() const;  // readable when a signal arrived
    int take();      // the last signal received (0 if none); drains
private:
    int index_ = -1;
};

}  // namespace runtime
