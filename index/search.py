"""Ranked search: parse the query, apply the filters, rank, page, count facets, highlight.

The pieces: the query language (query.py), ranking and explanations (ranking.py), filters and
facets (facets.py), snippets (here).  One searcher per call; stored fields are read only for
the page of hits shown, and the total and the facets come from the matching document set,
so a result count, a facet count and a filter always agree.

``keep``: an optional predicate on trial ids applied in ranked order before paging: the
service layer uses it for patient-fit filters that need the stored record (index/fit.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from whoosh import highlight as wh
from whoosh import query as wq
from whoosh.searching import Searcher
from whoosh.sorting import FieldFacet

from .analysis import clinical_analyzer
from .facets import Filters, build_filter, count_facets
from .indexer import open_index
from .query import QueryError, describe, parse_query, units_of
from .ranking import Prior, explain
from .schema import TEXT_FIELDS

__all__ = ["Hit", "QueryError", "SearchResults", "describe", "make_snippet", "parse_query",
           "search"]

MARK_OPEN, MARK_CLOSE = "«", "»"


@dataclass
class Hit:
    trial_id: str
    score: float
    title: str
    status: str
    phases: list[str]
    conditions: list[str]
    snippet: str  # matched terms wrapped in « »
    explanation: dict[str, Any] | None = None
    also: list[dict[str, str]] = field(default_factory=list)  # other registrations


@dataclass
class SearchResults:
    total: int
    hits: list[Hit] = field(default_factory=list)
    query_repr: str = ""
    offset: int = 0
    limit: int | None = 20
    facets: dict[str, dict[str, int]] | None = None


# -- snippets ----------------------------------------------------------------------------------

class _MarkFormatter(wh.Formatter):
    between = " … "

    def format_token(self, text: str, token, replace: bool = False) -> str:
        return MARK_OPEN + wh.get_text(text, token, replace) + MARK_CLOSE


# Highlighting re-analyses each hit's text (~1 ms); an export of every hit (limit=None) gets
# plain passages after the first MAX_HIGHLIGHTED.
MAX_HIGHLIGHTED = 200
_FRAGMENTER = wh.ContextFragmenter(maxchars=240, surround=70)
_ANALYZER = clinical_analyzer()


def _query_terms(q: wq.Query | None, searcher: Searcher) -> frozenset[str]:
    """Indexed words the query matched, for highlighting.

    Not ``Query.existing_terms``: in Whoosh 2.7.5 its loop variable overwrites its
    ``fieldname`` argument, so after the first term it only looks at that term's field.
    """
    if q is None:
        return frozenset()
    reader = searcher.reader()
    found: set[str] = set()
    for leaf in q.leaves():
        if leaf.field() not in TEXT_FIELDS:
            continue
        # expanded_terms turns prefixes ("myasth*") into the indexed words they match.
        for name, text in leaf.expanded_terms(reader, phrases=True):
            text = text.decode("utf-8") if isinstance(text, bytes) else text
            if (name, text) in reader:
                found.add(text)
    return frozenset(found)


def make_snippet(text: str, terms: frozenset[str], width: int = 240) -> str:
    """The best passage of ``text`` with matched terms in « »; its start if nothing matched."""
    text = " · ".join(line.strip() for line in text.splitlines() if line.strip())
    if terms:
        # Index mode: compound parts and concept words match too ("gravis" in "MG-ADL").
        marked = wh.highlight(text, terms, _ANALYZER, _FRAGMENTER, _MarkFormatter(),
                              top=1, mode="index")
        if marked:
            return marked.strip()
    return text if len(text) <= width else text[:width].rsplit(" ", 1)[0] + " …"


# -- search ------------------------------------------------------------------------------------

_NEWEST_FIRST = [FieldFacet("last_updated", reverse=True), FieldFacet("trial_id")]


def search(
    index_dir: str | os.PathLike[str],
    query: str,
    *,
    limit: int | None = 20,
    offset: int = 0,
    facets: bool = False,
    explain_hits: bool = False,
    keep: Callable[[str], bool] | None = None,
    **filters: Any,
) -> SearchResults:
    """Ranked hits for ``query`` within the filters (``Filters`` fields as keywords); an empty
    query lists every filtered trial, most recently updated first.  ``limit=None`` returns
    every hit (exports).

    Raises ``QueryError`` (bad query, filter or argument) or ``NoIndexError``.
    """
    if (limit is not None and limit < 1) or offset < 0:
        raise QueryError(f"limit must be >= 1 and offset >= 0 (got {limit}, {offset}).",
                         code="bad_argument")
    spec = Filters.of(filters)
    q = parse_query(query)
    ix = open_index(index_dir)
    try:
        with ix.searcher() as searcher:  # one per call: cheap, segments are not compound
            _drop_absent(q, searcher.reader())
            flt = build_filter(searcher, spec)
            base = q if q is not None else wq.Every()
            ranked = Prior(q) if q is not None else wq.Every()
            sort = {"sortedby": _NEWEST_FIRST} if q is None else {}
            if keep is None:
                docset = set(searcher.docs_for_query(
                    base if flt is None else wq.And([base, flt])))
                stop = None if limit is None else offset + limit
                results = searcher.search(ranked, limit=stop, filter=docset, **sort) \
                    if docset else None
                ranked_docs = ([] if results is None else
                               [(h.docnum, h.score) for h in results[offset:stop]])
                page, total = ranked_docs, len(docset)
            else:
                results = searcher.search(ranked, limit=None, filter=flt, **sort)
                ids = searcher.reader().column_reader("trial_id")
                kept = [(h.docnum, h.score) for h in results if keep(ids[h.docnum])]
                docset = {d for d, _ in kept}
                stop = None if limit is None else offset + limit
                page, total = kept[offset:stop], len(kept)
            terms = _query_terms(q, searcher)
            hits = [_hit(searcher, docnum, score, q,
                         terms if k < MAX_HIGHLIGHTED else frozenset(), explain_hits)
                    for k, (docnum, score) in enumerate(page)]
            return SearchResults(
                total=total, hits=hits, query_repr=describe(q), offset=offset, limit=limit,
                facets=count_facets(searcher, docset) if facets else None)
    finally:
        ix.close()


def _drop_absent(q: wq.Query | None, reader: Any) -> None:
    """Remove the leaves of each unit whose terms this index does not have: "CAR-T" brings
    ~50 product spellings x 13 fields, of which a given index holds a few.  The units'
    ``alternatives`` (what coordination counts) are left as they are."""
    for unit in units_of(q):
        child = unit.child
        if not isinstance(child, wq.Or):
            continue
        kept = [leaf for leaf in child.subqueries if _present(leaf, reader)]
        unit.child = wq.Or(kept) if kept else wq.NullQuery


def _present(leaf: wq.Query, reader: Any) -> bool:
    if isinstance(leaf, wq.Term):
        return (leaf.fieldname, leaf.text) in reader
    if isinstance(leaf, wq.Phrase):
        return all((leaf.fieldname, w) in reader for w in leaf.words)
    return True


def _hit(searcher: Searcher, docnum: int, score: Any, q: wq.Query | None,
         terms: frozenset[str], with_explanation: bool) -> Hit:
    stored = searcher.stored_fields(docnum)
    ranked = q is not None
    hit = Hit(
        trial_id=stored["trial_id"],
        score=float(score or 0.0) if ranked else 0.0,  # sorted results carry sort keys
        title=stored.get("title", ""),
        status=stored.get("status", "unknown").upper(),
        phases=[p.upper() for p in stored.get("phases", "").split(",") if p],
        conditions=[c for c in stored.get("conditions", "").split("\n") if c],
        snippet=make_snippet(stored.get("snippet", ""), terms),
    )
    if with_explanation:
        hit.explanation = {"score": round(hit.score, 4), **explain(searcher, q, docnum)}
    return hit
