"""Do two data homes hold the same thing?  For import changes that must not change output.

    python bench/compare_homes.py HOME_A HOME_B

Build both homes from the same zip (``import_bench.py ZIP --home HOME --keep`` with the old
code and the new).  Compared:

- **the store**: every table, row by row in primary-key order, every column but the times
  (``first_seen``, ``last_fetched``, ``fetched_at``, ``seen_at``, ...: the clock, not the
  import, sets them).  The compressed payloads and records are compared as bytes.
- **the index**: per trial (document numbers depend on which worker parsed a study, which
  depends on timing), every stored field, and every posting of every term of every field:
  its weight and its value (the positions), as Whoosh's own reader gives them.

Prints what differs (the first few of each kind) and exits 1, or says "identical" and exits 0.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

TIME_COLUMNS = ("first_seen", "last_fetched", "fetched_at", "seen_at", "started_at",
                "finished_at", "created_at", "updated_at", "checked_at")
SHOW = 5  # differences shown per kind


def store_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    out: dict[str, list[tuple[Any, ...]]] = {}
    tables = [r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
    for table in sorted(tables):
        info = db.execute(f"PRAGMA table_info({table})").fetchall()
        keep = [r[1] for r in info if r[1] not in TIME_COLUMNS]
        pk = [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5]] or keep
        out[table] = db.execute(f"SELECT {', '.join(keep)} FROM {table} "
                                f"ORDER BY {', '.join(pk)}").fetchall()
    db.close()
    return out


def index_content(index_dir: Path) -> tuple[dict[str, Any], dict[tuple[str, bytes], dict]]:
    """(trial id -> stored fields, (field, term) -> {trial id: (weight, value)})."""
    from whoosh import index

    ix = index.open_dir(str(index_dir))
    stored: dict[str, Any] = {}
    postings: dict[tuple[str, bytes], dict[str, Any]] = defaultdict(dict)
    with ix.searcher() as s:
        r = s.reader()
        trial = {}
        for docnum, fields in r.iter_docs():
            tid = fields["trial_id"]
            trial[docnum] = tid
            stored[tid] = sorted(fields.items())
        for fieldname in sorted(ix.schema.names()):
            if not ix.schema[fieldname].indexed:
                continue
            for term in r.lexicon(fieldname):
                m = r.postings(fieldname, term)
                while m.is_active():
                    d = m.id()
                    if d in trial:  # (a deleted document's postings stay until a merge)
                        postings[fieldname, term][trial[d]] = (m.weight(), m.value())
                    m.next()
    return stored, postings


def compare(a: Path, b: Path) -> list[str]:
    diffs: list[str] = []
    ra, rb = store_rows(_home(a).store_path), store_rows(_home(b).store_path)
    for table in sorted(set(ra) | set(rb)):
        x, y = ra.get(table, []), rb.get(table, [])
        if x != y:
            bad = [i for i, (p, q) in enumerate(zip(x, y)) if p != q][:SHOW]
            diffs.append(f"store table {table}: {len(x)} vs {len(y)} rows; rows differing "
                         f"(first {SHOW}): {bad}")
    print(f"store: {sum(len(v) for v in ra.values())} rows in {len(ra)} tables compared",
          file=sys.stderr)
    sa, pa = index_content(_home(a).index_dir)
    sb, pb = index_content(_home(b).index_dir)
    if sa != sb:
        bad = sorted(t for t in set(sa) | set(sb) if sa.get(t) != sb.get(t))
        diffs.append(f"index stored fields: {len(bad)} trials differ, e.g. {bad[:SHOW]}")
    if pa != pb:
        bad_terms = sorted(k for k in set(pa) | set(pb) if pa.get(k) != pb.get(k))
        diffs.append(f"index postings: {len(bad_terms)} terms differ, e.g. {bad_terms[:SHOW]}")
    print(f"index: {len(sa)} documents, {len(pa)} terms, "
          f"{sum(len(v) for v in pa.values())} postings compared", file=sys.stderr)
    return diffs


def _home(path: Path) -> Any:
    from trialscope.store.home import DataHome

    return DataHome(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    args = ap.parse_args()
    diffs = compare(args.a, args.b)
    for d in diffs:
        print(d)
    if diffs:
        sys.exit(1)
    print("identical")


if __name__ == "__main__":
    main()
