"""CTIS trial JSON (both API generations), its dispatch in parser/files.py, hostile input.

The synthetic fixtures (fixtures/ctis/, invented trials in the real layouts) always run; the
three real records ctrdata stores (../shared/data/ctrdata-demo/ctis) are skipped cleanly when
absent.  Values pinned below were read from the JSON by hand.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from trialscope.extract.criteria import count_items
from trialscope.parser import ParseError, TrialRecord, ctis
from trialscope.parser.ctis import (
    iso_date,
    iter_trials,
    looks_like_ctis,
    normalise_ctis_id,
    parse_ctis,
)
from trialscope.parser.files import Failure, Parsed, detect_format, parse_payload

from .conftest import CTGOV_FIXTURES, json_paths, replaced, shared_path
from .conftest import FIXTURES as ALL_FIXTURES

FIXTURES = ALL_FIXTURES / "ctis"
OLDER = FIXTURES / "synthetic_2023-500001-11-00_older.json"
CURRENT = FIXTURES / "synthetic_2024-500002-22-00_current.json"


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _real(name: str) -> str:
    """A real CTIS record ctrdata stored (skips when ../shared is absent)."""
    return shared_path("data", "ctrdata-demo", "ctis", name).read_text(encoding="utf-8")


# --- ids and dates ---------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("2022-500244-37-00", "2022-500244-37-00"),
    (" CTIS2022-500244-37-00 ", "2022-500244-37-00"),
    ("EU CT number: 2022-500244-37-00", "2022-500244-37-00"),
    ("2015-000590-12", None),            # an EudraCT number
    ("2022-400244-37-00", None),         # CT numbers have a 5 after the year
    ("2022-500244-37-00/../../x", None),
    (12345, None), (None, None),
])
def test_normalise_ctis_id(raw: Any, expected: str | None) -> None:
    assert normalise_ctis_id(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("2022-08-03", "2022-08-03"), ("2024-04-24T15:14:59.077", "2024-04-24"),
    ("24/04/2024", "2024-04-24"), ("29/01/2021", "2021-01-29"), ("31/02/2024", None),
    ("DE:2022-08-03", None), ("", None), (None, None), (20240424, None),
])
def test_iso_date(raw: Any, expected: str | None) -> None:
    assert iso_date(raw) == expected


# --- the older layout (synthetic) ------------------------------------------------------------

def test_older_layout_synthetic() -> None:
    rec = parse_ctis(OLDER.read_text(encoding="utf-8"), source=str(OLDER))
    assert (rec.trial_id, rec.registry) == ("2023-500001-11-00", "ctis")
    assert rec.url.endswith("EUCT=2023-500001-11-00")
    assert rec.title == "Anti-FcRn antibody in hard-to-treat myasthenia gravis"
    assert rec.official_title.startswith("An open-label phase I/II study")
    assert rec.status == "RECRUITING" and rec.status_raw is None
    assert rec.design["ctis_status"] == "Authorised, recruiting"
    assert rec.phases == ["PHASE1", "PHASE2"]  # code 9: Phase I and Phase II (integrated)
    assert rec.study_type == "INTERVENTIONAL"
    assert rec.sponsor == "Example Pharma SAS" and rec.sponsor_class == "INDUSTRY"
    assert rec.collaborators == ["Example University Hospital"]
    assert rec.acronym == "FCRN-MG" and rec.secondary_ids == []
    # An associated trial is another trial: related, never a secondary id of this one.
    assert rec.related_ids == ["2020-000003-33"]
    assert rec.enrollment == {"count": 42, "type": "ESTIMATED", "eea": 36, "rest_of_world": 6}
    assert (rec.start_date, rec.start_date_type) == ("2023-11-01", "ESTIMATED")
    assert (rec.completion_date, rec.completion_date_type) == ("2026-12-31", "ESTIMATED")
    assert (rec.first_posted, rec.last_updated) == ("2023-09-14", "2023-10-02")
    assert rec.conditions == ["Generalised myasthenia gravis"]
    assert "Myasthenia gravis" in rec.keywords
    el = rec.eligibility
    # Numbered items are put in their own order; "•" bullets nest under their item.
    assert [i["text"] for i in el["inclusion"]] == [
        "Generalised myasthenia gravis confirmed by:", "MG-ADL total score >= 6 at screening"]
    assert [c["text"] for c in el["inclusion"][0]["children"]] == [
        "positive AChR antibodies", "an abnormal repetitive nerve stimulation test"]
    assert [i["text"] for i in el["exclusion"]] == [
        "Thymectomy within 12 months before screening"]
    assert (el["min_age_years"], el["max_age_years"], el["min_age"]) == (18.0, None, "18 Years")
    assert el["std_ages"] == ["ADULT", "OLDER_ADULT"] and el["sex"] == "ALL"
    assert el["healthy_volunteers"] is False
    assert [(iv["name"], iv["role"], iv["type"]) for iv in rec.interventions] == [
        ("examplimab", "Test", "DRUG"), ("Examplimab Placebo", "Placebo", "DRUG")]
    assert rec.interventions[0]["doses"][0] == {"value": 10.0, "unit": "mg", "per": "kg",
                                                "text": "10 mg/kg"}
    assert [(loc["facility"], loc["country"]) for loc in rec.locations] == [
        ("Example Universitätsklinikum", "Germany"), (None, "France"), (None, "Switzerland")]
    assert rec.locations[0]["department"] == "Neurologie"
    assert rec.has_results is False and rec.unknown_vocab == {}
    assert TrialRecord.from_dict(json.loads(json.dumps(rec.to_dict()))) == rec


# --- the current layout (synthetic) ----------------------------------------------------------

def test_current_layout_synthetic() -> None:
    rec = parse_ctis(_load(CURRENT))
    assert rec.trial_id == "2024-500002-22-00"
    # "Ended" (code 8) with an early termination notified in every member state.
    assert rec.status == "TERMINATED" and rec.design["ctis_status"] == "Ended"
    assert rec.phases == ["PHASE1", "PHASE2"]
    assert rec.sponsor == "Example Cell Therapies B.V."  # the primary sponsor, listed second
    assert rec.collaborators == ["Example University Hospital"]
    assert rec.secondary_ids == [
        {"id": "2023-000001-11", "type": "EUDRACT_NUMBER", "domain": "EudraCT"},
        {"id": "NCT09999902", "type": "REGISTRY", "domain": "ClinicalTrials.gov"},
        {"id": "ISRCTN00000002", "type": "REGISTRY", "domain": "ISRCTN"},
        {"id": "U1111-1234-5678", "type": "UTN", "domain": "WHO"},
        {"id": "EXR-0042", "type": "REGISTRY", "domain": "Example national register"},
        {"id": "CART-MG-01", "type": "ORG_STUDY_ID", "domain": "Example Cell Therapies B.V."},
    ]
    assert (rec.start_date, rec.start_date_type) == ("2024-03-15", "ACTUAL")
    assert (rec.completion_date, rec.completion_date_type) == ("2025-01-10", "ACTUAL")
    assert rec.first_posted == "2024-03-04" and rec.last_updated == "2025-01-20"
    assert rec.enrollment["count"] == 12 and rec.has_results is True
    assert rec.eligibility["sex"] == "FEMALE"
    assert (rec.eligibility["min_age_years"], rec.eligibility["max_age_years"]) == (18.0, 64.0)
    [iv] = rec.interventions
    assert (iv["name"], iv["type"], iv["atmp"]) == (
        "autologous anti-CD19 CAR T cells", "BIOLOGICAL", True)
    assert iv["other_names"] == ["EXC-19 dispersion for infusion"]
    assert rec.locations[0]["department"] is None  # "na" placeholder


def test_ended_without_early_termination_everywhere_is_completed() -> None:
    data = _load(CURRENT)
    data["events"]["trialEvents"][1]["events"] = [
        {"notificationType": "START_OF_TRIAL", "date": "2024-04-02"},
        {"notificationType": "END_OF_TRIAL", "date": "2025-02-01"}]
    rec = parse_ctis(data)
    assert rec.status == "COMPLETED"
    assert rec.completion_date == "2025-02-01"  # the last end-of-trial notification


@pytest.mark.parametrize("code, label, status", [
    (2, "Authorised, recruitment pending", "NOT_YET_RECRUITING"),
    (3, "Authorised, recruiting", "RECRUITING"),
    (4, "Ongoing, recruiting", "RECRUITING"),
    (5, "Ongoing, recruitment ended", "ACTIVE_NOT_RECRUITING"),
    (6, "Temporarily halted", "SUSPENDED"),
    (7, "Suspended", "SUSPENDED"),
])
def test_status_codes(code: int, label: str, status: str) -> None:
    data = _load(CURRENT)
    data["ctPublicStatusCode"] = data["ctStatus"] = code
    rec = parse_ctis(data)
    assert (rec.status, rec.design["ctis_status"], rec.unknown_vocab) == (status, label, {})


@pytest.mark.parametrize("code, label", [(1, "Under evaluation"), (9, "Expired"),
                                         (10, "Revoked"), (11, "Not authorised"),
                                         (12, "Cancelled"), (99, "code 99")])
def test_status_without_enum_value_is_kept_raw(code: int, label: str) -> None:
    data = _load(CURRENT)
    data["ctPublicStatusCode"] = data["ctStatus"] = code
    rec = parse_ctis(data)
    assert (rec.status, rec.status_raw) == ("UNKNOWN", label)
    assert rec.unknown_vocab == {"status": [label]}


def test_older_status_text_unknown_is_kept_raw() -> None:
    data = _load(OLDER)
    data["ctStatus"] = "Halted by the moon"
    rec = parse_ctis(data)
    assert rec.status == "UNKNOWN" and rec.unknown_vocab["status"] == ["Halted by the moon"]


def test_phase_from_overview_text_when_code_missing_or_unknown() -> None:
    data = _load(OLDER)
    data["authorizedPartI"]["trialDetails"]["trialInformation"]["trialCategory"]["trialPhase"] \
        = "42"
    data["trialPhase"] = "Therapeutic confirmatory (Phase III)"
    assert parse_ctis(data).phases == ["PHASE3"]
    data["trialPhase"] = "Something else"
    rec = parse_ctis(data)
    assert rec.phases == [] and rec.unknown_vocab["phase"] == ["Something else"]


def test_a_list_of_trials_and_one_bad_trial() -> None:
    good = _load(OLDER)
    bad = dict(good, ctNumber="../../etc/passwd")
    results = list(iter_trials(json.dumps([good, bad]), source="page.json"))
    assert isinstance(results[0][0], TrialRecord)
    assert isinstance(results[1][0], ParseError) and results[1][0].reason == "missing_id"
    assert "page.json [trial 2]" in str(results[1][0])
    assert json.loads(results[1][1])["ctNumber"] == "../../etc/passwd"


# --- hostile and malformed input -------------------------------------------------------------

@pytest.mark.parametrize("payload, reason", [
    ("", "invalid_json"), ("{", "invalid_json"), ("[1, 2", "invalid_json"),
    ("[" * 100_000 + "]" * 100_000, "invalid_json"),  # nested deeper than any parser allows
    (b"\xff\xfe{}", "invalid_json"),
    ("42", "not_a_study"), ('"text"', "not_a_study"), ("null", "not_a_study"),
    ("{}", "missing_id"), ('{"ctNumber": 2022500244}', "missing_id"),
    ('{"ctNumber": ["2022-500244-37-00"]}', "missing_id"),
])
def test_malformed_payloads_raise_parse_error(payload: Any, reason: str) -> None:
    with pytest.raises(ParseError) as err:
        parse_ctis(payload, source="x.json")
    assert err.value.reason == reason


def test_huge_payload_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ctis, "MAX_JSON_CHARS", 1000)
    with pytest.raises(ParseError) as err:
        parse_ctis('{"ctNumber": "2022-500244-37-00", "pad": "' + "x" * 2000 + '"}')
    assert err.value.reason == "too_large"


_WRONG = [None, "", "text", 7, -1, 3.5, True, [], [None, 1, "x"], {}, {"a": {"b": []}}]


@pytest.mark.parametrize("fixture", [OLDER, CURRENT], ids=["older", "current"])
def test_wrong_types_anywhere_raise_only_parse_error(fixture: Path) -> None:
    """Every node of the synthetic trials replaced by each wrong type: a record or a
    ParseError, never another exception."""
    data = _load(fixture)
    outcomes = {"record": 0, "error": 0}
    for path in json_paths(data):
        for wrong in _WRONG:
            try:
                parse_ctis(replaced(data, path, wrong))
                outcomes["record"] += 1
            except ParseError:
                outcomes["error"] += 1
    assert outcomes["record"] > 0 and outcomes["error"] > 0


def test_ids_from_the_payload_are_validated() -> None:
    data = _load(CURRENT)
    numbers = data["authorizedApplication"]["authorizedPartI"]["trialDetails"][
        "clinicalTrialIdentifiers"]["secondaryIdentifyingNumbers"]
    numbers["nctNumber"]["number"] = "NCT123; DROP TABLE trials"
    numbers["isrctnNumber"]["number"] = "../ISRCTN00000002"
    numbers["whoUniversalTrialNumber"]["number"] = "U1111-12345-678"
    numbers["additionalRegistries"] = [{"registryName": "x", "number": "line\nbreak"}]
    data["authorizedApplication"]["eudraCt"]["eudraCtCode"] = "2023-000001-11/../../x"
    data["authorizedApplication"]["authorizedPartI"]["trialDetails"][
        "clinicalTrialIdentifiers"]["shortTitle"] = "x" * 500
    rec = parse_ctis(data)
    assert rec.secondary_ids == []


# --- detection and dispatch ------------------------------------------------------------------

def test_detection() -> None:
    for path in (OLDER, CURRENT):
        text = path.read_text(encoding="utf-8")
        assert looks_like_ctis(text) and detect_format(text) == "ctis-json"
    ctgov = next(CTGOV_FIXTURES.glob("*.json")).read_text()
    assert not looks_like_ctis(ctgov) and detect_format(ctgov) == "ctgov-json"
    assert not looks_like_ctis('{"ctNumber": "2022-500244-37-00"}')  # no CTIS part I / status
    assert not looks_like_ctis("<xml/>") and not looks_like_ctis(None)  # type: ignore[arg-type]


def test_dispatch_and_content_hash_ignore_ctrdata_stamps() -> None:
    text = CURRENT.read_text(encoding="utf-8")
    [item] = list(parse_payload(text, source="c.json"))
    assert isinstance(item, Parsed) and item.record.registry == "ctis" and item.raw == text
    data = json.loads(text)
    data["record_last_import"] = "2030-01-01 00:00:00"
    [again] = list(parse_payload(json.dumps(data, indent=4), source="c.json"))
    assert again.content_hash == item.content_hash
    data["ctPublicStatusCode"] = 5
    [changed] = list(parse_payload(json.dumps(data), source="c.json"))
    assert changed.content_hash != item.content_hash


def test_dispatch_of_a_bad_trial_is_a_failure_with_its_raw_payload() -> None:
    text = json.dumps([_load(OLDER), {"ctNumber": "nope", "ctStatus": "x",
                                      "authorizedPartI": {}}])
    items = list(parse_payload(text, source="p.json"))
    assert isinstance(items[0], Parsed)
    assert isinstance(items[1], Failure) and items[1].reason == "missing_id"
    assert items[1].registry == "ctis" and '"nope"' in items[1].raw


def test_ctrdata_ctgov2_record_hash_ignores_import_stamps() -> None:
    study = json.loads(next(CTGOV_FIXTURES.glob("*.json")).read_text())
    stamped = {**study, "ctrname": "CTGOV2", "record_last_import": "2026-03-08 17:36:40",
               "_id": "NCT00000000"}
    [plain] = list(parse_payload(json.dumps(study), source="s.json"))
    [first] = list(parse_payload(json.dumps(stamped), source="s.json"))
    stamped["record_last_import"] = "2027-01-01 00:00:00"
    [second] = list(parse_payload(json.dumps(stamped), source="s.json"))
    assert plain.content_hash == first.content_hash == second.content_hash
    assert first.record == plain.record


# --- the real records ctrdata stores ---------------------------------------------------------

REAL_EXPECTED = {
    "2022-500244-37-00.json": dict(
        title_start="A 4-week double-blind, randomized, placebo-controlled, phase II study",
        status="NOT_YET_RECRUITING", ctis_status="Authorised, not started", phases=["PHASE2"],
        sponsor="Kinarus AG", inclusion=7, exclusion=11, enrollment=(440, 150, 290),
        start=("2022-06-01", "ESTIMATED"), completion="2023-12-31", first_posted="2022-08-03",
        ids=["KIN001-204"], related=["2020-005849-16"], sites=2,
        countries=["Germany", "Switzerland"],
        ages=(18.0, None), interventions=["pioglitazone hydrochloride", "Pioglitazone Placebo",
                                          "pamapimod", "Pamapimod Placebo"]),
    "2023-508143-51-01.json": dict(
        title_start="Pulmonary function and sleep related disorders during cervical admission",
        status="NOT_YET_RECRUITING", ctis_status="Authorised, not started", phases=["PHASE4"],
        sponsor="Roessingh Centrum Voor Revalidatie", inclusion=1, exclusion=1,
        enrollment=(11, 11, 0), start=("2023-05-23", "ESTIMATED"), completion="2026-01-03",
        first_posted="2024-05-06", ids=["2021-004994-30", "NL 68837.091.21"], related=[],
        sites=2, countries=["Netherlands"], ages=(18.0, None), interventions=["baclofen"]),
    "2024-510663-34-00.json": dict(
        title_start="An open label, single arm study to evaluate single and multiple dose",
        status="RECRUITING", ctis_status="Ongoing, recruiting", phases=["PHASE2"],
        sponsor="Glaxosmithkline Research & Development Limited", inclusion=5, exclusion=8,
        enrollment=(11, 11, 0), start=("2021-01-29", "ACTUAL"), completion="2026-12-09",
        first_posted="2024-04-24", ids=["2019-001588-63", "NCT04494412", "200925"], related=[],
        sites=6, countries=["Italy", "Spain"], ages=(0.0, 17.0), interventions=["zanamivir"]),
}


@pytest.mark.parametrize("name", sorted(REAL_EXPECTED))
def test_real_ctrdata_records(name: str) -> None:
    text = _real(name)
    exp = REAL_EXPECTED[name]
    rec = parse_ctis(text, source=name)
    assert rec.trial_id == name.removesuffix(".json")
    assert rec.title.startswith(exp["title_start"])
    assert (rec.status, rec.design["ctis_status"], rec.phases) == (
        exp["status"], exp["ctis_status"], exp["phases"])
    assert rec.sponsor == exp["sponsor"]
    assert (len(rec.eligibility["inclusion"]), len(rec.eligibility["exclusion"])) == (
        exp["inclusion"], exp["exclusion"])
    en = rec.enrollment
    assert (en["count"], en["eea"], en["rest_of_world"]) == exp["enrollment"]
    # The overview's own total is the member states' planned participants.
    assert en["eea"] == int(json.loads(text)["totalNumberEnrolled"])
    assert (rec.start_date, rec.start_date_type) == exp["start"]
    assert rec.completion_date == exp["completion"] and rec.first_posted == exp["first_posted"]
    assert [s["id"] for s in rec.secondary_ids] == exp["ids"]
    assert rec.related_ids == exp["related"]
    assert sum(1 for loc in rec.locations if loc["facility"]) == exp["sites"]
    assert rec.countries == exp["countries"]
    assert (rec.eligibility["min_age_years"], rec.eligibility["max_age_years"]) == exp["ages"]
    assert [iv["name"] for iv in rec.interventions] == exp["interventions"]
    assert rec.unknown_vocab == {} and rec.has_results is False


def test_real_bulleted_criteria_nest() -> None:
    rec = parse_ctis(_real("2023-508143-51-01.json"))
    [inc], [exc] = rec.eligibility["inclusion"], rec.eligibility["exclusion"]
    assert inc["text"].startswith("In order to be eligible") and len(inc["children"]) == 8
    assert exc["text"].startswith("A potential subject who meets any") \
        and len(exc["children"]) == 11
    assert count_items(rec.eligibility["inclusion"]) == 9


def test_real_phase_codes_agree_with_the_overview_text() -> None:
    for name in REAL_EXPECTED:
        data = json.loads(_real(name))
        text_only = copy.deepcopy(data)
        part1 = (text_only.get("authorizedApplication") or text_only)["authorizedPartI"]
        del part1["trialDetails"]["trialInformation"]["trialCategory"]["trialPhase"]
        assert parse_ctis(text_only).phases == parse_ctis(data).phases, name
