"""EU Clinical Trials Register: protocol page, search page and full-text download.

The synthetic fixtures (fixtures/euctr/, invented trials in the register's layouts) always run;
the real captures in ../shared/data/euctr are skipped cleanly when absent.  Criteria counts
below were counted by hand from the files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trialscope.extract.criteria import count_items
from trialscope.parser import ParseError, TrialRecord
from trialscope.parser.euctr import (
    ages_from_groups,
    euctr_html_kind,
    looks_like_euctr_fulltext,
    looks_like_euctr_html,
    merge_statuses,
    normalise_eu_status,
    normalise_eudract,
    parse_fulltext,
    parse_search_html,
    parse_trial_html,
)

from .conftest import REPO, SHARED, SHARED_DATA, shared_path

SHARED_EUCTR = SHARED_DATA / "euctr"
PAGE = SHARED_EUCTR / "html" / "2015-000590-12_DE_trial.html"
SEARCH = SHARED_EUCTR / "html" / "search_query_2015-000590-12.html"
FULLTEXT = SHARED_EUCTR / "text" / "euctr_fulltext_2022-002568-62_2021-002179-21.txt"
FIXTURES = REPO / "fixtures" / "euctr"
SYN_PAGE = FIXTURES / "synthetic_trial_2023-000001-11_NL.html"
SYN_SEARCH = FIXTURES / "synthetic_search_myasthenia.html"
SYN_FULLTEXT = FIXTURES / "synthetic_fulltext.txt"


def _shared(path: Path) -> str:
    """A real capture under ../shared/data/euctr (skips when ../shared is absent)."""
    return shared_path(*path.relative_to(SHARED).parts).read_text(encoding="utf-8")


def _tops(items: list) -> list[int]:
    """Children per top-level item."""
    return [len(i["children"]) for i in items]


# --- helpers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, number", [
    ("2015-000590-12", "2015-000590-12"), ("EUCTR2015-000590-12-DE", "2015-000590-12"),
    ("2021-000037-14-DK", "2021-000037-14"), ("EudraCT 2015-000590-12", "2015-000590-12"),
    ("2023-501234-12-00", None),  # a CTIS number
    ("12015-000590-12", None), ("sponsor code 2015-000590-12", None), ("", None), (None, None),
])
def test_normalise_eudract(text: str | None, number: str | None) -> None:
    assert normalise_eudract(text) == number


def test_age_groups_mapping() -> None:
    assert ages_from_groups({"F.1.2": True, "F.1.3": True}) == {
        "min_age_years": 18.0, "max_age_years": None, "std_ages": ["ADULT", "OLDER_ADULT"],
        "age_groups": ["Adults (18-64 years)", "Elderly (>=65 years)"]}
    assert ages_from_groups({"F.1.1.6": True, "F.1.2": True})["min_age_years"] == 12.0
    assert ages_from_groups({"F.1.1.4": True})["max_age_years"] == 1.9167  # 23 months
    assert ages_from_groups({"F.1.2": False})["min_age_years"] is None


def test_status_vocabulary() -> None:
    assert normalise_eu_status("Completed") == ("COMPLETED", True)
    assert normalise_eu_status("Prematurely Ended") == ("TERMINATED", True)
    assert normalise_eu_status("Temporarily Halted") == ("SUSPENDED", True)
    assert normalise_eu_status("Suspended by CA") == ("SUSPENDED", True)
    assert normalise_eu_status("Ongoing") == ("Ongoing", False)
    assert normalise_eu_status(None) == ("UNKNOWN", True)
    assert merge_statuses(["Completed", "Ongoing", None]) == "Ongoing"
    assert merge_statuses(["Prematurely Ended", "Completed"]) == "Completed"
    assert merge_statuses([None, " "]) is None


def test_detectors() -> None:
    assert euctr_html_kind(SYN_PAGE.read_text(encoding="utf-8")) == "trial"
    assert euctr_html_kind(SYN_SEARCH.read_text(encoding="utf-8")) == "search"
    assert looks_like_euctr_html(SYN_PAGE.read_text(encoding="utf-8"))
    assert not looks_like_euctr_html("<html><body>EudraCT Number</body></html>")
    assert looks_like_euctr_fulltext(SYN_FULLTEXT.read_text(encoding="utf-8"))
    assert not looks_like_euctr_fulltext(SYN_PAGE.read_text(encoding="utf-8"))
    assert not looks_like_euctr_fulltext(None)  # type: ignore[arg-type]


# --- malformed input: ParseError and nothing else ----------------------------------------------

@pytest.mark.parametrize("payload", ["", "   ", b"", "<html><body>hello</body></html>",
                                     "not html", b"\xff\xfe\x00", 7, None],
                         ids=["empty", "blank", "empty-bytes", "other-page", "text", "binary",
                              "int", "none"])
def test_malformed_page_raises_parse_error(payload: object) -> None:
    with pytest.raises(ParseError):
        parse_trial_html(payload)  # type: ignore[arg-type]


def test_page_without_an_eudract_number() -> None:
    page = ('<table class="section"><tr class="tricell"><td class="first">A.3</td>'
            '<td class="second">Full title</td><td class="third">x</td></tr></table>')
    with pytest.raises(ParseError) as info:
        parse_trial_html(page, url="https://example.org/p")
    assert info.value.reason == "not_a_study" and str(info.value).startswith("https://example")


@pytest.mark.parametrize("payload", ["", "A.3 Full title of the trial: x", "<html/>", b"\xff",
                                     None])
def test_malformed_fulltext_raises_parse_error(payload: object) -> None:
    with pytest.raises(ParseError) as info:
        list(parse_fulltext(payload))  # type: ignore[arg-type]
    assert info.value.reason == "not_euctr"


def test_search_page_without_hits() -> None:
    assert parse_search_html("<html><body>0 result(s) found</body></html>") == []
    with pytest.raises(ParseError):
        parse_search_html("")


# --- synthetic fixtures (always run) --------------------------------------------------------------

def test_synthetic_fulltext() -> None:
    results = list(parse_fulltext(SYN_FULLTEXT.read_text(encoding="utf-8"), source="syn.txt"))
    assert len(results) == 3
    (cart, cart_raw), (fcrn, _), (error, error_raw) = results
    assert isinstance(error, ParseError) and error.reason == "missing_id"
    assert error_raw.startswith("Summary\nEudraCT Number: JSON_ERROR_HERE")
    assert isinstance(cart, TrialRecord) and cart.trial_id == "2023-000001-11"
    assert cart_raw.count("Summary\n") == 2 and cart_raw.startswith("Summary\n")
    assert (cart.title, cart.acronym) == (
        "CAR T cells for myasthenia gravis that does not respond to treatment", "MG-CART")
    assert cart.url.endswith("search?query=eudract_number:2023-000001-11")
    assert (cart.status, cart.status_raw) == ("Ongoing", "Ongoing")  # DE ongoing, NL completed
    assert [(loc["member_state"], loc["country"], loc["status"]) for loc in cart.locations] == [
        ("DE", "Germany", "Ongoing"), ("NL", "Netherlands", "Completed"),
        (None, "United States", None)]
    assert (cart.first_posted, cart.start_date) == ("2023-04-20", "2023-05-20")
    assert (cart.sponsor, cart.collaborators, cart.sponsor_class) == (
        "Example Cell Therapies B.V.", ["Example University Hospital"], "INDUSTRY")
    assert cart.secondary_ids == [
        {"id": "CART-MG-01", "type": "ORG_STUDY_ID", "domain": "Example Cell Therapies B.V."},
        {"id": "NCT09999902", "type": "REGISTRY", "domain": "ClinicalTrials.gov"}]
    assert cart.conditions == ["Refractory generalised myasthenia gravis"]  # not the (de) one
    assert cart.phases == ["PHASE1", "PHASE2"] and cart.enrollment["count"] == 40
    [iv] = cart.interventions
    assert (iv["type"], iv["name"], iv["other_names"]) == (
        "GENETIC", "Autologous anti-CD19 CAR T cells", ["EXA-CART19", "EXA-19"])
    assert iv["doses"][0]["text"] == "1 x 10^6 cells/kg"
    el = cart.eligibility
    # A criterion wrapped onto a second line, a "-" sub-list and a blank line.
    assert el["inclusion"][0]["text"] == ("Generalised myasthenia gravis, MGFA class II-IV, with "
                                          "anti-AChR or anti-MuSK antibodies;")
    assert _tops(el["inclusion"]) == [0, 2, 0] and _tops(el["exclusion"]) == [0, 0, 0]
    assert (el["min_age_years"], el["max_age_years"], el["sex"]) == (12.0, 64.0, "ALL")
    assert "JSON_ERROR_HERE" not in json.dumps(cart.to_dict())
    assert (fcrn.status, fcrn.completion_date, fcrn.phases) == (
        "TERMINATED", "2021-09-30", ["PHASE3"])
    assert [iv["name"] for iv in fcrn.interventions] == ["EX-FcRn", "Placebo"]
    assert (fcrn.eligibility["sex"], fcrn.eligibility["min_age_years"]) == ("FEMALE", 2.0)
    assert fcrn.design == {"allocation": "RANDOMIZED", "masking": "DOUBLE", "placebo": True,
                           "trial_type": "EEA CTA"}


def test_synthetic_protocol_page() -> None:
    url = "https://www.clinicaltrialsregister.eu/ctr-search/trial/2023-000001-11/NL"
    rec = parse_trial_html(SYN_PAGE.read_text(encoding="utf-8"), url=url)
    assert (rec.trial_id, rec.registry, rec.url) == ("2023-000001-11", "euctr", url)
    assert rec.title == "A phase I/II study of anti-CD19 CAR T cells in refractory generalised " \
                        "myasthenia gravis"
    assert rec.acronym is None  # "not applicable"
    assert (rec.status, rec.has_results, rec.start_date) == ("SUSPENDED", True, "2023-05-20")
    assert [i["text"] for i in rec.eligibility["inclusion"]] == [
        "Generalised myasthenia gravis", "Refractory to at least two immunosuppressants",
        "MG-ADL score ≥ 6"]
    assert rec.interventions[0]["type"] == "BIOLOGICAL"  # somatic cell therapy ATIMP
    assert rec.locations[0]["member_state"] == "NL" and rec.enrollment["count"] == 10


def test_synthetic_search_page() -> None:
    first, second = parse_search_html(SYN_SEARCH.read_text(encoding="utf-8"))
    assert (first["eudract_number"], first["start_date"], first["title_truncated"]) == (
        "2023-000001-11", "2023-05-20", False)
    assert [(m["code"], m["status"]) for m in first["member_states"]] == [
        ("DE", "Ongoing"), ("NL", "Temporarily Halted")]
    assert first["population_age"] == ["Adolescents", "Under 18", "Adults"]
    assert second["title_truncated"] is True and second["has_results"] is True
    assert [(m["code"], m["name"]) for m in second["member_states"]] == [
        ("FR", "FR"), ("3RD", "Outside EU/EEA")]
    assert second["results_url"].endswith("/ctr-search/trial/2020-000003-33/results")


# --- the real captures (../shared) -----------------------------------------------------------

def test_real_protocol_page() -> None:
    url = "https://www.clinicaltrialsregister.eu/ctr-search/trial/2015-000590-12/DE"
    rec = parse_trial_html(_shared(PAGE), url=url)
    assert (rec.trial_id, rec.registry, rec.url) == ("2015-000590-12", "euctr", url)
    assert rec.official_title == (
        "A 24-month multi-center, open-label, randomized, controlled study to evaluate the "
        "evolution of renal function in maintenance liver transplant recipients receiving either "
        "RAD001 (everolimus) plus reduced TAC or RAD001 (everolimus) plus MMF")
    assert rec.title == (
        "Evaluation of evolution of renal function in maintenance liver transplant recipients "
        "receiving either RAD001 (everolimus) plus reduced TAC or RAD001 (everolimus) plus MMF")
    assert (rec.sponsor, rec.sponsor_class) == ("Novartis Pharma GmbH", "INDUSTRY")
    assert (rec.status, rec.status_raw, rec.unknown_vocab) == ("COMPLETED", None, {})
    assert (rec.first_posted, rec.start_date, rec.completion_date) == (
        "2015-07-01", "2015-09-03", None)
    [loc] = rec.locations
    assert (loc["member_state"], loc["country"], loc["authority"], loc["status"]) == (
        "DE", "Germany", "BfArM", "Completed")
    assert (loc["ca_decision"], loc["ca_decision_date"], loc["ethics_opinion"],
            loc["ethics_opinion_date"]) == ("Authorised", "2015-07-30", "Favourable", "2015-09-03")
    assert rec.phases == ["PHASE3"] and rec.study_type == "INTERVENTIONAL"
    assert rec.secondary_ids == [{"id": "CRAD001HDE53", "type": "ORG_STUDY_ID",
                                  "domain": "Novartis Pharma GmbH"}]
    assert rec.conditions == ["liver transplantation"]
    assert rec.enrollment == {"count": 744, "type": "ESTIMATED"}
    assert rec.design["allocation"] == "RANDOMIZED" and rec.design["arms_count"] == 2
    # Ten IMP blocks, one per product strength: the four Certican strengths are one
    # intervention (every dose kept), as are the two Myfortic ones.
    assert [iv["name"] for iv in rec.interventions] == [
        "Everolimus", "Tacrolimus Monohydrate", "Mycophenolate Mofetil", "Mycophenolat Mofetil",
        "Mycophenolat Sodium", "CICLOSPORIN"]
    everolimus = rec.interventions[0]
    assert [d["value"] for d in everolimus["doses"]] == [0.25, 0.5, 0.75, 1.0]
    assert everolimus["other_names"][:2] == ["Certican", "Certican 0,25 mg"]
    assert [iv["role"] for iv in rec.interventions] == [
        "Test", "Comparator", "Test", "Test", "Test", "Comparator"]
    el = rec.eligibility
    # Inclusion: "at Screening Visit (Visit 1)" 1.-5., "at Baseline Visit (Visit 2)" 1.-2.
    assert _tops(el["inclusion"]) == [5, 2] and count_items(el["inclusion"]) == 9
    # Exclusion: Screening 1.-8. (8. lists six "•" contraception methods), Baseline 1.-6.
    assert _tops(el["exclusion"]) == [8, 6] and count_items(el["exclusion"]) == 22
    assert [len(i["children"]) for i in el["exclusion"][0]["children"]] == [0] * 7 + [6]
    assert (el["min_age_years"], el["max_age_years"], el["sex"], el["healthy_volunteers"]) == (
        18.0, None, "ALL", False)
    text = json.dumps(rec.to_dict(), ensure_ascii=False)
    assert "¬" not in text and "allograft" in text  # "allo&not;graft" is a soft hyphen


def test_real_search_page_agrees_with_the_protocol_page() -> None:
    [hit] = parse_search_html(_shared(SEARCH))
    assert hit["eudract_number"] == "2015-000590-12"
    assert (hit["sponsor_protocol_number"], hit["sponsor"], hit["start_date"]) == (
        "CRAD001HDE53", "Novartis Pharma GmbH", "2015-09-03")
    assert hit["title"].startswith("A 24-month multi-center, open-label, randomized")
    assert hit["title_truncated"] is True
    assert hit["member_states"] == [{
        "code": "DE", "name": "DE", "status": "Completed",
        "url": "https://www.clinicaltrialsregister.eu/ctr-search/trial/2015-000590-12/DE"}]
    assert hit["url"] == hit["member_states"][0]["url"]
    assert (hit["population_age"], hit["gender"], hit["has_results"]) == (
        ["Adults", "Elderly"], ["Male", "Female"], False)
    assert hit["condition"] == "liver transplantation"
    # The register's "Start Date" is the date the protocol page's rule computes.
    if PAGE.exists():
        assert parse_trial_html(PAGE.read_text(encoding="utf-8")).start_date == hit["start_date"]


@pytest.fixture(scope="module")
def fulltext() -> list:
    return list(parse_fulltext(_shared(FULLTEXT), source=FULLTEXT.name))


def test_real_fulltext_two_trials(fulltext: list) -> None:
    assert [type(r).__name__ for r, _ in fulltext] == ["TrialRecord", "TrialRecord"]
    (avb, avb_raw), (masitinib, mas_raw) = fulltext
    assert (avb.trial_id, masitinib.trial_id) == ("2022-002568-62", "2021-002179-21")
    # 10 member-state blocks: 3 + 7, kept whole in the raw fragments.
    assert (avb_raw.count("\nSummary\n") + 1, mas_raw.count("\nSummary\n") + 1) == (3, 7)
    assert [loc["member_state"] for loc in avb.locations if loc.get("member_state")] == [
        "ES", "SE"]
    assert [loc["member_state"] for loc in masitinib.locations if loc.get("member_state")] == [
        "FR", "ES", "GR", "PL", "PT", "HU"]
    assert {"Spain", "Sweden", "United States", "United Kingdom"} == set(avb.countries)
    for rec in (avb, masitinib):
        assert (rec.registry, rec.status, rec.status_raw) == ("euctr", "Ongoing", "Ongoing")
        assert "JSON_ERROR_HERE" not in json.dumps(rec.to_dict())
        assert rec.eligibility["sex"] == "ALL" and rec.eligibility["min_age_years"] == 18.0
    assert avb.title == ("A study to test whether AVB-101 is both safe and efficacious in a "
                         "sub-population of genetically defined FTD patients that currently "
                         "have no other treatment options")
    assert (avb.phases, avb.first_posted, avb.start_date) == (
        ["PHASE1", "PHASE2"], "2023-01-16", "2023-05-18")
    assert avb.conditions == ["Frontotemporal Dementia With Progranulin Mutations (FTD-GRN)"]
    assert avb.interventions[0]["type"] == "GENETIC"
    assert (masitinib.phases, masitinib.first_posted, masitinib.enrollment["count"]) == (
        ["PHASE3"], "2022-03-10", 600)
    # The French block leaves E.1.1 empty: the conditions come from the next (Spanish) block,
    # its English field, not the "(es)" translation.
    assert masitinib.conditions == ["Alzheimer's disease"]
    assert [iv["name"] for iv in masitinib.interventions] == ["Masitinib mesilate", "Placebo"]


def test_real_fulltext_criteria_counts(fulltext: list) -> None:
    (avb, _), (masitinib, _) = fulltext
    # 2022-002568-62, first (Spanish) block, English fields: 6 inclusion, 12 exclusion items.
    assert _tops(avb.eligibility["inclusion"]) == [0] * 6
    assert _tops(avb.eligibility["exclusion"]) == [0] * 12
    # 2021-002179-21, first (French) block: 13 numbered inclusion items (4. has two "-" items,
    # 7. four, 10. two paragraphs) plus a closing note = 22 items; 21 numbered exclusion items
    # with 4 + 5 + 2 + 12 + 6 "-" items under 9.-13. = 50.
    assert count_items(masitinib.eligibility["inclusion"]) == 22
    assert _tops(masitinib.eligibility["exclusion"]) == [0] * 8 + [4, 5, 2, 12, 6] + [0] * 8
    assert count_items(masitinib.eligibility["exclusion"]) == 50


@pytest.mark.xfail(strict=True, reason=(
    "criteria.split_criteria: after the 'Other inclusion criteria' heading, '8.' '9.' '10.' "
    "nest under '7.' (the heading resets the numbering context); by hand there are 13 "
    "numbered items plus the closing note at the top level"))
def test_real_fulltext_inclusion_top_level(fulltext: list) -> None:
    masitinib = fulltext[1][0]
    assert len(masitinib.eligibility["inclusion"]) == 14
