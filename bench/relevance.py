"""Search relevance on the judged query set: nDCG@10, P@5 and recall@20 per query, and means.

    python bench/relevance.py [--json] [--queries FILE] [--verbose]

Builds a throw-away data home from the bundled fixtures (``fixtures/ctgov/studies`` and, where
present, the extra trials in ``fixtures/eval/corpus``), runs every query of
``fixtures/eval/queries.json`` through ``trials search`` (the library call, with the query's
filters) and scores the ranking against the judgments:

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

from trialscope.index import service
from trialscope.index.home import DataHome

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
    parser.add_argument("--queries", type=Path, help="another judged query file")
    parser.add_argument("--verbose", action="store_true", help="also print each ranking")
    args = parser.parse_args(argv)
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
