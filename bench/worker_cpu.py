"""CPU time of one bulk-import worker's work a study, in one process (no pipes, no parent).

    python bench/worker_cpu.py bench/out/real-10k.zip [N] [WARM] [--profile OUT.prof]

Runs ``app.bulk._Parser.run`` (read, hash, parse, record JSON, link keys, add to the index
segment) on WARM members of the zip untimed, then on the next N timed, then finishes the
segment (the flush, timed), against a fresh data home in a temporary folder, with the
collector as a worker runs it (``bulk.worker_gc``, since 2026-12-08); prints the CPU
time (``time.process_time``) a study.  To compare two codes, run it with each (``git archive
REF | tar -x -C DIR`` and that tree's own environment) alternately, several times: on a
shared machine one run's figure moves by ±10%.  ``--profile`` writes a cProfile of the
timed part instead (whose overhead inflates Python-heavy code: read the shares).
"""

from __future__ import annotations

import argparse
import cProfile
import shutil
import tempfile
import time
from pathlib import Path

from trialscope.app import bulk
from trialscope.index import indexer
from trialscope.store.db import Store
from trialscope.store.home import DataHome


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("zip", type=Path)
    ap.add_argument("n", type=int, nargs="?", default=2000)
    ap.add_argument("warm", type=int, nargs="?", default=500)
    ap.add_argument("--profile", type=Path)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="worker-cpu-"))
    try:
        home = DataHome(tmp / "home")
        with Store(home.store_path) as store:
            indexer.sync_index(store, home.index_dir)
        src = bulk.sources_for([args.zip])[0]
        assert src.places is not None, "a zip"
        bulk.worker_gc()  # the collector as a worker runs it
        parser = bulk._Parser(str(home.store_path), str(home.index_dir), None)
        container = str(src.path)
        for k in range(args.warm):
            parser.run(container, src.names[k], True, src.places.at(k))

        def work() -> None:
            for k in range(args.warm, args.warm + args.n):
                parser.run(container, src.names[k], True, src.places.at(k))
            parser.finish()

        c0 = time.process_time()
        if args.profile:
            prof = cProfile.Profile()
            prof.runcall(work)
            prof.dump_stats(str(args.profile))
        else:
            work()
        cpu = time.process_time() - c0
        print(f"{args.n} studies after {args.warm}: {cpu:.2f} s CPU, "
              f"{cpu / args.n * 1000:.3f} ms a study")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
