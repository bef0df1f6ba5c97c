"""The analyzer for clinical text: concepts first, then codes and hyphenated words, then words.

Whoosh's stock analyzers split "CAR-T" into "car" + "t" (so "CAR-T" matched "car accident")
and have no synonym filter.  Here one regex recognises the domain concepts before plain words,
so every spelling of a concept becomes ONE token that no plain word can produce:

    "CAR-T", "CAR T cells", "CART", "chimeric antigen receptor (CAR) T cells"  -> cart
    "MG", "myasthenia gravis"                                                   -> myasthenia_gravis

``CONCEPTS`` below is the one table of these spellings.  Everything else is mode-aware
(Whoosh passes ``mode="index"`` or ``mode="query"`` to the analyzer):

- index time, a concept also emits its component words at the same position, so "antigen" or
  "myasthenia" alone still finds it; a hyphenated compound ("gravis-related", "anti-CD19")
  emits itself and its parts at the same position, so "gravis" finds "gravis-related";
- query time, only the concept token or the whole compound, so a query stays precise.

Plain words: lower-cased; a short stop list; a light (plural-only) stemmer for ordinary words.
Acronyms, codes, words with digits and ALL-CAPS words are only lower-cased ("IMVT", "CD19").

The token object is reused, as everywhere in Whoosh: consumers read it before the next one.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from whoosh.analysis import Composable, Filter, Token, Tokenizer


@dataclass(frozen=True)
class Concept:
    """One domain concept: the regex of its spellings and the token(s) it becomes."""

    name: str  # regex group name; unique
    tokens: tuple[str, ...]  # what every spelling becomes (query and index time)
    pattern: str  # spellings; inline flags only, no capturing groups
    also_index: tuple[str, ...] = ()  # extra index-time tokens, whatever the spelling


# optional "cell(s)" and "therapy" after a CAR-T spelling: "CAR-T cell therapy" is CAR-T
_CELLS = r"(?:[\s-]+(?i:cells?|lymphocytes?))?(?:[\s-]+(?i:therapy|therapies))?"
_CAR_ABBR = r"(?:[\s-]*\((?i:cars?)\))?"  # "chimeric antigen receptor (CAR) ..."
_CHIMERIC_AR = r"(?i:chimeric[\s-]+antigen[\s-]+receptors?)" + _CAR_ABBR
_ENGINEERED = r"(?:[\s-]+(?i:modified|engineered|redirected))?"

# Order matters: the first alternative that matches at a position wins, so the more specific
# spellings (CAR-NK, CAAR-T) come before the generic "chimeric antigen receptor" -> cart.
CONCEPTS: tuple[Concept, ...] = (
    Concept(
        "carnk",
        ("carnk",),
        r"(?<!\w)(?:(?i:car[\s-]?nk)"
        + r"|" + _CHIMERIC_AR + _ENGINEERED + r"[\s-]*(?:NK|(?i:natural[\s-]+killer)))"
        + _CELLS + r"(?!\w)",
    ),
    Concept(
        "caart",
        ("caart",),
        r"(?<!\w)(?:(?i:caar[\s-]?ts?)"
        + r"|(?i:chimeric[\s-]+auto(?:antibody|antigen)[\s-]+receptors?)"
        + r"(?:[\s-]*\((?i:caars?)\))?(?:[\s-]*T(?![a-z]))?)"
        + _CELLS + r"(?!\w)",
    ),
    Concept(
        "cart",
        ("cart",),
        # "CAR-T", "car-t", "CAR T", "CART", "CAR-Ts", optionally followed by "cell(s)";
        # the T must end a word, so "car transport" and "car accident" stay words.
        r"(?<!\w)(?:(?i:car[\s-]?ts?)(?!\w)"
        # "chimeric antigen receptor", with or without "(CAR)", "-modified", "T cells"
        + r"|" + _CHIMERIC_AR + _ENGINEERED + r"(?:[\s-]*(?i:t)(?![\w]))?"
        + r")" + _CELLS + r"(?!\w)",
    ),
    Concept(
        "gmg",
        ("generalized", "myasthenia_gravis"),
        r"(?<!\w)(?:gMG|GMG)(?!\w)",
        also_index=("myasthenia", "gravis"),
    ),
    Concept(
        "mg",
        ("myasthenia_gravis",),
        # Only the upper-case standalone abbreviation, and never a dose: not after a number
        # ("10 MG"), not before a unit slash ("MG/KG"), not inside a compound ("MG-ADL").
        r"(?<![\w.])(?<!\d\s)MG(?![\w/-])",
        also_index=("myasthenia", "gravis"),
    ),
    Concept(
        "myasthenia_gravis",
        ("myasthenia_gravis",),
        r"(?<!\w)(?i:myasthenia[\s_-]+gravis)(?!\w)",
        also_index=("myasthenia", "gravis"),
    ),
)

# How a researcher writes each concept token: output that names a token (related trials'
# "shares:", explanations) shows these words, never the token.
TOKEN_WORDS: dict[str, str] = {
    "carnk": "CAR-NK",
    "caart": "CAAR-T",
    "cart": "CAR-T",
    "generalized": "generalized",
    "myasthenia_gravis": "myasthenia gravis",
}

# Spelling variants of plain words, applied after lower-casing (British -> American).
WORD_VARIANTS: dict[str, str] = {"generalised": "generalized"}

# Short on purpose: clinical text is dense, and "t", "mg", "no" carry meaning.
STOP_WORDS: frozenset[str] = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "into", "is", "it",
    "its", "of", "on", "or", "s", "that", "the", "their", "this", "to", "was", "were", "with",
})

# Index-time component words that would make a concept match an unrelated query ("car").
_NEVER_EXTRA: frozenset[str] = frozenset({"car"})

_CONCEPT_BY_NAME = {c.name: c for c in CONCEPTS}
_HYPHENS = "-\u2010\u2011"
_WORD = r"[^\W_]+"
_COMPOUND = rf"{_WORD}(?:[{_HYPHENS}]{_WORD})+"
_NUMBER = r"\d+(?:[.,]\d+)+"
# Every concept spelling starts with one of these letters: the lookahead lets the regex skip
# the concept alternatives at every other position (4x faster tokenizing; same matches, which
# tests/test_analysis.py checks against the alternatives without it).  Every spelling also
# starts a word (each alternative opens with ``(?<!\w)``, mg's with ``(?<![\w.])``), so the
# same lookbehind, once before the alternatives, skips them inside a word ("compared",
# "programme": the concept scan of real text in 0.74x the time, the same matches).
CONCEPT_FIRST = "cCgGmM"
_CONCEPT_ALTS = (f"(?=[{CONCEPT_FIRST}])(?<!\\w)(?:"
                 + "|".join(f"(?P<{c.name}>{c.pattern})" for c in CONCEPTS) + ")")

TOKEN_RE = re.compile(
    rf"{_CONCEPT_ALTS}|(?P<number>{_NUMBER})|(?P<compound>{_COMPOUND})|(?P<word>{_WORD})"
)
# TOKEN_RE's matches, found twice as fast (snippets scan with it): its "compound" and "word"
# alternatives (``word(-word)+`` tried, then ``word``) as one, ``word(-word)*``, which
# matches the same; a match in its "compound" group may then be a plain word (no hyphen).
_WORD_OR_COMPOUND = rf"{_WORD}(?:[{_HYPHENS}]{_WORD})*"
SCAN_RE = re.compile(rf"{_CONCEPT_ALTS}|(?P<number>{_NUMBER})|(?P<compound>{_WORD_OR_COMPOUND})")
HYPHENS = _HYPHENS
# Compound parts: concepts and words only ("BCMA-CAR-T" -> bcma, cart).
_PART_RE = re.compile(rf"{_CONCEPT_ALTS}|(?P<word>{_WORD})")
# Concept spellings alone, for rewriting query strings (see ``concept_spans``).
CONCEPT_RE = re.compile(_CONCEPT_ALTS)


def light_stem(word: str) -> str:
    """Plural-only English stemmer (Harman's S-stemmer), safe for medical Latin.

    Porter would conflate "generalized" with "general" and "therapy" with "therapist"; a
    researcher's words should only lose their plural.  Words ending in -is/-us/-ss keep their s
    ("gravis", "arthritis", "status").
    """
    if len(word) <= 3 or not word.endswith("s") or word.endswith(("is", "us", "ss")):
        return word
    if word.endswith("ies") and not word.endswith(("eies", "aies")):
        return word[:-3] + "y"  # therapies -> therapy
    return word[:-1]  # cells -> cell, doses -> dose


def _is_plain_word(surface: str) -> bool:
    """Ordinary words ("cells", "Cells") are stemmed; "IMVT", "gMG", "CD19", "AChR" are not.

    Title-case words count as ordinary: registry titles are Title Case ("CAR-T Cells"), and a
    title that does not match its own summary's words would rank badly.
    """
    if len(surface) <= 3 or not surface.isalpha():
        return False
    return surface.islower() or (surface[0].isupper() and surface[1:].islower())


def normalize_word(surface: str) -> str:
    """The indexed form of one plain word (no stop-word check)."""
    text = surface.lower()
    text = WORD_VARIANTS.get(text, text)
    return light_stem(text) if _is_plain_word(surface) else text


def concept_for(match: re.Match[str]) -> Concept | None:
    return concept_named(match.lastgroup)


def concept_named(name: str | None) -> Concept | None:
    """The concept whose regex group is ``name`` (a ``TOKEN_RE`` / ``SCAN_RE`` match's
    ``lastgroup``); None for the other groups."""
    return _CONCEPT_BY_NAME.get(name) if name else None


def concept_spans(text: str) -> Iterator[tuple[int, int, Concept]]:
    """(start, end, concept) for each concept spelling in ``text``; used to rewrite queries."""
    for m in CONCEPT_RE.finditer(text):
        concept = concept_for(m)
        if concept is not None:
            yield m.start(), m.end(), concept


class ClinicalTokenizer(Tokenizer):
    """Splits text with ``TOKEN_RE`` and tags each token with its kind and concept.

    Token attributes set here: ``text`` (the surface text), ``kind`` ("concept", "number",
    "compound", "word" or "raw"), ``concept`` (a ``Concept`` or None), ``pos``,
    ``startchar``/``endchar`` (offsets into the original text, for highlighting).
    """

    def __reduce__(self) -> tuple[type, tuple[()]]:
        # Whoosh pickles the schema into the index; pickle only the class name so an index
        # always uses the current code's table (a changed table needs `trials reindex`).
        return (self.__class__, ())

    def __eq__(self, other: object) -> bool:
        return other.__class__ is self.__class__

    def __hash__(self) -> int:
        return hash(self.__class__)

    def __call__(
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        tokenize: bool = True,
        mode: str = "",
        **kwargs: object,
    ) -> Iterator[Token]:
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        if not tokenize:
            # Wildcard and prefix terms ("myasth*") arrive untokenized: lower-case only.
            t.text = t.original = value
            t.kind, t.concept, t.boost, t.stopped = "raw", None, 1.0, False
            t.pos, t.startchar, t.endchar = start_pos, start_char, start_char + len(value)
            yield t
            return
        for pos, m in enumerate(TOKEN_RE.finditer(value)):
            t.text = m.group(0)
            if keeporiginal:
                t.original = t.text
            t.concept = concept_for(m)
            t.kind = "concept" if t.concept else m.lastgroup
            t.boost, t.stopped = 1.0, False
            t.pos = start_pos + pos
            t.startchar, t.endchar = start_char + m.start(), start_char + m.end()
            yield t


class ClinicalFilter(Filter):
    """Turns tagged tokens into index/query terms: concepts, compounds, stop words, stems.

    Positions are renumbered after stop words (like Whoosh's StopFilter) so phrases match
    across them ("safety and efficacy" == "safety efficacy"); extra index-time tokens share
    the position of the token they came from, like synonyms.
    """

    def __reduce__(self) -> tuple[type, tuple[()]]:
        return (self.__class__, ())

    def __eq__(self, other: object) -> bool:
        return other.__class__ is self.__class__

    def __hash__(self) -> int:
        return hash(self.__class__)

    def __call__(self, tokens: Iterator[Token]) -> Iterator[Token]:
        pos = -1
        for t in tokens:
            indexing = t.mode == "index"
            kind = t.kind
            if kind == "raw":
                t.text = t.text.lower()
                yield t
                continue
            if kind == "word" and t.text.lower() in STOP_WORDS:
                if not t.removestops:
                    t.stopped = True
                    t.text = t.text.lower()
                    yield t
                continue
            pos += 1
            if t.positions:
                t.pos = pos
            if kind == "concept":
                for text in self.concept_texts(t.concept, t.text, indexing):
                    t.text = text
                    yield t
            elif kind == "compound":
                for text in self.compound_texts(t.text, indexing):
                    t.text = text
                    yield t
            elif kind == "number":
                yield t
            else:
                t.text = normalize_word(t.text)
                yield t

    @staticmethod
    def concept_texts(concept: Concept, surface: str, indexing: bool) -> list[str]:
        out = list(concept.tokens)
        if not indexing:
            return out
        # Component words of this spelling ("chimeric", "antigen", "cell"), then the
        # concept's own extras; never a word that is ambiguous outside the concept ("car").
        for m in re.finditer(_WORD, surface):
            if _is_plain_word(m.group(0)) and m.group(0).lower() not in _NEVER_EXTRA:
                out.append(normalize_word(m.group(0)))
        out.extend(concept.also_index)
        return list(dict.fromkeys(out))

    @staticmethod
    def compound_texts(surface: str, indexing: bool) -> list[str]:
        whole = re.sub(f"[{_HYPHENS}]", "-", surface).lower()
        if not indexing:
            return [whole]
        out = [whole]
        for m in _PART_RE.finditer(surface):
            concept = concept_for(m)
            if concept is not None:
                out.extend(concept.tokens)
                out.extend(concept.also_index)
            elif m.group(0).lower() not in STOP_WORDS and m.group(0) != "CAR":
                # upper-case "CAR" in a compound ("CAR-T19", "CAR-Treg") is the receptor,
                # never the vehicle: emitting "car" would let "car accident" match it.
                out.append(normalize_word(m.group(0)))
        return list(dict.fromkeys(out))


def clinical_analyzer() -> Composable:
    """The analyzer every text field uses (index and query side alike)."""
    return ClinicalTokenizer() | ClinicalFilter()


# Tokens without concepts: TOKEN_RE's other alternatives, in the same order, no groups, and
# "compound" and "word" as one alternative (a word, then any hyphenated parts), as SCAN_RE has
# them.  The same matches, found 40% faster: ``_COMPOUND|_WORD`` reads every plain word twice
# (the compound fails at its end, then the word matches it again).  ``_surface_terms`` tells a
# compound by its hyphen.
_PLAIN_TOKEN_RE = re.compile(rf"{_NUMBER}|{_WORD_OR_COMPOUND}")
_NUMBER_RE = re.compile(_NUMBER)
_SURFACE_TERMS: dict[str, str | list[str]] = {}  # surface -> its index-time term(s); "": stop
_CACHE_LIMIT = 500_000  # entries; cleared when full (a registry has about a million words)


def _surface_terms(surface: str) -> str | list[str]:
    """The index-time term(s) of one non-concept token, as ``ClinicalFilter`` makes them."""
    if _NUMBER_RE.fullmatch(surface):
        return surface
    if any(h in surface for h in _HYPHENS):
        return ClinicalFilter.compound_texts(surface, True)
    return "" if surface.lower() in STOP_WORDS else normalize_word(surface)


def index_positions(text: str) -> dict[str, list[int]]:
    """Index-mode terms of ``text`` with their positions: exactly the terms and positions the
    analyzer yields at index time (``ClinicalTokenizer | ClinicalFilter``), without a token
    object per word.  Concept spellings are found by ``CONCEPT_RE``; the text between them is
    split by one ``findall`` of the other token kinds, and each distinct surface word is
    analysed once per process (a cache).  The bulk writer (index/engine/fastwriter.py) uses it;
    tests/test_fastwriter.py checks it against the analyzer."""
    out: dict[str, list[int]] = {}
    cache = _SURFACE_TERMS
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    pos = -1
    cursor = 0
    for m in CONCEPT_RE.finditer(text):
        start = m.start()
        if start and text[start - 1] in _HYPHENS:
            # "anti-MG": the tokenizer reads a compound there, not a concept
            return _index_positions_slow(text)
        pos = _plain_positions(text, cursor, start, out, pos)
        pos += 1
        kind = m.lastgroup or ""
        for term in ClinicalFilter.concept_texts(_CONCEPT_BY_NAME[kind], m.group(), True):
            found = out.get(term)
            if found is None:
                out[term] = [pos]
            else:
                found.append(pos)
        cursor = m.end()
    _plain_positions(text, cursor, len(text), out, pos)
    return out


def _plain_positions(text: str, start: int, end: int, out: dict[str, list[int]],
                     pos: int) -> int:
    """Add the terms of ``text[start:end]`` (no concept in it, and no token crossing its
    ends: a concept spelling starts and ends at a non-word character) to ``out``; returns
    the last position used."""
    cache = _SURFACE_TERMS
    for surface in _PLAIN_TOKEN_RE.findall(text, start, end):
        terms = cache.get(surface)
        if terms is None:
            terms = cache[surface] = _surface_terms(surface)
        if not terms:
            continue  # a stop word: no position, like StopFilter
        pos += 1
        if terms.__class__ is str:
            found = out.get(terms)
            if found is None:
                out[terms] = [pos]
            else:
                found.append(pos)
            continue
        for term in terms:
            found = out.get(term)
            if found is None:
                out[term] = [pos]
            else:
                found.append(pos)
    return pos


def _index_positions_slow(text: str) -> dict[str, list[int]]:
    """``index_positions`` for a text with concept spellings: TOKEN_RE's matches in turn."""
    out: dict[str, list[int]] = {}
    cache = _SURFACE_TERMS
    pos = -1
    for m in TOKEN_RE.finditer(text):
        kind = m.lastgroup
        if kind in ("word", "number", "compound"):
            surface = m.group()
            terms = cache.get(surface)
            if terms is None:
                terms = cache[surface] = _surface_terms(surface)
            if not terms:
                continue
            if terms.__class__ is str:
                terms = [terms]
        else:  # a concept: its named group
            assert kind is not None
            terms = ClinicalFilter.concept_texts(_CONCEPT_BY_NAME[kind], m.group(), True)
        pos += 1
        for term in terms:
            out.setdefault(term, []).append(pos)
    return out


def tokens(text: str, mode: str = "index") -> list[str]:
    """The term stream for ``text``: what tests pin and what a curious user can inspect."""
    return [t.text for t in clinical_analyzer()(text, mode=mode)]


# -- synonyms (index/synonyms.txt) -------------------------------------------------------------

SYNONYMS_FILE = Path(__file__).with_name("synonyms.txt")
# A class's members ("FcRn inhibitor" -> efgartigimod) count a little less than the class's
# own spellings and than true equivalents: a trial that names the class is the surer hit.
MEMBER_WEIGHT = 0.8


@dataclass(frozen=True)
class Spelling:
    text: str
    tokens: tuple[str, ...]  # query-mode analysis of ``text``
    exact: bool  # two-letter capitals ("MM"): matched case-sensitively, never searched itself


@dataclass(frozen=True)
class SynonymGroup:
    """One line of the synonym file: the spellings that trigger it and what they search for."""

    line: int
    spellings: tuple[Spelling, ...]
    alternatives: tuple[tuple[tuple[str, ...], float], ...]  # (term texts, weight)
    stems: tuple[str, ...] = ()  # "class ~ stem": members are the indexed words ending so


def _spelling(text: str) -> Spelling:
    text = text.strip()
    exact = len(text) == 2 and text.isalpha() and text.isupper()
    return Spelling(text, tuple(tokens(text, mode="query")), exact)


@dataclass
class SynonymTable:
    groups: list[SynonymGroup]
    by_tokens: dict[tuple[str, ...], list[tuple[Spelling, SynonymGroup]]]
    max_tokens: int

    def match(self, words: list[tuple[str, tuple[str, ...]]], start: int
              ) -> tuple[int, list[SynonymGroup]] | None:
        """The longest synonym spelling that starts at ``words[start]`` and ends on a word
        boundary: (index after its last word, every group it belongs to), or None.
        ``words`` are (surface text, query tokens) pairs of adjacent query words."""
        best: tuple[int, list[SynonymGroup]] | None = None
        seq: tuple[str, ...] = ()
        for end in range(start, len(words)):
            seq += words[end][1]
            if len(seq) > self.max_tokens:
                break
            groups = [group for spelling, group in self.by_tokens.get(seq, ())
                      if not spelling.exact
                      or (end == start and words[start][0] == spelling.text)]
            if groups:
                best = (end + 1, list(dict.fromkeys(groups)))
        return best

    def implied(self, concept: str) -> frozenset[str]:
        """Single-token alternatives a query for ``concept`` also searches ("cart" ->
        "gc012f", "kyv-101", ...): product codes that imply the concept."""
        out: set[str] = set()
        for _, group in self.by_tokens.get((concept,), ()):
            out.update(t[0] for t, _ in group.alternatives if len(t) == 1)
        return frozenset(out - {concept})


def parse_synonyms(text: str) -> SynonymTable:
    """Read the synonym file format (see the header of index/synonyms.txt)."""
    equivalents: dict[str, list[Spelling]] = {}  # lower-cased spelling -> its "=" group
    raw: list[tuple[int, list[Spelling], list[str]]] = []
    stems: dict[int, tuple[str, ...]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip() if line.lstrip().startswith("#") else line.strip()
        if not line:
            continue
        if "~" in line:
            head, _, tail = line.partition("~")
            spellings = [_spelling(s) for s in head.split("|") if s.strip()]
            stems[number] = tuple(t.strip().lower().lstrip("-*") for t in tail.split(",")
                                  if t.strip())
            raw.append((number, spellings, []))
        elif ">" in line:
            head, _, listed = line.partition(">")
            spellings = [_spelling(s) for s in head.split("|") if s.strip()]
            raw.append((number, spellings, [m.strip() for m in listed.split(",") if m.strip()]))
        else:
            spellings = [_spelling(s) for s in line.split("=") if s.strip()]
            for s in spellings:
                equivalents.setdefault(s.text.lower(), spellings)
            raw.append((number, spellings, []))
    groups: list[SynonymGroup] = []
    for number, spellings, members in raw:
        alts: dict[tuple[str, ...], float] = {}
        for s in spellings:
            if not s.exact and s.tokens:
                alts.setdefault(s.tokens, 1.0)
        for member in members:
            for s in equivalents.get(member.lower(), [_spelling(member)]):
                if not s.exact and s.tokens:
                    alts.setdefault(s.tokens, MEMBER_WEIGHT)
        groups.append(SynonymGroup(number, tuple(spellings), tuple(alts.items()),
                                   stems.get(number, ())))
    by_tokens: dict[tuple[str, ...], list[tuple[Spelling, SynonymGroup]]] = {}
    for group in groups:
        for s in group.spellings:
            if s.tokens:
                by_tokens.setdefault(s.tokens, []).append((s, group))
    max_tokens = max((len(k) for k in by_tokens), default=0)
    return SynonymTable(groups, by_tokens, max_tokens)


@functools.lru_cache(maxsize=1)
def synonyms() -> SynonymTable:
    """The shipped synonym table (read once per process)."""
    return parse_synonyms(SYNONYMS_FILE.read_text(encoding="utf-8"))
