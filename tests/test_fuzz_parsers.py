"""Hostile input for every parser entry point: malformed, mistyped, deeply nested, huge, odd
unicode.  A parser may return a record or raise ``ParseError``; anything else would take a
crawl down (or lose the payload), so it is a bug.

Inputs come from random JSON trees shaped like studies and from real payloads (the bundled
fixtures) with parts replaced, cut or garbled.  Example counts are modest to keep the suite
quick; ``deadline=None`` because a loaded CI machine is no reason to fail.
"""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trialscope.extract.criteria import split_criteria
from trialscope.extract.doses import parse_doses
from trialscope.extract.thresholds import extract_from_text
from trialscope.parser.aggregator import parse_aggregator_html, parse_aggregator_text
from trialscope.parser.ctgov import parse_study, parse_study_json
from trialscope.parser.errors import ParseError
from trialscope.parser.files import parse_payload

from .conftest import CTGOV_FIXTURES, FIXTURES, json_paths

STUDIES = [json.loads(p.read_text(encoding="utf-8"))
           for p in sorted(CTGOV_FIXTURES.glob("*.json"))]
PAGES = sorted(p for folder in ("aggregator", "chictr", "euctr", "ictrp")
               for p in (FIXTURES / folder).glob("*") if p.suffix in (".html", ".xml", ".txt"))
PAGE_TEXTS = [p.read_text(encoding="utf-8") for p in PAGES]

# database=None: no .hypothesis/ folder in the working tree; failures print their input.
FUZZ = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# -- strategies --------------------------------------------------------------------------------
odd_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "\ufeff", "\u202e", "NCT", "NCT00000000", "≥ 6", "×10^6",
                     "１８歳", "e\u0301", "\ud7ff", "💉" * 3, "null", "[]", "{}", "\\", "\r\n",
                     "<script>", "]]>", "&amp;", "%s%n", "NaN", "-0", "1e309"]),
    # huge strings (built by repetition: cheap to generate, costly to parse badly)
    st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=4), st.integers(1000, 30000)),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(), odd_text)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(odd_text, inner, max_size=4)),
    max_leaves=12,
)


STUDY_PATHS = [json_paths(s) for s in STUDIES]


@st.composite
def mutated_studies(draw: st.DrawFn) -> Any:
    """A real study with one to four of its values replaced by hostile ones (or deleted)."""
    index = draw(st.integers(0, len(STUDIES) - 1))
    study = json.loads(json.dumps(STUDIES[index]))
    for path in draw(st.lists(st.sampled_from(STUDY_PATHS[index]), min_size=1, max_size=4)):
        parent = study
        try:
            for key in path[:-1]:
                parent = parent[key]
            if draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier replacement removed this path
    return study


MODULES = ["identificationModule", "statusModule", "sponsorCollaboratorsModule",
           "descriptionModule", "conditionsModule", "designModule", "armsInterventionsModule",
           "outcomesModule", "eligibilityModule", "contactsLocationsModule"]
study_shaped = st.fixed_dictionaries(
    {"protocolSection": st.dictionaries(st.sampled_from(MODULES), json_values, max_size=8)},
    optional={"derivedSection": json_values, "hasResults": json_values},
)


@st.composite
def garbled_text(draw: st.DrawFn, texts: list[str]) -> str:
    """A real payload cut, spliced with junk, or with a slice repeated."""
    text = draw(st.sampled_from(texts))
    cut = draw(st.integers(0, len(text)))
    how = draw(st.sampled_from(["cut", "splice", "repeat"]))
    if how == "cut":
        return text[:cut]
    if how == "splice":
        return text[:cut] + draw(odd_text) + text[cut:]
    return text[:cut] + text[cut:cut + 200] * draw(st.integers(2, 50))


def only_parse_errors(call: Any) -> None:
    try:
        result = call()
        if hasattr(result, "__next__"):
            list(result)  # generators do their work while being consumed
    except ParseError:
        pass


# -- ClinicalTrials.gov --------------------------------------------------------------------
@FUZZ
@given(st.one_of(mutated_studies(), study_shaped, json_values))
def test_parse_study_raises_only_parse_error(study: Any) -> None:
    only_parse_errors(lambda: parse_study(study, url="http://127.0.0.1/fuzz"))


@FUZZ
@given(st.one_of(
    st.builds(json.dumps, mutated_studies()),
    garbled_text([json.dumps(s, ensure_ascii=False) for s in STUDIES]),
    odd_text,
    st.binary(max_size=200),
))
def test_parse_study_json_raises_only_parse_error(text: str | bytes) -> None:
    only_parse_errors(lambda: parse_study_json(text))


def test_deeply_nested_json_is_a_parse_error() -> None:
    only_parse_errors(lambda: parse_study_json("[" * 100_000))


# -- every saved-payload format ------------------------------------------------------------
@FUZZ
@given(st.one_of(
    garbled_text(PAGE_TEXTS + [json.dumps(s) for s in STUDIES[:3]]),
    st.builds(lambda head, body: head + body,
              st.sampled_from(["<?xml version='1.0'?>", "<html>", '{"protocolSection": ',
                               '{"studies": [', "NCT ID: NCT06958939\n", "<trials>"]),
              odd_text),
    odd_text,
))
def test_parse_payload_raises_only_parse_error(text: str) -> None:
    only_parse_errors(lambda: parse_payload(text, source="fuzz"))


# -- aggregator pages ----------------------------------------------------------------------
AGGREGATOR = [p.read_text(encoding="utf-8") for p in sorted((FIXTURES / "aggregator").glob("*"))]


@FUZZ
@given(garbled_text(AGGREGATOR), st.one_of(st.none(), st.sampled_from(["NCT06958939", "x"])))
def test_aggregator_html_raises_only_parse_error(html: str, trial_id: str | None) -> None:
    only_parse_errors(lambda: parse_aggregator_html(html, source="fuzz", trial_id=trial_id))


@FUZZ
@given(st.one_of(
    garbled_text(AGGREGATOR),
    st.lists(st.one_of(st.sampled_from(["Basic Information", "Eligibility Criteria",
                                        "Overview", "Status:", "NCT ID:", "Phase:",
                                        "Inclusion Criteria:", "Sponsor", "Locations"]),
                       odd_text), max_size=30).map("\n".join),
))
def test_aggregator_text_raises_only_parse_error(text: str) -> None:
    only_parse_errors(lambda: parse_aggregator_text(text, source="fuzz"))


# -- criteria, doses, thresholds -----------------------------------------------------------
CRITERIA = [s["protocolSection"].get("eligibilityModule", {}).get("eligibilityCriteria", "")
            for s in STUDIES]
CRITERIA = [c for c in CRITERIA if c]
markers = st.sampled_from(["* ", "1. ", "1) ", "a) ", "i. ", "(1) ", "一、", "①", "- ", "  * ",
                           "Inclusion Criteria:", "Exclusion Criteria:", "\n", "\n\n", ":"])
criteria_like = st.lists(st.one_of(markers, odd_text), max_size=40).map("".join)


@FUZZ
@given(st.one_of(criteria_like, garbled_text(CRITERIA), st.none()))
def test_split_criteria_raises_only_parse_error(text: str | None) -> None:
    only_parse_errors(lambda: split_criteria(text))


dose_like = st.lists(st.one_of(
    st.sampled_from(["1.0", "×", "x", "10^6", "10e6", "cells/kg", "CAR-T cells", "mg/m2", "-",
                     "to", "/", "kg", "1,000,000", "per", "dose level", " "]),
    st.integers(-(10**30), 10**30).map(str), odd_text), max_size=25).map(" ".join)


@FUZZ
@given(st.one_of(dose_like, odd_text, st.none()))
def test_parse_doses_raises_only_parse_error(text: str | None) -> None:
    only_parse_errors(lambda: parse_doses(text))


threshold_like = st.lists(st.one_of(
    st.sampled_from(["MG-ADL", "QMG", "≥", ">=", "<", "score", "of", "at least", "age",
                     "years", "AChR", "antibody", "positive", "IgG", "mg/dL", "x ULN", "("]),
    st.floats().map(str), odd_text), max_size=25).map(" ".join)


@FUZZ
@given(st.one_of(threshold_like, garbled_text(CRITERIA)),
       st.sampled_from(["inclusion", "exclusion", "other", ""]), odd_text)
def test_extract_thresholds_raises_only_parse_error(text: str, section: str,
                                                    item: str) -> None:
    only_parse_errors(lambda: extract_from_text(text, section, item))


# -- issue 13: the hostile shapes one record of an import can hold -------------------------------
# (deep nesting, 1e999 / inf / NaN / huge integers, lone surrogates, a number where an id string
# belongs).  ``parse_payload`` is what every import path calls: it must never raise, and what it
# returns must be storable (JSON-serialisable and encodable as UTF-8), so one bad record can
# cost that record alone.

from trialscope.parser import chictr, ctis, euctr, ictrp, isrctn  # noqa: E402
from trialscope.parser.files import Failure, Parsed  # noqa: E402

HOSTILE = settings(max_examples=40, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

hostile_scalars = st.one_of(
    st.sampled_from([float("inf"), float("-inf"), float("nan"), 10**30, -(10**30), 2**63,
                     -1, 0, True, 95000005, "\ud800", "a\udfffb", "\ud83d\udc89",
                     "NCT\ud800", "x" * 100_000, ""]),
    st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.characters(min_codepoint=0xD700, max_codepoint=0xE000), max_size=5),
)


def deep(value: Any, depth: int, kind: str) -> Any:
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


hostile_values = st.one_of(
    hostile_scalars,
    st.builds(deep, hostile_scalars, st.integers(50, 3000), st.sampled_from(["list", "dict"])),
)


@st.composite
def hostile_studies(draw: st.DrawFn) -> Any:
    """A real study with hostile values at one to four of its paths (ids included)."""
    index = draw(st.integers(0, len(STUDIES) - 1))
    study = json.loads(json.dumps(STUDIES[index]))
    # Half the time one of the paths the issue names (an id, a count, free text).
    special = st.sampled_from([
        ("protocolSection", "identificationModule", "nctId"),
        ("protocolSection", "designModule", "enrollmentInfo", "count"),
        ("protocolSection", "eligibilityModule", "eligibilityCriteria"),
        ("protocolSection", "descriptionModule", "briefSummary")])
    paths = st.one_of(special, st.sampled_from(STUDY_PATHS[index]))
    for path in draw(st.lists(paths, min_size=1, max_size=4)):
        parent = study
        try:
            for key in path[:-1]:
                parent = parent.setdefault(key, {}) if isinstance(parent, dict) else parent[key]
            parent[path[-1]] = draw(hostile_values)
        except (KeyError, IndexError, TypeError):
            continue
    return study


def hostile_json(value: Any) -> str:
    """JSON text as a registry (or an attacker) could send it: inf as 1e999, NaN as a bare
    NaN, surrogates as escapes; nesting too deep for ``json.dumps`` written by hand."""
    try:
        text = json.dumps(value)  # ensure_ascii: surrogates become \\udXXX escapes
    except (ValueError, RecursionError):
        return "[" * 5000 + "]" * 5000
    return text.replace("Infinity", "1e999")


def storable(items: list[Any]) -> None:
    for item in items:
        assert isinstance(item, (Parsed, Failure)), item
        if isinstance(item, Parsed):
            json.dumps(item.record.to_dict(), ensure_ascii=False).encode("utf-8")
            item.raw.encode("utf-8")
        else:
            assert item.reason and isinstance(item.reason, str)


@HOSTILE
@given(hostile_studies())
def test_hostile_study_raises_only_parse_error(study: Any) -> None:
    only_parse_errors(lambda: parse_study(study, url="fuzz"))
    only_parse_errors(lambda: parse_study_json(hostile_json(study)))


@HOSTILE
@given(st.lists(hostile_studies(), min_size=1, max_size=3), st.booleans())
def test_parse_payload_never_raises_on_hostile_records(studies: list[Any], page: bool) -> None:
    texts = [hostile_json(s) for s in studies]
    text = '{"studies": [' + ",".join(texts) + "]}" if page else texts[0]
    items = list(parse_payload(text, source="fuzz"))
    storable(items)
    assert items  # every payload comes back as records or failures, never as nothing


@HOSTILE
@given(hostile_studies())
def test_a_hostile_study_in_a_page_costs_that_study_alone(study: Any) -> None:
    good = json.dumps(STUDIES[0])
    items = list(parse_payload('{"studies": [' + good + "," + hostile_json(study) + "," + good
                               + "]}", source="fuzz"))
    storable(items)
    assert len(items) == 3 and isinstance(items[0], Parsed) and isinstance(items[2], Parsed)


CTIS = [(FIXTURES / "ctis" / p).read_text(encoding="utf-8")
        for p in sorted(os.listdir(FIXTURES / "ctis")) if p.endswith(".json")]
ISRCTN_JSON = [(FIXTURES / "isrctn" / p).read_text(encoding="utf-8")
               for p in sorted(os.listdir(FIXTURES / "isrctn")) if p.endswith(".json")]


@st.composite
def hostile_registry_json(draw: st.DrawFn) -> str:
    """A CTIS or ISRCTN JSON record with hostile values at some of its paths."""
    doc = json.loads(draw(st.sampled_from(CTIS + ISRCTN_JSON)))
    paths = json_paths(doc)
    for path in draw(st.lists(st.sampled_from(paths), min_size=1, max_size=4)):
        parent = doc
        try:
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]] = draw(hostile_values)  # in place: the doc may be deep already
        except (KeyError, IndexError, TypeError):
            continue
    return hostile_json(doc)


@HOSTILE
@given(hostile_registry_json())
def test_other_json_registries_raise_only_parse_error(text: str) -> None:
    only_parse_errors(lambda: ctis.iter_trials(text, source="fuzz"))
    only_parse_errors(lambda: isrctn.iter_records(text, source="fuzz"))
    storable(list(parse_payload(text, source="fuzz")))


hostile_markup_text = st.one_of(
    st.sampled_from(["&#xd800;", "&#55296;", "&#x110000;", "&#0;", "\ud800", "1e999",
                     "<a>" * 3000, "&amp;" * 1000]),
    hostile_scalars.map(str),
)


def _texts(folder: str, *suffixes: str) -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted((FIXTURES / folder).glob("*"))
            if p.suffix in suffixes]


# Each markup parser on its own registry's captures (another registry's page would only
# exercise the format check).
MARKUP = [
    (lambda t: ictrp.parse_export(t, source="fuzz"), _texts("ictrp", ".xml")),
    (lambda t: chictr.parse_xml_export(t, source="fuzz"), _texts("ictrp", ".xml")),
    (lambda t: chictr.parse_detail_html(t, url="fuzz"),
     [t for t in _texts("chictr", ".html") if 'class="left_title"' in t]),
    (lambda t: euctr.parse_trial_html(t, url="fuzz"), _texts("euctr", ".html")),
    (lambda t: euctr.parse_fulltext(t, source="fuzz"), _texts("euctr", ".txt")),
    (lambda t: isrctn.iter_records(t, source="fuzz"), _texts("isrctn", ".xml")),
]


@st.composite
def markup_cases(draw: st.DrawFn) -> tuple[Any, str]:
    parse, texts = draw(st.sampled_from([m for m in MARKUP if m[1]]))
    text = draw(st.sampled_from(texts))
    cut = draw(st.integers(0, len(text)))
    return parse, text[:cut] + draw(hostile_markup_text) + text[cut:]


@HOSTILE
@given(markup_cases())
def test_markup_registries_raise_only_parse_error(case: tuple[Any, str]) -> None:
    parse, text = case
    only_parse_errors(lambda: parse(text))
    storable(list(parse_payload(text, source="fuzz")))


nested_criteria = st.builds(
    lambda depth, style: "Inclusion Criteria:\n" + "".join(
        f"{'  ' * (k % 40) if style else ''}{k}. one of the following:\n"
        f"{'  ' * (k % 40) if style else ''}  a) MG-ADL >= {k % 9}\n" for k in range(depth)),
    st.integers(100, 3000), st.booleans())


@HOSTILE
@given(st.one_of(nested_criteria, hostile_scalars.map(str),
                 st.builds(lambda s: s * 50_000, st.sampled_from(
                     ["ALT > 3 x ULN; ", "rituximab within 6 months, ", "AChR antibody positive. ",
                      "CAR-T cells 1 x 10^6/kg ", "age >= 18 years "]))))
def test_extractors_on_hostile_text_raise_only_parse_error(text: str) -> None:
    only_parse_errors(lambda: split_criteria(text))
    only_parse_errors(lambda: extract_from_text(text, "inclusion", "1"))
    only_parse_errors(lambda: parse_doses(text))
