"""The query language: lex, validate, expand synonyms, build the Whoosh query, describe it.

Whoosh's own parser never fails: an unclosed quote, a dangling ``AND`` or an unknown ``foo:``
prefix silently becomes a query that matches nothing or something else.  A typo must never look
like "0 results", so queries are lexed and checked here (``_lex``/``_validate``) and built by a
small recursive-descent parser that raises ``QueryError`` saying what to fix.

Grammar (Whoosh's, minus its surprises)::

    query   := orexpr
    orexpr  := andexpr ([OR] andexpr)*          adjacent terms: any may match
    andexpr := unary ((AND | ANDNOT | ANDMAYBE) unary)*
    unary   := NOT unary | atom
    atom    := word | "phrase" | prefix* | field:atom | field:[a TO b] | ( orexpr )

A *unit* is what a researcher thinks of as one term: a word, a phrase, a prefix, or a run of
words that is a synonym-file spelling ("FcRn inhibitors" -> the class and its five drugs).  A
unit is searched in every default field with that field's weight (``FIELD_BOOSTS``), or in the
one field its prefix names.  "a b NOT c" means (a OR b) ANDNOT c.  An OR of units is wrapped in
``Coord`` (ranking.py), so trials matching more of the query's units, weighted by rarity, come
first.  Phrases ("...") are exact: never expanded.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
from dataclasses import dataclass

from whoosh import query as wq
from whoosh.fields import BOOLEAN, NUMERIC, TEXT, Schema
from whoosh.query.wrappers import WrappingQuery

from trialscope.core.errors import TrialsError
from trialscope.index.analysis import (
    CONCEPTS,
    SynonymGroup,
    clinical_analyzer,
    concept_spans,
    synonyms,
)
from trialscope.index.ranking import coordinate
from trialscope.index.schema import FIELD_BOOSTS, build_schema
from trialscope.index.units import Unit, units_of  # noqa: F401 (re-exported)

# Friendly prefix -> schema field.  Schema field names work as prefixes too.
FIELD_ALIASES: dict[str, str] = {
    "condition": "conditions", "intervention": "interventions", "drug": "interventions",
    "id": "ids", "keyword": "keywords", "arm": "arms", "eligibility": "criteria",
    "inclusion": "criteria", "outcome": "outcomes", "location": "locations",
    "country": "countries", "city": "cities", "phase": "phases", "type": "study_type",
    "target": "targets",
}
# Not query prefixes: stored-only text, the exact update key (use id:), ranking columns, and
# dates, which are YYYYMMDD numbers that "start_date:2025" would silently miss.
_HIDDEN_FIELDS = {"snippet", "trial_id", "aliases", "antibodies", "start_date",
                  "primary_completion_date", "completion_date", "last_updated", "prior",
                  "pairs"}
_BINARY_OPS = {"AND", "OR", "ANDNOT", "ANDMAYBE"}
_ANALYZER = clinical_analyzer()
CONCEPT_TOKENS = frozenset((t,) for c in CONCEPTS for t in c.tokens if t != "generalized")
# Trial boilerplate: a trial that lacks one of these words is hardly a worse match
# (ranking.GENERIC_FACTOR).
GENERIC_WORDS = frozenset((w,) for w in (
    "therapy", "treatment", "treat", "study", "trial", "patient", "participant", "subject",
    "safety", "efficacy", "clinical", "disease", "cell", "adult", "evaluate", "effect"))
MAX_LABELS = 4  # synonym alternatives shown by describe() before "… N more"

# Limits on what one query may ask for (each refused with a QueryError that says which):
# - MAX_DEPTH: nested groups and NOTs.  The parser, the evaluator and describe() recurse once
#   or more per level; 32 is far beyond any hand-written query and far below Python's
#   recursion limit (1000 frames).
# - MAX_TERMS: words, phrases and ranges.  A long hand-made OR of drug names is ~50; a unit
#   with synonyms becomes up to several hundred leaves (spellings x 13 fields), so 256 units
#   already mean ~10^5 posting lists.
# - MAX_WILDCARDS: prefix* / wild?card terms.  Each is expanded against the index's terms in
#   every field it searches (13 by default); index/search.py bounds the expansion itself.
# - MIN_LITERAL: letters before the first * or ?.  A pattern with no literal start scans
#   every term of every field (25 s at 100k trials for '?????*').
MAX_DEPTH = 32
MAX_TERMS = 256
MAX_WILDCARDS = 16
MIN_LITERAL = 2


class QueryError(TrialsError, ValueError):
    """The query or a filter cannot be run as written; the message says what to change, and
    ``hint`` (when given) what to do instead.  ``str()`` is the message alone.  Codes:
    ``query_syntax``, ``unknown_field``, ``bad_range``, ``bad_wildcard``, ``too_deep``,
    ``too_large``, ``empty_query``, ``bad_filter``, ``bad_argument`` (the user sees each
    as ``bad_query``: ``app.service.search``)."""

    def __init__(self, message: str, code: str = "query_syntax", hint: str = "") -> None:
        super().__init__(code, message, hint, text=message)


def numeric_range(field: str, start: float | None, end: float | None, *,
                  startexcl: bool = False, endexcl: bool = False, label: str = "") -> wq.Query:
    """A range on a numeric field, clamped to what the field can hold (enrollment is a 32-bit
    integer: ``enrollment:[0 TO 99999999999]`` means "from 0 up", and a bound past the top
    matches what the top matches, i.e. nothing real).  A bound that is not a finite number
    is a ``QueryError``."""
    fieldobj = _schema()[field]
    what = label or field
    for value in (start, end):
        if value is not None and not math.isfinite(value):
            raise QueryError(f"{what}: {value!r} is not a finite number.", code="bad_range",
                             hint=f"Give numbers, e.g. {field}:[10 TO 50].")
    lo, hi = fieldobj.min_value, fieldobj.max_value
    if fieldobj.numtype is int and lo == lo and hi == hi:  # NaN bounds: a float field
        def clamp(value: float | None, is_start: bool) -> int | None:
            if value is None:
                return None
            # an integer field holds whole numbers: 24.5 as a lower bound starts at 25
            whole = math.ceil(value) if is_start else math.floor(value)
            return int(min(max(whole, lo), hi))

        start, end = clamp(start, True), clamp(end, False)
    return wq.NumericRange(field, start, end, startexcl=startexcl, endexcl=endexcl)


class _Split(wq.Or):
    """Units from one query word ("gMG" -> generalized, myasthenia_gravis): flattened into
    the surrounding OR so each counts as its own unit."""


def _leaf(field: str, texts: tuple[str, ...], boost: float) -> wq.Query:
    if len(texts) == 1:
        return wq.Term(field, texts[0], boost=boost)
    return wq.Phrase(field, list(texts), boost=boost)


def _alt_label(texts: tuple[str, ...]) -> str:
    return texts[0] if len(texts) == 1 else '"' + " ".join(texts) + '"'


def text_unit(alternatives: tuple[tuple[tuple[str, ...], float], ...],
              field: str | None, concept: bool | None = None) -> Unit:
    """A unit searching ``alternatives`` in ``field`` (None: every default field)."""
    fields = (field,) if field else tuple(FIELD_BOOSTS)
    leaves = [_leaf(f, texts, FIELD_BOOSTS.get(f, 1.0) * weight)
              for texts, weight in alternatives for f in fields]
    labels = [_alt_label(texts) for texts, _ in alternatives]
    if len(labels) > MAX_LABELS:  # "CAR-T" brings ~40 product names: show the first few
        labels = labels[:MAX_LABELS] + [f"… {len(labels) - MAX_LABELS} more"]
    label = labels[0] if len(labels) == 1 else "(" + " | ".join(labels) + ")"
    if concept is None:  # several spellings, or an analyzer concept ("cart", "myasthenia_gravis")
        concept = len(alternatives) > 1 or any(t in CONCEPT_TOKENS for t, _ in alternatives)
    unit = Unit(wq.Or(leaves), label, field, alternatives, concept)
    unit.generic = len(alternatives) == 1 and alternatives[0][0] in GENERIC_WORDS
    return unit


def _prune(alts: dict[tuple[str, ...], float]) -> tuple[tuple[tuple[str, ...], float], ...]:
    """Drop an alternative that contains a shorter one: "efgartigimod alfa" adds nothing to
    "efgartigimod" (the first alternative, the user's own words, always stays)."""
    items = list(alts.items())
    kept: list[tuple[tuple[str, ...], float]] = []
    for k, (texts, weight) in enumerate(items):
        if k and any(_contains(texts, other) for other, _ in items if other != texts
                     and len(other) < len(texts)):
            continue
        kept.append((texts, weight))
    return tuple(kept)


def _contains(seq: tuple[str, ...], sub: tuple[str, ...]) -> bool:
    n = len(sub)
    return any(seq[i:i + n] == sub for i in range(len(seq) - n + 1))


# -- lexing and validation -------------------------------------------------------------------

@dataclass
class _Tok:
    kind: str  # word | phrase | lparen | rparen | op | not | prefix | range | units
    text: str
    start: int
    end: int
    field: str | None = None  # for a fielded word, a prefix or a range
    units: list[Unit] | None = None  # for kind "units": what a run of words became


_FIELDED = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):(.*)$", re.DOTALL)
_RANGE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*):([\[{])")


@functools.lru_cache(maxsize=1)
def _schema() -> Schema:
    return build_schema()


@functools.lru_cache(maxsize=1)
def _known_fields() -> dict[str, str]:
    names = {n: n for n in _schema().names() if n not in _HIDDEN_FIELDS}
    return {**names, **FIELD_ALIASES}


def _resolve_field(name: str, tok_text: str) -> str:
    """``tok_text``: the query text as the user typed it ('titel:"car t"')."""
    known = _known_fields()
    resolved = known.get(name) or known.get(name.lower())
    if resolved is None:
        close = difflib.get_close_matches(name.lower(), list(known), n=3)
        hint = f" Did you mean {', '.join(c + ':' for c in close)}?" if close else ""
        names = sorted(set(known) - set(FIELD_ALIASES.values()) | set(FIELD_ALIASES))
        raise QueryError(
            f"Unknown field {name!r} in {tok_text!r}.{hint} Known fields: "
            f"{', '.join(names)}. To search for the text itself, put it in quotes: "
            f'"{tok_text.replace(chr(34), "")}".',
            code="unknown_field",
        )
    return resolved


def _lex(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c == '"':
            j = text.find('"', i + 1)
            if j < 0:
                raise QueryError(f"Unclosed quote at position {i + 1} in {text!r}. Close the "
                                 'phrase with a second " or remove the quote.')
            toks.append(_Tok("phrase", text[i:j + 1], i, j + 1))
            i = j + 1
        elif c in "()":
            toks.append(_Tok("lparen" if c == "(" else "rparen", c, i, i + 1))
            i += 1
        elif m := _RANGE.match(text, i):
            close = "]" if m.group(2) == "[" else "}"
            j = text.find(close, m.end())
            if j < 0:
                raise QueryError(f"Unclosed range at position {i + 1} in {text!r}: write "
                                 f"{m.group(1)}:[10 TO 50].")
            toks.append(_Tok("range", text[i:j + 1], i, j + 1, field=m.group(1)))
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in '()"':
                j += 1
            word = text[i:j]
            m = _FIELDED.match(word)
            if m and not m.group(2):
                # "title:" must be glued to a group or a phrase: title:(a OR b), title:"a b"
                if j >= n or text[j] not in '("':
                    raise QueryError(
                        f"Field prefix {word!r} has nothing after it. Write {word}word, "
                        f'{word}"a phrase" or {word}(a OR b), without a space.')
                toks.append(_Tok("prefix", word, i, j, field=m.group(1)))
            elif m:
                toks.append(_Tok("word", m.group(2), i, j, field=m.group(1)))
            elif word in _BINARY_OPS:
                toks.append(_Tok("op", word, i, j))
            elif word == "NOT":
                toks.append(_Tok("not", word, i, j))
            else:
                toks.append(_Tok("word", word, i, j))
            i = j
    return toks


def _check_size(toks: list[_Tok], text: str) -> None:
    """The limits above (MAX_DEPTH, MAX_TERMS, MAX_WILDCARDS, MIN_LITERAL), checked on the
    tokens before anything recursive runs."""
    terms = [t for t in toks if t.kind in ("word", "phrase", "range")]
    if len(terms) > MAX_TERMS:
        raise QueryError(f"The query has {len(terms)} terms, more than {MAX_TERMS}.",
                         code="too_large", hint="Split it into several searches, or narrow it "
                         "with filters (--status, --phase, --country, ...).")
    patterns = [t for t in terms if t.kind == "word" and ("*" in t.text or "?" in t.text)]
    for tok in patterns:
        literal = re.split(r"[*?]", tok.text, maxsplit=1)[0]
        if len(literal) < MIN_LITERAL:
            raise QueryError(f"{tok.text!r}: a wildcard needs at least {MIN_LITERAL} letters "
                             "before the first '*' or '?'.", code="bad_wildcard",
                             hint="Start the pattern with a few letters, e.g. myasth*.")
    if len(patterns) > MAX_WILDCARDS:
        raise QueryError(f"The query has {len(patterns)} wildcard terms (* or ?), more than "
                         f"{MAX_WILDCARDS}.", code="too_large",
                         hint="Use fewer wildcards: spell out the words, or search in parts.")
    # Nesting: open groups plus NOTs still waiting for their term ("NOT (NOT (a))" is 4).
    stack: list[str] = []
    for tok in toks:
        if tok.kind in ("not", "lparen"):
            stack.append(tok.kind)
            if len(stack) > MAX_DEPTH:
                raise QueryError(f"The query nests groups and NOTs more than {MAX_DEPTH} "
                                 "levels deep.", code="too_deep",
                                 hint="Remove redundant parentheses or NOTs.")
            continue
        if tok.kind == "rparen":
            while stack and stack[-1] == "not":
                stack.pop()
            if stack:
                stack.pop()
        elif tok.kind not in ("word", "phrase", "range"):
            continue
        while stack and stack[-1] == "not":  # a complete term ends the NOTs before it
            stack.pop()


def _validate(toks: list[_Tok], text: str) -> None:
    depth = 0
    starts = {"word", "phrase", "lparen", "not", "prefix", "range"}
    ends = {"word", "phrase", "rparen", "range"}
    for k, tok in enumerate(toks):
        prev = toks[k - 1] if k else None
        nxt = toks[k + 1] if k + 1 < len(toks) else None
        if tok.kind == "lparen":
            depth += 1
            if nxt is not None and nxt.kind == "rparen":
                raise QueryError(f"Empty parentheses at position {tok.start + 1} in {text!r}.")
        elif tok.kind == "rparen":
            depth -= 1
            if depth < 0:
                raise QueryError(f"Unmatched ')' at position {tok.start + 1} in {text!r}. "
                                 "Remove it or add the matching '('.")
        elif tok.kind == "op" and (prev is None or prev.kind not in ends
                                   or nxt is None or nxt.kind not in starts):
            raise QueryError(
                f"{tok.text} at position {tok.start + 1} in {text!r} needs a term on both "
                f"sides (e.g. 'a {tok.text} b'). To search for the word itself, write it in "
                "lower case or quotes.")
        elif tok.kind == "not" and (nxt is None or nxt.kind not in starts):
            raise QueryError(f"NOT at position {tok.start + 1} in {text!r} needs a term after "
                             "it (e.g. 'myasthenia NOT ocular').")
        if tok.field is not None:
            tok.field = _resolve_field(tok.field, text[tok.start:_span_end(toks, k)])
    if depth > 0:
        raise QueryError(f"Unclosed '(' in {text!r}. Add the matching ')' or remove the '('.")


def _span_end(toks: list[_Tok], k: int) -> int:
    """Where what token ``k`` applies to ends: a field prefix reaches over the phrase or the
    parenthesised group after it ('title:"car t"', 'title:(a OR b)')."""
    tok = toks[k]
    if tok.kind != "prefix" or k + 1 >= len(toks):
        return tok.end
    depth = 0
    for nxt in toks[k + 1:]:
        depth += (nxt.kind == "lparen") - (nxt.kind == "rparen")
        if depth <= 0:
            return nxt.end
    return toks[-1].end


def _join_concepts(segment: str) -> str:
    """'CAR T cells' -> 'cart': the lexer splits on spaces before analysis."""
    pieces: list[str] = []
    pos = 0
    for start, end, concept in concept_spans(segment):
        if not re.search(r"[\s()]", segment[start:end]) or len(concept.tokens) != 1:
            continue
        pieces += [segment[pos:start], concept.tokens[0]]
        pos = end
    pieces.append(segment[pos:])
    return "".join(pieces)


def _rewrite(text: str) -> str:
    parts = re.split(r'("[^"]*")', text)  # phrases: the analyzer finds concepts itself
    return "".join(p if p.startswith('"') else _join_concepts(p) for p in parts)


# -- words -> units (synonyms) ---------------------------------------------------------------

def _is_text_field(field: str | None) -> bool:
    return field is None or isinstance(_schema()[field], TEXT)


def _group_words(toks: list[_Tok], literal: bool = False) -> list[_Tok]:
    """Turn runs of adjacent plain words (same field) into unit tokens, joining the words of a
    synonym spelling into one unit (``literal``: no synonyms, one unit per word)."""
    out: list[_Tok] = []
    k = 0
    while k < len(toks):
        tok = toks[k]
        if tok.kind != "word" or "*" in tok.text or "?" in tok.text \
                or not _is_text_field(tok.field):
            out.append(tok)
            k += 1
            continue
        run = [tok]
        while (k + len(run) < len(toks) and toks[k + len(run)].kind == "word"
               and toks[k + len(run)].field == tok.field
               and not any(c in toks[k + len(run)].text for c in "*?")):
            run.append(toks[k + len(run)])
        out.extend(_run_units(run, literal))
        k += len(run)
    return out


Words = list[tuple[str, tuple[str, ...]]]  # (surface, query tokens) of adjacent query words


def _run_units(run: list[_Tok], literal: bool = False) -> list[_Tok]:
    words = [(t.text, tuple(x.text for x in _ANALYZER(t.text, mode="query"))) for t in run]
    out: list[_Tok] = []
    i = 0
    while i < len(run):
        end, units = _units_at(words, i, len(words), run[i].field, literal=literal)
        out.append(_Tok("units", " ".join(w for w, _ in words[i:end]), run[i].start,
                        run[end - 1].end, field=run[i].field, units=units))
        i = end  # a stop word leaves an empty unit token: the parser skips it
    return out


def _units_at(words: Words, i: int, stop: int, field: str | None, *, literal: bool = False,
              outer: tuple[SynonymGroup, ...] = ()) -> tuple[int, list[Unit]]:
    """(index after the words used, their units) for the words starting at ``words[i]``,
    no further than ``words[stop - 1]``: the longest synonym spelling there (one concept
    unit; a spelling of several words also brings the units of its parts), else one unit
    per token of the word.  ``outer``: the groups of the spelling these words are parts of
    (a part never repeats them)."""
    hit: tuple[int, list[SynonymGroup]] | None = None
    while not literal and stop > i:
        hit = synonyms().match(words[:stop], i)
        if hit is None or not set(hit[1]) & set(outer):
            break
        stop = hit[0] - 1  # the outer spelling again: a shorter one, if any
        hit = None
    if hit is None:
        return i + 1, [text_unit((((t,), 1.0),), field) for t in words[i][1]]
    end, groups = hit
    own = tuple(x for _, toks in words[i:end] for x in toks)
    alts: dict[tuple[str, ...], float] = {}
    exact = any(s.exact and s.tokens == own for g in groups for s in g.spellings)
    if not exact:
        alts[own] = 1.0
    for group in groups:
        for texts, weight in group.alternatives:
            alts[texts] = max(weight, alts.get(texts, 0.0))
    units = [text_unit(_prune(alts), field, concept=True)]
    units[0].stems = tuple(dict.fromkeys(st for g in groups for st in g.stems))
    if len(own) > 1:
        # Concept expansion never loses recall: the spelling's words still match apart
        # ("MuSK myasthenia gravis": a trial naming MuSK in its criteria and the disease in
        # its conditions), each as a part unit (ranking.PART_FACTOR).
        j = i
        while j < end:
            nxt, parts = _units_at(words, j, end, field, outer=(*outer, *groups))
            for part in parts:
                part.part = True
            units.extend(parts)
            j = nxt
    return end, units


# -- parsing ---------------------------------------------------------------------------------

def _retarget(unit: Unit, field: str | None) -> Unit:
    out = text_unit(unit.alternatives, field, unit.concept)
    out.part, out.stems, out.quoted = unit.part, unit.stems, unit.quoted
    return out


class _Parser:
    def __init__(self, toks: list[_Tok], text: str) -> None:
        self.toks, self.text, self.i = toks, text, 0

    def _peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def parse(self) -> wq.Query | None:
        return self.orexpr(None)

    def orexpr(self, field: str | None) -> wq.Query | None:
        items: list[wq.Query] = []
        while (tok := self._peek()) is not None and tok.kind != "rparen":
            if tok.kind == "op" and tok.text == "OR":
                self.i += 1
                continue
            q = self.andexpr(field)
            if q is None:
                continue
            items.extend(q.subqueries if isinstance(q, _Split) else [q])
        negatives = [q.query for q in items if isinstance(q, wq.Not)]
        positives = [q for q in items if not isinstance(q, wq.Not)]
        pos = None
        if positives:
            pos = positives[0] if len(positives) == 1 else coordinate(wq.Or(positives))
        if not negatives:
            return pos
        neg = negatives[0] if len(negatives) == 1 else wq.Or(negatives)
        return wq.Not(neg) if pos is None else wq.AndNot(pos, neg)

    def andexpr(self, field: str | None) -> wq.Query | None:
        left = self.unary(field)
        while (tok := self._peek()) is not None and tok.kind == "op" and tok.text != "OR":
            self.i += 1
            right = self.unary(field)
            if left is None or right is None:
                left = left or right
            elif tok.text == "AND":  # a AND b AND c: one flat And, not a deep chain
                left = wq.And([*left.subqueries, right]) if type(left) is wq.And \
                    else wq.And([left, right])
            elif tok.text == "ANDNOT":
                left = wq.AndNot(left, right)
            else:
                left = wq.AndMaybe(left, right)
        return left

    def unary(self, field: str | None) -> wq.Query | None:
        tok = self._peek()
        if tok is not None and tok.kind == "not":
            self.i += 1
            q = self.unary(field)
            return None if q is None else wq.Not(q)
        return self.atom(field)

    def atom(self, field: str | None) -> wq.Query | None:
        tok = self.toks[self.i]
        self.i += 1
        if tok.kind == "lparen":
            q = self.orexpr(field)
            self.i += 1  # the ')' (validated)
            return q
        if tok.kind == "prefix":
            nxt = self._peek()
            if nxt is not None and nxt.kind == "lparen":
                return self.atom(tok.field)
            return self.atom(tok.field) if nxt is not None else None
        f = tok.field or field
        if tok.kind == "units":
            units = tok.units or []
            if not units:
                return None
            if f != tok.field:  # inside title:( ... ): re-target the words
                units = [_retarget(u, f) for u in units]
            return units[0] if len(units) == 1 else _Split(units)
        if tok.kind == "phrase":
            return self._phrase(tok.text[1:-1], f)
        if tok.kind == "range":
            return self._range(tok)
        return self._word(tok, f)

    def _phrase(self, text: str, field: str | None) -> wq.Query | None:
        if field and not _is_text_field(field):
            return self._keyword(field, text)
        texts = tuple(t.text for t in _ANALYZER(text, mode="query"))
        if not texts:
            return None
        unit = text_unit(((texts, 1.0),), field)
        unit.quoted = True
        return unit

    def _word(self, tok: _Tok, field: str | None) -> wq.Query | None:
        if field and not _is_text_field(field):
            return self._keyword(field, tok.text)
        text = tok.text.lower()
        stem = text.rstrip("*")
        if len(re.split(r"[*?]", text, maxsplit=1)[0]) < MIN_LITERAL:
            raise QueryError(f"{tok.text!r}: a wildcard needs at least {MIN_LITERAL} letters "
                             "before the first '*' or '?'.", code="bad_wildcard",
                             hint="Start the pattern with a few letters, e.g. myasth*.")
        if "?" in stem or "*" in stem:
            make = wq.Wildcard
        else:
            make, text = wq.Prefix, stem
        fields = (field,) if field else tuple(FIELD_BOOSTS)
        leaves = [make(f, text, boost=FIELD_BOOSTS.get(f, 1.0)) for f in fields]
        return Unit(wq.Or(leaves), tok.text.lower(), field)

    def _keyword(self, field: str, text: str) -> wq.Query:
        fieldobj = _schema()[field]
        if isinstance(fieldobj, NUMERIC):
            try:
                value = float(text)
            except ValueError:
                raise QueryError(f"{field}:{text} needs a number, e.g. {field}:[10 TO 50]."
                                 ) from None
            return numeric_range(field, value, value, label=f"{field}:{text}")
        if isinstance(fieldobj, BOOLEAN):
            return wq.Term(field, text.lower() in ("true", "yes", "1"))
        terms = [t.text for t in fieldobj.analyzer(text, mode="query")]
        if not terms:
            raise QueryError(f"Nothing to search for in {field}:{text!r}.")
        return Unit(wq.Term(field, terms[0]), f"{field}:{terms[0]}", field)

    def _range(self, tok: _Tok) -> wq.Query:
        field = tok.field or ""
        body = tok.text[tok.text.index(":") + 2:-1]
        m = re.fullmatch(r"\s*(\S*)\s+TO\s*(\S*)\s*|\s*TO\s+(\S*)\s*", body)
        if not isinstance(_schema()[field], NUMERIC) or m is None:
            raise QueryError(f"Cannot read the range {tok.text!r}: ranges work on enrollment, "
                             "min_age and max_age, as enrollment:[10 TO 50] or "
                             "enrollment:[100 TO].")
        lo, hi = (m.group(1), m.group(2)) if m.group(3) is None else ("", m.group(3))
        try:
            start = float(lo) if lo else None
            end = float(hi) if hi else None
        except ValueError:
            raise QueryError(f"Range {tok.text!r} needs numbers.") from None
        return numeric_range(field, start, end, startexcl=tok.text[len(field) + 1] == "{",
                             endexcl=tok.text.endswith("}"), label=tok.text)


def parse_query(text: str, schema: Schema | None = None, *, literal: bool = False
                ) -> wq.Query | None:
    """The Whoosh query for ``text``; None for an empty query ("everything").
    ``literal``: no synonyms (each word searched as it is written; the analyzer's own
    concepts, such as CAR-T spellings, still apply, as in the index).

    Raises ``QueryError`` for syntax errors, unknown fields and queries that leave nothing to
    search for (only stop words).
    """
    if not text or not text.strip() or text.strip() == "*":
        return None
    typed = _lex(text)
    _check_size(typed, text)
    _validate(typed, text)  # positions in messages refer to what the user typed
    toks = _lex(_rewrite(text))
    _validate(toks, text)
    q = _Parser(_group_words(toks, literal), text).parse()
    if q is None:
        raise QueryError(
            f"Nothing to search for in {text!r}: it has only very common words "
            "(the, of, and, ...). Add a more specific term.", code="empty_query")
    return q


# -- describing ------------------------------------------------------------------------------

def describe(q: wq.Query | None) -> str:
    """The parsed query in short text form (``--show-query``): a unit searched in every
    default field is shown once; synonym alternatives are joined with '|'."""
    if q is None:
        return "<all>"
    if isinstance(q, Unit):
        return f"{q.unit_field}:{q.label}" if q.unit_field and not q.label.startswith(
            q.unit_field + ":") else q.label
    if isinstance(q, WrappingQuery):
        return describe(q.child)
    if isinstance(q, wq.Not):
        return f"NOT {describe(q.query)}"
    if isinstance(q, (wq.AndNot, wq.AndMaybe)):
        op = "ANDNOT" if isinstance(q, wq.AndNot) else "ANDMAYBE"
        return f"({describe(q.a)} {op} {describe(q.b)})"
    if isinstance(q, wq.NumericRange):
        lo = "" if q.start is None else f"{q.start:g}"
        hi = "" if q.end is None else f"{q.end:g}"
        return f"{q.fieldname}:{'{' if q.startexcl else '['}{lo} TO {hi}" \
               f"{'}' if q.endexcl else ']'}"
    if isinstance(q, wq.compound.CompoundQuery):
        joiner = " OR " if isinstance(q, wq.Or) else " AND "
        parts = [describe(sub) for sub in q.subqueries]
        return parts[0] if len(parts) == 1 else "(" + joiner.join(parts) + ")"
    return str(q)
