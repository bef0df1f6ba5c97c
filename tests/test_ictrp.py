"""WHO ICTRP XML exports and the safe-XML helper.

Hostile and malformed XML and the synthetic export (fixtures/ictrp/, invented trials in the
export's layout) always run; the real 63-trial export (../shared/data/who-ictrp) is skipped
cleanly when absent.  Values pinned below were read from the XML by hand.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

import pytest
from lxml import etree

from trialscope.extract.criteria import count_items
from trialscope.parser import ParseError, TrialRecord
from trialscope.parser.ictrp import (
    age_in_years,
    content_hash,
    looks_like_ictrp,
    parse_date,
    parse_export,
)
from trialscope.parser.safexml import element_text, parse_xml

from .conftest import FIXTURES, shared_absent, shared_files, shared_path

EXPORT_NAME = "ictrp_export_2024-06-09_part_shared.xml"  # in ../shared/data/who-ictrp
SYNTHETIC = FIXTURES / "ictrp" / "synthetic_export.xml"


def _wrap(trial_xml: str, doctype: str = "") -> str:
    return f"<?xml version='1.0'?>\n{doctype}<Trials_downloaded_from_ICTRP>{trial_xml}" \
           "</Trials_downloaded_from_ICTRP>"


def _records(results: list) -> dict[str, TrialRecord]:
    return {r.trial_id: r for r, _ in results if isinstance(r, TrialRecord)}


# --- hostile XML ------------------------------------------------------------------------------

def test_external_entity_is_not_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-42", encoding="utf-8")
    doctype = f'<!DOCTYPE r [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>\n'
    root = parse_xml(f"<?xml version='1.0'?>\n{doctype}<r><a>before &xxe; after</a></r>")
    assert element_text(root.find("a")) == "before  after"
    assert b"TOPSECRET" not in etree.tostring(root)
    trial = "<Trial><TrialID>NCT00000001</TrialID><Public_title>Hello &xxe;</Public_title>" \
            "<Source_Register>ClinicalTrials.gov</Source_Register></Trial>"
    [(rec, raw)] = list(parse_export(_wrap(trial, doctype)))
    assert rec.title == "Hello"
    assert "TOPSECRET" not in str(rec.to_dict()) and "TOPSECRET" not in raw


def test_external_dtd_is_not_loaded(tmp_path: Path) -> None:
    dtd = tmp_path / "evil.dtd"
    dtd.write_text('<!ENTITY e "FROM-THE-DTD">', encoding="utf-8")
    doc = f'<?xml version="1.0"?>\n<!DOCTYPE r SYSTEM "{dtd.as_uri()}">\n<r>x&e;y</r>'
    try:
        root = parse_xml(doc)
    except ParseError as exc:  # libxml2 may call the undeclared entity an error: also safe
        assert exc.reason == "invalid_xml"
    else:
        assert element_text(root) == "xy"


def test_internal_entity_is_not_expanded() -> None:
    root = parse_xml('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "EXPANDED">]><r>x&a;y</r>')
    assert element_text(root) == "xy"


def test_billion_laughs_does_not_blow_up() -> None:
    entities = '<!ENTITY lol0 "lol">\n' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">\n' for i in range(1, 10))
    doc = _wrap("<Trial><TrialID>NCT00000001</TrialID><Public_title>&lol9;</Public_title></Trial>",
                f"<!DOCTYPE Trials_downloaded_from_ICTRP [\n{entities}]>\n")
    started = time.monotonic()
    try:
        results = list(parse_export(doc))
    except ParseError as exc:  # libxml2's amplification guard refuses the document: fine
        assert exc.reason == "invalid_xml"
    else:
        assert "lol" not in str(results[0][0].to_dict())
    assert time.monotonic() - started < 2.0


# --- malformed input: ParseError and nothing else ----------------------------------------------

@pytest.mark.parametrize("payload", [
    b"", "", "   \n", b"<Trials_downloaded_from_ICTRP><Trial>", "not xml at all",
    b"\xff\xfe\x00garbage", "<Trials_downloaded_from_ICTRP></Trial>", 42, None,
], ids=["empty-bytes", "empty-str", "blank", "truncated", "text", "binary", "mismatched",
        "int", "none"])
def test_malformed_export_raises_parse_error(payload: object) -> None:
    with pytest.raises(ParseError) as info:
        list(parse_export(payload))  # type: ignore[arg-type]
    assert info.value.reason == "invalid_xml"


def test_other_xml_is_not_an_ictrp_export() -> None:
    with pytest.raises(ParseError) as info:
        list(parse_export("<clinical_study><id_info/></clinical_study>", source="x.xml"))
    assert info.value.reason == "not_ictrp"
    assert str(info.value).startswith("x.xml: ")


def test_odd_values_do_not_break_a_trial() -> None:
    trial = ("<Trial><TrialID>NCT00000002</TrialID>"
             "<Date_registration>99/99/9999</Date_registration>"
             "<Target_size>lots</Target_size><Inclusion_agemin>old</Inclusion_agemin>"
             "<Countries>;;</Countries><Contact_Lastname>;</Contact_Lastname><Phase>/</Phase>"
             "<Inclusion_Criteria>&lt;br&gt;&lt;br&gt;</Inclusion_Criteria></Trial>")
    [(rec, _)] = list(parse_export(_wrap(trial)))
    assert (rec.trial_id, rec.registry, rec.first_posted) == ("NCT00000002", "ctgov", None)
    assert rec.enrollment == {"count": None, "type": None, "text": "lots"}
    assert rec.eligibility["min_age_years"] is None and rec.locations == []


def test_a_single_trial_element_is_accepted() -> None:
    [(rec, raw)] = list(parse_export("<Trial><TrialID>JPRN-UMIN000000001</TrialID></Trial>"))
    assert (rec.trial_id, rec.registry) == ("UMIN000000001", "jprn")
    assert raw.startswith("<Trial>")


# --- helpers ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, iso", [
    ("20240408", "2024-04-08"), ("08/04/2024", "2024-04-08"), ("30/08/2021", "2021-08-30"),
    ("20 May 2024", "2024-05-20"), ("April 25, 2024", "2024-04-25"), ("January 2022", "2022-01"),
    ("2009/04/01", "2009-04-01"), ("2021-09-20", "2021-09-20"), ("Sept 3, 2020", "2020-09-03"),
    ("31/02/2024", None), ("13/13/2024", None), ("N/A", None), ("", None), (None, None),
])
def test_parse_date(text: str | None, iso: str | None) -> None:
    assert parse_date(text) == iso


@pytest.mark.parametrize("text, years", [
    ("18 Years", 18.0), ("18Y", 18.0), (">= 20age old", 20.0), ("<= 85age old", 85.0),
    ("60(Year)", 60.0), ("20years-old", 20.0), ("≥ 18 years", 18.0), ("18", 18.0),
    ("2 Months", 0.1667), ("6M", 0.5), ("N/A", None), ("No limit", None), ("None", None),
    ("Not applicable", None), ("", None), (None, None),
])
def test_age_in_years(text: str | None, years: float | None) -> None:
    assert age_in_years(text) == years


def test_looks_like_ictrp() -> None:
    assert looks_like_ictrp(SYNTHETIC.read_text(encoding="utf-8"))
    assert looks_like_ictrp("<Trial>\n  <TrialID>NCT00000001</TrialID></Trial>")
    assert not looks_like_ictrp('{"protocolSection": {}}')
    assert not looks_like_ictrp("<trials><Triall><main><trial_id>ChiCTR1</trial_id>")
    assert not looks_like_ictrp(b"<Trials_downloaded_from_ICTRP>")  # type: ignore[arg-type]


def test_content_hash_ignores_the_export_date() -> None:
    a = "<Trial><Export_date>06/09/2024 16:01:13</Export_date><TrialID>NCT1</TrialID></Trial>"
    b = "<Trial><Export_date>01/15/2025 10:00:00</Export_date>\n  <TrialID>NCT1</TrialID></Trial>"
    assert content_hash(a) == content_hash(b)
    assert content_hash(a) != content_hash(a.replace("NCT1", "NCT2"))


# --- the synthetic export (always runs) -------------------------------------------------------

@pytest.fixture(scope="module")
def synthetic() -> list:
    return list(parse_export(SYNTHETIC.read_bytes(), source="synthetic_export.xml"))


def test_synthetic_yields_records_and_one_error(synthetic: list) -> None:
    records = _records(synthetic)
    assert sorted(records) == ["2023-000001-11", "ChiCTR2400099999", "DRKS00099001",
                               "NCT09999902", "XYZ-0001", "jRCT2039990001"]
    errors = [r for r, _ in synthetic if isinstance(r, ParseError)]
    assert [(e.reason, str(e)) for e in errors] == [
        ("missing_id", "synthetic_export.xml [trial 8]: trial without a TrialID")]
    assert len(synthetic) == 7  # 8 <Trial> rows: two EU member states merged, one error


def test_synthetic_drks_dates_are_day_first(synthetic: list) -> None:
    rec = _records(synthetic)["DRKS00099001"]
    assert (rec.registry, rec.status, rec.phases, rec.study_type) == (
        "drks", "RECRUITING", ["PHASE1"], "INTERVENTIONAL")
    # No Date_registration3 here: "13/05/2024" alone must read as 13 May.
    assert (rec.first_posted, rec.start_date, rec.last_updated) == (
        "2024-05-13", "2024-06-03", "2025-01-06")
    assert rec.enrollment == {"count": 24, "type": None, "text": "Group 1: 12; Group 2: 12"}
    assert (rec.conditions, rec.keywords) == (["Myasthenia gravis"], ["G70.0"])
    assert [(iv["name"], iv["arm_labels"]) for iv in rec.interventions] == [
        ("anti-CD19 CAR T cells, 1 x 10^6 cells/kg, single infusion", ["Group 1"]),
        ("standard of care", ["Group 2"])]
    assert rec.interventions[0]["doses"][0]["text"] == "1 x 10^6 cells/kg"
    el = rec.eligibility
    assert (el["min_age_years"], el["max_age_years"], el["max_age"], el["sex"]) == (
        18.0, None, None, "ALL")
    assert [i["text"] for i in el["inclusion"]] == [
        "Generalised myasthenia gravis, MGFA class II-IV",
        "Refractory to at least two immunosuppressive therapies", "MG-ADL score >= 6"]
    assert [i["text"] for i in el["exclusion"]] == [
        "Pregnancy or breastfeeding", "Active infection"]
    assert rec.secondary_ids == [] and rec.has_results is False


def test_synthetic_jprn(synthetic: list) -> None:
    rec = _records(synthetic)["jRCT2039990001"]
    assert rec.registry == "jprn"
    assert rec.secondary_ids == [
        {"id": "NCT09999901", "type": "REGISTRY", "domain": "ClinicalTrials.gov"},
        {"id": "JapicCTI-999999", "type": "REGISTRY", "domain": "JPRN"},
        {"id": "JPRN-jRCT2039990001", "type": "ICTRP", "domain": "WHO ICTRP"}]
    assert (rec.status, rec.status_raw, rec.unknown_vocab) == (
        "Not Recruiting", "Not Recruiting", {"status": ["Not Recruiting"]})
    assert (rec.phases, rec.first_posted, rec.start_date) == (
        ["PHASE1", "PHASE2"], "2024-01-15", "2024-02-01")
    assert (rec.eligibility["min_age_years"], rec.eligibility["max_age_years"]) == (20.0, 75.0)
    assert [iv["name"] for iv in rec.interventions] == ["XYZ-19"]  # the empty control block drops
    assert rec.countries == ["Japan"] and rec.design["regions"] == ["Asia except Japan"]
    assert (count_items(rec.eligibility["inclusion"]), count_items(rec.eligibility["exclusion"])) \
        == (2, 3)


def test_synthetic_eu_member_states_merge(synthetic: list) -> None:
    rec = _records(synthetic)["2023-000001-11"]
    raw = next(raw for r, raw in synthetic if getattr(r, "trial_id", None) == "2023-000001-11")
    assert raw.count("<Trial>") == 2 and "EUCTR2023-000001-11-NL" in raw and "-DE" in raw
    assert rec.registry == "euctr"
    # Scalars from the most recently refreshed row (DE, 2 January 2025), "English: " dropped.
    assert rec.title == "Anti-CD19 CAR T cells in refractory generalised myasthenia gravis"
    assert rec.status == "RECRUITING"  # DE recruits, NL is only "Authorised"
    assert (rec.first_posted, rec.start_date, rec.last_updated) == (
        "2023-04-20", "2023-06-15", "2025-01-02")
    assert [(loc["country"], loc["status"], loc["member_state"]) for loc in rec.locations] == [
        ("Germany", "Recruiting", "DE"), ("Netherlands", "Authorised", "NL")]
    assert rec.secondary_id_values == ["CART-MG-01", "EUCTR2023-000001-11-NL", "NCT09999902",
                                       "EUCTR2023-000001-11-DE"]
    assert rec.phases == ["PHASE1", "PHASE2"] and rec.study_type == "INTERVENTIONAL"
    el = rec.eligibility
    assert (el["min_age_years"], el["max_age_years"], el["std_ages"], el["sex"]) == (
        18.0, 64.0, ["ADULT"], "ALL")
    # The F.1 age-group lines are not criteria.
    assert [i["text"] for i in el["inclusion"]] == [
        "Generalised myasthenia gravis", "Refractory disease", "Age 18-64 years"]
    assert (rec.conditions, rec.keywords) == (
        ["Refractory generalised myasthenia gravis"],
        ["Myasthenia gravis", "Diseases [C] - Nervous System Diseases [C10]"])
    assert [(iv["name"], iv["other_names"]) for iv in rec.interventions] == [
        ("EXA-CART19", ["EXA-19"])]
    assert rec.summary == "To assess the safety of EXA-CART19."
    assert rec.primary_outcomes == ["Dose-limiting toxicities"]


def test_synthetic_chictr_and_ctgov(synthetic: list) -> None:
    records = _records(synthetic)
    chictr = records["ChiCTR2400099999"]
    assert chictr.enrollment == {"count": 40, "type": None,
                                 "text": "CAR-T group:20;control group:20;"}
    assert [(iv["name"], iv["arm_labels"]) for iv in chictr.interventions] == [
        ("BCMA CAR-T cells", ["CAR-T group"]), ("standard therapy", ["control group"])]
    assert chictr.primary_outcomes == ["MG-ADL", "QMG"]
    nct = records["NCT09999902"]
    assert (nct.registry, nct.status, nct.phases) == ("ctgov", "Not recruiting",
                                                     ["PHASE2", "PHASE3"])
    assert (nct.start_date, nct.enrollment["count"]) == ("2023-03", None)
    assert nct.eligibility["sex"] == "FEMALE" and nct.eligibility["min_age_years"] == 18.0
    assert [i["text"] for i in nct.eligibility["inclusion"]] == [
        "Generalized myasthenia gravis", "MG-ADL score >= 6"]
    assert [i["text"] for i in nct.eligibility["exclusion"]] == ["Prior CAR-T therapy"]
    assert [(iv["type"], iv["name"]) for iv in nct.interventions] == [
        ("BIOLOGICAL", "KYV-101"), ("DRUG", "Placebo")]
    assert nct.collaborators == ["Example Academic Network", "Example Foundation"]
    assert [(c["name"], c["email"]) for c in nct.contacts] == [
        ("Jane Doe, MD", None), ("Study Desk", "desk@example.com")]
    assert nct.secondary_ids == [
        {"id": "2022-000002-22", "type": "EUDRACT_NUMBER", "domain": "EU CTR"},
        {"id": "ORG-123", "type": "OTHER", "domain": None}]
    assert nct.has_results is True and nct.countries == ["Germany", "United States"]


def test_synthetic_unknown_vocabulary_is_kept_raw(synthetic: list) -> None:
    rec = _records(synthetic)["XYZ-0001"]
    assert rec.registry == "example registry"
    assert (rec.status, rec.study_type, rec.phases, rec.eligibility["sex"]) == (
        "Withheld pending review", "Basic science", ["Pilot"], "Intersex")
    assert rec.unknown_vocab == {"status": ["Withheld pending review"],
                                 "study_type": ["Basic science"], "phase": ["Pilot"],
                                 "sex": ["Intersex"]}


# --- the real export (../shared) ------------------------------------------------------------

def _real_rows() -> list[dict[str, str]]:
    """The export's rows, for parametrize; none (those tests skip) when ../shared is absent."""
    found = shared_files("data/who-ictrp", EXPORT_NAME)
    if not found:
        return []
    root = etree.parse(str(found[0])).getroot()
    return [{c.tag: (c.text or "").strip() for c in t} for t in root.findall("Trial")]


ROWS = _real_rows()


def _own_id(trial_id: str) -> str:
    """ICTRP TrialID -> the id the parser keys records by (rules in ictrp.py)."""
    return re.sub(r"^JPRN-", "", re.sub(r"^EUCTR(\d{4}-\d{6}-\d{2}).*$", r"\1", trial_id))


@pytest.fixture(scope="module")
def real() -> list:
    export = shared_path("data", "who-ictrp", EXPORT_NAME)
    return list(parse_export(export.read_bytes(), source=export.name))


def test_real_export_one_record_per_distinct_trial(real: list) -> None:
    assert len(ROWS) == 63
    assert [r for r, _ in real if isinstance(r, ParseError)] == []
    distinct = {_own_id(row["TrialID"]) for row in ROWS}
    assert len(distinct) == 59  # 19 EU CTR rows are 15 trials
    assert sorted(_records(real)) == sorted(distinct) and len(real) == 59


@pytest.mark.parametrize("row", [pytest.param(r, id=r["TrialID"]) for r in ROWS]
                         or [shared_absent("data", "who-ictrp", EXPORT_NAME)])
def test_real_trial_basics(real: list, row: dict[str, str]) -> None:
    rec = _records(real)[_own_id(row["TrialID"])]
    assert rec.trial_id and rec.title and rec.registry
    assert rec.registry == {
        "ClinicalTrials.gov": "ctgov", "EU Clinical Trials Register": "euctr", "JPRN": "jprn",
        "German Clinical Trials Register": "drks", "ChiCTR": "chictr", "CRIS": "cris",
    }[row["Source_Register"]]
    registered = dt.date.fromisoformat(rec.first_posted).isoformat()
    own = parse_date(row["Date_registration3"])
    # Date_registration is day-first: it agrees with Date_registration3 (YYYYMMDD) on every row.
    assert parse_date(row["Date_registration"]) == own
    assert registered <= own  # merged EU rows keep the earliest registration


PINNED = {
    "NCT06360289": dict(
        registry="ctgov", status="RECRUITING", first_posted="2024-04-08", start_date="2024-04-25",
        title="Observational Study of Neurofilament Light Chain (NfL) as a Biomarker in "
              "Asymptomatic Carriers of the Transthyretin (TTR) Variants and Patients With "
              "Hereditary Transthyretin-mediated (hATTR) Amyloidosis With Polyneuropathy"),
    "DRKS00031084": dict(
        registry="drks", status="Not Recruiting", first_posted="2023-03-17",
        start_date="2023-03-20",
        title="„From App to Bedside“ - Utility evaluation of Ada-symptom-analysis for detection "
              "of familial Mediterranean fever"),
    "ChiCTR2100050713": dict(
        registry="chictr", status="RECRUITING", first_posted="2021-09-03",
        start_date="2021-09-20",
        title="Clinical study on the relationship between serum amyloid A and apolipoprotein A-I "
              "and the severity and prognosis of sepsis"),
    "jRCTs031210288": dict(registry="jprn", status="RECRUITING", first_posted="2021-08-30",
                           start_date="2021-10-06", title="SD-BATON"),
    "KCT0000379": dict(
        registry="cris", status="RECRUITING", first_posted="2012-03-12", start_date="2010-10-25",
        title="Neuropathologic and Neurochemical Imaging Technologies and Their Clinical "
              "Applications in Alzheimer's Disease"),
    "2021-000037-14": dict(
        registry="euctr", status="Authorised", first_posted="2021-04-28", start_date="2021-07-08",
        title="A Global Phase 3 Double-Blind, Placebo-Controlled study to assess Efficacy and "
              "Safety of Birtamimab Plus Standard of Care vs. Placebo Plus Standard of Care in "
              "Mayo Stage IV Subjects with Light Chain (AL) Amyloidosis"),
    "2013-004561-13": dict(  # Public_title "Not available": the scientific title stands in
        registry="euctr", status="Not Recruiting", first_posted="2014-05-07",
        start_date="2014-07-04",
        title="An Open-Label Extension Study to Assess the Long-Term Safety and Efficacy of ISIS "
              "420915 in Patients with Familial Amyloid Polyneuropathy (FAP) - ISIS 420915-CS3"),
    "jRCT2080221636": dict(registry="jprn", status="UNKNOWN", first_posted="2011-11-02",
                           start_date="2011-11-02",
                           title="The Effect Of Tafamidis For The Transthyretin Amyloid "
                                 "Polyneuropathy Patients With V30M Or Non-V30M Transthyretin"),
}


@pytest.mark.parametrize("trial_id", sorted(PINNED))
def test_real_pinned_values(real: list, trial_id: str) -> None:
    rec = _records(real)[trial_id]
    got = {key: getattr(rec, key) for key in PINNED[trial_id]}
    assert got == PINNED[trial_id]


def test_real_other_fields(real: list) -> None:
    records = _records(real)
    chictr = records["ChiCTR2100050713"]
    assert chictr.enrollment == {"count": 100, "type": None,
                                 "text": "control group:50;sepsis group:50;"}
    assert chictr.interventions == []  # "control group:No;sepsis group:No;"
    kct = records["KCT0000379"]
    assert (kct.phases, kct.eligibility["min_age_years"], kct.eligibility["max_age_years"]) == (
        ["PHASE1", "PHASE2"], 60.0, 80.0)
    nct = records["NCT02713880"]
    assert (nct.eligibility["min_age_years"], nct.enrollment["count"]) == (0.1667, 0)
    assert records["NCT03759379"].has_results is True
    assert records["NCT03759379"].phases == ["PHASE3"]
    assert records["2012-001831-30"].phases == ["PHASE2", "PHASE3"]
    assert records["2014-001586-27"].eligibility["max_age_years"] == 64.0  # elderly: no
    assert records["UMIN000001825"].phases == []  # "Not selected"
    assert records["NCT02939820"].study_type == "EXPANDED_ACCESS"


def test_real_eu_rows_merge(real: list) -> None:
    rec = _records(real)["2021-000037-14"]
    ictrp_ids = [s["id"] for s in rec.secondary_ids if s["type"] == "ICTRP"]
    assert ictrp_ids == ["EUCTR2021-000037-14-PL", "EUCTR2021-000037-14-PT",
                         "EUCTR2021-000037-14-HU", "EUCTR2021-000037-14-DK"]
    states = sorted((loc["member_state"], loc["status"]) for loc in rec.locations
                    if loc.get("member_state"))
    assert states == [("DK", "Authorised"), ("HU", "Authorised"), ("PL", "Authorised"),
                      ("PT", "Authorised")]
    # Countries are the union of the four rows (23, 20, 20, 23 countries; "Turkey" and
    # "Türkiye" are both there, spelt as the rows spell them).
    assert len(rec.countries) == 25 and rec.last_updated == "2024-02-19"
    assert "2021-000037-14" not in rec.secondary_id_values  # "2021-000037-14-DK" is itself
    other = _records(real)["2017-005115-13"]  # FR "Not Available" + ES "Authorised"
    assert (other.status, other.title) == (
        "Authorised", "A Non-Interventional Study to Monitor the Survival Status of Patients that "
        "Discontinued from ISIS 420915-CS2 or ISIS 420915-CS3")


_CROSS = re.compile(r"^(?:NCT\d{8}|\d{4}-\d{6}-\d{2}|JapicCTI-\d{6}|jRCT\w+|DRKS\d{8})"
                    r"(?:-[A-Z]{2})?$")


def test_real_cross_registered_ids_are_secondary_ids(real: list) -> None:
    records = _records(real)
    pairs = []
    for row in ROWS:
        own = _own_id(row["TrialID"])
        for token in row.get("Secondary_ID", "").split(";"):
            token = re.sub(r"^(\d{4}-\d{6}-\d{2})-[A-Z]{2}$", r"\1", token.strip())
            if _CROSS.match(token) and token != own:
                pairs.append((own, token))
                assert token in records[own].secondary_id_values, (own, token)
    assert len(pairs) == 16
    # Three of them point at another record of the same export: the linker can join them.
    in_export = sorted((a, b) for a, b in set(pairs) if b in records)
    assert in_export == [("2014-003865-11", "NCT02312206"), ("jRCT2071210009", "2019-001698-10"),
                         ("jRCT2080224769", "NCT03759379")]
    ids = {s["id"]: s for s in records["jRCT2080224769"].secondary_ids}
    assert ids["NCT03759379"] == {"id": "NCT03759379", "type": "REGISTRY",
                                  "domain": "ClinicalTrials.gov"}
    assert ids["JapicCTI-194846"]["domain"] == "JPRN"
    assert records["jRCT2071210009"].secondary_ids[1] == {
        "id": "2019-001698-10", "type": "EUDRACT_NUMBER", "domain": "EU CTR"}


def test_real_status_vocabulary(real: list) -> None:
    raw = {r.status for r in _records(real).values() if r.unknown_vocab.get("status")}
    assert raw == {"Not recruiting", "Not Recruiting", "Authorised"}
    known = {r.status for r in _records(real).values() if not r.unknown_vocab.get("status")}
    assert known == {"RECRUITING", "UNKNOWN"}


# Counted by hand from the XML: (inclusion items, exclusion items), children included.
CRITERIA = {
    "ChiCTR2100050713": (2, 13),       # "1. ...;<br>2. ..." / 13 numbered
    "DRKS00031084": (9, 2),           # 3 group headings + 6 items / 1 heading + 1 item
    "jRCT2080224769": (5, 8),         # "-" items
    "2021-000037-14": (5, 11),        # numbered; the F.1 age lines are not criteria
    "NCT02510261": (2, 1),
}


@pytest.mark.parametrize("trial_id", sorted(CRITERIA))
def test_real_criteria_counts(real: list, trial_id: str) -> None:
    el = _records(real)[trial_id].eligibility
    assert (count_items(el["inclusion"]), count_items(el["exclusion"])) == CRITERIA[trial_id]
    assert "F.1.2" not in (el["text"] or "") and "<br>" not in (el["text"] or "")
