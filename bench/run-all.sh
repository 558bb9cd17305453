#!/usr/bin/env bash
# imgbuild vs docker (BuildKit), buildah, podman, runc/crun on this machine -- the whole tool.
#
#   bench/run-all.sh [--quick] [--build DIR] [--out FILE] [--keep]
#
# Builds imgbuild (Release, in build-bench/) if needed, installs missing peers with apt-get, builds
# the busybox base image with imgbuild and loads that same image into every tool, then times each
# case with hyperfine (min and median; ratio peer/imgbuild) and writes a markdown table to
# bench/RESULTS.md (or --out). --quick: fewer runs, a 5,000-file context and a 128 MiB big layer
# (~5 min instead of ~20). Run as root. Cold runs: before each one, every tool's store is emptied
# with the tool's own CLI and the base image is loaded again (imgbuild: a fresh --root store with
# the base imported), so nothing is cached for anyone.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
QUICK=0 BUILD="$SRC/build-bench" OUT="$SRC/bench/RESULTS.md" KEEP=0
while (($#)); do
    case $1 in
    --quick) QUICK=1 ;;
    --build) BUILD=$(realpath "$2"); shift ;;
    --out) OUT=$(realpath -m "$2"); shift ;;
    --keep) KEEP=1 ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
[ "$(id -u)" = 0 ] || { echo "run as root (namespaces, overlay, dockerd)" >&2; exit 2; }
# The report is written last: a missing directory would lose a quarter of an hour of measurements.
[ -d "$(dirname "$OUT")" ] && [ -w "$(dirname "$OUT")" ] || { echo "cannot write $OUT (no such directory?)" >&2; exit 2; }

if ((QUICK)); then
    NFILES=5000 MIB=64 R_COLD=2 R_WARM=5 R_SLOW=1 R_RUN=10
else
    NFILES=20000 MIB=256 R_COLD=5 R_WARM=10 R_SLOW=3 R_RUN=30
fi

W=$(mktemp -d /tmp/imgbuild-bench.XXXXXX)
IB="$BUILD/imgbuild"
export W IB
source bench/lib/peers.sh
cleanup() {
    set +e
    stop_dockerd
    cleanup_cs
    ((KEEP)) || rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[$(date +%T)] $*" >&2; }

# ---- 1. imgbuild and the peers ----
install_peers
if [ ! -x "$IB" ] || [ -n "$(find bake builder cas cli context frontend inspect layers registry runtime sys \
    CMakeLists.txt -newer "$IB" \( -name '*.[ch]pp' -o -name CMakeLists.txt \) -print -quit)" ]; then
    log "building imgbuild (Release) in $BUILD"
    cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" --target imgbuild -j"$(nproc)" >/dev/null
fi
check_tools
log "work dir $W; base image"
make_base
for t in podman buildah; do [ -n "${SKIP[$t]:-}" ] || write_containers_conf "$t"; done
start_dockerd
# A prepare script hyperfine can call (it runs prepares with /bin/sh).
cat >"$W/prep" <<EOF
#!/usr/bin/env bash
set -euo pipefail
W=$W IB=$IB
cd $SRC
source bench/lib/peers.sh
"\$@"
EOF
chmod +x "$W/prep"
for t in imgbuild podman buildah docker; do
    [ -n "${SKIP[$t]:-}" ] && continue
    "$W/prep" reset_tool "$t" || SKIP[$t]="loading the base image failed"
done

RES="$W/results.tsv"
: >"$RES"
# measure CASE VARIANT TOOL RUNS PREPARE(or "") WARMUP CMD
# Before each measurement: sync, then wait (at most 30 s) for a second in which the CPUs are at
# least 90% idle, so no tool is timed while the previous one's write-back or leftover work runs
# (a big-layer run right after podman's many-files runs started at load 4.2 and took 1.34-1.61 s).
settle() {
    sync
    local i k tot idle a b
    for i in $(seq 30); do
        read -ra a </proc/stat
        sleep 1
        read -ra b </proc/stat
        tot=0
        for k in 1 2 3 4 5 6 7 8; do tot=$((tot + b[k] - a[k])); done
        idle=$((b[4] - a[4]))  # iowait is not idle: write-back still running
        ((tot > 0 && idle * 100 >= tot * 90)) && return 0
    done
    log "  the machine did not settle in 30 s"
}
measure() {
    local case=$1 variant=$2 tool=$3 runs=$4 prep=$5 warm=$6 cmd=$7 envs=""
    if [ -n "${SKIP[$tool]:-}" ]; then
        printf '%s\t%s\t%s\t\t\t0\t%s\n' "$case" "$variant" "$tool" "skipped: ${SKIP[$tool]}" >>"$RES"
        return
    fi
    case $tool in podman | buildah) envs=$(cs_env "$tool") ;; docker) envs="DOCKER_BUILDKIT=1" ;; esac
    local j="$W/hf-$case-$variant-$tool.json"
    local args=(--runs "$runs" --warmup "$warm" --export-json "$j" --style none)
    [ -n "$prep" ] && args+=(--prepare "$prep")
    settle
    log "$case/$variant: $tool x$runs"
    local load_before
    load_before=$(cut -d' ' -f1 /proc/loadavg)
    if env $envs hyperfine -N "${args[@]}" "$cmd" >/dev/null 2>"$W/hf.err"; then
        jq -r --arg c "$case" --arg v "$variant" --arg t "$tool" --arg n "$runs" \
            '.results[0] | [$c, $v, $t, .min, .median, $n, ""] | @tsv' "$j" >>"$RES"
    else
        local why
        why=$(env $envs bash -c "$cmd" 2>&1 >/dev/null | tail -1 | tr '\t' ' ' | cut -c1-160)
        printf '%s\t%s\t%s\t\t\t0\t%s\n' "$case" "$variant" "$tool" "failed: ${why:-$(tail -1 "$W/hf.err")}" >>"$RES"
        log "  failed: $why"
    fi
    printf '%s\t%s\t%s\t%s\t%s\n' "$case" "$variant" "$tool" "$load_before" "$(cut -d' ' -f1 /proc/loadavg)" >>"$W/load.tsv"
}
# interleave NAME PAIRS PREP_A CMD_A PREP_B CMD_B: A and B run alternately (A B, B A, A B, ...),
# each timed alone (bash's EPOCHREALTIME around the command, its prepare untimed), so both see the
# same machine state: hyperfine's back-to-back series of one command can land on a fast or a
# slow minute of this VM. Writes "pair<TAB>A seconds<TAB>B seconds" lines to $W/interleave-NAME.tsv.
interleave() {
    local name=$1 pairs=$2 prep_a=$3 cmd_a=$4 prep_b=$5 cmd_b=$6 i t0 t1 ta tb
    local out="$W/interleave-$name.tsv"
    : >"$out"
    settle
    log "interleaved $name: $pairs pairs"
    one() {  # PREP CMD -> seconds on stdout
        [ -n "$1" ] && eval "$1" >/dev/null 2>&1
        t0=$EPOCHREALTIME
        eval "$2" >/dev/null 2>&1 || { echo fail; return; }
        t1=$EPOCHREALTIME
        echo "$t0 $t1" | awk '{printf "%.6f", $2 - $1}'
    }
    for ((i = 0; i < pairs; i++)); do
        if ((i % 2 == 0)); then ta=$(one "$prep_a" "$cmd_a"); tb=$(one "$prep_b" "$cmd_b")
        else tb=$(one "$prep_b" "$cmd_b"); ta=$(one "$prep_a" "$cmd_a"); fi
        printf '%d\t%s\t%s\n' "$i" "$ta" "$tb" >>"$out"
    done
}
build_cmd() {  # TOOL CASE [extra args]
    local tool=$1 case=$2 bf="$SRC/bench/cases/$2/Buildfile" ctx="$W/ctx/$2" extra=${3:-}
    case $tool in
    imgbuild) echo "$IB --root $W/ib-root build --progress quiet --network none -t bench-$case $extra -f $bf $ctx" ;;
    podman) echo "podman build --layers --network=none --runtime runc -q -t bench-$case $extra -f $bf $ctx" ;;
    buildah) echo "buildah bud --layers --network none --runtime runc -q -t bench-$case $extra -f $bf $ctx" ;;
    docker) echo "$DOCKER -H unix://$W/docker/sock build --network=none -q -t bench-$case $extra -f $bf $ctx" ;;
    esac
}
BUILDERS="imgbuild docker buildah podman"
# One cold imgbuild build with --metadata-file: per-step durations for RESULTS.md.
step_times() {  # CASE [extra]  (three samples; report.py takes each step's median and the slowest step's phases)
    local i
    for i in 1 2 3; do
        "$W/prep" reset_imgbuild
        # --progress json: the "phases" events split each step (resolve, mount, spawn, wait, copy, diff, commit).
        $(build_cmd imgbuild "$1" "${2:-}" | sed 's/--progress quiet/--progress json/') \
            --metadata-file "$W/meta-$1.$i.json" >/dev/null 2>"$W/progress-$1.$i.jsonl" || true
    done
}

# ---- 2. contexts ----
mkdir -p "$W/ctx/small/files" "$W/ctx/multistage" "$W/ctx/big-layer"
for i in $(seq -w 1 10); do head -c 4096 /dev/urandom | base64 >"$W/ctx/small/files/f$i.txt"; done
python3 - "$W/ctx/many-files/tree" "$NFILES" <<'EOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "d%03d" % (i // 200))
    if i % 200 == 0: os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d.txt" % i), "w") as f: f.write("file %d\n" % i)
EOF

# ---- 3. build cases ----
for t in $BUILDERS; do
    c=$(build_cmd "$t" small)
    measure small cold "$t" "$R_COLD" "$W/prep reset_tool $t" 0 "$c"
    measure small cached "$t" "$R_WARM" "" 1 "$c"
    measure small edit "$t" "$R_COLD" "sh -c 'date +%N >>$W/ctx/small/files/f05.txt'" 0 "$c"
done
step_times small
for t in $BUILDERS; do
    c=$(build_cmd "$t" many-files)
    measure many-files cold "$t" "$R_SLOW" "$W/prep reset_tool $t" 0 "$c"
    measure many-files cached "$t" "$R_WARM" "" 1 "$c"
done
step_times many-files
for t in $BUILDERS; do
    measure big-layer cold "$t" "$R_SLOW" "$W/prep reset_tool $t" 0 "$(build_cmd "$t" big-layer "--build-arg MIB=$MIB")"
done
step_times big-layer "--build-arg MIB=$MIB"
# The target compares with the RUN's dd: imgbuild's build and a host dd of the same size,
# alternately, each after a sync (untimed, as reset_tool's): neither pays for the write-back of
# the other's data (imgbuild's build writes twice as much: the RUN's files and the layer).
interleave big-layer-dd "$R_COLD" "$W/prep reset_tool imgbuild" "$(build_cmd imgbuild big-layer "--build-arg MIB=$MIB")" \
    "rm -f $W/dd-big && sync" "dd if=/dev/urandom of=$W/dd-big bs=1M count=$((2 * MIB))"
rm -f "$W/dd-big"
for t in $BUILDERS; do
    extra=""
    [ "$t" = buildah ] && extra="--jobs 3"  # buildah builds stages one at a time without it
    measure multistage cold "$t" "$R_SLOW" "$W/prep reset_tool $t" 0 "$(build_cmd "$t" multistage "$extra")"
done
# imgbuild's --jobs defaults to the number of cores; sleeping stages are not CPU-bound.
measure multistage cold "imgbuild --jobs 3" "$R_SLOW" "$W/prep reset_tool imgbuild" 0 "$(build_cmd imgbuild multistage "--jobs 3")"
step_times multistage

# ---- 4. run: start-to-exit of `true` ----
for t in imgbuild podman docker; do [ -n "${SKIP[$t]:-}" ] || "$W/prep" reset_tool "$t"; done
measure run true imgbuild "$R_RUN" "" 3 "$IB --root $W/ib-root run --rm busybox:latest true"
measure run true podman "$R_RUN" "" 2 "podman run --rm --network=none --runtime runc busybox:latest true"
measure run true docker "$R_RUN" "" 2 "$DOCKER -H unix://$W/docker/sock run --rm --network none busybox:latest true"
if [ -z "${SKIP[runc]:-}" ]; then  # runc/crun: an OCI bundle of the same base image
    umoci unpack --image "$W/base-oci:latest" "$W/bundle" >/dev/null 2>&1
    jq '.process.args = ["/bin/true"] | .process.terminal = false' "$W/bundle/config.json" >"$W/bundle/c.json"
    mv "$W/bundle/c.json" "$W/bundle/config.json"
    measure run true runc "$R_RUN" "" 2 "runc --root $W/runc-state run -b $W/bundle bench-runc"
fi
if [ -z "${SKIP[crun]:-}" ] && [ -d "$W/bundle" ]; then
    # crun 1.8 refuses hybrid cgroup hosts while cgroup v2 holds a controller (hugetlb here). In a private
    # mount namespace a v1 hugetlb hierarchy is mounted for the duration of the measurement only; the
    # kernel hands hugetlb back to cgroup v2 when that namespace (and its mount) goes away.
    mkdir -p "$W/hugetlb"
    if grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; then
        export -f measure log settle interleave
        export RES
        unshare -m --propagation private bash -c "mount -t cgroup -o hugetlb none $W/hugetlb && source bench/lib/peers.sh &&
            measure run true crun $R_RUN '' 2 'crun --root $W/crun-state run -b $W/bundle bench-crun' &&
            interleave run-true-crun $R_RUN '' '$IB --root $W/ib-root run --rm busybox:latest true' \
                '' 'crun --root $W/crun-state run -b $W/bundle bench-crun'"
    else
        measure run true crun "$R_RUN" "" 2 "crun --root $W/crun-state run -b $W/bundle bench-crun"
        interleave run-true-crun "$R_RUN" "" "$IB --root $W/ib-root run --rm busybox:latest true" \
            "" "crun --root $W/crun-state run -b $W/bundle bench-crun"
    fi
fi

# ---- 5. physical references ----
log "physical references"
P="$W/phys"
mkdir -p "$P"
gcc -O2 -o "$P/clone_true" bench/physical/clone_true.c
{
    hyperfine -N --runs "$R_SLOW" --export-json "$P/dd.json" --style none \
        "dd if=/dev/urandom of=$P/big bs=1M count=$((2 * MIB)) conv=fsync" >/dev/null 2>&1
    echo -e "dd\t$(jq -r '.results[0] | [.min, .median] | @tsv' "$P/dd.json")\t$((2 * MIB))"
    hyperfine -N --runs "$R_SLOW" --export-json "$P/ddnf.json" --style none \
        "dd if=/dev/urandom of=$P/big bs=1M count=$((2 * MIB))" >/dev/null 2>&1
    echo -e "dd-nofsync\t$(jq -r '.results[0] | [.min, .median] | @tsv' "$P/ddnf.json")\t$((2 * MIB))"
    # openssl dgst: the same library and SHA-NI code path imgbuild hashes layers with (coreutils'
    # sha256sum has its own, ~3x slower, implementation).
    for x in "sha256sum:sha256sum $P/big" "openssl-sha256:openssl dgst -sha256 $P/big" "zstd-T0:zstd -T0 -q -c $P/big" \
        "gzip-1:gzip -1 -c $P/big"; do
        hyperfine -N --runs "$R_SLOW" --warmup 1 --export-json "$P/x.json" --style none --output=null "${x#*:}" >/dev/null 2>&1
        echo -e "${x%%:*}\t$(jq -r '.results[0] | [.min, .median] | @tsv' "$P/x.json")\t$((2 * MIB))"
    done
    "$P/clone_true" 50 | sort -n | awk '{a[NR]=$1} END {printf "clone-execve\t%.6f\t%.6f\t0\n", a[1]/1000, a[int((NR+1)/2)]/1000}'
} >"$W/phys.tsv"
rm -f "$P/big"
# bench/run (existing): imgbuild run --rootfs and the in-process runtime spawn vs runc.
log "bench/run/bench.sh"
bench/run/bench.sh "$BUILD" "$R_RUN" >"$W/bench-run.txt" 2>&1 || echo "(bench/run/bench.sh failed)" >>"$W/bench-run.txt"

# ---- 6. report ----
python3 bench/lib/report.py --results "$RES" --phys "$W/phys.tsv" --bench-run "$W/bench-run.txt" --meta-dir "$W" \
    --quick "$QUICK" --nfiles "$NFILES" --mib "$((2 * MIB))" --imgbuild "$IB" >"$OUT"
log "wrote $OUT"
