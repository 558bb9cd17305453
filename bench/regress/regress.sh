#!/usr/bin/env bash
# Benchmark regression check (ctest label `bench`; registered only with -DIMGBUILD_BENCH=ON, so the
# default `ctest` never runs it). Times, with the given imgbuild binary in a private temp store:
#   cached  -- a fully cached rebuild of bench/cases/small (median of RUNS)
#   run     -- `imgbuild run --rm busybox:latest true` (median of RUNS)
# and fails when either is more than 2x its baseline in bench/regress/baselines.tsv.
#
#   bench/regress/regress.sh IMGBUILD              # check
#   bench/regress/regress.sh IMGBUILD --record     # measure and write the baselines (idle machine!)
#
# Wall-clock medians on a shared machine are noisy: record baselines on an idle machine, and read a
# failure together with the load average it prints.
set -euo pipefail
IB=$(realpath "$1")
MODE=${2:-check}
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
BASELINES="$HERE/baselines.tsv"
RUNS=${BENCH_RUNS:-15}
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (namespaces, overlay)"; exit 77; }
BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] || { echo "SKIP: needs busybox (busybox-static)"; exit 77; }

W=$(mktemp -d /tmp/imgbuild-regress.XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/base" "$W/ctx/files"
cp "$SRC/testdata/busybox/Buildfile" "$SRC/testdata/busybox/passwd" "$SRC/testdata/busybox/group" "$W/base/"
cp "$BUSYBOX" "$W/base/busybox"
for i in $(seq -w 1 10); do head -c 4096 /dev/urandom | base64 >"$W/ctx/files/f$i.txt"; done
R="$W/root"
"$IB" --root "$R" build --progress quiet -t busybox:latest "$W/base" >/dev/null
build() { "$IB" --root "$R" build --progress quiet --network none -t bench-small -f "$SRC/bench/cases/small/Buildfile" "$W/ctx" >/dev/null; }
build  # cold, then warm caches
build

# median_s CMD...: median wall time of RUNS runs, in seconds
median_s() {
    local i t0 t1 ts=()
    for ((i = 0; i < RUNS; i++)); do
        t0=$(date +%s%N)
        "$@" >/dev/null
        t1=$(date +%s%N)
        ts+=($((t1 - t0)))
    done
    printf '%s\n' "${ts[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.4f\n", a[int((NR+1)/2)]/1e9}'
}
cached=$(median_s build)
run=$(median_s "$IB" --root "$R" run --rm busybox:latest true)
load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "cached rebuild (small): ${cached} s; run true: ${run} s; load average: $load"

if [ "$MODE" = --record ]; then
    printf '# case\tbaseline_s\trecorded (load average)\ncached\t%s\t%s (%s)\nrun\t%s\t%s (%s)\n' \
        "$cached" "$(date -u +%FT%TZ)" "$load" "$run" "$(date -u +%FT%TZ)" "$load" >"$BASELINES"
    echo "wrote $BASELINES"
    exit 0
fi
[ -f "$BASELINES" ] || { echo "no baselines in $BASELINES (run with --record)"; exit 1; }
fail=0
for c in cached run; do
    base=$(awk -v c="$c" '$1 == c {print $2}' "$BASELINES")
    now=${!c}
    if awk -v n="$now" -v b="$base" 'BEGIN {exit !(n > 2 * b)}'; then
        echo "REGRESSION: $c took ${now} s, more than 2x the baseline ${base} s"
        fail=1
    else
        echo "ok: $c ${now} s (baseline ${base} s, limit $(awk -v b="$base" 'BEGIN {printf "%.4f", 2 * b}') s)"
    fi
done
exit $fail
