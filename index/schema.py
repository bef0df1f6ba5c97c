"""The Whoosh schema, and how a ``TrialRecord`` becomes one index document.

``FIELD_MAP`` says, for every record field, which index field(s) it feeds; ``NOT_INDEXED``
says why the others are left out.  tests/test_index.py checks that the two cover every record
field and that every target exists in the schema, so record and index cannot drift.

Field weights live in ``FIELD_BOOSTS`` and are applied at query time (by the parser), not
baked into the index with ``field_boost``: tuning them then needs no reindex.
"""

from __future__ import annotations

import math
import re
from typing import Any

from whoosh.analysis import RegexTokenizer
from whoosh.fields import BOOLEAN, ID, KEYWORD, NUMERIC, STORED, TEXT, Schema

from trialscope.core.record import CellTherapy, CriterionItem, TrialRecord
from trialscope.extract.celltherapy import MODALITY_PARENT, extract_cell_therapy
from trialscope.index.aliases import record_aliases, words
from trialscope.index.analysis import clinical_analyzer
from trialscope.index.antibodies import record_antibodies
from trialscope.index.negation import negated_markers
from trialscope.index.pairs import FIELD as PAIRS_FIELD

# Bump when the schema or the analyzer changes in a way an old index cannot serve;
# opening an index built with another version asks the user to run `trials reindex`.
SCHEMA_VERSION = 5

# Text fields searched when a query names no field, with their query-time weights.
# Title and conditions say what a trial is about; criteria and description mention many
# diseases in passing (a myeloma CAR-T trial excludes "myasthenia gravis"), so they weigh less.
FIELD_BOOSTS: dict[str, float] = {
    "title": 4.0,
    "conditions": 3.0,
    "acronym": 2.0,
    "interventions": 2.0,
    "ids": 2.0,
    "official_title": 1.5,
    "keywords": 1.5,
    "arms": 1.0,
    "summary": 1.0,
    "sponsor": 1.0,
    "outcomes": 0.5,
    "description": 0.5,
    "criteria": 0.3,
}
# Text fields searchable by prefix only ("location:shanghai"): too noisy for free text.
# Exclusion criteria name the diseases a trial does NOT take ("active autoimmune disease such
# as myasthenia gravis" in a myeloma trial): searching them by default would rank those trials
# for the very disease they exclude.
PREFIX_ONLY_FIELDS: tuple[str, ...] = ("exclusion", "locations")
TEXT_FIELDS: tuple[str, ...] = tuple(FIELD_BOOSTS) + PREFIX_ONLY_FIELDS

# Filter fields from a closed vocabulary (KEYWORD, lower case): values go through
# ``facet_key`` on both sides.
FACET_FIELDS: tuple[str, ...] = ("status", "phases", "study_type", "registry", "sex")
# Filter and facet fields with free values, kept as the registry writes them ("Korea, Republic
# of", "Kyverna Therapeutics", "CD19"), one value per line; filters match them ignoring case.
VALUE_FIELDS: tuple[str, ...] = ("countries", "cities", "sponsor_name", "start_year",
                                 "targets", "modality", "aliases")

# record field -> index field(s) it feeds.
FIELD_MAP: dict[str, tuple[str, ...]] = {
    "trial_id": ("trial_id", "ids"),
    "registry": ("registry",),
    "secondary_ids": ("ids",),
    "title": ("title", "negated"),
    "official_title": ("official_title", "negated"),
    "acronym": ("acronym",),
    "status": ("status", "prior"),
    "phases": ("phases",),
    "study_type": ("study_type",),
    "enrollment": ("enrollment",),
    "start_date": ("start_date", "start_year"),
    "primary_completion_date": ("primary_completion_date",),
    "completion_date": ("completion_date",),
    "last_updated": ("last_updated", "prior"),
    "sponsor": ("sponsor", "sponsor_name"),
    "collaborators": ("sponsor",),
    "conditions": ("conditions", "snippet", "negated"),
    "keywords": ("keywords", "negated"),
    "mesh_terms": ("keywords",),
    "interventions": ("interventions", "snippet", "aliases"),
    "arms": ("arms",),
    "eligibility": ("criteria", "exclusion", "min_age", "max_age", "sex", "antibodies",
                    "negated"),
    "locations": ("countries", "cities", "locations"),
    "cell_therapy": ("targets", "modality"),
    "summary": ("summary", "snippet"),
    "description": ("description", "snippet"),
    "primary_outcomes": ("outcomes",),
    "has_results": ("has_results",),
}

# record field -> why the index leaves it out (the CLI reads these from the store).
NOT_INDEXED: dict[str, str] = {
    "url": "a locator, not content",
    "status_raw": "kept for audit; `status` is the searchable form",
    "why_stopped": "free text shown by `trials show`; rarely searched",
    "design": "structured design details; shown by `trials show`",
    "start_date_type": "qualifies start_date (ACTUAL/ESTIMATED)",
    "primary_completion_date_type": "qualifies primary_completion_date",
    "completion_date_type": "qualifies completion_date",
    "first_posted": "registry bookkeeping; last_updated is the sortable date",
    "sponsor_class": "coarse (INDUSTRY/OTHER); sponsor is searchable",
    "contacts": "personal data; not searchable on purpose",
    "officials": "personal data; not searchable on purpose",
    "related_ids": "used by `trials related`, not by text search",
    "unknown_vocab": "parser diagnostics",
}


_LINES = RegexTokenizer(r"[^\n]+")


def build_schema() -> Schema:
    text = clinical_analyzer()
    fields: dict[str, Any] = {
        # Exact, case-preserving key for update_document (unique=True); sortable gives a
        # cheap column (search reads hits' ids from it) without loading stored fields.
        "trial_id": ID(stored=True, unique=True, sortable=True),
        # Registry ids through the clinical analyzer too: "NCT06958939" -> nct06958939, and
        # "2015-000590-12" is found whole (and by its parts), like any code.
        "ids": TEXT(analyzer=text),
        "title": TEXT(analyzer=text, stored=True),
        "conditions": TEXT(analyzer=text, stored=True),  # stored newline-joined, for Hit
        "snippet": STORED(),
    }
    for name in TEXT_FIELDS:
        fields.setdefault(name, TEXT(analyzer=text))
    for name in FACET_FIELDS:
        stored = name in ("status", "phases", "registry")  # shown in the result list
        fields[name] = KEYWORD(lowercase=True, commas=True, stored=stored)
    for name in VALUE_FIELDS:
        fields[name] = KEYWORD(stored=False)
        fields[name].analyzer = _LINES  # one value per line, case kept
    # shift_step=8 (Whoosh's default is 4): half the range-search terms per value, which are
    # a fifth of a bulk load's postings; a range query reads at most 2 x 255 terms per tier.
    fields["enrollment"] = NUMERIC(int, bits=32, stored=True, shift_step=8)
    # The ranking tie-break (ranking.Prior), per mille: 950..1000 from status and last update.
    fields["prior"] = NUMERIC(int, bits=32, sortable=True, default=1000, shift_step=8)
    fields["min_age"] = NUMERIC(float, bits=64, shift_step=8)
    fields["max_age"] = NUMERIC(float, bits=64, shift_step=8)
    for name in ("start_date", "primary_completion_date", "completion_date", "last_updated"):
        # YYYYMMDD ints: partial dates ("2025-05") sort and range-filter as their first day.
        # default=0: an undated trial sorts last in "newest first" (Whoosh's default is max).
        fields[name] = NUMERIC(int, bits=32, stored=True, sortable=True, default=0,
                               shift_step=8)
    fields["has_results"] = BOOLEAN(stored=True)
    # antibody limits of the criteria (index/intents.py record_antibodies): "only:achr+"
    fields["antibodies"] = KEYWORD(lowercase=True, commas=True)
    # markers the record names only as absent (index/negation.py): "egfr" for "no EGFR
    # mutation" in an immunotherapy trial's inclusion criteria
    fields["negated"] = KEYWORD(lowercase=True, commas=True)
    # adjacent word pairs with a common word (index/pairs.py), one term a line: a phrase of
    # such a pair is one posting list.  Not in record_to_doc: the bulk writer makes them
    # from its own analysis, indexer.py's other writes with ``pairs.pairs_value``.
    fields[PAIRS_FIELD] = ID(analyzer=_LINES)
    return Schema(**fields)


# -- value helpers ---------------------------------------------------------------------------

_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{1,2}))?(?:-(\d{1,2}))?")


def date_key(value: str | None) -> int | None:
    """'2025-05-01' -> 20250501; partial '2025-05' -> 20250501; '2025' -> 20250101."""
    if not value:
        return None
    m = _DATE_RE.match(value.strip())
    if not m:
        return None
    year, month, day = int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1)
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return year * 10000 + month * 100 + day


def facet_key(value: str) -> str:
    """The indexed form of a filter value: lower case, commas (the separator) -> spaces."""
    return " ".join(value.replace(",", " ").split()).lower()


def value_key(value: str) -> str:
    """The indexed form of a free facet value: whitespace collapsed, case kept."""
    return " ".join(str(value).split())


def _values(values: list[Any]) -> str | None:
    keys = [value_key(v) for v in values if v and value_key(v)]
    return "\n".join(dict.fromkeys(keys)) or None


def _facet(values: list[str]) -> str | None:
    keys = [facet_key(v) for v in values if v and facet_key(v)]
    return ",".join(dict.fromkeys(keys)) or None


def _join(parts: list[Any]) -> str:
    return "\n".join(str(p) for p in parts if p)


def _criteria_texts(items: list[CriterionItem]) -> list[str]:
    """Nested criteria ("one of the following: 1. ... 2. ...") flattened in reading order."""
    out: list[str] = []
    for item in items or []:
        out.append(item.get("text") or "")
        out.extend(_criteria_texts(item.get("children") or []))
    return out


def _interventions_text(record: TrialRecord) -> str:
    parts: list[Any] = []
    for iv in record.interventions:
        parts.append(iv.get("name"))
        parts.extend(iv.get("other_names") or [])
        parts.append(iv.get("description"))
    return _join(parts)


def _arms_text(record: TrialRecord) -> str:
    parts: list[Any] = []
    for arm in record.arms:
        parts.append(arm.get("label"))
        parts.append(arm.get("description"))
        parts.extend(arm.get("interventions") or [])
        parts.extend(d.get("text") for d in arm.get("doses") or [])
    return _join(parts)


def _snippet_source(record: TrialRecord, criteria: list[str]) -> str:
    """Stored text the result list highlights: the title, what the trial does, what it tests,
    then the inclusion criteria (where thresholds such as "MG-ADL >= 6" are)."""
    body = record.summary or (record.description or "")[:1500] or record.official_title or ""
    lines = [record.title or "", body.strip()]
    if record.interventions:
        names = [name for iv in record.interventions if (name := iv.get("name"))]
        lines.append("Interventions: " + "; ".join(names))
    if record.conditions:
        lines.append("Conditions: " + "; ".join(record.conditions))
    inclusion = " ".join(c for c in criteria if c)[:1500]
    if inclusion:
        lines.append("Criteria: " + inclusion)
    return "\n".join(line for line in lines if line)


# Status and recency as gentle tie-breaks (ranking.Prior): an open trial updated this decade
# scores up to 5% above a closed one last touched twenty years ago, never more.
_OPEN = {"NOT_YET_RECRUITING", "RECRUITING", "ENROLLING_BY_INVITATION"}


def prior(record: TrialRecord) -> int:
    """Per mille: 1000 for an open trial updated in the last few years, down to 950."""
    status = record.status or "UNKNOWN"
    penalty = 0.0 if status in _OPEN else 0.015 if status == "ACTIVE_NOT_RECRUITING" else 0.03
    updated = date_key(record.last_updated)
    recency = min(max(((updated or 0) // 10000 - 2005) / 20, 0.0), 1.0)
    return round(1000 * (1.0 - penalty - 0.02 * (1.0 - recency)))


def record_to_doc(record: TrialRecord, *, parsed: bool = False) -> dict[str, Any]:
    """One Whoosh document; empty values are left out (Whoosh indexes nothing for them).
    ``parsed``: the record comes straight from the parser, so an empty ``cell_therapy``
    means "none found", not "stored before the parser filled it" (see ``cell_facts``)."""
    elig = record.eligibility or {}
    criteria = _criteria_texts(elig.get("inclusion") or [])
    exclusion = _criteria_texts(elig.get("exclusion") or [])
    if not any(criteria) and not any(exclusion):
        criteria = [elig.get("text") or ""]  # not split by the parser: all of it, unweighted
    enrollment = (record.enrollment or {}).get("count")
    cell = record.cell_therapy if parsed else cell_facts(record)
    doc: dict[str, Any] = {
        "trial_id": record.trial_id,
        "ids": " ".join([record.trial_id, *record.secondary_id_values]),
        "registry": facet_key(record.registry or ""),
        "title": record.title or record.official_title or "",
        "official_title": record.official_title,
        "acronym": record.acronym,
        "conditions": _join(record.conditions),
        "keywords": _join(record.keywords + record.mesh_terms),
        "interventions": _interventions_text(record),
        "arms": _arms_text(record),
        "summary": record.summary,
        "description": record.description,
        "criteria": _join(criteria),
        "exclusion": _join(exclusion),
        "outcomes": _join(record.primary_outcomes),
        "sponsor": _join([record.sponsor, *record.collaborators]),
        "locations": _join(
            [", ".join(filter(None, (loc.get("facility"), loc.get("city"), loc.get("state"),
                                     loc.get("country")))) for loc in record.locations]
        ),
        "snippet": _snippet_source(record, criteria),
        "status": _facet([record.status or "UNKNOWN"]),
        "phases": _facet(record.phases),
        "study_type": _facet([record.study_type or ""]),
        "countries": _values(record.countries),
        "cities": _values([loc.get("city") for loc in record.locations]),
        "sponsor_name": _values([record.sponsor]),
        "start_year": str(start // 10000) if (start := date_key(record.start_date)) else None,
        "targets": _values(list(cell.get("targets") or [])),
        "modality": _values([*(cell.get("modality") or []),
                             *(MODALITY_PARENT.get(m) for m in cell.get("modality") or [])]),
        # the record's own names for its things (index/aliases.py): "keytruda<TAB>pembrolizumab"
        "aliases": "\n".join(record_aliases(record)) or None,
        "prior": prior(record),
        "sex": _facet([elig.get("sex") or ""]),
        "antibodies": ",".join(record_antibodies(record)) or None,
        "negated": ",".join(negated_markers(
            [record.title, record.official_title, *record.conditions, *record.keywords,
             *criteria], words)) or None,
        # a 32-bit field: a count no registry could mean (inf, 2**40) is left out, not fatal
        "enrollment": int(enrollment) if isinstance(enrollment, (int, float)) and math.isfinite(
            enrollment) and 0 <= enrollment < 2**31 else None,
        "min_age": _number(elig.get("min_age_years")),
        "max_age": _number(elig.get("max_age_years")),
        "start_date": date_key(record.start_date),
        "primary_completion_date": date_key(record.primary_completion_date),
        "completion_date": date_key(record.completion_date),
        "last_updated": date_key(record.last_updated),
        "has_results": bool(record.has_results),
    }
    return {k: v for k, v in doc.items() if v is not None and v != ""}


def cell_facts(record: TrialRecord) -> CellTherapy:
    """``record.cell_therapy``, or (for a record stored before the parser filled it) the
    facts extracted now; an "mRNA CAR-T" is indexed as a "CAR-T" too (``record_to_doc`` adds
    each modality's ``MODALITY_PARENT``, so ``--modality CAR-T`` finds it)."""
    return record.cell_therapy or extract_cell_therapy(record)


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None
