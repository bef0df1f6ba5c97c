"""An incremental refresh of 1% changed studies against a full rebuild of the index.

    python bench/refresh_bench.py --home DIR --zip bench/out/studies-10k.zip [--share 0.01]
                                  [--full-download]

``DIR`` is a data home holding the zip's studies (``bench/import_bench.py --keep``).  A copy
of it is refreshed, so ``DIR`` itself is left as it was.  Timed, each in this process:

- **incremental**: the changed studies alone (what ``trials refresh`` fetches: ClinicalTrials.gov
  lists ~1,000 changed studies a weekday) imported with ``trials import`` -> store + index;
- **incremental, whole download** (``--full-download``): a new copy of the whole zip in which
  that share changed; unchanged studies are skipped by content hash;
- **full rebuild**: ``trials reindex`` (a new index from every stored record, written by
  ``FastSegmentWriter`` in one process).

A changed study gets a new status, a new last-update date and one more summary sentence.
Wall and CPU time (this process and its children) are both printed.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import tempfile
import time
import zipfile
from pathlib import Path

from trialscope.app import service
from trialscope.index import indexer
from trialscope.store.db import Store
from trialscope.store.home import DataHome


def _cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + ch.ru_utime + ch.ru_stime


def _change(raw: bytes, k: int) -> bytes:
    study = json.loads(raw)
    ps = study["protocolSection"]
    ps["statusModule"]["overallStatus"] = ("ACTIVE_NOT_RECRUITING" if k % 2 else "COMPLETED")
    ps["statusModule"]["lastUpdatePostDateStruct"] = {"date": "2026-01-15", "type": "ACTUAL"}
    desc = ps.setdefault("descriptionModule", {})
    desc["briefSummary"] = (desc.get("briefSummary") or "") + " Enrolment was extended."
    return json.dumps(study, indent=2, ensure_ascii=False).encode("utf-8")


def write_zips(src: Path, out_dir: Path, share: float, full: bool, seed: int
               ) -> tuple[Path, Path | None, int]:
    with zipfile.ZipFile(src) as zf:
        names = [n for n in zf.namelist() if n.endswith(".json")]
        chosen = set(random.Random(seed).sample(names, max(1, int(len(names) * share))))
        changed = out_dir / "changed.zip"
        with zipfile.ZipFile(changed, "w", zipfile.ZIP_DEFLATED) as out:
            for k, name in enumerate(sorted(chosen)):
                out.writestr(name, _change(zf.read(name), k))
        whole = None
        if full:
            whole = out_dir / "whole-download.zip"
            with zipfile.ZipFile(whole, "w", zipfile.ZIP_DEFLATED) as out:
                for k, name in enumerate(sorted(names)):
                    data = zf.read(name)
                    out.writestr(name, _change(data, k) if name in chosen else data)
    return changed, whole, len(chosen)


def timed(fn) -> tuple[float, float, object]:
    c, t = _cpu(), time.perf_counter()
    value = fn()
    return time.perf_counter() - t, _cpu() - c, value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--zip", type=Path, required=True, help="the zip DIR was built from")
    ap.add_argument("--share", type=float, default=0.01)
    ap.add_argument("--full-download", action="store_true")
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="trials-refresh-bench-"))
    try:
        home = DataHome(work / "home")
        shutil.copytree(args.home, home.root,
                        ignore=shutil.ignore_patterns("fts5-baseline.sqlite*"))
        with Store(home.store_path) as store:
            n = store.counts()["trials"]
        changed, whole, k = write_zips(args.zip, work, args.share, args.full_download,
                                       args.seed)
        rows = []
        wall, cpu, s = timed(lambda: service.import_paths(home, [changed]))
        assert s.changed == k and s.indexed == k, s  # type: ignore[attr-defined]
        rows.append((f"incremental: {k} changed studies", wall, cpu))
        if whole is not None:
            # Undo nothing: the same studies change again (new status parity), so the
            # content differs from what the first refresh stored.
            shutil.rmtree(home.root)
            shutil.copytree(args.home, home.root,
                            ignore=shutil.ignore_patterns("fts5-baseline.sqlite*"))
            wall, cpu, s = timed(lambda: service.import_paths(home, [whole]))
            assert s.changed == k and s.unchanged == n - k, s  # type: ignore[attr-defined]
            rows.append((f"incremental: whole download, {k} changed", wall, cpu))
        with Store(home.store_path) as store:
            wall, cpu, count = timed(lambda: indexer.rebuild_index(store, home.index_dir,
                                                                   procs=2))
        rows.append((f"full rebuild of the index ({count} records)", wall, cpu))
        full_wall, full_cpu = rows[-1][1], rows[-1][2]
        print(f"refresh benchmark: {n} stored trials, {args.share:.0%} changed")
        print(f"  {'':48} {'wall s':>8} {'cpu s':>8} {'% of rebuild (wall/cpu)':>24}")
        for name, wall, cpu in rows:
            print(f"  {name:48} {wall:8.1f} {cpu:8.1f} "
                  f"{wall / full_wall:11.1%} / {cpu / full_cpu:.1%}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
