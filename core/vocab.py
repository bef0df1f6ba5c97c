"""Registry vocabularies (status, phase, study type) as enums with one explicit mapping table.

Every registry spelling we know maps to one enum value.  A spelling we do not know is never
coerced to a neighbour: ``normalise_*`` returns it unchanged with ``known=False`` so the parser
can keep it raw and count it (``trials/unknown_vocab/<kind>``).
"""

from __future__ import annotations

import re
from enum import Enum


class Status(str, Enum):
    NOT_YET_RECRUITING = "NOT_YET_RECRUITING"
    RECRUITING = "RECRUITING"
    ENROLLING_BY_INVITATION = "ENROLLING_BY_INVITATION"
    ACTIVE_NOT_RECRUITING = "ACTIVE_NOT_RECRUITING"
    SUSPENDED = "SUSPENDED"
    TERMINATED = "TERMINATED"
    COMPLETED = "COMPLETED"
    WITHDRAWN = "WITHDRAWN"
    UNKNOWN = "UNKNOWN"
    AVAILABLE = "AVAILABLE"  # expanded access
    NO_LONGER_AVAILABLE = "NO_LONGER_AVAILABLE"
    TEMPORARILY_NOT_AVAILABLE = "TEMPORARILY_NOT_AVAILABLE"
    APPROVED_FOR_MARKETING = "APPROVED_FOR_MARKETING"
    WITHHELD = "WITHHELD"


class Phase(str, Enum):
    EARLY_PHASE1 = "EARLY_PHASE1"
    PHASE1 = "PHASE1"
    PHASE2 = "PHASE2"
    PHASE3 = "PHASE3"
    PHASE4 = "PHASE4"
    NA = "NA"


class StudyType(str, Enum):
    INTERVENTIONAL = "INTERVENTIONAL"
    OBSERVATIONAL = "OBSERVATIONAL"
    EXPANDED_ACCESS = "EXPANDED_ACCESS"


# Statuses a researcher calls "open": the trial will or may still take patients.
OPEN_STATUSES = (Status.NOT_YET_RECRUITING, Status.RECRUITING, Status.ENROLLING_BY_INVITATION)


_NOT_KEY = re.compile(r"[^a-z0-9]+")


def _key(text: str) -> str:
    """Spelling-insensitive lookup key: 'Not yet recruiting' == 'NOT_YET_RECRUITING'."""
    return _NOT_KEY.sub("", text.lower())


# One table per vocabulary: registry spelling -> enum.  Keys go through _key().
_STATUS_TABLE: dict[str, Status] = {
    **{_key(s.value): s for s in Status},
    _key("Active, not recruiting"): Status.ACTIVE_NOT_RECRUITING,
    _key("Enrolling by invitation"): Status.ENROLLING_BY_INVITATION,
    _key("Not yet recruiting"): Status.NOT_YET_RECRUITING,
    _key("Unknown status"): Status.UNKNOWN,
    _key("Approved for marketing"): Status.APPROVED_FOR_MARKETING,
}

_PHASE_TABLE: dict[str, tuple[Phase, ...]] = {
    **{_key(p.value): (p,) for p in Phase},
    _key("Early Phase 1"): (Phase.EARLY_PHASE1,),
    _key("Early 1"): (Phase.EARLY_PHASE1,),
    _key("Phase 0"): (Phase.EARLY_PHASE1,),
    _key("Phase 1"): (Phase.PHASE1,),
    _key("Phase I"): (Phase.PHASE1,),
    _key("Phase 2"): (Phase.PHASE2,),
    _key("Phase II"): (Phase.PHASE2,),
    _key("Phase 3"): (Phase.PHASE3,),
    _key("Phase III"): (Phase.PHASE3,),
    _key("Phase 4"): (Phase.PHASE4,),
    _key("Phase IV"): (Phase.PHASE4,),
    _key("Phase 1/Phase 2"): (Phase.PHASE1, Phase.PHASE2),
    _key("Phase 1/2"): (Phase.PHASE1, Phase.PHASE2),
    _key("Phase 2/Phase 3"): (Phase.PHASE2, Phase.PHASE3),
    _key("Phase 2/3"): (Phase.PHASE2, Phase.PHASE3),
    _key("N/A"): (Phase.NA,),
    _key("Not Applicable"): (Phase.NA,),
}

_STUDY_TYPE_TABLE: dict[str, StudyType] = {
    **{_key(t.value): t for t in StudyType},
    _key("Expanded Access"): StudyType.EXPANDED_ACCESS,
    _key("Interventional study"): StudyType.INTERVENTIONAL,
    _key("Observational study"): StudyType.OBSERVATIONAL,
}


def normalise_status(raw: str | None) -> tuple[str, bool]:
    """(enum value or the raw text, known?).  None/empty is UNKNOWN and counts as known."""
    if not raw or not raw.strip():
        return Status.UNKNOWN.value, True
    hit = _STATUS_TABLE.get(_key(raw))
    return (hit.value, True) if hit else (raw.strip(), False)


def normalise_phase(raw: str) -> tuple[list[str], bool]:
    hit = _PHASE_TABLE.get(_key(raw))
    return ([p.value for p in hit], True) if hit else ([raw.strip()], False)


def normalise_phases(raws: list[str] | None) -> tuple[list[str], list[str]]:
    """(normalised phases in enum order without duplicates, unknown raw values)."""
    out: list[str] = []
    unknown: list[str] = []
    for raw in raws or []:
        values, known = normalise_phase(raw)
        if not known:
            unknown.append(raw)
        out.extend(v for v in values if v not in out)
    order = {p.value: i for i, p in enumerate(Phase)}
    return sorted(out, key=lambda v: order.get(v, len(order))), unknown


def normalise_study_type(raw: str | None) -> tuple[str | None, bool]:
    if not raw or not raw.strip():
        return None, True
    hit = _STUDY_TYPE_TABLE.get(_key(raw))
    return (hit.value, True) if hit else (raw.strip(), False)


# The one display form of a phase, everywhere text is shown (table, card, facets); each is
# also a value --phase accepts (as are 'phase 1', 'I', 'phase1', 'PHASE1', 'early1', '0').
PHASE_LABELS: dict[str, str] = {
    Phase.EARLY_PHASE1.value: "early 1",
    Phase.PHASE1.value: "1",
    Phase.PHASE2.value: "2",
    Phase.PHASE3.value: "3",
    Phase.PHASE4.value: "4",
    Phase.NA.value: "n/a",
}


def phase_label(phases: list[str]) -> str:
    """Short human form: ['PHASE1', 'PHASE2'] -> '1/2'; ['EARLY_PHASE1'] -> 'early 1';
    ['NA'] -> 'n/a'; [] -> '-'."""
    if not phases:
        return "-"
    return "/".join(PHASE_LABELS.get(p, p) for p in phases)
