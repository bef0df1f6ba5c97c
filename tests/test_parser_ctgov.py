"""ClinicalTrials.gov API v2 parser: real samples, golden files for the bundled fixtures, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trialscope.parser import ParseError
from trialscope.parser.ctgov import (
    age_in_years,
    content_hash,
    iter_studies,
    normalise_nct_id,
    parse_study,
    parse_study_json,
)
from trialscope.parser.files import Failure, Parsed, parse_payload

from .conftest import CTGOV_FIXTURES, FIXTURES, golden, shared_params, shared_path

GOLDEN = FIXTURES / "golden" / "ctgov"
REAL_STUDIES = shared_params("data/ctgov-v2/studies")
REAL_PAGES = shared_params("data/ctgov-v2/pages")


def _expected(study: dict) -> dict:
    """The facts a researcher checks, read straight from the payload by a second route."""
    ps = study["protocolSection"]
    sm, dm = ps["statusModule"], ps.get("designModule", {})
    am = ps.get("armsInterventionsModule", {})
    em = ps.get("eligibilityModule", {})
    return {
        "trial_id": ps["identificationModule"]["nctId"],
        "status": sm["overallStatus"],
        "phases": dm.get("phases", []),
        "start_date": sm.get("startDateStruct", {}).get("date"),
        "completion_date": sm.get("completionDateStruct", {}).get("date"),
        "primary_completion_date": sm.get("primaryCompletionDateStruct", {}).get("date"),
        "enrollment": dm.get("enrollmentInfo", {}).get("count"),
        "arms": len(am.get("armGroups", [])),
        "interventions": len(am.get("interventions", [])),
        "conditions": len(ps.get("conditionsModule", {}).get("conditions", [])),
        "locations": len(ps.get("contactsLocationsModule", {}).get("locations", [])),
        "min_age": em.get("minimumAge"),
        "max_age": em.get("maximumAge"),
        "has_results": study.get("hasResults", False),
    }


@pytest.mark.parametrize("path", REAL_STUDIES, ids=lambda p: p.stem)
def test_real_study_matches_its_file(path: Path) -> None:
    study = json.loads(path.read_text())
    rec = parse_study(study)
    exp = _expected(study)
    assert rec.trial_id == exp["trial_id"] == path.stem
    assert rec.status == exp["status"]
    assert rec.phases == exp["phases"]
    assert (rec.start_date, rec.completion_date, rec.primary_completion_date) == (
        exp["start_date"], exp["completion_date"], exp["primary_completion_date"])
    assert rec.enrollment["count"] == exp["enrollment"]
    assert len(rec.arms) == exp["arms"]
    assert len(rec.interventions) == exp["interventions"]
    assert len(rec.conditions) == exp["conditions"]
    assert len(rec.locations) == exp["locations"]
    assert rec.eligibility["min_age"] == exp["min_age"]
    assert rec.eligibility["max_age"] == exp["max_age"]
    assert rec.has_results is exp["has_results"]
    assert rec.unknown_vocab == {}
    # Every arm an intervention names exists, and arms list their interventions.
    labels = {a["label"] for a in rec.arms}
    for iv in rec.interventions:
        assert set(iv["arm_labels"]) <= labels
    if rec.eligibility["text"] and "Inclusion" in rec.eligibility["text"]:
        assert rec.eligibility["inclusion"], "criteria with an inclusion header gave no items"


def test_real_study_details_nct02210780() -> None:
    path = shared_path("data", "ctgov-v2", "studies", "NCT02210780.json")
    rec = parse_study(json.loads(path.read_text()))
    assert rec.eligibility["min_age_years"] == 18 and rec.eligibility["max_age_years"] == 64
    assert rec.eligibility["sex"] == "ALL" and rec.eligibility["healthy_volunteers"] is False
    assert len(rec.eligibility["inclusion"]) == 5
    assert len(rec.eligibility["exclusion"]) == 7
    assert "Dermatitis, Atopic" in rec.mesh_terms
    assert rec.start_date_type in ("ACTUAL", "ESTIMATED")
    # Each arm lists the interventions joined to it by label.
    assert all(arm["interventions"] for arm in rec.arms)


@pytest.mark.parametrize("path", REAL_PAGES, ids=lambda p: p.stem)
def test_real_search_pages_parse(path: Path) -> None:
    text = path.read_text()
    items = list(parse_payload(text, source=str(path)))
    assert items and all(isinstance(i, Parsed) for i in items)
    page = json.loads(text)
    assert [i.record.trial_id for i in items] == [
        s["protocolSection"]["identificationModule"]["nctId"] for s in page["studies"]]


def test_partial_dates_stay_partial_and_keep_their_type() -> None:
    study = _minimal()
    study["protocolSection"]["statusModule"]["completionDateStruct"] = {"date": "2024-02",
                                                                        "type": "ESTIMATED"}
    rec = parse_study(study)
    assert rec.completion_date == "2024-02" and rec.completion_date_type == "ESTIMATED"


def test_unknown_status_and_phase_are_kept_raw_not_coerced() -> None:
    study = _minimal()
    study["protocolSection"]["statusModule"]["overallStatus"] = "PAUSED_FOR_REVIEW"
    study["protocolSection"]["designModule"] = {"studyType": "INTERVENTIONAL",
                                                "phases": ["PHASE1", "PHASE5"]}
    rec = parse_study(study)
    assert rec.status == "PAUSED_FOR_REVIEW" and rec.status_raw == "PAUSED_FOR_REVIEW"
    assert rec.phases == ["PHASE1", "PHASE5"]
    assert rec.unknown_vocab == {"status": ["PAUSED_FOR_REVIEW"], "phase": ["PHASE5"]}


@pytest.mark.parametrize("text,years", [("18 Years", 18), ("6 Months", 0.5), ("N/A", None),
                                        (None, None), ("2 Weeks", 0.0383), ("80 years", 80)])
def test_age_in_years(text: str | None, years: float | None) -> None:
    assert age_in_years(text) == years


@pytest.mark.parametrize("raw,reason", [
    ("{not json", "invalid_json"),
    ('{"foo": 1}', "not_a_study"),
    ('{"protocolSection": {"identificationModule": {"nctId": "NCT123"}}}', "missing_id"),
    ('{"protocolSection": {"identificationModule": {"nctId": "NCT00000001"},'
     ' "armsInterventionsModule": {"armGroups": "oops"}}}', "bad_field"),
])
def test_bad_payloads_raise_parse_error_with_reason(raw: str, reason: str) -> None:
    with pytest.raises(ParseError) as err:
        parse_study_json(raw, url="mem://x")
    assert err.value.reason == reason
    assert "mem://x" in str(err.value)


def test_one_bad_study_in_a_page_does_not_lose_the_others() -> None:
    good = _minimal()
    page = {"studies": [good, {"protocolSection": {"identificationModule": {}}}]}
    items = list(parse_payload(json.dumps(page), source="page.json"))
    assert isinstance(items[0], Parsed) and items[0].record.trial_id == "NCT00000001"
    assert isinstance(items[1], Failure) and items[1].reason == "missing_id"
    assert items[1].raw and "protocolSection" in items[1].raw


def test_content_hash_ignores_key_order_and_version_holder() -> None:
    a = _minimal()
    b = json.loads(json.dumps(a))
    b["derivedSection"] = {"miscInfoModule": {"versionHolder": "2030-01-01"}}
    a["derivedSection"] = {"miscInfoModule": {"versionHolder": "2024-01-01"}}
    assert content_hash(a) == content_hash(b)
    b["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    assert content_hash(a) != content_hash(b)


def test_ids() -> None:
    assert normalise_nct_id(" nct06958939 ") == "NCT06958939"
    assert normalise_nct_id("NCT123") is None
    assert list(iter_studies([_minimal()]))[0]["protocolSection"]


# -- the bundled fixtures: golden files --------------------------------------------------------
FIXTURE_FILES = sorted(CTGOV_FIXTURES.glob("*.json"))


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.stem)
def test_fixture_matches_golden(path: Path) -> None:
    """Golden output per fixture.  Regenerate on purpose: TRIALSCOPE_REGENERATE=1 pytest ..."""
    rec = parse_study_json(path.read_text()).to_dict()
    text = json.dumps(rec, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert json.loads(golden(GOLDEN / path.name, text)) == json.loads(text)


def test_reference_trial_nct06958939() -> None:
    rec = parse_study_json((CTGOV_FIXTURES / "NCT06958939.json").read_text())
    assert rec.status == "NOT_YET_RECRUITING"
    assert rec.phases == ["PHASE1"]
    assert rec.enrollment == {"count": 24, "type": "ESTIMATED"}
    assert rec.start_date == "2025-05-01" and rec.completion_date == "2026-08-30"
    # The registry has one arm ("S103 CAR-T", sequential design) whose four interventions are
    # the dose levels; the arm's doses are theirs, each naming its dose-level group.
    [arm] = rec.arms
    doses = [(d["value"], d["unit"], d["per"], d["intervention"]) for d in arm["doses"]]
    assert doses == [(v * 1e6, "cells", "kg", f"Dose level {i} group")
                     for i, v in enumerate((1.0, 2.0, 4.0, 8.0), 1)]
    assert [iv["doses"][0]["text"] for iv in rec.interventions] == [
        f"{v} × 10e6/kg" for v in ("1.0", "2.0", "4.0", "8.0")]
    assert all(iv["arm_labels"] == ["S103 CAR-T"] for iv in rec.interventions)
    inclusion = rec.eligibility["inclusion"]
    assert any(len(item["children"]) == 4 for item in inclusion), "nested criteria lost"
    assert rec.eligibility["exclusion"]
    assert rec.eligibility["min_age_years"] == 18 and rec.eligibility["max_age_years"] == 80


def _minimal() -> dict:
    return {
        "protocolSection": {
            "identificationModule": {"nctId": "NCT00000001", "briefTitle": "A trial"},
            "statusModule": {"overallStatus": "RECRUITING"},
        },
        "hasResults": False,
    }


def _nested(depth: int) -> object:
    value: object = "PARTICIPANT"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("path, value", [
    (("protocolSection", "designModule", "designInfo", "maskingInfo", "whoMasked"), _nested(700)),
    (("protocolSection", "designModule", "designInfo", "maskingInfo", "whoMasked"),
     [_nested(700)]),
    (("protocolSection", "eligibilityModule", "stdAges"), [_nested(700)]),
    (("protocolSection", "eligibilityModule", "healthyVolunteers"), _nested(700)),
    (("protocolSection", "designModule", "patientRegistry"), {"a": _nested(700)}),
])
def test_nested_values_in_plain_fields_cost_that_record_alone(path: tuple[str, ...],
                                                               value: object) -> None:
    """A list or object nested hundreds deep where a field holds plain values (found by the
    fuzz test: it reached the record, whose ``to_dict`` then overflowed the stack) makes the
    record a failure with its reason, never a record of unknown shape."""
    study = json.loads((CTGOV_FIXTURES / "NCT06958939.json").read_text())
    parent = study
    for key in path[:-1]:
        parent = parent.setdefault(key, {})
    parent[path[-1]] = value
    items = list(parse_payload(json.dumps(study), source="test"))
    assert len(items) == 1
    item = items[0]
    if isinstance(item, Parsed):  # only if the value was dropped: then the record is storable
        json.dumps(item.record.to_dict())
    else:
        assert isinstance(item, Failure) and item.reason == "bad_field" and "should" in item.message


def test_geo_point_kept_as_given_or_dropped() -> None:
    study = json.loads((CTGOV_FIXTURES / "NCT06958939.json").read_text())
    locations = study["protocolSection"]["contactsLocationsModule"]["locations"]
    locations[0]["geoPoint"] = {"lat": 31.2, "lon": 121}
    locations[1:2] = [dict(locations[0], geoPoint={"lat": _nested(700), "lon": 1.0})]
    rec = parse_study_json(json.dumps(study))
    assert rec.locations[0]["geo"] == {"lat": 31.2, "lon": 121}
    assert rec.locations[1]["geo"] is None
