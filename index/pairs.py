"""The word-pair index behind fast phrases ("common grams").

A two-word phrase is matched from the words' positions (``engine/taat._add_phrase``): every
document having both words has its positions decoded and compared.  When one of the words is
among the commonest of trial text ("study", "patient", "treatment", ...) that is most of the
index: "escalation study" reads the positions of "study" in nearly every document.  So at
index time each adjacent pair of terms of a default-searched text field of which one term is
among ``COMMON`` (12 words) and the other among ``FREQUENT`` (the 300 terms in the most
records; ``common_words.txt``, made by ``bench/common_words.py`` from real records outside
the benchmark corpus) is added as one term of the ``pairs`` field:
``<field code><first> <second>`` (``pair_term``), and such a phrase is one posting list.

Adjacent means what a Whoosh ``Phrase`` (slop 1) means: the second term at the position after
the first's, after stop words are dropped and with the extra terms a concept or compound
emits at its own position (``analysis.index_positions``); so a pair term's documents are
exactly the phrase's.  The scores still come from each word's own postings.

Every document written with pairs also gets ``MARKER`` (which names ``TABLE_VERSION``): a
segment whose every document has it can answer a pair's phrase from the pair; any other
(an index built before this, or with another table, or a document added by a writer that
does not make pairs) answers it from positions, as before: the same results, slower.
``trials reindex`` gives an existing home its pairs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

# Bump with common_words.txt (or the pair terms' spelling): an index built with another
# table then falls back to positions instead of missing pairs.
TABLE_VERSION = 1
FIELD = "pairs"
MARKER = f"#{TABLE_VERSION}"


def _load(path: Path) -> tuple[frozenset[str], frozenset[str]]:
    common, frequent = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            parts = line.split("\t")
            if not parts[0] or any(c.isspace() for c in parts[0]):
                continue  # a pair term's words are split at its one space
            frequent.append(parts[0])
            if parts[-1] == "common":
                common.append(parts[0])
    return frozenset(common), frozenset(frequent)


# COMMON: the words whose pairs are indexed; FREQUENT (COMMON among them): the words they are
# paired with.  A pair with a rarer word is left to positions, where the rarer word's few
# documents bound the work (and each such pair would cost a term in the index).
COMMON, FREQUENT = _load(Path(__file__).with_name("common_words.txt"))


def _paired(first: str, second: str) -> bool:
    return (first in COMMON and second in FREQUENT) or (second in COMMON and first in FREQUENT)


# One short code per paired field, fixed here (not derived from an order elsewhere): pair
# terms of one field never mix with another's.  The default-searched text fields.
CODES: dict[str, str] = {
    "title": "t", "conditions": "c", "acronym": "a", "interventions": "i", "ids": "d",
    "official_title": "o", "keywords": "k", "arms": "r", "summary": "s", "sponsor": "p",
    "outcomes": "u", "description": "e", "criteria": "q",
}


def pair_term(fieldname: str, first: str, second: str) -> str | None:
    """The pairs field's term for the phrase ``first second`` in ``fieldname``; None when the
    index holds no such pair (the field is not paired, or neither word is common, or the
    other is not frequent)."""
    code = CODES.get(fieldname)
    if code is None or not _paired(first, second):
        return None
    return f"{code}{first} {second}"


def field_pairs(code: str, positions: Mapping[str, list[int]], out: set[str]) -> None:
    """Add the pair terms of one field (its index terms and their positions, as
    ``analysis.index_positions`` gives them) to ``out``."""
    common = [t for t in COMMON if t in positions]
    if not common:
        return
    frequent = FREQUENT
    at: dict[int, list[str]] = {}  # position -> the frequent terms there
    for term, places in positions.items():
        if term not in frequent:
            continue
        for p in places:
            found = at.get(p)
            if found is None:
                at[p] = [term]
            else:
                found.append(term)
    for term in common:
        for p in positions[term]:
            # ``at`` holds frequent terms only: each neighbour there makes a pair
            for other in at.get(p - 1, ()):
                out.add(f"{code}{other} {term}")
            for other in at.get(p + 1, ()):
                out.add(f"{code}{term} {other}")


def doc_pairs(fields: Iterable[tuple[str, Mapping[str, list[int]]]]) -> list[str]:
    """The pairs field's terms of one document, ``MARKER`` first, from (field name, its
    terms' positions) of its text fields; sorted."""
    out: set[str] = set()
    for name, positions in fields:
        code = CODES.get(name)
        if code is not None and positions:  # (a field of no common word costs a lookup each)
            field_pairs(code, positions, out)
    return [MARKER, *sorted(out)]


def pairs_value(doc: Mapping[str, object]) -> str:
    """The ``pairs`` field's value for a document of ``schema.record_to_doc`` (one term a
    line), its text fields analysed here: what ``engine/fastwriter`` computes from the
    analysis it does anyway."""
    from trialscope.index.analysis import index_positions

    return "\n".join(doc_pairs((name, index_positions(value)) for name, value in doc.items()
                               if name in CODES and isinstance(value, str) and value))
