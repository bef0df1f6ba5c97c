"""split_criteria: real registry text (ClinicalTrials.gov v2 studies, the two MG CAR-T seed
pages) and synthetic cases for every numbering, bullet and header form it claims to read.

Golden files in fixtures/criteria/ hold the expected trees of the real texts; regenerate them
only on purpose: TRIALSCOPE_REGENERATE=1 pytest tests/test_criteria.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from trialscope.extract.criteria import count_items, split_criteria

from .conftest import FIXTURES, golden, shared_params, shared_path

GOLDEN = FIXTURES / "criteria"
STUDY_FILES = shared_params("data/ctgov-v2/studies")


def _item(text: str, *children: dict) -> dict:
    return {"text": text, "children": list(children)}


def _flat(*texts: str) -> list[dict]:
    return [_item(t) for t in texts]


def _criteria(path: Path) -> str:
    return json.loads(path.read_text(encoding="utf-8"))["protocolSection"][
        "eligibilityModule"]["eligibilityCriteria"]


def _seed(name: str) -> str:
    return shared_path("seeds", name).read_text(encoding="utf-8")


def _shape(items: list[dict]) -> list:
    """Item tree reduced to child counts: [n_children, ...] per top-level item."""
    return [len(i["children"]) for i in items]


def _walk(items: list[dict]):
    for item in items:
        yield item
        yield from _walk(item["children"])


# --- the two seed pages (criteria sliced out of the page text by the test) -----------------

def test_seed_000_nests_the_three_conditions_under_item_2() -> None:
    page = _seed("000_adeaf616e44e0b0f.txt")
    result = split_criteria(page[page.index("Inclusion Criteria:"):])
    inclusion, exclusion = result["inclusion"], result["exclusion"]
    assert _shape(inclusion) == [0, 3, 0, 0, 0, 0, 0, 0]
    assert len(exclusion) == 13 and count_items(exclusion) == 13
    assert inclusion[0] == _item("Age ≥18 and gender unlimited;")
    assert inclusion[1] == _item(
        "Confirmed as refractory myasthenia gravis with AchR antibody positive and accord "
        "one of the following three conditions",
        _item("Repeated electrical stimulation suggests neuromuscular conduction deficits;"),
        _item("Tensilon test and neostigmine test positive;"),
        _item("The doctor judged that the symptoms of MG improved after treatment with oral "
              "cholinease inhibitors;"),
    )
    assert inclusion[2]["text"] == (
        "Consistent with the clinical classification of MGFA myasthenia gravis IIa-IVb "
        "(including IIa,IIb,IIIa, IIIb, IVa,IVb)")
    assert exclusion[9]["text"] == (
        "Serum creatinine > 2.5mg/dl or ALT / AST > 3 times ULN or bilirubin > 2.0 mg /dl;")
    assert exclusion[12]["text"].endswith("or interfere with the test results.")


def test_seed_001_nests_four_conditions_and_joins_the_lost_comparator_line() -> None:
    page = _seed("001_c82998d412b8f6da.txt")
    block = page[page.index("Inclusion Criteria"):page.index("\n18 Years")]
    result = split_criteria(block)
    inclusion, exclusion = result["inclusion"], result["exclusion"]
    # The page lost item 1 of both lists: items 2-6 and 2-12 remain.
    assert _shape(inclusion) == [0, 0, 0, 4, 0]
    assert inclusion[3]["text"].endswith("fulfilling one of the following 4 conditions:")
    assert inclusion[3]["children"][1] == _item(
        "After adequate dose and duration of at least 2 conventional immunotherapies, the PIS "
        "is improved, but the MG-ADL score remains 6 for at least 6 months.")
    assert inclusion[3]["children"][3]["text"].startswith("The investigator considers that")
    assert inclusion[4]["text"] == (
        "MG-ADL score ≥6 or QMG score ≥11 at screening and baseline, with ocular muscle score "
        "less than 50% of the total score.")
    assert len(exclusion) == 11 and count_items(exclusion) == 11
    assert exclusion[0]["text"].startswith("Females who are breastfeeding")
    assert exclusion[-1] == _item(
        "Other conditions deemed by the investigator as unsuitable for study participation.")


# --- every whole ClinicalTrials.gov v2 study ----------------------------------------------

# Counted by hand from the raw text: (inclusion top, inclusion total, exclusion top, total).
HAND_COUNTS = {
    "NCT00763412": (5, 5, 6, 6),
    # 7 bullets + the closing "The information listed above ..." paragraph (blank line, no
    # bullet: Markdown ends the list there, so it is kept as an item of its own).
    "NCT02210780": (5, 5, 7, 7),
    "NCT02299791": (1, 1, 1, 1),
    # inclusion: 19 bullets + the "FFPE tumor tissue ..." paragraph + "-Patients must ...";
    # exclusion: 13 bullets, "... inducers of" / "* CYP3A isoenzymes ..." is one criterion.
    "NCT02513394": (21, 21, 12, 12),
    "NCT02552212": (6, 8, 11, 11),
    "NCT03064438": (9, 9, 11, 13),
    "NCT03281889": (5, 5, 5, 5),
    "NCT03418623": (1, 1, 0, 0),
    "NCT03475563": (5, 5, 7, 7),
    "NCT03630471": (2, 11, 2, 10),
    "NCT04523987": (7, 7, 6, 6),
    "NCT06171568": (1, 1, 0, 0),
}


@pytest.mark.parametrize("path", STUDY_FILES, ids=lambda p: p.stem)
def test_every_v2_study_matches_hand_counts(path: Path) -> None:
    result = split_criteria(_criteria(path))
    got = (len(result["inclusion"]), count_items(result["inclusion"]),
           len(result["exclusion"]), count_items(result["exclusion"]))
    assert got == HAND_COUNTS[path.stem]


@pytest.mark.parametrize("path", STUDY_FILES, ids=lambda p: p.stem)
def test_every_v2_study_keeps_all_words_and_drops_markup(path: Path) -> None:
    text = _criteria(path)
    result = split_criteria(text)
    items = list(_walk(result["inclusion"] + result["exclusion"]))
    for item in items:
        assert item["text"] and item["text"] == item["text"].strip()
        assert "\\" not in item["text"], "Markdown escape left in"
        assert not re.match(r"[*•]\s|\d+\.\s", item["text"]), "marker left in"
    # Nothing dropped: every word of the source except header words is in some item.
    source = re.sub(r"(?im)^\s*(key\s+)?(inclusion|exclusion|eligibility) criteria:?\s*$", "",
                    text)
    # ...and except ClinicalTrials.gov's closing disclaimer, which is not a criterion.
    source = re.sub(r"(?im)^The information listed above is not intended.*$", "", source)
    joined = " ".join(i["text"] for i in items)
    words = {w for w in re.findall(r"\w+", source) if re.search(r"[^\W\d_]", w)}
    missing = words - set(re.findall(r"\w+", joined))
    assert not missing


@pytest.mark.parametrize("path", STUDY_FILES, ids=lambda p: p.stem)
def test_every_v2_study_matches_its_golden_file(path: Path) -> None:
    _check_golden(f"ctgov-v2_{path.stem}", split_criteria(_criteria(path)))


@pytest.mark.parametrize("name, start, end", [
    ("000_adeaf616e44e0b0f.txt", "Inclusion Criteria:", None),
    ("001_c82998d412b8f6da.txt", "Inclusion Criteria", "\n18 Years"),
])
def test_seeds_match_their_golden_files(name: str, start: str, end: str | None) -> None:
    page = _seed(name)
    block = page[page.index(start):page.index(end) if end else None]
    _check_golden(f"seed_{name.removesuffix('.txt')}", split_criteria(block))


def _check_golden(name: str, result: dict) -> None:
    path = GOLDEN / f"{name}.expected.json"
    rendered = json.dumps(result, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    assert rendered == golden(path, rendered)


def test_v2_pinned_texts() -> None:
    studies = shared_path("data", "ctgov-v2", "studies")
    r = split_criteria(_criteria(studies / "NCT00763412.json"))
    assert r["inclusion"][2]["text"] == (
        "Must have a glucose pattern by Oral Glucose Tolerance Test with fasting blood glucose "
        "<126 mg/dl and 2 hour: 140 - 199 mg/dl or >200 mg/dl.")
    r = split_criteria(_criteria(studies / "NCT02552212.json"))
    assert r["inclusion"][4] == _item(
        "Active disease at Screening as defined by",
        _item("Bath Ankylosing Spondylitis Disease Activity Index (BASDAI) score >= 4"),
        _item("Spinal pain >= 4 on a 0 to 10 Numerical Rating Scale (NRS)"),
    )
    r = split_criteria(_criteria(studies / "NCT02513394.json"))
    assert r["exclusion"][4] == _item(
        "Patients receiving any medications or substances that are potent inhibitors or "
        "inducers of CYP3A isoenzymes within 7 days of randomization.")
    assert r["inclusion"][6]["text"].startswith("FFPE tumor tissue block must be confirmed")
    r = split_criteria(_criteria(studies / "NCT03630471.json"))
    assert [i["text"] for i in r["inclusion"]] == [
        "For adolescent participants:", "For parent participants:"]
    assert r["exclusion"][1]["children"][1] == _item(
        "Intoxicated at the point of consent or assessment")
    r = split_criteria(_criteria(studies / "NCT02210780.json"))
    assert r["exclusion"][1]["text"].startswith("Patients needing >10 mg of daily prednisone")


# --- synthetic cases ------------------------------------------------------------------------

def test_empty_and_none() -> None:
    assert split_criteria(None) == {"inclusion": [], "exclusion": []}
    assert split_criteria("") == {"inclusion": [], "exclusion": []}
    assert split_criteria(" \n\n  ") == {"inclusion": [], "exclusion": []}


def test_count_items_counts_children() -> None:
    assert count_items([]) == 0
    assert count_items([_item("a", _item("b", _item("c"))), _item("d")]) == 4


@pytest.mark.parametrize("lines", [
    ["1. Age ≥ 18", "2. Signed consent"],
    ["1) Age ≥ 18", "2) Signed consent"],
    ["(1) Age ≥ 18", "(2) Signed consent"],
    ["（1）Age ≥ 18", "（2）Signed consent"],
    ["- 1. Age ≥ 18", "- 2. Signed consent"],
    ["* 1. Age ≥ 18", "* 2. Signed consent"],
    ["① Age ≥ 18", "② Signed consent"],
    ["⑴ Age ≥ 18", "⑵ Signed consent"],
    ["1、Age ≥ 18", "2、Signed consent"],
    ["1.Age ≥ 18", "2.Signed consent"],
    ["a. Age ≥ 18", "b. Signed consent"],
    ["a) Age ≥ 18", "b) Signed consent"],
    ["(a) Age ≥ 18", "(b) Signed consent"],
    ["i. Age ≥ 18", "ii. Signed consent"],
    ["I. Age ≥ 18", "II. Signed consent"],
    ["一、Age ≥ 18", "二、Signed consent"],
    ["* Age ≥ 18", "* Signed consent"],
    ["- Age ≥ 18", "- Signed consent"],
    ["• Age ≥ 18", "• Signed consent"],
    ["· Age ≥ 18", "· Signed consent"],
    ["○ Age ≥ 18", "○ Signed consent"],
    ["▪ Age ≥ 18", "▪ Signed consent"],
    ["-Age ≥ 18", "-Signed consent"],
])
def test_every_marker_form_is_stripped(lines: list[str]) -> None:
    text = "Inclusion Criteria:\n" + "\n".join(lines) + "\nExclusion Criteria:\n" + lines[0]
    assert split_criteria(text) == {
        "inclusion": _flat("Age ≥ 18", "Signed consent"),
        "exclusion": _flat("Age ≥ 18"),
    }


def test_decimal_number_at_line_start_is_not_a_marker() -> None:
    text = "* Dose of\n2.5 mg/kg per day"
    assert split_criteria(text)["inclusion"] == _flat("Dose of 2.5 mg/kg per day")


@pytest.mark.parametrize("incl, excl", [
    ("Inclusion Criteria", "Exclusion Criteria"),
    ("Inclusion Criteria:", "Exclusion Criteria:"),
    ("INCLUSION CRITERIA:", "EXCLUSION CRITERIA:"),
    ("Key Inclusion Criteria:", "Key Exclusion Criteria:"),
    ("Main inclusion criteria", "Main exclusion criteria"),
    ("Inclusion criteria (all must be met):", "Exclusion criteria (any excludes):"),
    ("**Inclusion Criteria:**", "**Exclusion Criteria:**"),
    ("### Inclusion criteria", "### Exclusion criteria"),
    ("Inclusion:", "Exclusion:"),
    ("Criteria for inclusion:", "Criteria for exclusion:"),
    ("Patients are eligible if:", "Patients will be excluded if"),
    ("纳入标准：", "排除标准："),
    ("入选标准", "排除标准"),
    ("Inclusion criteria / 纳入标准：", "Exclusion criteria / 排除标准："),
    ("纳入标准（Inclusion Criteria）：", "排除标准（Exclusion Criteria）："),
])
def test_header_variants(incl: str, excl: str) -> None:
    text = f"{incl}\n\n* Adults\n* Consent\n\n{excl}\n\n* Pregnancy"
    assert split_criteria(text) == {
        "inclusion": _flat("Adults", "Consent"), "exclusion": _flat("Pregnancy")}


def test_header_with_items_on_the_same_line() -> None:
    text = "Inclusion Criteria:- 1. Age ≥18;\n- 2. Consent;\nExclusion criteria: none"
    assert split_criteria(text) == {
        "inclusion": _flat("Age ≥18;", "Consent;"), "exclusion": _flat("none")}


def test_header_words_inside_an_item_do_not_switch_sections() -> None:
    text = "Inclusion Criteria:\n* Met the inclusion criteria of study X\nExclusion of minors"
    assert split_criteria(text) == {
        "inclusion": _flat("Met the inclusion criteria of study X Exclusion of minors"),
        "exclusion": [],
    }


def test_headerless_text_goes_to_inclusion() -> None:
    assert split_criteria("* Age ≥ 18\n* MG-ADL ≥ 6") == {
        "inclusion": _flat("Age ≥ 18", "MG-ADL ≥ 6"), "exclusion": []}
    assert split_criteria("Adults with refractory generalised MG") == {
        "inclusion": _flat("Adults with refractory generalised MG"), "exclusion": []}


def test_text_before_the_first_header_is_kept_in_inclusion() -> None:
    text = "Participants must meet all criteria.\nExclusion Criteria:\n* HIV"
    assert split_criteria(text) == {
        "inclusion": _flat("Participants must meet all criteria."), "exclusion": _flat("HIV")}


def test_markdown_escapes_are_undone() -> None:
    text = r"* Age \>= 18 and \<65, a \*starred\* \_word\_ \[ref\] 50\% \#1"
    assert split_criteria(text)["inclusion"] == _flat(
        "Age >= 18 and <65, a *starred* _word_ [ref] 50% #1")


def test_nested_markdown_by_indentation() -> None:
    text = ("Inclusion Criteria:\n\n* Adults\n  * aged 18-65\n\t* with MG\n    * deep one\n"
            "* Consent\n\n  continued after a blank line\n\nExclusion Criteria:\n\n* None")
    assert split_criteria(text) == {
        "inclusion": [
            _item("Adults", _item("aged 18-65", _item("with MG"), _item("deep one"))),
            _item("Consent continued after a blank line"),
        ],
        "exclusion": _flat("None"),
    }


def test_colon_item_with_indented_markdown_children_after_blank_line() -> None:
    text = "* Has any of the following:\n\n  * A cutaneous malignancy; 180 days\n* Next"
    assert split_criteria(text)["inclusion"] == [
        _item("Has any of the following:", _item("A cutaneous malignancy; 180 days")),
        _item("Next"),
    ]


def test_restarted_numbering_with_a_different_style_nests() -> None:
    text = ("- 1. Age\n- 2. MG with one of the following three conditions\n1. AChR+;\n"
            "2. Tensilon\ntest positive;\n3. Response;\n- 3. QMG > 11")
    assert split_criteria(text)["inclusion"] == [
        _item("Age"),
        _item("MG with one of the following three conditions",
              _item("AChR+;"), _item("Tensilon test positive;"), _item("Response;")),
        _item("QMG > 11"),
    ]


def test_restarted_numbering_with_the_same_style_nests_and_closes() -> None:
    text = ("4. Diagnosis\n5. Refractory MG: one of the following 2 conditions:\n1. A\n2. B\n"
            "6. MG-ADL ≥ 6\n7. Consent")
    assert split_criteria(text)["inclusion"] == [
        _item("Diagnosis"),
        _item("Refractory MG: one of the following 2 conditions:", _item("A"), _item("B")),
        _item("MG-ADL ≥ 6"),
        _item("Consent"),
    ]


def test_announced_count_closes_an_ambiguous_sublist() -> None:
    # "3." after children 1-2 could be child 3; the parent announced two conditions.
    text = "1. Age\n2. One of the following two:\n1. A\n2. B\n3. Consent"
    assert _shape(split_criteria(text)["inclusion"]) == [0, 2, 0]


def test_restart_without_an_introducing_item_stays_flat() -> None:
    text = "1. Age\n2. Consent\n1. Another list"
    assert split_criteria(text)["inclusion"] == _flat("Age", "Consent", "Another list")


def test_letter_and_roman_sublists() -> None:
    letters = "\n".join(f"{c}. item {c}" for c in "abcdefghij")
    text = f"1. Meets all of the following:\n{letters}\n2. Next"
    result = split_criteria(text)["inclusion"]
    assert _shape(result) == [10, 0]
    assert result[0]["children"][8] == _item("item i")  # the letter after h, not Roman one
    text = "1. Any of the following:\ni. one\nii. two\niii. three\niv. four\n2. Next"
    result = split_criteria(text)["inclusion"]
    assert result[0]["children"] == _flat("one", "two", "three", "four")
    assert result[1] == _item("Next")


def test_second_level_bullet_nests_under_the_bullet_before() -> None:
    text = "• Adequate organ function\n○ ANC ≥ 1.5\n○ Platelets ≥ 100\n• Consent"
    assert split_criteria(text)["inclusion"] == [
        _item("Adequate organ function", _item("ANC ≥ 1.5"), _item("Platelets ≥ 100")),
        _item("Consent"),
    ]


def test_wrapped_lines_join_with_one_space_keeping_hyphens_and_semicolons() -> None:
    text = "1. Patients with non-\nsmall cell lung cancer   and\n   measurable disease;\n2. Next;"
    assert split_criteria(text)["inclusion"] == _flat(
        "Patients with non- small cell lung cancer and measurable disease;", "Next;")


def test_bullet_that_continues_a_broken_line_is_joined() -> None:
    text = "* Strong inhibitors or inducers of\n* CYP3A within 7 days.\n* Hepatitis A\n* HIV"
    assert split_criteria(text)["inclusion"] == _flat(
        "Strong inhibitors or inducers of CYP3A within 7 days.", "Hepatitis A", "HIV")


def test_unmarked_lines_after_a_colon_become_children() -> None:
    text = "1. Has one of the following:\nHIV infection\nHepatitis B with\nhigh viral load\n2. Next"
    assert split_criteria(text)["inclusion"] == [
        _item("Has one of the following:", _item("HIV infection"),
              _item("Hepatitis B with high viral load")),
        _item("Next"),
    ]


def test_paragraph_after_blank_line_ends_the_list() -> None:
    text = "* Adults\n* Consent\n\nThe list above is not exhaustive."
    assert split_criteria(text)["inclusion"] == _flat(
        "Adults", "Consent", "The list above is not exhaustive.")


def test_unmarked_sentences_are_separate_items() -> None:
    assert split_criteria("Age 18 or older.\nSigned consent.")["inclusion"] == _flat(
        "Age 18 or older.", "Signed consent.")


def test_sub_headers_inside_a_section_collect_their_items() -> None:
    text = ("Inclusion Criteria:\nPart A:\n1. Age ≥ 18;\n2. gMG;\nFor cohort 2 only:\n"
            "1. AChR+;\n2. MuSK+;\nExclusion Criteria:\n1. None")
    assert split_criteria(text) == {
        "inclusion": [
            _item("Part A:", _item("Age ≥ 18;"), _item("gMG;")),
            _item("For cohort 2 only:", _item("AChR+;"), _item("MuSK+;")),
        ],
        "exclusion": _flat("None"),
    }


def test_blank_separated_sub_headers_markdown() -> None:
    text = ("Eligibility criteria:\n\nFor adolescents:\n\n* Grade 9-12\n* Assent\n\n"
            "For parents:\n\n* Consent\n\nExclusion criteria:\n\nFor adolescents:\n\n* Urgent care")
    assert split_criteria(text) == {
        "inclusion": [_item("For adolescents:", _item("Grade 9-12"), _item("Assent")),
                      _item("For parents:", _item("Consent"))],
        "exclusion": [_item("For adolescents:", _item("Urgent care"))],
    }


def test_untitled_paragraph_titles_the_list_after_it() -> None:
    # ClinicalTrials.gov sponsors often title groups of criteria without a colon.
    text = ("Exclusion Criteria:\n\nMedical Conditions\n\n1. Thymoma.\n2. Thymectomy.\n\n"
            "Prior/Concomitant Therapy\n\n1. Rituximab\n\nSee the protocol for details.")
    assert split_criteria(text)["exclusion"] == [
        _item("Medical Conditions", _item("Thymoma."), _item("Thymectomy.")),
        _item("Prior/Concomitant Therapy", _item("Rituximab")),
        _item("See the protocol for details."),
    ]


def test_sub_header_after_a_list_collects_the_same_bullet_style() -> None:
    text = "* Adults\n* Consent\n\nFor cohort 2 only:\n\n* AChR+\n* MuSK+"
    assert split_criteria(text)["inclusion"] == [
        _item("Adults"), _item("Consent"),
        _item("For cohort 2 only:", _item("AChR+"), _item("MuSK+")),
    ]


def test_header_qualifier_becomes_a_sub_header() -> None:
    text = ("Inclusion Criteria for Part A:\n- a\nInclusion Criteria for Part B:\n- b\n"
            "Exclusion Criteria:\n- c")
    assert split_criteria(text) == {
        "inclusion": [_item("Part A", _item("a")), _item("Part B", _item("b"))],
        "exclusion": _flat("c"),
    }


def test_unmarked_lines_under_a_header_qualifier() -> None:
    text = "Inclusion Criteria for Part A:\nAge ≥ 18.\nSigned consent.\nExclusion Criteria:\nNone"
    assert split_criteria(text) == {
        "inclusion": [_item("Part A", _item("Age ≥ 18."), _item("Signed consent."))],
        "exclusion": _flat("None"),
    }


def test_chinese_criteria() -> None:
    text = ("纳入标准：\n1、年龄18-70岁；\n2、符合以下条件之一：\n（1）AChR抗体阳性；\n"
            "（2）MuSK抗体\n阳性；\n3、签署知情同意书。\n排除标准：\n① 妊娠期妇女；\n② 严重感染。")
    assert split_criteria(text) == {
        "inclusion": [
            _item("年龄18-70岁；"),
            _item("符合以下条件之一：", _item("AChR抗体阳性；"), _item("MuSK抗体阳性；")),
            _item("签署知情同意书。"),
        ],
        "exclusion": _flat("妊娠期妇女；", "严重感染。"),
    }


def test_chictr_numbers_without_punctuation() -> None:
    # Only before Chinese text: "12 weeks" at the start of a wrapped English line is prose.
    text = "纳入标准：\n1 经组织学证实的NSCLC。\n2 体能状态ECOG 0-1。\n* Washout of\n12 weeks"
    assert split_criteria(text)["inclusion"] == _flat(
        "经组织学证实的NSCLC。", "体能状态ECOG 0-1。", "Washout of 12 weeks")


def test_bilingual_pairs_share_one_section() -> None:
    text = ("Inclusion criteria / 纳入标准：\n1. Age ≥ 18\n2. 年龄≥18岁\n"
            "排除标准（Exclusion Criteria）：\n1. Pregnancy")
    assert split_criteria(text) == {
        "inclusion": _flat("Age ≥ 18", "年龄≥18岁"), "exclusion": _flat("Pregnancy")}


def test_html_line_breaks_and_entities() -> None:
    text = "Inclusion criteria: 1. Adults (aged &gt;=18 years);&lt;br&gt;2. SOFA &gt;= 2."
    assert split_criteria(text)["inclusion"] == _flat("Adults (aged >=18 years);", "SOFA >= 2.")
