"""Search relevance: the blind v2 set against plain BM25, and the legacy bundled set.

    python bench/relevance.py [--split dev|test|all] [--related] [--no-baseline] [--json]
                              [--verbose]
    python bench/relevance.py --why [--json]      # dev only: how each top 5 got there
    python bench/relevance.py --legacy [--queries FILE] [--json] [--verbose]

The default is the blind set (fixtures/eval/queries-v2.json over the 1,228-trial corpus of
fixtures/eval/corpus-v2.md, imported with `trials import` into bench/out/eval-v2/), the dev
split, with a plain BM25 baseline in the same run: see bench/relevance_v2.py.  Develop on
``--split dev``; the test split is for the figures the README reports.  ``--related``
measures `trials related` on fixtures/eval/related-v2.json instead.

``--legacy``: the 30 queries over the 20 bundled trials, as below (what
tests/test_relevance.py pins).  It builds a throw-away data home from the bundled
fixtures (``fixtures/ctgov/studies`` and, where present, the extra trials in
``fixtures/eval/corpus``), runs every query of ``fixtures/eval/queries.json`` through
``trials search`` (the library call, with the query's filters) and scores the
ranking against the judgments:

- nDCG@10: gain 2**grade - 1 (grade 2 = what the researcher wants, 1 = partly relevant),
  log2 discount, normalised by the ideal ordering of the judged grades;
- P@5: share of the first five results with grade >= 1;
- recall@20: share of the grade >= 1 trials found in the first twenty.

Works from a fresh clone after ``pip install .`` (the fixtures ship as package data).  Always
exits 0: this is a report; the floors live in tests/test_relevance.py.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

from trialscope.app import service
from trialscope.store.home import DataHome

REPO_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fixtures_dir() -> Path:
    """The repo's fixtures in a checkout, else the installed package data."""
    if (REPO_FIXTURES / "eval" / "queries.json").exists():
        return REPO_FIXTURES
    import trialscope.fixtures as pkg

    return Path(pkg.__file__).parent


def build_home(root: Path, fixtures: Path) -> DataHome:
    home = DataHome.resolve(str(root))
    paths = [fixtures / "ctgov" / "studies"]
    extra = fixtures / "eval" / "corpus"
    if extra.is_dir() and any(extra.glob("*.json")):
        paths.append(extra)
    summary = service.import_paths(home, paths)
    if summary.failed:
        raise SystemExit(f"could not import the evaluation corpus: {summary.failures}")
    return home


def dcg(grades: list[int]) -> float:
    return sum((2 ** g - 1) / math.log2(i + 2) for i, g in enumerate(grades))


def score_query(ranked: list[str], relevant: dict[str, int]) -> dict[str, float]:
    gains = [relevant.get(tid, 0) for tid in ranked]
    ideal = dcg(sorted(relevant.values(), reverse=True)[:10]) or 1.0
    wanted = {tid for tid, g in relevant.items() if g >= 1}
    return {
        "ndcg@10": dcg(gains[:10]) / ideal,
        "p@5": sum(1 for tid in ranked[:5] if tid in wanted) / 5,
        "recall@20": len(wanted & set(ranked[:20])) / (len(wanted) or 1),
    }


def evaluate(queries_file: Path | None = None, home: DataHome | None = None
             ) -> dict[str, Any]:
    """{"queries": [{id, query, ndcg@10, p@5, recall@20, ranked}], "means": {...}}."""
    fixtures = fixtures_dir()
    spec = json.loads((queries_file or fixtures / "eval" / "queries.json").read_text("utf-8"))
    with tempfile.TemporaryDirectory(prefix="trialscope-eval-") as tmp:
        home = home or build_home(Path(tmp) / "home", fixtures)
        rows = []
        for q in spec["queries"]:
            results = service.search(home, q["query"], limit=20, **q.get("filters", {}))
            ranked = [h.trial_id for h in results.hits]
            rows.append({"id": q["id"], "query": q["query"], "filters": q.get("filters", {}),
                         **score_query(ranked, q["relevant"]), "ranked": ranked})
    metrics = ("ndcg@10", "p@5", "recall@20")
    means = {m: sum(r[m] for r in rows) / len(rows) for m in metrics}
    return {"queries": rows, "means": means}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--verbose", action="store_true", help="also print each ranking")
    parser.add_argument("--split", choices=("dev", "test", "all"), default="dev",
                        help="v2 set: which queries (default: dev)")
    parser.add_argument("--related", action="store_true",
                        help="v2 set: measure `trials related` (related-v2.json)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="v2 set: skip the plain BM25 baseline")
    parser.add_argument("--why", action="store_true",
                        help="v2 set, dev split only: per query, each top-5 trial's grade, "
                             "tier and score, and where the relevant trials went")
    parser.add_argument("--legacy", action="store_true",
                        help="the legacy 30 queries over the bundled 20 trials")
    parser.add_argument("--queries", type=Path, help="legacy: another judged query file")
    args = parser.parse_args(argv)
    if not (args.legacy or args.queries):
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import relevance_v2 as v2

        split = None if args.split == "all" else args.split
        if args.why:
            if split != "dev":
                parser.error(f"--why prints per-query rankings and judgments: dev split only "
                             f"(got --split {args.split}); the test split's stay unseen, "
                             f"run it without --why for its means")
            spec = json.loads(v2.QUERIES.read_text("utf-8"))
            rows = v2.why([q for q in spec["queries"] if q["split"] == "dev"],
                          v2.corpus_home())
            print(json.dumps(rows, indent=2)) if args.json else v2.print_why(rows)
            return 0
        if args.related:
            rel = v2.evaluate_related(split)
            print(json.dumps(rel, indent=2)) if args.json else v2.print_related(rel)
            return 0
        rep = v2.evaluate(split, baseline=not args.no_baseline)
        print(json.dumps(rep, indent=2)) if args.json else v2.print_report(rep, args.verbose)
        return 0
    report = evaluate(args.queries)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{'query':<18} {'nDCG@10':>8} {'P@5':>6} {'R@20':>6}  text")
    for r in report["queries"]:
        flt = " " + json.dumps(r["filters"]) if r["filters"] else ""
        print(f"{r['id']:<18} {r['ndcg@10']:>8.3f} {r['p@5']:>6.2f} {r['recall@20']:>6.2f}  "
              f"{r['query']}{flt}")
        if args.verbose:
            print("    " + " ".join(r["ranked"][:10]))
    m = report["means"]
    print(f"{'MEAN (' + str(len(report['queries'])) + ' queries)':<18} {m['ndcg@10']:>8.3f} "
          f"{m['p@5']:>6.2f} {m['recall@20']:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
