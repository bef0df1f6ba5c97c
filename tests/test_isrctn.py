"""ISRCTN records: the API's XML, ctrdata's JSON form, dispatch, status from dates, hostile input.

The synthetic fixtures (fixtures/isrctn/, invented trials in the real layouts) always run; the
six real records ctrdata stores (../shared/data/ctrdata-demo/isrctn) are skipped cleanly when
absent.  Values pinned below were read from the files by hand.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from trialscope.parser import ParseError, TrialRecord
from trialscope.parser.files import Failure, Parsed, detect_format, parse_payload
from trialscope.parser.isrctn import (
    iter_records,
    looks_like_isrctn,
    normalise_isrctn_id,
    parse_isrctn,
)

from .conftest import FIXTURES as ALL_FIXTURES
from .conftest import json_paths, replaced, shared_path

FIXTURES = ALL_FIXTURES / "isrctn"
CTRDATA = FIXTURES / "synthetic_ctrdata_ISRCTN00000001.json"
API_XML = FIXTURES / "synthetic_api_allTrials.xml"
DAY = dt.date(2026, 3, 8)  # ctrdata's import date of the real records


def _load() -> dict[str, Any]:
    return json.loads(CTRDATA.read_text(encoding="utf-8"))


def _real(name: str) -> str:
    """A real ISRCTN record ctrdata stored (skips when ../shared is absent)."""
    return shared_path("data", "ctrdata-demo", "isrctn", name).read_text(encoding="utf-8")


@pytest.mark.parametrize("raw, bare, expected", [
    ("ISRCTN12949496", False, "ISRCTN12949496"), ("isrctn 12949496", False, "ISRCTN12949496"),
    ("12949496", False, None), ("12949496", True, "ISRCTN12949496"),
    ("ISRCTN1294949", False, None), ("ISRCTN12949496/../x", False, None),
    (12949496, True, "ISRCTN12949496"), (None, True, None), (["12949496"], True, None),
])
def test_normalise_isrctn_id(raw: Any, bare: bool, expected: str | None) -> None:
    assert normalise_isrctn_id(raw, bare_digits=bare) == expected


# --- ctrdata's JSON (synthetic) --------------------------------------------------------------

def test_ctrdata_json_synthetic() -> None:
    rec = parse_isrctn(CTRDATA.read_text(encoding="utf-8"), as_of=DAY)
    assert (rec.trial_id, rec.registry) == ("ISRCTN00000001", "isrctn")
    assert rec.url == "https://www.isrctn.com/ISRCTN00000001"
    assert rec.title == "Thymectomy timing in young adults with myasthenia gravis"
    assert rec.acronym is None  # empty in the record
    # "Nil known" placeholders are dropped; the NCT number is normalised; duplicates once.
    assert rec.secondary_ids == [
        {"id": "NCT09999911", "type": "REGISTRY", "domain": "ClinicalTrials.gov"},
        {"id": "THYM-MG-7", "type": "ORG_STUDY_ID", "domain": None},
    ]
    assert rec.sponsor is None and rec.collaborators == []  # ctrdata keeps party ids only
    assert rec.first_posted is None and rec.last_updated is None
    # Recruitment ended 2025-12-31, overall end 2027-12-31: as of 2026-03-08, active.
    assert rec.status == "ACTIVE_NOT_RECRUITING" and rec.design["status_source"] == "dates"
    assert rec.phases == ["PHASE2", "PHASE3"]
    assert [(iv["name"], iv["type"]) for iv in rec.interventions] == [
        ("Thymectomy within 4 weeks of randomisation.", "PROCEDURE"), ("Prednisolone", "DRUG")]
    assert rec.interventions[1]["doses"][0]["text"] == "0.75 mg/kg"
    assert rec.summary == "Early thymectomy reduces the need for immunosuppression."
    assert rec.primary_outcomes == ["Quantitative MG score at 12 months"]
    el = rec.eligibility
    assert [i["text"] for i in el["inclusion"]] == ["Generalised myasthenia gravis",
                                                     "Aged 18 to 45 years"]
    assert [i["text"] for i in el["exclusion"]] == ["Thymoma", "Previous thymectomy"]
    assert (el["min_age_years"], el["max_age_years"], el["sex"]) == (18.0, 45.0, "ALL")
    assert el["healthy_volunteers"] is True and el["std_ages"] == ["ADULT"]
    # A UK nation is the United Kingdom (the nation goes to "state"); no duplicate country.
    assert [(loc["facility"], loc["state"], loc["country"]) for loc in rec.locations] == [
        ("Example Royal Infirmary", "Scotland", "United Kingdom"), (None, None, "Norway")]
    assert rec.enrollment == {"count": 120, "type": "ESTIMATED", "target": 120, "final": None}
    assert (rec.start_date, rec.completion_date) == ("2020-01-01", "2027-12-31")
    assert (rec.start_date_type, rec.completion_date_type) == ("ACTUAL", "ESTIMATED")
    assert rec.design["recruitment_end"] == "2025-12-31"
    assert rec.has_results is False and rec.unknown_vocab == {}
    assert TrialRecord.from_dict(json.loads(json.dumps(rec.to_dict()))) == rec


@pytest.mark.parametrize("day, status", [
    (dt.date(2019, 12, 31), "NOT_YET_RECRUITING"), (dt.date(2020, 1, 1), "RECRUITING"),
    (dt.date(2025, 12, 31), "RECRUITING"), (dt.date(2026, 1, 1), "ACTIVE_NOT_RECRUITING"),
    (dt.date(2027, 12, 31), "ACTIVE_NOT_RECRUITING"), (dt.date(2028, 1, 1), "COMPLETED"),
])
def test_status_from_dates(day: dt.date, status: str) -> None:
    assert parse_isrctn(_load(), as_of=day).status == status


@pytest.mark.parametrize("where, value, status", [
    ("trialDesign", "Stopped", "TERMINATED"), ("trialDesign", "Suspended", "SUSPENDED"),
    ("trialDesign", "Completed", "COMPLETED"), ("participants", "Stopped", "TERMINATED"),
])
def test_status_overrides(where: str, value: str, status: str) -> None:
    data = _load()
    key = "overallStatusOverride" if where == "trialDesign" else "recruitmentStatusOverride"
    data[where][key] = value
    rec = parse_isrctn(data, as_of=DAY)
    assert rec.status == status and rec.design["status_source"] == "override"


def test_unknown_override_and_vocabulary_are_kept_raw() -> None:
    data = _load()
    data["trialDesign"]["overallStatusOverride"] = "Paused for lunch"
    data["trialDesign"]["primaryStudyDesign"] = "Other"
    data["interventions"]["intervention"][0]["phase"] = "Phase 5"
    data["interventions"]["intervention"][1]["interventionType"] = "Magic"
    data["participants"]["gender"] = "Unknown"
    rec = parse_isrctn(data, as_of=DAY)
    assert (rec.status, rec.status_raw) == ("UNKNOWN", "Paused for lunch")
    assert rec.study_type == "Other"
    assert rec.unknown_vocab == {"status": ["Paused for lunch"], "study_type": ["Other"],
                                 "phase": ["Phase 5"], "intervention_type": ["Magic"],
                                 "sex": ["Unknown"]}
    assert rec.phases == ["PHASE2", "PHASE3"]


@pytest.mark.parametrize("raw, phases", [
    ("Phase III", ["PHASE3"]), ("Phase I/II", ["PHASE1", "PHASE2"]),
    ("Phase II/III", ["PHASE2", "PHASE3"]), ("Phase 0", ["EARLY_PHASE1"]),
    ("Not Applicable", ["NA"]), ("Not Specified", []), ("", []),
])
def test_phases(raw: str, phases: list[str]) -> None:
    data = _load()
    for iv in data["interventions"]["intervention"]:
        iv["phase"] = raw
    assert parse_isrctn(data, as_of=DAY).phases == phases


def test_final_enrolment_wins_over_target() -> None:
    data = _load()
    data["participants"]["totalFinalEnrolment"] = "97"
    assert parse_isrctn(data, as_of=DAY).enrollment == {
        "count": 97, "type": "ACTUAL", "target": 120, "final": 97}


# --- the API's XML (synthetic) ---------------------------------------------------------------

def test_api_xml_synthetic() -> None:
    results = list(iter_records(API_XML.read_text(encoding="utf-8"), source="api.xml",
                                as_of=DAY))
    assert len(results) == 2
    rec, raw = results[0]
    assert isinstance(rec, TrialRecord) and raw.startswith("<fullTrial")
    assert rec.trial_id == "ISRCTN00000002" and rec.acronym == "CART-MG"
    assert (rec.first_posted, rec.last_updated) == ("2024-02-20", "2025-02-03")
    assert rec.sponsor == "Example Cell Therapies B.V." and rec.sponsor_class == "INDUSTRY"
    assert rec.collaborators == ["Example Research Council"]
    assert rec.secondary_ids == [
        {"id": "2023-000001-11", "type": "EUDRACT_NUMBER", "domain": "EudraCT"},
        {"id": "1009999", "type": "IRAS", "domain": "IRAS"},
        {"id": "2024-500002-22-00", "type": "CTIS", "domain": "CTIS"},
        {"id": "GRANT-77", "type": "OTHER", "domain": "Example Research Council"},
        {"id": "CART-MG-01", "type": "ORG_STUDY_ID", "domain": "Example Cell Therapies B.V."},
    ]
    assert rec.status == "RECRUITING"  # recruitment 2024-03-15 .. 2026-03-15, as of 2026-03-08
    assert rec.phases == ["PHASE1", "PHASE2"]
    [iv] = rec.interventions
    assert (iv["name"], iv["type"]) == ("Anti-CD19 CAR T cells", "BIOLOGICAL")
    assert iv["doses"][0]["value"] == 1e6 and iv["doses"][0]["per"] == "kg"
    assert rec.primary_outcomes == ["Dose-limiting toxicities"]
    assert rec.summary.startswith("Background and study aims")
    assert rec.eligibility["healthy_volunteers"] is False
    assert (rec.eligibility["min_age_years"], rec.eligibility["max_age_years"]) == (18.0, 75.0)
    assert [(loc["city"], loc["state"], loc["country"]) for loc in rec.locations] == [
        ("Utrecht", None, "Netherlands"), ("London", "England", "United Kingdom")]
    assert rec.enrollment["count"] == 12 and rec.enrollment["type"] == "ESTIMATED"
    assert rec.design["allocation"] == "Single arm"
    bad, bad_raw = results[1]
    assert isinstance(bad, ParseError) and bad.reason == "missing_id"
    assert "not-a-number" in bad_raw and "[trial 2]" in str(bad)


def test_parse_isrctn_wants_exactly_one_trial() -> None:
    with pytest.raises(ParseError) as err:
        parse_isrctn(API_XML.read_text(encoding="utf-8"))
    assert err.value.reason == "not_one_trial"


def test_xml_and_json_forms_agree() -> None:
    """The XML converted here and ctrdata's JSON of the same trial give the same record,
    except for what ctrdata drops (attributes and the parties)."""
    xml = API_XML.read_text(encoding="utf-8")
    start, end = xml.index("<fullTrial>"), xml.index("</fullTrial>") + len("</fullTrial>")
    one = "<allTrials xmlns=\"http://www.67bricks.com/isrctn\">" + xml[start:end] + "</allTrials>"
    from_xml = parse_isrctn(one, as_of=DAY)
    from lxml import etree

    from trialscope.parser.isrctn import xml_to_obj

    trial = etree.fromstring(one.encode()).find(".//{http://www.67bricks.com/isrctn}trial")
    as_ctrdata = json.loads(json.dumps(xml_to_obj(trial)).replace('"#text"', '"_t"'))

    def strip(node: Any) -> Any:  # ctrdata keeps the text of a leaf with attributes only
        if isinstance(node, dict):
            return node["_t"] if "_t" in node else {k: strip(v) for k, v in node.items()}
        return [strip(x) for x in node] if isinstance(node, list) else node

    from_json = parse_isrctn(strip(as_ctrdata), as_of=DAY)
    dropped = {"sponsor", "collaborators", "sponsor_class", "first_posted", "last_updated",
               "secondary_ids"}
    a, b = from_xml.to_dict(), from_json.to_dict()
    assert {k: v for k, v in a.items() if k not in dropped} == \
        {k: v for k, v in b.items() if k not in dropped}


# --- hostile and malformed input -------------------------------------------------------------

def test_external_entities_are_not_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-42", encoding="utf-8")
    xml = (f'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "{secret.as_uri()}">]>'
           '<allTrials><fullTrial><trial><isrctn>00000009</isrctn><trialDescription>'
           '<title>Hello &x;</title></trialDescription></trial></fullTrial></allTrials>')
    [(rec, raw)] = list(iter_records(xml))
    assert rec.title == "Hello" and "TOPSECRET" not in json.dumps(rec.to_dict())
    assert "TOPSECRET" not in raw


def test_billion_laughs_is_refused() -> None:
    lol = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10 if i else "lol"}">' for i in range(10))
    xml = (f'<?xml version="1.0"?><!DOCTYPE a [{lol}]><allTrials><fullTrial><trial>'
           '<isrctn>00000009</isrctn><trialDescription><title>&l9;</title></trialDescription>'
           '</trial></fullTrial></allTrials>')
    try:
        results = list(iter_records(xml))
    except ParseError as exc:  # libxml2 refuses the amplification outright
        assert exc.reason == "invalid_xml"
        return
    [(rec, _raw)] = results  # or leaves the entity unexpanded
    assert isinstance(rec, TrialRecord) and "lol" not in (rec.title or "")


@pytest.mark.parametrize("payload, reason", [
    ("<allTrials", "invalid_xml"), ("<other><x/></other>", "not_isrctn"),
    ("<a>" * 5000 + "</a>" * 5000, "invalid_xml"),  # deeper than the XML parser allows
    ("[" * 100_000, "invalid_json"), ("{", "invalid_json"),
])
def test_malformed_payloads(payload: str, reason: str) -> None:
    with pytest.raises(ParseError) as err:
        list(iter_records(payload))
    assert err.value.reason == reason


@pytest.mark.parametrize("payload, reason", [
    ({}, "not_a_study"), ([], "not_a_study"), ("42", "not_a_study"),
    ({"isrctn": "00000001"}, "not_a_study"),
    ({"isrctn": "../../etc", "trialDescription": {}}, "missing_id"),
    ({"isrctn": ["00000001"], "trialDescription": {}}, "missing_id"),
])
def test_not_a_trial(payload: Any, reason: str) -> None:
    with pytest.raises(ParseError) as err:
        parse_isrctn(payload)
    assert err.value.reason == reason


_WRONG = [None, "", "text", 7, 3.5, True, [], [None, 1, "x"], {}, {"a": {"b": []}}]


def test_wrong_types_anywhere_raise_only_parse_error() -> None:
    data = _load()
    seen = {"record": 0, "error": 0}
    for path in json_paths(data):
        for wrong in _WRONG:
            try:
                parse_isrctn(replaced(data, path, wrong), as_of=DAY)
                seen["record"] += 1
            except ParseError:
                seen["error"] += 1
    assert seen["record"] and seen["error"]


def test_ids_from_the_payload_are_validated() -> None:
    data = _load()
    refs = data["externalRefs"]
    refs.update(clinicalTrialsGovNumber="NCT0999991; rm -rf", eudraCTNumber="2019-12-1",
                irasNumber="../1234", protocolSerialNumber="x" * 200)
    refs["secondaryNumbers"] = {"secondaryNumber": ["line\nbreak", "\x00"]}
    assert parse_isrctn(data, as_of=DAY).secondary_ids == []


# --- detection and dispatch ------------------------------------------------------------------

def test_detection_and_dispatch() -> None:
    text = CTRDATA.read_text(encoding="utf-8")
    xml = API_XML.read_text(encoding="utf-8")
    assert looks_like_isrctn(text) and detect_format(text) == "isrctn-json"
    assert looks_like_isrctn(xml) and detect_format(xml) == "isrctn-xml"
    ictrp = (ALL_FIXTURES / "ictrp" / "synthetic_export.xml").read_text(encoding="utf-8")
    assert not looks_like_isrctn(ictrp) and detect_format(ictrp) == "ictrp-xml"
    items = list(parse_payload(xml, source="api.xml"))
    assert isinstance(items[0], Parsed) and items[0].record.trial_id == "ISRCTN00000002"
    assert isinstance(items[1], Failure) and items[1].registry == "isrctn"
    assert items[1].reason == "missing_id" and "not-a-number" in items[1].raw


def test_content_hash_ignores_ctrdata_stamps() -> None:
    text = CTRDATA.read_text(encoding="utf-8")
    [first] = list(parse_payload(text, source="a.json"))
    data = json.loads(text)
    data["record_last_import"] = "2030-01-01 00:00:00"
    [second] = list(parse_payload(json.dumps(data), source="a.json"))
    assert first.content_hash == second.content_hash


# --- the real records ctrdata stores ---------------------------------------------------------

REAL_EXPECTED = {
    "12949496.json": dict(status="TERMINATED", why="Participant recruitment issue",
                          ids=["2014-002988-16", "MINT-2014-01"], enrol=(9, "ACTUAL"),
                          crit=(1, 7), results=True, countries=["Ireland"], sites=2,
                          start="2015-11-01", end="2020-02-01", ages=(None, None)),
    "17473621.json": dict(status="COMPLETED", why=None, ids=[], enrol=(100, "ESTIMATED"),
                          crit=(7, 3), results=False, countries=["Indonesia"], sites=1,
                          start="2023-05-01", end="2024-05-01", ages=(0.0055, 0.0383)),
    "20343063.json": dict(status="COMPLETED", why=None, ids=["EC10-240"],
                          enrol=(238, "ESTIMATED"), crit=(2, 3), results=False,
                          countries=["Spain"], sites=1, start="2011-01-01", end="2013-12-31",
                          ages=(None, None)),
    "76463425.json": dict(status="COMPLETED", why=None, ids=["NCT01727609", "HTA 11/01/25"],
                          enrol=(2804, "ACTUAL"), crit=(3, 3), results=True,
                          countries=["Ireland", "United Kingdom"], sites=2, start="2013-06-01",
                          end="2018-05-10", ages=(None, None)),
    "88261002.json": dict(status="COMPLETED", why=None, ids=["2012-004260-22", "ELFIN01"],
                          enrol=(2200, "ESTIMATED"), crit=(2, 3), results=True,
                          countries=["United Kingdom"], sites=1, start="2013-09-01",
                          end="2018-05-31", ages=(None, None)),
    "96912679.json": dict(status="RECRUITING", why=None, ids=["1005191"],
                          enrol=(211, "ESTIMATED"), crit=(6, 4), results=False,
                          countries=["United Kingdom"], sites=15, start="2025-11-01",
                          end="2031-10-31", ages=(None, None)),
}


@pytest.mark.parametrize("name", sorted(REAL_EXPECTED))
def test_real_ctrdata_records(name: str) -> None:
    exp = REAL_EXPECTED[name]
    rec = parse_isrctn(_real(name), source=name, as_of=DAY)
    assert rec.trial_id == "ISRCTN" + name.removesuffix(".json")
    assert rec.title and rec.official_title
    assert (rec.status, rec.why_stopped) == (exp["status"], exp["why"])
    assert rec.phases == ["PHASE3"] and rec.study_type == "INTERVENTIONAL"
    assert [s["id"] for s in rec.secondary_ids] == exp["ids"]
    assert (rec.enrollment["count"], rec.enrollment["type"]) == exp["enrol"]
    el = rec.eligibility
    assert (len(el["inclusion"]), len(el["exclusion"])) == exp["crit"]
    assert (el["min_age_years"], el["max_age_years"]) == exp["ages"]
    assert el["sex"] == "ALL" and el["std_ages"] == ["CHILD"]
    assert rec.has_results is exp["results"]
    assert rec.countries == exp["countries"]
    assert sum(1 for loc in rec.locations if loc["facility"]) == exp["sites"]
    assert (rec.start_date, rec.completion_date) == (exp["start"], exp["end"])
    assert rec.interventions and rec.conditions
    assert rec.unknown_vocab == {}


def test_real_nested_criteria() -> None:
    rec = parse_isrctn(_real("12949496.json"), as_of=DAY)
    [inc] = rec.eligibility["inclusion"]
    assert inc["text"].endswith("the infants must satisfy the following criteria:")
    assert len(inc["children"]) == 4
