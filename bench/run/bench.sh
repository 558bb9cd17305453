#!/usr/bin/env bash
# Start-to-exit latency of `true` in a container (not a test; run by hand, as root):
#   imgbuild run --rootfs DIR true     (the CLI, cold process each time)
#   spawn_bench: runtime::run() in-process on an already-present root (a RUN step's cost)
#   runc run / crun run of the same rootfs (OCI bundle from `runc spec`, network ns, no tty)
# Prints medians (ms) and ratios against imgbuild. Usage: bench/run/bench.sh [BUILD_DIR] [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
n=${2:-30}
work=$(mktemp -d /tmp/imgbuild-bench-run.XXXXXX)
trap 'rm -rf "$work"' EXIT
root="$work/bundle/rootfs"
mkdir -p "$root/bin" "$root/etc" "$root/proc" "$root/dev" "$root/sys"
cp /bin/busybox "$root/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$root/bin/$a"; done
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"

g++ -std=c++20 -O2 -I. bench/run/spawn_bench.cpp "$build/runtime/libruntime.a" "$build/sys/libsys.a" -lseccomp \
  -o "$work/spawn_bench"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
time_cmd() {  # N runs of "$@", one ms figure per line
  for _ in $(seq "$n"); do
    s=$(date +%s%N); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; return 1; }; e=$(date +%s%N)
    echo "scale=3; ($e - $s) / 1000000" | bc
  done
}

declare -A med
med[imgbuild-run]=$(time_cmd "$build/imgbuild" run --rootfs "$root" /bin/true | median)
med[runtime-spawn]=$("$work/spawn_bench" "$root" "$n" | median)
if command -v runc >/dev/null; then
  (cd "$work/bundle" && runc spec && sed -i 's/"terminal": true/"terminal": false/; s/"sh"/"\/bin\/true"/' config.json)
  med[runc-run]=$(cd "$work/bundle" && time_cmd runc --root "$work/runc-state" run "bench-$$" | median) || true
fi
if command -v crun >/dev/null; then
  # crun 1.8 refuses hybrid cgroup hosts while cgroup v2 holds a controller (hugetlb here): as in
  # run-all.sh, the runs happen in one private mount namespace with a v1 hugetlb hierarchy mounted
  # there (the kernel hands hugetlb back to v2 when the namespace goes); only crun is timed.
  in_ns() { "$@"; }
  if grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; then
    mkdir -p "$work/hugetlb"
    in_ns() {
      unshare -m --propagation private bash -c "mount -t cgroup -o hugetlb none '$work/hugetlb' && n=$n && $(declare -f time_cmd) && \"\$@\"" bash "$@"
    }
  fi
  if (cd "$work/bundle" && in_ns crun --root "$work/crun-state" run "probe-$$" >/dev/null 2>&1); then
    med[crun-run]=$(cd "$work/bundle" && in_ns time_cmd crun --root "$work/crun-state" run "bench-$$" | median)
  else
    echo "crun: skipped ($(cd "$work/bundle" && in_ns crun --root "$work/crun-state" run "probe2-$$" 2>&1 | head -1))"
  fi
fi
base=${med[imgbuild-run]}
printf '%-16s %10s %8s\n' case median_ms vs_imgbuild
for k in imgbuild-run runtime-spawn runc-run crun-run; do
  [ -n "${med[$k]:-}" ] || continue
  printf '%-16s %10s %8s\n' "$k" "${med[$k]}" "$(echo "scale=2; ${med[$k]} / $base" | bc)"
done
