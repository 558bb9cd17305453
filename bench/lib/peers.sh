# Sourced by bench/run-all.sh: installs the peers, gives each a private store under $W, loads the
# one busybox base image (built by imgbuild, exported as OCI + docker-archive) into each, and empties
# each store back to "base only" between cold runs. See docs/PEERS.md for why each flag.
# Expects: W (work dir), IB (imgbuild binary).

PEER_PKGS="buildah podman skopeo umoci crun runc busybox-static hyperfine docker.io jq zstd python3 bc"

# declare -A SKIP[tool]=reason is filled in by the checks below.
declare -gA SKIP=()

install_peers() {
    local missing=()
    for p in $PEER_PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    if ((${#missing[@]})); then
        echo "installing: ${missing[*]}" >&2
        apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
            echo "warning: apt-get install ${missing[*]} failed; tools that are missing are skipped" >&2
    fi
}

# Private containers-storage + containers.conf per tool (podman and buildah get separate stores, so
# one tool's layer cache never serves the other).
write_containers_conf() {  # $1 = tool name
    local d="$W/$1"
    mkdir -p "$d/graph" "$d/run" "$d/tmp"
    cat >"$d/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$d/graph"
runroot = "$d/run"
EOF
    cat >"$d/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
netns = "none"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
tmp_dir = "$d/tmp"
static_dir = "$d/graph/libpod"
volume_path = "$d/graph/volumes"
EOF
}
cs_env() {  # env assignments for tool $1
    echo "CONTAINERS_STORAGE_CONF=$W/$1/storage.conf CONTAINERS_CONF=$W/$1/containers.conf TMPDIR=$W/$1/tmp"
}
# Run a containers tool with its private config: cs podman ARGS...
cs() { local t=$1; shift; env $(cs_env "$t") "$t" "$@"; }

# ---- docker: a private dockerd (own data root, exec root, socket; no iptables, no bridge) ----
DOCKERD_PID=
DOCKER=/usr/bin/docker  # Debian's 20.10 CLI has BuildKit built in (a newer CLI on PATH may lack buildx)
start_dockerd() {
    [ -x /usr/sbin/dockerd ] && [ -x "$DOCKER" ] || { SKIP[docker]="docker.io (dockerd, /usr/bin/docker) not installed"; return; }
    mkdir -p "$W/docker/data" "$W/docker/exec" "$W/docker/tmp"
    # TMPDIR: containerd writes a stack dump there when dockerd restarts it (missed health checks)
    TMPDIR="$W/docker/tmp" /usr/sbin/dockerd --data-root "$W/docker/data" --exec-root "$W/docker/exec" -H "unix://$W/docker/sock" \
        --pidfile "$W/docker/pid" --storage-driver=overlay2 --iptables=false --ip6tables=false --ip-forward=false \
        --ip-masq=false --bridge=none --userland-proxy=false >"$W/docker/log" 2>&1 &
    DOCKERD_PID=$!
    for _ in $(seq 100); do
        dk info >/dev/null 2>&1 && return
        kill -0 "$DOCKERD_PID" 2>/dev/null || break
        sleep 0.2
    done
    SKIP[docker]="dockerd did not start: $(tail -1 "$W/docker/log")"
    stop_dockerd
}
stop_dockerd() {
    [ -n "$DOCKERD_PID" ] || return 0
    kill "$DOCKERD_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$DOCKERD_PID" 2>/dev/null || true
    wait "$DOCKERD_PID" 2>/dev/null || true
    DOCKERD_PID=
}
dk() { DOCKER_BUILDKIT=1 "$DOCKER" -H "unix://$W/docker/sock" "$@"; }

# ---- the one base image ----
# imgbuild builds busybox FROM scratch (testdata/busybox), then exports it as an OCI layout and a
# docker-archive; every other tool loads those.
make_base() {
    local ctx="$W/base-ctx"
    mkdir -p "$ctx"
    cp testdata/busybox/Buildfile testdata/busybox/passwd testdata/busybox/group "$ctx"/
    cp /bin/busybox "$ctx"/busybox
    "$IB" --root "$W/base-store" build --progress quiet -t busybox:latest "$ctx" >/dev/null
    "$IB" --root "$W/base-store" export busybox:latest --format oci -o "$W/base-oci" >/dev/null
    "$IB" --root "$W/base-store" export busybox:latest --format docker -o "$W/base.tar" >/dev/null
}

# Reset each tool's store to "only the base image" (the cold-run state), with the tool's own CLI.
reset_imgbuild() {
    rm -rf "$W/ib-root"
    "$IB" --root "$W/ib-root" import "$W/base-oci" --tag busybox:latest >/dev/null
}
reset_cs() {  # podman | buildah
    local t=$1
    if [ "$t" = buildah ]; then cs buildah rm -a >/dev/null 2>&1 || true; else cs podman rm -af >/dev/null 2>&1 || true; fi
    cs "$t" rmi -af >/dev/null 2>&1 || true
    env $(cs_env "$t") skopeo --insecure-policy copy -q "oci:$W/base-oci:latest" \
        containers-storage:localhost/busybox:latest >/dev/null
}
reset_docker() {
    dk image prune -af >/dev/null
    dk builder prune -af >/dev/null
    dk load -q -i "$W/base.tar" >/dev/null
}
# Ends with sync (outside the timing): the next timed cold run must not pay for writing back
# what the reset deleted and loaded (on this VM that was 1.6-4.3 s for the same 20,000-file build).
reset_tool() {
    case $1 in podman | buildah) reset_cs "$1" ;; *) "reset_$1" ;; esac
    sync
}

# Tear down the containers stores with their own CLI (unmounts their overlays), then delete.
cleanup_cs() {
    local t
    for t in podman buildah; do
        [ -f "$W/$t/storage.conf" ] || continue
        if [ "$t" = buildah ]; then cs buildah rm -a >/dev/null 2>&1 || true; else cs podman rm -af >/dev/null 2>&1 || true; fi
        cs "$t" rmi -af >/dev/null 2>&1 || true
    done
    # Anything still mounted under the work dir (overlay layers, shm) is unmounted, deepest first.
    { grep -F " $W/" /proc/self/mountinfo || true; } | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

check_tools() {
    command -v hyperfine >/dev/null || { echo "hyperfine is required" >&2; exit 1; }
    for t in podman buildah; do command -v "$t" >/dev/null || SKIP[$t]="$t not installed"; done
    command -v skopeo >/dev/null || { SKIP[podman]="skopeo missing (base image load)"; SKIP[buildah]="${SKIP[podman]}"; }
    command -v runc >/dev/null || SKIP[runc]="runc not installed"
    command -v crun >/dev/null || SKIP[crun]="crun not installed"
    command -v umoci >/dev/null || { SKIP[runc]="umoci missing (bundle)"; SKIP[crun]="umoci missing (bundle)"; }
}
