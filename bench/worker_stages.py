"""A bulk-import worker's CPU a study, step by step, in one process (no pipes, no parent).

    python bench/worker_stages.py bench/out/real-10k.zip [N] [WARM]

Calls the steps of ``app.bulk._Parser`` for one API study in turn (``json.loads``, content
hash, ``parse_study``, record JSON, link row, ``record_to_doc``, ``add_document``) on WARM
members of the zip untimed, then on the next N, then flushes the segment; each step timed
with ``time.process_time`` (unprofiled), and inside ``parse_study`` the thresholds extractor,
the cell-therapy extractor and ``split_criteria``.  The collector as a worker runs it
(``bulk.worker_gc``; ``NOGC=1`` turns it off instead).  Prints ms a study per step.  The
segment holds WARM + N documents, so the flush figure is that segment's.
To compare two codes, run each tree's copy alternately (``git archive REF | tar -x -C DIR``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from trialscope.app import bulk
from trialscope.extract import enrich as enrich_mod
from trialscope.index import indexer
from trialscope.index import schema as schema_mod
from trialscope.index.engine.fastwriter import FastSegmentWriter
from trialscope.parser import ctgov
from trialscope.store.db import Store
from trialscope.store.home import DataHome

INNER: dict[str, float] = {}


def _timed(module: Any, name: str, key: str) -> None:
    f = getattr(module, name)

    def wrapper(*a: Any, **k: Any) -> Any:
        t = time.process_time()
        r = f(*a, **k)
        INNER[key] = INNER.get(key, 0.0) + time.process_time() - t
        return r

    setattr(module, name, wrapper)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("zip", type=Path)
    ap.add_argument("n", type=int, nargs="?", default=3000)
    ap.add_argument("warm", type=int, nargs="?", default=1000)
    args = ap.parse_args()
    zpath, n, warm = args.zip, args.n, args.warm
    bulk.worker_gc()
    if os.environ.get("NOGC"):
        gc.disable()
    _timed(enrich_mod, "extract_thresholds", "thresholds")
    _timed(enrich_mod, "extract_cell_therapy", "cell therapy")
    _timed(ctgov, "split_criteria", "split_criteria")
    with zipfile.ZipFile(zpath) as zf:
        texts = [zf.read(x).decode() for x in zf.namelist()[: n + warm]]
    tmp = Path(tempfile.mkdtemp(prefix="worker-stages-"))
    try:
        home = DataHome(tmp / "home")
        with Store(home.store_path) as store:
            indexer.sync_index(store, home.index_dir)
        writer = FastSegmentWriter(indexer.open_index(home.index_dir), _lk=False,
                                   compound=False)
        steps: dict[str, float] = {}
        pt = time.process_time
        c0 = pt()
        for i, text in enumerate(texts):
            if i == warm:
                INNER.clear()
                steps.clear()
                c0 = pt()
            t0 = pt()
            study = json.loads(text)
            t1 = pt()
            content_hash = ctgov.content_hash(study)
            t2 = pt()
            record = ctgov.parse_study(study, url=None)
            t3 = pt()
            bulk.record_json(record)
            t4 = pt()
            bulk._link_row(record, content_hash)
            t5 = pt()
            doc = schema_mod.record_to_doc(record, parsed=True)
            t6 = pt()
            writer.add_document(**doc)
            t7 = pt()
            for key, a, b in (("json.loads", t0, t1), ("content hash", t1, t2),
                              ("parse_study", t2, t3), ("record JSON", t3, t4),
                              ("link row", t4, t5), ("record_to_doc", t5, t6),
                              ("add_document", t6, t7)):
                steps[key] = steps.get(key, 0.0) + b - a
        t = pt()
        writer.finish_segment()
        steps["flush"] = pt() - t
        total = pt() - c0
        print(f"{n} studies after {warm}: {total / n * 1000:.3f} ms a study; "
              + ", ".join(f"{k} {v / n * 1000:.3f}" for k, v in steps.items())
              + "; in parse_study: "
              + ", ".join(f"{k} {v / n * 1000:.3f}" for k, v in INNER.items()))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
