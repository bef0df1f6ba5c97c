"""Eligibility limits under RULES-thresholds-v2, round 3 of issue 17: general grammar and
vocabulary, checked on real criteria items.

Every text is a criteria item of a ``../shared/data/ctgov-more/v2`` trial that is in no labelled
split (the trial id is in the comment), or of a dev-split trial; none is from the blind test
split.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import threshold_rows

got = threshold_rows


# --- windows: wordings ---------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected", "section"), [
    # NCT05605119: a sign before a span an anchor dates
    ("Major surgery ≤ 28 days from Cycle 1 Day 1 (major surgery is defined as a procedure "
     "requiring general anesthesia)",
     [("major surgery", "within", 28.0, "days", "before")], "exclusion"),
    # NCT05984277: "a minimum of N must have elapsed between the end of X and ..."
    ("Symptomatic brain metastases. Brain metastases may be treated or untreated, but "
     "participants must be asymptomatic and off steroids for at least 14 days prior to start of "
     "study intervention. A minimum of 2 weeks must have elapsed between the end of whole brain "
     "radiotherapy and study enrollment.",
     [("steroids", "within", 14.0, "days", "before"),
      ("radiotherapy", "within", 2.0, "weeks", "before")], "exclusion"),
    # RULES v2 §5: "within 5 half-lives or 30 days" is the fixed duration
    ("Participation in another clinical trial with an investigational agent within 5 half-lives "
     "or 30 days, whichever is longer",
     [("investigational drug", "within", 30.0, "days", "before")], "exclusion"),
    # NCT03908762: "non-topical" steroids are systemic ones
    ("Recent (within the last 6 months)/current use of non-topical steroids",
     [("systemic steroids", "within", 6.0, "months", "before")], "exclusion"),
    # NCT04961996: what "unrelated to" names qualifies the surgery, it is no thing of its own
    ("A major surgical procedure unrelated to breast cancer within 28 days prior to randomization",
     [("major surgery", "within", 28.0, "days", "before")], "inclusion"),
    # NCT03753711, NCT05850520: a kind of surgery keeps its word
    ("Spinal surgery within the last year", [("spinal surgery", "within", 1.0, "years", "before")],
     "exclusion"),
    ("Any intraocular surgery, including cataract surgery, within 12 weeks (84 days) before the "
     "screening visit.",
     # (round 4: "including cataract surgery" is an example, RULES v2 rule 27)
     [("intraocular surgery", "within", 12.0, "weeks", "before")],
     "exclusion"),
])
def test_window_wordings(text: str, expected: list[Any], section: str) -> None:
    assert sorted(got(text, section)) == sorted(expected)


def test_window_of_drug_classes_in_a_list() -> None:
    # NCT06060392: general drug-class vocabulary, acronyms kept as written
    text = ("Use of a PPAR-γ agonist [e.g., a thiazolidinedione (pioglitazone], an SGLT2 inhibitor "
            "(e.g., canagliflozin, empagliflozin, dapagliflozin) or GLP-1 receptor agonists (e.g., "
            "liraglutide, dulaglutide) within 12 weeks before the enrollment.")
    rows = got(text, "exclusion")
    assert len(rows) == 1 and rows[0][1:] == ("within", 12.0, "weeks", "before")
    assert set(rows[0][0].split(", ")) == {
        "PPAR-γ agonist", "SGLT2 inhibitor", "GLP-1 receptor agonists"}


def test_a_person_before_a_time_is_no_age() -> None:
    # NCT06427811: "the female participant at least 6 months prior to screening"
    assert got("Male sterilization (vasectomy) of the male partner(s) of the female participant "
               "at least 6 months prior to screening. The vasectomized male partner should be the "
               "sole partner for that participant.", "exclusion") == []


# --- time since an event (RULES v2 §8.9) ---------------------------------------------------

@pytest.mark.parametrize(("text", "expected", "section"), [
    ("Any relapse after HSCT and must be ≥ 6 months from HSCT at the time of IM19 CAR-T cells "
     "infusion.",  # NCT05309213
     [("time since HSCT", ">=", 6.0, "months")], "inclusion"),
    ("Relapsed or refractory disease after allogeneic transplant provided individual is at least "
     "100 days from transplant at time of enrollment",  # NCT05993949
     [("time since transplant", ">=", 100.0, "days")], "inclusion"),
    ("Hematopoietic stem cell transplantation (HSCT) if relapse that occurs > 90 days after HSCT",
     [("time since HSCT", ">", 90.0, "days")], "inclusion"),  # NCT04714372 (dev)
    ("> 1 year after onset of SCI", [("time since SCI onset", ">", 1.0, "years")],
     "inclusion"),  # CTIS2023-508143-51-01 (dev)
    # "at least N months since X" stays a window (RULES v2 §5)
    ("At least 6 months since prior hematopoietic stem cell transplantation.",  # NCT00716976
     [("hematopoietic stem cell transplantation", "within", 6.0, "months", "before")],
     "exclusion"),
    # what a time is counted from must be an event: "4 years after transplant" in an exclusion
    # dates a diagnosis (NCT01165944); a study milestone is no event
    ("Development of diabetes more than 4 years after transplant", [], "exclusion"),
])
def test_time_since(text: str, expected: list[Any], section: str) -> None:
    assert got(text, section) == expected


# --- scales and unknown measures -----------------------------------------------------------

@pytest.mark.parametrize(("text", "expected", "section"), [
    ("Roland-Morris Disability Questionnaire score of at least 9 on the 24-point questionnaire "
     "at screening;",  # NCT04757038
     [("Roland-Morris Disability Questionnaire", ">=", 9.0, None)], "inclusion"),
    ("A score of 6 or more on the 'Ervaringenlijst' (PQ-16) to exclude subclinical "
     "susceptibility to psychosis",  # NCT05477459: the scale named after the number
     [("PQ-16", ">=", 6.0, None)], "exclusion"),
    ("Pittsburgh Sleep Quality Index (PSQI) score 10 or higher.",  # NCT03795987
     [("PSQI", ">=", 10.0, None)], "inclusion"),
    ("Alcohol Use Disorders Inventory Test (AUDIT) (score of 8 or higher)",  # NCT03795987
     [("AUDIT", ">=", 8.0, None)], "exclusion"),
    ("Montreal Cognitive Assessement test (MOCA) ≥ 22;",  # NCT05835856
     [("MOCA", ">=", 22.0, None)], "inclusion"),
    # NCT05651269: "then" is no measure
    ("Aspartate aminotransferase (AST), alanine aminotransferase (ALT) ≤ 3 × ULN; if liver "
     "metastases are present, then ≤ 5 × ULN is allowed",
     [("AST", "<=", 3.0, "xULN"), ("ALT", "<=", 3.0, "xULN")], "inclusion"),
])
def test_named_scores(text: str, expected: list[Any], section: str) -> None:
    assert got(text, section) == expected


# --- counts: per period, lines of therapy --------------------------------------------------

@pytest.mark.parametrize(("text", "expected", "section"), [
    ("The patient has current or recent history of illicit drug, nicotine (more than 20 "
     "cigarettes per day) or alcohol abuse or dependence",  # NCT01640457
     [("cigarettes per day", ">", 20.0, None)], "exclusion"),
    ("Subjects that have a history of greater than 6 CH attacks per day within the last year.",
     [("CH attacks per day", ">", 6.0, None)], "exclusion"),  # NCT02619617
    ("Heavy alcohol use (greater than 14 drinks per week for men or 7 drinks per week for women "
     "per NIAAA)",  # NCT06053242
     # (round 4: RULES v2 rule 26 names alcohol limits "alcohol consumption")
     [("alcohol consumption", ">", 14.0, "drinks/week")], "exclusion"),
    # §4: exacerbations keep no period (dev seed001)
    ("there are still ≥2 exacerbations per year (MG-ADL score ≥6).",
     [("MG-ADL", ">=", 6.0, None), ("exacerbations", ">=", 2.0, None)], "inclusion"),
    ("More than 1 line of chemotherapy for metastatic disease.",  # NCT04862663
     [("prior lines of therapy", ">", 1.0, None)], "exclusion"),
    ("Previous drug treatment consisted of a platinum-based chemotherapy regimen (> 1 chemotherapy "
     "regimen) for relapse or failure of treatment.",  # NCT03416231
     [("prior lines of therapy", ">", 1.0, None)], "inclusion"),
])
def test_counts(text: str, expected: list[Any], section: str) -> None:
    assert sorted(got(text, section)) == sorted(expected)


# --- background-drug doses (RULES v2 §3.6) -------------------------------------------------

@pytest.mark.parametrize(("text", "expected", "section"), [
    ("Subjects who have required systemic treatment with corticosteroids (>10 mg/day of "
     "prednisone or equivalent) or other immunosuppressants within 14 days before the first "
     "dose.",  # NCT06751849: the drug after the dose
     [("systemic steroids, immunosuppressants", "within", 14.0, "days", "before"),
      ("dose: prednisone", ">", 10.0, "mg/day")], "exclusion"),
    ("Receiving medication with bleeding tendency, such as aspirin (>325 mg/day)",  # NCT06332300
     [("dose: aspirin", ">", 325.0, "mg/day")], "exclusion"),
    ("Methotrexate at doses > 25 mg/week", [("dose: methotrexate", ">", 25.0, "mg/week")],
     "exclusion"),
    ("Daily dose of prednisolone greater than 7.5 mg", [("dose: prednisolone", ">", 7.5, "mg/day")],
     "exclusion"),
    ("History of exposure to the following cumulative doses of anthracyclines; Doxorubicin "
     ">360 mg/m2",  # NCT05296798: the unit per m2 is kept
     [("dose: Doxorubicin", ">", 360.0, "mg/m2")], "exclusion"),
])
def test_background_drug_doses(text: str, expected: list[Any], section: str) -> None:
    assert sorted(got(text, section)) == sorted(expected)


# --- more labs and vitals of the measure table ---------------------------------------------

@pytest.mark.parametrize(("text", "expected", "section"), [
    ("25-hydroxyvitamin D levels >75 nmol/L", [("vitamin D", ">", 75.0, "nmol/L")],
     "exclusion"),  # NCT04570475
    ("Plasma HIV-1 RNA <50 c/mL at Sub-Study Screening.",  # NCT05896748
     [("HIV RNA", "<", 50.0, "copies/mL")], "inclusion"),
    ("Castrate level of serum testosterone (< 1.7 nmol/L [50 ng/dL]) on gonadotropin releasing "
     "hormone (GnRH) agonist or antagonist therapy or after bilateral orchiectomy.",  # NCT05348876
     [("testosterone", "<", 1.7, "nmol/L")], "inclusion"),
    ("Rheumatoid panel: C-reactive protein (CRP) ≤10.0mg/L; Erythrocyte sedimentation rate "
     "≤15mm/h (men)",  # NCT06751849
     [("CRP", "<=", 10.0, "mg/L"), ("ESR", "<=", 15.0, "mm/h")], "inclusion"),
    ("Serum ferritin ≥ 100 ng/mL and transferrin saturation < 20%",
     [("ferritin", ">=", 100.0, "ng/mL"), ("transferrin saturation", "<", 20.0, "%")],
     "inclusion"),
])
def test_more_labs(text: str, expected: list[Any], section: str) -> None:
    assert sorted(got(text, section)) == sorted(expected)


# --- ranges on named scores, days per month, sizes -----------------------------------------

@pytest.mark.parametrize(("text", "expected", "section"), [
    ("History of 4 to 14 migraine days per month in the 3 months prior to screening.",
     [("migraine days per month", ">=", 4.0, "days/month"),
      ("migraine days per month", "<=", 14.0, "days/month")], "inclusion"),  # NCT05861427
    ("Episodic tension-type headache > 15 days per month",  # NCT03814226
     [("tension-type headache days per month", ">", 15.0, "days/month")], "exclusion"),
    ("Patients have experienced headache on 3-15 days per month in the past;",  # NCT06277063
     [("headache days per month", ">=", 3.0, "days/month"),
      ("headache days per month", "<=", 15.0, "days/month")], "inclusion"),
    ("Experiencing mild-moderate depression as indicated by a PHQ-8 score between 5-19, "
     "inclusive, assessed at screening/baseline",  # NCT04985331 (dev)
     [("PHQ-8", ">=", 5.0, None), ("PHQ-8", "<=", 19.0, None)], "inclusion"),
    # NCT07247227: a known scale's own words, and its floor, are no limit of their own
    ("ECOG PS score 0-3 (patients with PS score 2-3 would be enrolled if due to the tumor "
     "disease and anticipated to be improved at investigators' decision).",
     [("ECOG", "<=", 3.0, None)], "inclusion"),
    # NCT05605535: a size is labelled (RULES v2 §8.4), a count of lesions is not
    ("FIGO stage IV patients diagnosed with lung and/or liver metastasis with tumour size more "
     "than 2 cm are excluded.", [("tumour size", ">", 2.0, "cm")], "exclusion"),
])
def test_ranges_rates_and_sizes(text: str, expected: list[Any], section: str) -> None:
    assert sorted(got(text, section)) == sorted(expected)


# --- windows: what the clause names --------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("Use of an investigational drug, device or product, or participation in a drug research "
     "study within a period of 30 days prior to receiving study treatment.",  # NCT06053242
     [("investigational drug", "within", 30.0, "days", "before")]),
    ("Donated or lost >500ml of blood in the previous 3 months;",  # NCT03953092
     [("blood donation", "within", 3.0, "months", "before")]),
    # NCT02981173: what is in parentheses does not stop the name
    ("Use of serotonergic antiemetics (i.e. ondansetron) in the past 2 weeks",
     [("serotonergic antiemetics", "within", 2.0, "weeks", "before")]),
    ("Occurrence of abdominal fistula, gastrointestinal perforation, or intraperitoneal abscess "
     "within 6 months before screening.",  # NCT03416231
     [("abdominal fistula, gastrointestinal perforation, intraperitoneal abscess", "within", 6.0,
       "months", "before")]),
    ("Subjects with a history of chronic alcohol or drug abuse within 6 months before "
     "enrollment;",  # NCT06751849
     [("alcohol abuse, drug abuse", "within", 6.0, "months", "before")]),
    # NCT06726265: the anchor stops at the verb, the thing follows it
    ("within 6 months prior to cycle1 day 1 received lung radiation therapy of >30 Gray (Gy).",
     [("radiotherapy", "within", 6.0, "months", "before")]),
    # NCT04691388: a limit given as an example in parentheses does not make the time a
    # measurement date
    ("Unstable angina, myocardial infarction, grade ≥2 congestive heart failure, or arrhythmia "
     "requiring treatment (including QTc≥480ms) occurred within 6 months of the first "
     "administration;",
     [("QTc", ">=", 480.0, "ms"),
      ("unstable angina, myocardial infarction", "within", 6.0, "months", "before")]),
    # NCT01742767: a change of a measure over a period is no window
    ("Significant weight loss (that is 10%) over the previous 6 weeks before study entry", []),
])
def test_window_names(text: str, expected: list[Any]) -> None:
    assert got(text, "exclusion") == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Patients with other tumors in the past 5 years;",  # NCT05309213
     [("malignancy", "within", 5.0, "years", "before")]),
    ("Self-reported substance use disorder within the past 1 year",  # NCT06136923
     [("substance use disorder", "within", 1.0, "years", "before")]),
    ("A history of prescription drug abuse, or illicit drug use within 9 months prior to "
     "screening;",  # NCT03953092
     [("prescription drug abuse, illicit drug use", "within", 9.0, "months", "before")]),
    ("Documented Weight loss of more than 15% in the last 6 months.",  # NCT06737822
     [("weight loss", ">", 15.0, "%")]),
])
def test_more_exclusion_wordings(text: str, expected: list[Any]) -> None:
    assert got(text, "exclusion") == expected


@pytest.mark.parametrize(("text", "expected"), [
    # a span in parentheses dates the thing before it, named up to the parenthesis
    ("Recent trauma (<6 months).", [("trauma", "within", 6.0, "months", "before")]),  # NCT03784144
    ("Clinically significant arrhythmia (<1 year from inclusion)",  # NCT04280055
     [("arrhythmia", "within", 1.0, "years", "before")]),
    ("Participation in other studies on drugs or devices (within 30 days)",  # NCT06209684
     [("investigational drug", "within", 30.0, "days", "before")]),
    ("Pediatric Patients (<18 years)", []),  # NCT06370169: an age, not a window
    ("Recent discovery (< 6 months) of diabetes", []),  # NCT06167499: a diagnosis date
    # NCT05365607 (dev): a compound head is shared ("substance or alcohol use disorder")
    ("current substance (including marijuana) or alcohol use disorder (past 12 months) per the "
     "SCID-5 (see methods of Research Strategy).",
     [("substance use disorder, alcohol use disorder", "within", 12.0, "months", "before")]),
])
def test_windows_in_parentheses(text: str, expected: list[Any]) -> None:
    assert got(text, "exclusion") == expected


@pytest.mark.parametrize(("text", "expected", "section"), [
    ("Lumbar scoliosis with a Cobb angle of greater than 11 degree",  # NCT04015791
     [("Cobb angle", ">", 11.0, "degrees")], "exclusion"),
    ("Pain more than 3 on NPRS", [("NPRS", ">", 3.0, None)], "inclusion"),  # NCT04043611
    ("Organic dysfunction (Marshall score ≥2)", [("Marshall score", ">=", 2.0, None)],
     "exclusion"),  # NCT05497310
])
def test_unknown_measure_names(text: str, expected: list[Any], section: str) -> None:
    assert got(text, section) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # a range with the unit after each bound (written in the registries' wording)
    ("HbA1c between 7.0% and 10.5%", [("HbA1c", ">=", 7.0, "%"), ("HbA1c", "<=", 10.5, "%")]),
    # RULES v2 §3.3: urine M-protein is its own measure
    ("Measurable serum M-protein ≥ 0.5 g/dL or urine M-protein ≥ 200 mg/24 hours",
     [("M-protein", ">=", 0.5, "g/dL"), ("urine M-protein", ">=", 200.0, "mg/24h")]),
])
def test_lab_ranges_and_urine_m_protein(text: str, expected: list[Any]) -> None:
    assert got(text) == expected


def test_a_procedure_for_a_condition_is_the_procedure() -> None:
    # written in the registries' wording: what a procedure is for qualifies it
    assert got("Ablation procedure for atrial fibrillation within 3 months", "exclusion") == [
        ("ablation procedure", "within", 3.0, "months", "before")]


# --- ages and gestational ages -------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("Veterans between the ages of 45 and 64.",  # a ctgov-more trial in no split
     [("age", ">=", 45.0, "years"), ("age", "<=", 64.0, "years")]),
    ("Age 4 to <8 years (phase 1) or age 4 to <13 years (phase 2)",  # each bound's sign
     [("age", ">=", 4.0, "years"), ("age", "<", 8.0, "years"), ("age", "<", 13.0, "years")]),
    ("Patients aged between 6 months and 17 years",  # months are converted (RULES v2 §3.1)
     [("age", ">=", 0.5, "years"), ("age", "<=", 17.0, "years")]),
    ("Preterm infants born at < 32 weeks of gestation", [("gestational age", "<", 32.0, "weeks")]),
    # an age that says which rule applies is a condition; a lab table's age bands are no ages
    ("For participants aged 1 to 17 years old, primary induction failure is defined as disease "
     "refractory after two cycles of induction therapy.", []),
    ("Maximum Serum Creatinine (mg/dL) Age 1 to < 2 years Male 0.6 Female 0.6 Age 2 to < 6 "
     "years Male 0.8 Female 0.8 Age 6 to < 10 years Male 1.0 Female 1.0", []),
])
def test_more_ages(text: str, expected: list[Any]) -> None:
    assert [r for r in got(text) if r[0] in ("age", "gestational age")] == expected


@pytest.mark.parametrize(("text", "expected"), [
    # RULES v2 §5: both directions count, the second window names the same things
    ("Receipt of a live vaccine within 30 days before the first dose or planned within 90 days "
     "after the last dose",
     [("live vaccines", "within", 30.0, "days", "before"),
      ("live vaccines", "within", 90.0, "days", "after")]),
    ("Live vaccines within 4 weeks prior to or after study treatment",
     [("live vaccines", "within", 4.0, "weeks", "before"),
      ("live vaccines", "within", 4.0, "weeks", "after")]),
    # NCT01395264 (a ctgov-more trial in no split)
    ("Headache during testing or within 3 days before and after testing. -",
     [("headache", "within", 3.0, "days", "before"), ("headache", "within", 3.0, "days", "after")]),
])
def test_windows_on_both_sides(text: str, expected: list[Any]) -> None:
    assert got(text, "exclusion") == expected


@pytest.mark.parametrize(("text", "expected", "section"), [
    # §4 / §8.3: counts of events, in the plural, also when the item opens with the count
    ("At least two exacerbations requiring systemic corticosteroids in the past 12 months",
     [("exacerbations", ">=", 2.0, None)], "inclusion"),
    ("History of ≥ 1 severe asthma exacerbation in the past year",
     [("exacerbations", ">=", 1.0, None)], "inclusion"),
    ("At least 2 lines of prior therapy (Part 1 only)",  # NCT04728893: a known measure
     [("prior lines of therapy", ">=", 2.0, None)], "inclusion"),
    # NCT05378763: a CTCAE grade is no count (RULES v2 §6)
    ("Has a history of, or signs of Grade ≥2 pneumonitis on current imaging studies", [],
     "exclusion"),
])
def test_event_counts(text: str, expected: list[Any], section: str) -> None:
    assert got(text, section) == expected
