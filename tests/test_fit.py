"""Patient fit (extract/fit.py): records built by hand for each rule's edges, and the fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from trialscope.core.record import TrialRecord
from trialscope.extract.fit import (
    OPEN_STATUSES,
    FitResult,
    Patient,
    assess,
    describe,
    fits,
    parse_patient,
)
from trialscope.parser.ctgov import parse_study_json

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "fixtures" / "ctgov" / "studies"


def fixture(nct: str) -> TrialRecord:
    return parse_study_json((STUDIES / f"{nct}.json").read_text(encoding="utf-8"))


def th(measure, op, value, *, kind="scale", section="inclusion", item="1", unit=None, text=None,
       **extra):
    return {"measure": measure, "op": op, "value": value, "unit": unit, "kind": kind,
            "section": section, "item": item, "text": text or f"{measure} {op} {value}",
            **extra}


def window(drugs, value, unit, *, section="exclusion", item="1", direction="before"):
    return {"measure": ", ".join(drugs), "op": "within", "value": value, "unit": unit,
            "kind": "window", "section": section, "item": item, "drugs": list(drugs),
            "window": {"value": value, "unit": unit}, "direction": direction,
            "text": f"{', '.join(drugs)} within {value} {unit}"}


def rec(*thresholds, min_age=None, max_age=None, sex=None, inclusion=None, status="RECRUITING",
        trial_id="NCT00000000"):
    return TrialRecord(trial_id=trial_id, registry="ctgov", status=status, eligibility={
        "min_age_years": min_age, "max_age_years": max_age, "sex": sex,
        "inclusion": inclusion or [], "exclusion": [], "thresholds": list(thresholds)})


def admits(record, **patient) -> bool:
    return assess(record, parse_patient(**patient)).admits


# -- the researcher's question on the reference trial NCT06958939 -----------------------------

def test_reference_trial_rituximab_four_months_ago_is_rejected():
    result = assess(fixture("NCT06958939"),
                    parse_patient(age=70, where=["MG-ADL=7"], washout=["rituximab:4m"]))
    assert isinstance(result, FitResult) and not result.admits
    assert len(result.reasons) == 1
    assert "excluded: rituximab within 6 months" in result.reasons[0]
    assert "4 months" in result.reasons[0]
    # what the patient's facts cannot decide is listed, not held against the trial
    assert any("MGFA class IIa–IVa" in u for u in result.unknown)
    assert any("QMG" in u and "ocular share" in u for u in result.unknown)


def test_reference_trial_rituximab_seven_months_ago_is_admitted():
    result = assess(fixture("NCT06958939"),
                    parse_patient(age=70, where=["MG-ADL=7"], washout=["rituximab:7m"]))
    assert result.admits and result.reasons == []


def test_reference_trial_age_81_is_rejected_by_max_age_80():
    result = assess(fixture("NCT06958939"), parse_patient(age=81, where=["MG-ADL=7"]))
    assert not result.admits
    assert result.reasons == ["age 81 is above the trial's maximum age 80 years"]
    assert admits(fixture("NCT06958939"), age=80, where=["MG-ADL=7"])  # inclusive maximum


def test_reference_trial_mgadl_or_qmg_item():
    record = fixture("NCT06958939")
    low = assess(record, parse_patient(where=["MG-ADL=5", "QMG=10"]))
    assert not low.admits
    assert low.reasons == ["inclusion item 6 not met: (MG-ADL ≥ 6 or QMG ≥ 11) and ocular share"
                           " < 50% (patient: MG-ADL 5; QMG 10)"]
    assert admits(record, where=["MG-ADL=5", "QMG=11"])      # QMG is the alternative
    assert admits(record, where=["MG-ADL=6", "QMG=10"])
    only_adl = assess(record, parse_patient(where=["MG-ADL=5"]))  # QMG unknown: may be >= 11
    assert only_adl.admits and any(u.startswith("inclusion item 6:") for u in only_adl.unknown)


def test_reference_trial_refractory_item_children_are_alternatives():
    # item 5: "fulfilling one of the following 4 conditions"; 5.2 and 5.3 ask MG-ADL >= 6,
    # 5.1 and 5.4 have no thresholds, so MG-ADL 5 cannot reject on item 5.
    result = assess(fixture("NCT06958939"), parse_patient(where=["MG-ADL=5", "QMG=12"]))
    assert result.admits
    item5 = [u for u in result.unknown if u.startswith("inclusion item 5:")]
    assert len(item5) == 1 and "2 other conditions" in item5[0]
    result = assess(fixture("NCT06958939"), parse_patient(where=["MG-ADL=7"]))
    assert not any(u.startswith("inclusion item 5:") for u in result.unknown)


def test_reference_trial_other_exclusions():
    record = fixture("NCT06958939")
    ivig = assess(record, parse_patient(where=["MG-ADL=7"], washout=["ivig:3w"]))
    assert not ivig.admits and "IVIg, plasma exchange, immunotherapy within 4 weeks" in \
        ivig.reasons[0] and "3 weeks" in ivig.reasons[0]
    assert admits(record, where=["MG-ADL=7"], washout=["ivig:4w"])
    ritux = assess(record, parse_patient(where=["MG-ADL=7"], washout=["rituximab:2w"]))
    assert len(ritux.reasons) == 2  # rituximab by name, and as an immunotherapy within 4 weeks
    assert any("counted as immunotherapy" in r for r in ritux.reasons)
    cls = assess(record, parse_patient(where=["MG-ADL=7", "MGFA=IVb"]))
    assert not cls.admits and any("MGFA class IVb–V" in r for r in cls.reasons)
    assert admits(record, where=["MG-ADL=7", "MGFA=IIIa"])
    # "live vaccines within 8 weeks after treatment" is a promise, not a washout
    assert not any("after treatment" in u for u in assess(record, Patient()).unknown)


def test_fits_returns_exactly_the_admitting_fixture_trials():
    records = [parse_study_json(p.read_text(encoding="utf-8"))
               for p in sorted(STUDIES.glob("*.json"))]
    patient = parse_patient(age=70, where=["MG-ADL=7"], washout=["rituximab:4m"])
    rejected = {"NCT01997229", "NCT03920293", "NCT06958939"}  # each: rituximab within 6 months
    everything = fits(records, patient, include_rejected=True)
    assert len(everything) == 20
    assert {r.trial_id for r, res in everything if not res.admits} == rejected
    got = fits(records, patient)
    assert [r.trial_id for r, _ in got] == [r.trial_id for r in records
                                            if r.trial_id not in rejected]
    assert all(res.admits for _, res in got)
    open_ids = [r.trial_id for r, _ in fits(records, patient, open_only=True)]
    assert open_ids == ["NCT04146051", "NCT05332587", "NCT05451212", "NCT05716035",
                        "NCT05828225", "NCT06371040", "NCT06419166", "NCT06759948",
                        "NCT06799247", "NCT07243366"]
    assert all(r.status in OPEN_STATUSES for r, _ in fits(records, patient, open_only=True))


def test_other_fixture_items():
    # NCT03971422 item 5: "MG-ADL of at least 3 ... AND a QMG of at least 11": a conjunction
    r = assess(fixture("NCT03971422"), parse_patient(where=["MG-ADL=7", "QMG=8"]))
    assert r.reasons == ["inclusion item 5 not met: MG-ADL ≥ 3 and QMG ≥ 11 "
                         "(patient: MG-ADL 7; QMG 8)"]
    # item 3: AChR "or" MuSK antibodies
    assert admits(fixture("NCT03971422"), where=["MG-ADL=7", "QMG=12", "antibody=MuSK+"])
    assert not admits(fixture("NCT03971422"), where=["MG-ADL=7", "QMG=12", "antibody=LRP4+"])
    # NCT05828225: creatinine > 2.5 mg/dl excludes; QMG > 11 is exclusive
    assert not admits(fixture("NCT05828225"), where=["creatinine=2.6"])
    assert admits(fixture("NCT05828225"), where=["creatinine=2.5"])
    assert not admits(fixture("NCT05828225"), where=["QMG=11"])
    assert admits(fixture("NCT05828225"), where=["QMG=12"])


# -- edges on records built by hand -----------------------------------------------------------

@pytest.mark.parametrize("op, age, ok", [
    (">=", 18, True), (">=", 17.9, False), (">", 18, False), (">", 18.5, True),
    ("<=", 80, True), ("<=", 80.5, False), ("<", 80, False), ("<", 79, True),
])
def test_inclusive_and_exclusive_operators(op, age, ok):
    value = 18 if op in (">=", ">") else 80
    record = rec(th("age", op, value, kind="age", unit="years"))
    assert admits(record, age=age) is ok


def test_structured_age_limits_are_inclusive_and_open_bounded():
    both = rec(min_age=18, max_age=80)
    assert admits(both, age=18) and admits(both, age=80)
    assert not admits(both, age=17) and not admits(both, age=81)
    min_only = rec(min_age=18)
    assert admits(min_only, age=105) and not admits(min_only, age=17)
    max_only = rec(max_age=65)
    assert admits(max_only, age=1) and not admits(max_only, age=66)
    reasons = assess(rec(min_age=18), parse_patient(age=16)).reasons
    assert reasons == ["age 16 is below the trial's minimum age 18 years"]


def test_missing_limits_admit_and_unknown_facts_do_not_reject():
    assert admits(rec(), age=99, sex="male", where=["MG-ADL=0", "creatinine=9"],
                  washout=["rituximab:1w"])
    result = assess(rec(min_age=18, max_age=80, sex="FEMALE"), Patient())
    assert result.admits and len(result.unknown) == 2
    result = assess(rec(th("QMG", ">=", 11)), parse_patient(where=["MG-ADL=7"]))
    assert result.admits and result.unknown == ["inclusion item 1: QMG ≥ 11 (not given: QMG)"]


def test_sex():
    assert not admits(rec(sex="FEMALE"), sex="male")
    assert admits(rec(sex="FEMALE"), sex="f")
    assert admits(rec(sex="ALL"), sex="male") and admits(rec(sex=None), sex="female")
    assert assess(rec(sex="MALE"), parse_patient(sex="female")).reasons == [
        "the trial takes male participants only (patient: female)"]


def test_age_threshold_repeating_the_structured_limit_gives_one_reason():
    record = rec(th("age", ">=", 18, kind="age", unit="years"),
                 th("age", "<=", 80, kind="age", unit="years"), min_age=18, max_age=80)
    assert assess(record, parse_patient(age=81)).reasons == [
        "age 81 is above the trial's maximum age 80 years"]
    # a text limit stricter than the structured one still applies
    stricter = rec(th("age", "<=", 75, kind="age", unit="years"), min_age=18, max_age=80)
    assert not admits(stricter, age=78)


def test_alternatives_within_one_item_without_text():
    record = rec(th("MG-ADL", ">=", 6, item="2"), th("QMG", ">=", 11, item="2"))
    assert not admits(record, where=["MG-ADL=5", "QMG=10"])
    assert admits(record, where=["MG-ADL=5", "QMG=11"])
    assert admits(record, where=["MG-ADL=6"])
    assert assess(record, parse_patient(where=["MG-ADL=5"])).unknown  # QMG could hold
    # thresholds in different items must all hold
    separate = rec(th("MG-ADL", ">=", 6, item="2"), th("QMG", ">=", 11, item="3"))
    assert not admits(separate, where=["MG-ADL=7", "QMG=10"])


def test_connectors_in_the_item_text_decide():
    def item(text, *ts):
        return rec(*ts, inclusion=[{"text": text, "children": []}])
    conj = item("MG-ADL score ≥5 and QMG score >11 at baseline",
                th("MG-ADL", ">=", 5, text="MG-ADL score ≥5"),
                th("QMG", ">", 11, text="QMG score >11"))
    assert not admits(conj, where=["MG-ADL=7", "QMG=11"])
    assert admits(conj, where=["MG-ADL=7", "QMG=12"])
    either = item("MG-ADL total score ≥ 6 and/or QMG ≥ 11",
                  th("MG-ADL", ">=", 6, text="MG-ADL total score ≥ 6"),
                  th("QMG", ">=", 11, text="QMG ≥ 11"))
    assert admits(either, where=["MG-ADL=3", "QMG=12"])
    ranged = item("Age ≥18 years, ≤80 years;",
                  th("age", ">=", 18, kind="age", unit="years", text="Age ≥18 years"),
                  th("age", "<=", 80, kind="age", unit="years", text="Age ≥18 years, ≤80 years"))
    assert not admits(ranged, age=85) and not admits(ranged, age=17) and admits(ranged, age=50)


def test_nested_children():
    def tree(parent_text, children):
        return [{"text": parent_text, "children": [{"text": c, "children": []}
                                                   for c in children]}]
    one_of = rec(th("MG-ADL", ">=", 6, item="1.1", text="MG-ADL ≥ 6"),
                 th("QMG", ">=", 11, item="1.2", text="QMG ≥ 11"),
                 inclusion=tree("Meets one of the following:", ["MG-ADL ≥ 6", "QMG ≥ 11"]))
    assert not admits(one_of, where=["MG-ADL=5", "QMG=10"])
    assert admits(one_of, where=["MG-ADL=5", "QMG=12"])
    with_blank = rec(th("MG-ADL", ">=", 6, item="1.1", text="MG-ADL ≥ 6"),
                     inclusion=tree("Refractory MG, one of:", ["MG-ADL ≥ 6",
                                                               "Failed two immunosuppressants"]))
    assert admits(with_blank, where=["MG-ADL=2"])  # the other child could be the one
    all_of = rec(th("MG-ADL", ">=", 6, item="1.1", text="MG-ADL ≥ 6"),
                 th("QMG", ">=", 11, item="1.2", text="QMG ≥ 11"),
                 inclusion=tree("All of:", ["MG-ADL ≥ 6", "QMG ≥ 11"]))
    assert not admits(all_of, where=["MG-ADL=7", "QMG=10"])
    ends_with_or = rec(th("MG-ADL", ">=", 6, item="1.1", text="MG-ADL ≥ 6"),
                       th("QMG", ">=", 11, item="1.2", text="QMG ≥ 11"),
                       inclusion=tree("Disease activity:", ["MG-ADL ≥ 6, or", "QMG ≥ 11"]))
    assert admits(ends_with_or, where=["MG-ADL=7", "QMG=10"])


def test_mgfa_class_sets():
    record = rec(th("MGFA", "in", ["IIa", "IIb", "IIIa", "IIIb", "IVa"], kind="class"))
    assert admits(record, where=["MGFA=IIIa"]) and admits(record, where=["mgfa=3b"])
    assert not admits(record, where=["MGFA=IVb"]) and not admits(record, where=["MGFA=I"])
    assert admits(record, where=["MGFA=III"])               # IIIa and IIIb both inside
    unsure = assess(record, parse_patient(where=["MGFA=IV"]))  # IVa inside, IVb not
    assert unsure.admits and "subclass" in unsure.unknown[0]
    excluded = rec(th("MGFA", "in", ["IVb", "V"], kind="class", section="exclusion"))
    assert not admits(excluded, where=["MGFA=V"]) and admits(excluded, where=["MGFA=IVa"])


def test_antibodies():
    achr = rec(th("antibody", "=", "AChR+", kind="antibody"))
    assert admits(achr, where=["antibody=AChR+"]) and admits(achr, where=["antibody=achr positive"])
    assert not admits(achr, where=["antibody=MuSK+"])
    assert not admits(achr, where=["antibody=seronegative"])
    assert not admits(achr, where=["antibody=AChR-"])
    assert assess(achr, Patient()).unknown == [
        "inclusion item 1: antibody AChR+ (not given: antibody status)"]
    sero = rec(th("antibody", "=", "seropositive", kind="antibody"))
    assert admits(sero, where=["antibody=LRP4+"]) and not admits(sero, where=["ab=SNMG"])
    excluded = rec(th("antibody", "=", "MuSK+", kind="antibody", section="exclusion"))
    assert not admits(excluded, where=["antibody=MuSK-Ab+"])
    assert admits(excluded, where=["antibody=AChR+"])


def test_labs_units_and_exclusions():
    record = rec(th("creatinine", ">", 2.5, kind="lab", unit="mg/dL", section="exclusion"))
    assert admits(record, where=["creatinine=2.5"])                  # "> 2.5" admits 2.5
    result = assess(record, parse_patient(where=["creatinine=2.6"]))
    assert result.reasons == ["excluded: creatinine > 2.5 mg/dL (patient: creatinine 2.6 mg/dL;"
                              " exclusion item 1)"]
    assert not admits(record, where=["creatinine=250umol/L"])        # 2.83 mg/dL
    umol = rec(th("creatinine", ">", 221, kind="lab", unit="µmol/L", section="exclusion"))
    assert not admits(umol, where=["creatinine=3"]) and admits(umol, where=["creatinine=2"])
    uln = rec(th("creatinine", ">", 1.5, kind="lab", unit="xULN", section="exclusion"))
    assert assess(uln, parse_patient(where=["creatinine=3"])).admits   # mg/dL vs × ULN: unknown
    assert assess(uln, parse_patient(where=["creatinine=3"])).unknown
    assert not admits(uln, where=["creatinine=2xULN"])
    plt = rec(th("platelets", ">=", 100, kind="lab", unit="×10^9/L"))
    assert admits(plt, where=["platelets=150000/uL"]) and not admits(plt, where=["plt=90"])
    hb = rec(th("haemoglobin", ">=", 9, kind="lab", unit="g/dL"))
    assert admits(hb, where=["hemoglobin=95g/L"]) and not admits(hb, where=["hb=85 g/L"])


def test_inferred_sign_is_applied_and_named():
    record = rec(th("age", ">=", 18, kind="age", unit="years", op_inferred=True))
    result = assess(record, parse_patient(age=17))
    assert not result.admits and "(sign inferred)" in result.reasons[0]
    assert admits(record, age=18)


@pytest.mark.parametrize("value, unit, washout, ok", [
    (6, "months", "rituximab:4m", False), (6, "months", "rituximab:6m", True),
    (6, "months", "rituximab:7m", True), (6, "months", "rituximab:26w", False),
    (6, "months", "rituximab:183d", True), (6, "months", "rituximab:0.5y", True),
    (4, "weeks", "rituximab:3w", False), (4, "weeks", "rituximab:4w", True),
    (4, "weeks", "rituximab:28d", True), (4, "weeks", "rituximab:27d", False),
    (12, "months", "rituximab:1y", True), (1, "years", "rituximab:11m", False),
    (30, "days", "rituximab:1m", True), (30, "days", "rituximab:4w", False),
])
def test_window_boundaries_and_unit_conversion(value, unit, washout, ok):
    assert admits(rec(window(["rituximab"], value, unit)), washout=[washout]) is ok


def test_windows_match_drug_classes_and_list_what_is_unknown():
    record = rec(window(["IVIg", "plasma exchange", "immunotherapy"], 4, "weeks", item="7"))
    result = assess(record, parse_patient(washout=["eculizumab:2w"]))
    assert result.reasons == ["excluded: IVIg, plasma exchange, immunotherapy within 4 weeks "
                              "(patient: eculizumab 2 weeks ago, counted as immunotherapy; "
                              "exclusion item 7)"]
    result = assess(record, parse_patient(washout=["PLEX:2m"]))
    assert result.admits and result.unknown == [
        "exclusion item 7: IVIg, plasma exchange, immunotherapy within 4 weeks "
        "(not given: time since IVIg, immunotherapy)"]
    steroids = rec(window(["systemic steroids"], 4, "weeks"))
    assert not admits(steroids, washout=["prednisone:10d"])
    assert admits(steroids, washout=["prednisone:5w"])
    assert admits(steroids, washout=["azathioprine:1w"])  # not a steroid: no match, unknown
    after = rec(window(["live vaccines"], 8, "weeks", direction="after"))
    result = assess(after, parse_patient(washout=["live vaccine:1w"]))
    assert result.admits and result.unknown == []


def test_inclusion_window_needs_recent_exposure():
    record = rec(window(["meningococcal vaccine"], 3, "years", section="inclusion"))
    assert admits(record, washout=["meningococcal vaccine:2y"])
    assert not admits(record, washout=["meningococcal vaccine:4y"])
    assert assess(record, Patient()).admits


# -- parse_patient ----------------------------------------------------------------------------

def test_parse_patient_reads_synonyms_and_units():
    p = parse_patient(age="70", sex="F", where=["mgadl=7", "mg adl=8", "QMG=12", "MGFA=3a",
                                                "antibody=AChR+,LRP4+", "creatinine=97umol/L",
                                                "ALT=1.5", "platelets=150000/uL"],
                      washout=["rituximab:4m", "IVIG:3w", "thymectomy:2y", "eculizumab:90d",
                               "PLEX=6 weeks"])
    assert p.age == 70 and p.sex == "female" and p.mgfa_class == "IIIa"
    assert p.scores == {"MG-ADL": 8, "QMG": 12} and p.antibodies == ["AChR+", "LRP4+"]
    assert p.labs["creatinine"] == pytest.approx(97 / 88.42)
    assert p.labs["ALT"] == 1.5 and p.labs["platelets"] == 150
    assert p.washouts["rituximab"] == 4 and p.washouts["thymectomy"] == 24
    assert p.washouts["IVIg"] == pytest.approx(21 / 30.4375)
    assert p.washouts["eculizumab"] == pytest.approx(90 / 30.4375)
    assert p.washouts["plasma exchange"] == pytest.approx(42 / 30.4375)
    assert "rituximab 4 months ago" in p.describe()


@pytest.mark.parametrize("kwargs, names", [
    ({"where": ["MG-ADL=seven"]}, ["--where", "'MG-ADL=seven'", "--where 'MG-ADL=7'"]),
    ({"where": ["MG-ADL 7"]}, ["--where", "'MG-ADL 7'", "--where 'MG-ADL=7'"]),
    ({"where": ["MG-ADL=30"]}, ["--where", "0 to 24"]),
    ({"where": ["QMGX=3"]}, ["--where", "unknown measure", "did you mean QMG", "--where 'QMG=1'"]),
    ({"where": ["ecgo=1"]}, ["--where", "unknown measure 'ecgo'", "did you mean ECOG"]),
    ({"where": ["NYHA=V"]}, ["--where", "one of I, II, III, IV", "--where 'NYHA=II'"]),
    # a comparison is not a patient's value (once silently read as "ECOG=1")
    ({"where": ["ECOG<=1"]}, ["--where", "'ECOG<=1'", "not a comparison", "--where 'ECOG=1'"]),
    ({"where": ["systolic>150"]}, ["--where", "not a comparison ('>')",
                                   "--where 'systolic=150'"]),
    ({"where": ["MG-ADL≥6"]}, ["--where", "not a comparison ('≥')", "--where 'MG-ADL=6'"]),
    ({"washout": ["myocardial infraction:2m"]},
     ["--washout", "did you mean myocardial infarction"]),
    ({"where": ["MGFA=VI"]}, ["--where", "'MGFA=VI'", "--where 'MGFA=IIIa'"]),
    ({"where": ["antibody=GAD"]}, ["--where", "--where 'antibody=AChR+'"]),
    ({"where": ["ALT=45U/L"]}, ["--where", "× ULN", "--where 'ALT=1'"]),
    ({"washout": ["rituximab:4"]}, ["--washout", "'rituximab:4'", "--washout 'rituximab:4m'"]),
    ({"washout": ["rituximab"]}, ["--washout", "--washout 'rituximab:4m'"]),
    ({"washout": ["rituximab:4x"]}, ["--washout", "'rituximab:4x'"]),
    ({"age": "seventy"}, ["--patient-age", "'seventy'", "--patient-age '70'"]),
    ({"age": -1}, ["--patient-age"]),
    ({"age": 150}, ["--patient-age", "between 0 and 120"]),
    ({"sex": "x"}, ["--patient-sex", "'x'", "--patient-sex 'female'"]),
])
def test_parse_patient_errors_name_option_value_and_example(kwargs, names):
    with pytest.raises(ValueError) as err:
        parse_patient(**kwargs)
    for name in names:
        assert name in str(err.value)


def test_describe_thresholds():
    assert describe(th("MG-ADL", ">=", 6)) == "MG-ADL ≥ 6"
    assert describe(th("ALT", ">", 3, kind="lab", unit="xULN")) == "ALT > 3 × ULN"
    assert describe(th("MGFA", "in", ["IIa", "IIb", "IIIa"], kind="class")) == \
        "MGFA class IIa–IIIa"
    assert describe(th("MGFA", "in", ["I", "V"], kind="class")) == "MGFA class I, V"
    assert describe(window(["rituximab"], 6, "months")) == "rituximab within 6 months"
