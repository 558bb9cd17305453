#!/bin/bash
# Push and pull of a 512 MiB image (one layer of urandom, gzip) by imgbuild and by `skopeo copy`,
# side by side, against the same loopback docker-registry (plain http, no auth: the transfer is
# what is measured). Each run starts from a fresh registry storage (so nothing is skipped or
# mounted; skopeo's blob-info cache is emptied too) and, for pulls, a fresh destination; `sync`
# before every timed command (outside the timing). Prints the medians of RUNS runs and the load
# average. Usage: bench/registry/bench.sh [IMGBUILD] [RUNS] [SIZE_MIB]   (root; docker-registry, skopeo)
set -euo pipefail
IB=${1:-$(cd "$(dirname "$0")/../.." && pwd)/build/imgbuild}
RUNS=${2:-3}
MIB=${3:-512}
W=$(mktemp -d /tmp/imgbuild-regbench-XXXXXX)
REGPID=
cleanup() {  # set +e: wait returns 143 for the killed registry, which must not skip the rm
    set +e
    [ -n "$REGPID" ] && kill "$REGPID" 2>/dev/null && wait "$REGPID" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
H=127.0.0.1:$PORT

start_registry() {  # fresh storage each time
    [ -n "$REGPID" ] && kill "$REGPID" && wait "$REGPID" 2>/dev/null || true
    rm -rf "$W/data"
    cat > "$W/config.yml" <<CFG
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $W/data}, delete: {enabled: true}}
http: {addr: $H}
CFG
    docker-registry serve "$W/config.yml" > "$W/registry.log" 2>&1 &
    REGPID=$!
    for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && return; sleep 0.1; done
    echo "registry did not start" >&2; cat "$W/registry.log" >&2; exit 1
}
# Each timed command starts with no dirty page cache left by the one before (the registry's
# write of a pushed blob would otherwise be flushed during the next command's fsync).
now() { date +%s.%N; }
start() { sync; now; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ib() { "$IB" --root "$1" --insecure-registry "$H" "${@:2}"; }
export HOME=$W/home XDG_RUNTIME_DIR=$W/xdg   # skopeo: private blob-info cache (no cross-run mounts)
mkdir -p "$HOME" "$XDG_RUNTIME_DIR" "$W/ctx"

# The image: FROM scratch, COPY of MIB MiB of urandom; gzip-compressed once by a first push
# (kept in the store), and the same blobs as an OCI layout for skopeo.
head -c $((MIB << 20)) /dev/urandom > "$W/ctx/big.bin"
printf 'FROM scratch\nCOPY big.bin /big.bin\n' > "$W/ctx/Buildfile"
ib "$W/src" build -t big:1 "$W/ctx" > /dev/null 2>&1
start_registry
ib "$W/src" push --compression gzip big:1 "$H/bench/big:1" > /dev/null 2>&1
skopeo copy -q --src-tls-verify=false "docker://$H/bench/big:1" "oci:$W/oci:big" > /dev/null

declare -A T
for i in $(seq "$RUNS"); do
    start_registry
    t0=$(start); ib "$W/src" push --compression gzip big:1 "$H/bench/ib:1" > /dev/null 2>&1; t1=$(now)
    T[ib_push]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}') "
    start_registry; rm -rf "$HOME" && mkdir -p "$HOME"   # nothing to skip or mount for skopeo either
    t0=$(start); skopeo copy -q --dest-tls-verify=false "oci:$W/oci:big" "docker://$H/bench/sk:1" > /dev/null; t1=$(now)
    T[sk_push]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}') "
    rm -rf "$W/pull" "$W/pulloci"
    t0=$(start); ib "$W/pull" pull "$H/bench/sk:1" > /dev/null 2>&1; t1=$(now)
    T[ib_pull]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}') "
    t0=$(start); skopeo copy -q --src-tls-verify=false "docker://$H/bench/sk:1" "oci:$W/pulloci:big" > /dev/null; t1=$(now)
    T[sk_pull]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}') "
    echo "run $i: load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done
echo "size ${MIB} MiB (urandom, gzip), $RUNS runs, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
for k in ib_push sk_push ib_pull sk_pull; do
    printf '%s median %.2f s (runs: %s)\n' "$k" "$(echo ${T[$k]} | tr ' ' '\n' | median)" "${T[$k]% }"
done
