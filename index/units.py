"""A query unit: one word or concept of the query as an OR of its alternatives over its fields.

Its own module so that both the parser (``query.py``) and the ranking (``ranking.py``) can read
it without importing each other.
"""

from __future__ import annotations

from whoosh import query as wq
from whoosh.query.wrappers import WrappingQuery

from trialscope.index.schema import FIELD_BOOSTS


class Unit(WrappingQuery):
    """One query unit: an OR of its alternatives over its fields.  ``alternatives`` are
    (term texts, weight); ``label`` is how ``describe`` shows it."""

    def __init__(self, child: wq.Query, label: str = "", field: str | None = None,
                 alternatives: tuple[tuple[tuple[str, ...], float], ...] = (),
                 concept: bool = False) -> None:
        super().__init__(child)
        self.label, self.unit_field, self.alternatives = label, field, alternatives
        self.concept = concept  # a named thing (disease, therapy, drug): see ranking.py
        self.generic = False  # trial boilerplate ("therapy", "study"): see ranking.py
        self.part = False  # a word of a several-word concept spelling: see ranking.py
        self.stems: tuple[str, ...] = ()  # a class's INN stems (search.expand_stems)
        self.quoted = False  # a "phrase" as typed: exact, never expanded (search.py)

    def _rewrap(self, child: wq.Query) -> Unit:
        unit = Unit(child, self.label, self.unit_field, self.alternatives, self.concept)
        unit.generic, unit.part, unit.stems = self.generic, self.part, self.stems
        unit.quoted = self.quoted
        return unit

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unit) and (other.child, other.label) == (self.child,
                                                                           self.label)

    __hash__ = WrappingQuery.__hash__

    def __str__(self) -> str:
        return str(self.child)

    @property
    def fields(self) -> tuple[str, ...]:
        return (self.unit_field,) if self.unit_field else tuple(FIELD_BOOSTS)


def units_of(q: wq.Query | None) -> list[Unit]:
    """Every unit in the query, in order (for explanations)."""
    if q is None:
        return []
    if isinstance(q, Unit):
        return [q]
    out: list[Unit] = []
    for child in q.children():
        out.extend(units_of(child))
    return out
