"""Round 5 of issue 17: real-text tests for the mechanisms added on dev (dev1 + dev2 + dev3).

Texts are dev items (``fixtures/labelled/thresholds-dev*.jsonl``); none comes from the test split.
"""

from __future__ import annotations

from trialscope.extract.thresholds import extract_from_text


def got(text: str, section: str = "exclusion") -> set[tuple[object, ...]]:
    return {(t["measure"], t["op"], t["value"], t["unit"])
            for t in extract_from_text(text, section)}


def test_a_change_of_a_measured_quantity_is_a_limit_on_the_change() -> None:
    # RULES v2 rule 25: the change, not the quantity, and not a window on the change
    assert got("Have a self-reported change in body weight >5 kg (11 pounds) within 90 days prior"
               " to screening.") == {("weight change", ">", 5.0, "kg")}
    assert got("Weight loss or gain ≥4.5 kg within 90 days of visit 1.") == {
        ("weight loss", ">=", 4.5, "kg"), ("weight gain", ">=", 4.5, "kg")}
    assert got("Weight of change >5% in the past 3-months") == {("weight change", ">", 5.0, "%")}
    assert got("Weight must be stable within 5% for 3 months prior to initiation visit",
               "inclusion") == {("weight change", "<=", 5.0, "%")}
    assert got("Recent rapid and unintended weight loss (5% or more, or 5 kg or more, within the"
               " last 6 months).") == {("weight loss", ">=", 5.0, "%"),
                                       ("weight loss", ">=", 5.0, "kg")}
    assert ("weight change", ">", 5.0, "%") in got(
        "Significant weight change (increase or decrease of greater than 5% of body weight during"
        " the two months before enrollment).")
    # no sign written (RULES v2 §8.6): the non-strict sign; the period is no window
    text = ("Ongoing eating disorder, or a significant weight loss or weight gain within 12 weeks"
            " before the Screening visit, defined as an increase or decrease of 5% in body weight"
            " based upon clinic-based measurement or, if not available, based on subject's report.")
    found = extract_from_text(text)
    assert ("weight change", ">=", 5.0, "%") in got(text)
    assert not [t for t in found if t["kind"] == "window" and "weight" in t["measure"]]
    # a lab's change, and the lab limit beside it stays the lab's
    assert got("Patients must have stable renal function (less than 20% deviation in serum "
               "creatinine in last one month: eGFR >30 ml/min/1.73 m2)", "inclusion") == {
        ("creatinine change", "<", 20.0, "%"), ("eGFR", ">", 30.0, "mL/min/1.73m2")}


def test_a_change_word_on_something_no_table_measures_is_not_a_change() -> None:
    # a drug for weight loss is a window's thing; a loss of something unmeasured is no change
    assert got("Use of weight loss medications within 90 days of visit 1.") == {
        ("weight loss medications", "within", 90.0, "days")}
    assert not [t for t in extract_from_text("Change in hearing > 25 dB in either ear")
                if t["measure"].endswith(" change")]


def test_a_time_since_an_event_written_before_its_span_or_as_its_age() -> None:
    # RULES v2 §8.9 in an inclusion: the event, then how long before the anchor it was
    assert got("Patients who had a liver transplant 6 to 24 months prior to Screening.",
               "inclusion") == {("time since liver transplant", ">=", 6.0, "months"),
                                ("time since liver transplant", "<=", 24.0, "months")}
    # a lost sign in an inclusion is a floor
    assert got("Received an orthotopic liver transplant =12 months before the date of informed "
               "consent", "inclusion") == {("time since liver transplant", ">=", 12.0, "months")}
    # the span as the event's age, or after it; no age of 3 months, no disease duration
    assert got("A man or woman, 30 years of age or above with liver transplantation of at least"
               " 3 months duration who meets all the following two criteria:", "inclusion") == {
        ("age", ">=", 30.0, "years"), ("time since liver transplantation", ">=", 3.0, "months")}
    assert ("time since renal transplantation", ">=", 3.0, "months") in got(
        "A man or woman, 30 years of age or above with the diagnosis of diabetes mellitus "
        "(pre-transplantation type 2 diabetes or post-transplantation diabetes mellitus) and "
        "after at least 3 months of renal transplantation.", "inclusion")
    # in an exclusion the same words are a window, not a time since
    assert not [t for t in extract_from_text(
        "Patients who had a liver transplant 6 to 24 months prior to Screening.", "exclusion")
        if t["measure"].startswith("time since")]


def windows(text: str, section: str = "exclusion") -> set[tuple[object, ...]]:
    return {(t["measure"], t["value"], t["unit"]) for t in extract_from_text(text, section)
            if t["op"] == "within"}


def test_a_body_site_qualifies_a_steroid_as_written() -> None:
    # RULES v2 §5 names steroids by route; a local site is kept, the words as written
    assert windows(
        "Previous use topical steroids within 4 weeks (28 days) from the screening visit, or "
        "intraocular or periocular steroids within 16 weeks (112 days) from the screening visit"
    ) == {("topical steroids", 4.0, "weeks"),
          ("intraocular steroids, periocular steroids", 16.0, "weeks")}
    assert windows("Subject must not have had a recent (within 1 week of the elevated index lab) "
                   "intra-articular steroid injection.") == {
        ("intra-articular steroid injection", 1.0, "weeks")}
    # no site: the canonical names stay; radiotherapy keeps its one name whatever the field
    assert windows("Spinal cord compression or brain metastases unless asymptomatic, stable, and"
                   " not requiring steroids for at least 4 weeks prior to start of study "
                   "intervention.") == {("steroids", 4.0, "weeks")}
    assert windows("Splenic irradiation within the last 6 months") == {
        ("radiotherapy", 6.0, "months")}


def test_no_count_of_the_trials_schedule_of_units_or_of_categories() -> None:
    # RULES v2 rule 28: the trial's own procedures; a number with a unit; what the things must be
    assert not got("Must be willing to consent to two or more bone marrow aspirate procedures to"
                   " be completed during study", "inclusion")
    assert not [t for t in extract_from_text(
        "Uncontrolled glaucoma (defined as IOP >25 mmHg despite treatment with anti-glaucoma "
        "medication)") if t["kind"] == "count"]
    assert not [t for t in extract_from_text(
        "BMI greater than or equal to 35.0 kg/m^2 with greater than or equal to 1 obesity-related"
        " complication. At least one complication should be hypertension, dyslipidaemia or T2D",
        "inclusion") if t["measure"] == "complications"]
    assert not [t for t in extract_from_text(
        "Current receipt of treatment for active TB or receipt of >14 days cumulative treatment "
        "for active TB within 96 weeks prior to study entry.") if t["kind"] == "count"]


def test_life_expectancy_in_its_verbs() -> None:
    # RULES v2 §3.5: the same estimate written with a verb
    assert got("Anticipated to live for more than 3 months.", "inclusion") == {
        ("life expectancy", ">", 3.0, "months")}
    assert got("Comorbidity anticipated to limit survival to less than 18 months") == {
        ("life expectancy", "<", 18.0, "months")}


def test_disease_durations_written_as_a_history_or_of_a_duration() -> None:
    assert got("The following will be physician-reviewed: Participant has at least a 1-year "
               "history of migraine (with or without aura) consistent with a diagnosis",
               "inclusion") == {("disease duration", ">=", 1.0, "years")}
    assert ("disease duration", "<", 6.0, "years") in got(
        "Be aged between 18-75 years, with type 2 Diabetes Mellitus of duration <6years.",
        "inclusion")
    # the study's duration, and a treatment's, are no disease duration
    assert not got("Available and committed to engage with the program and complete assessments"
                   " for an 8-week duration", "inclusion")
    assert not [t for t in extract_from_text(
        "Prior treatment with any JAK2 inhibitor other than ruxolitinib, irrespective of dose, "
        "with a duration of >90 days.") if t["measure"] == "disease duration"]


def test_a_target_acronym_qualifies_a_class_name() -> None:
    # RULES v2 §5, names as written ("anti-CD20 therapy"): the target before the class
    assert windows("Use of CGRP monoclonal antibodies 3 months prior to enrollment or during "
                   "duration of study.") == {("CGRP monoclonal antibodies", 3.0, "months")}
    assert windows("Treatment with an HIV-1 immunotherapeutic vaccine within 90 days of "
                   "Screening.") == {("HIV-1 immunotherapeutic vaccine", 90.0, "days")}
    # a route is no target
    assert windows("Received IV monoclonal antibodies within 30 days") == {
        ("monoclonal antibodies", 30.0, "days")}


def test_exceeding_is_a_sign_for_any_measure() -> None:
    # RULES v2 §2: "exceeding" is ">" whatever the measure, a background drug's dose too
    assert ("dose: prednisone", ">", 10.0, "mg/day") in got(
        "Has a diagnosis of immunodeficiency or is receiving chronic systemic steroid therapy (in "
        "dosing exceeding 10 mg daily of prednisone equivalent) or any other form of "
        "immunosuppressive therapy within 7 days prior the first dose of study intervention.")


def test_a_time_since_reads_every_sign_the_other_readers_read() -> None:
    # (review: the span's own op reader knew "<>≤≥=" and some words only: "≧", "⩾", "not less
    # than" and "greater than or equal to" came out as "<" or ">")
    for sign in ("≧", "⩾", "≥", ">=", "not less than", "greater than or equal to", "at least",
                 "minimum of"):
        assert got(f"Had a liver transplant {sign} 12 months prior to screening.",
                   "inclusion") == {("time since liver transplant", ">=", 12.0, "months")}, sign
    for sign, op in (("within", "<="), ("no more than", "<="), ("up to", "<="),
                     ("more than", ">"), ("over", ">"), ("less than", "<"), ("under", "<")):
        assert got(f"Had a kidney transplant {sign} 6 months before enrolment.",
                   "inclusion") == {("time since kidney transplant", op, 6.0, "months")}, sign


def test_a_routed_class_span_starts_at_its_route_when_the_words_before_were_trimmed() -> None:
    # "systemic" + "anti-TNF" + class: the anti- prefix trims what is read before the class, and
    # the span then started after the route word (the name said "systemic", the span did not)
    from trialscope.extract import thresholds as T

    text = "No systemic anti-TNF monoclonal antibodies within 3 months"
    assert [(text[a:b], name) for a, b, name in T._drugs(text, 0, len(text))] == [
        ("systemic anti-TNF monoclonal antibodies", "systemic anti-tnf monoclonal antibodies")]
