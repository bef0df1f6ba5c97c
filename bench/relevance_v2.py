"""The blind relevance set (fixtures/eval/queries-v2.json, related-v2.json) against plain BM25.

Used by ``bench/relevance.py --split dev|test`` (and ``--related``); kept apart from the
legacy 30-query report that tests/test_relevance.py pins.

The corpus (fixtures/eval/corpus-v2.md) is imported the way a user would: ``trials import``
of its paths, into ``bench/out/eval-v2/home``.  The data home is reused when present; when the
index schema or the analyzer changed since, ``trials reindex`` brings the index up to date
from the store.  The baseline is its own small Whoosh index (``bench/out/eval-v2/bm25``):
one text field holding each stored record's whole text, Whoosh's ``StandardAnalyzer``, BM25F
with its default parameters, the query's words ORed (no synonyms, no intents, no field
weights).

Metrics, per query, then means per split:

- nDCG@10: gain = grade (2 or 1), log2 discount, ideal = the judged grades sorted;
- P@5: share of the first five with grade >= 1;
- recall@50: share of the grade >= 1 trials in the first fifty;
- bad@5: judged non-relevant (grade 0) trials in the first five (summed over queries).

Queries whose judgments hold no grade >= 1 trial have no nDCG: they are reported apart, as
the number of their grade-0 trials in the top 10.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("TRIALS_SHARED_DIR") or REPO.parent / "shared") / "data"
OUT = REPO / "bench" / "out" / "eval-v2"
QUERIES = REPO / "fixtures" / "eval" / "queries-v2.json"
RELATED = REPO / "fixtures" / "eval" / "related-v2.json"
# fixtures/eval/corpus-v2.md: exactly these paths
CORPUS = [REPO / "fixtures" / "ctgov" / "studies",
          SHARED_DATA / "ctgov-more" / "v2",
          SHARED_DATA / "ctgov-more" / "classic",
          SHARED_DATA / "ctgov-v2" / "studies",
          SHARED_DATA / "who-ictrp" / "ictrp_export_2024-06-09_part_shared.xml"]
CORPUS_SIZE = 1228
METRICS = ("ndcg@10", "p@5", "recall@50", "bad@5")


def _trials(*args: str) -> int:
    """Run the `trials` command as a user would (the one installed beside this Python); its
    exit status (an import with files it cannot read exits 1 after importing the rest)."""
    exe = Path(sys.executable).with_name("trials")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "trialscope.cli.main"]
    done = subprocess.run([*cmd, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    failed = [line for line in done.stderr.splitlines() if "failed:" in line]
    if failed:
        print(f"note: `trials {args[2]}` could not read {len(failed)} file(s), e.g.\n"
              f"  {failed[0].strip()[:160]}", file=sys.stderr)
    elif done.returncode:
        raise SystemExit(f"`trials {' '.join(args)}` failed:\n{done.stderr}")
    return done.returncode


def _code_stamp() -> str:
    """What the index depends on: the schema, the analyzer and the record facts schema.py
    reads (aliases, antibody limits, negated markers): a change needs a reindex."""
    from trialscope.index import aliases, analysis, antibodies, negation, schema

    h = hashlib.sha256()
    for mod in (analysis, schema, aliases, antibodies, negation):
        h.update(Path(mod.__file__).read_bytes())
    h.update(str(schema.SCHEMA_VERSION).encode())
    return h.hexdigest()[:16]


def _parse_stamp() -> str:
    """What the stored records depend on: the parsers and extractors that ran at import (a
    record is parsed once, when stored): a change needs a new import, not a reindex."""
    import trialscope.extract
    import trialscope.parser

    h = hashlib.sha256()
    for package in (trialscope.parser, trialscope.extract):
        for path in sorted(Path(package.__file__).parent.glob("*.py")):
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def corpus_home(out: Path = OUT) -> Path:
    """The evaluation data home, imported once with `trials import` and reused."""
    missing = [str(p) for p in CORPUS if not p.exists()]
    if missing:
        raise SystemExit(f"the evaluation corpus is not here: {', '.join(missing)} "
                         "(it needs ../shared/data beside the repository)")
    home = out / "home"
    stamp = out / "home.stamp"
    parsed = out / "home.parsed"  # the parse stamp of the records stored
    if not (home / "index").exists() or not stamp.exists() or not parsed.exists() or (
            parsed.read_text() != _parse_stamp()):
        shutil.rmtree(home, ignore_errors=True)
        out.mkdir(parents=True, exist_ok=True)
        _trials("--home", str(home), "import", *map(str, CORPUS))
        stamp.write_text(_code_stamp())
        parsed.write_text(_parse_stamp())
    elif stamp.read_text() != _code_stamp():
        _trials("--home", str(home), "reindex")
        stamp.write_text(_code_stamp())
    print(f"corpus: {imported(home)} of {CORPUS_SIZE} trials in {home}", file=sys.stderr)
    return home


def imported(home: Path) -> int:
    from trialscope.app import service
    from trialscope.store.home import DataHome

    with service.read_store(DataHome.resolve(str(home))) as store:
        return sum(1 for _ in store.iter_records())


# -- the baseline ------------------------------------------------------------------------------

def _record_text(rec: Any) -> str:
    parts: list[Any] = [rec.trial_id, *rec.secondary_id_values, rec.title, rec.official_title,
                        rec.acronym, *rec.conditions, *rec.keywords, *rec.mesh_terms,
                        rec.summary, rec.description, rec.sponsor, *rec.collaborators,
                        *rec.primary_outcomes]
    for iv in rec.interventions:
        parts += [iv.get("name"), *(iv.get("other_names") or []), iv.get("description")]
    for arm in rec.arms:
        parts += [arm.get("label"), arm.get("description"), *(arm.get("interventions") or [])]
    elig = rec.eligibility or {}
    parts.append(elig.get("text"))
    if not elig.get("text"):
        for key in ("inclusion", "exclusion"):
            parts += _criteria(elig.get(key) or [])
    for loc in rec.locations:
        parts += [loc.get("facility"), loc.get("city"), loc.get("state"), loc.get("country")]
    return "\n".join(str(p) for p in parts if p)


def _criteria(items: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for item in items:
        out.append(item.get("text") or "")
        out += _criteria(item.get("children") or [])
    return out


class BM25Baseline:
    """Plain BM25F over each record's whole text, in an index of its own."""

    def __init__(self, home: Path, out: Path = OUT) -> None:
        from whoosh import index
        from whoosh.analysis import StandardAnalyzer
        from whoosh.fields import ID, TEXT, Schema
        from whoosh.qparser import OrGroup, QueryParser

        from trialscope.app import service
        from trialscope.store.home import DataHome

        where = out / "bm25"
        stamp = where / "built-from"
        store_file = DataHome.resolve(str(home)).store_path
        key = f"{store_file.stat().st_mtime_ns}:{store_file.stat().st_size}"
        if not (where.exists() and stamp.exists() and stamp.read_text() == key):
            where.mkdir(parents=True, exist_ok=True)
            schema = Schema(trial_id=ID(stored=True, unique=True),
                            text=TEXT(analyzer=StandardAnalyzer()))
            ix = index.create_in(str(where), schema)
            with ix.writer() as w, service.read_store(DataHome.resolve(str(home))) as store:
                for rec in store.iter_records():
                    w.add_document(trial_id=rec.trial_id, text=_record_text(rec))
            stamp.write_text(key)
        self.ix = index.open_dir(str(where))
        self.parser = QueryParser("text", self.ix.schema, group=OrGroup)

    def search(self, text: str, limit: int = 50) -> list[str]:
        with self.ix.searcher() as s:  # BM25F is Whoosh's default weighting
            q = self.parser.parse(text)
            return [hit["trial_id"] for hit in s.search(q, limit=limit)]


# -- scoring -----------------------------------------------------------------------------------

def dcg(gains: list[int]) -> float:
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def score(ranked: list[str], judged: dict[str, int]) -> dict[str, Any]:
    wanted = {t for t, g in judged.items() if g >= 1}
    bad = {t for t, g in judged.items() if g == 0}
    ideal = dcg(sorted((g for g in judged.values() if g >= 1), reverse=True)[:10])
    return {
        "ndcg@10": dcg([judged.get(t, 0) for t in ranked[:10]]) / ideal if ideal else None,
        "p@5": sum(1 for t in ranked[:5] if t in wanted) / 5 if wanted else None,
        "recall@50": len(wanted & set(ranked[:50])) / len(wanted) if wanted else None,
        "bad@5": sum(1 for t in ranked[:5] if t in bad),
        "bad@10": sum(1 for t in ranked[:10] if t in bad),
    }


def means(rows: list[dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for m in METRICS:
        values = [r[m] for r in rows if r[m] is not None]
        out[m] = (sum(values) if m == "bad@5" else sum(values) / len(values)) if values \
            else 0.0
    return out


def evaluate(split: str | None, home: Path | None = None, baseline: bool = True
             ) -> dict[str, Any]:
    """Per query and mean figures of trialscope and of the baseline on one split (None:
    every query)."""
    from trialscope.app import service
    from trialscope.store.home import DataHome

    home = home or corpus_home()
    spec = json.loads(QUERIES.read_text("utf-8"))
    queries = [q for q in spec["queries"] if split is None or q["split"] == split]
    dh = DataHome.resolve(str(home))
    bm25 = BM25Baseline(home) if baseline else None
    rows = []
    for q in queries:
        ours = [h.trial_id for h in service.search(dh, q["query"], limit=50,
                                                   facets=False).hits]
        row = {"id": q["id"], "kind": q["kind"], "query": q["query"],
               "ours": {**score(ours, q["judgments"]), "ranked": ours}}
        if bm25 is not None:
            theirs = bm25.search(q["query"])
            row["bm25"] = {**score(theirs, q["judgments"]), "ranked": theirs}
        rows.append(row)
    report: dict[str, Any] = {"split": split or "all", "queries": rows,
                              "ours": means([r["ours"] for r in rows])}
    if bm25 is not None:
        report["bm25"] = means([r["bm25"] for r in rows])
    report["no_relevant"] = [
        {"id": r["id"], "ours_bad@10": r["ours"]["bad@10"],
         **({"bm25_bad@10": r["bm25"]["bad@10"]} if bm25 else {})}
        for r in rows if r["ours"]["ndcg@10"] is None]
    return report


def why(queries: list[dict[str, Any]], home: Path, top: int = 5) -> list[dict[str, Any]]:
    """Per query, how its top ``top`` got there and where its relevant trials went: each
    trial's rank, judged grade (None: unjudged), and the parts of the ranking key
    (``--explain``'s: names the disease, coverage tier, intents, score).  For the dev split
    only (relevance.py refuses the test split: its per-query rankings stay unseen)."""
    from trialscope.app import service
    from trialscope.store.home import DataHome

    dh = DataHome.resolve(str(home))
    rows = []
    for q in queries:
        res = service.search(dh, q["query"], limit=50, facets=False, explain_hits=True)
        judged = q["judgments"]
        ids = [h.trial_id for h in res.hits]
        shown = [_why_line(k + 1, h, judged) for k, h in enumerate(res.hits[:top])]
        missed = []
        for tid, grade in sorted(judged.items(), key=lambda kv: (-kv[1], kv[0])):
            if grade < 1 or tid in ids[:top]:
                continue
            missed.append(_why_line(ids.index(tid) + 1, res.hits[ids.index(tid)], judged)
                          if tid in ids
                          else {"rank": None, "trial_id": tid, "grade": grade})
        missed.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["trial_id"]))
        rows.append({"id": q["id"], "query": q["query"], "understood": res.query_repr,
                     "top": shown, "missed": missed})
    return rows


def _why_line(rank: int, hit: Any, judged: dict[str, int]) -> dict[str, Any]:
    ex = hit.explanation or {}
    t = ex.get("tier") or {}
    return {"rank": rank, "trial_id": hit.trial_id, "grade": judged.get(hit.trial_id),
            "names_the_disease": t.get("names_the_disease"), "tier": t.get("tier"),
            "intents": t.get("intents"), "score": ex.get("score"), "title": hit.title}


def print_why(rows: list[dict[str, Any]]) -> None:
    def cells(r: dict[str, Any]) -> str:
        grade = "-" if r["grade"] is None else r["grade"]
        if r.get("tier") is None and r.get("score") is None:
            return f"  {'>50' if r['rank'] is None else r['rank']:>4} g={grade} {r['trial_id']}"
        disease = "D" if r.get("names_the_disease") else "."
        return (f"  {r['rank']:>4} g={grade} {r['trial_id']:<14} {disease} tier "
                f"{r['tier'] if r['tier'] is not None else '-':>2} intents "
                f"{r['intents'] if r['intents'] is not None else '-'} score "
                f"{r['score'] if r['score'] is not None else 0:9.3f}  {r['title'][:60]}")

    for q in rows:
        print(f"{q['id']}  {q['query']}\n      {q['understood'][:200]}")
        for r in q["top"]:
            print(cells(r))
        if q["missed"]:
            print(f"  relevant below the top {len(q['top'])}:")
        for r in q["missed"]:
            print(cells(r))


def evaluate_related(split: str | None, home: Path | None = None) -> dict[str, Any]:
    """nDCG@10 of `trials related` per seed, and the mean, on one split."""
    from trialscope.app import service
    from trialscope.store.home import DataHome

    home = home or corpus_home()
    dh = DataHome.resolve(str(home))
    spec = json.loads(RELATED.read_text("utf-8"))
    rows = []
    for seed in spec["seeds"]:
        if split is not None and seed["split"] != split:
            continue
        ranked = [h.trial_id for h in service.related(dh, seed["seed"], limit=10).hits]
        rows.append({"id": seed["id"], "seed": seed["seed"], "title": seed["seed_title"],
                     **score(ranked, seed["related"]), "ranked": ranked})
    valid = [r["ndcg@10"] for r in rows if r["ndcg@10"] is not None]
    return {"split": split or "all", "seeds": rows,
            "mean_ndcg@10": sum(valid) / len(valid) if valid else 0.0}


def print_report(report: dict[str, Any], verbose: bool = False) -> None:
    has_bm25 = "bm25" in report
    head = f"{'id':<5} {'kind':<21} {'nDCG':>5} {'P@5':>5} {'R@50':>5} {'bad5':>4}"
    if has_bm25:
        head += f" | {'bm25':>5} {'P@5':>5} {'R@50':>5} {'bad5':>4}"
    print(head + "  query")

    def cells(s: dict[str, Any]) -> str:
        def f(v: Any) -> str:
            return "    -" if v is None else f"{v:5.3f}"
        return f"{f(s['ndcg@10'])} {f(s['p@5'])} {f(s['recall@50'])} {s['bad@5']:>4}"

    for r in report["queries"]:
        line = f"{r['id']:<5} {r['kind'][:21]:<21} {cells(r['ours'])}"
        if has_bm25:
            line += f" | {cells(r['bm25'])}"
        print(line + f"  {r['query']}")
        if verbose:
            print("      ours: " + " ".join(r["ours"]["ranked"][:10]))
            if has_bm25:
                print("      bm25: " + " ".join(r["bm25"]["ranked"][:10]))
    n = len(report["queries"])
    for name in ("ours", "bm25") if has_bm25 else ("ours",):
        m = report[name]
        print(f"MEAN {report['split']} ({n} queries) {name:<5}: nDCG@10 {m['ndcg@10']:.3f}  "
              f"P@5 {m['p@5']:.3f}  recall@50 {m['recall@50']:.3f}  "
              f"judged non-relevant in a top 5: {m['bad@5']:.0f}")
    for r in report["no_relevant"]:
        print(f"  {r['id']} has no relevant trial: judged non-relevant in the top 10: "
              f"ours {r['ours_bad@10']}" + (f", bm25 {r['bm25_bad@10']}" if has_bm25 else ""))


def print_related(report: dict[str, Any]) -> None:
    for r in report["seeds"]:
        v = r["ndcg@10"]
        print(f"{r['id']:<5} {r['seed']:<18} {'-' if v is None else f'{v:.3f}':>6}  "
              f"{r['title'][:70]}")
    print(f"MEAN {report['split']} ({len(report['seeds'])} seeds): related nDCG@10 "
          f"{report['mean_ndcg@10']:.3f}")
