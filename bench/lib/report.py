#!/usr/bin/env python3
"""Turns bench/run-all.sh's measurements into the markdown of bench/RESULTS.md (on stdout)."""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess

PEERS = ["docker", "buildah", "podman"]
# (case, variant): (what is compared, required ratio fastest-peer/imgbuild)
SPEED_TARGETS = {  # issue 15's targets: imgbuild at least this many times faster than the fastest peer
    ("small", "cold"): 3.0,
    ("small", "cached"): 10.0,
    ("small", "edit"): 5.0,
    ("many-files", "cold"): 3.0,
    ("many-files", "cached"): 10.0,
}
LABELS = {
    ("small", "cold"): "small: cold",
    ("small", "cached"): "small: fully cached",
    ("small", "edit"): "small: one COPYed file edited",
    ("many-files", "cold"): "many-files: cold",
    ("many-files", "cached"): "many-files: cached",
    ("big-layer", "cold"): "big-layer: cold",
    ("multistage", "cold"): "multistage (3× sleep 2): cold",
    ("run", "true"): "run `true`",
}


def fmt(x):
    if x is None:
        return "—"
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def load(path):
    rows = {}
    order = []
    with open(path) as f:
        for line in f:
            c, v, t, mn, md, n, note = (line.rstrip("\n").split("\t") + [""] * 7)[:7]
            key = (c, v)
            if key not in rows:
                rows[key] = {}
                order.append(key)
            rows[key][t] = {
                "min": float(mn) if mn else None,
                "median": float(md) if md else None,
                "runs": int(n or 0),
                "note": note,
            }
    return rows, order


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results")
    ap.add_argument("--phys")
    ap.add_argument("--bench-run")
    ap.add_argument("--meta-dir")
    ap.add_argument("--quick", type=int, default=0)
    ap.add_argument("--nfiles", type=int)
    ap.add_argument("--mib", type=int)
    ap.add_argument("--imgbuild")
    a = ap.parse_args()
    rows, order = load(a.results)
    phys = {}
    with open(a.phys) as f:
        for line in f:
            k, mn, md, mib = line.rstrip("\n").split("\t")
            phys[k] = (float(mn), float(md), int(mib))

    out = []
    p = out.append
    ver = lambda cmd: (subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip().splitlines() or ["?"])[0]
    p("# imgbuild benchmarks vs docker (BuildKit), buildah, podman, runc/crun\n")
    p(f"Measured {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')} on {platform.node()} "
      f"({os.cpu_count()} cores, kernel {platform.release()}) by `bench/run-all.sh{' --quick' if a.quick else ''}`. "
      f"Seconds; hyperfine min / median over the runs shown. many-files context: {a.nfiles} files; "
      f"big layer: {a.mib} MiB.\n")
    p(f"Tools: {ver('/usr/bin/docker --version')}; {ver('buildah --version')}; "
      f"{ver('podman --version')}; {ver('runc --version')}; {ver('crun --version')}.\n")
    p("Cold runs: before each run the tool's store is emptied with its own CLI and the busybox base image "
      "(built FROM scratch by imgbuild, exported as OCI / docker-archive) is loaded again — imgbuild: a fresh "
      "`--root` store with the base imported (`--no-cache` is not used); podman/buildah: `rmi -af` in a private "
      "overlay store, then `skopeo copy` of the base; docker: `image prune -af`, `builder prune -af`, `docker load`. "
      "Cached runs: a warm-up build, then identical rebuilds. Edit: one of the 10 COPYed files gets a line "
      "appended before each run.\n")

    # Summary with targets.
    p("## Summary against the targets\n")
    p("| case | imgbuild median | fastest peer (median) | ratio peer/imgbuild | target | verdict |")
    p("|---|---|---|---|---|---|")
    for key in order:
        r = rows[key]
        ib = r.get("imgbuild", {}).get("median")
        if key == ("run", "true"):
            continue
        peers = [(r[t]["median"], t) for t in PEERS if t in r and r[t]["median"] is not None]
        best = min(peers) if peers else None
        ratio = best[0] / ib if best and ib else None
        tgt, verdict = "", ""
        if key in SPEED_TARGETS:
            tgt = f"≥ {SPEED_TARGETS[key]:g}×"
            verdict = "—" if ratio is None else ("met" if ratio >= SPEED_TARGETS[key] else "**missed**")
        elif key == ("multistage", "cold"):
            tgt = "≤ 1.1 × 2 s = 2.2 s"
            verdict = "—" if ib is None else ("met" if ib <= 2.2 else f"**missed** ({ib / 2:.2f}× the longest stage)")
        elif key == ("big-layer", "cold") and "dd-nofsync" in phys:
            dd = phys["dd-nofsync"][1]
            tgt = f"≤ 1.3 × dd ({fmt(dd)} s) = {fmt(1.3 * dd)} s"
            verdict = "—" if ib is None else ("met" if ib <= 1.3 * dd else f"**missed** ({ib / dd:.2f}× dd)")
        best_s = f"{best[1]} {fmt(best[0])}" if best else "—"
        p(f"| {LABELS.get(key, key)} | {fmt(ib)} | {best_s} | {fmt(ratio) + '×' if ratio else '—'} | {tgt} | {verdict} |")
        j3 = r.get("imgbuild --jobs 3", {}).get("median")
        if key == ("multistage", "cold") and j3:
            v = "met" if j3 <= 2.2 else f"**missed** ({j3 / 2:.2f}× the longest stage)"
            p(f"| {LABELS[key]}, imgbuild `--jobs 3` | {fmt(j3)} | {best_s} | {fmt(best[0] / j3) + '×' if best else '—'} | {tgt} | {v} |")
    if ("run", "true") in rows:
        r = rows[("run", "true")]
        ib = r.get("imgbuild", {}).get("median")
        ref = next((t for t in ("crun", "runc") if r.get(t, {}).get("median")), None)
        if ref and ib:
            rv = r[ref]["median"]
            v = "met" if ib <= rv else f"**missed** ({ib / rv:.2f}× {ref})"
            p(f"| run `true` | {fmt(ib)} | {ref} {fmt(rv)} | {fmt(rv / ib)}× | ≤ crun | {v} |")
    p("")
    big = rows.get(("big-layer", "cold"), {}).get("imgbuild", {}).get("median")
    if big and "dd-nofsync" in phys and "openssl-sha256" in phys:
        dd, sha = phys["dd-nofsync"][1], phys["openssl-sha256"][1]
        floor = dd + sha
        p(f"big-layer's floor while the image's diff_ids are computed at build time (the printed image "
          f"digest, `-t` and `--iidfile` need the config, which names every layer's sha256): the RUN's dd "
          f"({fmt(dd)} s) + one SHA-256 pass over the layer ({fmt(sha)} s) = {fmt(floor)} s = "
          f"{floor / dd:.2f}× dd; imgbuild's median is {fmt(big)} s, {fmt(big - floor)} s above that floor.\n")

    interleaved(a.meta_dir, p)

    # Full table.
    p("## All measurements\n")
    p("| case | tool | runs | min | median | peer/imgbuild (median) | note |")
    p("|---|---|---|---|---|---|---|")
    for key in order:
        r = rows[key]
        ib = r.get("imgbuild", {}).get("median")
        for t, m in r.items():
            ratio = f"{m['median'] / ib:.2f}×" if ib and m["median"] and t != "imgbuild" else ""
            p(f"| {LABELS.get(key, key)} | {t} | {m['runs']} | {fmt(m['min'])} | {fmt(m['median'])} | {ratio} | {m['note']} |")
    p("")

    # Physical references.
    p("## Physical references (same machine, same run)\n")
    p("| reference | min | median | throughput (median) |")
    p("|---|---|---|---|")
    names = {
        "dd": "dd 512 MiB urandom → file, conv=fsync",
        "dd-nofsync": "dd urandom → file (the RUN's own work)",
        "sha256sum": "sha256sum of the data",
        "openssl-sha256": "SHA-256 of the data with OpenSSL (imgbuild's hash code)",
        "zstd-T0": "zstd -T0 (level 3) of the data",
        "gzip-1": "gzip -1 of the data",
        "clone-execve": "clone(NEWNS|NEWPID|NEWUTS|NEWIPC|NEWNET)+execve static true",
    }
    for k, (mn, md, mib) in phys.items():
        thr = f"{mib / md:.0f} MiB/s" if mib and md else ""
        label = names.get(k, k).replace("512", str(mib)) if mib else names.get(k, k)
        p(f"| {label} | {fmt(mn)} s | {fmt(md)} s | {thr} |")
    p("")

    # imgbuild's own per-step times.
    p("## Where imgbuild's time goes (one cold build each, `--metadata-file` step durations)\n")
    for case in ["small", "many-files", "big-layer", "multistage"]:
        runs = []
        for i in (1, 2, 3):
            try:
                runs.append(json.load(open(os.path.join(a.meta_dir, f"meta-{case}.{i}.json"))).get("steps", []))
            except (OSError, ValueError):
                pass
        if not runs:
            continue
        parts = []
        for idx, s in enumerate(runs[0]):
            ds = [r[idx].get("duration_ms", 0) for r in runs if idx < len(r)]
            size = s.get("layer_size", 0)
            parts.append(f"`{s.get('instruction', '?')[:60]}` {statistics.median(ds):.0f} ms"
                         + (f" (layer {size / 1048576:.1f} MiB)" if size > 1048576 else ""))
        p(f"**{case}** (median of {len(runs)}): " + "; ".join(parts) + "\n")
        slow = slowest_step_phases(a.meta_dir, case)
        if slow:
            p(f"  slowest step `{slow[0][:60]}` by phase (median ms of {slow[2]}): "
              + ", ".join(f"{k} {v:.1f}" for k, v in slow[1]) + "\n")

    load_tsv = os.path.join(a.meta_dir, "load.tsv")
    if os.path.exists(load_tsv):
        rows_l = [l.rstrip("\n").split("\t") for l in open(load_tsv) if l.strip()]
        busy = [r for r in rows_l if len(r) == 5 and max(float(r[3] or 0), float(r[4] or 0)) > 1.0]
        p("## Load average (1 min) before / after each measurement\n")
        p(f"{len(busy)} of {len(rows_l)} measurements ran with a load average above 1.0"
          + (" -- **the machine was busy; ratios within a case are what count**" if busy else " (idle machine)") + ".\n")
        p("| case | variant | tool | before | after |")
        p("|---|---|---|---|---|")
        for r in rows_l:
            if len(r) == 5:
                p("| " + " | ".join(r) + " |")
        p("")

    if a.bench_run and os.path.exists(a.bench_run):
        p("## bench/run/bench.sh (imgbuild run --rootfs and in-process runtime spawn, ms)\n")
        p("```")
        p(open(a.bench_run).read().rstrip())
        p("```\n")

    skipped = sorted({(t, m["note"]) for r in rows.values() for t, m in r.items() if m["note"]})
    if skipped:
        p("## Tools that could not run\n")
        for t, n in skipped:
            p(f"- {t}: {n}")
        p("")
    print("\n".join(out))


def interleaved(meta_dir, p):
    """The interleaved checks (run-all.sh's interleave): A and B alternately, same machine state."""
    checks = [  # file, label, A, B, target, the largest A/B within it
        ("run-true-crun", "run `true`: imgbuild vs crun", "imgbuild", "crun", "imgbuild ≤ crun", 1.0),
        ("big-layer-dd", "big-layer: imgbuild's cold build vs a host dd of the same size", "imgbuild", "dd",
         "imgbuild ≤ 1.3 × dd", 1.3),
    ]
    found = []
    for name, label, ta, tb, target, limit in checks:
        path = os.path.join(meta_dir, f"interleave-{name}.tsv")
        if not os.path.exists(path):
            continue
        pairs = []
        for line in open(path):
            f = line.rstrip("\n").split("\t")
            if len(f) == 3 and "fail" not in f[1:] and f[1] and f[2]:
                pairs.append((float(f[1]), float(f[2])))
        if pairs:
            found.append((label, ta, tb, target, limit, pairs))
    if not found:
        return
    p("## Interleaved checks (the two commands alternately, each pair under the same machine state)\n")
    p("| check | pairs | A median | B median | median of per-pair A/B | target | verdict |")
    p("|---|---|---|---|---|---|---|")
    for label, ta, tb, target, limit, pairs in found:
        ma, mb = statistics.median(x for x, _ in pairs), statistics.median(y for _, y in pairs)
        r = statistics.median(x / y for x, y in pairs)
        wins = sum(1 for x, y in pairs if x <= limit * y)
        verdict = ("met" if r <= limit else "**missed**") + f" ({wins} of {len(pairs)} pairs within)"
        p(f"| {label} | {len(pairs)} | {ta} {fmt(ma)} | {tb} {fmt(mb)} | {r:.2f} | {target} | {verdict} |")
    p("")


def slowest_step_phases(meta_dir, case):
    """From the --progress json logs of the cold step_times builds: the slowest step (by its
    median duration) and the median of each of its phases."""
    per_step = {}  # name -> list of (duration_ms, {phase: ms})
    n = 0
    for i in (1, 2, 3):
        path = os.path.join(meta_dir, f"progress-{case}.{i}.jsonl")
        if not os.path.exists(path):
            continue
        n += 1
        names, dur, ph = {}, {}, {}
        for line in open(path):
            try:
                e = json.loads(line)
            except ValueError:
                continue
            ev, sid = e.get("event"), e.get("step")
            if ev == "start":
                names[sid] = e.get("name", "?")
            elif ev == "done":
                dur[sid] = e.get("duration_ms", 0)
            elif ev == "phases":
                ph[sid] = {x["phase"]: x["ms"] for x in e.get("phases", [])}
        for sid, d in dur.items():
            per_step.setdefault(names.get(sid, "?"), []).append((d, ph.get(sid, {})))
    if not per_step:
        return None
    name, samples = max(per_step.items(), key=lambda kv: statistics.median(d for d, _ in kv[1]))
    order = []
    for _, ph in samples:
        for k in ph:
            if k not in order:
                order.append(k)
    med = [(k, statistics.median(ph.get(k, 0.0) for _, ph in samples)) for k in order]
    return name, med, n


if __name__ == "__main__":
    main()
