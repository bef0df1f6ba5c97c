"""Precision / recall / F1 of the threshold and dose extractors on the hand-labelled sets.

    python bench/accuracy.py [--verbose] [--labelled DIR]

Reads ``fixtures/labelled/thresholds.jsonl`` (criteria items with the thresholds a researcher
would extract) and ``fixtures/labelled/doses.jsonl`` (arm / intervention strings with their
doses), runs ``extract_from_text`` and ``parse_doses`` on each text and counts matches per kind.

Matching is one-to-one within an item: measure equal (case-insensitive; for windows the set of
drug names in the measure), op equal, value equal within 1e-6 relative (class lists as sets),
unit equal after normalisation ("mg/dl" == "mg/dL", "x10^9/l" == "×10^9/L").  A predicted
threshold that matches nothing is a false positive; an expected one left over is a miss.
Always exits 0: this is a report, the floors live in tests/test_thresholds.py.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
LABELLED = REPO / "fixtures" / "labelled"
KINDS = ("age", "scale", "class", "antibody", "lab", "window", "dose")
_SCALES = {"mg-adl", "qmg", "mgc", "mg-qol15r", "ocular share"}
_LABS = {"creatinine", "creatinine clearance", "egfr", "alt", "ast", "bilirubin", "platelets",
         "neutrophils", "haemoglobin"}


def kind_of(expected: dict[str, Any]) -> str:
    """The kind of a labelled threshold, from its measure (labels carry no kind)."""
    measure = str(expected.get("measure", "")).lower()
    if expected.get("op") == "within":
        return "window"
    if measure == "age":
        return "age"
    if measure == "mgfa":
        return "class"
    if measure == "antibody":
        return "antibody"
    return "scale" if measure in _SCALES else "lab" if measure in _LABS else "other"


def _unit(unit: Any) -> str:
    text = str(unit or "").lower().replace(" ", "").replace("×", "x").replace("µ", "u")
    return text.replace("μ", "u").replace("²", "2").replace("^", "")


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, list) or isinstance(b, list):
        return isinstance(a, list) and isinstance(b, list) and {str(x) for x in a} == {
            str(x) for x in b}
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-12)
    return str(a).lower() == str(b).lower()


def threshold_matches(exp: dict[str, Any], got: dict[str, Any]) -> bool:
    if exp.get("op") == "within":
        names = {n.strip().lower() for n in str(exp["measure"]).split(",")}
        same_measure = names == {n.lower() for n in got.get("drugs") or [got["measure"]]}
    else:
        same_measure = str(exp["measure"]).lower() == str(got["measure"]).lower()
    return (same_measure and exp["op"] == got["op"] and _same_value(exp["value"], got["value"])
            and _unit(exp.get("unit")) == _unit(got.get("unit")))


def dose_matches(exp: dict[str, Any], got: dict[str, Any]) -> bool:
    return (_same_value(exp["value"], got["value"]) and _unit(exp["unit"]) == _unit(got["unit"])
            and _unit(exp.get("per")) == _unit(got.get("per"))
            and ("value_max" not in exp and "value_max" not in got
                 or _same_value(exp.get("value_max"), got.get("value_max"))))


def _pair(expected: list[dict[str, Any]], got: list[dict[str, Any]],
          same: Callable[[dict[str, Any], dict[str, Any]], bool]) -> tuple[list[Any], list[Any],
                                                                         list[Any]]:
    """Greedy one-to-one matching: (matched expected, missed expected, false positives)."""
    left = list(got)
    hits, misses = [], []
    for exp in expected:
        match = next((g for g in left if same(exp, g)), None)
        if match is None:
            misses.append(exp)
        else:
            left.remove(match)
            hits.append(exp)
    return hits, misses, left


def _load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def evaluate(labelled: Path = LABELLED) -> dict[str, Any]:
    """Counts per kind plus the misses and false positives, for the report and the tests."""
    counts = {k: {"tp": 0, "fp": 0, "fn": 0} for k in (*KINDS, "other")}
    misses: list[tuple[dict[str, Any], dict[str, Any]]] = []
    extras: list[tuple[dict[str, Any], dict[str, Any]]] = []
    notes: list[str] = []
    path = labelled / "thresholds.jsonl"
    if path.exists():
        from trialscope.parser.thresholds import extract_from_text

        for row in _load(path):
            got = extract_from_text(row["text"], row.get("section", "inclusion"))
            hits, missed, fps = _pair(row["expected"], got, threshold_matches)
            for e in hits:
                counts[kind_of(e)]["tp"] += 1
            for e in missed:
                counts[kind_of(e)]["fn"] += 1
                misses.append((row, e))
            for g in fps:
                counts[g.get("kind", "other")]["fp"] += 1
                extras.append((row, g))
    else:
        notes.append(f"{path} not found: thresholds skipped")
    path = labelled / "doses.jsonl"
    try:
        from trialscope.parser.doses import parse_doses
    except ImportError:
        parse_doses = None
        notes.append("trialscope.parser.doses not importable: doses skipped")
    if path.exists() and parse_doses is not None:
        for row in _load(path):
            hits, missed, fps = _pair(row["expected"], parse_doses(row["text"]), dose_matches)
            counts["dose"]["tp"] += len(hits)
            counts["dose"]["fn"] += len(missed)
            counts["dose"]["fp"] += len(fps)
            misses += [(row, e) for e in missed]
            extras += [(row, g) for g in fps]
    elif parse_doses is not None:
        notes.append(f"{path} not found: doses skipped")
    return {"counts": counts, "misses": misses, "false_positives": extras, "notes": notes}


def scores(c: dict[str, int]) -> tuple[float, float, float]:
    """(precision, recall, F1); 1.0 where nothing was expected or predicted."""
    p = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 1.0
    r = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def total(counts: dict[str, dict[str, int]], kinds: tuple[str, ...]) -> dict[str, int]:
    return {k: sum(counts[kind][k] for kind in kinds) for k in ("tp", "fp", "fn")}


def _show(item: dict[str, Any]) -> str:
    keys = ("measure", "op", "value", "unit") if "measure" in item else (
        "value", "unit", "per", "value_max")
    return " ".join(str(item[k]) for k in keys if k in item)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="list misses and false positives")
    parser.add_argument("--labelled", type=Path, default=LABELLED, help="folder of the .jsonl sets")
    args = parser.parse_args(argv)
    result = evaluate(args.labelled)
    counts = result["counts"]
    rows = [(k, counts[k]) for k in KINDS if any(counts[k].values())]
    thresholds = tuple(k for k in (*KINDS, "other") if k != "dose")
    rows += [("thresholds", total(counts, thresholds)), ("doses", counts["dose"]),
             ("overall", total(counts, (*KINDS, "other")))]
    print(f"{'kind':<11} {'tp':>4} {'fp':>4} {'fn':>4} {'precision':>9} {'recall':>7} {'F1':>6}")
    for name, c in rows:
        p, r, f1 = scores(c)
        print(f"{name:<11} {c['tp']:>4} {c['fp']:>4} {c['fn']:>4} {p:>9.3f} {r:>7.3f} {f1:>6.3f}")
    for note in result["notes"]:
        print(f"note: {note}")
    if args.verbose:
        for title, pairs in (("misses", result["misses"]), ("false positives",
                                                             result["false_positives"])):
            print(f"\n{title} ({len(pairs)}):")
            for row, item in pairs:
                print(f"  [{row['source']}] {_show(item)}\n      {row['text'][:160]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
