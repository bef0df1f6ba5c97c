"""Find dose expressions in arm and intervention text.

``parse_doses(text)`` returns one dict per dose, in text order::

    {"value": 1.0e6, "unit": "cells", "per": "kg", "text": "1.0 × 10e6/kg"}

plus ``"value_max"`` when the dose is a range ("0.5-1.0 × 10^6 cells/kg").

Rules (why they are as they are):

* Powers of ten: "× 10^6", "x10^6", "× 10⁶", "×10e6", "x 10E+06", "2.0E6", "2.0E+06",
  "10^6", "1 × 10(6)" all mean 10 to the 6th.  Registry authors write "10e6" for 10^6 (not
  10 × 10^6), so "× 10e6" and a bare "10e6" follow that convention; "2.0E6" is read as the
  usual scientific notation.  "million" / "billion" count too ("2 million cells/kg").
* Units are normalised: anything that counts cells ("CAR-T cells", "CAR+ T cells", "viable
  T-cells", "S103 CAR-T cells") -> "cells"; mg; g; µg/μg/ug/mcg -> "ug"; ng; mL; IU; U; vg.
  A power-of-ten count with no unit is a cell count when it has a "per" part ("1.0-2.0 x
  10^6/kg"), or when the text talks about cells or CAR-T at all: in arm text nothing else is
  dosed that way.  Without either ("a total of 1 × 10^8") it is not reported.
* "per" is the denominator: "kg", "m2", "day", "week", "dose", "h", or combinations such as
  "kg/day"; None for a flat dose.  A slash to anything else (/L, /dL, /µL, /mm3, /mL) is a
  concentration or a lab value, not a dose, so the whole expression is skipped.
* "text" is the matched span from the first number to the end of the unit / per part.  Words
  after the per part only inform the unit ("1.0 × 10e6/kg S103 CAR-T cells" has text
  "1.0 × 10e6/kg" and unit "cells").
* Not doses: ages, durations, dates, percentages, scores.  "MG" in capitals is myasthenia
  gravis ("MG-ADL score ≥ 6", "20 MG patients"), accepted as milligrams only in "MG/KG" or
  "MG/M2"; "mg" in lower case after a number is always milligrams.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from trialscope.core.limits import clip
from trialscope.core.record import Dose

_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁺", "0123456789+")

# A number not glued to a word ("S103", "CD19", "IL-6") or to another number.
_NUMBER = re.compile(r"(?<![\w.,^/])(?<![A-Za-z]-)(\d+(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?)")
_NUM_AT = re.compile(r"\d+(?:,\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?")
_TIMES = r"\s*[x×X*✕⨯·]\s*"
# "× 10^6", "x10e6", "× 10⁶", "× 10(6)", "× 10**6", "X 10E+06"
_POWER = re.compile(
    _TIMES + r"10\s*(?:\^\s*\+?|\*\*|[eE]\s*\+?\s*|\(\s*)(\d{1,2})\)?"
    r"|" + _TIMES + r"10([⁺]?[⁰¹²³⁴⁵⁶⁷⁸⁹]{1,2})"
)
_BARE_POWER = re.compile(r"(?:\^\s*\+?|\*\*|[eE]\s*\+?)(\d{1,2})|([⁺]?[⁰¹²³⁴⁵⁶⁷⁸⁹]{1,2})")
_E_NOTATION = re.compile(r"[eE]\+?(\d{1,2})(?![\w])")
_WORD_POWER = re.compile(r"\s*(million|billion)\b", re.IGNORECASE)
_RANGE_SEP = re.compile(r"\s*(?:-|–|—|~|～|to)\s*(?=\d)")

_UNITS = [
    (re.compile(r"mg(?![A-Za-z])|MG(?=\s*/\s*(?:kg|KG|m2|M2|m²))|milligrams?\b"), "mg"),
    (re.compile(r"(?:µg|μg|ug|mcg)(?![A-Za-z])|micrograms?\b"), "ug"),
    (re.compile(r"ng(?![A-Za-z])|nanograms?\b"), "ng"),
    (re.compile(r"g(?![A-Za-z])|grams?\b"), "g"),
    (re.compile(r"m[lL](?![A-Za-z])|millilit(?:er|re)s?\b"), "mL"),
    (re.compile(r"IU(?![A-Za-z])|international units?\b", re.IGNORECASE), "IU"),
    (re.compile(r"U(?![A-Za-z])|units?\b"), "U"),
    (re.compile(r"vg(?![A-Za-z])"), "vg"),
]
# Up to three qualifying words, then "cells" ("S103 CAR-T cells", "CAR+ T cells",
# "viable T-cells") or a bare "CAR-T".
_CELLS = re.compile(
    r"(?:(?:[A-Za-z0-9][\w+\-]*)\s+){0,3}?(?:[\w+]+-)?cells?\b"
    r"|(?:(?:[A-Za-z0-9][\w+\-]*)\s+){0,2}?CAR[-\s]?T\b(?:\s+cells?\b)?",
    re.IGNORECASE,
)
_PER = re.compile(r"\s*(/|\bper\b)\s*([A-Za-zµμ]+(?:(?<=m)\s?[²2]|(?<=m)\^2)?)")
_PER_WORDS = {
    "kg": "kg", "kilogram": "kg", "kilograms": "kg", "m2": "m2", "m²": "m2", "m^2": "m2",
    "day": "day", "d": "day", "week": "week", "wk": "week", "dose": "dose", "h": "h",
    "hr": "h", "hour": "h",
}
_BODY_WEIGHT = re.compile(r"\s*(?:of\s+)?(?:body\s*weight|BW)\b", re.IGNORECASE)
_CELL_CONTEXT = re.compile(r"\bcells?\b|\bCAR[-\s]?T\b|\bCAR\+|\bNK\b", re.IGNORECASE)


_GROUPED = re.compile(r"\d+(?:,\d{3})+(?:\.\d+)?")


def _decimal(token: str) -> Decimal:
    # "1,200" is twelve hundred; "1,5" (European) is one and a half.
    if _GROUPED.fullmatch(token):
        token = token.replace(",", "")
    return Decimal(token.replace(",", "."))


def _quantity(text: str, pos: int) -> tuple[Decimal, Decimal | None, int] | None:
    """Parse a number and its power of ten at ``pos``: (number, power or None, end)."""
    m = _NUM_AT.match(text, pos)
    if not m:
        return None
    token, end = m.group(), m.end()
    try:
        value = _decimal(token)
    except InvalidOperation:
        return None
    p = _POWER.match(text, end)
    if p:
        exp = int((p.group(1) or p.group(2)).translate(_SUPERSCRIPTS).lstrip("+"))
        return value, Decimal(10) ** exp, p.end()
    if token == "10":  # a bare power: "10^6", "10⁶", and the registry's "10e6"
        p = _BARE_POWER.match(text, end)
        if p:
            exp = int((p.group(1) or p.group(2)).translate(_SUPERSCRIPTS).lstrip("+"))
            return Decimal(1), Decimal(10) ** exp, p.end()
    p = _E_NOTATION.match(text, end)
    if p:
        return value, Decimal(10) ** int(p.group(1)), p.end()
    p = _WORD_POWER.match(text, end)
    if p:
        return value, Decimal(10) ** (6 if p.group(1).lower() == "million" else 9), p.end()
    return value, None, end


_SPACE = re.compile(r"\s*")


def _space_end(text: str, pos: int) -> int:
    """Where the white space at ``pos`` ends (``pos`` itself when there is none)."""
    m = _SPACE.match(text, pos)
    return m.end() if m else pos


def _unit_at(text: str, pos: int, is_count: bool) -> tuple[str, int] | None:
    gap = _space_end(text, pos) - pos
    if gap > 2:  # a unit is written next to its number
        return None
    for pattern, unit in _UNITS:
        m = pattern.match(text, pos + gap)
        if m:
            return unit, m.end()
    if is_count:
        m = _CELLS.match(text, pos + gap)
        if m:
            return "cells", m.end()
    return None


def _per_at(text: str, pos: int) -> tuple[str | None, int, bool]:
    """Read "/kg", "per m2", "/kg/day": (per, end, rejected)."""
    parts: list[str] = []
    end = pos
    while True:
        m = _PER.match(text, end)
        if not m:
            break
        word = re.sub(r"\s+", "", m.group(2)).lower()
        per = _PER_WORDS.get(word) or _PER_WORDS.get(word.rstrip("s"))
        if per is None:
            # "/dL", "/µL", "/L": a concentration or a lab value.  "per infusion" is prose.
            return None, pos, m.group(1) == "/"
        parts.append(per)
        end = m.end()
        if per == "kg":
            bw = _BODY_WEIGHT.match(text, end)
            end = bw.end() if bw else end
    return ("/".join(parts) or None), end, False


def _dose_at(text: str, pos: int, cell_context: bool) -> tuple[Dose, int] | None:
    first = _quantity(text, pos)
    if first is None:
        return None
    low, power, end = first
    high = None
    sep = _RANGE_SEP.match(text, end)
    if sep:
        second = _quantity(text, sep.end())
        # "0.5-1.0 × 10^6" (the power covers both ends), "1×10^6 - 2×10^6", "10-20 mg"
        if second is not None and (second[1] is not None or power is None):
            high, power_high, end = second
            if power is None:
                power = power_high
            elif power_high is None:
                power_high = power
            high *= power_high or 1
    low *= power or 1
    is_count = power is not None
    unit = _unit_at(text, end, is_count)
    unit_name, unit_end = unit if unit else (None, end)
    per, per_end, rejected = _per_at(text, unit_end)
    if rejected:
        return None
    if unit_name is None:
        # A bare power-of-ten count is cells per kg / m2, or in a cell-therapy text.
        if not is_count or (per is None and not cell_context):
            return None
        unit_name = "cells"
    if high is not None and high < low:
        return None  # "12-6" is not a range, and so not a dose either
    stop = per_end if per else unit_end
    dose: Dose = {"value": float(low), "unit": unit_name, "per": per,
                  "text": text[pos:stop].strip()}
    if high is not None:
        dose["value_max"] = float(high)
    return dose, stop


def parse_doses(text: str | None) -> list[Dose]:
    """Every dose expression in ``text``, in order; ``[]`` when there is none."""
    if not text:
        return []
    text = clip(text) or ""  # (core/limits.py)
    cell_context: bool | None = None
    doses: list[Dose] = []
    pos = 0
    while True:
        m = _NUMBER.search(text, pos)
        if not m:
            return doses
        if cell_context is None:  # only texts with a number need it (most have none)
            cell_context = bool(_CELL_CONTEXT.search(text))
        found = _dose_at(text, m.start(), cell_context)
        if found:
            doses.append(found[0])
            pos = found[1]
        else:
            pos = m.end()
