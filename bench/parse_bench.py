"""Parse throughput against a ``json.loads``-only pass over the same studies.

    python bench/parse_bench.py bench/out/real-10k.zip [--limit 3000]

Headline corpus: real text (``bench/real_corpus.py``); ``gen_studies.py``'s word salad second.

Reads the members once into memory (so neither figure includes zip reading), then times, in
this one process:

- ``json.loads`` alone (the floor: what any importer must pay), and ``orjson.loads`` if it is
  installed;
- the bulk importer's per-study work: ``json.loads`` + ``ctgov.content_hash`` +
  ``ctgov.parse_study`` + the record's JSON for the store;
- each of those steps alone, so the ratio can be explained.

Figures are CPU time of this process (``time.process_time``), so other load on the machine
does not skew them; with N cores the importer's parse stage runs N of these in parallel.
"""

from __future__ import annotations

import argparse
import json
import time
import zipfile
from pathlib import Path


def _time(fn, items) -> float:
    t = time.process_time()
    for item in items:
        fn(item)
    return time.process_time() - t


def main() -> None:
    from trialscope.app.bulk import record_json
    from trialscope.parser import ctgov

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("zip", type=Path)
    ap.add_argument("--limit", type=int, default=3000, help="studies to time (default 3000)")
    args = ap.parse_args()
    with zipfile.ZipFile(args.zip) as zf:
        names = [n for n in zf.namelist() if n.endswith(".json")][: args.limit]
        raws = [zf.read(n) for n in names]
    n = len(raws)
    mb = sum(map(len, raws)) / 1e6
    studies = [json.loads(r) for r in raws]
    records = [ctgov.parse_study(s) for s in studies]

    rows: list[tuple[str, float]] = [("json.loads only", _time(json.loads, raws))]
    try:
        import orjson

        rows.append(("orjson.loads only", _time(orjson.loads, raws)))
    except ImportError:
        pass

    def full(raw: bytes) -> None:
        study = json.loads(raw)
        ctgov.content_hash(study)
        record_json(ctgov.parse_study(study))

    rows.append(("full parse (loads+hash+parse+record JSON)", _time(full, raws)))
    rows.append(("  of which content_hash", _time(ctgov.content_hash, studies)))
    rows.append(("  of which parse_study", _time(ctgov.parse_study, studies)))
    rows.append(("  of which record JSON", _time(record_json, records)))
    rows.append(("  (record.to_dict() JSON, the old way)",
                 _time(lambda r: json.dumps(r.to_dict(), ensure_ascii=False, sort_keys=True),
                       records)))
    base = rows[0][1]
    print(f"parse benchmark: {n} studies from {args.zip.name} ({mb / n * 1000:.1f} kB JSON "
          f"each), one process, CPU time")
    print(f"  {'step':45} {'rec/s':>9} {'ms/rec':>8} {'x loads':>8}")
    for name, secs in rows:
        print(f"  {name:45} {n / secs:9.0f} {secs / n * 1000:8.3f} {secs / base:8.1f}")


if __name__ == "__main__":
    main()
