"""Search latency, p50 / p95, Whoosh (``index.search.search``) beside SQLite FTS5 (bm25).

    python bench/search_bench.py --home DIR [--queries 30] [--rounds 3]

``DIR`` is a data home built by ``bench/import_bench.py --keep`` (or ``trials import``); the
headline figures are on a home of the real-text corpus (``bench/real_corpus.py``), word salad
(``gen_studies.py``) second.  The last column is Whoosh's warm p95 over FTS5's, both measured in
this run (below 1: Whoosh is ahead).
FTS5 gets the same text: every default-searched text field of ``schema.record_to_doc`` as one
FTS5 column, ranked by ``bm25()`` with the same field weights (``schema.FIELD_BOOSTS``); it is
built once next to the store (``DIR/fts5-baseline.sqlite``) and its build time printed.

Five kinds of query, drawn from the indexed text itself (so they scale with the corpus):

- rare multi-term: 2-3 title words that each occur in 0.05%-1% of trials (any may match; more
  matched words rank higher, as in Whoosh's OR-with-coordination; FTS5: ``a OR b OR c``);
- common single term, limit 10: the most frequent words;
- phrase: two adjacent summary words, each in >=1% of trials, in quotes;
- status + phase filter: a frequent word with ``--status recruiting --phase phase2``;
- facets on: a frequent word with facet counts (Whoosh: ``facets=True`` when ``search`` has
  that argument; FTS5: GROUP BY status, phases, study type over the matches).

Whoosh is timed with a warm searcher (the index opened once and its searcher reused, which
``search()`` is made to use by handing it the open index) and, for reference, as the API runs
today (index and searcher opened per call: nothing a searcher keeps, such as the term table
and the scored long posting lists of ``index/engine/taat.py``, survives from one call to the next),
and as "Whoosh core": Whoosh's own collector on the same parsed query and filter
(``searcher.search(q, limit=10)``, stored fields of the hits, no total count, prior,
snippets or facets), which ``search()`` no longer uses for most queries.  The last column is
the warm runs' CPU time (``time.process_time``): on a shared machine the wall figures carry
the other processes' load, the CPU figures much less of it.  Each query runs
once to warm caches, then ``--rounds`` times; p50 / p95 are over all timed runs.  Cold CLI
processes (``trials show``, ``trials search``) are timed last, median and max of 5.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trialscope.index import search as search_mod
from trialscope.index.indexer import open_index
from trialscope.index.schema import FIELD_BOOSTS, record_to_doc
from trialscope.store.db import Store
from trialscope.store.home import DataHome

COLS = tuple(FIELD_BOOSTS)
_WORD = re.compile(r"^[a-z]{4,}$")


def build_fts(home: DataHome, path: Path) -> float:
    """The FTS5 baseline over the store's records; returns the build time (s)."""
    if path.exists():
        return 0.0
    t0 = time.perf_counter()
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    db = sqlite3.connect(tmp)
    db.execute(f"CREATE VIRTUAL TABLE docs USING fts5({', '.join(COLS)}, "
               "tokenize='unicode61 remove_diacritics 2')")
    db.execute("CREATE TABLE meta (rowid INTEGER PRIMARY KEY, trial_id TEXT, status TEXT, "
               "phases TEXT, study_type TEXT, summary TEXT)")
    with Store(home.store_path) as store, db:
        for n, record in enumerate(store.iter_records(), 1):
            doc = record_to_doc(record)
            db.execute(f"INSERT INTO docs (rowid, {', '.join(COLS)}) VALUES "
                       f"(?, {', '.join('?' * len(COLS))})",
                       (n, *[doc.get(c) or "" for c in COLS]))
            db.execute("INSERT INTO meta VALUES (?,?,?,?,?,?)",
                       (n, record.trial_id, (record.status or "").lower(),
                        ",".join(p.lower() for p in record.phases),
                        (record.study_type or "").lower(), record.summary or ""))
    db.execute("CREATE INDEX meta_status ON meta(status)")
    db.commit()
    db.close()
    os.replace(tmp, path)
    return time.perf_counter() - t0


class _Warm:
    """An open index whose one searcher every ``search()`` call reuses."""

    def __init__(self, index_dir: Path) -> None:
        self.ix = open_index(index_dir)
        self.searcher_ = self.ix.searcher()

    def searcher(self, **_: Any) -> _Warm:
        return self

    def __enter__(self) -> Any:
        return self.searcher_

    def __exit__(self, *exc: object) -> None:
        pass

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ix, name)


def _searchable(word: str) -> bool:
    """Not a stop word of the Whoosh analyzer (a query of only stop words is an error)."""
    try:
        return search_mod.parse_query(word) is not None
    except search_mod.QueryError:
        return False


def pick_queries(db: sqlite3.Connection, n_docs: int, k: int, rng: random.Random
                 ) -> dict[str, list[str]]:
    db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.vocab USING fts5vocab(main, docs, row)")
    df = {t: d for t, d in db.execute("SELECT term, doc FROM temp.vocab")}
    words = [t for t in df if _WORD.match(t)]
    common = [t for t in sorted(words, key=lambda t: -df[t])[:4 * k] if _searchable(t)][:k]
    frequent = [t for t in words if n_docs / 100 <= df[t] <= n_docs / 5]
    frequent = [t for t in rng.sample(frequent, min(len(frequent), 4 * k)) if _searchable(t)]
    rare_lo, rare_hi = max(2, n_docs / 2000), n_docs / 100
    ids = rng.sample(range(1, n_docs + 1), min(n_docs, 40 * k))
    rare, phrases = [], []
    for rowid in ids:
        title, summary = db.execute("SELECT d.title, m.summary FROM docs d JOIN meta m "
                                    "ON m.rowid = d.rowid WHERE d.rowid=?", (rowid,)).fetchone()
        tw = [w for w in dict.fromkeys(re.findall(r"[a-z]+", title.lower()))
              if _WORD.match(w) and rare_lo <= df.get(w, 0) <= rare_hi]
        if len(tw) >= 2 and len(rare) < k:
            rare.append(" ".join(tw[:3]))
        sw = re.findall(r"[a-z]+", summary.lower())
        pairs = [(a, b) for a, b in zip(sw, sw[1:]) if _WORD.match(a) and _WORD.match(b)
                 and df.get(a, 0) >= n_docs / 100 and df.get(b, 0) >= n_docs / 100]
        if pairs and len(phrases) < k:
            first, second = rng.choice(pairs)
            if _searchable(f'"{first} {second}"'):  # not two stop words
                phrases.append(f'"{first} {second}"')
    return {"rare": rare, "common": common, "phrase": phrases,
            "filtered": rng.sample(frequent, min(k, len(frequent))),
            "facets": rng.sample(frequent, min(k, len(frequent)))}


def _fts_match(kind: str, q: str) -> str:
    if kind == "phrase":
        return q
    return " OR ".join(q.split())


def fts_runner(db: sqlite3.Connection, kind: str) -> Callable[[str], Any]:
    weights = ", ".join(str(FIELD_BOOSTS[c]) for c in COLS)
    top = f"SELECT rowid FROM docs WHERE docs MATCH ? ORDER BY bm25(docs, {weights}) LIMIT 10"
    if kind == "filtered":
        sql = (f"SELECT docs.rowid FROM docs JOIN meta m ON m.rowid = docs.rowid "
               f"WHERE docs MATCH ? AND m.status = 'recruiting' "
               f"AND (',' || m.phases || ',') LIKE '%,phase2,%' "
               f"ORDER BY bm25(docs, {weights}) LIMIT 10")
        return lambda q: db.execute(sql, (_fts_match(kind, q),)).fetchall()
    if kind == "facets":
        def run(q: str) -> Any:
            match = _fts_match(kind, q)
            hits = db.execute(top, (match,)).fetchall()
            counts = {col: db.execute(
                f"SELECT m.{col}, count(*) FROM docs JOIN meta m ON m.rowid = docs.rowid "
                f"WHERE docs MATCH ? GROUP BY m.{col}", (match,)).fetchall()
                for col in ("status", "phases", "study_type")}
            return hits, counts
        return run
    return lambda q: db.execute(top, (_fts_match(kind, q),)).fetchall()


def whoosh_runner(index_dir: Path, kind: str) -> tuple[Callable[[str], Any], str]:
    params = inspect.signature(search_mod.search).parameters
    kwargs: dict[str, Any] = {"limit": 10}
    note = ""
    if kind == "filtered":
        kwargs.update(status=["recruiting"], phase=["phase2"])
    if kind == "facets":
        if "facets" in params:
            kwargs["facets"] = True
        else:
            note = "search() has no facets argument: plain search timed"
    return (lambda q: search_mod.search(index_dir, q, **kwargs)), note


def core_runner(warm: _Warm, kind: str) -> Callable[[str], Any]:
    """Whoosh alone on the same parsed query and filter: ``searcher.search(q, limit=10)`` and
    the 10 hits' stored fields; none of ``search()``'s extras (full match set for the total,
    prior, snippets, facets).  The gap to ``search()`` is what those extras cost."""
    from trialscope.index.facets import Filters, build_filter

    spec = Filters.of({"status": ["recruiting"], "phase": ["phase2"]} if kind == "filtered"
                      else {})

    def run(q: str) -> Any:
        query = search_mod.parse_query(q)
        flt = build_filter(warm.searcher_, spec)
        return [h.fields() for h in warm.searcher_.search(query, limit=10, filter=flt)]
    return run


BUDGET = 120.0  # seconds per kind and engine; slow runs stop early (3 timings at least)


def timed(fn: Callable[[str], Any], queries: list[str], rounds: int,
          cpu: list[float] | None = None,
          per_query: dict[str, list[tuple[float, float]]] | None = None) -> list[float]:
    """Wall ms of each timed run (``cpu``, when given, gets each run's CPU ms:
    ``time.process_time``, which another process on the machine does not inflate;
    ``per_query`` each query's (wall, CPU) ms)."""
    start = time.perf_counter()
    for q in queries:
        fn(q)  # warm caches
        if time.perf_counter() - start > BUDGET / 2:
            break
    out: list[float] = []
    for _ in range(rounds):
        for q in queries:
            c = time.process_time()
            t = time.perf_counter()
            fn(q)
            out.append((time.perf_counter() - t) * 1000)
            spent = (time.process_time() - c) * 1000
            if cpu is not None:
                cpu.append(spent)
            if per_query is not None:
                per_query.setdefault(q, []).append((out[-1], spent))
            if len(out) >= 3 and time.perf_counter() - start > BUDGET:
                return out
    return out


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def cold_cli(home: Path, trial_id: str, query: str) -> dict[str, tuple[float, float]]:
    trials = Path(sys.executable).with_name("trials")
    cmds = {"trials show ID": [str(trials), "--home", str(home), "show", trial_id],
            "trials search QUERY": [str(trials), "--home", str(home), "search", query]}
    out = {}
    for name, cmd in cmds.items():
        times = []
        for _ in range(5):
            t = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - t)
        out[name] = (statistics.median(times), max(times))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--queries", type=int, default=30, help="queries per kind")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-cli", action="store_true", help="skip the cold CLI timings")
    ap.add_argument("--kinds", default="rare,common,phrase,filtered,facets",
                    help="query kinds to time, comma-separated")
    ap.add_argument("--slowest", type=int, default=0,
                    help="print each kind's N slowest queries (warm, fastest run's CPU and wall)")
    ap.add_argument("--budget", type=float, default=BUDGET,
                    help="seconds per query kind and engine before timing stops early")
    args = ap.parse_args()
    globals()["BUDGET"] = args.budget
    home = DataHome(args.home)
    fts_path = args.home / "fts5-baseline.sqlite"
    build = build_fts(home, fts_path)
    db = sqlite3.connect(fts_path)
    n_docs = db.execute("SELECT count(*) FROM meta").fetchone()[0]
    queries = pick_queries(db, n_docs, args.queries, random.Random(args.seed))
    ix_dir = home.index_dir
    segments = len(open_index(ix_dir)._segments())
    print(f"search benchmark: {n_docs} trials, {segments} index segment(s); FTS5 baseline "
          + (f"built in {build:.0f} s" if build else "reused"))
    print(f"  {'query kind':22} {'n':>3}  {'Whoosh warm p50/p95':>20}  "  # n: timed runs
          f"{'per-call open':>17}  {'Whoosh core':>15}  {'FTS5 p50/p95':>14}  {'p95 ratio':>9}  "
          f"{'warm CPU p50/p95':>16}")
    notes = []
    real_open = search_mod.open_index
    warm = _Warm(ix_dir)
    for kind, label in (("rare", "rare multi-term"), ("common", "common term, limit 10"),
                        ("phrase", "phrase"), ("filtered", "status+phase filter"),
                        ("facets", "facets on")):
        if kind not in args.kinds.split(","):
            continue
        qs = queries[kind]
        run, note = whoosh_runner(ix_dir, kind)
        if note:
            notes.append(f"{label}: {note}")
        search_mod.open_index = lambda *_a, **_k: warm  # type: ignore[assignment]
        w_cpu: list[float] = []
        each: dict[str, list[tuple[float, float]]] = {}
        try:
            w = timed(run, qs, args.rounds, w_cpu, each)
        finally:
            search_mod.open_index = real_open
        cold = timed(run, qs, 1)
        core = timed(core_runner(warm, kind), qs, args.rounds)
        f = timed(fts_runner(db, kind), qs, args.rounds)
        print(f"  {label:22} {len(w):3}  {pct(w, 50):8.1f} /{pct(w, 95):7.1f} ms  "
              f"{pct(cold, 50):6.0f} /{pct(cold, 95):5.0f} ms  "
              f"{pct(core, 50):5.1f} /{pct(core, 95):5.1f} ms  "
              f"{pct(f, 50):5.1f} /{pct(f, 95):5.1f} ms  {pct(w, 95) / pct(f, 95):8.2f}x  "
              f"{pct(w_cpu, 50):6.1f} /{pct(w_cpu, 95):6.1f} ms")
        best = sorted(((min(c for _, c in runs), min(t for t, _ in runs), q)
                       for q, runs in each.items()), reverse=True)
        for c, t, q in best[:args.slowest]:
            print(f"      slow {kind}: {c:6.1f} ms CPU, {t:6.1f} ms wall (fastest of "
                  f"{len(each[q])})  {q}")
    for note in notes:
        print(f"  note: {note}")
    print("  examples: " + json.dumps({k: v[:2] for k, v in queries.items()}))
    if not args.no_cli:
        tid = db.execute("SELECT trial_id FROM meta WHERE rowid=1").fetchone()[0]
        for name, (med, worst) in cold_cli(args.home, tid, queries["rare"][0]).items():
            print(f"  cold process: {name:20} median {med:.2f} s, max {worst:.2f} s")


if __name__ == "__main__":
    main()
