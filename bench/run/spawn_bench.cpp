// RUN-like spawn latency: runtime::run(spec{argv={"/bin/true"}}) on an already-present root,
// in-process (no CLI start-up). Built and run by bench/run/bench.sh; prints per-run ms.
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "runtime/spec.hpp"

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: spawn_bench ROOTFS N\n");
        return 2;
    }
    int n = std::atoi(argv[2]);
    for (int i = 0; i < n; i++) {
        runtime::RunSpec s;
        s.rootfs = argv[1];
        s.argv = {"/bin/true"};
        auto t0 = std::chrono::steady_clock::now();
        auto r = runtime::run(s);
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
        if (r.shell_status() != 0) return 1;
        std::printf("%.3f\n", double(us) / 1000.0);
    }
    return 0;
}
