"""Import + index throughput of a bulk zip, index size per record, peak memory.

    python bench/import_bench.py bench/out/real-10k.zip [--home DIR] [--keep]

The headline corpus is real text (``bench/real_corpus.py``); ``gen_studies.py``'s word salad is
the second data set.

Runs ``index.bulk.bulk_import`` (what ``trials import x.zip`` runs) in a child process into a
fresh data home, samples the resident memory of the whole process tree (the importer, its
workers, which parse and index; proportional set size, so pages shared by forked
processes count once) every 0.5 s, and prints wall time, CPU time, records/s,
the whole-registry (600,000 studies) estimate, store and index size per record.

CPU time is reported beside wall time because other work on the machine slows the wall clock:
"2-core idle" is the CPU time spread over both cores, which the pipeline keeps busy (two
workers parse and index into segments of their own while the parent writes SQLite).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REGISTRY = 600_000
SAMPLE_EVERY = 0.5  # seconds between memory samples (the peak lasts a batch flush: many seconds)


def _tree(root: int) -> tuple[int, float]:
    """Memory (proportional set size, kB) and CPU seconds so far of ``root`` and its
    descendants.  The tree comes from every process's ``stat`` (cheap); only its own members'
    ``smaps_rollup`` are read, which walks their page tables: reading it for every process on
    the machine, five times a second, cost this monitor 7% of a core beside the import it
    measures."""
    children: dict[int, list[int]] = {}
    cpu_of: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        # utime + stime + the reaped children's cutime + cstime
        cpu_of[int(entry)] = sum(int(x) for x in fields[11:15]) / tick
    pss, cpu, stack = 0, 0.0, [root]
    while stack:
        pid = stack.pop()
        cpu += cpu_of.get(pid, 0.0)
        stack.extend(children.get(pid, []))
        # Pss, not Rss: forked processes share pages, and Rss would count them twice.
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                pss += next((int(line.split()[1]) for line in f if line.startswith("Pss:")), 0)
        except (OSError, ValueError, IndexError):
            continue
    return pss, cpu


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def child(zip_path: str, home: str) -> None:
    from trialscope.app.bulk import bulk_import
    from trialscope.store.db import Store
    from trialscope.store.home import DataHome

    h = DataHome(Path(home))
    last = [0.0]

    def progress(p) -> None:  # a line every 30 s on stderr: long runs can be followed
        if p.elapsed - last[0] >= 30:
            last[0] = p.elapsed
            print(f"  [{p.elapsed:6.0f} s] {p.done} read, {p.indexed} indexed, {p.phase}, "
                  f"{p.rate:.0f} rec/s", file=sys.stderr, flush=True)

    with Store(h.store_path) as store:
        r = bulk_import(store, h.index_dir, [Path(zip_path)], on_progress=progress)
    print(json.dumps({"members": r.files, "new": r.new, "unchanged": r.unchanged,
                      "failed": len(r.failures), "indexed": r.indexed, "seconds": r.seconds,
                      "index_seconds": r.index_seconds}))


def run(zip_path: Path, home: Path) -> dict[str, float]:
    load_before = os.getloadavg()[0]
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(zip_path), str(home)],
                            stdout=subprocess.PIPE, text=True)
    peak, last = 0, 0.0
    while proc.poll() is None:
        rss, cpu = _tree(proc.pid)
        peak = max(peak, rss)
        if time.perf_counter() - last >= 30:
            last = time.perf_counter()
            print(f"  [{last - t0:6.0f} s] tree: {rss / 1024:.0f} MB, cpu {cpu:.0f} s, "
                  f"load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
        time.sleep(SAMPLE_EVERY)
    wall = time.perf_counter() - t0
    out = json.loads(proc.stdout.read().strip().splitlines()[-1])  # type: ignore[union-attr]
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    n = max(out["members"], 1)
    return {**out, "wall": wall, "cpu": cpu, "peak_mb": peak / 1024,
            "load_before": load_before, "load_after": os.getloadavg()[0],
            "index_bytes": _du(home / "index"), "store_bytes": _du(home) - _du(home / "index"),
            "n": n}


def report(zip_path: Path, r: dict[str, float]) -> str:
    n = r["n"]
    cores = 2
    with zipfile.ZipFile(zip_path) as zf:
        mean_kb = sum(i.file_size for i in zf.infolist()) / max(len(zf.infolist()), 1) / 1000
    idle_rate = n / (r["cpu"] / cores)
    lines = [
        f"import + index of {zip_path.name}: {int(n)} studies "
        f"({r['new']} new, {r['unchanged']} unchanged, {r['failed']} failed, "
        f"{r['indexed']} indexed; {mean_kb:.1f} kB of JSON a study)",
        f"  wall            {r['wall']:8.1f} s   {n / r['wall']:7.1f} rec/s   "
        f"(index phases {r['index_seconds']:.0f} s; load avg {r['load_before']:.1f} -> "
        f"{r['load_after']:.1f})",
        f"  cpu             {r['cpu']:8.1f} s   {r['cpu'] / n * 1000:7.1f} ms/rec   "
        f"2-core idle: {idle_rate:.0f} rec/s",
        f"  600k estimate   {REGISTRY / (n / r['wall']) / 60:8.0f} min at this wall rate, "
        f"{REGISTRY / idle_rate / 60:.0f} min on an idle 2-core machine",
        f"  peak memory     {r['peak_mb']:8.0f} MB (whole process tree, sum of PSS)",
        f"  index size      {r['index_bytes'] / n / 1000:8.1f} kB/rec   "
        f"({r['index_bytes'] / 1e6:.0f} MB)",
        f"  store size      {r['store_bytes'] / n / 1000:8.1f} kB/rec   "
        f"({r['store_bytes'] / 1e6:.0f} MB, raw payloads included)",
    ]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("zip", type=Path)
    ap.add_argument("--home", type=Path, help="data home to build (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the data home afterwards")
    args = ap.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="trials-import-bench-"))
    if home.exists():
        shutil.rmtree(home)
    try:
        print(report(args.zip, run(args.zip, home)))
    finally:
        if args.keep:
            print(f"  data home kept: {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
