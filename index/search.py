"""Ranked search: parse the query, apply the filters, rank, page, count facets, highlight.

The pieces: the query language (query.py), ranking and explanations (ranking.py), the
evaluation (taat.py: every match scored as Whoosh's BM25F scores it, without Whoosh's
per-posting matchers), filters and facets (facets.py), snippets (here).  One searcher per
call; stored fields are read only for the page of hits shown, and the total and the facets
come from the matching document set, so a result count, a facet count and a filter always
agree.

``groups``: trials registered more than once, listed and counted once (their best-ranked
registration).  ``keep``: an optional predicate on trial ids applied in ranked order before
paging: the service layer uses it for patient-fit filters that need the stored record
(extract/fit.py).
"""

from __future__ import annotations

import heapq
import itertools
import os
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, AnyStr

from whoosh import highlight as wh
from whoosh import query as wq
from whoosh.analysis import Token
from whoosh.searching import Searcher
from whoosh.sorting import FieldFacet
from whoosh.support.levenshtein import levenshtein

from trialscope.index.analysis import (
    CONCEPTS,
    HYPHENS,
    SCAN_RE,
    WORD_VARIANTS,
    ClinicalFilter,
    clinical_analyzer,
    concept_named,
    concept_spans,
    normalize_word,
)
from trialscope.index.engine import taat
from trialscope.index.facets import Filters, build_filter, count_facets
from trialscope.index.indexer import open_index
from trialscope.index.intents import Intent, understand
from trialscope.index.query import QueryError, describe, parse_query, units_of
from trialscope.index.ranking import TIER_STEPS, Prior, explain, recount, unsquash
from trialscope.index.schema import TEXT_FIELDS

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
    intents: dict[str, str] = field(default_factory=dict)  # understood intent -> yes/partly/no


@dataclass
class SearchResults:
    total: int
    hits: list[Hit] = field(default_factory=list)
    query_repr: str = ""
    understood: list[str] = field(default_factory=list)  # intents taken from the query
    offset: int = 0
    limit: int | None = 20
    facets: dict[str, dict[str, int]] | None = None


# -- snippets ----------------------------------------------------------------------------------

class _MarkFormatter(wh.Formatter):
    between = " … "

    def format_token(self, text: str, token, replace: bool = False) -> str:
        return MARK_OPEN + wh.get_text(text, token, replace) + MARK_CLOSE


# Highlighting re-analyses the text around each hit's matches (~0.1 ms a hit); an export of
# every hit (limit=None) gets plain passages after the first MAX_HIGHLIGHTED.
MAX_HIGHLIGHTED = 200
_FRAGMENTER = wh.ContextFragmenter(maxchars=240, surround=70)
_ANALYZER = clinical_analyzer()
_FILTER = ClinicalFilter()


def _query_terms(q: wq.Query | None, searcher: Searcher) -> frozenset[str]:
    """Indexed words the query matched, for highlighting.

    Not ``Query.existing_terms``: in Whoosh 2.7.5 its loop variable overwrites its
    ``fieldname`` argument, so after the first term it only looks at that term's field.
    """
    if q is None:
        return frozenset()
    reader = searcher.reader()
    table = taat.terms_of(searcher)
    found: set[str] = set()
    for leaf in q.leaves():
        if leaf.field() not in TEXT_FIELDS:
            continue
        # expanded_terms turns prefixes ("myasth*") into the indexed words they match.
        for name, text in leaf.expanded_terms(reader, phrases=True):
            text = text.decode("utf-8") if isinstance(text, bytes) else text
            if text not in found and (name, text) in table:
                found.add(text)
    return frozenset(found)


def make_snippet(text: str, terms: frozenset[str], width: int = 240) -> str:
    """The best passage of ``text`` with matched terms in « »; its start if nothing matched."""
    text = " · ".join(line.strip() for line in text.splitlines() if line.strip())
    if terms:
        # What wh.highlight(text, terms, _ANALYZER, _FRAGMENTER, _MarkFormatter(), top=1,
        # mode="index") does, with the text analysed only around the places a term can
        # match.  Index mode: compound parts and concept words match too ("gravis" in
        # "MG-ADL").
        fragments = wh.top_fragments(_fragments(text, _spans(text, terms), terms), 1,
                                     wh.BasicFragmentScorer(), wh.FIRST)
        marked = _MarkFormatter()(text, fragments)
        if marked:
            return marked.strip()
    return text if len(text) <= width else text[:width].rsplit(" ", 1)[0] + " …"


# Around each place a term may match, the text analysed starts more than a passage's
# leading context before it (_FRAGMENTER's surround: 70 characters) and runs on past enough
# words for a passage to end (it ends 70 token characters after its last match, 140 at the
# very start of the text): the passages found, their context and their scores are those of
# the whole text.
_BEFORE = 100
_AFTER_WORD_CHARS = 160
# from a position to just past its _AFTER_WORD_CHARS-th word character
_WORD_CHARS_AFTER = re.compile(rf"(?:\W*\w){{{_AFTER_WORD_CHARS}}}")
_MAX_SPOTS = 200  # more candidate places than this: analyse the whole text


def _spans(text: str, terms: frozenset[str]) -> list[tuple[int, int, int]]:
    """The parts of ``text`` to analyse, in order and apart: where a term of ``terms`` can
    occur, with their context, as (start, end, the end of the last place in it a term can
    occur); all of it when that cannot be told cheaply."""
    spots = _spots(text, terms)
    if spots is None:
        return [(0, len(text), len(text))]
    spans: list[tuple[int, int, int]] = []

    def ends(last: int) -> int:  # a span ends on a space after its last spot's words
        hi = text.find(" ", _words_after(text, last))
        return len(text) if hi < 0 else hi

    first = last = -1  # the span being made: its start, its last spot's end
    hi = -1  # ends(last) when known, else -1
    for start, end in sorted(spots):
        # start and end on a space, so no word is cut (a cut word could be another term)
        lo = text.rfind(" ", 0, max(0, start - _BEFORE)) + 1 if start > _BEFORE else 0
        if first >= 0:
            # A span ends after its furthest spot's next _AFTER_WORD_CHARS word characters
            # (``ends`` grows with its argument), so at least that many characters on:
            # a spot starting before that joins without finding where the span ends.
            if lo <= last + _AFTER_WORD_CHARS:
                if end > last:
                    last, hi = end, -1
                continue
            if hi < 0:
                hi = ends(last)
            if lo <= hi:
                if end > last:
                    last, hi = end, -1
                continue
            spans.append((first, hi, last))
        first, last, hi = lo, end, -1
    if first >= 0:
        spans.append((first, hi if hi >= 0 else ends(last), last))
    return spans


def _words_after(text: str, pos: int) -> int:
    """A place after ``pos`` with _AFTER_WORD_CHARS word characters between (fewer than the
    analyzer's token characters there, which also count hyphens and decimal points), on
    the same word as the last of them; the end of the text when there are fewer."""
    m = _WORD_CHARS_AFTER.match(text, pos)
    return m.end() if m else len(text)


class _Token:
    """A matched token, as the fragment scorer and the formatter read it."""

    __slots__ = ("text", "startchar", "endchar", "boost")

    def __init__(self, text: str, startchar: int, endchar: int) -> None:
        self.text, self.startchar, self.endchar, self.boost = text, startchar, endchar, 1.0


def _fragments(text: str, spans: list[tuple[int, int, int]], terms: frozenset[str]
               ) -> list[wh.Fragment]:
    """``_FRAGMENTER.fragment_tokens(text, tokens)`` for the tokens ``_ANALYZER`` (index
    mode, stop words kept) makes of each ``text[start:end]`` of ``spans``, each marked
    matched when its text is one of ``terms``; the same fragments, at a fraction of the
    cost.

    A snippet analyses ~70 words a hit, and the analyzer's filter chain, a token object per
    word and the generators between them cost a few microseconds a word.  Here the token
    texts of each distinct word come from a cache (``_surface_texts``: the analyzer's own
    filter, run once per word), and the fragmenter's loop (whoosh.highlight
    ``ContextFragmenter.fragment_tokens``, kept statement for statement) runs on the regex
    matches directly.  tests/test_search_speed.py checks the two against each other."""
    maxchars, surround = _FRAGMENTER.maxchars, _FRAGMENTER.surround
    charlimit = _FRAGMENTER.charlimit
    cache = _SURFACE_TEXTS
    if len(cache) >= _SURFACE_CACHE_LIMIT:
        cache.clear()
    out: list[wh.Fragment] = []
    first = None  # startchar of the first token of the fragment
    firsts: deque[int] = deque()  # startchars of the context before a fragment
    countdown = -1  # < 0: not in a fragment
    tks: list[_Token] = []  # the fragment's matched tokens
    endchar = None
    currentlen = 0
    for n, (lo, hi, last) in enumerate(spans, 1 - len(spans)):  # n == 0: the last span
        matches = SCAN_RE.finditer(text[lo:hi])
        for m in matches:
            key = (m.lastgroup, m.group())
            texts = cache.get(key)
            if texts is None:
                texts = cache[key] = _surface_texts(*key)
            startchar, endchar = lo + m.start(), lo + m.end()
            tlength = endchar - startchar
            if charlimit and endchar > charlimit:
                if tks:
                    out.append(wh.mkfrag(text, tks, startchar=first, endchar=endchar))
                return out
            for ttext in texts:
                matched = ttext in terms
                if countdown < 0 and not matched:
                    firsts.append(startchar)
                    while firsts and endchar - firsts[0] > surround:
                        firsts.popleft()
                elif currentlen + tlength > maxchars:
                    countdown = 0
                elif matched:
                    countdown = surround
                    if first is None:
                        if firsts:
                            first = firsts[0]
                        else:
                            first = startchar
                            countdown += surround
                    tks.append(_Token(ttext, startchar, endchar))
                if countdown >= 0:
                    currentlen += tlength
                    countdown -= tlength
                    if countdown <= 0:
                        out.append(wh.mkfrag(text, tks, startchar=first, endchar=endchar))
                        tks = []
                        firsts = deque()
                        first = None
                        currentlen = 0
            if countdown < 0 and endchar >= last:
                # Outside a fragment, and no token after this one can match: the rest of
                # the span only leaves its last startchars in ``firsts`` (the context of
                # a fragment in the next span), which needs no token texts; the rest of
                # the last span changes nothing.
                if n == 0:
                    return out
                rest = [m.span() for m in matches]
                if rest:
                    endchar = lo + rest[-1][1]
                    if charlimit and endchar > charlimit:
                        return out
                    firsts.extend(lo + start for start, _ in rest)
                    while firsts and endchar - firsts[0] > surround:
                        firsts.popleft()
    if tks:
        out.append(wh.mkfrag(text, tks, startchar=first, endchar=endchar))
    return out


# (SCAN_RE group: a token kind or a concept's name, surface) -> the texts the analyzer
# makes of that match, in order
_SURFACE_TEXTS: dict[tuple[str | None, str], tuple[str, ...]] = {}
_SURFACE_CACHE_LIMIT = 50_000  # entries (under 300 bytes each); cleared when full


def _surface_texts(group: str | None, surface: str) -> tuple[str, ...]:
    """The index-mode texts ``_ANALYZER`` (stop words kept) yields for one ``SCAN_RE``
    match whose ``lastgroup`` is ``group``.  The analyzer's own filter makes them, on a
    one-token stream tagged as its tokenizer tags it, so the two cannot drift apart."""
    if group == "compound" and not any(h in surface for h in HYPHENS):
        group = "word"  # SCAN_RE's plain word
    t = Token(chars=True, removestops=False, mode="index")
    t.text, t.startchar, t.endchar, t.pos = surface, 0, len(surface), 0
    t.concept = concept_named(group)
    t.kind = "concept" if t.concept else group
    t.boost, t.stopped = 1.0, False
    return tuple(out.text for out in _FILTER(iter([t])))


def _spots(text: str, terms: frozenset[str]) -> list[tuple[int, int]] | None:
    """Character spans of ``text`` that every token with a text in ``terms`` overlaps: a
    term's stem (plain words lose at most a plural "s" / "ies"; compounds keep their first
    part) or a spelling of a concept that makes the term.  None: analyse everything."""
    lower = text.lower()
    if len(lower) != len(text):  # lower-casing moved characters: offsets would not match
        return None
    needles: set[str] = set()
    concepts: set[str] = set()
    for term in terms:
        made_by = _CONCEPTS_MAKING.get(term)
        if made_by:
            concepts |= made_by
        if "_" in term:
            if not made_by:
                return None
            continue
        needle = term.split("-", 1)[0] if "-" in term else term[:-1] if term.endswith("y") \
            else term
        if not needle:
            return None
        needles.add(needle)
        needles.update(_VARIANTS_OF.get(term, ()))
    spots: list[tuple[int, int]] = []
    for needle in needles:
        i = lower.find(needle)
        while i >= 0:
            spots.append((i, i + len(needle)))
            if len(spots) > _MAX_SPOTS:
                return None
            i = lower.find(needle, i + 1)
    if concepts:
        spots.extend((start, end) for start, end, concept in concept_spans(text)
                     if concept.name in concepts)
    return spots


# term -> the concepts whose spellings make it (at index time)
_CONCEPTS_MAKING: dict[str, set[str]] = {}
for _concept in CONCEPTS:
    for _term in (*_concept.tokens, *_concept.also_index):
        _CONCEPTS_MAKING.setdefault(_term, set()).add(_concept.name)
# term -> other spellings that become it ("generalised" -> generalized)
_VARIANTS_OF: dict[str, list[str]] = {}
for _spelling in WORD_VARIANTS:
    _VARIANTS_OF.setdefault(normalize_word(_spelling), []).append(_spelling)


# -- search ------------------------------------------------------------------------------------

_NEWEST_FIRST = [FieldFacet("last_updated", reverse=True), FieldFacet("trial_id")]


class KeptSearcher:
    """One index's searcher kept open across ``search`` calls, for a long-running process
    (``trials serve``).  A call takes the lock for its whole search (Whoosh's readers share file
    handles and are not safe across threads) and first checks the index's stamp: its folder
    (``trials reindex`` swaps in a new one) and its table-of-contents files with their
    modification times (every commit of a refresh or an import writes one).  A changed index is
    opened again, with its new segments.  The caches a searcher keeps have their own budgets
    (``taat.Terms``)."""

    def __init__(self, index_dir: str | os.PathLike[str]) -> None:
        self.index_dir = index_dir
        self._lock = threading.Lock()
        self._ix: Any = None
        self._searcher: Searcher | None = None
        self._stamp: Any = None

    def stamp(self) -> Any:
        """What changes when the index does (None when it cannot be read)."""
        try:
            st = os.stat(self.index_dir)
            tocs = sorted((e.name, e.stat().st_mtime_ns) for e in os.scandir(self.index_dir)
                          if e.name.endswith(".toc"))
        except OSError:
            return None
        return st.st_dev, st.st_ino, tuple(tocs)

    @contextmanager
    def use(self) -> Iterator[Searcher]:
        with self._lock:
            stamp = self.stamp()  # before opening: a change after it shows at the next call
            searcher = self._searcher
            if searcher is None or stamp is None or stamp != self._stamp:
                self.close()
                self._ix = open_index(self.index_dir)
                self._searcher = searcher = self._ix.searcher()
                self._stamp = stamp
            yield searcher

    def close(self) -> None:
        """Close the searcher and the index (the next ``use`` opens them again)."""
        searcher, ix, self._searcher, self._ix = self._searcher, self._ix, None, None
        if searcher is not None:
            searcher.close()
        if ix is not None:
            ix.close()


def search(
    index_dir: str | os.PathLike[str],
    query: str,
    *,
    limit: int | None = 20,
    offset: int = 0,
    facets: bool = False,
    explain_hits: bool = False,
    keep: Callable[[str], bool] | None = None,
    groups: Mapping[str, str] | None = None,
    literal: bool = False,
    kept: KeptSearcher | None = None,
    **filters: Any,
) -> SearchResults:
    """Ranked hits for ``query`` within the filters (``Filters`` fields as keywords); an empty
    query lists every filtered trial, most recently updated first.  ``limit=None`` returns
    every hit (exports).

    ``groups``: trial id -> group id for trials registered more than once (``store
    .linked_groups``); a group is listed once, as its best-ranked member, and counted once.
    ``keep``: a predicate called on trial ids in rank order (a patient-fit filter); the total
    then counts what it keeps.

    Words that name a fact of the record ("recruiting", "in China", "children", "phase 3":
    index/intents.py) are taken out of the free text and rank the trials that satisfy them
    first; ``literal`` turns that and the synonyms off.

    ``kept``: a searcher kept open across calls (``KeptSearcher``, what ``trials serve`` uses):
    what a searcher learns (term tables, a drug class's postings, an intent's trials, facet ids)
    then serves the next query too; without it the index is opened for this call alone.

    Raises ``QueryError`` (bad query, filter or argument) or ``NoIndexError``.
    """
    if (limit is not None and limit < 1) or offset < 0:
        raise QueryError(f"limit must be >= 1 and offset >= 0 (got {limit}, {offset}).",
                         code="bad_argument")
    spec = Filters.of(filters)
    q = parse_query(query, literal=literal)  # checks the query as typed
    if kept is not None:
        with kept.use() as searcher:
            return _search_in(searcher, query, q, spec, limit, offset, facets, explain_hits, keep,
                              groups, literal)
    ix = open_index(index_dir)
    try:
        with ix.searcher() as searcher:  # one per call: cheap, segments are not compound
            return _search_in(searcher, query, q, spec, limit, offset, facets, explain_hits, keep,
                              groups, literal)
    finally:
        ix.close()


def _search_in(searcher: Searcher, query: str, q: Any, spec: Filters, limit: int | None,
               offset: int, facets: bool, explain_hits: bool,
               keep: Callable[[str], bool] | None, groups: Mapping[str, str] | None,
               literal: bool) -> SearchResults:
    """``search`` on an open searcher."""
    intents: list[Intent] = []
    if not literal and q is not None:
        text, intents = understand(query, searcher.reader(), searcher)
        if text != query:
            q = with_intent_words(parse_query(text), intents)
        for intent in intents:
            intent.resolve(searcher)
    check_expansion(q, searcher.reader())
    if not literal:
        expand_aliases(q, _TableFrequencies(searcher))
        q = class_units(q)
        expand_stems(q, searcher.reader())
        correct_spelling(q, searcher.reader())
    _drop_absent(q, taat.terms_of(searcher))
    flt = build_filter(searcher, spec)
    stop = None if limit is None else offset + limit
    if groups and keep is not None:
        keep = _both(keep, _group_keep(groups))
    matches = newest = None
    if q is not None:
        matches = taat.evaluate(searcher, Prior(q), taat.filter_sets(searcher, flt),
                                tiered=not literal, intents=intents)
    elif keep is None:
        newest = _page_newest(searcher, flt, offset, stop, groups)
    if matches is not None:
        page, total, docset = _page_matches(searcher, matches, offset, stop, keep,
                                            groups if keep is None else None)
    elif newest is not None:
        page, total, docset = newest
    else:
        if groups and keep is None:
            keep = _group_keep(groups)
        page, total, docset = _page_whoosh(searcher, q, flt, offset, stop, keep)
    terms = _query_terms(q, searcher)
    hits = [_hit(searcher, docnum, score, q,
                 terms if k < MAX_HIGHLIGHTED else frozenset(), explain_hits)
            for k, (docnum, score) in enumerate(page)]
    for hit, (docnum, _score) in zip(hits, page):
        hit.intents = {i.label: ("yes", "partly", "no")[2 - i.level(docnum)]
                       for i in intents}
        if hit.explanation is not None:
            hit.explanation["intents"] = hit.intents
            if matches is not None and matches.tiers is not None:
                key, span = int(hit.score), matches.tiers.span
                level = key // span
                hit.explanation["tier"] = {
                    "tier": level % (TIER_STEPS + 1), "of": TIER_STEPS,
                    "names_the_disease": level > TIER_STEPS, "intents": key % span}
                hit.explanation["score"] = round(unsquash(hit.score - key), 4)
    understood = [f"{i.label} (from {i.words!r})" for i in intents]
    shown = describe(q) + "".join(f" [understood: {u}]" for u in understood)
    return SearchResults(
        total=total, hits=hits, query_repr=shown, understood=understood,
        offset=offset, limit=limit,
        facets=count_facets(searcher, docset()) if facets else None)


Page = list[tuple[int, float]]


def _page_matches(searcher: Searcher, matches: taat.Matches, offset: int, stop: int | None,
                  keep: Callable[[str], bool] | None, groups: Mapping[str, str] | None
                  ) -> tuple[Page, int, Callable[[], set[int]]]:
    """The page, the total and the result set from a term-at-a-time evaluation."""
    if keep is not None:  # a predicate in rank order: every match is ranked
        ids = searcher.reader().column_reader("trial_id")
        kept = [(d, s) for d, s in matches.ranked(None) if keep(ids[d])]
        return kept[offset:stop], len(kept), lambda: {d for d, _ in kept}
    dropped = _duplicates(searcher, matches, groups) if groups else set()
    want = None if stop is None else stop + len(dropped)
    ranked = [ds for ds in matches.ranked(want) if ds[0] not in dropped]
    return ranked[offset:stop], matches.total - len(dropped), \
        lambda: set(matches.docs()) - dropped


def _page_newest(searcher: Searcher, flt: wq.Query | None, offset: int, stop: int | None,
                 groups: Mapping[str, str] | None
                 ) -> tuple[Page, int, Callable[[], set[int]]] | None:
    """The empty query: every (filtered) trial, most recently updated first, then by trial
    id (``_NEWEST_FIRST``), from the date column read whole; None when it cannot be read
    so (Whoosh's sorting collector then does it)."""
    terms = taat.terms_of(searcher)
    allowed = taat.filter_sets(searcher, flt)
    docs: list[int] = []
    dates: list[int] = []
    for k, (_sub, offset_k, seg) in enumerate(terms.leaves):
        column = taat.column_numbers(seg, "last_updated") if taat.native(seg) else None
        if column is None:
            return None
        ok = allowed[k] if allowed is not None else None
        local = sorted(ok) if ok is not None else range(seg.doc_count_all())
        if seg.has_deletions():
            deleted = seg.deleted_docs_set
            local = [d for d in local if d not in deleted]
        docs.extend(offset_k + d for d in local)
        dates.extend(map(column.__getitem__, local))
    ids = searcher.reader().column_reader("trial_id")

    def ordered(pool: list[int]) -> list[int]:  # positions in docs, newest first
        return sorted(pool, key=lambda i: (-dates[i], ids[docs[i]]))

    dropped: set[int] = set()
    if groups:
        where = {d: i for i, d in enumerate(docs)}
        members: dict[str, list[int]] = {}
        for d, tid in _docnums(searcher, groups, where).items():
            members.setdefault(groups[tid], []).append(where[d])
        for found in members.values():
            if len(found) > 1:
                dropped.update(docs[i] for i in ordered(found)[1:])
    n = len(docs)
    want = n if stop is None else min(n, stop + len(dropped))
    if want < n:  # the newest ``want``, and every trial as new as the last of them
        last = heapq.nlargest(want, dates)[-1] if want else None
        pool = [i for i in range(n) if last is not None and dates[i] >= last]
    else:
        pool = list(range(n))
    page = [(docs[i], 0.0) for i in ordered(pool) if docs[i] not in dropped]
    return page[offset:stop], n - len(dropped), lambda: set(docs) - dropped


def _page_whoosh(searcher: Searcher, q: wq.Query | None, flt: wq.Query | None, offset: int,
                 stop: int | None, keep: Callable[[str], bool] | None
                 ) -> tuple[Page, int, Callable[[], set[int]]]:
    """The page, the total and the result set from Whoosh's collectors: the query shapes
    ``taat`` leaves alone (a range at the top), and the empty query with a predicate on
    trial ids (``keep``)."""
    base = q if q is not None else wq.Every()
    ranked = Prior(q) if q is not None else wq.Every()
    sort = {"sortedby": _NEWEST_FIRST} if q is None else {}
    if keep is None:
        docset = set(searcher.docs_for_query(base if flt is None else wq.And([base, flt])))
        results = searcher.search(ranked, limit=stop, filter=docset, **sort) \
            if docset else None
        page = [] if results is None else [(h.docnum, h.score) for h in results[offset:stop]]
        return page, len(docset), lambda: docset
    results = searcher.search(ranked, limit=None, filter=flt, **sort)
    ids = searcher.reader().column_reader("trial_id")
    kept = [(h.docnum, h.score) for h in results if keep(ids[h.docnum])]
    return kept[offset:stop], len(kept), lambda: {d for d, _ in kept}


def _group_keep(groups: Mapping[str, str]) -> Callable[[str], bool]:
    """Keep the first (best-ranked) trial of each group, as ``links.GroupCollapser`` does."""
    seen: set[str] = set()

    def keep(trial_id: str) -> bool:
        gid = groups.get(trial_id, trial_id)
        if gid in seen:
            return False
        seen.add(gid)
        return True
    return keep


def _both(first: Callable[[str], bool], second: Callable[[str], bool]
          ) -> Callable[[str], bool]:
    return lambda trial_id: first(trial_id) and second(trial_id)


def _duplicates(searcher: Searcher, matches: taat.Matches, groups: Mapping[str, str]
                ) -> set[int]:
    """The matched documents of a group that are not its best-ranked matched member."""
    members: dict[str, list[int]] = {}
    docs = _docnums(searcher, groups, matches)
    for docnum, tid in docs.items():
        members.setdefault(groups[tid], []).append(docnum)
    dropped: set[int] = set()
    for found in members.values():
        if len(found) > 1:
            best = min(found, key=lambda d: (-matches.score(d), d))
            dropped.update(d for d in found if d != best)
    return dropped


def _docnums(searcher: Searcher, groups: Mapping[str, str],
             matches: taat.Matches | Mapping[int, Any]) -> dict[int, str]:
    """{doc number: trial id} for the matched documents of the grouped trials: the ids are
    looked up (a few per segment) or, when the matches are fewer, the matches' ids read.
    ``matches``: an evaluation, or any mapping whose keys are the matched documents."""
    reader = searcher.reader()
    matched_docs: Callable[[], Iterable[int]]
    if isinstance(matches, taat.Matches):
        total, matched_docs = matches.total, matches.docs
    else:
        total, matched_docs = len(matches), matches.keys
    if total <= len(groups) * len(searcher.leaf_searchers()):
        ids = reader.column_reader("trial_id")
        return {d: ids[d] for d in matched_docs() if ids[d] in groups}
    matched = set(matched_docs())
    out: dict[int, str] = {}
    for sub, off in searcher.leaf_searchers():
        seg = sub.reader()
        for tid in groups:
            for d in (taat.term_ids(seg, "trial_id", tid) if taat.native(seg)
                      else set(wq.Term("trial_id", tid).docs(sub))):
                if off + d in matched:
                    out[off + d] = tid
    return out


# Index terms all the prefix* / wild?card terms of one query may expand to (each field counts
# separately).  Every expanded term is one more posting list to read and score: at this size a
# wildcard query costs about what a common word does.  (Lucene refuses past 1,024 clauses.)
MAX_EXPANSION = 2048


def check_expansion(q: wq.Query | None, reader: Any) -> None:
    """Refuse a query whose wildcards expand to more than ``MAX_EXPANSION`` index terms,
    counting no further than that (the count stops at the limit)."""
    if q is None:
        return
    budget = MAX_EXPANSION
    for leaf in q.leaves():
        if not isinstance(leaf, wq.PatternQuery):
            continue
        expanded = sum(1 for _ in itertools.islice(taat.pattern_terms(leaf, reader),
                                                   budget + 1))
        budget -= expanded
        if budget < 0:
            raise QueryError(
                f"The wildcards in the query match more than {MAX_EXPANSION} different "
                f"words in the index ({leaf.text!r} among them).", code="too_large",
                hint="Make the wildcard's prefix longer (myasth* rather than my*), or use "
                     "fewer wildcards.")


# Understood phase words still say something as text: a trial whose title says
# "first-in-human" or "phase 3" is likelier what was meant than one whose record only holds
# the phase.  They come back as one unit, the words as typed (and, hyphenated, also spaced),
# a phrase never expanded, that weighs nothing in the tiers (the intent counts there) and
# half a word in the score: it orders trials within a tier.  Not status, place or population
# words: as text they mostly say something else ("completed chemotherapy", a sponsor's
# country; on the dev split they cost more than they gave).  Subtype markers stay text.
TEXT_INTENT_KINDS = frozenset({"phase"})


def with_intent_words(q: wq.Query | None, intents: list[Intent]) -> wq.Query | None:
    """``q`` (the free text left after understanding) with the words of its understood
    TEXT_INTENT_KINDS intents as generic phrase units (see above)."""
    from trialscope.index.query import text_unit
    from trialscope.index.units import Unit

    extra: list[Unit] = []
    for intent in intents:
        if intent.kind not in TEXT_INTENT_KINDS:
            continue
        alts: dict[tuple[str, ...], float] = {}
        for spelled in dict.fromkeys((intent.words, HYPHENS_RE.sub(" ", intent.words))):
            unit = parse_query('"' + spelled.replace('"', " ") + '"')
            if isinstance(unit, Unit):
                for texts, _weight in unit.alternatives:
                    alts.setdefault(texts, 1.0)
        if alts:
            unit = text_unit(tuple(alts.items()), None, concept=False)
            unit.quoted = unit.generic = True
            extra.append(unit)
    return _with_units(q, extra)


HYPHENS_RE = re.compile("[" + "".join(HYPHENS) + "]")


# A drug class written as its INN stem ("SGLT2 inhibitor ~ gliflozin" in synonyms.txt) finds
# the indexed drug names ending so, in the interventions field (where drugs are named), at
# most MAX_STEM_TERMS of them, the most frequent first.
STEM_FIELD = "interventions"
MAX_STEM_TERMS = 64
_STEM_TERMS: dict[tuple[Any, str], tuple[str, ...]] = {}


def of_stem(word: AnyStr, stem: AnyStr) -> bool:
    """Whether ``word`` is a drug name the INN ``stem`` makes: it ends so, with three letters
    more at least, all letters (what stem_terms reads and class_units asks of a word)."""
    return word.endswith(stem) and len(word) >= len(stem) + 3 and word.isalpha()


def stem_terms(reader: Any, stem: str) -> tuple[str, ...]:
    """Indexed words of STEM_FIELD ending with ``stem`` (three letters more at least), the
    most frequent first; kept per set of segments."""
    leaves = [lr for lr, _ in reader.leaf_readers()]
    key = (tuple(lr.segment().segment_id() if hasattr(lr, "segment") else id(lr)
                 for lr in leaves), stem)
    found = _STEM_TERMS.get(key)
    if found is None:
        bstem = stem.encode("utf-8")
        counts: dict[bytes, int] = {}
        for lr in leaves:
            if taat.scannable(lr):
                pairs = ((t, df) for t, df, _lo, _hi in taat.field_terms(lr, STEM_FIELD))
            elif STEM_FIELD in lr.indexed_field_names():
                pairs = ((t, lr.doc_frequency(STEM_FIELD, t)) for t in lr.lexicon(STEM_FIELD))
            else:
                continue
            for t, df in pairs:
                if of_stem(t, bstem):
                    counts[t] = counts.get(t, 0) + df
        ranked = sorted(counts.items(), key=lambda td: (-td[1], td[0]))[:MAX_STEM_TERMS]
        found = tuple(t.decode("utf-8") for t, _ in ranked)
        if len(_STEM_TERMS) > 256:
            _STEM_TERMS.clear()
        _STEM_TERMS[key] = found
    return found


# A drug named by its INN ("semaglutide") belongs to the class its stem names ("-glutide":
# GLP-1 receptor agonists): the query also searches that class (its spellings and the
# index's other drugs ending so), as one generic unit that weighs nothing in the tiers and
# half a word in the score: the trials of the drug named come first, then those of its
# class, before trials that share neither.  The longest stem the word ends with decides
# (three letters more at least, as stem_terms reads members).
def class_units(q: wq.Query | None) -> wq.Query | None:
    """``q`` with a class unit after each plain word that a class's INN stem ends."""
    from trialscope.index.analysis import MEMBER_WEIGHT, synonyms
    from trialscope.index.query import text_unit

    groups = [g for g in synonyms().groups if g.stems]
    extra = []
    for unit in units_of(q):
        if unit.quoted or unit.part or unit.concept or unit.stems \
                or not unit.alternatives or len(unit.alternatives[0][0]) != 1:
            continue
        # the word as typed, or another name of it (expand_aliases: a brand's generic)
        found = [(len(stem), g) for texts, _ in unit.alternatives if len(texts) == 1
                 for g in groups for stem in g.stems if of_stem(texts[0], stem)]
        if not found:
            continue
        longest = max(n for n, _ in found)
        mine = [g for n, g in found if n == longest]
        alts: dict[tuple[str, ...], float] = {}
        for g in mine:
            for texts, weight in g.alternatives:
                alts.setdefault(texts, weight)
        # the drug named is a member of its class by each of its names: a trial naming
        # only its brand is not below the trials of the generic
        for texts, _ in unit.alternatives:
            alts.setdefault(texts, MEMBER_WEIGHT)
        cls = text_unit(tuple(alts.items()), unit.unit_field or STEM_FIELD, concept=False)
        cls.stems = tuple(dict.fromkeys(st for g in mine for st in g.stems))
        cls.generic = True
        extra.append(cls)
    return _with_units(q, extra)


def _with_units(q: wq.Query | None, extra: list[Any]) -> wq.Query | None:
    """``q`` (a unit, or a ``Coord`` of units) with the units ``extra`` ORed in."""
    from trialscope.index.ranking import Coord, coordinate, recount
    from trialscope.index.units import Unit

    if not extra or q is None:
        return q
    if isinstance(q, Coord) and isinstance(q.child, wq.Or):
        q.child = wq.Or([*q.child.subqueries, *extra])
        recount(q)
        return q
    if isinstance(q, Unit):
        return coordinate(wq.Or([q, *extra]))
    return q


def expand_stems(q: wq.Query | None, reader: Any) -> None:
    """Add to each class unit with INN stems the indexed drug names they make (as class
    members: MEMBER_WEIGHT), then recount the coordination of the units around it."""
    from trialscope.index.analysis import MEMBER_WEIGHT

    changed = False
    for unit in units_of(q):
        if not unit.stems:
            continue
        found: list[tuple[str, ...]] = [(term,) for stem in unit.stems
                                        for term in stem_terms(reader, stem)]
        changed |= _add_alternatives(unit, found, MEMBER_WEIGHT)
    if changed:
        recount(q)


# A query word no default field holds ("pembrolizumb") also searches the indexed words
# within MAX_EDITS edits of it (one for words under 8 letters) that start with its first
# two letters, in the fields that name what a trial is: a typo must not look like "no match".
SPELLING_FIELDS = ("title", "conditions", "interventions", "keywords")
MIN_CORRECTED = 5
MAX_EDITS = 2
SPELLING_WEIGHT = 0.9


def correct_spelling(q: wq.Query | None, reader: Any) -> None:
    from trialscope.index.schema import FIELD_BOOSTS

    changed = False
    for unit in units_of(q):
        if unit.concept or len(unit.alternatives) != 1 or len(unit.alternatives[0][0]) != 1:
            continue
        word = unit.alternatives[0][0][0]
        if len(word) < MIN_CORRECTED or not word.isalpha():
            continue
        fields = unit.fields
        if any(reader.doc_frequency(f, word) for f in fields if f in FIELD_BOOSTS):
            continue
        limit = MAX_EDITS if len(word) >= 8 else 1
        close: dict[str, tuple[int, int]] = {}  # word -> (edits, documents)
        for f in SPELLING_FIELDS:
            if f not in fields:
                continue
            for btext in reader.expand_prefix(f, word[:2]):
                text = btext.decode("utf-8") if isinstance(btext, bytes) else btext
                if abs(len(text) - len(word)) > limit or text in close:
                    continue
                edits = levenshtein(word, text, limit)
                if edits <= limit:
                    close[text] = (edits, reader.doc_frequency(f, text))
        best = sorted(close, key=lambda t: (close[t][0], -close[t][1], t))[:3]
        changed |= _add_alternatives(unit, [(t,) for t in best], SPELLING_WEIGHT)
    if changed:
        recount(q)


# The records' own names for things (index/aliases.py): a query word, or a run of adjacent
# query words, also searches the other names the index's trials state for it ("Keytruda" ->
# pembrolizumab, "NSCLC" -> "non-small cell lung cancer", "sphenopalatine ganglion" -> SPG),
# a little below the words as written.  A run of words becomes one concept unit, its words
# staying units of their own (parts), as a several-word synonym spelling does (query.py).
# A drug dictionary's names (index/drugnames.py: "Jardiance" -> empagliflozin, which no record
# may state) are used the same way.
ALIAS_WEIGHT = 0.9


def other_names(reader: Any, key: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The other names of ``key`` the index holds: those its trials state
    (aliases.accepted), then a drug dictionary's (drugnames.accepted)."""
    from trialscope.index import aliases, drugnames

    found = aliases.accepted(reader, key, taat.prefix_terms)
    return found + [v for v in drugnames.accepted(reader, key) if v not in found]


class _TableFrequencies:
    """The searcher's reader, with ``doc_frequency`` from the searcher's term table
    (``taat.Terms``: each term looked up once per searcher, where the reader looks it up in
    every segment's files on every call): the alias and drug-name lookups ask the
    frequencies of the same few hundred names on every search."""

    def __init__(self, searcher: Searcher) -> None:
        self._reader = searcher.reader()
        self._terms = taat.terms_of(searcher)
        self._fields = searcher.schema

    def doc_frequency(self, fieldname: str, text: Any) -> int:
        if fieldname not in self._fields:  # the reader's error (TermNotFound)
            return self._reader.doc_frequency(fieldname, text)
        return self._terms.doc_frequency(fieldname, text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)


def expand_aliases(q: wq.Query | None, reader: Any) -> None:
    from trialscope.index.aliases import MAX_WORDS
    from trialscope.index.query import text_unit
    from trialscope.index.ranking import Coord, _walk

    if q is None:
        return
    changed = False
    for node in list(_walk(q)):
        if not isinstance(node, Coord) or not isinstance(node.child, wq.Or):
            continue
        subs = list(node.child.subqueries)
        out: list[wq.Query] = []
        i = 0
        while i < len(subs):
            run = 0  # adjacent plain one-word units from i
            while i + run < len(subs) and run < MAX_WORDS and _plain_word(subs[i + run]) \
                    and subs[i + run].unit_field == subs[i].unit_field:
                run += 1
            for n in range(run, 1, -1):
                key = tuple(subs[i + j].alternatives[0][0][0] for j in range(n))
                found = other_names(reader, key)
                if found:
                    unit = text_unit(((key, 1.0), *((v, ALIAS_WEIGHT) for v in found
                                                     if v != key)),
                                     subs[i].unit_field, concept=True)
                    out.append(unit)
                    for j in range(n):
                        subs[i + j].part = True
                    changed = True
                    break
            out.append(subs[i])
            i += 1
        if len(out) != len(subs):
            node.child = wq.Or(out)
    for unit in units_of(q):
        if unit.quoted or unit.part or not unit.alternatives:
            continue
        found = [v for texts, weight in unit.alternatives if weight >= 1.0
                 and len(texts) <= MAX_WORDS for v in other_names(reader, texts)]
        changed |= _add_alternatives(unit, found, ALIAS_WEIGHT)
    if changed:
        recount(q)


def _plain_word(sub: wq.Query) -> bool:
    """A unit of one word as typed: no synonym, no quotes, not part of a spelling."""
    from trialscope.index.units import Unit

    return (isinstance(sub, Unit) and len(sub.alternatives) == 1 and not sub.quoted
            and not sub.part and not sub.concept and len(sub.alternatives[0][0]) == 1)


def _add_alternatives(unit: Any, texts: list[tuple[str, ...]], weight: float) -> bool:
    from trialscope.index.query import text_unit

    alts = dict(unit.alternatives)
    for t in texts:
        alts.setdefault(t, weight)
    if len(alts) == len(unit.alternatives):
        return False
    fresh = text_unit(tuple(alts.items()), unit.unit_field, unit.concept)
    unit.child, unit.alternatives, unit.label = fresh.child, fresh.alternatives, fresh.label
    return True


def _drop_absent(q: wq.Query | None, reader: Any) -> None:
    """Remove the leaves of each unit whose terms this index does not have: "CAR-T" brings
    ~50 product spellings x 13 fields, of which a given index holds a few.  The units'
    ``alternatives`` (what coordination counts) are left as they are.  ``reader``: what
    says whether the index has a (field, text): a reader, or the searcher's ``taat.Terms``
    (one lookup per term and segment for the whole search)."""
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
