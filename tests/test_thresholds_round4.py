"""Round 4 of issue 17: real-text tests for the mechanisms added on dev (dev1 + dev2 + dev3).

Texts are dev items (``fixtures/labelled/thresholds-dev*.jsonl``); none comes from the test split.
"""

from __future__ import annotations

from trialscope.extract.thresholds import extract_from_text


def got(text: str, section: str = "exclusion") -> set[tuple[object, ...]]:
    return {(t["measure"], t["op"], t["value"], t["unit"])
            for t in extract_from_text(text, section)}


def test_a_serostatus_of_another_virus_is_no_mg_antibody_status() -> None:
    text = ("Examples include malignancy (other than skin cancer), congenital heart disease, liver"
            " or renal failure, or seropositive for HIV.")
    assert not [t for t in extract_from_text(text) if t["kind"] == "antibody"]
    assert ("antibody", "=", "seronegative", None) in got(
        "Seronegative generalized myasthenia gravis", "inclusion")


def test_a_space_as_thousands_separator_before_a_count_unit() -> None:
    text = ("Patient with platelet count ≤ 50 000/mm3, white blood cell (WBC) count ≤ 3 000/mm3, "
            "ab-solute neutrophil count ≤ 1 000/mm3 and hemoglobin ≤ 8 g/dL.")
    assert {("platelets", "<=", 50.0, "×10^9/L"), ("WBC", "<=", 3.0, "×10^9/L"),
            ("neutrophils", "<=", 1.0, "×10^9/L")} <= got(text)


def test_units_of_organ_measures_and_specimen_words() -> None:
    assert ("CST", ">=", 300.0, "µm") in got(
        "Mean CST ≥300 μm on optical coherence tomography (OCT) if excluding Bruch's membrane",
        "inclusion")
    assert ("carotid IMT", ">", 1300.0, "µm") in got(
        "local carotid IMT > 1300μm or supplemental vitamin and/or mineral use")
    assert ("erythropoietin", ">", 500.0, "mU/mL") in got(
        "Resistant to erythropoiesis stimulating agents (ESAs) or blood erythropoietin level > 500"
        " mU/mL")


def test_a_lower_bound_written_before_the_measure() -> None:
    text = ("Estimated kidney function (MDRD 4) between CKD IIIb/ 30 mL/min < eGFR < CKD II/60 "
            "mL/min with deteriorating renal function (at the investigator's discretion).")
    assert ("eGFR", ">", 30.0, "mL/min") in got(text, "inclusion")
    assert {("BMI", ">=", 18.0, "kg/m2"), ("BMI", "<=", 30.0, "kg/m2")} <= got(
        "18 kg/m2 ≤ BMI ≤ 30 kg/m2", "inclusion")


def test_young_ages_keep_their_unit_and_signs_before_the_word_age() -> None:
    assert got("> 48 hours of age and < 120 hours old at time of first drug administration",
               "inclusion") == {("age", ">", 48.0, "hours"), ("age", "<", 120.0, "hours")}
    assert got("Less than 72 hours old", "inclusion") == {("age", "<", 72.0, "hours")}
    assert got("Infants up to 2 weeks postnatal age.", "inclusion") == {
        ("age", "<=", 2.0, "weeks")}
    assert got("Patient is over the age of 21", "inclusion") == {("age", ">", 21.0, "years")}
    assert got("Under age 18") == {("age", "<", 18.0, "years")}
    # the age of a thing is no age; an age range from birth has no lower bound
    assert not got("Patients with an injury over 4 weeks old,")
    assert ("age", ">=", 0.0, "years") not in got(
        "Born at 29 weeks gestational age and aged 0 to 12 months calendar age", "inclusion")
