"""Aggregator pages: the two seed captures (visible text, ../shared/seeds, skipped when absent)
and hand-written HTML fixtures of the same two layouts (fixtures/aggregator/, always run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from trialscope.parser import ParseError, TrialRecord
from trialscope.parser.aggregator import (
    html_to_text,
    looks_like_aggregator,
    parse_aggregator_html,
    parse_aggregator_text,
)

from .conftest import FIXTURES as ALL_FIXTURES
from .conftest import shared_path

FIXTURES = ALL_FIXTURES / "aggregator"
OVERVIEW_HTML = FIXTURES / "overview_zju_cart_mg.html"
SECTIONED_HTML = FIXTURES / "sectioned_NCT06958939.html"
RELATED = ["NCT05332587", "NCT06759948", "NCT07039916", "NCT07058298", "NCT05716035"]


def _seed(name: str) -> str:
    """A seed capture in ../shared/seeds (skips when ../shared is absent)."""
    return shared_path("seeds", name).read_text(encoding="utf-8")


def _overview_seed() -> str:
    return _seed("000_adeaf616e44e0b0f.txt")


def _sectioned_seed() -> str:
    return _seed("001_c82998d412b8f6da.txt")


def _check_sectioned(rec: TrialRecord) -> None:
    """Seed 001's facts, whichever form (text or HTML) they were read from."""
    assert (rec.trial_id, rec.registry, rec.url) == ("NCT06958939", "aggregator", None)
    assert rec.title == (
        "The Safety and Efficacy of S103 in the Treatment of Refractory Generalized "
        "Myasthenia Gravis")
    assert rec.status == "NOT_YET_RECRUITING"
    assert rec.phases == ["PHASE1"]
    assert rec.enrollment["count"] == 24
    assert rec.study_type == "INTERVENTIONAL"
    assert (rec.start_date, rec.completion_date) == ("2025-05-01", "2026-08-30")
    assert rec.last_updated == "2025-05-06"
    assert rec.has_results is False
    assert rec.related_ids == RELATED
    # Study Groups list the arm and the four dose-level groups; the dosed ones carry 1/2/4/8
    # x 10^6 cells per kg.
    assert [a["label"] for a in rec.arms] == ["S103 CAR-T"] + [
        f"Dose level {i} group" for i in range(1, 5)]
    dosed = [a for a in rec.arms if a["doses"]]
    assert len(dosed) == 4
    assert [(d["value"], d["unit"], d["per"]) for a in dosed for d in a["doses"]] == [
        (v * 1e6, "cells", "kg") for v in (1.0, 2.0, 4.0, 8.0)]
    assert [iv["name"] for iv in rec.interventions] == [
        f"Dose level {i} group" for i in range(1, 5)]
    assert [iv["doses"][0]["value"] for iv in rec.interventions] == [1e6, 2e6, 4e6, 8e6]
    assert rec.design["intervention_model"] == "SEQUENTIAL"
    assert rec.design["primary_purpose"] == "TREATMENT"
    el = rec.eligibility
    assert (el["min_age_years"], el["max_age_years"]) == (18.0, 80.0)
    assert (el["sex"], el["healthy_volunteers"]) == ("ALL", False)
    # The page itself omits item 1 of both lists; item "5." holds the 4 refractory conditions.
    assert len(el["inclusion"]) == 5
    assert el["inclusion"][3]["text"].endswith("fulfilling one of the following 4 conditions:")
    assert len(el["inclusion"][3]["children"]) == 4
    assert len(el["exclusion"]) == 11
    assert el["exclusion"][-1]["text"].startswith("Other conditions deemed by the investigator")
    # The responsible party (a sponsor-investigator) is the lead, as ClinicalTrials.gov has it.
    assert (rec.sponsor, rec.sponsor_class) == ("Ting Chang, MD", "OTHER")
    assert rec.collaborators == ["Hebei Senlang Biotechnology Co., LTD"]
    assert rec.locations == [{
        "facility": "The Second Affiliated Hospital of Air Force Medical University",
        "city": "Xi'an", "state": "Shaanxi", "zip": None, "country": "China", "status": None,
        "geo": None}]
    assert rec.officials == [{"name": "Ting Chang", "role": "STUDY_CHAIR",
                              "affiliation": "The Second Affiliated Hospital of Air Force "
                                             "Medical University"}]
    assert rec.secondary_ids == [{"id": "CART-20250321", "type": "ORG_STUDY_ID", "domain": None}]
    assert rec.contacts == []  # "Role: primary" with no name is not a contact
    assert rec.unknown_vocab == {}
    assert TrialRecord.from_dict(rec.to_dict()) == rec


def _check_overview(rec: TrialRecord) -> None:
    """Seed 000's facts (the page has no registry id: the caller gave one)."""
    assert (rec.trial_id, rec.registry) == ("zju-mg-cart", "aggregator")
    assert rec.title == ("Evaluate the Safety and Efficacy of CAR-T Cells in the Treatment of "
                         "Refractory Myasthenia Gravis")
    assert rec.status == "RECRUITING"
    assert rec.completion_date == "2026-04-20"
    assert rec.phases == ["PHASE1"]
    assert rec.sponsor == "Zhejiang University"
    assert rec.summary is not None and rec.summary.endswith("pharmacokinetics of CD19 CAR-T "
                                                            "in patients.")
    # "Target enrollment: 0": kept as given, with a note that it usually means unknown.
    assert rec.enrollment["count"] == 0 and "note" in rec.enrollment
    el = rec.eligibility
    assert (el["sex"], el["healthy_volunteers"]) == ("ALL", False)
    assert len(el["inclusion"]) == 8
    assert el["inclusion"][0]["text"] == "Age ≥18 and gender unlimited;"
    assert len(el["inclusion"][1]["children"]) == 3
    assert el["inclusion"][1]["children"][1]["text"] == (
        "Tensilon test and neostigmine test positive;")
    assert len(el["exclusion"]) == 13
    assert el["exclusion"][-1]["text"].startswith("Any situation that the researchers")
    assert rec.unknown_vocab == {}
    assert TrialRecord.from_dict(rec.to_dict()) == rec


# --- the seed captures (visible text) ------------------------------------------------------

def test_sectioned_seed_text() -> None:
    _check_sectioned(parse_aggregator_text(_sectioned_seed(), source="seed-001"))


def test_overview_seed_text() -> None:
    _check_overview(parse_aggregator_text(_overview_seed(), trial_id="zju-mg-cart"))


def test_overview_seed_without_id_is_missing_id() -> None:
    with pytest.raises(ParseError) as err:
        parse_aggregator_text(_overview_seed(), source="seed-000")
    assert err.value.reason == "missing_id"
    assert err.value.source == "seed-000"


def test_seeds_are_detected() -> None:
    assert looks_like_aggregator(_overview_seed())
    assert looks_like_aggregator(_sectioned_seed())


# --- the HTML fixtures -----------------------------------------------------------------------

def test_sectioned_html() -> None:
    rec = parse_aggregator_html(SECTIONED_HTML.read_text(encoding="utf-8"))
    _check_sectioned(rec)
    # Real <ol>/<br> structure: the model description keeps all four lines.
    assert rec.design["intervention_model_description"].count("\n") == 3


def test_overview_html() -> None:
    html = OVERVIEW_HTML.read_text(encoding="utf-8")
    _check_overview(parse_aggregator_html(html, trial_id="zju-mg-cart"))


def test_overview_html_matches_the_seed_text() -> None:
    from_html = parse_aggregator_html(OVERVIEW_HTML.read_text(encoding="utf-8"), trial_id="x")
    from_text = parse_aggregator_text(_overview_seed(), trial_id="x")
    a, b = from_html.to_dict(), from_text.to_dict()
    a["eligibility"].pop("text"), b["eligibility"].pop("text")  # line wrapping differs
    assert a == b


def test_html_to_text_lines() -> None:
    text = html_to_text(OVERVIEW_HTML.read_text(encoding="utf-8"))
    lines = text.splitlines()
    # Script, style, nav and footer text never reach the lines; inline labels stay glued.
    assert lines[0] == "Overview"
    assert "Phase 1Accepts Healthy Volunteers?" in lines and "NoDetails" in lines
    assert "© Trial aggregator" not in text and "window.labels" not in text
    # Nested list items are indented under their parent, numbered as a browser shows them.
    assert "  2. Tensilon test and neostigmine test positive;" in lines
    html = "<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul><ol start='3'><li>d</li></ol>"
    assert html_to_text(html).splitlines() == ["- a", "  - b", "- c", "3. d"]


def test_fixtures_are_detected() -> None:
    for path in (OVERVIEW_HTML, SECTIONED_HTML):
        html = path.read_text(encoding="utf-8")
        assert looks_like_aggregator(html)
        assert looks_like_aggregator(html_to_text(html))


@pytest.mark.parametrize("text", [
    "", "   \n", "hello world", '{"protocolSection": {}}', "Overview\nnothing else",
    "<html><body><p>Basic Information</p></body></html>",
])
def test_not_aggregator(text: str) -> None:
    assert not looks_like_aggregator(text)


# --- ids -------------------------------------------------------------------------------------

def test_caller_id_must_match_the_page_id() -> None:
    html = SECTIONED_HTML.read_text(encoding="utf-8")
    assert parse_aggregator_html(html, trial_id="nct06958939").trial_id == "NCT06958939"
    with pytest.raises(ParseError) as err:
        parse_aggregator_html(html, trial_id="NCT00000001")
    assert err.value.reason == "id_mismatch"


def test_overview_takes_a_single_registry_id_from_the_text() -> None:
    html = OVERVIEW_HTML.read_text(encoding="utf-8")
    one = html.replace("single-center, phase I", "single-center (ChiCTR2400084905), phase I")
    rec = parse_aggregator_html(one)
    assert (rec.trial_id, rec.registry) == ("ChiCTR2400084905", "aggregator")
    # Two ids are ambiguous (one may be a parent trial): no id rather than the wrong one.
    two = one.replace("phase I study", "phase I study following NCT05332587")
    with pytest.raises(ParseError) as err:
        parse_aggregator_html(two)
    assert err.value.reason == "missing_id"
    assert parse_aggregator_html(two, trial_id="given").trial_id == "given"


# --- vocabulary ------------------------------------------------------------------------------

def test_unknown_vocabulary_is_kept_raw() -> None:
    html = SECTIONED_HTML.read_text(encoding="utf-8")
    html = html.replace("NOT_YET_RECRUITING", "Paused for review").replace(
        "<div>ALL</div>", "<div>Everyone</div>")
    rec = parse_aggregator_html(html)
    assert (rec.status, rec.status_raw) == ("Paused for review", "Paused for review")
    assert rec.eligibility["sex"] == "Everyone"
    assert rec.unknown_vocab == {"status": ["Paused for review"], "sex": ["Everyone"]}
    assert rec.phases == ["PHASE1"] and rec.enrollment["count"] == 24


# --- malformed input: ParseError, never anything else ---------------------------------------

@pytest.mark.parametrize("text, reason", [
    ("", "empty"),
    (" \n\t", "empty"),
    ("Lorem ipsum dolor sit amet\nconsectetur: adipiscing", "not_a_study"),
    ("\x00\x01\x02 binary \ufffd junk", "not_a_study"),
    ("Overview\nA title\nStatus:\nRecruiting\n", "truncated"),
    ("Some title\nNCT ID: NCT06958939\nLast Updated: 2025-05-06\nBasic Information\n",
     "truncated"),
])
def test_malformed_text(text: str, reason: str) -> None:
    with pytest.raises(ParseError) as err:
        parse_aggregator_text(text, source="bad.txt")
    assert err.value.reason == reason


@pytest.mark.parametrize("html", ["", "<html></html>", "<<<>>>", "<p>Status:</p>" * 3,
                                  "<div>" * 300 + "Overview" + "</div>" * 300])
def test_malformed_html(html: str) -> None:
    with pytest.raises(ParseError):
        parse_aggregator_html(html)


@pytest.mark.parametrize("path", [OVERVIEW_HTML, SECTIONED_HTML], ids=lambda p: p.name)
def test_truncated_pages_never_raise_anything_but_parse_error(path: Path) -> None:
    html = path.read_text(encoding="utf-8")
    text = html_to_text(html)
    given = "cut" if path == OVERVIEW_HTML else None  # the sectioned page carries its NCT id
    parsed = 0
    for source in (html, text):
        parse = parse_aggregator_html if source is html else parse_aggregator_text
        for cut in range(0, len(source), max(1, len(source) // 150)):
            try:
                rec = parse(source[:cut], trial_id=given)
            except ParseError:
                continue
            parsed += 1
            assert rec.trial_id in ("cut", "NCT06958939")
    assert parsed > 0  # pages cut late in their last section still give a record
