#!/usr/bin/env bash
# Build the layers library in build-bench/ and run the diff/store throughput benchmark.
# Usage: bench/layers/run.sh [work-dir]
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
build="$src/build-bench"
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target layers -j"$(nproc)" >/dev/null
g++ -std=c++20 -O2 -I"$src" "$src/bench/layers/diff_bench.cpp" -o "$build/bench_layers_diff" \
    "$build/layers/liblayers.a" "$build/cas/libcas.a" "$build/sys/libsys.a" \
    $(pkg-config --libs libarchive zlib libzstd) -lcrypto -lpthread
exec "$build/bench_layers_diff" "$@"
