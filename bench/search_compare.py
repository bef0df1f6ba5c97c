"""Do two versions of the code give the same search results?  Ids, scores, snippets,
intents, totals and facet counts, query by query.

    python bench/search_compare.py --old DIR [--eval] [--home HOME ...] [--queries 30]
                                   [--extra 'q1|q2'] [--out FILE]

``DIR`` is another version's source tree (``git archive COMMIT | tar -x -C DIR``): the
queries run once with that code and once with this checkout's, each in a child process,
and every result is compared.  The queries: with ``--eval`` every query (dev and test) of
fixtures/eval/queries-v2.json on the evaluation home ``bench/relevance.py`` builds
(``bench/out/eval-v2/home``; limit 50, facets on, warm and with the index opened per
call); with ``--home`` the ``bench/search_bench.py`` queries of that home (every kind,
limit 10 as timed and limit 50 with facets, warm twice: the second run from what the
searcher kept); ``--extra`` more query texts, run like those.  Prints the number of results
compared and the first differences; exits 1 when any differ.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
ROOMS = ("core", "extract", "parser", "store", "crawler", "index", "app", "cli", "fixtures",
         "web")


def _package_tree(src: Path, root: Path) -> Path:
    """A ``trialscope`` package of the source tree ``src`` (its rooms linked under
    ``src/trialscope``, as pyproject.toml maps them) for PYTHONPATH."""
    pkg = root / "trialscope"
    pkg.mkdir(parents=True)
    for item in (src / "src" / "trialscope").iterdir():
        (pkg / item.name).symlink_to(item.resolve())
    for room in ROOMS:
        if (src / room).is_dir():
            (pkg / room).symlink_to((src / room).resolve())
    return root


def _dump(res: Any) -> dict[str, Any]:
    return {"total": res.total, "understood": res.understood, "query": res.query_repr,
            "facets": res.facets,
            "hits": [[h.trial_id, repr(h.score), h.snippet, h.intents] for h in res.hits]}


def _search_bench() -> Any:
    """bench/search_bench.py (its ``_Warm`` and ``pick_queries``), imported with the
    ``trialscope`` this process runs."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    import search_bench

    return search_bench


def _run(index_dir: Path, queries: list[tuple[str, str, dict[str, Any]]], warm: bool,
         out: dict[str, Any], tag: str) -> None:
    from trialscope.index import search as search_mod

    real = search_mod.open_index
    if warm:
        w = _search_bench()._Warm(index_dir)
        search_mod.open_index = lambda *_a, **_k: w  # type: ignore[assignment]
    try:
        for key, text, kwargs in queries:
            runs = ("warm", "warm again") if warm else ("per call",)
            for run in runs:
                out[f"{tag} | {key} | {run}"] = _dump(search_mod.search(index_dir, text,
                                                                        **kwargs))
    finally:
        search_mod.open_index = real


def collect(args: argparse.Namespace) -> dict[str, Any]:
    """Every result of this process's code (the child's side)."""
    from trialscope.store.home import DataHome

    out: dict[str, Any] = {}
    if args.eval:
        spec = json.loads((REPO / "fixtures" / "eval" / "queries-v2.json").read_text("utf-8"))
        qs = [(q["id"], q["query"], {"limit": 50, "facets": True, **q.get("filters", {})})
              for q in spec["queries"]]
        index_dir = DataHome(REPO / "bench" / "out" / "eval-v2" / "home").index_dir
        _run(index_dir, qs, True, out, "eval")
        _run(index_dir, qs, False, out, "eval")
    extra = [q for q in args.extra.split("|") if q]
    for home in args.home:
        search_bench = _search_bench()
        db = sqlite3.connect(home / "fts5-baseline.sqlite")
        n = db.execute("SELECT count(*) FROM meta").fetchone()[0]
        picked = search_bench.pick_queries(db, n, args.queries, random.Random(args.seed))
        picked["extra"] = extra
        qs = []
        for kind, texts in picked.items():
            for i, text in enumerate(texts):
                kwargs: dict[str, Any] = {"limit": 10}
                if kind == "filtered":
                    kwargs.update(status=["recruiting"], phase=["phase2"])
                if kind == "facets":
                    kwargs["facets"] = True
                qs.append((f"{kind} {i} {text}", text, kwargs))
                qs.append((f"{kind} {i} {text} (50, facets)", text,
                           {**kwargs, "limit": 50, "facets": True}))
        _run(DataHome(home).index_dir, qs, True, out, home.name)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old", type=Path, help="the other version's source tree")
    ap.add_argument("--eval", action="store_true", help="the queries-v2.json queries")
    ap.add_argument("--home", type=Path, action="append", default=[],
                    help="a data home with search_bench.py's FTS5 table (repeatable)")
    ap.add_argument("--queries", type=int, default=30, help="search_bench queries per kind")
    ap.add_argument("--seed", type=int, default=7, help="search_bench's seed")
    ap.add_argument("--extra", default="", help="more query texts, separated by |")
    ap.add_argument("--out", type=Path, help="write this code's results here (child mode)")
    args = ap.parse_args()
    if args.out:
        args.out.write_text(json.dumps(collect(args), sort_keys=True), "utf-8")
        return 0
    if args.old is None or not (args.old / "src" / "trialscope").is_dir():
        ap.error("--old DIR: a source tree of trialscope (git archive COMMIT | tar -x -C DIR)")
    if not args.eval and not args.home:
        ap.error("nothing to compare: give --eval and/or --home HOME")
    if args.eval and not (REPO / "bench" / "out" / "eval-v2" / "home").is_dir():
        ap.error("--eval needs bench/out/eval-v2/home: run python bench/relevance.py first")
    child = [sys.executable, __file__, *(["--eval"] if args.eval else []),
             *(a for h in args.home for a in ("--home", str(h))),
             "--queries", str(args.queries), "--seed", str(args.seed), "--extra", args.extra]
    with tempfile.TemporaryDirectory() as tmp:
        results = []
        for name, pythonpath in (("old", str(_package_tree(args.old, Path(tmp) / "old"))),
                                 ("this", "")):
            path = Path(tmp) / f"{name}.json"
            env = {**os.environ, "PYTHONPATH": pythonpath}
            subprocess.run([*child, "--out", str(path)], env=env, check=True)
            results.append(json.loads(path.read_text("utf-8")))
    old, new = results
    differ = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    print(f"{len(old)} results of {args.old} against {len(new)} of this checkout: "
          f"{len(differ)} differ")
    for key in differ[:10]:
        a, b = old.get(key) or {}, new.get(key) or {}
        what = [f for f in sorted(set(a) | set(b)) if a.get(f) != b.get(f)]
        print(f"  {key}: {', '.join(what)} differ")
        hits = [(x, y) for x, y in zip(a.get("hits", []), b.get("hits", [])) if x != y]
        if hits:
            print(f"    first different hit: old {hits[0][0][:2]}, new {hits[0][1][:2]}")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
