"""Patient fit: which trials' extracted limits admit a given patient.

The researcher's question: "which open trials would take a 70-year-old with MG-ADL 7 who had
rituximab 4 months ago?"::

    patient = parse_patient(age=70, where=["MG-ADL=7"], washout=["rituximab:4m"])
    for record, result in fits(records, patient, open_only=True):
        print(record.trial_id, result.unknown)

Pure: records in, answers out (no Whoosh, no I/O).  ``assess(record, patient)`` applies the
record's structured age / sex limits (``record.eligibility`` ``min_age_years``,
``max_age_years``, ``sex``) and the thresholds ``extract/thresholds.py`` extracted into
``record.eligibility["thresholds"]``.

The rules (each has a test in ``tests/test_fit.py``):

1. **Missing limits admit.**  A trial with no limit on something never rejects on it; a patient
   fact the trial does not ask about is ignored.
2. **Unknown is not a rejection.**  A limit on something the patient did not give (no QMG, no
   MGFA class, no word on IVIg) leaves the trial admitted and is listed in ``unknown``.  The
   patient's facts are taken as complete only within their kind: antibodies ["AChR+"] mean not
   MuSK+; washouts name only the exposures given, every other drug is unknown.
3. **Operators are exact at the boundary.**  ``>= 18`` admits 18, ``> 18`` rejects 18;
   structured minimum and maximum ages are inclusive (ClinicalTrials.gov "18 Years" to
   "80 Years" admits 18 and 80).  Ages are compared as given (enter completed years).
4. **Open bounds.**  A minimum alone or a maximum alone bounds one side only.
5. **Inclusion items.**  Every inclusion item must hold.  Within one item the thresholds
   combine as the text joins them: "MG-ADL ≥ 6 or QMG ≥ 11" is an alternative, "MG-ADL ≥ 5 and
   QMG > 11" (or ", with ocular share < 50%") a conjunction; the connector nearest the next
   threshold decides, "and/or" is "or".  A lower and an upper bound of one measure ("age ≥ 18,
   ≤ 80") and thresholds read from one phrase ("ALT/AST ≤ 3 × ULN") always combine with
   "and".  Where the item text is not at hand (a record built by hand) the thresholds of one
   item on different measures are alternatives, as DESIGN asks.  Three-valued logic: an "or"
   holds if any part holds and fails only if every part fails; an "and" fails if any part
   fails.  So MG-ADL 5 alone leaves "MG-ADL ≥ 6 or QMG ≥ 11" unknown (QMG may be ≥ 11), MG-ADL
   5 with QMG 10 rejects, MG-ADL 5 with QMG 11 admits.
6. **Nested alternatives.**  Children of an item that says "one of the following" (or whose
   children end in "or") are alternatives; a child without thresholds could be the one that
   holds, so such an item can only be unknown, never a rejection.  Other children must all hold.
7. **Exclusions** reject when their threshold holds: creatinine > 2.5 with creatinine 3, MGFA
   class IVb–V with class IVb, "rituximab within 6 months" with rituximab 4 months ago.  Each
   exclusion threshold counts on its own.  A window holds when the months since the patient's
   last exposure to any of its drugs are fewer than the window (weeks, days and years converted
   to months with a 30.4375-day month): 6 months ago does not fall "within 6 months".
   A drug matches by name or by class ("immunotherapy", "anti-CD20 therapy", "complement
   inhibitors", "steroids", …; see ``DRUG_CLASSES``), and the reason says which.  Windows
   after or during treatment ("no live vaccines within 8 weeks after treatment") are promises,
   not history: they are not checked.
8. **Inclusion windows** ("vaccinated against meningococcal infection within 3 years") hold
   when the patient's exposure is that recent.
9. **Inferred signs are applied.**  A threshold whose sign was lost in export (``op_inferred``)
   is checked like the others; its reason says "(sign inferred)".
10. **Units.**  Labs are compared in one unit per measure (creatinine and bilirubin mg/dL,
   haemoglobin g/dL, counts ×10^9/L, ALT/AST × ULN); a threshold in µmol/L is converted; a
   threshold in × ULN on a patient value in mg/dL cannot be compared and is unknown.
11. **Age twice.**  An age threshold in the criteria that repeats a structured age limit is
   checked once, as the structured limit.
"""

from __future__ import annotations

import difflib
import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trialscope.core.record import CriterionItem, Eligibility, Threshold
from trialscope.extract import measures as table
from trialscope.extract.thresholds import thing_name, thing_names
from trialscope.extract.units import read_unit, to_unit

HOLD, FAIL, UNKNOWN = "hold", "fail", "unknown"
MONTH_DAYS = 365.25 / 12  # 30.4375
_DAYS = {"hours": 1 / 24, "days": 1.0, "weeks": 7.0, "months": MONTH_DAYS, "years": 365.25}
_EPS = 1e-9
OPEN_STATUSES = ("NOT_YET_RECRUITING", "RECRUITING", "ENROLLING_BY_INVITATION")
# The command-line names of parse_patient's arguments, used in its error messages.
OPTION_NAMES = {"age": "--patient-age", "sex": "--patient-sex", "where": "--where",
                "washout": "--washout"}

# -- the patient ------------------------------------------------------------------------------


@dataclass
class Patient:
    """What the researcher knows about one patient.  Every field is optional."""

    age: float | None = None                       # years
    sex: str | None = None                         # "male" | "female"
    scores: dict[str, float] = field(default_factory=dict)    # "MG-ADL" -> 7
    mgfa_class: str | None = None                  # "IIIa"
    antibodies: list[str] = field(default_factory=list)       # ["AChR+"]
    washouts: dict[str, float] = field(default_factory=dict)  # "rituximab" -> months since
    labs: dict[str, float] = field(default_factory=dict)      # "creatinine" -> 1.1 (mg/dL)
    classes: dict[str, str] = field(default_factory=dict)     # "NYHA class" -> "II"

    def describe(self) -> str:
        """One line: "age 70, MG-ADL 7, rituximab 4 months ago"."""
        parts = [f"age {_num(self.age)}"] if self.age is not None else []
        parts += [self.sex] if self.sex else []
        parts += [f"{k} {_num(v)}" for k, v in self.scores.items()]
        parts += [f"MGFA {self.mgfa_class}"] if self.mgfa_class else []
        parts += [f"{k} {v}" for k, v in self.classes.items()]
        parts += [", ".join(self.antibodies)] if self.antibodies else []
        parts += [f"{k} {_num(v)}{' ' + _lab_unit(k) if _lab_unit(k) else ''}"
                  for k, v in self.labs.items()]
        parts += [f"{k} {_months(v)} ago" for k, v in self.washouts.items()]
        return ", ".join(parts) or "no facts"


@dataclass
class FitResult:
    admits: bool
    reasons: list[str] = field(default_factory=list)   # why it rejects, one per failed limit
    unknown: list[str] = field(default_factory=list)   # limits the patient's facts cannot decide


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


_SCORES = {"MG-ADL": 24, "QMG": 39, "MGC": 50, "MG-QoL15r": 30, "ocular share": 100}
_MEASURE_ALIASES: dict[str, str] = {
    "mgadl": "MG-ADL", "adl": "MG-ADL", "mgactivitiesofdailyliving": "MG-ADL",
    "qmg": "QMG", "qmgs": "QMG", "quantitativemg": "QMG",
    "mgc": "MGC", "mgcomposite": "MGC",
    "mgqol15r": "MG-QoL15r", "mgqol15": "MG-QoL15r", "qol15": "MG-QoL15r", "qol15r": "MG-QoL15r",
    "mgqol": "MG-QoL15r",
    "ocular": "ocular share", "ocularshare": "ocular share", "ocularscore": "ocular share",
    "mgfa": "MGFA", "mgfaclass": "MGFA", "class": "MGFA",
    "antibody": "antibody", "antibodies": "antibody", "ab": "antibody", "serostatus": "antibody",
    "serology": "antibody",
    "age": "age", "sex": "sex", "gender": "sex",
    "creatinine": "creatinine", "cr": "creatinine", "scr": "creatinine",
    "serumcreatinine": "creatinine",
    "egfr": "eGFR", "gfr": "eGFR", "crcl": "creatinine clearance",
    "creatinineclearance": "creatinine clearance",
    "alt": "ALT", "sgpt": "ALT", "ast": "AST", "sgot": "AST",
    "bilirubin": "bilirubin", "tbil": "bilirubin", "totalbilirubin": "bilirubin",
    "directbilirubin": "direct bilirubin", "dbil": "direct bilirubin",
    "platelets": "platelets", "platelet": "platelets", "plt": "platelets",
    "neutrophils": "neutrophils", "anc": "neutrophils",
    "haemoglobin": "haemoglobin", "hemoglobin": "haemoglobin", "hb": "haemoglobin",
    "hgb": "haemoglobin",
}
# The one unit each lab is kept in, and other units accepted (factor to that unit).
_LAB_UNITS = {"creatinine": "mg/dL", "bilirubin": "mg/dL", "direct bilirubin": "mg/dL",
              "eGFR": "mL/min/1.73m2", "creatinine clearance": "mL/min", "ALT": "xULN",
              "AST": "xULN", "platelets": "×10^9/L", "neutrophils": "×10^9/L",
              "haemoglobin": "g/dL"}
_UMOL_PER_MGDL = {"creatinine": 88.42, "bilirubin": 17.1, "direct bilirubin": 17.1}
_UNIT_ALIASES = {"mgdl": "mg/dL", "umoll": "µmol/L", "µmoll": "µmol/L", "μmoll": "µmol/L",
                 "xuln": "xULN", "uln": "xULN", "gdl": "g/dL", "gl": "g/L",
                 "x109l": "×10^9/L", "109l": "×10^9/L", "g/l": "g/L", "ul": "/µL", "mm3": "/µL",
                 "µl": "/µL", "μl": "/µL", "mlmin": "mL/min", "mlmin173m2": "mL/min/1.73m2",
                 "": ""}
_CLASS_ORDER = ["I", "IIa", "IIb", "IIIa", "IIIb", "IVa", "IVb", "V"]
_ANTIBODY_ALIASES = {"achr": "AChR+", "achrab": "AChR+", "antiachr": "AChR+", "musk": "MuSK+",
                     "muskab": "MuSK+", "antimusk": "MuSK+", "lrp4": "LRP4+", "lrp4ab": "LRP4+",
                     "seronegative": "seronegative", "snmg": "seronegative",
                     "doubleseronegative": "seronegative", "tripleseronegative": "seronegative",
                     "seropositive": "seropositive"}
_POSITIVES = ("AChR+", "MuSK+", "LRP4+")

# Washout names as the patient may write them -> the canonical name (thresholds.py's names).
_DRUG_ALIASES = {"ivig": "IVIg", "ivlg": "IVIg", "intravenousimmunoglobulin": "IVIg",
                 "ivimmunoglobulin": "IVIg", "scig": "SCIg", "pe": "plasma exchange",
                 "plex": "plasma exchange", "pex": "plasma exchange", "tpe": "plasma exchange",
                 "plasmaexchange": "plasma exchange", "plasmapheresis": "plasma exchange",
                 "rtx": "rituximab", "mmf": "mycophenolate mofetil",
                 "mycophenolate": "mycophenolate mofetil", "steroid": "steroids",
                 "corticosteroids": "steroids", "corticosteroid": "steroids",
                 "glucocorticoids": "steroids", "pred": "prednisone",
                 "livevaccine": "live vaccines", "livevaccines": "live vaccines",
                 "vaccine": "vaccines", "carttherapy": "CAR-T", "cart": "CAR-T",
                 "investigationaldrug": "investigational drug", "ivigg": "IVIg"}
_BIOLOGIC = ("monoclonal antibodies", "biologics", "immunotherapy")
# Classes a drug belongs to, as exclusion criteria name them (lower case).
DRUG_CLASSES: dict[str, tuple[str, ...]] = {
    **{d: ("anti-cd20 therapy", "b-cell depleting therapy") + _BIOLOGIC
       for d in ("rituximab", "ocrelizumab", "ofatumumab", "obinutuzumab")},
    "inebilizumab": ("anti-cd19 therapy", "b-cell depleting therapy") + _BIOLOGIC,
    **{d: ("complement inhibitors",) + _BIOLOGIC for d in ("eculizumab", "ravulizumab")},
    "zilucoplan": ("complement inhibitors", "immunotherapy"),
    "efgartigimod": ("fcrn inhibitors", "biologics", "immunotherapy"),
    **{d: ("fcrn inhibitors",) + _BIOLOGIC
       for d in ("rozanolixizumab", "nipocalimab", "batoclimab")},
    **{d: ("il-6 inhibitors",) + _BIOLOGIC for d in ("tocilizumab", "satralizumab")},
    "belimumab": _BIOLOGIC, "telitacicept": ("biologics", "immunotherapy"),
    "ivig": ("immunoglobulins",), "scig": ("immunoglobulins",),
    **{d: ("steroids", "systemic steroids", "corticosteroids", "glucocorticoids")
       for d in ("steroids", "prednisone", "prednisolone", "methylprednisolone",
                 "dexamethasone")},
    **{d: ("immunosuppressants",)
       for d in ("azathioprine", "mycophenolate mofetil", "tacrolimus", "cyclosporine",
                 "ciclosporin", "methotrexate", "leflunomide")},
    "cyclophosphamide": ("immunosuppressants", "chemotherapy"),
    "car-t": ("cell therapy", "gene therapy", "car-t cells"),
    "live vaccines": ("vaccines",), "meningococcal vaccine": ("vaccines",),
}


def _num(value: float | None) -> str:
    return "?" if value is None else f"{round(value, 2):g}"


def _months(value: float) -> str:
    """A time since exposure in the unit that reads best: "4 months", "3 weeks", "10 days"."""
    days = value * MONTH_DAYS
    amount, unit = ((value / 12, "year") if value >= 24 - _EPS else
                    (value, "month") if value >= 1 - _EPS else
                    (days / 7, "week") if days >= 7 - _EPS else (days, "day"))
    amount = round(amount, 1)
    return f"{amount:g} {unit}" + ("" if amount == 1 else "s")


def _bad(option: str, raw: Any, problem: str, example: str) -> ValueError:
    return ValueError(f"{OPTION_NAMES.get(option, option)} {str(raw)!r}: {problem}; for example "
                      f"{OPTION_NAMES.get(option, option)} '{example}'")


_NUMBER = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(.*?)\s*$")


_COMPARISON = re.compile(r"[<>≤≥!]=?|=[<>]|==")
_NUMBER_TEXT = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def _parse_age(raw: Any, option: str = "age") -> float:
    m = _NUMBER.match(str(raw))
    unit = _key(m.group(2)) if m else "x"
    if not m or unit not in ("", "y", "yr", "yrs", "year", "years"):
        raise _bad(option, raw, "give the age in years", "70" if option == "age" else "age=70")
    age = float(m.group(1))
    if not 0 <= age <= 120:
        raise _bad(option, raw, "an age is between 0 and 120 years",
                   "70" if option == "age" else "age=70")
    return age


def _parse_sex(raw: Any, option: str = "sex") -> str:
    value = {"m": "male", "male": "male", "man": "male", "f": "female", "female": "female",
             "woman": "female"}.get(str(raw).strip().lower())
    if not value:
        raise _bad(option, raw, "sex is male or female",
                   "female" if option == "sex" else "sex=female")
    return value


def _parse_class(raw: str, text: str) -> str:
    m = re.fullmatch(r"\s*(?:mgfa\s*)?(?:class\s*)?(IV|V|I{1,3}|[1-5])\s*([ab])?\s*", raw, re.I)
    if m:
        roman = m.group(1).upper()
        roman = ["", "I", "II", "III", "IV", "V"][int(roman)] if roman.isdigit() else roman
        cls = roman + (m.group(2) or "").lower()
        if cls in _CLASS_ORDER or roman in ("II", "III", "IV"):
            return cls
    raise _bad("where", text, "an MGFA class is I, IIa, IIb, IIIa, IIIb, IVa, IVb or V "
               "(or II, III, IV when the subclass is not known)", "MGFA=IIIa")


def _parse_antibodies(raw: str, text: str) -> list[str]:
    out = []
    for part in re.split(r"[,;]", raw):
        value = _ANTIBODY_ALIASES.get(_key(part))
        if value not in ("seronegative", "seropositive"):  # "AChR+", "MuSK-Ab positive", "LRP4-"
            bare = re.sub(r"[-\s]?(?:ab|antibod(?:y|ies))\b", "", part.strip(), flags=re.I)
            negative = bool(re.search(r"-\s*$|\bneg(?:ative)?\b", bare, re.I))
            name = re.sub(r"\+|-\s*$|\b(?:pos(?:itive)?|neg(?:ative)?)\b", "", bare, flags=re.I)
            value = _ANTIBODY_ALIASES.get(_key(name))
            if value in _POSITIVES and negative:
                value = value[:-1] + "-"
        if not value:
            raise _bad("where", text, "antibody status is AChR+, MuSK+, LRP4+, seronegative or "
                       "seropositive (AChR- for a negative test)", "antibody=AChR+")
        out.append(value)
    return out


def _parse_lab(measure: str, number: float, unit_text: str, text: str) -> tuple[str, float]:
    unit = _UNIT_ALIASES.get(_key(unit_text.replace("^", "")), unit_text)
    canon = _LAB_UNITS[measure]
    if unit in ("", canon) or _key(unit) == _key(canon):
        return measure, number
    if unit == "µmol/L" and measure in _UMOL_PER_MGDL:
        return measure, number / _UMOL_PER_MGDL[measure]
    if unit == "g/L" and measure == "haemoglobin":
        return measure, number / 10
    if unit == "/µL" and canon == "×10^9/L":
        return measure, number / 1000
    if unit == "xULN":
        return f"{measure} xULN", number
    shown = "× ULN (times the upper limit of normal)" if canon == "xULN" else canon
    raise _bad("where", text, f"{measure} is given in {shown}"
               + (" or µmol/L" if measure in _UMOL_PER_MGDL else "")
               + (" or × ULN" if canon != "xULN" else ""),
               f"{measure}=1.1" if measure == "creatinine" else f"{measure}=1")


def parse_patient(*, age: Any = None, sex: Any = None, where: Iterable[str] = (),
                  washout: Iterable[str] = ()) -> Patient:
    """A Patient from command-line style facts.

    ``where``: "MG-ADL=7", "QMG=12", "MGC=10", "MG-QoL15r=14", "MGFA=IIIa",
    "antibody=AChR+" (several: "antibody=AChR+,LRP4+"), "creatinine=1.1" (mg/dL; also
    "97umol/L", "1.2xULN"), "ALT=1.5" (× ULN), "platelets=150" (×10^9/L), "age=70",
    "sex=female".  Measure names are case-insensitive and take synonyms ("mgadl", "mg adl").
    ``washout``: "rituximab:4m", "ivig:3w", "thymectomy:2y", "eculizumab:90d" (d/w/m/y; also
    "=" for ":"), the time since the last exposure.  A bad value raises ``ValueError`` naming
    the option and the value, with a valid example."""
    patient = Patient()
    where = [where] if isinstance(where, str) else where
    washout = [washout] if isinstance(washout, str) else washout
    if age is not None and str(age).strip() != "":
        patient.age = _parse_age(age)
    if sex is not None and str(sex).strip() != "":
        patient.sex = _parse_sex(sex)
    for text in where or ():
        cmp = _COMPARISON.search(str(text))
        if cmp:
            # "ECOG<=1" was once read as ECOG=1: a patient has one value, the trial the limit
            measure_text = str(text)[:cmp.start()].split("=")[0].strip() or "ECOG"
            written = _NUMBER_TEXT.search(str(text)[cmp.end():])
            raise _bad("where", text, f"give the patient's own value, not a comparison "
                       f"({cmp.group(0)!r}): each trial's limits are compared with it",
                       f"{measure_text}={written.group(0) if written else 1}")
        name, sep, value = str(text).partition("=")
        if not sep or not name.strip() or not value.strip():
            raise _bad("where", text, "write MEASURE=VALUE", "MG-ADL=7")
        measure = _MEASURE_ALIASES.get(_key(name)) or table.lookup(name)
        if measure is None:
            near = table.suggest(name) + [
                n for n in dict.fromkeys(_MEASURE_ALIASES.values())
                if n not in table.names() and _key(name)[:3] in _key(n)][:1]
            hint = f"did you mean {', '.join(near)}?" if near else \
                "known measures: `trials search --help`"
            raise _bad("where", text, f"unknown measure {name.strip().rstrip('<>!≤≥ ')!r} ({hint})",
                       f"{near[0]}=1" if near else "MG-ADL=7")
        if measure == "age":
            patient.age = _parse_age(value, "where")
        elif measure == "sex":
            patient.sex = _parse_sex(value, "where")
        elif measure == "MGFA":
            patient.mgfa_class = _parse_class(value, text)
        elif measure == "antibody":
            patient.antibodies += [a for a in _parse_antibodies(value, text)
                                   if a not in patient.antibodies]
        elif measure not in _SCORES and measure not in _LAB_UNITS:
            _parse_table_fact(patient, measure, value, text)
        else:
            m = _NUMBER.match(value)
            if not m:
                raise _bad("where", text, f"{measure} needs a number", f"{measure}=7"
                           if measure in _SCORES else f"{measure}=1.1")
            number = float(m.group(1))
            if measure in _SCORES:
                if m.group(2).strip() not in ("", "%", "points"):
                    raise _bad("where", text, f"{measure} is a score without a unit",
                               f"{measure}=7")
                if number > _SCORES[measure]:
                    raise _bad("where", text, f"{measure} is scored 0 to {_SCORES[measure]}",
                               f"{measure}=7")
                patient.scores[measure] = number
            else:
                key, number = _parse_lab(measure, number, m.group(2), text)
                patient.labs[key] = number
    for text in washout or ():
        m = re.fullmatch(r"\s*(.+?)\s*[:=]\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)\s*", str(text), re.I)
        unit = {"d": "days", "day": "days", "days": "days", "w": "weeks", "wk": "weeks",
                "wks": "weeks", "week": "weeks", "weeks": "weeks", "m": "months",
                "mo": "months", "mos": "months", "month": "months", "months": "months",
                "y": "years", "yr": "years", "yrs": "years", "year": "years",
                "years": "years"}.get(m.group(3).lower() if m else "")
        if not m or not unit:
            raise _bad("washout", text, "write DRUG:TIME with the time since the last dose "
                       "and a unit d, w, m or y", "rituximab:4m")
        raw = m.group(1)
        drug = canonical_drug(raw) if _key(raw) in _DRUG_ALIASES else (
            thing_name(raw) or canonical_drug(raw))
        if not _known_thing(drug):
            near = difflib.get_close_matches(drug.lower(), _THINGS, n=3, cutoff=0.6)
            hint = f"did you mean {', '.join(near)}?" if near else "not a drug, drug class, " \
                "procedure or event the criteria reader knows"
            raise _bad("washout", text, f"unknown {m.group(1).strip()!r} ({hint})",
                       f"{near[0]}:{m.group(2)}{m.group(3)}" if near else "rituximab:4m")
        patient.washouts[drug] = float(m.group(2)) * _DAYS[unit] / MONTH_DAYS
    return patient


def _lab_unit(name: str) -> str:
    if name in _LAB_UNITS:
        return _LAB_UNITS[name]
    row = table.row_of(name)
    return (row.units[0] or "") if row and row.kind in ("lab", "vital") else ""


def _parse_table_fact(patient: Patient, measure: str, value: str, text: str) -> None:
    """A fact on a measure of the table: a class ("NYHA=II", "Child-Pugh=B"), a score
    ("ECOG=1"), a vital or a lab ("systolic=150", "INR=1.2", "weight=70kg")."""
    row = table.row_of(measure)
    if row is None:
        raise _bad("where", text, f"{measure} cannot be given for a patient", "ECOG=1")
    if row.members:
        raw = value.strip()
        if row.name == "Child-Pugh" and raw.isdigit():
            patient.scores["Child-Pugh score"] = float(raw)
            return
        wanted = table.ROMAN.get(raw, raw.upper()) \
            if row.members[0] == "I" else raw.upper()
        got = next((c for c in row.members if c.upper() == wanted), None)
        if got is None:
            raise _bad("where", text, f"{row.name} is one of {', '.join(row.members)}",
                       f"{row.aliases[0] if row.aliases else row.name}={row.members[1]}")
        patient.classes["Child-Pugh class" if row.name == "Child-Pugh" else row.name] = got
        return
    m = _NUMBER.match(value)
    if not m:
        raise _bad("where", text, f"{measure} needs a number", f"{measure}=1")
    number = float(m.group(1))
    unit, _, end = read_unit(m.group(2), 0) if m.group(2) else (None, 1.0, 0)
    if m.group(2) and end != len(m.group(2)):
        unit = "?"
    canon = row.units[0]
    if unit not in (None, canon):
        converted = to_unit(number, unit, (canon,)) if unit != "?" else None
        if converted is None:
            raise _bad("where", text, f"{measure} is given in {canon or 'no unit'}",
                       f"{measure}={_num(number)}")
        number = converted[0]
    if not row.lo <= number <= row.hi:
        raise _bad("where", text, f"{measure} is between {_num(row.lo)} and {_num(row.hi)}",
                   f"{measure}={_num(row.lo)}")
    if row.kind == "lab":
        patient.labs[measure] = number
    else:
        patient.scores[measure] = number


_THINGS = sorted({*(n.lower() for n in thing_names()), *DRUG_CLASSES,
                  *(c for cs in DRUG_CLASSES.values() for c in cs),
                  *(v.lower() for v in _DRUG_ALIASES.values())})


def _known_thing(name: str) -> bool:
    """A washout names a drug, class, procedure or event the criteria reader knows."""
    low = name.lower()
    return low in _THINGS or thing_name(name) is not None


def canonical_drug(name: str) -> str:
    """A washout name as the thresholds name it: "ivig" -> "IVIg", "PLEX" -> "plasma
    exchange", "Rituximab" -> "rituximab"."""
    clean = " ".join(name.strip().split())
    return _DRUG_ALIASES.get(_key(clean), clean if clean in ("IVIg", "SCIg", "CAR-T")
                             else clean.lower())


# -- checking one threshold -------------------------------------------------------------------

_OP_TEXT = {">=": "≥", "<=": "≤", ">": ">", "<": "<", "=": "="}


def _cmp(a: float, op: str, b: float) -> bool:
    return {">=": a >= b - _EPS, ">": a > b + _EPS, "<=": a <= b + _EPS, "<": a < b - _EPS,
            "=": abs(a - b) <= _EPS}.get(op, False)


def _class_text(values: Sequence[str]) -> str:
    idx = [_CLASS_ORDER.index(v) for v in values if v in _CLASS_ORDER]
    if len(idx) > 1 and idx == list(range(idx[0], idx[-1] + 1)):
        return f"{_CLASS_ORDER[idx[0]]}–{_CLASS_ORDER[idx[-1]]}"
    return ", ".join(values)


def describe(t: Threshold) -> str:
    """A threshold in words: "MG-ADL ≥ 6", "MGFA class IIa–IVa", "rituximab within 6 months"."""
    kind, op, value, unit = t.get("kind"), t.get("op"), t.get("value"), t.get("unit")
    if kind == "class" and t.get("measure") != "MGFA":
        shown = ", ".join(value) if isinstance(value, list) else value
        text = f"{t.get('measure')} {'in' if op == 'in' else _OP_TEXT.get(op, op)} {shown}"
    elif kind == "class":
        text = f"MGFA class {_class_text(value or [])}"
    elif kind == "antibody":
        text = f"antibody {value}"
    elif kind == "window":
        w = t.get("window") or {"value": value, "unit": unit}
        text = f"{t.get('measure')} within {_num(w.get('value'))} {w.get('unit')}"
        if t.get("direction") not in (None, "before"):
            text += f" {t.get('direction')} treatment"
    else:
        u = {"xULN": "× ULN", "xLLN": "× LLN", None: ""}.get(unit, unit)
        val = f"{_num(value)}%" if u == "%" else f"{_num(value)} {u}".strip()
        text = f"{t.get('measure')} {_OP_TEXT.get(op, op)} {val}"
    return text + (" (sign inferred)" if t.get("op_inferred") else "")


def _norm_drug(name: str) -> str:
    return " ".join(w.rstrip("s") for w in name.lower().replace("-", " ").split())


def _drug_matches(threshold_drug: str, patient_drug: str) -> bool:
    t, p = _norm_drug(threshold_drug), patient_drug.lower()
    names = {p, *DRUG_CLASSES.get(p, ())}
    return t in {_norm_drug(n) for n in names}


@dataclass
class _Check:
    status: str          # HOLD / FAIL / UNKNOWN
    fact: str = ""       # the patient's fact in words ("MG-ADL 5", "rituximab 4 months ago")
    missing: str = ""    # what the patient did not give


def _lab_value(t: Threshold, patient: Patient) -> tuple[float | None, float | None, str]:
    """(patient value, threshold value) in one unit, and the unit; None when not comparable."""
    measure, unit, value = t.get("measure"), t.get("unit"), t.get("value")
    canon = _LAB_UNITS.get(measure) or _lab_unit(str(measure)) or None
    if unit == "xULN" and canon != "xULN":
        return patient.labs.get(f"{measure} xULN"), value, "× ULN"
    if unit == "µmol/L" and measure in _UMOL_PER_MGDL:
        value = value / _UMOL_PER_MGDL[measure]
    elif unit not in (None, canon):
        return None, None, unit or ""
    return patient.labs.get(measure), value, canon or ""


def _check(t: Threshold, patient: Patient) -> _Check | None:
    """The threshold against the patient; None when it cannot apply to a patient's history."""
    kind, op, measure = t.get("kind"), t.get("op"), t.get("measure")
    if kind == "age":
        if patient.age is None:
            return _Check(UNKNOWN, missing="age")
        ok = _cmp(patient.age, op, float(t["value"]))
        return _Check(HOLD if ok else FAIL, f"age {_num(patient.age)}")
    if kind in ("scale", "vital", "count", "duration") or kind == "class" and \
            measure == "Child-Pugh score":
        if kind in ("count", "duration") and measure not in patient.scores:
            return None  # not a fact --where takes: the trial's own words are shown
        have = patient.scores.get(measure)
        if have is not None and kind == "vital":
            row = table.row_of(str(measure))
            if row and t.get("unit") not in (None, row.units[0]):
                return _Check(UNKNOWN, missing=f"{measure} ({t.get('unit')})")
        if have is None:
            return _Check(UNKNOWN, missing=measure)
        return _Check(HOLD if _cmp(have, op, float(t["value"])) else FAIL,
                      f"{measure} {_num(have)}")
    if kind == "lab":
        have, limit, unit = _lab_value(t, patient)
        if have is None or limit is None:
            return _Check(UNKNOWN, missing=f"{measure} ({unit})" if unit else measure)
        return _Check(HOLD if _cmp(have, op, float(limit)) else FAIL,
                      f"{measure} {_num(have)} {unit}".strip())
    if kind == "class" and measure != "MGFA":
        return _check_class_scale(t, patient)
    if kind == "class":
        if not patient.mgfa_class:
            return _Check(UNKNOWN, missing="MGFA class")
        mine = {c for c in _CLASS_ORDER if c == patient.mgfa_class
                or c.rstrip("ab") == patient.mgfa_class}
        inside = mine & set(t.get("value") or [])
        status = HOLD if inside == mine else FAIL if not inside else UNKNOWN
        return _Check(status, f"MGFA {patient.mgfa_class}",
                      "MGFA subclass (a or b)" if status == UNKNOWN else "")
    if kind == "antibody":
        return _check_antibody(str(t.get("value")), patient)
    if kind == "window":
        if t.get("direction") not in (None, "before"):
            return None
        return _check_window(t, patient)
    return None


def _check_class_scale(t: Threshold, patient: Patient) -> _Check:
    """NYHA / Child-Pugh / PND / Coutinho: "in" a list, or ">=" / "<=" a class as written."""
    measure, op, value = str(t.get("measure")), t.get("op"), t.get("value")
    have = patient.classes.get(measure)
    if have is None:
        return _Check(UNKNOWN, missing=measure)
    row = table.row_of(measure)
    order = list(row.members) if row else []
    fact = f"{measure} {have}"
    if op == "in":
        return _Check(HOLD if have in (value or []) else FAIL, fact)
    if have not in order or str(value) not in order:
        return _Check(UNKNOWN, fact, measure)
    ok = _cmp(float(order.index(have)), str(op), float(order.index(str(value))))
    return _Check(HOLD if ok else FAIL, fact)


def _check_antibody(value: str, patient: Patient) -> _Check:
    have = set(patient.antibodies)
    if not have:
        return _Check(UNKNOWN, missing="antibody status")
    fact = "antibodies " + ", ".join(patient.antibodies)
    positive = have & set(_POSITIVES)
    if value == "seropositive":
        status = HOLD if positive or "seropositive" in have else \
            FAIL if "seronegative" in have else UNKNOWN
    elif value == "seronegative":
        status = HOLD if "seronegative" in have else \
            FAIL if positive or "seropositive" in have else UNKNOWN
    elif value in have:
        status = HOLD
    elif positive or "seronegative" in have or value[:-1] + "-" in have:
        status = FAIL  # the patient's list names their antibodies
    else:
        status = UNKNOWN
    return _Check(status, fact, "which antibody" if status == UNKNOWN else "")


def _check_window(t: Threshold, patient: Patient) -> _Check:
    w = t.get("window") or {"value": t.get("value"), "unit": t.get("unit")}
    limit = float(w["value"]) * _DAYS.get(str(w.get("unit")), MONTH_DAYS) / MONTH_DAYS
    drugs = t.get("drugs") or [d.strip() for d in str(t.get("measure")).split(",")]
    facts, missing = [], []
    for drug in drugs:
        hits = [(p, m) for p, m in patient.washouts.items() if _drug_matches(drug, p)]
        if not hits:
            missing.append(drug)
        for p, months in hits:
            as_class = "" if _norm_drug(p) == _norm_drug(drug) else f", counted as {drug}"
            facts.append((months, f"{p} {_months(months)} ago{as_class}"))
    within = sorted(f for f in facts if f[0] < limit - _EPS)
    if within:
        return _Check(HOLD, "; ".join(f for _, f in within))
    fact = "; ".join(f for _, f in sorted(facts))
    if missing:
        return _Check(UNKNOWN, fact, "time since " + ", ".join(missing))
    return _Check(FAIL, fact)


# -- combining the thresholds of an inclusion item --------------------------------------------

_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_CONNECTOR = re.compile(r"\band\s*/\s*or\b|\bor\b|\band\b|\bwith\b|\bplus\b|\bas\s+well\s+as\b"
                        r"|[,;]|或者?|并且|且|和|及|同时", re.I)
_ALTERNATIVES = re.compile(r"\b(?:one|any|either)\s+(?:\w+\s+){0,2}of\b|\bat\s+least\s+one\b"
                           r"|\beither\b|之一|任一|任何一|其中一", re.I)
_ENDS_WITH_OR = re.compile(r"\bor\s*[,.;:]?\s*$", re.I)


def _clean(text: str) -> str:
    if "&" in text:
        text = html.unescape(text)
    return " ".join(_ESCAPE.sub(r"\1", text).replace("\xa0", " ").split())


def _combine(op: str, parts: list[str]) -> str:
    if not parts:
        return HOLD
    if op == "and":
        return FAIL if FAIL in parts else UNKNOWN if UNKNOWN in parts else HOLD
    return HOLD if HOLD in parts else FAIL if all(p == FAIL for p in parts) else UNKNOWN


@dataclass
class _Node:
    status: str
    text: str                                   # the condition in words
    facts: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _leaf(t: Threshold, c: _Check) -> _Node:
    return _Node(c.status, describe(t), [c.fact] if c.fact else [],
                 [c.missing] if c.missing else [])


def _join(op: str, nodes: list[_Node], bracket: bool = False) -> _Node:
    status = _combine(op, [n.status for n in nodes])
    bracket = bracket and len(nodes) > 1
    text = f" {op} ".join(f"({n.text})" if bracket and (" or " in n.text or " and " in n.text)
                          else n.text for n in nodes)
    facts = list(dict.fromkeys(f for n in nodes for f in n.facts))
    missing = list(dict.fromkeys(m for n in nodes for m in n.missing))
    notes = list(dict.fromkeys(m for n in nodes for m in n.notes))
    return _Node(status, text, facts, missing, notes)


def _is_range(a: Threshold, b: Threshold) -> bool:
    sides = {">=": "lo", ">": "lo", "<=": "hi", "<": "hi"}
    return a.get("measure") == b.get("measure") and {sides.get(a.get("op")),
                                                     sides.get(b.get("op"))} == {"lo", "hi"}


def _item_node(item_text: str | None, checked: list[tuple[Threshold, _Check]]) -> _Node:
    """The thresholds of one item combined as the item's text joins them (rule 5)."""
    text = _clean(item_text or "")
    spans = []
    for t, _ in checked:
        pos = text.find(_clean(t.get("text") or "")) if text and t.get("text") else -1
        spans.append((pos, pos + len(_clean(t.get("text") or ""))))
    if any(p < 0 for p, _ in spans):  # no text to read: different measures are alternatives
        by_measure: dict[str, list[_Node]] = {}
        for t, c in checked:
            by_measure.setdefault(str(t.get("measure")), []).append(_leaf(t, c))
        return _join("or", [_join("and", nodes) for nodes in by_measure.values()], bracket=True)
    order = sorted(range(len(checked)), key=lambda i: spans[i])
    groups: list[list[list[int]]] = [[[order[0]]]]  # groups (and) of units (or) of thresholds
    for prev, i in zip(order, order[1:]):
        unit = groups[-1][-1]
        same_phrase = spans[i][0] == spans[prev][0]
        if same_phrase or any(_is_range(checked[j][0], checked[i][0]) for j in unit):
            unit.append(i)
            continue
        gap = text[spans[prev][1]:spans[i][0]]
        words = [m.group().lower() for m in _CONNECTOR.finditer(gap)]
        last = words[-1] if words else "or"
        if last in ("or", "或", "或者") or re.fullmatch(r"and\s*/\s*or", last):
            groups[-1].append([i])
        else:
            groups.append([[i]])
    return _join("and", [_join("or", [_join("and", [_leaf(*checked[j]) for j in unit])
                                      for unit in group], bracket=True)
                         for group in groups], bracket=True)


# -- the record -------------------------------------------------------------------------------


def _items_by_path(items: list[CriterionItem], prefix: str = "") -> dict[str, CriterionItem]:
    out: dict[str, CriterionItem] = {}
    for n, item in enumerate(items or [], 1):
        path = f"{prefix}{n}"
        out[path] = item
        out.update(_items_by_path(item.get("children") or [], path + "."))
    return out


def _inclusion_nodes(record_el: Eligibility, checks: list[tuple[Threshold, _Check]]
                     ) -> list[tuple[str, _Node]]:
    """(top-level item path, verdict) for every inclusion item with thresholds (rules 5, 6)."""
    tree = _items_by_path(record_el.get("inclusion") or [])
    by_item: dict[str, list[tuple[Threshold, _Check]]] = {}
    for t, c in checks:
        by_item.setdefault(str(t.get("item") or "1"), []).append((t, c))
    paths = set(by_item)
    for p in list(paths):  # every ancestor of an item with thresholds takes part
        parts = p.split(".")
        paths.update(".".join(parts[:k]) for k in range(1, len(parts)))

    def node(path: str) -> _Node | None:
        if path not in paths:
            return None
        item: Mapping[str, Any] = tree.get(path) or {}
        own = _item_node(item.get("text"), by_item[path]) if path in by_item else None
        kids = sorted({p for p in paths if p.rsplit(".", 1)[0] == path and "." in p},
                      key=lambda p: [int(x) for x in p.split(".") if x.isdigit()])
        child_items = item.get("children") or []
        alternatives = bool(_ALTERNATIVES.search(_clean(item.get("text") or ""))) or any(
            _ENDS_WITH_OR.search(_clean(c.get("text") or "")) for c in child_items[:-1])
        parts: list[_Node] = [own] if own else []
        if kids:
            kid_nodes = [(k, node(k)) for k in kids]
            if alternatives:
                n_kids = max(len(child_items), len(kids))
                blank = n_kids - len(kids)  # children with no thresholds: might be the one
                alt = _join("or", [n for _, n in kid_nodes if n], bracket=True)
                alt.text = "one of: " + "; ".join(f"{k} {n.text}" for k, n in kid_nodes if n)
                if blank and alt.status == FAIL:
                    alt.status = UNKNOWN
                    alt.notes.append(f"none of these holds, but {blank} other condition"
                                     f"{'s' if blank > 1 else ''} of the item cannot be checked")
                parts.append(alt)
            else:
                parts += [n for _, n in kid_nodes if n]
        return _join("and", parts, bracket=True) if len(parts) > 1 else parts[0]

    tops = sorted({p.split(".")[0] for p in paths}, key=lambda p: int(p) if p.isdigit() else 0)
    return [(p, n) for p in tops if (n := node(p))]


def _covered_by_structured(t: Threshold, el: Eligibility) -> bool:
    """An age threshold that repeats a structured age limit (rule 11)."""
    if t.get("kind") != "age" or t.get("section", "inclusion") != "inclusion":
        return False
    lo, hi = el.get("min_age_years"), el.get("max_age_years")
    v = t.get("value")
    return (t.get("op") == ">=" and lo is not None and abs(float(lo) - float(v)) < 1e-6) or (
        t.get("op") == "<=" and hi is not None and abs(float(hi) - float(v)) < 1e-6)


def assess(record: Any, patient: Patient) -> FitResult:
    """Does the record's extracted eligibility admit the patient?  See the module docstring
    for the rules."""
    el: Eligibility = getattr(record, "eligibility", None) or Eligibility()
    reasons: list[str] = []
    unknown: list[str] = []

    lo, hi = el.get("min_age_years"), el.get("max_age_years")
    if lo is not None or hi is not None:
        span = (f"{_num(lo)}–{_num(hi)} years" if lo is not None and hi is not None else
                f"at least {_num(lo)} years" if lo is not None else f"at most {_num(hi)} years")
        if patient.age is None:
            unknown.append(f"age: the trial takes {span} (no age given)")
        elif lo is not None and patient.age < float(lo) - _EPS:
            reasons.append(f"age {_num(patient.age)} is below the trial's minimum age "
                           f"{_num(lo)} years")
        elif hi is not None and patient.age > float(hi) + _EPS:
            reasons.append(f"age {_num(patient.age)} is above the trial's maximum age "
                           f"{_num(hi)} years")
    sex = str(el.get("sex") or "ALL").upper()
    if sex in ("MALE", "FEMALE"):
        if not patient.sex:
            unknown.append(f"sex: the trial takes {sex.lower()} participants only (no sex given)")
        elif patient.sex.upper() != sex:
            reasons.append(f"the trial takes {sex.lower()} participants only "
                           f"(patient: {patient.sex})")

    inclusion: list[tuple[Threshold, _Check]] = []
    for t in el.get("thresholds") or []:
        section = t.get("section") or "inclusion"
        if _covered_by_structured(t, el):
            continue
        c = _check(t, patient)
        if c is None:
            continue
        if section == "inclusion":
            inclusion.append((t, c))
            continue
        where = f"exclusion item {t.get('item')}" if t.get("item") else "exclusion"
        if c.status == HOLD:
            reasons.append(f"excluded: {describe(t)} (patient: {c.fact}; {where})")
        elif c.status == UNKNOWN:
            unknown.append(f"{where}: {describe(t)} (not given: {c.missing})")

    for path, n in _inclusion_nodes(el, inclusion):
        if n.status == FAIL:
            facts = "; ".join(n.facts)
            reasons.append(f"inclusion item {path} not met: {n.text}"
                           + (f" (patient: {facts})" if facts else ""))
        elif n.status == UNKNOWN:
            detail = ([f"not given: {', '.join(n.missing)}"] if n.missing else []) + n.notes
            detail += [f"patient: {'; '.join(n.facts)}"] if n.notes and n.facts else []
            unknown.append(f"inclusion item {path}: {n.text} ({'; '.join(detail)})")
    return FitResult(not reasons, reasons, unknown)


def fits(records: Iterable[Any], patient: Patient, *, include_rejected: bool = False,
         open_only: bool = False) -> list[tuple[Any, FitResult]]:
    """``(record, FitResult)`` for the records whose limits admit the patient, in the given
    order; ``include_rejected`` keeps the others too (with their reasons), ``open_only`` keeps
    only trials that are recruiting or about to (``OPEN_STATUSES``)."""
    out = []
    for record in records:
        if open_only and getattr(record, "status", None) not in OPEN_STATUSES:
            continue
        result = assess(record, patient)
        if result.admits or include_rejected:
            out.append((record, result))
    return out
