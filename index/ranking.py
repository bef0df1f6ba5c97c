"""Ranking on top of Whoosh's BM25F: unit coordination, the status/recency tie-break, and
the per-field explanation ``trials search --explain`` prints.

score = BM25F(sum over matched terms of field weight x synonym weight x term score)
        x coverage ** COORD_POWER      (weighted share of the query's units matched)
        x prior                        (in [0.95, 1]: open and recently updated trials win ties)

Both factors are <= 1, so Whoosh's block-quality bounds (computed from the child matcher)
stay valid upper bounds and its top-k pruning stays correct.
"""

from __future__ import annotations

import math
from typing import Any

from whoosh import query as wq
from whoosh.matching import WrappingMatcher
from whoosh.query.wrappers import WrappingQuery
from whoosh.searching import Searcher

from trialscope.index.units import Unit, units_of

# score *= (weight of the units a trial matches / weight of all the query's units) ** COORD_POWER
# where a unit's weight is its idf, times CONCEPT_FACTOR for a named concept (a synonym-file
# group or an analyzer concept: a disease, a therapy, a drug).  Cubed (chosen on the evaluation
# set, bench/relevance.py): a trial with two of three concepts (CAR-T for lupus) is a different
# trial, not a slightly worse one.  idf alone
# is not enough: in a collection of MG trials "myasthenia gravis" is as common as "therapy",
# yet a CAR-T lupus trial is no answer to "CART cell therapy myasthenia gravis".
COORD_POWER = 3.0
CONCEPT_FACTOR = 2.0
GENERIC_FACTOR = 0.5  # "therapy", "study", "patients": query.GENERIC_WORDS
# The words of a several-word concept spelling, searched apart beside it (query.py): they
# keep recall, and count less than the concept they spell.
PART_FACTOR = 0.5

Alternatives = tuple[tuple[str, ...], ...]


class Coord(WrappingQuery):
    """Wraps an OR of units: a document's score is scaled by the (idf-weighted) share of units
    it matches, so "refractory myasthenia gravis CAR-T" puts trials with all three first."""

    def __init__(self, child: wq.Query,
                 units: tuple[tuple[Alternatives, tuple[str, ...], float], ...],
                 power: float | None = None) -> None:
        super().__init__(child)
        self.units = units  # per unit: (alternatives' term texts, fields searched, factor)
        self.power = COORD_POWER if power is None else power

    def _rewrap(self, child: wq.Query) -> Coord:
        return Coord(child, self.units, self.power)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Coord) and (other.child, other.units) == (self.child,
                                                                           self.units)

    __hash__ = WrappingQuery.__hash__

    def __str__(self) -> str:
        return str(self.child)

    def matcher(self, searcher: Searcher, context=None):
        if context is None or context.weighting is None:
            # Unscored (counting, facets): no coordination needed, and the preloading union
            # counts a common query several times faster than Whoosh's binary tree of unions.
            return wq.compound.PreloadedOr(self.child.subqueries).matcher(searcher, context)
        # needs_current: the union must be able to say which terms match the current document.
        context = context.set(needs_current=True)
        words = tuple(alts for alts, _, _ in self.units)
        return _CoordMatcher(self.child.matcher(searcher, context), words,
                             unit_weights(searcher, self.units), self.power)


def coordinate(q: wq.Or, power: float | None = None) -> wq.Query:
    """``Coord`` around an OR of two or more units; any other OR is returned as it is
    (prefixes and ranges report no matched terms, so they cannot be coordinated)."""
    subs = q.subqueries
    if len(subs) < 2 or not all(isinstance(s, Unit) and s.alternatives for s in subs):
        return q
    return Coord(q, coord_units(subs), power)


def coord_units(subs) -> tuple:
    """A ``Coord``'s units from its OR's ``Unit`` subqueries: (alternatives, fields, factor)."""
    return tuple((tuple(t for t, _ in s.alternatives), s.fields, unit_factor(s)) for s in subs)


def recount(q: wq.Query | None) -> None:
    """The coordination of every ``Coord`` in ``q``, from its units as they are now (after
    search.py added alternatives to them)."""
    if q is None:
        return
    for node in _walk(q):
        if isinstance(node, Coord):
            node.units = coord_units(node.child.subqueries)


def unit_factor(unit: Unit) -> float:
    factor = CONCEPT_FACTOR if unit.concept else GENERIC_FACTOR if unit.generic else 1.0
    return factor * (PART_FACTOR if unit.part else 1.0)


def unit_weights(searcher: Searcher, units, doc_frequency=None) -> tuple[float, ...]:
    """Inverse document frequency of each unit over its fields (a phrase counts as its
    rarest word; a synonym group as its most common alternative), times its factor.
    ``doc_frequency(field, text)``: the reader's, unless given (taat.Terms's)."""
    n = max(searcher.doc_count(), 1)
    frequency = doc_frequency or searcher.reader().doc_frequency
    weights = []
    for alternatives, fields, factor in units:
        df = max(min(max(frequency(f, t) for f in fields) for t in texts)
                 for texts in alternatives)
        weights.append(factor * math.log(1 + n / (1 + df)))
    return tuple(weights)


def coverage(matched: set[str], words: tuple[Alternatives, ...],
             weights: tuple[float, ...], power: float = COORD_POWER) -> float:
    return _coverage(_held(matched, words), weights, power)


def _held(matched: set[str], words: tuple[Alternatives, ...]) -> tuple[bool, ...]:
    """Per unit: does one of its alternatives have every word in ``matched``?"""
    return tuple(any(all(t in matched for t in texts) for texts in alts) for alts in words)


def _coverage(held: tuple[bool, ...], weights: tuple[float, ...], power: float) -> float:
    """The coordination factor from which units are held (``coverage``, ``MaskForm``)."""
    total = sum(weights) or 1.0
    covered = sum(w for h, w in zip(held, weights, strict=True) if h)
    return (covered / total) ** power


class _CoordMatcher(WrappingMatcher):
    def __init__(self, child, words: tuple[Alternatives, ...], weights: tuple[float, ...],
                 power: float, boost: float = 1.0) -> None:
        super().__init__(child, boost)
        self._words, self._weights, self._power = words, weights, power

    def _replacement(self, newchild):
        return _CoordMatcher(newchild, self._words, self._weights, self._power, self.boost)

    def copy(self):
        return _CoordMatcher(self.child.copy(), self._words, self._weights, self._power,
                             self.boost)

    def score(self) -> float:
        child = self.child
        matched = {t.decode("utf-8") if isinstance(t, bytes) else t
                   for _, t in child.matching_terms(child.id())}
        return child.score() * coverage(matched, self._words, self._weights, self._power)


# -- tiers: coverage first, then the understood intents, then the score ------------------------
#
# search.search ranks by a key, not by the score alone (issue 16): a trial's *tier* (the
# weighted share of the query's units it matches, in TIER_STEPS steps) decides the order; the
# intents it satisfies (index/intents.py: 2 each when satisfied, 1 in part) order within a
# tier; the score above (BM25F x coverage ** COORD_POWER x prior) orders within that.  In
# a tier's weights a unit that names a condition (most of its trials have it in their
# ``conditions`` field: a disease, not a drug or a target) counts DISEASE_FACTOR times, so a
# trial of the named disease ranks above trials of other diseases that share only the
# intervention; trial boilerplate ("therapy", "study": GENERIC_WORDS) does not count at all.
# Above the tiers: names_the_disease.  The key is
# (disease x (TIER_STEPS + 1) + tier) x span + intents + squash(score), squash(x) = x/(1+x).
# A unit counts whole in a tier when a trial names it where a trial says what it is and what
# it gives (MAIN_FIELDS); named only elsewhere (summary, description, criteria, outcomes: a
# background mention, a prior therapy), it counts SECONDARY_CREDIT.
TIER_STEPS = 10
MAIN_FIELDS = frozenset({"title", "official_title", "acronym", "conditions", "keywords",
                         "interventions", "arms"})
SECONDARY_CREDIT = 0.5
DISEASE_FACTOR = 2.0
CONDITION_SHARE = 0.3  # share of a unit's trials naming it in `conditions`: a condition


def conditions_of(searcher: Searcher, units, doc_frequency=None) -> tuple[bool, ...]:
    """Per unit of a ``Coord``: does it name a condition (CONDITION_SHARE of the trials that
    have it name it in ``conditions``: a disease, not a drug or a target)?"""
    frequency = doc_frequency or searcher.reader().doc_frequency
    out = []
    for alternatives, fields, factor in units:
        if factor <= GENERIC_FACTOR or "conditions" not in fields:
            out.append(False)
            continue
        in_conditions = max(min(frequency("conditions", t) for t in texts)
                            for texts in alternatives)
        anywhere = max(min(max(frequency(f, t) for f in fields) for t in texts)
                       for texts in alternatives)
        out.append(bool(anywhere) and in_conditions >= CONDITION_SHARE * anywhere)
    return tuple(out)


def tier_weights(searcher: Searcher, units, doc_frequency=None,
                 conditions: tuple[bool, ...] | None = None) -> tuple[float, ...]:
    """Per unit of a ``Coord``: its weight in the tier's coverage (see above).
    ``conditions``: ``conditions_of`` these units, when the caller has it already."""
    frequency = doc_frequency or searcher.reader().doc_frequency
    base = unit_weights(searcher, units, frequency)
    if conditions is None:
        conditions = conditions_of(searcher, units, frequency)
    return tuple(0.0 if factor <= GENERIC_FACTOR else
                 weight * (DISEASE_FACTOR if condition else 1.0)
                 for (_alts, _fields, factor), weight, condition
                 in zip(units, base, conditions, strict=True))


def intent_weight(units, weights: tuple[float, ...]) -> float:
    """What an understood intent weighs in a tier's coverage: as much as the query's heaviest
    word (its rarity, times DISEASE_FACTOR for a condition), not the heaviest unit: a concept
    spelling weighs CONCEPT_FACTOR times its words, and an intent must not outweigh the
    named disease because the disease's words were found to be one concept ("older adults
    with acute myeloid leukemia": a trial for older adults of another disease stays below
    every AML trial)."""
    words = [w / factor for (_alts, _fields, factor), w in zip(units, weights, strict=True)
             if w]
    return max(words, default=0.0) or 1.0


def names_the_disease(matched: set[str], main: set[str], words: tuple[Alternatives, ...],
                      weights: tuple[float, ...], conditions: tuple[bool, ...],
                      intent_held: bool = False) -> bool:
    """The named disease first: a trial that names every condition of the query in its
    main fields, and shares something else with it (an intervention, a target, or an
    understood intent it satisfies: ``intent_held``, "elderly" for "elderly NSCLC
    chemotherapy"), ranks above every trial that does not (one of another disease sharing
    only the intervention).  The something else is named in the main fields too: a
    diabetes trial that names GLP-1 receptor agonists only in its description (a
    background or a prior therapy) is not a GLP-1 receptor agonist trial (``matched``,
    every field's words, is not enough).  A query of conditions only ("type 1 diabetes
    children") puts first the trials of them that satisfy an intent."""
    return _names_the_disease(_held(main, words), weights, conditions, intent_held)


def _names_the_disease(main_held: tuple[bool, ...], weights: tuple[float, ...],
                       conditions: tuple[bool, ...], intent_held: bool) -> bool:
    """``names_the_disease`` from which units are held in the main fields."""
    if not any(conditions) or (all(conditions) and not intent_held):
        return False
    other = intent_held
    for held, w, condition in zip(main_held, weights, conditions, strict=True):
        if condition:
            if not held:
                return False
        elif w and held:
            other = True
    return other


def tier_coverage(matched: set[str], main: set[str], words: tuple[Alternatives, ...],
                  weights: tuple[float, ...]) -> float:
    """The weighted share of units matched, a unit named only outside MAIN_FIELDS counting
    SECONDARY_CREDIT.  ``matched``: words matched in any field; ``main``: in MAIN_FIELDS."""
    return _tier_coverage(_held(main, words), _held(matched, words), weights)


def _tier_coverage(main_held: tuple[bool, ...], held: tuple[bool, ...],
                   weights: tuple[float, ...]) -> float:
    """``tier_coverage`` from which units are held in the main fields and in any field."""
    total = sum(weights) or 1.0
    covered = 0.0
    for in_main, anywhere, w in zip(main_held, held, weights, strict=True):
        if in_main:
            covered += w
        elif anywhere:
            covered += w * SECONDARY_CREDIT
    return covered / total


class MaskForm:
    """``coverage``, ``tier_coverage`` and ``names_the_disease`` on a bit mask of matched
    words (index/engine/taat.py: a bit per word matched in any field, ``bit_of``, and one per
    word matched in a main field, ``main_bit_of``), made once per query: the same formulas,
    only the test of a unit is a few integer operations instead of set lookups over every
    alternative.  An alternative holds when its words' bits are all in the mask; a word
    without a bit is never matched, so an alternative naming one never holds."""

    def __init__(self, words: tuple[Alternatives, ...], bit_of: dict[str, int],
                 main_bit_of: dict[str, int]) -> None:
        self.any = tuple(_unit_bits(alts, bit_of) for alts in words)
        self.main = tuple(_unit_bits(alts, main_bit_of) for alts in words)
        self._seen: dict[int, tuple[tuple[bool, ...], tuple[bool, ...]]] = {}

    def held(self, mask: int) -> tuple[tuple[bool, ...], tuple[bool, ...]]:
        """Per unit, is it held in any field, and in a main field (kept per mask)."""
        found = self._seen.get(mask)
        if found is None:
            found = self._seen[mask] = (
                tuple(bool(mask & one) or any(mask & b == b for b in more)
                      for one, more in self.any),
                tuple(bool(mask & one) or any(mask & b == b for b in more)
                      for one, more in self.main))
        return found

    def coverage(self, mask: int, weights: tuple[float, ...],
                 power: float = COORD_POWER) -> float:
        return _coverage(self.held(mask)[0], weights, power)

    def tier_coverage(self, mask: int, weights: tuple[float, ...]) -> float:
        anywhere, in_main = self.held(mask)
        return _tier_coverage(in_main, anywhere, weights)

    def names_the_disease(self, mask: int, weights: tuple[float, ...],
                          conditions: tuple[bool, ...], intent_held: bool = False) -> bool:
        return _names_the_disease(self.held(mask)[1], weights, conditions, intent_held)


def _unit_bits(alts: Alternatives, bit_of: dict[str, int]) -> tuple[int, tuple[int, ...]]:
    """A unit's alternatives as bits: (the bits of its one-word alternatives ORed: one of
    them in the mask holds the unit, each longer alternative's bits); alternatives with a
    word that has no bit are left out (they never hold)."""
    one = 0
    more: list[int] = []
    for texts in alts:
        if not all(t in bit_of for t in texts):
            continue
        bits = 0
        for t in texts:
            bits |= bit_of[t]
        if len(texts) == 1:
            one |= bits
        else:
            more.append(bits)
    return one, tuple(dict.fromkeys(more))


def tier(cov: float) -> int:
    return round(cov * TIER_STEPS)


def rank(cov: float, disease_first: bool) -> int:
    """The tier, above every tier of a trial that does not name the disease."""
    return tier(cov) + (TIER_STEPS + 1 if disease_first else 0)


def squash(score: float) -> float:
    return score / (1.0 + score)


def unsquash(value: float) -> float:
    return value / (1.0 - value)


# -- the tie-break ---------------------------------------------------------------------------

class Prior(WrappingQuery):
    """Multiplies each score by the document's stored ``prior`` (0.95-1.0, schema.py)."""

    def _rewrap(self, child: wq.Query) -> Prior:
        return Prior(child)

    def __str__(self) -> str:
        return str(self.child)

    def matcher(self, searcher: Searcher, context=None):
        m = self.child.matcher(searcher, context)
        if context is None or context.weighting is None or not m.is_active():
            return m
        reader = searcher.reader()
        if not reader.has_column("prior"):
            return m
        return _PriorMatcher(m, reader.column_reader("prior"))


class _PriorMatcher(WrappingMatcher):
    def __init__(self, child, column, boost: float = 1.0) -> None:
        super().__init__(child, boost)
        self._column = column

    def _replacement(self, newchild):
        return _PriorMatcher(newchild, self._column, self.boost)

    def copy(self):
        return _PriorMatcher(self.child.copy(), self._column, self.boost)

    def score(self) -> float:
        return self.child.score() * (self._column[self.child.id()] or 1000) / 1000


# -- explanations ----------------------------------------------------------------------------

def explain(searcher: Searcher, q: wq.Query | None, docnum: int) -> dict[str, Any]:
    """Why document ``docnum`` scores what it does: each matched term's BM25F score (with its
    field and synonym weights), sums per field and per unit, the coverage factor and the
    prior.  Computed on the top-level searcher, after the search (only for shown hits)."""
    reader = searcher.reader()
    prior = 1.0
    if reader.has_column("prior"):
        prior = (reader.column_reader("prior")[docnum] or 1000) / 1000
    out: dict[str, Any] = {"fields": {}, "units": {}, "terms": [], "coverage": 1.0,
                           "prior": round(prior, 4)}
    if q is None:
        return out
    context = searcher.context()
    matched: set[str] = set()
    for unit in units_of(q):
        for leaf in unit.child.leaves():
            m = leaf.matcher(searcher, context)
            if not m.is_active():
                continue
            m.skip_to(docnum)
            if not m.is_active() or m.id() != docnum:
                continue
            score = m.score()
            field = leaf.field()
            text = _leaf_text(leaf)
            matched.update(getattr(leaf, "words", None) or [str(getattr(leaf, "text", ""))])
            out["fields"][field] = round(out["fields"].get(field, 0.0) + score, 4)
            out["units"][unit.label] = round(out["units"].get(unit.label, 0.0) + score, 4)
            out["terms"].append({"unit": unit.label, "field": field, "term": text,
                                 "boost": round(leaf.boost, 3), "score": round(score, 4)})
    coords = [c for c in _walk(q) if isinstance(c, Coord)]
    if coords:
        c = coords[0]
        words = tuple(alts for alts, _, _ in c.units)
        out["coverage"] = round(coverage(matched, words, unit_weights(searcher, c.units),
                                         c.power), 4)
    out["terms"].sort(key=lambda t: -t["score"])
    return out


def _leaf_text(leaf: wq.Query) -> str:
    if isinstance(leaf, wq.Phrase):
        return '"' + " ".join(leaf.words) + '"'
    if isinstance(leaf, wq.Prefix):
        return f"{leaf.text}*"
    return str(getattr(leaf, "text", leaf))


def _walk(q: wq.Query):
    yield q
    for child in q.children():
        yield from _walk(child)
