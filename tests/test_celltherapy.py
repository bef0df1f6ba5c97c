"""Cell-therapy facts (extract/celltherapy.py) against the hand-labelled set and the edges."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

from trialscope.core.record import TrialRecord
from trialscope.extract.celltherapy import (
    MODALITIES,
    PRODUCTS,
    TARGETS,
    extract_cell_therapy,
    extract_from_texts,
    normalise_modality,
    normalise_target,
)
from trialscope.parser.ctgov import parse_study_json

ROOT = Path(__file__).resolve().parents[1]
LABELLED = ROOT / "fixtures" / "labelled" / "celltherapy.jsonl"
LINES = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines() if line]


def _record(line: dict) -> TrialRecord:
    if "fixture" in line:
        return parse_study_json((ROOT / line["fixture"]).read_text(encoding="utf-8"))
    return TrialRecord(trial_id=line["source"], registry="text", **line["fields"])


def facts(modality, targets, source):
    return {"modality": modality, "targets": targets, "cell_source": source}


@pytest.mark.parametrize("line", LINES, ids=[line["source"] for line in LINES])
def test_labelled_set(line):
    assert extract_cell_therapy(_record(line)) == line["expected"], line.get("note")


def test_labelled_set_covers_every_fixture_and_real_texts():
    fixture_ids = {p.stem for p in (ROOT / "fixtures" / "ctgov" / "studies").glob("*.json")}
    labelled = {line["source"] for line in LINES if "fixture" in line}
    assert fixture_ids == labelled and len(fixture_ids) == 20
    extra = [line for line in LINES if "fields" in line]
    assert len(extra) >= 10 and all(line["url"].startswith("http") for line in extra)
    assert sum(1 for line in LINES if line["expected"] == {}) >= 8  # negatives too
    for line in LINES:  # labels use the canonical vocabulary only
        exp = line["expected"]
        assert not exp or (set(exp["modality"]) <= set(MODALITIES)
                           and set(exp["targets"]) <= set(TARGETS)
                           and exp["cell_source"] in ("autologous", "allogeneic", None))


# -- the fixture trials, spelt out (the facts researchers filter on) --------------------------

FIXTURE_FACTS = {
    "NCT04146051": facts(["mRNA CAR-T"], ["BCMA"], "autologous"),      # Descartes-08
    "NCT06799247": facts(["mRNA CAR-T"], ["BCMA"], "autologous"),      # "Decartes-08" typo too
    "NCT06419166": facts(["CAR-T"], ["CD19", "BCMA"], "autologous"),   # GC012F
    "NCT06759948": facts(["CAR-T"], ["CD19", "BCMA"], "autologous"),   # GC012F, code only
    "NCT07058298": facts(["CAR-T"], ["CD19", "BCMA"], "autologous"),   # GC012F
    "NCT05938725": facts(["CAR-T"], ["CD19"], "autologous"),           # KYV-101
    "NCT06958939": facts(["CAR-T"], ["BCMA"], None),                   # S103
    "NCT05451212": facts(["CAAR-T"], ["MuSK"], "autologous"),          # MuSK-CAART
    "NCT03361748": facts(["CAR-T"], ["BCMA"], "autologous"),           # bb2121 / ide-cel
    "NCT02348216": facts(["CAR-T"], ["CD19"], "autologous"),           # KTE-C19 / axi-cel
    "NCT05828225": facts(["CAR-T"], ["CD19"], None),
    "NCT06371040": facts(["CAR-T"], ["CD19", "BCMA"], None),
    "NCT07243366": facts(["CAR-NK"], ["CD19"], "allogeneic"),
}
NOT_CELL_THERAPY = ["NCT00204204",  # car accidents
                    "NCT01997229", "NCT03669588", "NCT03920293", "NCT03971422",  # biologics
                    "NCT05332587", "NCT05716035"]  # rituximab, tocilizumab


@pytest.mark.parametrize("nct", sorted(FIXTURE_FACTS))
def test_fixture_trial_facts(nct):
    rec = parse_study_json((ROOT / f"fixtures/ctgov/studies/{nct}.json").read_text("utf-8"))
    assert extract_cell_therapy(rec) == FIXTURE_FACTS[nct]


@pytest.mark.parametrize("nct", NOT_CELL_THERAPY)
def test_fixture_non_cell_therapies_are_empty(nct):
    rec = parse_study_json((ROOT / f"fixtures/ctgov/studies/{nct}.json").read_text("utf-8"))
    assert extract_cell_therapy(rec) == {}


def test_eligibility_text_is_never_read():
    # NCT06958939's criteria mention "CAR-T therapy"; a trial that merely excludes prior
    # CAR-T in its criteria is not a CAR-T trial.
    rec = TrialRecord(trial_id="X", registry="text",
                      title="Efgartigimod in Refractory Generalized Myasthenia Gravis",
                      eligibility={"text": "Exclusion Criteria:\n* Prior CAR-T cell therapy "
                                           "(CD19 or BCMA), autologous or allogeneic HSCT",
                                   "exclusion": [{"text": "Prior CAR-T cell therapy"}]})
    assert extract_cell_therapy(rec) == {}


@pytest.mark.parametrize("text", [
    "Importance of Forces and Safety Features in Car Crash Multitrauma",
    "Injuries in serious car accidents and golf cart crashes",
    "CART analysis of risk factors for myasthenic crisis",
    "A Descartes-style reasoning study",
    "Efficacy and Safety of Low-dose Rituximab in Refractory Myasthenia Gravis",
    "Rituximab, an anti-CD20 monoclonal antibody, in refractory MG",
    "Blinatumomab, a CD19/CD3 bispecific T-cell engager, in B-ALL",
    "Teclistamab in Patients Who Relapsed After Prior BCMA CAR-T Therapy",
    "Patients previously treated with BCMA-directed CAR-T cells receive talquetamab",
    "Management of CAR-T cell-related cytokine release syndrome with anakinra",
    "Constitutive androstane receptor (CAR) agonists and drug metabolism",
    "TCR repertoire sequencing after thymectomy in MG",
    "Anti CD19/BCMA CAR Gene Therapy for Autoimmune Diseases",  # in vivo vector, no cells
    "既往接受过CAR-T细胞治疗的患者使用托珠单抗",
    "Study S103 of a new vaccine",                                # a code without a cue
])
def test_negatives(text):
    assert extract_from_texts([text]) == {}


@pytest.mark.parametrize("text, expected", [
    ("CD19 CAR-T for AChR or MuSK antibody positive MG", facts(["CAR-T"], ["CD19"], None)),
    ("CD19 CAR-T cells deplete CD19+ B cells", facts(["CAR-T"], ["CD19"], None)),
    ("BCMA-CD19 dual CAR-T (GC012F) in MG", facts(["CAR-T"], ["CD19", "BCMA"], "autologous")),
    ("CD19/BCMA CAR-T cells", facts(["CAR-T"], ["CD19", "BCMA"], None)),
    ("Anti-CD20 CAR T cells", facts(["CAR-T"], ["CD20"], None)),
    ("CD22-directed CAR-T", facts(["CAR-T"], ["CD22"], None)),
    ("GPRC5D CAR-T in myeloma", facts(["CAR-T"], ["GPRC5D"], None)),
    ("CD38 CAR-T", facts(["CAR-T"], ["CD38"], None)),
    ("BAFF-R CAR-T cells for B-ALL", facts(["CAR-T"], ["BAFF-R"], None)),
    ("CAR T cells directed to B-cell maturation antigen", facts(["CAR-T"], ["BCMA"], None)),
    ("Unlike autologous CAR-T, allogeneic CAR-NK cells are off-the-shelf",
     facts(["CAR-NK"], [], "allogeneic")),
    ("CAR-Treg cells (TX200) in HLA-A2 mismatched kidney transplant recipients",
     facts(["CAR-Treg"], [], None)),
    ("Allogeneic hematopoietic stem cell transplantation with ATG",
     facts(["HSCT"], [], "allogeneic")),
    ("抗BCMA CAR-T细胞治疗难治性全身型重症肌无力", facts(["CAR-T"], ["BCMA"], None)),
    ("自体CD19 CAR-T细胞治疗系统性红斑狼疮", facts(["CAR-T"], ["CD19"], "autologous")),
    ("obecabtagene autoleucel in ALL", facts(["CAR-T"], [], "autologous")),  # INN stems
    ("S103 CAR-T cells", facts(["CAR-T"], ["BCMA"], None)),
])
def test_texts(text, expected):
    assert extract_from_texts([text]) == expected


def test_source_from_product_fields_before_the_summary():
    # the summary's "allogeneic" (a comparison) does not override the intervention's words
    got = extract_from_texts(["Autologous CD19 CAR-T cells"],
                             ["Allogeneic products are in development elsewhere."])
    assert got["cell_source"] == "autologous"
    assert extract_from_texts(["CD19 CAR-T cells"], ["Autologous T cells are collected."]) \
        == facts(["CAR-T"], ["CD19"], "autologous")
    # both named by the product fields: not one source
    assert extract_from_texts(["Autologous and New Donor CD7 CAR-T Cells"])["cell_source"] is None


@pytest.mark.parametrize("product", PRODUCTS, ids=[p.name for p in PRODUCTS])
def test_product_table(product):
    title = f"A Study of {product.name} in Refractory Myasthenia Gravis"
    if product.needs_cue:
        title += " (CAR-T)"
    got = extract_from_texts([title])
    assert got["modality"] == [product.modality]
    assert got["targets"] == [t for t in TARGETS if t in product.targets]
    assert got["cell_source"] == product.cell_source


def test_filter_helpers():
    assert normalise_modality("car-t") == normalise_modality("CART") == "CAR-T"
    assert normalise_modality("mrna car-t") == "mRNA CAR-T"
    assert normalise_modality("car nk") == "CAR-NK"
    assert normalise_modality("bogus") is None
    assert normalise_target("bcma") == "BCMA" and normalise_target("cd-19") == "CD19"
    assert normalise_target("Musk") == "MuSK" and normalise_target("baff r") == "BAFF-R"


def test_module_is_pure_stdlib():
    tree = ast.parse((ROOT / "extract" / "celltherapy.py").read_text(encoding="utf-8"))
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
             for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree)
              if isinstance(n, ast.ImportFrom) and n.module and not n.level}
    # its own room's siblings (absolute imports) are allowed; nothing third-party
    assert names - {"trialscope"} <= set(sys.stdlib_module_names) | {"__future__"}
