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
