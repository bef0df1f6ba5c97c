"""Cell-therapy facts as data: modality, target antigens and cell source of a trial's product.

``extract_cell_therapy(record)`` reads what a trial says about its own intervention (titles,
acronym, keywords, interventions with their other names and descriptions, arms, summary and
description) and returns ``{"modality": [...], "targets": [...], "cell_source": ...}``, or
``{}`` when the trial is not a cell therapy.  It never reads eligibility text: "prior CAR-T
therapy" in an exclusion criterion says nothing about what the trial gives.  Pure, stdlib only.

Vocabulary (canonical spellings; lists come back in this order):

* modality: ``CAR-T``, ``mRNA CAR-T`` (Descartes-08, "RNA CAR-T", "rCAR-T"), ``CAR-NK``,
  ``CAAR-T`` (chimeric autoantibody receptor: MuSK-CAART, DSG3-CAART), ``TCR-T``, ``CAR-Treg``,
  ``HSCT`` (autologous / allogeneic haematopoietic stem cell transplantation), ``MSC``
  (mesenchymal stem / stromal cells).
* targets: ``CD19``, ``BCMA``, ``CD20``, ``CD22``, ``CD7``, ``CD38``, ``CD70``, ``GPRC5D``,
  ``MuSK``, ``BAFF-R``, ``DSG3``; "CD19-BCMA", "CD19/BCMA", "BCMA-CD19 dual" give both.
* cell_source: ``autologous``, ``allogeneic`` (also "universal", "UCAR-T", "off-the-shelf",
  "donor-derived", umbilical-cord or cord-blood cells) or ``None`` when the text does not say or
  says both (e.g. "Autologous and New Donor CD7 CAR-T Cells").

Why the rules are as they are:

* A mention in a history, failure or comparison context is not the trial's product: "relapsed
  after autologous stem cell transplantation", "prior anti-CD19 CAR-T", "previously treated
  with BCMA-directed therapy", "tocilizumab for CRS after CD19 CAR-T therapy", "CAR-T-related
  cytokine release syndrome", "unlike autologous CAR-T".  "prior to CAR-T cell infusion" (a
  step of the trial's own schedule) still counts.
* A target counts only next to a cell-therapy cue in the same sentence (a modality mention, a
  product code, "CAR", "chimeric", "-directed", "targeting") and not as a marker or an antibody
  ("CD19+ B cells", "CD7-positive malignancies", "anti-MuSK-antibody-positive MG").  So a MuSK+
  MG trial of a CD19 CAR-T does not get MuSK as a target, and rituximab ("anti-CD20") alone is
  no cell therapy.
* Targets and cell source are kept only when a modality was found: a bispecific antibody
  ("CD19/CD3") or a biologic (efgartigimod, eculizumab, rituximab) gives ``{}``.
* "mRNA CAR-T" is the more specific form of "CAR-T": when a trial is an mRNA CAR-T, its generic
  "CAR-T" mentions are not listed again (``MODALITY_PARENT``: the index files it under "CAR-T"
  too, so ``--modality CAR-T`` still finds it).
* "CAR-T" is matched as a token ("CAR-T", "CAR T", "CART19", "CAR+ T cells", "CAR-γδT"), never
  inside a word ("Descartes", "carta") and never as the word "car" ("car accident").
* The cell source comes first from the fields that name the product (titles, interventions,
  arms, keywords, and the product table below); the summary and description are read only
  when those say nothing.

Known products (``PRODUCTS``): a code or name in the text brings the product's facts, so
"GC012F injection" is a CD19+BCMA autologous CAR-T even where the text only names the code.
A generic-looking code (S103) counts only when the text also has a cell-therapy cue.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from trialscope.core.limits import clip
from trialscope.core.record import CellTherapy
from trialscope.extract.prefilter import Gate, fold, gate_set, has_key, passes, subset_regex

MODALITIES: tuple[str, ...] = ("CAR-T", "mRNA CAR-T", "CAR-NK", "CAAR-T", "TCR-T", "CAR-Treg",
                               "HSCT", "MSC")
TARGETS: tuple[str, ...] = ("CD19", "BCMA", "CD20", "CD22", "CD7", "CD38", "CD70", "GPRC5D",
                            "MuSK", "BAFF-R", "DSG3")
# A more specific modality and the broader one it is a kind of (for filters).
MODALITY_PARENT: dict[str, str] = {"mRNA CAR-T": "CAR-T"}


@dataclass(frozen=True)
class Product:
    """A known cell-therapy product and the facts it brings."""

    name: str                        # canonical short name
    pattern: str                     # its names, codes and aliases (case-insensitive)
    modality: str
    targets: tuple[str, ...]
    cell_source: str | None
    note: str = ""
    needs_cue: bool = False          # a generic-looking code: counts only beside a CAR/cell cue
    # Lower-case literals one of which every match of ``pattern`` contains: a field with none
    # of them is not searched for this product (extract/prefilter.py).  Empty: always searched.
    keys: tuple[str, ...] = ()


PRODUCTS: tuple[Product, ...] = (
    Product("Descartes-08", r"Desc?artes[-\s]?08", "mRNA CAR-T", ("BCMA",), "autologous",
            "Cartesian Therapeutics; mRNA-engineered BCMA CAR-T (rCAR-T), no lymphodepletion; "
            "registries also spell it 'Decartes-08'",
            keys=("artes08", "artes-08", "artes 08")),
    Product("GC012F", r"GC012F|AZD0120", "CAR-T", ("CD19", "BCMA"), "autologous",
            "Gracell / AstraZeneca (AZD0120); BCMA-CD19 dual-targeting, FasTCAR next-day "
            "manufacturing",
            keys=("gc012f", "azd0120")),
    Product("KYV-101", r"KYV[-\s]?101", "CAR-T", ("CD19",), "autologous",
            "Kyverna; fully human CD19 CAR (NIH construct)",
            keys=("kyv",)),
    Product("S103", r"S103", "CAR-T", ("BCMA",), None,
            "the product of NCT06958939, whose summary calls it 'BCMA CAR-T(S103)'; the "
            "registry does not say autologous or allogeneic", needs_cue=True,
            keys=("s103",)),
    Product("MuSK-CAART", r"MuSK[-\s]?CAAR[-\s]?T", "CAAR-T", ("MuSK",), "autologous",
            "Cabaletta Bio; chimeric autoantibody receptor T cells against anti-MuSK B cells",
            keys=("caar",)),
    Product("DSG3-CAART", r"DSG3[-\s]?CAAR[-\s]?T", "CAAR-T", ("DSG3",), "autologous",
            "Cabaletta Bio; desmoglein-3 CAAR T cells (pemphigus vulgaris)",
            keys=("caar",)),
    Product("CABA-201", r"CABA[-\s]?201|rese[-\s]?cel|resecabtagene\s+autoleucel", "CAR-T",
            ("CD19",), "autologous", "Cabaletta Bio; rese-cel, fully human 4-1BB CD19 CAR",
            keys=("caba", "resecel", "rese-cel", "rese cel", "resecabtagene")),
    Product("ide-cel", r"ide[-\s]?cel|idecabtagene\s+vicleucel|bb2121|Abecma", "CAR-T",
            ("BCMA",), "autologous", "bb2121, Abecma",
            keys=("idecel", "ide-cel", "ide cel", "idecabtagene", "bb2121", "abecma")),
    Product("cilta-cel", (r"cilta[-\s]?cel|ciltacabtagene\s+autoleucel|JNJ[-\s]?68284528"
                          r"|LCAR[-\s]?B38M|Carvykti"), "CAR-T", ("BCMA",), "autologous",
            "JNJ-68284528, LCAR-B38M, Carvykti",
            keys=("cilta", "68284528", "b38m", "carvykti")),
    Product("eque-cel", r"CT103A|eque[-\s]?cel|equecabtagene\s+autoleucel|Fucaso", "CAR-T",
            ("BCMA",), "autologous", "IASO Bio CT103A, Fucaso; trials in NMOSD and MG",
            keys=("ct103a", "equecel", "eque-cel", "eque cel", "equecabtagene", "fucaso")),
    Product("axi-cel", r"axi[-\s]?cel|axicabtagene\s+ciloleucel|KTE[-\s]?C19|Yescarta", "CAR-T",
            ("CD19",), "autologous", "KTE-C19, Yescarta",
            keys=("axicel", "axi-cel", "axi cel", "axicabtagene", "kte", "yescarta")),
    Product("brexu-cel", r"brexu[-\s]?cel|brexucabtagene\s+autoleucel|KTE[-\s]?X19|Tecartus",
            "CAR-T", ("CD19",), "autologous", "KTE-X19, Tecartus",
            keys=("brexu", "kte", "tecartus")),
    Product("tisa-cel", r"tisa[-\s]?cel|tisagenlecleucel|CTL019|Kymriah", "CAR-T", ("CD19",),
            "autologous", "CTL019, Kymriah",
            keys=("tisa", "ctl019", "kymriah")),
    Product("liso-cel", r"liso[-\s]?cel|lisocabtagene\s+maraleucel|JCAR017|Breyanzi", "CAR-T",
            ("CD19",), "autologous", "JCAR017, Breyanzi",
            keys=("liso", "jcar017", "breyanzi")),
)

_I = re.IGNORECASE
_L = r"(?<![A-Za-z0-9])"   # a token edge that also holds next to CJK text ("抗BCMA", "CAR-T细胞")
_R = r"(?![A-Za-z0-9])"

# (modality, pattern).  Specific forms first: a later match overlapping an earlier one is the
# same mention ("mRNA CAR-T" is not also a "CAR-T" mention, "CAR-NK" not a "CAR" one).
_MODALITY_PATTERNS: list[tuple[str, str]] = [
    ("CAR-Treg", r"CAR[-\s]?T[-\s]?regs?(?![A-Za-z])|CAR[-\s]?T[-\s]+regulatory"
                 r"|CAR[-\s]?(?:engineered\s+|modified\s+)?regulatory\s+T"
                 r"|chimeric\s+antigen\s+receptors?[-\s](?:\(CAR\)[-\s]?)?(?:engineered\s+"
                 r"|modified\s+|expressing\s+)?regulatory\s+T"
                 r"|regulatory\s+T[-\s]cells?\s+(?:expressing|engineered\s+with|transduced\s+with)"
                 r"\s+(?:an?\s+)?(?:chimeric\s+antigen\s+receptor|(?-i:CAR))"),
    ("CAR-NK", r"CAR[-\s]?NK(?![A-Za-z])|CAR[-\s]?(?:engineered\s+)?natural\s+killer"
               r"|chimeric\s+antigen\s+receptors?[-\s](?:\(CAR\)[-\s]?)?(?:engineered\s+"
               r"|modified\s+|expressing\s+)?(?:NK|natural\s+killer)"
               r"|(?:NK|natural\s+killer)[-\s]cells?\s+(?:expressing|engineered\s+(?:with|to\s+"
               r"express)|transduced\s+with|armed\s+with)\s+(?:an?\s+)?(?:[\w-]+\s+){0,3}?"
               r"(?:chimeric\s+antigen\s+receptor|(?-i:CAR))|嵌合抗原受体\s*(?:NK|自然杀伤)"),
    ("CAAR-T", r"CAAR[-\s]?T(?![A-Za-z])|CAARs?(?![A-Za-z])|chimeric\s+auto-?antibody\s+receptor"),
    ("mRNA CAR-T", r"m?RNA[-\s]+(?:based\s+|engineered\s+|modified\s+|transfected\s+)?"
                   r"(?:CAR[-\s]?T|chimeric\s+antigen\s+receptor\s+T)|rCAR[-\s]?T(?![A-Za-z])"),
    ("TCR-T", r"(?-i:TCR)[-\s]?T(?![A-Za-z])"
              r"|(?-i:TCR)[-\s]?(?:gene[-\s])?(?:engineered|transduced|modified|redirected)\s+"
              r"(?:autologous\s+)?T(?![A-Za-z])"
              r"|T[-\s]cell\s+receptors?[-\s]?(?:\((?-i:TCR)\)[-\s]?)?(?:gene[-\s])?"
              r"(?:engineered|transduced|modified|redirected)\s+(?:autologous\s+)?T(?![A-Za-z])"
              r"|T[-\s]?(?:cells?|lymphocytes?)\s+(?:transduced|engineered|modified)\s+(?:with|to"
              r"\s+express)\s+[^.;]{0,80}?(?:T[-\s]cell\s+receptors?|(?-i:TCRs?))(?![A-Za-z])"),
    ("CAR-T", r"CAR[-\s]+(?:\+\s*)?T(?:s)?(?![A-Za-z])|(?-i:CAR)\+\s*T(?![A-Za-z])"
              r"|CAR[-\s]?(?:γδ|gamma[-\s]?delta|DN|double[-\s]negative)[-\s]?T(?![A-Za-z])"
              r"|(?-i:U-?CAR[-\s]?T|UCART)(?![A-Za-z])"
              r"|(?-i:CARTs?)(?=[-\s]?(?:\d|BCMA|CD\s?\d|(?i:cells?|therap|treatment|infusion)))"
              r"|chimeric\s+antigen\s+receptors?|嵌合抗原受体"
              r"|(?-i:CARs?)(?![A-Za-z])"),                       # checked by _car_context
    ("HSCT", r"(?:(?:autologous|allogene?ic)\s+)?(?:ha?ematopoietic|blood|bone\s+marrow)\s+"
             r"(?:stem\s+|progenitor\s+)?(?:and\s+progenitor\s+)?cells?\s+(?:transplant\w*"
             r"|therapy|rescue|support)"
             r"|(?-i:(?:a|auto-?|allo-?)?HSCT|(?:auto-?|allo-?)?(?:ASCT|BMT))(?![A-Za-z])"
             r"|(?:(?:autologous|allogene?ic|peripheral\s+blood)\s+)?stem[-\s]cells?\s+"
             r"transplant\w*|bone\s+marrow\s+transplant\w*|造血干细胞移植|骨髓移植|干细胞移植"),
    ("MSC", r"mesenchymal\s+(?:stem|stromal|progenitor)(?:/stromal)?\s+cells?"
            r"(?:\s+transplant\w*)?|(?-i:(?:h?UC-|BM-|AD-)?MSCs?)(?![A-Za-z])"
            r"|间充质(?:干|基质)细胞"),
]
# Keyword gates (extract/prefilter.py) of the modality patterns: (the (?-i:...) literals as
# written, lower-case literals in fold(text)); every match of a pattern has one of them.
_MODALITY_GATES: dict[str, Gate] = {
    "CAR-Treg": ((), ("treg", "t-reg", "t reg", "regulatory")),
    "CAR-NK": ((), ("carnk", "-nk", " nk", ")nk", "nk-cell", "nk cell", "killer", "嵌合抗原受体")),
    "CAAR-T": ((), ("caar", "chimeric")),
    "mRNA CAR-T": ((), ("rna-", "rna ", "rcar")),
    "TCR-T": (("TCR",), ("receptor",)),
    "CAR-T": ((), ("car", "chimeric", "嵌合抗原受体")),
    "HSCT": (("HSCT", "ASCT", "BMT"), ("ematopoietic", "blood", "marrow", "transplant", "移植")),
    "MSC": (("MSC",), ("mesenchymal", "间充质")),
}
_MODALITY_RES = [(name, re.compile(_L + "(?:" + rx + ")", _I), _MODALITY_GATES[name])
                 for name, rx in _MODALITY_PATTERNS]

_TARGET_PATTERNS: list[tuple[str, str]] = [
    ("CD19", r"(?-i:CD)\s?-?19(?!\d)|(?-i:CART)-?19(?!\d)"),
    ("BCMA", r"(?-i:BCMA)\d*(?![A-Za-z])|B[-\s]?cells?\s+maturation\s+antigen|B细胞成熟抗原"),
    ("CD20", r"(?-i:CD)\s?-?20(?!\d)"),
    ("CD22", r"(?-i:CD)\s?-?22(?!\d)"),
    ("CD7", r"(?-i:CD)\s?-?7(?!\d)"),
    ("CD38", r"(?-i:CD)\s?-?38(?!\d)"),
    ("CD70", r"(?-i:CD)\s?-?70(?!\d)"),
    ("GPRC5D", r"(?-i:GPRC5D)"),
    ("MuSK", r"(?-i:MuSK|MUSK)(?![A-Za-z])|muscle[-\s]specific\s+(?:receptor\s+)?"
             r"(?:tyrosine\s+)?kinase"),
    ("BAFF-R", r"(?-i:BAFF)[-\s]?(?-i:R)(?![A-Za-z])|B[-\s]cell\s+activating\s+factor\s+receptor"),
    ("DSG3", r"(?-i:DSG)[-\s]?3(?!\d)|desmoglein[-\s]?3(?!\d)"),
]

_SOURCE_PATTERNS: list[tuple[str, str]] = [
    ("autologous", r"autolog\w*|autogolous|autogenous|(?-i:aHSCT|ASCT)(?![A-Za-z])|auto-?HSCT"
                   r"|patients?['’]?s?\s+own\s+(?:T[-\s]cells?|cells?|immune\s+cells?"
                   r"|white\s+blood\s+cells?|T\s+lymphocytes?)|patient-derived|autoleucel|自体"),
    ("allogeneic", r"allogene?ic|allo-?HSCT|(?-i:U-?CAR[-\s]?T|UCART)(?![A-Za-z])"
                   r"|universal\s+(?:[\w-]+\s+){0,2}?(?:CAR|T[-\s]cells?|cells?)"
                   r"|universal[-\s]CAR|off[-\s]the[-\s]shelf|donor[-\s]derived"
                   r"|(?:healthy|new|third[-\s]party|unrelated|haplo-?identical|matched)\s+donors?"
                   r"|umbilical\s+cord|cord[-\s]blood|(?-i:h?UC-MSCs?)"
                   r"|同种异体|异体|异基因|通用型|供者|脐带"),
]
_SOURCE_GATES: dict[str, Gate] = {  # as _MODALITY_GATES
    "autologous": (("aHSCT", "ASCT"), ("autolog", "autogolous", "autogenous", "autohsct",
                                        "auto-hsct", " own ", "patient-derived", "autoleucel",
                                        "自体")),
    "allogeneic": (("U-CAR", "UCAR", "UC-MSC"),
                   ("allogen", "allohsct", "allo-hsct", "universal", "shelf", "donor",
                    "umbilical", "cord-blood", "cord blood",
                    "异体", "异基因", "通用型", "供者", "脐带")),
}
_SOURCE_RES = [(name, re.compile(_L + "(?:" + rx + ")", _I), _SOURCE_GATES[name])
               for name, rx in _SOURCE_PATTERNS]

_PRODUCT_RES = [(p, re.compile(_L + "(?:" + p.pattern + ")" + _R, _I)) for p in PRODUCTS]
# All products and all targets in one regex each (named groups p0.., t0..).  A field is
# searched with the alternation of only those whose gates pass (_products_rx, _targets_rx),
# which finds what the whole one would.
_PRODUCT_BRANCHES = [f"(?P<p{i}>{p.pattern})" for i, p in enumerate(PRODUCTS)]
_PRODUCTS_RX = re.compile(_L + "(?:" + "|".join(_PRODUCT_BRANCHES) + ")" + _R, _I)
_products_rx = subset_regex(_PRODUCT_BRANCHES, _I, _L, _R)
_product_gates = gate_set([((), p.keys or ("",)) for p in PRODUCTS])  # "": always searched
# Whether the texts have a cell-therapy cue matters only to these products (S103).
_CUE_PRODUCT_KEYS = tuple(k for p in PRODUCTS if p.needs_cue for k in p.keys)
_TARGET_BRANCHES = [f"(?P<t{i}>{rx})" for i, (_, rx) in enumerate(_TARGET_PATTERNS)]
_TARGETS_RX = re.compile(_L + "(?:" + "|".join(_TARGET_BRANCHES) + ")", _I)
_targets_rx = subset_regex(_TARGET_BRANCHES, _I, _L)
_TARGET_GATES: list[Gate] = [  # per _TARGET_PATTERNS entry, as _MODALITY_GATES
    (("CD", "CART"), ()), (("BCMA",), ("maturation", "细胞成熟抗原")), (("CD",), ()),
    (("CD",), ()), (("CD",), ()), (("CD",), ()), (("CD",), ()), (("GPRC5D",), ()),
    (("MuSK", "MUSK"), ("muscle",)), (("BAFF",), ("activating",)), (("DSG",), ("desmoglein",))]
_target_gates = gate_set(_TARGET_GATES)
# A field without any of these words has no modality mention: skip the costly patterns.  This
# regex defines the test; _quick() computes it without a case-insensitive scan: the
# case-sensitive words as written, the plain words in fold(text), the two patterns with a
# separator on fold(text) (letters lower-cased, every whitespace a space, same length), so
# _quick(text, fold(text)) == bool(_QUICK.search(text)) (tests/test_prefilter.py).
_QUICK = re.compile(r"(?-i:CARs?|CAAR|TCR|HSCT|ASCT|BMT|MSCs?|CART)|car[-\s]+t|chimeric|stem[-\s]"
                    r"cells?|mesenchymal|marrow|receptor|cabtagene|嵌合|干细胞|移植", _I)
_QUICK_RAW = ("CAR", "CAAR", "TCR", "HSCT", "ASCT", "BMT", "MSC")  # CARs?, CART, MSCs?
_QUICK_WORDS = ("chimeric", "mesenchymal", "marrow", "receptor", "cabtagene", "嵌合", "干细胞",
                "移植")
_QUICK_LOW = re.compile(r"car[-\s]+t|stem[-\s]cell")
_CUE = re.compile(r"(?-i:CARs?|CAAR|TCR|CART)|car[-\s]+t|chimeric|嵌合", _I)
# "…cabtagene autoleucel": the INN stem of every CAR-T product; "autoleucel" says autologous.
_INN_CAR = re.compile(_L + r"[a-z]+cabtagene(?:\s+(?P<auto>autoleucel)|\s+[a-z]+leucel)?" + _R, _I)

# A mention that is history, failure or comparison: the cue then at most four words.
_NEG_BEFORE = re.compile(
    r"(?:\b(?:prior(?!\s+to\b)|previous(?:ly)?|history\s+of|after|(?<!the\s)following|post"
    r"|failed|failure\s+(?:of|to|on|with)|refractory\s+to|resistant\s+to|relapsed\s+(?:after"
    r"|following|on|post)|progress\w*\s+(?:after|on|following)|exclud\w*|ineligible\s+for"
    r"|not\s+eligible\s+for|unsuitable\s+for|unlike|instead\s+of)\b)"
    r"(?:[\s/()-]+[^\s.;:,()]+){0,4}?[\s/()-]*$"
    r"|(?:既往|曾经?|之前)[^。；;，,]{0,10}$", _I)
_NEG_AFTER = re.compile(
    r"^[\s-]*(?:(?:cells?|therapy|therapies|treatment|infusions?|products?)[\s-]+)*"
    r"(?:(?:associated|related|induced)[\s-]+(?:[\w-]+\s+){0,2}?(?:CRS|cytokine|toxicit|neurotox"
    r"|ICANS|adverse|HLH|syndrome|complication)|(?:failure|relapse|naive|naïve|exposed"
    r"|experienced|refractory)\b)"
    r"|^[^。；;，,]{0,6}史", _I)
# A target that is a marker or an antibody here, not what the cells are aimed at.
_MARKER_AFTER = re.compile(  # used with .match(text, end): anchored at the end of the target
    r"(?:\s*\+|[\s-]*(?:positive|negative|expressing|expression|expressed|counts?|levels?"
    r"|antibod\w*|Ab\b|IgG|autoantibod\w*|myasthenia|MG\b|B[-\s]?cells?|plasma\s+cells?"
    r"|malignanc\w*|lymphoma|leukemia|leukaemia|monoclonal|mAb))", _I)
# Cues that make a target mention a cell-therapy target.
_TARGET_CUE = re.compile(r"(?-i:CARs?|CAAR|TCR)|chimeric|[-\s]directed|targeting|targeted"
                         r"|[-\s]specific|dual|bispecific|tandem|嵌合|靶向", _I)
# Words that show a bare "CAR" is about engineered cells, and words that show a CAR is not
# on a T cell (those forms have their own patterns) or not in a cell at all.
_CAR_CONTEXT = re.compile(r"T[-\s]?(?:cells?|lymphocytes?)|cells?\b|infusion|transduc|lenti"
                          r"|retrovir|vector|construct|CAR\s*\+|therap|product|细胞", _I)
_NOT_T_AFTER = re.compile(r"^[^.;]{0,40}?(?:\bNK\b|natural\s+killer|regulatory\s+T|Tregs?\b"
                          r"|macrophage)|^[\s-]*(?:[\w-]+\s+)?gene\s+(?:vector|therap)", _I)
_NOT_T_BEFORE = re.compile(r"(?:\bNK|natural\s+killer|macrophages?|inhibitory|in\s+vivo)"
                           r"[^.;]{0,40}$", _I)
_MSC_BEFORE = re.compile(r"(?:mesenchymal|stromal|MSCs?|umbilical\s+cord|adipose|间充质)"
                         r"[^.;]{0,25}$", _I)
_SENTENCE = re.compile(r"(?<=[.;!?。；])\s+|\n+")
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")  # CT.gov Markdown: "\-" is "-"

# Which record fields name the product (tier 1) and which only describe the study (tier 2).
_TIER1 = ("title", "official_title", "acronym")
_TIER2 = ("summary", "description")


def _alternative(m: re.Match[str]) -> int:
    """Which alternative ``_<n>`` of a pattern made of named groups matched."""
    name = m.lastgroup
    assert name is not None  # every alternative is a named group
    return int(name[1:])


def _clean(text: str) -> str:
    if "&" in text:
        text = html.unescape(text)
    return _ESCAPE.sub(r"\1", text).replace("\xa0", " ")


def _negated(text: str, start: int, end: int) -> bool:
    """Is the mention at ``text[start:end]`` history, failure, toxicity or comparison?"""
    head = text[max(0, start - 80):start]
    cut = max(head.rfind(". "), head.rfind(";"), head.rfind("\n"), head.rfind("。"))
    head = head[cut + 1:] if cut >= 0 else head
    return bool(_NEG_BEFORE.search(head) or _NEG_AFTER.search(text[end:end + 60]))


@dataclass
class _Facts:
    modalities: set[str]
    targets: set[str]
    sources: set[str]
    products: set[str]


def _sentences(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for m in _SENTENCE.finditer(text):
        spans.append((start, m.start()))
        start = m.end()
    return spans + [(start, len(text))]


def _modality_mentions(text: str, low: str) -> list[tuple[str, int, int]]:
    taken: list[tuple[int, int]] = []
    found: list[tuple[str, int, int]] = []
    for name, rx, gate in _MODALITY_RES:
        if not passes(gate, text, low):
            continue  # cannot match, so takes no span a later pattern would overlap
        for m in rx.finditer(text):
            a, b = m.span()
            if any(a < y and x < b for x, y in taken):
                continue  # the same words as a more specific mention
            taken.append((a, b))
            if name == "HSCT" and _MSC_BEFORE.search(text[max(0, a - 40):a]):
                continue  # "mesenchymal stem cells transplantation" is an MSC therapy
            if name == "CAR-T" and not _car_is_t_cell(text, m):
                continue
            if not _negated(text, a, b):
                found.append((name, a, b))
    return found


def _car_is_t_cell(text: str, m: re.Match[str]) -> bool:
    """A bare "CAR" or "chimeric antigen receptor" is a CAR-T mention unless the words around
    it put the receptor on NK cells, Tregs or macrophages or in a gene vector; a bare "CAR"
    also needs cells (or a target) nearby, so "CAR" as another acronym is not a CAR-T."""
    word = m.group()
    if not re.fullmatch(r"CARs?|chimeric\s+antigen\s+receptors?|嵌合抗原受体", word, _I):
        return True  # an explicit CAR-T form
    if _NOT_T_AFTER.search(text[m.end():m.end() + 60]) or _NOT_T_BEFORE.search(
            text[max(0, m.start() - 60):m.start()]):
        return False
    if word.upper().startswith("CAR"):
        near = text[max(0, m.start() - 40):m.end() + 40]
        return bool(_CAR_CONTEXT.search(near) or _TARGETS_RX.search(near))
    return True


def _product_mentions(text: str, low: str, cue: bool) -> list[tuple[Product, int, int]]:
    out: list[tuple[Product, int, int]] = []
    gated = _product_gates(text, low)
    for m in _products_rx(gated).finditer(text) if gated else ():
        product = PRODUCTS[_alternative(m)]
        if product.needs_cue and not cue:
            continue
        if not _negated(text, m.start(), m.end()):
            out.append((product, m.start(), m.end()))
    if "cabtagene" not in low:
        return out
    for m in _INN_CAR.finditer(text):
        if not any(rx.fullmatch(m.group()) for _, rx in _PRODUCT_RES) and not _negated(
                text, m.start(), m.end()):
            out.append((Product(m.group(), "", "CAR-T", (), "autologous" if m.group("auto")
                                else None), m.start(), m.end()))
    return out


def _read(text: str, low: str, cue: bool) -> _Facts:
    """The facts one field states; ``text`` is ``_clean``-ed, ``low`` is ``fold(text)``."""
    facts = _Facts(set(), set(), set(), set())
    quick = _quick(text, low)
    modal = _modality_mentions(text, low) if quick else []
    products = _product_mentions(text, low, cue)
    for name, _, _ in modal:
        facts.modalities.add(name)
    for product, _, _ in products:
        facts.modalities.add(product.modality)
        facts.targets.update(product.targets)
        facts.products.add(product.name)
        if product.cell_source:
            facts.sources.add(product.cell_source)
    anchors = [(a, b) for _, a, b in modal] + [(a, b) for _, a, b in products]
    sentences: list[tuple[int, int]] = []
    gated = _target_gates(text, low) if anchors else ()
    for m in _targets_rx(gated).finditer(text) if gated else ():
        a, b = m.span()
        sentences = sentences or _sentences(text)  # never empty once computed
        s0, s1 = next(s for s in sentences if s[0] <= a <= s[1])
        near = [(x, y) for x, y in anchors if s0 <= x < s1]
        if not near or _MARKER_AFTER.match(text, b) or _negated(text, a, b):
            continue
        close = any(abs(a - y) <= 100 or abs(x - b) <= 100 for x, y in near)
        if close or _TARGET_CUE.search(text[max(s0, a - 40):min(s1, b + 40)]):
            facts.targets.add(_TARGET_PATTERNS[_alternative(m)][0])
    for name, rx, gate in _SOURCE_RES:
        for m in rx.finditer(text) if passes(gate, text, low) else ():
            if not _negated(text, m.start(), m.end()):
                facts.sources.add(name)
    return facts


def _quick(text: str, low: str) -> bool:
    """``bool(_QUICK.search(text))``, faster (``low`` is ``fold(text)``)."""
    return (has_key(text, _QUICK_RAW) or has_key(low, _QUICK_WORDS)
            or _QUICK_LOW.search(low) is not None)


def _may_state_modality(text: str, low: str) -> bool:
    """Could ``_read`` find a modality in any of the texts joined in ``text`` (``low``:
    their ``fold``-ed forms, joined the same way)?  A modality comes from a mention, which
    needs ``_quick``, or from a product, which needs a product gate ("cabtagene", the INN
    stem, is one of ``_quick``'s words).  Both are substring tests and one short regex with
    no anchors, so what one text passes the joined texts pass too: False means every
    ``_read`` would have found no modality."""
    return _quick(text, low) or bool(_product_gates(text, low))


def _cue_matters(lows: list[str]) -> bool:
    """The cue only decides whether an S103-like code counts: look for one only when a field
    (``fold``-ed) may name such a product."""
    return any(has_key(low, _CUE_PRODUCT_KEYS) for low in lows)


def _has_cue(texts: Iterable[str]) -> bool:
    return any(_CUE.search(t) for t in texts)


def extract_from_texts(primary: Iterable[str | None],
                       secondary: Iterable[str | None] = ()) -> CellTherapy:
    """Cell-therapy facts from free text.  ``primary`` texts name the product (titles,
    intervention names and descriptions, arms, keywords), ``secondary`` texts describe the
    study (summary, description); the cell source is taken from ``secondary`` only when
    ``primary`` states none.  Returns ``{}`` when no modality is found."""
    # Each text read up to MAX_EXTRACT_CHARS: the mention pass is quadratic in the mentions
    # of a text (core/limits.py).
    first = [clip(t) for t in primary if t]
    second = [clip(t) for t in secondary if t]
    clean = [_clean(t) for t in first + second]
    lows = [fold(t) for t in clean]
    if not _may_state_modality("\n".join(clean), "\n".join(lows)):
        return {}  # most studies: no text names a modality or a product
    cue = _cue_matters(lows) and _has_cue(first + second)
    read = [_read(t, low, cue) for t, low in zip(clean, lows)]
    read1, read2 = read[:len(first)], read[len(first):]
    modalities = {m for f in read1 + read2 for m in f.modalities}
    if not modalities:
        return {}
    if "mRNA CAR-T" in modalities:
        modalities.discard("CAR-T")
    targets = {t for f in read1 + read2 for t in f.targets}
    sources = {s for f in read1 for s in f.sources} or {s for f in read2 for s in f.sources}
    return {
        "modality": [m for m in MODALITIES if m in modalities],
        "targets": [t for t in TARGETS if t in targets],
        "cell_source": next(iter(sources)) if len(sources) == 1 else None,
    }


def record_texts(record: Any) -> tuple[list[str], list[str]]:
    """The (primary, secondary) texts of a TrialRecord, as ``extract_from_texts`` wants them."""
    primary: list[str] = [getattr(record, f, None) or "" for f in _TIER1]
    primary += list(getattr(record, "keywords", None) or [])
    for iv in getattr(record, "interventions", None) or []:
        primary += [iv.get("name") or "", iv.get("description") or ""]
        primary += list(iv.get("other_names") or [])
    for arm in getattr(record, "arms", None) or []:
        primary += [arm.get("label") or "", arm.get("description") or ""]
    secondary = [getattr(record, f, None) or "" for f in _TIER2]
    return [t for t in primary if t], [t for t in secondary if t]


def extract_cell_therapy(record: Any) -> CellTherapy:
    """``{"modality": [...], "targets": [...], "cell_source": "autologous" | "allogeneic" |
    None}`` for a cell-therapy trial, ``{}`` otherwise.  Reads the record's titles, acronym,
    keywords, interventions (names, other names, descriptions), arms, summary and description;
    never its eligibility criteria."""
    primary, secondary = record_texts(record)
    return extract_from_texts(primary, secondary)


# -- helpers for filters (search / CLI) -------------------------------------------------------

_MODALITY_ALIASES = {re.sub(r"[^a-z0-9]", "", m.lower()): m for m in MODALITIES}
_MODALITY_ALIASES.update({"cart": "CAR-T", "cartcell": "CAR-T", "cartcells": "CAR-T",
                          "rnacart": "mRNA CAR-T", "rcart": "mRNA CAR-T", "carnk": "CAR-NK",
                          "caart": "CAAR-T", "caar": "CAAR-T", "tcr": "TCR-T",
                          "cartreg": "CAR-Treg", "treg": "CAR-Treg", "sct": "HSCT",
                          "stemcelltransplant": "HSCT", "msc": "MSC", "mscs": "MSC",
                          "mesenchymal": "MSC"})
_TARGET_ALIASES = {re.sub(r"[^a-z0-9]", "", t.lower()): t for t in TARGETS}
_TARGET_ALIASES.update({"bcellmaturationantigen": "BCMA", "baffr": "BAFF-R",
                        "desmoglein3": "DSG3"})


def normalise_modality(name: str) -> str | None:
    """'car-t', 'CART', 'mrna car-t', 'car nk' -> the canonical modality, or None."""
    return _MODALITY_ALIASES.get(re.sub(r"[^a-z0-9]", "", (name or "").lower()))


def normalise_target(name: str) -> str | None:
    """'bcma', 'cd-19', 'Musk', 'baff r' -> the canonical target, or None."""
    return _TARGET_ALIASES.get(re.sub(r"[^a-z0-9]", "", (name or "").lower()))
