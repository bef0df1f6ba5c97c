"""Search filters and facet counts, over the same index fields so the two always agree.

A facet value's count is the number of results that the matching filter would keep:
``--status recruiting`` <-> status "RECRUITING", ``--phase 2`` <-> phase "PHASE2",
``--country China`` <-> country "China", ``--sponsor NAME`` <-> sponsor NAME,
``--start-from 2025 --start-to 2025`` <-> start year "2025", ``--target CD19`` <-> target "CD19",
``--modality CAR-T`` <-> modality "CAR-T" (tests/test_facets.py checks every value).

Every filter value is checked: a status, phase or type outside the vocabulary, a country or
sponsor no indexed trial has, or a malformed date is a ``QueryError`` naming the value, never
an empty result list.

No Whoosh internals here: the counts come from ``index/engine/termcounts.py``.
"""

from __future__ import annotations

import difflib
import heapq
import re
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from whoosh import query as wq
from whoosh.searching import Searcher

from trialscope.core.vocab import (
    OPEN_STATUSES,
    PHASE_LABELS,
    Phase,
    Status,
    StudyType,
    normalise_phase,
    normalise_status,
    normalise_study_type,
)
from trialscope.extract.celltherapy import normalise_modality, normalise_target
from trialscope.index.engine import termcounts
from trialscope.index.query import QueryError, numeric_range
from trialscope.index.schema import facet_key, value_key

# facet name (as shown and in --json) -> index field
FACETS: dict[str, str] = {
    "status": "status", "phase": "phases", "country": "countries", "sponsor": "sponsor_name",
    "start_year": "start_year", "target": "targets", "modality": "modality",
}
FACET_LIMIT = 15  # values per facet, most frequent first
_UPPER = {"status", "phases"}  # closed vocabularies, indexed lower case, shown as the enum


@dataclass(frozen=True)
class Filters:
    """What ``trials search`` / ``export`` filter on (the CLI's options, validated here)."""

    status: Sequence[str] = ()
    phase: Sequence[str] = ()
    study_type: Sequence[str] = ()
    registry: Sequence[str] = ()
    country: Sequence[str] = ()
    city: Sequence[str] = ()
    sponsor: Sequence[str] = ()
    target: Sequence[str] = ()
    modality: Sequence[str] = ()
    sex: str | None = None  # keep trials that take this sex (or do not say)
    start_from: str | None = None  # YYYY, YYYY-MM or YYYY-MM-DD, inclusive
    start_to: str | None = None
    updated_since: str | None = None
    updated_to: str | None = None
    min_enrollment: int | None = None
    max_enrollment: int | None = None
    has_results: bool | None = None

    @classmethod
    def of(cls, values: dict[str, Any]) -> Filters:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise TypeError(f"unknown filter(s): {', '.join(sorted(unknown))}")
        return cls(**{k: v for k, v in values.items() if v is not None and v != ()})

    def active(self) -> bool:
        return any(getattr(self, f.name) not in (None, (), []) for f in fields(self))


def build_filter(searcher: Searcher, f: Filters) -> wq.Query | None:
    """The Whoosh filter for ``f``: values of one filter are alternatives (OR), different
    filters must all hold (AND)."""
    groups = [
        ("status", [facet_key(v) for v in _status_values(f.status)]),
        ("phases", [facet_key(v) for v in _phase_values(f.phase)]),
        ("study_type", [facet_key(v) for v in _type_values(f.study_type)]),
        ("registry", _indexed(searcher, "registry", f.registry, "registry", lower=True)),
        ("countries", _indexed(searcher, "countries", f.country, "country")),
        ("cities", _indexed(searcher, "cities", f.city, "city")),
        ("sponsor_name", _indexed(searcher, "sponsor_name", f.sponsor, "lead sponsor",
                                  substring=True)),
        ("targets", _indexed(searcher, "targets", [normalise_target(v) or v for v in f.target],
                             "cell-therapy target")),
        ("modality", _indexed(searcher, "modality",
                              [normalise_modality(v) or v for v in f.modality],
                              "cell-therapy modality")),
    ]
    clauses: list[wq.Query] = [wq.Or([wq.Term(name, v) for v in dict.fromkeys(values)])
                               for name, values in groups if values]
    if f.sex:
        sex = f.sex.strip().lower()
        if sex not in ("female", "male"):
            raise QueryError(f"Unknown sex {f.sex!r}. Use female or male.", code="bad_filter")
        clauses.append(wq.Or([wq.Term("sex", sex), wq.Term("sex", "all"),
                              wq.Not(wq.Every("sex"))]))
    for field, lo, hi in (("start_date", f.start_from, f.start_to),
                          ("last_updated", f.updated_since, f.updated_to)):
        if lo or hi:
            names = ("--start-from", "--start-to") if field == "start_date" else (
                "--updated-since", "--updated-to")
            start = date_bounds(lo, names[0])[0] if lo else None
            end = date_bounds(hi, names[1])[1] if hi else None
            clauses.append(wq.NumericRange(field, start, end))
    if f.min_enrollment is not None or f.max_enrollment is not None:
        if (f.min_enrollment is not None and f.max_enrollment is not None
                and f.min_enrollment > f.max_enrollment):
            raise QueryError(f"--min-enrollment {f.min_enrollment} is above --max-enrollment "
                             f"{f.max_enrollment}.", code="bad_filter")
        clauses.append(numeric_range("enrollment", f.min_enrollment, f.max_enrollment,
                                     label="--min-enrollment/--max-enrollment"))
    if f.has_results is not None:
        clauses.append(wq.Term("has_results", bool(f.has_results)))
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else wq.And(clauses)


_DATE = re.compile(r"^(\d{4})(?:-(\d{1,2}))?(?:-(\d{1,2}))?$")


def date_bounds(text: str, name: str = "date") -> tuple[int, int]:
    """'2025' -> (20250101, 20251231); '2025-05' -> (20250501, 20250531); a day -> itself."""
    m = _DATE.match(text.strip())
    if not m:
        raise QueryError(f"{name} {text!r} is not a date. Write YYYY, YYYY-MM or YYYY-MM-DD.",
                         code="bad_filter")
    year, month, day = int(m.group(1)), m.group(2), m.group(3)
    lo_m, hi_m = (int(month), int(month)) if month else (1, 12)
    if not 1 <= lo_m <= 12 or (day and not 1 <= int(day) <= 31):
        raise QueryError(f"{name} {text!r} is not a valid date.", code="bad_filter")
    if day:
        key = year * 10000 + lo_m * 100 + int(day)
        return key, key
    return year * 10000 + lo_m * 100 + 1, year * 10000 + hi_m * 100 + 31


def _status_values(raws: Iterable[str]) -> list[str]:
    out: list[str] = []
    for raw in raws:
        if raw.strip().lower() == "open":
            out.extend(s.value for s in OPEN_STATUSES)
            continue
        value, known = normalise_status(raw)
        if not known:
            valid = ", ".join(["open"] + [s.value.lower() for s in Status])
            raise QueryError(f"Unknown status {raw!r}. Use one of: {valid}.", code="bad_filter")
        out.append(value)
    return out


def _phase_values(raws: Iterable[str]) -> list[str]:
    out: list[str] = []
    for raw in raws:
        values, known = normalise_phase(raw)
        if not known:  # "2" or "1/2" -> "Phase 2", "Phase 1/2"
            values, known = normalise_phase(f"Phase {raw.strip()}")
        if not known:
            valid = ", ".join(PHASE_LABELS[p.value] for p in Phase)
            raise QueryError(f"Unknown phase {raw!r}. Use one of: {valid} (also written "
                             "'phase 2', 'II', 'phase2', 'early phase 1').", code="bad_filter")
        out.extend(values)
    return out


def _type_values(raws: Iterable[str]) -> list[str]:
    out: list[str] = []
    for raw in raws:
        value, known = normalise_study_type(raw)
        if not known or value is None:
            valid = ", ".join(t.value.lower() for t in StudyType)
            raise QueryError(f"Unknown study type {raw!r}. Use one of: {valid}.",
                             code="bad_filter")
        out.append(value)
    return out


LIST_ALL_UP_TO = 20  # a vocabulary this small is listed whole when a value is not in it
SUGGESTIONS = 5


def _indexed(searcher: Searcher, field: str, raws: Iterable[str], label: str,
             lower: bool = False, substring: bool = False) -> list[str]:
    """Free-form values must occur in the index (ignoring case), or it is a typo.

    ``substring``: a value that is no indexed value but is part of some ("zhejiang") stands
    for all of them ("Zhejiang University", "Zhejiang Provincial People's Hospital").  A value
    not found is answered with the values it might mean: those containing it, then those
    spelled alike, or the whole vocabulary when it is small (targets, modalities, registries).
    """
    raws = list(raws)
    if not raws:
        return []
    terms = {_decode(t): None for t in searcher.reader().field_terms(field)}
    by_key = {t.lower(): t for t in terms}
    out: list[str] = []
    for raw in raws:
        key = (facet_key(raw) if lower else value_key(raw)).lower()
        if key in by_key:
            out.append(by_key[key])
            continue
        containing = [k for k in by_key if key and key in k]
        if substring and containing:
            out.extend(by_key[k] for k in sorted(containing))
            continue
        raise QueryError(f"No indexed trial has {label} {raw!r}.{_suggest(key, by_key)}",
                         code="bad_filter")
    return out


def _suggest(key: str, by_key: dict[str, str]) -> str:
    """' Did you mean ...?' (values containing it, then spelled alike), and the whole
    vocabulary when it is small."""
    close = [k for k in sorted(by_key) if key and key in k][:SUGGESTIONS]
    close += [c for c in difflib.get_close_matches(key, list(by_key), n=SUGGESTIONS, cutoff=0.6)
              if c not in close]
    out = f" Did you mean {', '.join(repr(by_key[c]) for c in close[:SUGGESTIONS])}?" \
        if close else ""
    if not by_key:
        return out + " No trial in the index has any."
    if len(by_key) <= LIST_ALL_UP_TO:
        out += f" Indexed values: {'; '.join(sorted(by_key.values(), key=str.lower))}."
    return out


def _decode(term: Any) -> str:
    return term.decode("utf-8") if isinstance(term, bytes) else str(term)


def count_facets(searcher: Searcher, docset: set[int], limit: int | None = FACET_LIMIT
                 ) -> dict[str, dict[str, int]]:
    """{facet: {value: count}} over ``docset`` (the result set, after every filter), most
    frequent values first.  One pass over each facet field's term table per segment, with no
    stored field loaded: a term's document frequency and first and last document say which
    documents most terms have (a sponsor or a city is mostly one or two trials'), a term
    none of whose documents can be in the result set is skipped, and the postings of the
    others are read most frequent first, only until no remaining value can reach the
    ``limit`` most frequent (its document frequency bounds its count)."""
    reader = searcher.reader()
    parts = _per_segment(searcher, docset)
    indexed = set(reader.indexed_field_names())
    out: dict[str, dict[str, int]] = {}
    for name, field in FACETS.items():
        counts: dict[bytes, int] = {}
        if docset and field in indexed:
            # upper-cased values sort otherwise than their bytes: count them all (a handful)
            counts = termcounts.field_counts(field, parts, None if field in _UPPER else limit)
        if field in _UPPER:
            ranked = sorted(((_decode(v).upper(), n) for v, n in counts.items() if n),
                            key=lambda vc: (-vc[1], vc[0]))
        else:  # UTF-8 bytes sort as their text: decode only what is shown
            pairs = ((-n, v) for v, n in counts.items() if n)
            best = heapq.nsmallest(limit, pairs) if limit else sorted(pairs)
            ranked = [(_decode(v), -n) for n, v in best]
        out[name] = dict(ranked[:limit] if limit else ranked)
    return out


def _per_segment(searcher: Searcher, docset: set[int]) -> list[tuple[Any, set[int], list[int]]]:
    """(segment reader, its documents in ``docset``, the same sorted) per segment."""
    ordered = sorted(docset)
    out = []
    for sub, offset in searcher.leaf_searchers():
        seg = sub.reader()
        lo = bisect_left(ordered, offset)
        hi = bisect_left(ordered, offset + seg.doc_count_all())
        local = [d - offset for d in ordered[lo:hi]] if offset else ordered[lo:hi]
        if local:
            out.append((seg, set(local), local))
    return out




