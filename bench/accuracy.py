"""Precision / recall / F1 of the threshold and dose extractors on the hand-labelled sets.

    python bench/accuracy.py [--split legacy|dev|dev1|dev2|dev3|dev4|dev5|test|all] [--verbose]
                             [--strict] [--labelled DIR]

Splits (fixtures/labelled/README.md):

- ``test``: ``thresholds-test.jsonl``, labelled blind under RULES-thresholds-v2.md; never tuned on.
- ``dev``: ``thresholds-dev.jsonl``, ``thresholds-dev2.jsonl`` (batch ``dev2``: 48 trials of
  other specialties), ``thresholds-dev3.jsonl`` (batch ``dev3``: 63 more trials and registries,
  labelled blind) and ``thresholds-dev4.jsonl`` (batch ``dev4``: 77 more trials drawn at random
  within specialty groups, labelled blind), labelled under the same rules, for development;
  ``dev1`` / ``dev2`` / ``dev3`` / ``dev4`` score one of the files alone.
- ``dev5``: ``thresholds-dev5.jsonl`` (batch ``dev5``: 67 more trials drawn at random within
  specialty groups, labelled blind) alone.  It is **not** part of ``dev`` or ``all``: it stays a
  separate blind yardstick, scored by aggregate lines only, until the lead adds it to ``dev``.
- ``all``: dev and test together (without dev5).
- ``legacy``: ``thresholds.jsonl`` under the old, narrower conventions, plus ``doses.jsonl``.

Runs ``extract_from_text`` (and for legacy ``parse_doses``) on each text and counts matches per
measure family (age, scale, vital, lab, window, duration, dose, count, antibody, class, other).

Matching is one-to-one within an item: measure equal (case-insensitive, spaces folded; for
windows the set of names in the measure; v2 splits compare names through the extractor's own
tables on both sides, ``thing_name`` for a window's things and ``measures.lookup`` for a
measure, then a table of British / American spellings, RULES-thresholds-v2.md §1; ``--strict``
compares them as written, and every v2 run prints that strict total too, and an "(any name)"
total that does not compare names at all: the part of the gap that is the name alone), op
equal, value equal within 1e-6 relative or 0.005 absolute (labels round converted ages to 2
decimals; class lists as sets, strings case-insensitive), unit equal after normalisation ("mg/dl" ==
"mg/dL", "x10^9/l" == "×10^9/L"), and for v2 windows the direction (``before`` unless the
label says ``after``).  A predicted threshold that matches nothing is a false positive; an
expected one left over is a miss.
Always exits 0: this is a report, the floors live in tests/test_thresholds.py.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
LABELLED = REPO / "fixtures" / "labelled"
SPLITS = {"legacy": ("thresholds.jsonl",),
          "dev": ("thresholds-dev.jsonl", "thresholds-dev2.jsonl", "thresholds-dev3.jsonl",
                  "thresholds-dev4.jsonl"),
          "dev1": ("thresholds-dev.jsonl",), "dev2": ("thresholds-dev2.jsonl",),
          "dev3": ("thresholds-dev3.jsonl",), "dev4": ("thresholds-dev4.jsonl",),
          # dev batch 5: a separate blind yardstick, deliberately in neither "dev" nor "all"
          "dev5": ("thresholds-dev5.jsonl",),
          "test": ("thresholds-test.jsonl",),
          "all": ("thresholds-dev.jsonl", "thresholds-dev2.jsonl", "thresholds-dev3.jsonl",
                  "thresholds-dev4.jsonl", "thresholds-test.jsonl")}
KINDS = ("age", "scale", "class", "antibody", "lab", "window", "dose")
# v2 families, from RULES-thresholds-v2.md §3 (the scorer's own table, so that a change to the
# extractor's measure table cannot move a label from one family to another).
FAMILIES = ("age", "scale", "vital", "lab", "window", "duration", "dose", "count", "antibody",
            "class", "other")
_V2_SCALES = {
    "karnofsky", "ecog", "lansky", "nyha class", "mrs", "edss", "child-pugh class",
    "child-pugh score", "pnd stage", "coutinho stage", "mg-adl", "qmg", "mgc", "mg-qol15r",
    "ocular share", "mmse", "moca", "ham-d", "madrs", "panss", "cgi-s", "bprs", "ymrs", "gcs"}
_V2_VITALS = {
    "systolic bp", "diastolic bp", "heart rate", "qtc", "qt", "weight", "bmi", "height",
    "birth weight", "gestational age", "6mwd", "lvef", "fev1", "fev1/fvc", "fvc",
    "oxygen saturation", "pao2/fio2", "body temperature", "map"}
_V2_LABS = {
    "creatinine", "creatinine clearance", "egfr", "alt", "ast", "bilirubin", "direct bilirubin",
    "alp", "albumin", "inr", "pt", "aptt", "platelets", "neutrophils", "wbc", "lymphocytes",
    "cd4", "haemoglobin", "hba1c", "glucose", "nt-probnp", "bnp", "troponin", "upcr", "uacr",
    "proteinuria", "m-protein", "urine m-protein", "free light chain", "flc ratio", "potassium",
    "sodium", "calcium", "tsh", "ldl-c", "triglycerides", "total cholesterol", "c-peptide",
    "blasts", "hiv rna", "hbv dna", "hcv rna", "crp", "ldh", "alpha-fp", "beta-hcg", "psa", "ck",
    "ipth", "estradiol", "hdl-c", "haematocrit", "feno"}
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


def family_of(t: dict[str, Any]) -> str:
    """The v2 family of a labelled or predicted threshold, from its op and measure."""
    measure = " ".join(str(t.get("measure", "")).lower().split())
    if t.get("op") == "within":
        return "window"
    if measure == "age":
        return "age"
    if measure in ("mgfa",):
        return "class"
    if measure == "antibody":
        return "antibody"
    if measure in _V2_SCALES:
        return "scale"
    if measure in _V2_VITALS:
        return "vital"
    if measure in _V2_LABS or measure.endswith((" expression", " tps", " cps")):
        return "lab"
    if measure in ("life expectancy", "disease duration") or measure.startswith("stable dose"):
        return "duration"
    if measure.startswith("dose:"):
        return "dose"
    if measure == "prior lines of therapy":
        return "count"
    return "other"


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


def _same_value_v2(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=0.005)
    return _same_value(a, b)


def _name(text: Any) -> str:
    return " ".join(str(text).lower().split())


# British and American spellings of one word (RULES v2 §3 names mix them: "hospitalisation",
# "psychiatric hospitalization"): folded on both sides, whole word parts only.
_SPELLINGS = ((r"haem(?=[a-z])", "hem"), (r"aemi", "emi"), (r"oedem", "edem"),
              (r"isch(?:a)?emi", "ischemi"), (r"tumour", "tumor"), (r"behaviour", "behavior"),
              (r"(?<=[a-z])is(ation|ed|ing|e)\b", r"iz\1"), (r"paediatric", "pediatric"),
              (r"oesophag", "esophag"), (r"centre", "center"), (r"randomis", "randomiz"))
CANONICAL = True  # --strict sets it False: names compared as written (the figures before round 3)
ANY_NAME = False  # the "(any name)" line: a limit found with another name than the label's counts


def _spelling(name: str) -> str:
    for rx, to in _SPELLINGS:
        name = re.sub(rx, to, name)
    return name


def _canon_thing(name: Any) -> str:
    """A window's thing as the extractor's table names it (``thing_name``: "MI" -> myocardial
    infarction, "PLEX" -> plasma exchange), then spelling-folded; the same on both sides."""
    text = _name(name)
    if not CANONICAL:
        return text
    from trialscope.extract.thresholds import thing_name

    return _spelling(_name(thing_name(str(name).strip()) or text))


def _canon_measure(name: Any) -> str:
    """A measure as the measure table names it (``measures.lookup``: "QTcF" -> QTc, "SBP" ->
    systolic BP), then spelling-folded; the same on both sides."""
    text = _name(name)
    if not CANONICAL:
        return text
    from trialscope.extract.measures import lookup

    return _spelling(_name(lookup(str(name).strip()) or text))


def threshold_matches(exp: dict[str, Any], got: dict[str, Any]) -> bool:
    """Legacy matching (thresholds.jsonl): no direction, exact values."""
    if exp.get("op") == "within":
        names = {n.strip().lower() for n in str(exp["measure"]).split(",")}
        same_measure = names == {n.lower() for n in got.get("drugs") or [got["measure"]]}
    else:
        same_measure = str(exp["measure"]).lower() == str(got["measure"]).lower()
    return (same_measure and exp["op"] == got["op"] and _same_value(exp["value"], got["value"])
            and _unit(exp.get("unit")) == _unit(got.get("unit")))


def threshold_matches_v2(exp: dict[str, Any], got: dict[str, Any]) -> bool:
    """RULES-thresholds-v2 §1: measure (windows: as a set of names), op, value, unit, and for
    windows the direction."""
    if ANY_NAME:
        if exp.get("op") == "within" and ((exp.get("direction") or "before")
                                          != (got.get("direction") or "before")):
            return False
    elif exp.get("op") == "within":
        names = {_canon_thing(n) for n in str(exp["measure"]).split(",")}
        got_names = got.get("drugs") or str(got["measure"]).split(",")
        if names != {_canon_thing(n) for n in got_names}:
            return False
        if (exp.get("direction") or "before") != (got.get("direction") or "before"):
            return False
    elif _canon_measure(exp["measure"]) != _canon_measure(got["measure"]):
        return False
    return (exp["op"] == got["op"] and _same_value_v2(exp["value"], got["value"])
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


def evaluate(labelled: Path = LABELLED, split: str = "legacy") -> dict[str, Any]:
    """Counts per kind (legacy) or family (v2 splits) plus the misses and false positives, for
    the report and the tests."""
    v2 = split != "legacy"
    names = FAMILIES if v2 else (*KINDS, "other")
    counts = {k: {"tp": 0, "fp": 0, "fn": 0} for k in names}
    misses: list[tuple[dict[str, Any], dict[str, Any]]] = []
    extras: list[tuple[dict[str, Any], dict[str, Any]]] = []
    notes: list[str] = []
    items = 0
    for name in SPLITS[split]:
        path = labelled / name
        if not path.exists():
            notes.append(f"{path} not found: thresholds skipped")
            continue
        from trialscope.extract.thresholds import extract_from_text

        same = threshold_matches_v2 if v2 else threshold_matches
        for row in _load(path):
            items += 1
            got = extract_from_text(row["text"], row.get("section", "inclusion"))
            hits, missed, fps = _pair(row["expected"], got, same)
            for e in hits:
                counts[family_of(e) if v2 else kind_of(e)]["tp"] += 1
            for e in missed:
                counts[family_of(e) if v2 else kind_of(e)]["fn"] += 1
                misses.append((row, e))
            for g in fps:
                kind = family_of(g) if v2 else g.get("kind", "other")
                counts[kind if kind in counts else "other"]["fp"] += 1
                extras.append((row, g))
    if not v2:
        _evaluate_doses(labelled, counts, misses, extras, notes)
    return {"counts": counts, "misses": misses, "false_positives": extras, "notes": notes,
            "split": split, "items": items}


def _evaluate_doses(labelled: Path, counts: dict[str, dict[str, int]], misses: list[Any],
                    extras: list[Any], notes: list[str]) -> None:
    path = labelled / "doses.jsonl"
    try:
        from trialscope.extract.doses import parse_doses
    except ImportError:
        notes.append("trialscope.extract.doses not importable: doses skipped")
        return
    if not path.exists():
        notes.append(f"{path} not found: doses skipped")
        return
    for row in _load(path):
        hits, missed, fps = _pair(row["expected"], parse_doses(row["text"]), dose_matches)
        counts["dose"]["tp"] += len(hits)
        counts["dose"]["fn"] += len(missed)
        counts["dose"]["fp"] += len(fps)
        misses += [(row, e) for e in missed]
        extras += [(row, g) for g in fps]


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


def _print_row(name: str, c: dict[str, int], tail: str = "") -> None:
    p, r, f1 = scores(c)
    print(f"{name:<11} {c['tp']:>4} {c['fp']:>4} {c['fn']:>4} {p:>9.3f} {r:>7.3f} {f1:>6.3f}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=tuple(SPLITS), default="legacy",
                        help="which labelled split to score (default legacy); dev5 (blind dev "
                             "batch 5) is scored only alone: it is not part of dev or all")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="list misses and false positives")
    parser.add_argument("--labelled", type=Path, default=LABELLED, help="folder of the .jsonl sets")
    parser.add_argument("--strict", action="store_true",
                        help="compare names as written, without the tables' canonical names "
                             "(the scoring before round 3)")
    args = parser.parse_args(argv)
    global CANONICAL
    CANONICAL = not args.strict
    result = evaluate(args.labelled, args.split)
    counts = result["counts"]
    if args.split == "legacy":
        rows = [(k, counts[k]) for k in KINDS if any(counts[k].values())]
        thresholds = tuple(k for k in (*KINDS, "other") if k != "dose")
        rows += [("thresholds", total(counts, thresholds)), ("doses", counts["dose"]),
                 ("overall", total(counts, (*KINDS, "other")))]
    else:
        rows = [(k, counts[k]) for k in FAMILIES if any(counts[k].values())]
        rows += [("thresholds", total(counts, FAMILIES))]
    print(f"split {args.split}: {result['items']} items ({', '.join(SPLITS[args.split])})")
    print(f"{'family' if args.split != 'legacy' else 'kind':<11} {'tp':>4} {'fp':>4} {'fn':>4} "
          f"{'precision':>9} {'recall':>7} {'F1':>6}")
    for name, c in rows:
        _print_row(name, c)
    if args.split != "legacy" and CANONICAL:
        # the same run scored with names compared as written (the scoring before round 3), and
        # with names not compared at all (how much of the gap is the name alone)
        global ANY_NAME
        for label, canonical, any_name, says in (
                ("(strict)", False, False, "names as written, no canonical names"),
                ("(any name)", True, True, "op, value, unit (and direction) only")):
            CANONICAL, ANY_NAME = canonical, any_name
            counts = total(evaluate(args.labelled, args.split)["counts"], FAMILIES)
            CANONICAL, ANY_NAME = True, False
            _print_row(label, counts, f"   <- {says}")
    for note in result["notes"]:
        print(f"note: {note}")
    if args.verbose:
        for title, pairs in (("misses", result["misses"]), ("false positives",
                                                             result["false_positives"])):
            print(f"\n{title} ({len(pairs)}):")
            for row, item in pairs:
                extra = f" ({item['direction']})" if item.get("direction") else ""
                print(f"  [{row['source']}] {_show(item)}{extra}\n      {row['text'][:160]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
