"""Registry id patterns, cheap to import (the CLI validates ids before loading any parser: see
``check_trial_id`` in ``parser/registries.py``)."""

from __future__ import annotations

import re
from typing import Any

NCT_ID_RE = re.compile(r"^NCT\d{8}$")


def normalise_nct_id(text: str | None) -> str | None:
    """'nct06958939 ' -> 'NCT06958939'; anything not shaped like an NCT id -> None."""
    if not text or not isinstance(text, str):  # a number where the id belongs is no id
        return None
    candidate = text.strip().upper()
    return candidate if NCT_ID_RE.match(candidate) else None


# ChiCTR2400084905 (since 2016) or the older ChiCTR-TRC-12002345 / ChiCTR-IOR-15006262.
CHICTR_ID_RE = re.compile(r"^(?:ChiCTR\d{10}|ChiCTR-[A-Z]{3,4}-\d{8})$")

def normalise_chictr_id(text: str | None) -> str | None:
    """' chictr2400084905' -> 'ChiCTR2400084905'; anything not shaped like a ChiCTR id -> None."""
    if not text:
        return None
    candidate = text.strip().replace("\xa0", "")
    if candidate[:6].lower() != "chictr":
        return None
    candidate = "ChiCTR" + candidate[6:].upper()
    return candidate if CHICTR_ID_RE.match(candidate) else None

CTIS_ID_RE = re.compile(r"^\d{4}-5\d{5}-\d{2}-\d{2}$")

def normalise_ctis_id(text: Any) -> str | None:
    """'2022-500244-37-00', 'CTIS2022-500244-37-00', ' EU CT 2022-500244-37-00' -> the CT
    number; anything not shaped like one -> None."""
    if not isinstance(text, str):
        return None
    candidate = re.sub(r"^(?:ctis|eu\s*ct(?:\s*(?:number|no\.?))?)[\s:#-]*", "", text.strip(),
                       flags=re.IGNORECASE)
    return candidate if CTIS_ID_RE.match(candidate) else None

# EudraCT number, optionally with ICTRP's / the register's member-state suffix.  A CTIS number
# (2023-501234-12-00) has a numeric fourth part and is not an EudraCT number.
EUDRACT_RE = re.compile(r"(?<![\d-])(\d{4}-\d{6}-\d{2})(?:-(?:[A-Z]{2}|3RD))?(?![\d-]|\w)",
                        re.IGNORECASE)

def normalise_eudract(text: str | None) -> str | None:
    """'EUCTR2015-000590-12-DE', 'EudraCT 2015-000590-12' -> '2015-000590-12'; else None."""
    if not text:
        return None
    m = EUDRACT_RE.search(text)
    if not m:
        return None
    rest = re.sub(r"[^a-z0-9]+", "", (text[: m.start()] + text[m.end():]).lower())
    return m.group(1) if rest in ("", "euctr", "eudract", "eudractnumber", "eudractno") else None

ISRCTN_ID_RE = re.compile(r"^ISRCTN\d{8}$")

def normalise_isrctn_id(value: Any, *, bare_digits: bool = False) -> str | None:
    """'ISRCTN12949496', 'isrctn 12949496' -> 'ISRCTN12949496'; eight bare digits only with
    ``bare_digits`` (ISRCTN's own ``isrctn`` field); anything else -> None."""
    if isinstance(value, dict) and "#text" in value:  # an XML leaf that had attributes
        value = value["#text"]
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    raw = str(value).strip()
    if not raw:
        return None
    candidate = re.sub(r"\s+", "", raw).upper()
    if bare_digits and re.fullmatch(r"\d{8}", candidate):
        candidate = "ISRCTN" + candidate
    return candidate if ISRCTN_ID_RE.match(candidate) else None

