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


def windows(text: str, section: str = "exclusion") -> set[tuple[object, ...]]:
    return {(t["measure"], t["value"], t["unit"]) for t in extract_from_text(text, section)
            if t["op"] == "within"}


def test_window_names_drop_examples_of_the_thing_named_before_them() -> None:
    # RULES v2 rule 27
    assert windows("Known or suspected immunodeficiency or receipt of immunosuppressive therapy,"
                   " such as anti-cancer chemotherapy or radiation therapy, within the preceding 6"
                   " months") == {("immunosuppressive therapy", 6.0, "months")}
    assert windows("Any intraocular surgery, including cataract surgery, within 12 weeks (84 days)"
                   " before the screening visit.") == {("intraocular surgery", 12.0, "weeks")}
    # a generic head in a relative clause: the members are the names, the risk is no thing
    assert windows("Systemic treatment with medications that increase the risk of bleeding, "
                   "including anticoagulants, antiplatelet agents (except for aspirin dosages of "
                   "≤100 mg per day), or NSAIDs within 14 days prior to treatment Day 1") == {
        ("anticoagulants, antiplatelet agents, NSAIDs", 14.0, "days")}


def test_enzyme_inhibitors_and_inducers_are_named_one_by_one() -> None:
    assert windows("Treatment with strong CYP3A4 inhibitors or inducers within 14 days or 5 "
                   "drug-elimination half-lives, whichever is longer, prior to initiation") == {
        ("CYP3A4 inhibitors, CYP3A4 inducers", 14.0, "days")}
    assert windows("Within 7 days before the first dose of study drug, received a strong and/or "
                   "moderate CYP3A inducer and/or Inhibitor.") == {
        ("CYP3A inducer, CYP3A inhibitor", 7.0, "days")}
    got_ = extract_from_text(
        "Systemic treatment with a strong CYP 3A4 inhibitor or a strong CYP 3A4 inducer within 14"
        " days prior to treatment Day 1. Shorter washout periods may be permitted with approval of"
        " the Medical Monitor, provided that the washout period is at least five half-lives of the"
        " drug prior to treatment Day 1")
    assert [(t["measure"], t["value"]) for t in got_] == [
        ("CYP3A4 inhibitor, CYP3A4 inducer", 14.0)]  # (a washout in half-lives is no measure)


def test_generic_heads_and_routes() -> None:
    assert windows("Oral steroid use within the past 6 weeks.") == {
        ("systemic steroids", 6.0, "weeks")}
    # a generic head alone names nothing
    assert not windows("Systemic treatment with medications that can prolong the QT interval "
                       "within 14 days prior to treatment Day 1.")
    assert windows("History of deep venous thrombosis (DVT) or pulmonary embolus (PE) within past"
                   " 3 years") == {("venous thromboembolism, pulmonary embolism", 3.0, "years")}


def test_stable_doses_controlled_on_for_the_last_period_and_no_regimen_word() -> None:
    assert got("Controlled on levetiracetam monotherapy for 6 months", "inclusion") == {
        ("stable dose: levetiracetam", ">=", 6.0, "months")}
    # a stable dose, not a window on the treatment
    assert got("Patients must be on a stable immunotherapy for last one month.", "inclusion") == {
        ("stable dose: immunotherapy", ">=", 1.0, "months")}
    assert ("stable dose: CAB LA + RPV LA", ">=", 12.0, "months") in got(
        "Eligible participants must have been on CAB LA + RPV LA regimen for a minimum of 12 "
        "months while on the FLAIR study.", "inclusion")


def test_an_item_on_contraception_carries_no_duration_or_unknown_measure() -> None:
    # RULES v2 §6 (a dev3 item)
    text = ("Use of oral, injected or implanted hormonal methods of contraception or other forms "
            "of hormonal contraception that have comparable efficacy (failure rate <1%), for "
            "example hormone vaginal ring or transdermal hormone contraception. In case of use of"
            " oral contraception, women should have been stable on the same pill for a minimum "
            "of three months.")
    assert got(text) == set()


def test_alcohol_consumption_per_period_and_no_unit_as_a_name() -> None:
    # RULES v2 rule 26; the restatement per week in parentheses is the same limit (rule 12)
    text = ("Consumption of alcohol for at least 90 consecutive days in last one year: >2 units of"
            " alcohol per day (>14 units per week) for males and >1 unit of alcohol per day (>7 "
            "units per week) for females")
    assert got(text) == {("alcohol consumption", ">", 2.0, "units/day"),
                         ("alcohol consumption", ">", 1.0, "units/day")}


def test_an_infection_keeps_the_pathogen_acronym_that_names_it() -> None:
    assert windows("Serious COVID-19 infection within 14 days prior to enrollment; however, no "
                   "screening testing for SARS-CoV-2 is required") == {
        ("COVID-19 infection", 14.0, "days")}
