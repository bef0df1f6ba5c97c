"""Hostile input for every parser entry point: malformed, mistyped, deeply nested, huge, odd
unicode.  A parser may return a record or raise ``ParseError``; anything else would take a
crawl down (or lose the payload), so it is a bug.

Inputs come from random JSON trees shaped like studies and from real payloads (the bundled
fixtures) with parts replaced, cut or garbled.  Example counts are modest to keep the suite
quick; ``deadline=None`` because a loaded CI machine is no reason to fail.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trialscope.parser.aggregator import parse_aggregator_html, parse_aggregator_text
from trialscope.parser.criteria import split_criteria
from trialscope.parser.ctgov import parse_study, parse_study_json
from trialscope.parser.doses import parse_doses
from trialscope.parser.errors import ParseError
from trialscope.parser.files import parse_payload
from trialscope.parser.thresholds import extract_from_text

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
