"""Where the bulk import's processes wait: the parent and each worker, in one import.

    python bench/import_waits.py bench/out/real-10k.zip HOME [INDEX_EVERY]

Runs ``app.bulk.bulk_import`` into a fresh data home HOME (removed first) with the pipe calls
timed in every process (``Connection.send``, ``recv``, ``poll``; the parent's blocking
``wait`` and its ``_store``), and prints, per process, the seconds in each beside its wall
and CPU time.  A worker's ``send`` time is time it could not parse: its result message
(~1 MB for a task of 32 real-text studies) waits for the parent to read it; ``poll`` is
time it waited for a task.  On an otherwise idle 2-core machine such waits are a core left
idle; on a loaded one the figures also hold the time a process waited for the CPU, so
compare codes in the same spell, alternately.  The timers themselves cost a few µs a call.
"""

from __future__ import annotations

import argparse
import glob
import json
import multiprocessing.connection as mc
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from trialscope.app import bulk
from trialscope.store.db import Store
from trialscope.store.home import DataHome

acc: dict[str, float] = {}


def _timed(name: str, fn: Any) -> Any:
    def timed(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            acc[name] = acc.get(name, 0.0) + time.perf_counter() - t
    return timed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("zip", type=Path)
    ap.add_argument("home", type=Path, help="data home to build (removed first)")
    ap.add_argument("index_every", type=int, nargs="?", default=bulk.INDEX_EVERY)
    args = ap.parse_args()
    zip_path, home, every = args.zip, args.home, args.index_every
    out = Path(tempfile.mkdtemp(prefix="import-waits-"))
    mc.Connection.send = _timed("send", mc.Connection.send)  # type: ignore[method-assign]
    mc.Connection.recv = _timed("recv", mc.Connection.recv)  # type: ignore[method-assign]
    mc.Connection.poll = _timed("poll", mc.Connection.poll)  # type: ignore[method-assign]
    bulk.wait = _timed("wait", bulk.wait)  # type: ignore[attr-defined]
    bulk._store = _timed("store", bulk._store)  # type: ignore[attr-defined]
    worker = bulk._worker

    def timed_worker(*args: Any, **kwargs: Any) -> None:
        acc.clear()
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            worker(*args, **kwargs)
        finally:
            acc["wall"], acc["cpu"] = time.perf_counter() - t0, time.process_time() - c0
            (out / f"worker-{os.getpid()}.json").write_text(json.dumps(acc))

    bulk._worker = timed_worker  # type: ignore[attr-defined]
    shutil.rmtree(home, ignore_errors=True)
    h = DataHome(home)
    t0, c0 = time.perf_counter(), time.process_time()
    with Store(h.store_path) as store:
        bulk.bulk_import(store, h.index_dir, [zip_path], index_every=every)
    acc["wall"], acc["cpu"] = time.perf_counter() - t0, time.process_time() - c0
    print("parent", {k: round(v, 2) for k, v in acc.items()})
    for f in sorted(glob.glob(str(out / "worker-*.json"))):
        print(Path(f).stem, {k: round(v, 2) for k, v in json.loads(Path(f).read_text()).items()})
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
