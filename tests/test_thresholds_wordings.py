"""Eligibility limits under RULES-thresholds-v2, round 2 of issue 17: wordings the extractor
missed or misread on the dev split (fixtures/labelled/thresholds-dev*.jsonl).

Every text is a criteria item of a dev-split trial (the trial id is in the comment) or a short
text written in the registries' wording; none is from the blind test split.
"""

from __future__ import annotations

from typing import Any

import pytest

from trialscope.extract.thresholds import extract_from_text


def got(text: str, section: str = "inclusion") -> list[tuple[Any, ...]]:
    out = []
    for t in extract_from_text(text, section):
        value = round(t["value"], 6) if isinstance(t["value"], float) else t["value"]
        row = (t["measure"], t["op"], value, t["unit"])
        out.append(row + ((t["direction"],) if t["op"] == "within" else ()))
    return out


# --- ages ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("Men and women between 18 and 80 years of age",  # NCT02970669
     [("age", ">=", 18.0, "years"), ("age", "<=", 80.0, "years")]),
    ("18 to 79 years inclusive",  # NCT02260193
     [("age", ">=", 18.0, "years"), ("age", "<=", 79.0, "years")]),
    ("Aged ≥21 to ≤50 years on the day of enrollment.",  # NCT03101111: both bounds
     [("age", ">=", 21.0, "years"), ("age", "<=", 50.0, "years")]),
    ("Patients over 18-years old with idiopathic polyneuropathy",  # DRKS00018881
     [("age", ">", 18.0, "years")]),
    ("Participant must be at least 18 years or the legal age of consent in the jurisdiction in "
     "which the study is taking place at the time of signing the ICF.",  # NCT06346392
     [("age", ">=", 18.0, "years")]),
    # NCT04714372: the ages only say which scale applies
    ("Karnofsky performance status of 80-100% for 16 years and older or Lansky Play Score of "
     "80-100 for ≥12 and < 16 years of age",
     [("Karnofsky", ">=", 80.0, None), ("Lansky", ">=", 80.0, None)]),
    ("Diabetes for 2 to 10 years", []),  # a bare range of years is an age only alone
])
def test_ages(text: str, expected: list[Any]) -> None:
    assert got(text) == expected
