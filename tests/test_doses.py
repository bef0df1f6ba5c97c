"""parse_doses: dose expressions from arm / intervention text, and text that is not a dose."""

from __future__ import annotations

import json

import pytest

from trialscope.extract.doses import parse_doses

from .conftest import shared_path


def _dose(value: float, unit: str, per: str | None, text: str,
          value_max: float | None = None) -> dict:
    dose = {"value": value, "unit": unit, "per": per, "text": text}
    if value_max is not None:
        dose["value_max"] = value_max
    return dose


SINGLE = [
    # The reference trial (NCT06958939): "10e6" is 10^6 in registry text.
    ("1.0 × 10e6/kg S103 CAR-T cells", _dose(1.0e6, "cells", "kg", "1.0 × 10e6/kg")),
    ("Dose 4 8.0 × 10e6/kg S103 CAR-T cells", _dose(8.0e6, "cells", "kg", "8.0 × 10e6/kg")),
    ("1×10^6 cells/kg", _dose(1.0e6, "cells", "kg", "1×10^6 cells/kg")),
    ("2.0E+06 CAR-T cells/kg", _dose(2.0e6, "cells", "kg", "2.0E+06 CAR-T cells/kg")),
    ("2.0E6 CAR+ T cells/kg", _dose(2.0e6, "cells", "kg", "2.0E6 CAR+ T cells/kg")),
    ("1 × 10^8 CAR-T cells", _dose(1.0e8, "cells", None, "1 × 10^8 CAR-T cells")),
    ("3 x10e6 viable cells/kg", _dose(3.0e6, "cells", "kg", "3 x10e6 viable cells/kg")),
    ("1.5 x 10⁶ CAR-T cells/kg", _dose(1.5e6, "cells", "kg", "1.5 x 10⁶ CAR-T cells/kg")),
    ("1.2 × 10^6 cells", _dose(1.2e6, "cells", None, "1.2 × 10^6 cells")),
    ("5 × 10(6) T-cells per kg", _dose(5.0e6, "cells", "kg", "5 × 10(6) T-cells per kg")),
    ("10^6 cells/kg", _dose(1.0e6, "cells", "kg", "10^6 cells/kg")),
    ("10e6 cells/kg", _dose(1.0e6, "cells", "kg", "10e6 cells/kg")),
    ("2 million CAR-T cells per kilogram of body weight",
     _dose(2.0e6, "cells", "kg", "2 million CAR-T cells per kilogram of body weight")),
    ("1.0-2.0 x 10^6/kg", _dose(1.0e6, "cells", "kg", "1.0-2.0 x 10^6/kg", 2.0e6)),
    ("0.5-1.0 × 10^6 cells/kg",
     _dose(0.5e6, "cells", "kg", "0.5-1.0 × 10^6 cells/kg", 1.0e6)),
    ("1×10^6 - 2×10^6 cells/kg",
     _dose(1.0e6, "cells", "kg", "1×10^6 - 2×10^6 cells/kg", 2.0e6)),
    ("10 mg/kg", _dose(10.0, "mg", "kg", "10 mg/kg")),
    ("10 mg/kg IV every 2 weeks", _dose(10.0, "mg", "kg", "10 mg/kg")),
    ("400 mg/m2", _dose(400.0, "mg", "m2", "400 mg/m2")),
    ("200 mg/m² on day 1", _dose(200.0, "mg", "m2", "200 mg/m²")),
    ("375 mg per m2 weekly", _dose(375.0, "mg", "m2", "375 mg per m2")),
    ("300 mg", _dose(300.0, "mg", None, "300 mg")),
    ("eculizumab 1200 mg", _dose(1200.0, "mg", None, "1200 mg")),
    ("1,200mg", _dose(1200.0, "mg", None, "1,200mg")),
    ("2 g/kg IVIg", _dose(2.0, "g", "kg", "2 g/kg")),
    ("IVIg 0.4 g/kg/day for 5 days", _dose(0.4, "g", "kg/day", "0.4 g/kg/day")),
    ("100 µg", _dose(100.0, "ug", None, "100 µg")),
    ("100 μg", _dose(100.0, "ug", None, "100 μg")),
    ("250 mcg daily", _dose(250.0, "ug", None, "250 mcg")),
    ("5 mL of saline", _dose(5.0, "mL", None, "5 mL")),
    ("3000 IU/kg", _dose(3000.0, "IU", "kg", "3000 IU/kg")),
    ("1 to 2 mg/kg", _dose(1.0, "mg", "kg", "1 to 2 mg/kg", 2.0)),
    ("10 MG/KG", _dose(10.0, "mg", "kg", "10 MG/KG")),
    ("2 × 10^14 vg/kg", _dose(2.0e14, "vg", "kg", "2 × 10^14 vg/kg")),
    ("prednisone 0,5 mg/kg", _dose(0.5, "mg", "kg", "0,5 mg/kg")),
]


@pytest.mark.parametrize("text, expected", SINGLE, ids=[t for t, _ in SINGLE])
def test_single_dose(text: str, expected: dict) -> None:
    assert parse_doses(text) == [expected]


def test_several_doses_in_order() -> None:
    text = ("Dupilumab 300 mg (for a total of 600 mg) as a loading dose, then 300 mg qw; "
            "cyclophosphamide 300 mg/m2 and fludarabine 30 mg/m2 before 1 × 10^6 CAR-T cells/kg")
    assert [(d["value"], d["unit"], d["per"]) for d in parse_doses(text)] == [
        (300.0, "mg", None), (600.0, "mg", None), (300.0, "mg", None),
        (300.0, "mg", "m2"), (30.0, "mg", "m2"), (1.0e6, "cells", "kg"),
    ]


def test_bare_count_is_cells_only_in_cell_therapy_text() -> None:
    assert parse_doses("CD19 CAR-T infusion at 1 × 10^8") == [
        _dose(1.0e8, "cells", None, "1 × 10^8")]
    assert parse_doses("a total of 1 × 10^8") == []


@pytest.mark.parametrize("text", [
    None,
    "",
    "MG-ADL score ≥ 6",
    "MG-ADL score ≥6 or QMG score ≥11 at screening and baseline",
    "20 MG patients with AChR antibodies",
    "Age ≥ 18 years",
    "18 Years to 80 Years",
    "12 weeks of follow-up, 6 months after infusion",
    "2025-05-01",
    "Start 2025-05, completion 2026-08-30",
    "ocular muscle score less than 50% of the total score",
    "Serum creatinine > 2.5mg/dl or bilirubin > 2.0 mg /dl",
    "Hemoglobin ≥ 10g/dL",
    "Platelets ≥ 100 × 10^9/L",
    "Absolute neutrophil count ≥ 1,500/µL",
    "HBV DNA < 10^3 IU/mL",
    "Concentration: 200 mg / ml",
    "total bilirubin ≤ 3.0 × ULN",
    "creatinine clearance ≥ 60 mL/min/1.73 m2",
    "S103 CAR-T cells",
    "Dose level 1 group",
    "IL-6 levels and CD19 counts",
    "Phase 1, 3 + 3 design, 24 participants",
])
def test_not_doses(text: str | None) -> None:
    assert parse_doses(text) == []


def test_reference_trial_seed_dose_levels() -> None:
    page = shared_path("seeds", "001_c82998d412b8f6da.txt").read_text(encoding="utf-8")
    block = page[page.index("Study Groups"):page.index("Interventions\n")]
    assert parse_doses(block) == [
        _dose(v, "cells", "kg", f"{v / 1e6:.1f} × 10e6/kg") for v in (1e6, 2e6, 4e6, 8e6)]
    # "Dose 2 2.0 × 10e6/kg": the level number is not part of the dose.
    assert parse_doses("Dose 2 2.0 × 10e6/kg S103 CAR-T cells") == [
        _dose(2.0e6, "cells", "kg", "2.0 × 10e6/kg")]


def test_real_v2_intervention_texts() -> None:
    base = shared_path("data", "ctgov-v2", "studies")

    def descriptions(nct: str) -> list[str]:
        study = json.loads((base / f"{nct}.json").read_text(encoding="utf-8"))
        module = study["protocolSection"]["armsInterventionsModule"]
        groups = module.get("armGroups", []) + module.get("interventions", [])
        return [x.get("description", "") for x in groups]

    assert [parse_doses(t) for t in descriptions("NCT02552212")] == [
        [_dose(400.0, "mg", None, "400 mg"), _dose(200.0, "mg", None, "200 mg")],
        [],
        [],  # "Concentration: 200 mg / ml" is not a dose
        [],
    ]
    assert parse_doses(descriptions("NCT02513394")[0]) == [_dose(125.0, "mg", None, "125 mg")]
