"""The measure table: one row per eligibility measure, read by every place that needs one.

``extract/thresholds.py`` finds a row's spellings in criteria text and keeps a limit only in a
unit the row accepts; ``extract/fit.py`` reads ``--where MEASURE=VALUE`` through ``lookup`` and
``suggest``; ``cli/render.py`` prints a limit with ``describe``.  Adding a measure is one row.

A row says:

* ``name``: the canonical name (fixtures/labelled/RULES-thresholds-v2.md §3);
* ``kind``: its family (age, scale, class, vital, lab, duration, count);
* ``pattern``: the spellings, a regex; acronyms are case-sensitive ("ALT" is not "alt", "AST"
  not "last"), words go in ``(?i:...)``;
* ``gate``: literals one of which every match contains (``extract/prefilter.py``): (as written,
  in ``fold(text)``);
* ``units``: the units a limit may be written in, canonical first; ``None`` is "no unit";
  a unit in ``parser.units.CONVERT`` that leads to one of them is converted;
* ``default``: the unit a bare number has (eGFR, creatinine clearance);
* ``lo``/``hi``: the range a value must be in (a score's scale; a plausibility bound);
* ``members``: the classes of a class scale, in order;
* ``floor``: whether inclusion criteria set a floor on it (used when an export lost the sign).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

_I = "(?i:{})".format


@dataclass(frozen=True)
class Measure:
    name: str
    kind: str
    pattern: str
    gate: tuple[tuple[str, ...], tuple[str, ...]]
    units: tuple[str | None, ...] = (None,)
    default: str | None = None
    lo: float = 0.0
    hi: float = float("inf")
    members: tuple[str, ...] = ()
    floor: bool = False
    aliases: tuple[str, ...] = field(default=())  # extra names accepted by --where


_COUNT = ("×10^9/L",)
_TIME = ("years", "months", "weeks", "days")
_LIVER = ("xULN", "U/L")
_BILI = ("mg/dL", "µmol/L", "xULN")
MEASURES: tuple[Measure, ...] = (
    # -- myasthenia gravis scales (the project's first vocabulary) --------------------------
    Measure("MG-ADL", "scale",
            r"MG[-\s]?ADL|" + _I(r"myasthenia\s+gravis[-\s]+activities\s+of\s+daily\s+living"),
            (("ADL",), ("myasthenia",)), (None,), hi=24, floor=True),
    Measure("QMG", "scale", r"QMG|" + _I(r"quantitative\s+myasthenia\s+gravis"),
            (("QMG",), ("quantitative",)), (None,), hi=39, floor=True),
    Measure("MGC", "scale", r"MGC|" + _I(r"(?:MG|myasthenia\s+gravis)\s+composite"),
            (("MGC",), ("composite",)), (None,), hi=50, floor=True),
    Measure("MG-QoL15r", "scale", _I(r"MG[-\s]?QO?L[-\s]?15[-\s]?r?"), ((), ("qol", "ql")),
            (None,), hi=30, floor=True),
    Measure("ocular share", "scale",
            _I(r"musculi\s+oculi\s+related\s+score|ocular\s+(?:muscle\s+)?(?:sub)?score"),
            ((), ("ocul",)), ("%",), default="%", hi=100),
    # -- performance and functional scales ---------------------------------------------------
    Measure("Karnofsky", "scale",
            r"KPS|" + _I(r"karnofsky(?:\s+performance)?(?:\s+(?:status|score|scale|index))?"
                         r"(?:\s*\((?:KPS|PS)\))?"),
            (("KPS",), ("karnofsky",)), (None,), hi=100, floor=True, aliases=("KPS",)),
    Measure("Lansky", "scale",
            _I(r"lansky(?:\s+play[-\s]performance)?(?:\s+(?:status|score|scale))?"),
            ((), ("lansky",)), (None,), hi=100, floor=True),
    Measure("ECOG", "scale",
            r"ECOG(?:\s*[-/]?\s*PS)?(?:\s+performance\s+(?:status|score))?(?:\s*\((?:PS)\))?"
            r"|Zubrod|" + _I(r"eastern\s+cooperative\s+oncology\s+group(?:\s*\(ECOG\))?"
                             r"(?:\s+performance\s+(?:status|score))?(?:\s*\((?:ECOG\s*)?PS\))?"
                             r"|WHO\s+performance\s+status|performance\s+status(?:\s*\(PS\))?"),
            (("ECOG", "Zubrod"), ("eastern", "performance")), (None,), hi=5,
            aliases=("WHO performance status", "Zubrod", "PS")),
    Measure("NYHA class", "class",
            r"NYHA|" + _I(r"new\s+york\s+heart\s+association|WHO\s+functional\s+class"),
            (("NYHA",), ("york", "functional")), (None,),
            members=("I", "II", "III", "IV"), aliases=("NYHA",)),
    Measure("Child-Pugh", "class", _I(r"child[-\s]?pugh(?:[-\s]turcotte)?"), ((), ("pugh",)),
            (None,), members=("A", "B", "C"), aliases=("Child-Pugh class", "Child-Pugh score")),
    Measure("PND stage", "class",
            r"PND|" + _I(r"polyneuropathy\s+disability"), (("PND",), ("polyneuropathy",)),
            (None,), members=("I", "II", "IIIa", "IIIb", "IV"), aliases=("PND",)),
    Measure("Coutinho stage", "class", _I(r"coutinho|FAP\s+stage"), ((), ("coutinho", "fap")),
            (None,), members=("1", "2", "3"), aliases=("FAP stage",)),
    Measure("mRS", "scale", r"mRS|" + _I(r"modified\s+rankin(?:\s+(?:scale|score))?"),
            (("mRS",), ("rankin",)), (None,), hi=6),
    Measure("EDSS", "scale", r"EDSS|" + _I(r"expanded\s+disability\s+status\s+scale"),
            (("EDSS",), ("expanded",)), (None,), hi=10),
    Measure("MMSE", "scale", r"MMSE|" + _I(r"mini[-\s]mental\s+state(?:\s+exam\w*)?"),
            (("MMSE",), ("mental",)), (None,), hi=30, floor=True),
    Measure("MoCA", "scale", r"MoCA|" + _I(r"montreal\s+cognitive\s+assessment"),
            (("MoCA",), ("montreal",)), (None,), hi=30, floor=True),
    Measure("HAM-D", "scale", r"HAM-?D(?:-?(?:17|21|24))?|HDRS|HRSD|" + _I(r"hamilton\s+depression"
                                                           r"(?:\s+rating)?(?:\s+scale)?"),
            (("HAM", "HDRS", "HRSD"), ("hamilton",)), (None,), hi=60, floor=True),
    Measure("MADRS", "scale", r"MADRS", (("MADRS",), ()), (None,), hi=60, floor=True),
    Measure("PANSS", "scale", r"PANSS(?:\s+total)?", (("PANSS",), ()), (None,), hi=210,
            floor=True),
    Measure("CGI-S", "scale",
            r"CGI-?S|" + _I(r"clinical\s+global\s+impressions?\s*[-–:]?\s*(?:of\s+)?severity"
                            r"(?:\s+of\s+illness)?(?:\s+(?:scale|score))?"),
            (("CGI",), ("severity",)), (None,), hi=7, floor=True),
    Measure("BPRS", "scale", r"BPRS", (("BPRS",), ()), (None,), hi=126, floor=True),
    Measure("YMRS", "scale", r"YMRS", (("YMRS",), ()), (None,), hi=60, floor=True),
    Measure("CDR", "scale", r"CDR(?![-\s]?SB)|" + _I(r"clinical\s+dementia\s+rating(?!\s+sum)"
                                                      r"(?:\s*\(CDR\))?"),
            (("CDR",), ("dementia",)), (None,), hi=3),
    Measure("GCS", "scale", r"GCS|" + _I(r"glasgow\s+coma\s+scale"), (("GCS",), ("glasgow",)),
            (None,), lo=3, hi=15, floor=True),
    # -- vitals and body ---------------------------------------------------------------------
    Measure("systolic BP", "vital", r"SBP|" + _I(r"systolic(?:\s+blood\s+pressure|\s+BP)?"),
            (("SBP",), ("systolic",)), ("mmHg",), default="mmHg", hi=300,
            aliases=("systolic", "SBP")),
    Measure("diastolic BP", "vital",
            r"DBP|" + _I(r"diastolic(?:\s+blood\s+pressure|\s+BP)?"),
            (("DBP",), ("diastolic",)), ("mmHg",), default="mmHg", hi=200,
            aliases=("diastolic", "DBP")),
    Measure("blood pressure", "vital", r"BP|" + _I(r"blood\s+pressure"),
            (("BP",), ("pressure",)), ("mmHg",), default="mmHg", hi=300),
    Measure("heart rate", "vital",
            r"HR|" + _I(r"(?:resting\s+)?heart\s+rate|pulse(?:\s+rate)?"),
            (("HR",), ("heart", "pulse")), ("bpm",), default="bpm", hi=300,
            aliases=("HR", "pulse")),
    Measure("QTc", "vital",
            r"QTc\s*[FB]?\b|" + _I(r"(?:corrected\s+)?QT\s+interval\s+corrected(?:\s+for\s+heart"
                                    r"\s+rate)?(?:\s+(?:by|using)\s+(?:Fridericia|Bazett)(?:'s)?"
                                    r"(?:\s+formula)?)?(?:\s*\(QTc[FB]?\))?(?:\s+interval)?"
                                    r"|corrected\s+QT(?:\s+interval)?(?:\s*\(QTc[FB]?\))?"
                                    r"(?:\s+interval)?"),
            (("QTc",), ("qt",)), ("ms",), default="ms", lo=200, hi=1000,
            aliases=("QTcF", "QTcB")),
    Measure("birth weight", "vital", _I(r"birth\s*weight"), ((), ("birth",)), ("g",), hi=10000,
            floor=True),
    Measure("weight", "vital",
            _I(r"(?:body\s*)?weigh(?:t|s|ing)?(?!\s+(?:loss|gain|change|management|reduction"
               r"|bearing|-?based))"),
            ((), ("weigh",)), ("kg",), hi=500, floor=True, aliases=("body weight",)),
    Measure("BMI", "vital", r"BMI|" + _I(r"body\s+mass\s+index"), (("BMI",), ("mass",)),
            ("kg/m2",), default="kg/m2", lo=5, hi=100),
    Measure("height", "vital", _I(r"(?:body\s+)?height|stature"), ((), ("height", "stature")),
            ("cm",), lo=20, hi=260),
    Measure("gestational age", "vital", _I(r"gestational\s+age") + r"|GA",
            (("GA",), ("gestational",)), ("weeks",), default="weeks", lo=20, hi=45),
    Measure("6MWD", "vital",
            r"6MW[DT]|" + _I(r"(?:6|six)[-\s]?min(?:ute)?s?\s+walk(?:ing)?(?:\s+(?:test|distance))?"
                             r"(?:\s*\(6MW[DT]\))?(?:\s+distance)?|distance\s+walked"),
            (("6MW",), ("walk",)), ("m",), hi=2000, floor=True, aliases=("6MWT",)),
    Measure("LVEF", "vital",
            r"LVEF|" + _I(r"(?:left\s+ventricular\s+)?ejection\s+fraction(?:\s*\(L?VEF\))?"
                          r"|left\s+ventricular\s+EF\b"),
            (("LVEF",), ("ejection", "ventricular")), ("%",), default="%", hi=100, floor=True,
            aliases=("EF", "ejection fraction")),
    Measure("FEV1/FVC", "vital", r"FEV\s*[1₁]\s*/\s*FVC(?:\s+ratio)?", (("FEV",), ()),
            ("%", None), hi=100),
    Measure("FEV1", "vital",
            r"(?:(?:pre|post)[-\s]?(?:BD|bronchodilator)\s+)?FEV\s*[1₁]|" + _I(
                r"forced\s+expiratory\s+volume\s+in\s+(?:1|one)\s+second"),
            (("FEV",), ("forced",)), ("% predicted", "L"), default="% predicted", hi=200,
            floor=True),
    Measure("FVC", "vital", r"FVC|" + _I(r"forced\s+vital\s+capacity"), (("FVC",), ("vital",)),
            ("% predicted", "L"), default="% predicted", hi=200, floor=True),
    Measure("oxygen saturation", "vital",
            r"Sp[Oo][2₂]|Sa[Oo][2₂]|" + _I(r"(?:oxygen|O2)\s+saturation|pulse\s+oximetry"),
            (("SpO", "Spo", "SaO", "Sao"), ("saturation", "oximetry")), ("%",), default="%",
            hi=100, floor=True, aliases=("SpO2",)),
    Measure("PaO2/FiO2", "vital", r"PaO2\s*/\s*FiO2|P/F\s+ratio", (("PaO2", "P/F"), ()),
            ("mmHg",), default="mmHg", hi=700, floor=True),
    Measure("body temperature", "vital", _I(r"(?:body\s+)?temperature"), ((), ("temperature",)),
            ("°C",), lo=30, hi=45),
    # -- laboratory: the first list (order matters: longer spellings first) ---------------
    Measure("UACR", "lab",
            r"UACR|uACR|ACR|" + _I(r"(?:urin(?:e|ary)\s+)?albumin[-\s]*(?:to[-\s]*|/\s*|\s)"
                                   r"creatinine\s+ratio"),
            (("ACR",), ("albumin",)), ("mg/g", "mg/mmol"), default="mg/g"),
    Measure("UPCR", "lab",
            r"UPCR|uPCR|" + _I(r"(?:urin(?:e|ary)\s+)?protein(?:\s*\(albumin\))?[-\s]*"
                               r"(?:to[-\s]*|/\s*)?creatinine\s+ratio"),
            (("PCR",), ("protein",)), ("mg/g", "g/g", "mg/mmol", None)),
    Measure("creatinine clearance", "lab", r"CrCl|CLcr|" + _I(r"[ck]reatinine\s+clear[ae]nce"),
            (("CrCl", "CLcr"), ("reatinine",)), ("mL/min", "mL/min/1.73m2"), default="mL/min",
            hi=500, floor=True, aliases=("CrCl",)),
    Measure("eGFR", "lab",
            r"eGFR|GFR|Egfr|" + _I(r"(?:estimated\s+)?glomerular\s+filtration\s+rate"),
            (("GFR", "Egfr"), ("glomerular",)), ("mL/min/1.73m2", "mL/min"),
            default="mL/min/1.73m2",
            hi=500, floor=True, aliases=("GFR",)),
    Measure("creatinine", "lab", r"SCr|Cr|" + _I(r"(?:serum\s+)?[ck]reatinine(?!\s+kinase)"),
            (("SCr", "Cr"), ("reatinine",)), ("mg/dL", "µmol/L", "xULN"), default=None,
            aliases=("serum creatinine",)),
    Measure("ALT", "lab", r"ALT|SGPT|" + _I(r"alanine\s+(?:amino\s*)?trans(?:aminase|ferase)s?"
                                            r"|serum\s+glutamic[-\s]pyruvic\s+transaminase"),
            (("ALT", "SGPT"), ("alanine", "glutamic")), _LIVER),
    Measure("AST", "lab", r"AST|SGOT|" + _I(r"aspartate\s+(?:amino\s*)?trans(?:aminase|ferase)s?"
                                            r"|serum\s+glutamic[-\s]oxal(?:o)?acetic\s+"
                                            r"transaminase"),
            (("AST", "SGOT"), ("aspartate", "glutamic")), _LIVER),
    Measure("ALT+AST", "lab", _I(r"(?:(?:hepatic|liver)\s+)?(?:amino)?transaminases?"
                                 r"|aminotransferases|(?:liver|hepatic)\s+enzymes?"),
            ((), ("transaminase", "aminotransferase", "liver", "hepatic")), _LIVER),
    Measure("direct bilirubin", "lab", _I(r"(?:direct|conjugated)\s+bilirubin"),
            ((), ("bilirubin",)), _BILI),
    Measure("bilirubin", "lab", _I(r"(?:(?:total|serum)\s+)*bilirubin") + r"|TBIL|TBL",
            (("TBIL", "TBL"), ("bilirubin",)), _BILI),
    Measure("platelets", "lab",
            r"PLTs?|Plts?|" + _I(r"platelets?(?:\s+counts?)?|thrombocytes?|thrombocytopenia"),
            (("PLT", "Plt"), ("platelet", "thrombocyte", "thrombocytopenia")), _COUNT,
            floor=True),
    Measure("neutrophils", "lab",
            r"ANC|" + _I(r"(?:absolute\s+)?(?:neutrophils?|granulocytes?)(?:\s+counts?)?"
                         r"|neutropenia"),
            (("ANC",), ("neutrophil", "granulocyte", "neutropenia")), _COUNT, floor=True,
            aliases=("ANC",)),
    Measure("HbA1c", "lab",
            r"HbA1[cC]|A1[cC]\b|" + _I(r"glyc(?:at|osylat)ed\s+ha?emoglobin(?:\s+A1c)?"
                                       r"|ha?emoglobin\s+A1c"),
            (("A1c", "A1C"), ("glyc", "a1c")), ("%", "mmol/mol", None), default="%",
            aliases=("A1c",)),
    Measure("haemoglobin", "lab", r"Hg?b|HGB|HB|" + _I(r"ha?emoglobin"),
            (("Hb", "Hgb", "HGB", "HB"), ("emoglobin",)), ("g/dL", "mmol/L"), floor=True,
            aliases=("Hb", "hemoglobin")),
    # -- laboratory: the v2 additions --------------------------------------------------------
    Measure("INR", "lab", r"(?:PT[-\s]?)?INR|" + _I(r"international\s+normali[sz]ed\s+ratio"),
            (("INR",), ("normali",)), (None, "xULN"), hi=20),
    Measure("PT", "lab", _I(r"prothrombin\s+time"), ((), ("prothrombin",)),
            ("xULN", "seconds")),
    Measure("aPTT", "lab", r"a?PTT|APTT|" + _I(r"(?:activated\s+)?partial\s+thromboplastin"
                                              r"\s+time"),
            (("PTT",), ("thromboplastin",)), ("xULN", "seconds")),
    Measure("ALP", "lab", r"ALP|" + _I(r"alkaline\s+phosphatase"), (("ALP",), ("alkaline",)),
            ("xULN", "U/L")),
    Measure("albumin", "lab", _I(r"(?:serum\s+)?albumin(?:a?emia)?"), ((), ("albumin",)),
            ("g/dL", "xLLN"), floor=True),
    Measure("glucose", "lab",
            r"FPG|FBG|" + _I(r"(?:fasting\s+)?(?:plasma\s+|blood\s+|serum\s+)?glucose"),
            (("FPG", "FBG"), ("glucose",)), ("mg/dL", "mmol/L")),
    Measure("NT-proBNP", "lab", r"NT-?pro-?BNP|" + _I(r"N-terminal\s+pro-?B-type\s+natriuretic"
                                                      r"\s+peptide"),
            (("BNP",), ("terminal",)), ("pg/mL",)),
    Measure("BNP", "lab", r"BNP", (("BNP",), ()), ("pg/mL",)),
    Measure("troponin", "lab",
            r"c?Tn[TI]|" + _I(r"(?:hs-?|high[-\s]sensitivity\s+)?(?:cardiac\s+)?troponin"
                              r"(?:\s*[TI]\b)?"),
            (("Tn",), ("troponin",)), ("xULN", "ng/L", "ng/mL", "pg/mL")),
    Measure("proteinuria", "lab",
            _I(r"proteinuria|(?:24[-\s]h(?:ou)?r?\s+)?urin(?:e|ary)\s+protein(?:\s+excretion)?"),
            ((), ("protein",)), ("g/24h", "mg/dL")),
    Measure("urine M-protein", "lab", _I(r"urin(?:e|ary)\s+(?:M[-\s]protein|monoclonal\s+protein"
                                         r"|paraprotein)"),
            ((), ("urin",)), ("mg/24h",)),
    Measure("M-protein", "lab", _I(r"(?:serum\s+)?(?:M[-\s]protein|monoclonal\s+protein"
                                   r"|paraprotein)"),
            ((), ("protein",)), ("g/dL",)),
    Measure("free light chain", "lab",
            r"i?sFLC|FLC|" + _I(r"(?:serum\s+)?(?:involved\s+)?free\s+light\s+chains?"),
            (("FLC",), ("light",)), ("mg/dL",)),
    Measure("potassium", "lab", r"K\+|" + _I(r"(?:serum\s+|plasma\s+)?potassium"),
            (("K+",), ("potassium",)), ("mmol/L",), default="mmol/L", hi=15),
    Measure("sodium", "lab", r"Na\+|" + _I(r"(?:serum\s+|plasma\s+)?sodium"),
            (("Na+",), ("sodium",)), ("mmol/L",), default="mmol/L", hi=250),
    Measure("calcium", "lab", _I(r"(?:serum\s+|corrected\s+|ionized\s+)*calcium"),
            ((), ("calcium",)), ("mg/dL", "mmol/L")),
    Measure("TSH", "lab", r"TSH|" + _I(r"thyroid[-\s]stimulating\s+hormone"),
            (("TSH",), ("thyroid",)), ("mIU/L", "xULN")),
    Measure("LDL-C", "lab", r"LDL(?:[-\s]?C\b)?|" + _I(r"LDL[-\s]cholesterol|low[-\s]density"
                                                       r"\s+lipoprotein(?:\s+cholesterol)?"),
            (("LDL",), ("ldl", "density")), ("mg/dL", "mmol/L")),
    Measure("HDL-C", "lab", r"HDL(?:[-\s]?C\b)?|" + _I(r"HDL[-\s]cholesterol|high[-\s]density"
                                                       r"\s+lipoprotein(?:\s+cholesterol)?"),
            (("HDL",), ("hdl", "density")), ("mg/dL", "mmol/L")),
    Measure("triglycerides", "lab", r"TGs?|" + _I(r"(?:serum\s+|fasting\s+)?triglycerides?"),
            (("TG",), ("triglyceride",)), ("mg/dL", "mmol/L")),
    Measure("total cholesterol", "lab", _I(r"total\s+cholesterol"), ((), ("cholesterol",)),
            ("mg/dL", "mmol/L")),
    Measure("C-peptide", "lab", _I(r"C[-\s]peptide"), ((), ("peptide",)),
            ("ng/mL", "nmol/L", "pmol/mL", "pmol/L")),
    Measure("WBC", "lab", r"WBC|" + _I(r"white\s+blood\s+cells?(?:\s+count)?|leu[ck]ocytes?"
                                       r"(?:\s+count)?|white\s+(?:blood\s+)?cell\s+count"
                                       r"|leu[ck]openia"),
            (("WBC",), ("white", "leu")), _COUNT, floor=True),
    Measure("lymphocytes", "lab",
            r"ALC|" + _I(r"(?:absolute\s+)?lymphocytes?(?:\s+counts?)?|lymph(?:ocyt)?openia"),
            (("ALC",), ("lymphocyte", "lymphopenia", "lymphocytopenia")), ("×10^9/L", "%"),
            floor=True),
    Measure("eosinophils", "lab",
            _I(r"(?:blood\s+)?(?:absolute\s+)?eosinophils?(?:\s+counts?)?"),
            ((), ("eosinophil",)), ("×10^9/L", "cells/µL", "%"), floor=True),
    Measure("CD4", "lab", r"CD4\+?(?:\s+(?:T[-\s]?cells?|lymphocytes?|cells?))?(?:\s+counts?)?",
            (("CD4",), ()), ("cells/µL",)),
    Measure("blasts", "lab",
            _I(r"(?:bone\s+marrow\s+|peripheral\s+(?:blood\s+)?|BM\s+)?blasts?(?:\s+cells?)?"),
            ((), ("blast",)), ("%",), default="%", hi=100),
    Measure("CRP", "lab", r"(?:hs-?)?CRP|" + _I(r"C[-\s]reactive\s+protein"),
            (("CRP",), ("reactive",)), ("mg/L", "mg/dL", "xULN")),
    Measure("LDH", "lab", r"LDH|" + _I(r"lactate\s+dehydrogenase"),
            (("LDH",), ("dehydrogenase",)), ("xULN", "U/L")),
    Measure("CK", "lab", r"CK|CPK|" + _I(r"creatine\s+(?:phospho)?kinase"),
            (("CK", "CPK"), ("kinase",)), ("xULN", "U/L")),
    Measure("PSA", "lab", r"PSA|" + _I(r"prostate[-\s]specific\s+antigen"),
            (("PSA",), ("prostate",)), ("ng/mL",)),
    Measure("alpha-FP", "lab", r"AFP|" + _I(r"alpha[-\s]?feto[-\s]?protein"),
            (("AFP",), ("feto",)), ("ng/mL", "IU/mL", "xULN"), aliases=("AFP",)),
    Measure("FeNO", "lab", r"FeNO|FeNo|FENO|" + _I(r"fractional\s+exhaled\s+nitric\s+oxide"
                                                  r"(?:\s*\(FeNO\))?"),
            (("FeNO", "FeNo", "FENO"), ("exhaled",)), ("ppb",), default="ppb"),
    Measure("lipase", "lab", _I(r"(?:serum\s+)?lipase"), ((), ("lipase",)), ("xULN", "U/L")),
    Measure("amylase", "lab", _I(r"(?:serum\s+)?amylase"), ((), ("amylase",)), ("xULN", "U/L")),
    Measure("magnesium", "lab", _I(r"(?:serum\s+)?magnesium"), ((), ("magnesium",)),
            ("mg/dL", "mmol/L", "mEq/L")),
    Measure("PD-L1 TPS", "lab", r"(?:PD-?L1\s+)?TPS|" + _I(r"tumou?r\s+proportion\s+score"
                                                          r"(?:\s*\(TPS\))?"),
            (("TPS",), ("proportion",)), ("%",), default="%", hi=100),
    Measure("PD-L1 CPS", "lab", r"(?:PD-?L1\s+)?CPS|" + _I(r"combined\s+positive\s+score"
                                                          r"(?:\s*\(CPS\))?"),
            (("CPS",), ("combined",)), (None,), hi=100),
    Measure("haematocrit", "lab", r"Hct|HCT|" + _I(r"ha?ematocrit"),
            (("Hct", "HCT"), ("ematocrit",)), ("%",), default="%", hi=100),
    # -- more common labs and vitals (general clinical vocabulary; units as written, RULES v2
    # §3.3 / §8.20) ------------------------------------------------------------------------
    Measure("ferritin", "lab", _I(r"(?:serum\s+)?ferritin"), ((), ("ferritin",)),
            ("ng/mL", "µg/L", "pmol/L")),
    Measure("transferrin saturation", "lab", r"TSAT|" + _I(r"transferrin\s+saturation"),
            (("TSAT",), ("transferrin",)), ("%",), default="%", hi=100),
    Measure("phosphate", "lab", _I(r"(?:serum\s+)?(?:inorganic\s+)?(?:phosphate|phosphorus)"),
            ((), ("phosph",)), ("mg/dL", "mmol/L")),
    Measure("uric acid", "lab", _I(r"(?:serum\s+)?(?:uric\s+acid|urate)"), ((), ("uric", "urate")),
            ("mg/dL", "µmol/L", "mmol/L")),
    Measure("BUN", "lab", r"BUN|" + _I(r"blood\s+urea\s+nitrogen"), (("BUN",), ("nitrogen",)),
            ("mg/dL", "mmol/L", "xULN")),
    Measure("GGT", "lab", r"GGT|γ-?GT|" + _I(
        r"gamma[-\s]?(?:glutamyl[-\s]?(?:trans(?:ferase|peptidase))|GT\b)"),
            (("GGT", "GT"), ("gamma", "glutamyl")), ("xULN", "U/L")),
    Measure("fibrinogen", "lab", _I(r"(?:plasma\s+)?fibrinogen"), ((), ("fibrinogen",)),
            ("g/L", "mg/dL")),
    Measure("D-dimer", "lab", _I(r"D[-\s]?dimers?"), ((), ("dimer",)),
            ("mg/L", "µg/mL", "ng/mL", "µg/L", "xULN")),
    Measure("vitamin D", "lab", r"25\s*\(OH\)\s*D|" + _I(
        r"(?:25[-\s]?(?:OH|hydroxy)[-\s]?)?vitamin\s+D3?|25[-\s]?hydroxyvitamin\s+D3?"),
            (("OH",), ("vitamin", "hydroxyvitamin")), ("ng/mL", "nmol/L")),
    Measure("vitamin B12", "lab", _I(r"vitamin\s+B[-\s]?12|cobalamin"), ((), ("b12", "b 12", "b-12",
                                                                             "cobalamin")),
            ("pg/mL", "pmol/L")),
    Measure("ESR", "lab", r"ESR|" + _I(r"erythrocyte\s+sedimentation\s+rate"),
            (("ESR",), ("sedimentation",)), ("mm/h",)),
    Measure("procalcitonin", "lab", r"PCT|" + _I(r"procalcitonin"), (("PCT",), ("procalcitonin",)),
            ("ng/mL", "µg/L")),
    Measure("testosterone", "lab", _I(r"(?:serum\s+)?(?:total\s+)?testosterone"),
            ((), ("testosterone",)), ("ng/dL", "nmol/L", "ng/mL")),
    Measure("estradiol", "lab", r"E2|" + _I(r"(?:serum\s+)?o?estradiol"), (("E2",), ("estradiol",)),
            ("pg/mL", "pmol/L")),
    Measure("iPTH", "lab", r"i?PTH|" + _I(r"(?:intact\s+)?parathyroid\s+hormone"),
            (("PTH",), ("parathyroid",)), ("pg/mL", "pmol/L", "xULN")),
    Measure("HIV RNA", "lab", r"HIV(?:-1)?\s+RNA|" + _I(r"HIV(?:-1)?\s+viral\s+load"),
            (("HIV",), ("hiv",)), ("copies/mL",)),
    Measure("HBV DNA", "lab", r"HBV\s+DNA", (("HBV",), ()), ("IU/mL", "copies/mL")),
    Measure("HCV RNA", "lab", r"HCV\s+RNA", (("HCV",), ()), ("IU/mL",)),
    Measure("bicarbonate", "lab", r"HCO3-?|" + _I(r"(?:serum\s+)?bicarbonate"),
            (("HCO",), ("bicarbonate",)), ("mmol/L", "mEq/L")),
    Measure("lactate", "lab", _I(r"(?:serum\s+|blood\s+|plasma\s+)?lactate(?!\s+dehydrogenase)"),
            ((), ("lactate",)), ("mmol/L",)),
    Measure("MAP", "vital", r"MAP|" + _I(r"mean\s+arterial\s+(?:blood\s+)?pressure"),
            (("MAP",), ("arterial",)), ("mmHg",)),
    Measure("respiratory rate", "vital", _I(r"respiratory\s+rate|breathing\s+rate"),
            ((), ("respiratory", "breathing")), ("breaths/min",)),
    Measure("waist circumference", "vital", _I(r"waist\s+circumference"), ((), ("waist",)),
            ("cm",)),
    # -- durations and counts ---------------------------------------------------------------
    Measure("life expectancy", "duration",
            _I(r"life\s+expectancy|(?:estimated|expected|anticipated|predicted)\s+survival"
               r"(?:\s+time)?|survival\s+(?:expectancy|prognosis)"
               # the verbs of the same estimate: "anticipated to live for more than 3 months",
               # "expected to survive at least 12 weeks", "limit survival to less than 18 months"
               r"|(?:expected|anticipated|likely|predicted|estimated)\s+to\s+(?:live|survive)"
               r"(?:\s+for)?|(?:limit|limits|limiting)\s+(?:(?:his|her|their|the)\s+)?"
               r"(?:survival|life\s+expectancy)(?:\s+to)?"),
            ((), ("life", "survival", "live", "survive")), _TIME, floor=True),
    Measure("prior lines of therapy", "count",
            # "2 prior lines", "3 prior chemotherapy regimens", "1 line of chemotherapy",
            # "two prior systemic treatment regimens"
            _I(r"prior\s+(?:(?:systemic|chemotherapy|cytotoxic|treatment|therapy|anti-?[a-z]+"
               r"|[\w-]+-based|[\w-]+-containing)\s+){0,2}(?:lines?|regimens?)(?:\s+of\s+"
               r"(?:systemic\s+)?(?:therapy|therapies|treatments?|chemotherapy|anti-?[a-z]+"
               r"\s+therapy))?|lines?\s+of\s+(?:prior\s+|previous\s+)?(?:[a-z][\w-]*\s+){0,2}?"
               r"(?:therapy|therapies|treatments?|chemotherapy)|(?:(?:systemic|cytotoxic)\s+)?"
               r"(?:chemotherapy|treatment)\s+regimens?"),
            ((), ("line", "regimen")), (None,), hi=30),
    Measure("pack-years", "count", _I(r"pack[-\s]?years?"), ((), ("pack",)), (None,), hi=300),
)
BY_NAME = {m.name: m for m in MEASURES}
# A class written in digits, for the scales whose classes are Roman ("NYHA class 2" is II).
ROMAN = {"1": "I", "2": "II", "3": "III", "4": "IV"}

# Names a limit may have that are not rows (a row that emits several names, or a part of one).
_EMITTED = {"Child-Pugh class": "Child-Pugh", "Child-Pugh score": "Child-Pugh"}


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9+/]", "", text.lower())


_LOOKUP: dict[str, str] = {}
for _m in MEASURES:
    for _n in (_m.name, *_m.aliases):
        _LOOKUP.setdefault(_key(_n), _m.name)
for _n, _row in _EMITTED.items():
    _LOOKUP[_key(_n)] = _n
_LOOKUP.pop(_key("ALT+AST"), None)  # a spelling group, not a measure


def row_of(name: str) -> Measure | None:
    """The table row behind an emitted measure name ("Child-Pugh class" -> Child-Pugh)."""
    return BY_NAME.get(_EMITTED.get(name, name))


# (row, its pattern compiled as ``re.fullmatch(row.pattern, ...)`` compiles it), for lookup
_ROW_PATTERNS = [(m, re.compile(m.pattern)) for m in MEASURES if m.name != "ALT+AST"]


def lookup(name: str) -> str | None:
    """The canonical name of a measure a user typed ("ecog", "NYHA", "systolic"), or None."""
    key = _key(name)
    if key in _LOOKUP:
        return _LOOKUP[key]
    stripped = name.strip()
    for m, rx in _ROW_PATTERNS:  # a spelling of the row ("Eastern Cooperative Oncology Group")
        if rx.fullmatch(stripped):
            return _EMITTED.get(m.name, m.name) if m.name not in _EMITTED.values() else None
    return None


def suggest(name: str, n: int = 3) -> list[str]:
    """Known names closest to ``name``, for "did you mean"."""
    names = {v: v for v in _LOOKUP.values()}
    keys = {_key(v): v for v in names}
    hits = difflib.get_close_matches(_key(name), list(keys), n=n, cutoff=0.5)
    return [keys[h] for h in hits]


def names() -> list[str]:
    """Every canonical measure name, in table order."""
    return list(dict.fromkeys(_LOOKUP.values()))
