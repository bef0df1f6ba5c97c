"""The keyword pre-checks (extract/prefilter.py) never change what the parsers extract.

A gate may skip a regex only where it cannot match.  Checked three ways, on every labelled and
fixture text (plus ../shared's real studies and the generated benchmark studies when present)
and on random "token soup" built from the patterns' own words, odd cases and odd whitespace:

* ``fold`` keeps, over all of Unicode, what the gates rely on;
* every gated pattern matches only texts its gate passes, and the subset regexes find exactly
  what the regexes with every branch find;
* extraction with every gate switched off gives the same thresholds and cell-therapy facts.
"""

from __future__ import annotations

import json
import re
import string
import sys
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trialscope.extract import celltherapy as C
from trialscope.extract import thresholds as T
from trialscope.extract.prefilter import (
    MANY_KEYS,
    Gate,
    first_chars,
    first_chars_of,
    fold,
    gate_set,
    has_key,
    key_finder,
    passes,
)
from trialscope.extract.units import read_unit, read_unit_plain
from trialscope.parser.ctgov import parse_study

from .conftest import CTGOV_FIXTURES, FIXTURES, REPO, shared_files

BENCH_ZIP = REPO / "bench" / "out" / "studies-10k.zip"
BENCH_STUDIES = 150  # generated studies read when the benchmark data is there


# -- corpus ------------------------------------------------------------------------------------

def _items(tree: list[dict[str, Any]]) -> Iterator[str]:
    for item in tree:
        yield item["text"]
        yield from _items(item.get("children") or [])


def _studies() -> Iterator[dict[str, Any]]:
    for path in sorted(CTGOV_FIXTURES.glob("*.json")):
        yield json.loads(path.read_text(encoding="utf-8"))
    for path in shared_files("data/ctgov-v2/studies"):
        yield json.loads(path.read_text(encoding="utf-8"))
    if BENCH_ZIP.exists():
        with zipfile.ZipFile(BENCH_ZIP) as zf:
            names = [n for n in zf.namelist() if n.endswith(".json")][:BENCH_STUDIES]
            for name in names:
                yield json.loads(zf.read(name))


def _corpus() -> tuple[list[str], list[tuple[list[str], list[str]]]]:
    """(criteria item texts, (primary, secondary) cell-therapy texts of each study)."""
    items: list[str] = []
    for name in ("thresholds.jsonl", "doses.jsonl"):
        for line in (FIXTURES / "labelled" / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                items.append(json.loads(line)["text"])
    for path in sorted((FIXTURES / "criteria").glob("*.expected.json")):
        tree = json.loads(path.read_text(encoding="utf-8"))
        items += [t for section in ("inclusion", "exclusion") for t in _items(tree[section])]
    fields = []
    for study in _studies():
        rec = parse_study(study)
        items += [t for s in ("inclusion", "exclusion") for t in _items(rec.eligibility[s])]
        fields.append(C.record_texts(rec))
    return list(dict.fromkeys(items)), fields


ITEMS, FIELDS = _corpus()
TEXTS = list(dict.fromkeys(ITEMS + [t for p, s in FIELDS for t in p + s]))

# The patterns' own words, in odd cases and with odd separators, so random joins make matches
# and near-misses of every gated pattern.
TOKENS = [
    "CAR", "car", "Car", "CART", "CAR+", "T", "t", "Ts", "NK", "nk", "-", " ", "  ", "\t", "\n",
    "\u2003", "\xa0", "(", ")", "(CAR)", "+", ".", ";", ",", "/", "İ", "ı", "ſ", "\u212a",
    "chimeric", "antigen", "receptor", "receptors", "engineered", "expressing", "natural",
    "killer", "cells", "cell", "reg", "regs", "Treg", "regulatory", "mRNA", "RNA", "rCAR",
    "TCR", "transduced", "with", "T cell", "lymphocytes", "CAAR", "CAARs", "auto", "antibody",
    "HSCT", "aHSCT", "ASCT", "BMT", "auto-", "allo-", "stem", "bone marrow", "blood",
    "haematopoietic", "hematopoietic", "transplant", "transplantation", "MSC", "hUC-",
    "mesenchymal", "stromal", "Desc", "artes", "08", "GC012F", "AZD0120", "KYV", "101", "S103",
    "MuSK", "MUSK", "DSG3", "CABA", "201", "rese", "cel", "ide", "bb2121", "cilta", "JNJ",
    "68284528", "LCAR", "B38M", "eque", "CT103A", "axi", "KTE", "C19", "X19", "brexu", "tisa",
    "CTL019", "liso", "JCAR017", "cabtagene", "autoleucel", "vicleucel", "leucel", "autologous",
    "autolog", "allogeneic", "patients", "patient's", "own", "patient-derived", "universal",
    "off-the-shelf", "donor", "derived", "healthy", "umbilical", "cord", "UC-MSCs", "CD", "19",
    "20", "7", "BCMA", "B-cell", "maturation", "GPRC5D", "BAFF", "R", "activating", "factor",
    "desmoglein", "muscle", "specific", "kinase", "嵌合抗原受体", "自然杀伤", "干细胞", "移植",
    "自体", "异体", "脐带", "B细胞成熟抗原", "间充质", "ALT", "AST", "SGPT", "alanine",
    "aminotransferase", "transaminases", "liver", "enzymes", "bilirubin", "direct", "total",
    "creatinine", "clearance", "CrCl", "eGFR", "glomerular", "SCr", "platelets", "PLT", "Plt",
    "ANC", "neutrophils", "Hb", "Hgb", "haemoglobin", "MG-ADL", "ADL", "QMG", "MGC", "MG",
    "composite", "QoL15r", "QOL", "ocular", "oculi", "age", "aged", "Age", "old", "older",
    "above", "younger", "between", "ages", "years", "yrs", "months", "weeks", "days", "岁",
    "周岁", "≥", ">=", ">", "<", "=", "?", "at least", "no more than", "18", "65", "1,500",
    "3", "×", "x", "ULN", "upper limit", "of normal", "/µL", "mg/dL", "within", "the past",
    "prior to", "before", "since", "during the", "last", "six", "one", "rituximab", "IVIg",
    "received", "treatment with", "前", "个月", "内", "MGFA", "Myasthenia Gravis Foundation",
    "of America", "class", "IIa", "IVb", "AChR", "acetylcholine", "LRP4", "lipoprotein",
    "positive", "seronegative", "sero", "negative", "double", "for patients", "if", "or",
    "and", "of", "serum", "glutamic", "pyruvic", "oxaloacetic", "transaminase",
]
soup = st.lists(st.sampled_from(TOKENS), max_size=14).map("".join)
SOUP = settings(max_examples=400, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])


# -- fold ---------------------------------------------------------------------------------------

def test_fold_over_all_of_unicode() -> None:
    """Same length, and a word character, whitespace or a digit exactly where the text has
    one; an ASCII letter exactly where re.IGNORECASE matches that letter."""
    text = "".join(chr(i) for i in range(sys.maxunicode + 1) if not 0xD800 <= i <= 0xDFFF)
    low = fold(text)
    assert len(low) == len(text)
    for cls in (r"\w", r"\s", r"\d"):
        rx = re.compile(cls)
        assert [m.start() for m in rx.finditer(text)] == [m.start() for m in rx.finditer(low)]
    for letter in string.ascii_lowercase:
        assert ([m.start() for m in re.finditer(letter, text, re.IGNORECASE)]
                == [m.start() for m in re.finditer(letter, low)]), letter
    assert not re.search(r"[^\S ]", low)  # every whitespace character is a space


# -- each gate against its pattern ---------------------------------------------------------------

Check = tuple[str, Callable[[str], bool], Callable[[str, str], bool]]
PATTERNS: dict[str, re.Pattern[str]] = {}  # name -> the gated regex


def _gated() -> list[Check]:
    """(name, does the pattern match the text, does its gate pass) for every gated pattern;
    the thresholds' first, up to and including "window"."""
    out: list[Check] = []

    def add(name: str, rx: re.Pattern[str], gate: Callable[[str, str], bool]) -> None:
        PATTERNS[name] = rx
        out.append((name, lambda t: rx.search(t) is not None, gate))

    for i, branch in enumerate(T._MENTION_BRANCHES):
        add(f"mention {T._MEASURES[i][0]}", re.compile(branch),
            lambda t, low, g=T._MENTION_GATES[i]: passes(g, t, low))
    for value, rx, keys in T._ANTIBODIES:
        add(f"antibody {value}", rx, lambda t, low, k=keys: has_key(low, k))
    for rx, value, keys in T._SEROLOGY:
        add(value, rx, lambda t, low, k=keys: has_key(low, k))
    add("MGFA", T._MGFA, lambda t, low: passes(T._MGFA_GATE, t, low))
    # the plain forms (the same matches, see _same_matches): hypothesis's from_regex writes texts
    # for a lookahead only by filtering
    add("age in years", T._AGE_YEARS_PLAIN, lambda t, low: has_key(low, T._AGE_YEARS_KEYS))
    add("person's age", T._PERSON_AGE_PLAIN, lambda t, low: has_key(low, T._PERSON_AGE_KEYS))
    add("numbers", T._NUMBERS, lambda t, low: bool(T._DIGIT.search(t))
        or has_key(low, T._NUMBER_KEYS))

    def window(t: str) -> bool:  # _windows searches clause by clause
        return any(T._WINDOW.search(t, a, b) for a, b in T._clauses(t))

    PATTERNS["window"] = T._WINDOW_PLAIN  # (hypothesis writes no lookaheads)
    out.append(("window", window, lambda t, low: has_key(low, T._WINDOW_KEYS)
                and T._WINDOW_GATE.search(low) is not None))
    for name, rx, gate in C._MODALITY_RES + C._SOURCE_RES:
        add(name, rx, lambda t, low, g=gate: passes(g, t, low))
    for product, rx in C._PRODUCT_RES:
        add(f"product {product.name}", rx, lambda t, low, k=product.keys: has_key(low, k))
    for (name, pattern), gate in zip(C._TARGET_PATTERNS, C._TARGET_GATES, strict=True):
        add(f"target {name}", re.compile(C._L + "(?:" + pattern + ")", re.IGNORECASE),
            lambda t, low, g=gate: passes(g, t, low))
    return out


GATED = _gated()
_SPLIT = next(i for i, (name, _, _) in enumerate(GATED) if name == "window") + 1
THRESHOLD_GATES, CELL_GATES = GATED[:_SPLIT], GATED[_SPLIT:]


def _unsound(text: str, gated: list[Check] = GATED) -> list[str]:
    """The gates that would skip a pattern that matches ``text``."""
    low = fold(text)
    return [name for name, matches, gate in gated if not gate(text, low) and matches(text)]


def test_every_pattern_is_gated() -> None:
    assert len(C._TARGET_GATES) == len(C._TARGET_PATTERNS)
    assert len(T._MENTION_GATES) == len(T._MEASURES)
    assert set(C._MODALITY_GATES) == {name for name, _ in C._MODALITY_PATTERNS}
    assert all(p.keys for p in C.PRODUCTS)


def test_gates_pass_every_corpus_text_their_pattern_matches() -> None:
    assert len(ITEMS) > 400 and len(FIELDS) >= 20  # the bundled fixtures alone give 489 / 20
    # as written, and as each extractor reads them (cleaned)
    items = ITEMS + [T._clean(t) for t in ITEMS]
    fields = list(dict.fromkeys(t for p, s in FIELDS for t in p + s))
    fields += [C._clean(t) for t in fields]
    unsound = {t[:80]: bad for t in items if (bad := _unsound(t, THRESHOLD_GATES))}
    unsound |= {t[:80]: bad for t in fields if (bad := _unsound(t, CELL_GATES))}
    assert unsound == {}


# Every alternative of every gated pattern, as written in the wild: the keys were read off
# these forms, so each must match its pattern and pass its gate, as must its variants with odd
# whitespace, upper case, and the non-ASCII letters re.IGNORECASE takes for i, s and k.
EXAMPLES: dict[str, list[str]] = {
    "mention MG-ADL": ["MG-ADL", "MG ADL", "Myasthenia Gravis-Activities of Daily Living"],
    "mention QMG": ["QMG", "quantitative myasthenia gravis"],
    "mention MGC": ["MGC", "MG composite", "myasthenia gravis composite"],
    "mention MG-QoL15r": ["MG-QOL15r", "mgql15", "MG QoL 15 r"],
    "mention ocular share": ["ocular subscore", "musculi oculi related score",
                             "ocular muscle score"],
    "mention creatinine clearance": ["CrCl", "CLcr", "kreatinine clearence"],
    "mention eGFR": ["eGFR", "estimated glomerular filtration rate"],
    "mention creatinine": ["SCr", "serum creatinine"],
    "mention ALT": ["ALT", "SGPT", "alanine aminotransferase",
                    "serum glutamic-pyruvic transaminase"],
    "mention AST": ["AST", "SGOT", "aspartate transaminases",
                    "serum glutamic oxaloacetic transaminase"],
    "mention ALT+AST": ["hepatic transaminases", "aminotransferases", "liver enzymes"],
    "mention direct bilirubin": ["conjugated bilirubin"],
    "mention bilirubin": ["total serum bilirubin"],
    "mention platelets": ["PLTs", "Plt", "platelet count", "thrombocytes"],
    "mention neutrophils": ["ANC", "absolute neutrophil count", "granulocytes"],
    "mention haemoglobin": ["Hb", "Hgb", "HGB", "hemoglobin", "haemoglobin"],
    "mention age": ["Age", "aged"],
    "antibody AChR+": ["anti-AChR", "acetylcholine receptor"],
    "antibody MuSK+": ["anti-MuSK", "muscle-specific tyrosine kinase"],
    "antibody LRP4+": ["LRP-4", "lipoprotein receptor-related protein 4"],
    "seronegative": ["seronegative", "double-negative", "triple seronegative"],
    "seropositive": ["sero-positive"],
    "MGFA": ["MGFA", "Myasthenia Gravis Foundation of America"],
    "age in years": ["18-75 years old", ">= 18 years of age", "18 years or younger",
                     "20 yrs and above", "18岁", "≥18周岁", "between the ages of 18 and 65",
                     "> 18 years or < 65 years of age"],
    "person's age": ["patients over 18 years", "women aged >= 40 years",
                     "males older than 2 months", "individuals of both sexes aged > 18 yrs"],
    "numbers": ["3", "ULN", "LLN", "upper limit", "twelve"],
    "window": ["within 48 hrs", "within 2 hours", "less than 6 wks", "in the past 3 mos",
               "during the last six months.", "in the previous 2 yrs", "4 weeks before",
               "one day prior to", "at least 6 months since", "前3个月内", "近2周内",
               "< 30 days", "over the 12 hours,"],
    "CAR-Treg": ["CAR-Treg", "CAR Tregs", "CAR-T reg", "CAR-T regulatory",
                 "CAR-engineered regulatory T",
                 "chimeric antigen receptor-modified regulatory T",
                 "regulatory T cells expressing a chimeric antigen receptor"],
    "CAR-NK": ["CAR-NK", "CARNK", "CAR natural killer", "chimeric antigen receptor (CAR)NK",
               "chimeric antigen receptor-NK", "NK cells engineered to express a CAR",
               "natural killer cells armed with a CAR", "嵌合抗原受体NK", "嵌合抗原受体自然杀伤"],
    "CAAR-T": ["CAAR-T", "CAARs", "chimeric autoantibody receptor"],
    "mRNA CAR-T": ["mRNA CAR-T", "RNA CAR T", "RNA-engineered CAR T", "rCAR-T",
                   "mRNA-based chimeric antigen receptor T"],
    "TCR-T": ["TCR-T", "TCR-engineered T", "T-cell receptor (TCR) gene-modified T",
              "T cells transduced with a T cell receptor", "T lymphocytes engineered to "
              "express a high-affinity TCR"],
    "CAR-T": ["CAR-T", "CAR+ T", "CAR γδ T", "UCART", "U-CAR-T", "CART19", "CAR", "CARs",
              "chimeric antigen receptor", "嵌合抗原受体"],
    "HSCT": ["autologous hematopoietic stem cell transplantation", "blood stem cell rescue",
             "bone marrow progenitor cells support", "aHSCT", "auto-ASCT", "allo-BMT",
             "peripheral blood stem cell transplant", "stem-cell transplantation",
             "bone marrow transplant", "造血干细胞移植", "骨髓移植"],
    "MSC": ["mesenchymal stem cells", "mesenchymal stromal cells transplantation", "hUC-MSCs",
            "BM-MSC", "间充质干细胞"],
    "autologous": ["autologous", "autogolous", "autogenous", "aHSCT", "ASCT", "auto-HSCT",
                   "patient's own T cells", "patients own white blood cells",
                   "patient-derived", "autoleucel", "自体"],
    "allogeneic": ["allogenic", "allo-HSCT", "UCAR-T", "UCART", "universal CAR-T cells",
                   "universal-CAR", "off-the-shelf", "donor-derived", "healthy donors",
                   "haplo-identical donor", "umbilical cord", "cord blood", "hUC-MSC",
                   "同种异体", "异基因", "通用型", "供者", "脐带"],
    "product Descartes-08": ["Descartes-08", "Desartes 08"],
    "product GC012F": ["GC012F", "AZD0120"],
    "product KYV-101": ["KYV-101", "KYV101"],
    "product S103": ["S103"],
    "product MuSK-CAART": ["MuSK-CAART", "MuSK CAAR T"],
    "product DSG3-CAART": ["DSG3-CAART"],
    "product CABA-201": ["CABA-201", "rese-cel", "rese cel", "resecabtagene autoleucel"],
    "product ide-cel": ["ide-cel", "idecel", "ide cel", "idecabtagene vicleucel", "bb2121",
                        "Abecma"],
    "product cilta-cel": ["cilta-cel", "ciltacabtagene autoleucel", "JNJ-68284528",
                          "LCAR-B38M", "Carvykti"],
    "product eque-cel": ["CT103A", "eque-cel", "eque cel", "equecabtagene autoleucel", "Fucaso"],
    "product axi-cel": ["axi-cel", "axi cel", "axicabtagene ciloleucel", "KTE-C19", "Yescarta"],
    "product brexu-cel": ["brexu-cel", "brexucabtagene autoleucel", "KTE-X19", "Tecartus"],
    "product tisa-cel": ["tisa-cel", "tisagenlecleucel", "CTL019", "Kymriah"],
    "product liso-cel": ["liso-cel", "lisocabtagene maraleucel", "JCAR017", "Breyanzi"],
    "target CD19": ["CD19", "CD 19", "CD-19", "CART-19"],
    "target BCMA": ["BCMA", "B-cell maturation antigen", "B细胞成熟抗原"],
    "target CD20": ["CD20"], "target CD22": ["CD22"], "target CD7": ["CD7"],
    "target CD38": ["CD38"], "target CD70": ["CD70"], "target GPRC5D": ["GPRC5D"],
    "target MuSK": ["MuSK", "MUSK", "muscle-specific receptor tyrosine kinase"],
    "target BAFF-R": ["BAFF-R", "BAFFR", "B cell activating factor receptor"],
    "target DSG3": ["DSG3", "desmoglein 3"],
}


def _variants(text: str) -> list[str]:
    out = [text, text.upper(), text.lower(), f"x {text} y"]
    for space in ("\t", "\n", "\u2003", "\xa0", "  "):
        out.append(text.replace(" ", space))
    for letter, odd in (("i", "\u0131"), ("I", "\u0130"), ("s", "\u017f"), ("k", "\u212a"),
                        ("K", "\u212a")):
        out.append(text.replace(letter, odd))
    return out


# Every row of the measure table (extract/measures.py): its name and aliases are spellings.
for _i, (_name, _, _) in enumerate(T._MEASURES):
    _row = T._ROW[_name]
    EXAMPLES.setdefault(f"mention {_name}", [
        n for n in (_row.name, *_row.aliases)
        if re.compile(T._MENTION_BRANCHES[_i]).fullmatch(n)] or (
        ["prothrombin time"] if _name == "PT" else []))


def test_every_gated_pattern_has_examples() -> None:
    assert set(EXAMPLES) == {name for name, _, _ in GATED}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_gates_pass_every_form_of_their_pattern(name: str) -> None:
    matches, gate = next((m, g) for n, m, g in GATED if n == name)
    for text in EXAMPLES[name]:
        assert matches(text), text  # the example is one of the pattern's forms
        for variant in _variants(text):
            assert not matches(variant) or gate(variant, fold(variant)), variant


@SOUP
@given(soup)
def test_gates_pass_token_soup_their_pattern_matches(text: str) -> None:
    assert _unsound(text) == []


@pytest.mark.parametrize("name", [name for name, _, _ in GATED])
@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_gates_pass_texts_made_from_their_pattern(name: str, data: st.DataObject) -> None:
    """Hypothesis writes texts with a match of the pattern (any case, any whitespace, any
    text around it): the gate must pass every one."""
    text = data.draw(st.from_regex(PATTERNS[name]))
    gate = next(g for n, _, g in GATED if n == name)
    assert gate(text, fold(text)), text


# -- the faster forms of a regex ---------------------------------------------------------------

def _spans(matches: Iterator[re.Match[str]]) -> list[tuple[int, int, str | None]]:
    return [(m.start(), m.end(), m.lastgroup) for m in matches]


def _same_matches(text: str) -> None:
    low = fold(text)
    assert bool(C._QUICK.search(text)) == C._quick(text, low)
    gated = T._mention_gates(text, low)
    fast = _spans(T._mention_rx(gated).finditer(text)) if gated else []
    assert fast == _spans(T._MENTION.finditer(text))
    gated = C._product_gates(text, low)
    fast = _spans(C._products_rx(gated).finditer(text)) if gated else []
    assert fast == _spans(C._PRODUCTS_RX.finditer(text))
    gated = C._target_gates(text, low)
    fast = _spans(C._targets_rx(gated).finditer(text)) if gated else []
    assert fast == _spans(C._TARGETS_RX.finditer(text))
    assert T._clauses(text) == _clauses_char_by_char(text)
    for fast, plain in ((T._CONDITIONAL, T._CONDITIONAL_PLAIN), (T._AGE_YEARS, T._AGE_YEARS_PLAIN),
                        (T._PERSON_AGE, T._PERSON_AGE_PLAIN)):  # first_chars forms
        assert ([(m.span(), m.groupdict()) for m in fast.finditer(text)]
                == [(m.span(), m.groupdict()) for m in plain.finditer(text)]), fast.pattern[:40]
    for c0, c1 in T._clauses(text):  # the window regex behind its first-character lookahead
        assert ([(m.span(), m.groupdict()) for m in T._WINDOW.finditer(text, c0, c1)]
                == [(m.span(), m.groupdict()) for m in T._WINDOW_PLAIN.finditer(text, c0, c1)])


def _clauses_char_by_char(text: str) -> list[tuple[int, int]]:
    """thresholds._clauses as it was: the same test on every character."""
    spans, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch in "([") - (ch in ")]")
        if depth <= 0 and (ch in ";；。" or ch == "." and text[i + 1:i + 2] in (" ", "")
                           and not text[i - 1:i].isdigit()):
            spans.append((start, i))
            start, depth = i + 1, 0
    return spans + [(start, len(text))]


def test_first_characters_of_a_pattern() -> None:
    assert first_chars_of(r"\bab|c+(?!x)") == ({"a", "c"}, set())
    assert first_chars_of(r"(?i:ab)|X|[0-9]|\d") == ({"X", "0-9", r"\d"}, {"a"})
    assert first_chars_of(r"(?:x\s+)?y") == ({"x", "y"}, set())
    assert first_chars_of(r"(?<!a)\(b") == ({"("}, set())
    for unknown in (r"a?", r"[^a]b", r".b", r"(a?)\1b", r"a|", r"(?i)x*"):
        assert first_chars_of(unknown) is None, unknown
    rx = first_chars(r"\bfor\s+\d|(?<!x)in\b", re.IGNORECASE)
    assert rx.pattern.startswith("(?=")
    assert [m.span() for m in rx.finditer("FOR 3 ın Xin in")] == [(0, 5), (6, 8), (13, 15)]
    assert first_chars("a?b").pattern == "(?=(?:[ab]))(?:a?b)"
    assert first_chars("a?").pattern == "a?"  # (a match may be empty: no lookahead)


def test_fast_forms_agree_on_the_corpus() -> None:
    for text in TEXTS:
        _same_matches(text)


@SOUP
@given(soup)
def test_fast_forms_agree_on_token_soup(text: str) -> None:
    _same_matches(text)


def _same_units(text: str) -> None:
    for pos in range(len(text) + 1):
        assert read_unit(text, pos) == read_unit_plain(text, pos), (text, pos)


def test_read_unit_agrees_with_every_row_on_the_corpus() -> None:
    """``read_unit`` tries only the unit rows that can start with the character at hand:
    the same unit as trying every row, at every position of every corpus text."""
    for text in ITEMS:
        _same_units(text)


UNIT_TOKENS = TOKENS + ["mg", "dl", "mmol", "L", "l", "µ", "μ", "u", "mcL", "mm", "³", "^", "2",
                        "m²", "kg", "g", "%", "°", "C", "/", "per", "×", "*", "10", "9", "e",
                        "IU", "mL", "min", "1.73", "bpm", "Hg", "fold", "times", "LLN", "x"]


@SOUP
@given(st.lists(st.sampled_from(UNIT_TOKENS), max_size=10).map("".join))
def test_read_unit_agrees_with_every_row_on_token_soup(text: str) -> None:
    _same_units(text)


# -- extraction with and without the gates -----------------------------------------------------

@contextmanager
def open_gates() -> Iterator[None]:
    """Every gate passes: the extractors run every regex, as before the pre-checks."""

    def every(n: int) -> Callable[[str, str], tuple[int, ...]]:
        return lambda text, low: tuple(range(n))

    with pytest.MonkeyPatch.context() as patch:
        for module in (T, C):
            patch.setattr(module, "has_key", lambda text, keys: True)
            patch.setattr(module, "passes", lambda gate, text, low: True)
        patch.setattr(T, "_mention_gates", every(len(T._MEASURES)))
        patch.setattr(T, "_drug_gates", every(len(T._DRUG_ROWS)))
        patch.setattr(T, "_LAST_GATES", [None, ()])  # the per-item caches start empty
        patch.setattr(T, "_LAST_DRUG_GATES", [None, ()])
        patch.setattr(T, "_WINDOW_GATE", re.compile(""))
        patch.setattr(T, "_SINCE_FORMS_GATE", re.compile(""))
        patch.setattr(T, "_WINDOW", T._WINDOW_PLAIN)
        patch.setattr(T, "_CONDITIONAL", T._CONDITIONAL_PLAIN)
        patch.setattr(T, "_AGE_YEARS", T._AGE_YEARS_PLAIN)
        patch.setattr(T, "_PERSON_AGE", T._PERSON_AGE_PLAIN)
        patch.setattr(C, "_product_gates", every(len(C.PRODUCTS)))
        patch.setattr(C, "_target_gates", every(len(C._TARGET_PATTERNS)))
        patch.setattr(C, "_quick", lambda text, low: C._QUICK.search(text) is not None)
        patch.setattr(C, "_cue_matters", lambda lows: True)
        patch.setattr(C, "_may_state_modality", lambda text, low: True)
        yield


def _extract(items: list[str], fields: list[tuple[list[str], list[str]]]) -> Any:
    thresholds = [T.extract_from_text(t, s) for t in items for s in ("inclusion", "exclusion")]
    return thresholds, [C.extract_from_texts(p, s) for p, s in fields]


def test_open_gates_really_open() -> None:
    with open_gates():
        assert T.has_key("", ()) and C._product_gates("", "") == tuple(range(len(C.PRODUCTS)))
    assert not T.has_key("", ())


def test_extraction_is_the_same_without_gates() -> None:
    fast = _extract(ITEMS, FIELDS)
    with open_gates():
        slow = _extract(ITEMS, FIELDS)
    assert fast == slow
    assert sum(map(len, fast[0])) > 100 and sum(1 for f in fast[1] if f) > 10  # not vacuous


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(soup, min_size=1, max_size=4))
def test_extraction_is_the_same_without_gates_on_token_soup(texts: list[str]) -> None:
    fast = _extract(texts, [(texts[:2], texts[2:])])
    with open_gates():
        slow = _extract(texts, [(texts[:2], texts[2:])])
    assert fast == slow



def test_window_thing_gates_pass_every_corpus_text_their_row_matches() -> None:
    """extract/things.py EVENT_KEYS and thresholds._DRUG_KEYS: a row runs only when one of its
    words is in fold(text); on every corpus and labelled text, a row that matches has one."""
    texts = ITEMS + [T._clean(t) for t in ITEMS]
    for name in ("thresholds-dev.jsonl", "thresholds-test.jsonl"):
        path = FIXTURES / "labelled" / name
        texts += [T._clean(json.loads(line)["text"])
                  for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts += [n for _, n, _ in T._DRUG_ROWS if n and n != "*s"]  # the canonical names
    unsound = [(text[:60], rx.pattern[:40]) for text in texts
               for rx, _, keys in T._DRUG_ROWS
               if rx.search(text) and not has_key(fold(text), keys)]
    assert unsound == []


# -- gate sets: the keys found by one search are the keys found by a test a key --------------

# Every gate set of the extractors, and keys made to overlap: prefixes of one another ("a",
# "ab", "abc"), a key inside another ("bc" in "abcd"), keys that overlap at their ends
# ("abc", "cde"), regex characters, non-ASCII.
GATE_SETS = {
    "mentions": T._MENTION_GATES,
    "drugs": [((), keys) for _, _, keys in T._DRUG_ROWS],
    "products": [((), p.keys or ("",)) for p in C.PRODUCTS],
    "targets": C._TARGET_GATES,
    "made up": [((), (k,)) for k in ["a", "ab", "abc", "bc", "abcd", "cde", "e", "de", "x+",
                                     "(y", "[z]", "细胞", "胞", "\u0130", *(f"k{i}" for i in
                                                                          range(80))]],
}
GATE_TOKENS = sorted({k for gates in GATE_SETS.values() for g in gates for ks in g for k in ks
                      if k}) + ["A", " ", "abcde", "K12", "kk", "k1k2", "\n"]


def _plain_passing(gates: list[Gate], text: str, low: str) -> tuple[int, ...]:
    return tuple(i for i, g in enumerate(gates) if has_key(text, g[0]) or has_key(low, g[1]))


def _same_gates(text: str) -> None:
    low = fold(text)
    for name, gates in GATE_SETS.items():
        assert gate_set(gates)(text, low) == _plain_passing(gates, text, low), (name, text)


def test_gate_sets_search_when_their_keys_are_many() -> None:
    # (else the tests below would compare the plain form with itself)
    assert len({k for g in T._MENTION_GATES for k in g[1]}) > MANY_KEYS
    assert len({k for g in GATE_SETS["made up"] for k in g[1]}) > MANY_KEYS
    assert gate_set(T._MENTION_GATES).__name__ == "searched"


def test_key_finder_finds_overlapping_keys() -> None:
    keys = {k: [i] for i, k in enumerate(["a", "ab", "abc", "bc", "cde", *(f"k{i}" for i in
                                                                          range(MANY_KEYS))])}
    find = key_finder(keys)
    assert find("abcde") == {0, 1, 2, 3, 4}
    assert find("xabx") == {0, 1}
    assert find("k1 k12") == {keys["k1"][0], keys["k12"][0]}
    assert find("") == set()


def test_gate_sets_agree_on_the_corpus() -> None:
    for text in TEXTS:
        _same_gates(text)


@SOUP
@given(st.lists(st.sampled_from(GATE_TOKENS), max_size=12).map("".join))
def test_gate_sets_agree_on_key_soup(text: str) -> None:
    _same_gates(text)
