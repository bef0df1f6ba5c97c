"""Units of eligibility limits: how they are written, and converting to a measure's unit.

``read_unit(text, pos)`` reads the unit written at ``pos`` ("mg/dl", "× 10^9/L", "/mm³",
"times the upper limit of normal", "milliseconds") and gives its normal spelling plus a factor
for the few spellings that are the same unit scaled (a count per µL is 1/1000 of ×10^9/L).
``to_unit(value, unit, accepted)`` converts a value to the first unit of ``accepted`` it can
reach: physical conversions (g/L -> g/dL, lb -> kg, ng/L -> pg/mL, months -> years) come from
``pint`` (asked once per pair, then cached); the few that are clinical conventions rather than
physics (mEq/L of a monovalent ion is mmol/L, µIU/mL is mIU/L) are in ``_SAME``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from types import ModuleType
from typing import TYPE_CHECKING

from trialscope.extract.prefilter import first_chars_of

if TYPE_CHECKING:
    from pint import UnitRegistry

_IC = re.IGNORECASE
TIMES = r"(?:[x×X*]|-?folds?|times)"
ULN = (rf"{TIMES}?\s*(?:as\s+high\s+as\s+)?(?:the\s+)?"
       r"(?:(?:institutional|site|local|laboratory|reference)\s+)*"
       r"(?:I?ULN|UNL|NL\b|upper\s+(?:limits?\s+(?:of\s+)?)?(?:the\s+)?"
       r"(?:(?:institutional|laboratory)\s+)?normal(?:\s+(?:range|limits?))?"
       r"(?:\s*\((?:x\s*)?ULN\))?|normal\s+limit(?:\s*\(NL\))?|maximal\s+normal\s+value)"
       # "3x above normal"; "3 times the upper limit" (of normal, left unsaid)
       rf"|{TIMES}\s*(?:above\s+)?(?:the\s+)?normal\b|{TIMES}\s*(?:the\s+)?upper\s+limit\b")
_PER_UL = r"(?:[µμu]L|mcL|mm\s*\^?\s*3|mm³|cu\.?\s*mm|cumm)\b"
_M2 = r"(?:m\s*\^?\s*2|m²|sq\w*\s*m\w*|met(?:er|re)s?\s+squared?)"
# (regex, normal spelling, factor to it); at one position the first that matches wins.
UNITS: list[tuple[re.Pattern[str], str, float]] = [
    (re.compile(rx, _IC), unit, factor) for rx, unit, factor in [
        (ULN, "xULN", 1.0),
        (rf"{TIMES}?\s*(?:the\s+)?(?:LLN|lower\s+limits?\s+of\s+(?:the\s+)?normal)", "xLLN", 1.0),
        (r"[x×*]\s*10\s*(?:\^|e|\*\*)?\s*(?:9|⁹)\s*/\s*L\b", "×10^9/L", 1.0),  # also "× 109/L"
        (rf"(?:[x×*]\s*10\s*(?:\^|e)?\s*(?:3|³)|K)\s*/\s*{_PER_UL}", "×10^9/L", 1.0),
        # "cells/µL" as written (CD4, eosinophils); a count per µL converts to ×10^9/L (_SAME)
        (r"cells\s*/\s*(?:[µμu]L|mcL|mm\s*\^?\s*3|mm³|cu\.?\s*mm|cumm)\b", "cells/µL", 1.0),
        (rf"(?:cells|platelets)?\s*/\s*{_PER_UL}", "×10^9/L", 1e-3),
        (r"mg\s*/\s*dL\b", "mg/dL", 1.0),
        (r"(?:[µμu]|mc)g\s*/\s*dL\b", "µg/dL", 1.0), (r"(?:[µμu]|mc)g\s*/\s*L\b", "µg/L", 1.0),
        (r"(?:[µμu]|mc)g\s*/\s*mL\b", "µg/mL", 1.0), (r"ng\s*/\s*dL\b", "ng/dL", 1.0),
        (r"mm\s*/\s*(?:h(?:ou)?r?|1\s*h(?:ou)?r?)\b", "mm/h", 1.0),
        (r"breaths?\s*(?:/|per)\s*min(?:ute)?\b", "breaths/min", 1.0),
        (r"(?:[µμu]|micro)mol(?:es)?\s*/\s*L\b", "µmol/L", 1.0),
        (r"mmol\s*/\s*mol\b|millimoles?\s+per\s+mole", "mmol/mol", 1.0),
        (r"mmol\s*/\s*L\b|millimoles?\s+per\s+lit(?:er|re)", "mmol/L", 1.0),
        (r"nmol\s*/\s*L\b", "nmol/L", 1.0), (r"pmol\s*/\s*L\b", "pmol/L", 1.0),
        (r"mEq\s*/\s*L\b", "mEq/L", 1.0),
        (r"(?:g|gm|gms)\s*/\s*dL\b|g(?:rams?)?\s+per\s+deci-?lit(?:er|re)(?:\s*\(g/dL\))?", "g/dL",
         1.0),
        (r"mg\s*/\s*mmol\b", "mg/mmol", 1.0), (r"mg\s*/\s*g\s*(?:Cr|creatinine)?\b", "mg/g", 1.0),
        (r"g\s*/\s*g\s*(?:Cr|creatinine)?\b", "g/g", 1.0),
        (r"(?:g|grams?)\s*(?:/|per)\s*24\s*-?\s*h(?:ours?|rs?)?\b|g\s*/\s*d(?:ay)?\b", "g/24h",
         1.0),
        (r"mg\s*(?:/|per)\s*24\s*-?\s*h(?:ours?|rs?)?\b", "mg/24h", 1.0),
        (r"mg\s*/\s*L\b|mg\s*/\s*lit(?:er|re)\s*(?:\(L\))?", "mg/L", 1.0),
        (r"g\s*/\s*L\b", "g/L", 1.0),
        (r"mg\s*/\s*mL\b", "mg/mL", 1.0),
        (r"ng\s*/\s*mL\b", "ng/mL", 1.0), (r"ng\s*/\s*L\b", "ng/L", 1.0),
        (r"pg\s*/\s*mL\b", "pg/mL", 1.0),
        (r"[µμu]IU\s*/\s*mL\b", "µIU/mL", 1.0), (r"mI?U\s*/\s*L\b", "mIU/L", 1.0),
        (r"ppb\b|parts\s+per\s+billion", "ppb", 1.0),
        (r"m?IU\s*/\s*mL\b", "IU/mL", 1.0), (r"mU\s*/\s*mL\b", "mU/mL", 1.0),
        (r"I?U\s*/\s*L\b", "U/L", 1.0),
        (r"(?:copies|cp|c)\s*/\s*mL\b", "copies/mL", 1.0),
        ((rf"mL\s*/\s*min(?:ute)?\s*(?:/|per)\s*1[.•·]73\s*{_M2}"
          r"|milli\s*-?\s*lit(?:er|re)s?\s+per\s+min(?:ute)?\s*(?:/|per)\s*1\.73\s+(?:square\s+)?"
          r"met(?:er|re)s?(?:\s+squared|\s+square)?(?:\s*\(mL/min/1\.73\s*m\^?2\))?"),
         "mL/min/1.73m2", 1.0),
        (r"mL\s*/\s*min(?:ute)?\b|mL\b", "mL/min", 1.0),
        (r"mm\s*Hg\b|millimet(?:er|re)s?\s+(?:of\s+)?mercury", "mmHg", 1.0),
        (r"m(?:illi)?sec(?:ond)?s?\b|ms\b", "ms", 1.0),
        (r"beats?\s*(?:/|per)\s*min(?:ute)?\b(?:\s*\(bpm\))?|bpm\b", "bpm", 1.0),
        (rf"kg\s*/\s*{_M2}|kilograms?\s+per\s+(?:square\s+)?met(?:er|re)s?(?:\s+squared)?"
         r"(?:\s*\(kg/m\^?2\))?", "kg/m2", 1.0),
        (r"kg\b|kilo(?:gram)?s?\b", "kg", 1.0), (r"lbs?\b|pounds?\b", "lb", 1.0),
        (r"g\b|grams?\b", "g", 1.0), (r"cm\b|centimet(?:er|re)s?\b", "cm", 1.0),
        (r"mm\b|millimet(?:er|re)s?\b", "mm", 1.0),
        # retinal thickness, intima-media thickness; liver stiffness; refraction
        (r"[µμ]m\b|microns?\b|micromet(?:er|re)s?\b", "µm", 1.0), (r"kPa\b", "kPa", 1.0),
        (r"diopt(?:er|re)s?\b", "diopters", 1.0),
        (r"m\b|met(?:er|re)s?\b", "m", 1.0),
        (r"%\s*(?:of\s+)?(?:the\s+)?predicted|percent\s+(?:of\s+)?predicted", "% predicted", 1.0),
        (r"%|percent\b|per\s*cent\b", "%", 1.0),
        (r"°\s*C(?:elsius)?\b|degrees?\s+C(?:elsius)?\b", "°C", 1.0),
        (r"°|degrees?\b", "degrees", 1.0),
        (r"years?\b|yrs?\b|周岁|岁", "years", 1.0), (r"months?\b|mos?\b", "months", 1.0),
        (r"weeks?\b|wks?\b", "weeks", 1.0), (r"days?\b", "days", 1.0),
        (r"hours?\b|hrs?\b|h\b", "hours", 1.0), (r"min(?:ute)?s?\b", "minutes", 1.0),
        (r"sec(?:ond)?s?\b|s\b", "seconds", 1.0),
        (r"points?\b", "", 1.0)]]

# Written unit -> pint's spelling, for physical conversions.
_PINT = {"g/dL": "g/dL", "g/L": "g/L", "mg/L": "mg/L", "mg/dL": "mg/dL", "kg": "kg", "g": "g",
         "lb": "lb", "ng/L": "ng/L", "pg/mL": "pg/mL", "ng/mL": "ng/mL", "mg/24h": "mg/day",
         "g/24h": "g/day", "years": "year", "months": "month", "cm": "cm", "m": "m", "mm": "mm",
         "mmol/L": "mmol/L", "µmol/L": "µmol/L", "mg/g": "mg/g", "g/g": "g/g"}
# Clinical conventions, not physics: same number, another name.
_SAME = {("mEq/L", "mmol/L"), ("µIU/mL", "mIU/L")}
# Clinical conventions that scale: a count of cells per µL is 1/1000 of ×10^9/L.
_SCALED = {("cells/µL", "×10^9/L"): 1e-3}
# Conversions that lose meaning are never made (ages in weeks/days of neonates, time spans of
# life expectancy or windows): a row that wants years lists "months" as a source explicitly.
_MAY_CONVERT = {("g/L", "g/dL"), ("mg/L", "mg/dL"), ("lb", "kg"), ("kg", "g"), ("ng/L", "pg/mL"),
                ("mg/24h", "g/24h"), ("months", "years"), ("g/dL", "g/L"), ("g", "kg")}


def _starts(rx: re.Pattern[str]) -> re.Pattern[str] | None:
    """A one-character test for the characters a match of ``rx`` can start with
    (``prefilter.first_chars_of``), or None when they are not known."""
    firsts = first_chars_of(f"(?i:{rx.pattern})" if rx.flags & _IC else rx.pattern)
    if firsts is None:
        return None
    plain, folded = ("".join(sorted(f)) for f in firsts)
    parts = ([f"[{plain}]"] if plain else []) + ([f"(?i:[{folded}])"] if folded else [])
    return re.compile("|".join(parts) or "(?!)")


_STARTS = [_starts(rx) for rx, _, _ in UNITS]
# character -> the rows of UNITS that can match at it, in order (made on first sight)
_ROWS_AT: dict[str, tuple[tuple[re.Pattern[str], str, float], ...]] = {}


def _rows_at(c: str) -> tuple[tuple[re.Pattern[str], str, float], ...]:
    rows = _ROWS_AT[c] = tuple(row for row, start in zip(UNITS, _STARTS)
                               if start is None or start.match(c))
    return rows


def read_unit(text: str, pos: int) -> tuple[str | None, float, int]:
    """(normal spelling or None, factor, end) of the unit at ``pos`` (spaces skipped).

    Only the rows of ``UNITS`` whose matches can start with the character at that place are
    tried (``_rows_at``), in ``UNITS``' order: a row ruled out cannot match there, so the
    first row that matches is the same (tests/test_units.py compares with every row)."""
    at = pos
    while at < len(text) and text[at].isspace():
        at += 1
    rows: Sequence[tuple[re.Pattern[str], str, float]] = UNITS
    if at < len(text):
        found = _ROWS_AT.get(text[at])
        rows = found if found is not None else _rows_at(text[at])
    for rx, unit, factor in rows:
        if m := rx.match(text, at):
            return unit or None, factor, m.end()
    return None, 1.0, pos


def read_unit_plain(text: str, pos: int) -> tuple[str | None, float, int]:
    """``read_unit`` trying every row of ``UNITS`` (what tests compare it with)."""
    at = pos
    while at < len(text) and text[at].isspace():
        at += 1
    for rx, unit, factor in UNITS:
        if m := rx.match(text, at):
            return unit or None, factor, m.end()
    return None, 1.0, pos


@lru_cache(maxsize=128)
def factor(src: str, dst: str) -> float | None:
    """How many ``dst`` one ``src`` is, or None when they do not convert."""
    if src == dst or (src, dst) in _SAME:
        return 1.0
    if (src, dst) in _SCALED:
        return _SCALED[src, dst]
    if (src, dst) not in _MAY_CONVERT or src not in _PINT or dst not in _PINT:
        return None
    try:
        import pint  # imported on the first conversion only: most limits need none
    except ImportError:  # pragma: no cover - pint is a dependency; keep parsing without it
        return None
    ureg = _registry(pint)
    try:
        return float(ureg.Quantity(1.0, _PINT[src]).to(_PINT[dst]).magnitude)
    except Exception:  # noqa: BLE001 - pint raises several kinds; not convertible is the answer
        return None


def warm() -> None:
    """Compute every conversion factor now.  The first conversion builds pint's unit registry
    (~0.3 s of CPU); a process about to fork workers calls this first, so that they inherit
    the factors instead of each building the registry again (the bulk import's two workers,
    per index batch)."""
    for src, dst in sorted(_MAY_CONVERT):
        factor(src, dst)


@lru_cache(maxsize=1)
def _registry(pint: ModuleType) -> UnitRegistry:
    return pint.UnitRegistry()


def to_unit(value: float, unit: str | None, accepted: tuple[str | None, ...]
            ) -> tuple[float, str | None] | None:
    """``value`` in ``unit`` as one of the ``accepted`` units (kept as written when it is one),
    or None when the unit does not fit the measure."""
    if unit in accepted:
        return value, unit
    for target in accepted:
        if target is not None and unit is not None and (f := factor(unit, target)) is not None:
            if unit == "lb":  # RULES-thresholds-v2 §3.2: lb ÷ 2.2046, one decimal
                return round(value * f, 1), target
            return value * f, target
    return None
