"""Ranked search with filters, validated queries and highlighted snippets.

Whoosh's parser never fails: an unclosed quote, a dangling ``AND`` or an unknown ``foo:`` prefix
silently becomes a query that matches nothing or something else.  A typo must never look like
"0 results", so the query string is checked here first (``_lex``/``_validate``) and the parsed
query is walked for error nodes afterwards; both raise ``QueryError`` saying what to fix.

Query features: words (any may match; a trial matching more of them, weighted by rarity,
ranks higher: see ``_Coord``), "phrases", AND / OR / NOT / ANDNOT / ANDMAYBE, (groups), field
prefixes (``title:``, ``condition:``, ``intervention:``, ``sponsor:``, ``id:``, ``exclusion:``
and the schema's own names), prefix wildcards (``myasth*``), numeric ranges
(``enrollment:[10 TO 50]``).  Multi-word concept spellings ("CAR T cells", "myasthenia gravis")
are joined into their concept token before Whoosh splits the query on spaces, so they mean the
same as "CAR-T" / "MG".

Layout: query language (lex, validate, rewrite, parse, describe), ranking (``_Coord``), filters,
snippets, ``search``.
"""

from __future__ import annotations

import difflib
import functools
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from whoosh import highlight as wh
from whoosh import query as wq
from whoosh.fields import Schema
from whoosh.matching import WrappingMatcher
from whoosh.qparser import MultifieldParser, OrGroup, SingleQuotePlugin
from whoosh.query.wrappers import WrappingQuery
from whoosh.searching import Searcher
from whoosh.sorting import FieldFacet

from ..parser.vocab import (
    OPEN_STATUSES,
    Phase,
    Status,
    StudyType,
    normalise_phase,
    normalise_status,
    normalise_study_type,
)
from .analysis import clinical_analyzer, concept_spans
from .indexer import open_index
from .schema import FIELD_BOOSTS, TEXT_FIELDS, build_schema, facet_key

MARK_OPEN, MARK_CLOSE = "«", "»"

# Friendly prefix -> schema field.  Schema field names work as prefixes too.
FIELD_ALIASES: dict[str, str] = {
    "condition": "conditions",
    "intervention": "interventions",
    "drug": "interventions",
    "id": "ids",
    "keyword": "keywords",
    "arm": "arms",
    "eligibility": "criteria",
    "inclusion": "criteria",
    "outcome": "outcomes",
    "location": "locations",
    "country": "countries",
    "phase": "phases",
    "type": "study_type",
}
# Not query prefixes: stored-only text, the exact update key (use id:), and dates, which are
# YYYYMMDD numbers that "start_date:2025" would silently miss.
_HIDDEN_FIELDS = {"snippet", "trial_id", "start_date", "primary_completion_date",
                  "completion_date", "last_updated"}
_BINARY_OPS = {"AND", "OR", "ANDNOT", "ANDMAYBE"}


class QueryError(ValueError):
    """The query or a filter cannot be run as written; the message says what to change."""

    def __init__(self, message: str, code: str = "query_syntax") -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Hit:
    trial_id: str
    score: float
    title: str
    status: str
    phases: list[str]
    conditions: list[str]
    snippet: str  # matched terms wrapped in « »


@dataclass
class SearchResults:
    total: int
    hits: list[Hit] = field(default_factory=list)
    query_repr: str = ""
    offset: int = 0
    limit: int | None = 20


# -- query validation --------------------------------------------------------------------------

@dataclass
class _Tok:
    kind: str  # word | phrase | lparen | rparen | op | not | prefix
    text: str
    start: int
    end: int
    field: str | None = None  # for a fielded word or a prefix


_FIELDED = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):(.*)$", re.DOTALL)


@functools.lru_cache(maxsize=1)
def _known_fields() -> dict[str, str]:
    names = {n: n for n in build_schema().names() if n not in _HIDDEN_FIELDS}
    return {**names, **FIELD_ALIASES}


def _resolve_field(name: str, tok_text: str) -> str:
    known = _known_fields()
    resolved = known.get(name) or known.get(name.lower())
    if resolved is None:
        close = difflib.get_close_matches(name.lower(), list(known), n=3)
        hint = f" Did you mean {', '.join(c + ':' for c in close)}?" if close else ""
        raise QueryError(
            f"Unknown field {name!r} in {tok_text!r}.{hint} Known fields: "
            f"{', '.join(sorted(set(known) - set(FIELD_ALIASES.values()) | set(FIELD_ALIASES)))}."
            ' To search for the text itself, put it in quotes: "' + tok_text + '".',
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
                raise QueryError(
                    f"Unclosed quote at position {i + 1} in {text!r}. Close the phrase with "
                    'a second " or remove the quote.'
                )
            toks.append(_Tok("phrase", text[i:j + 1], i, j + 1))
            i = j + 1
        elif c in "()":
            toks.append(_Tok("lparen" if c == "(" else "rparen", c, i, i + 1))
            i += 1
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
                        f'{word}"a phrase" or {word}(a OR b), without a space.'
                    )
                toks.append(_Tok("prefix", word, i, j, field=m.group(1)))
            elif m:
                toks.append(_Tok("word", word, i, j, field=m.group(1)))
            elif word in _BINARY_OPS:
                toks.append(_Tok("op", word, i, j))
            elif word == "NOT":
                toks.append(_Tok("not", word, i, j))
            else:
                toks.append(_Tok("word", word, i, j))
            i = j
    return toks


def _validate(toks: list[_Tok], text: str) -> None:
    depth = 0
    starts = {"word", "phrase", "lparen", "not", "prefix"}
    ends = {"word", "phrase", "rparen"}
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
                raise QueryError(
                    f"Unmatched ')' at position {tok.start + 1} in {text!r}. Remove it or add "
                    "the matching '('."
                )
        elif tok.kind == "op" and (prev is None or prev.kind not in ends
                                   or nxt is None or nxt.kind not in starts):
            raise QueryError(
                f"{tok.text} at position {tok.start + 1} in {text!r} needs a term on both "
                f"sides (e.g. 'a {tok.text} b'). To search for the word itself, write it in "
                f"lower case or quotes."
            )
        elif tok.kind == "not" and (nxt is None or nxt.kind not in starts):
            raise QueryError(
                f"NOT at position {tok.start + 1} in {text!r} needs a term after it "
                "(e.g. 'myasthenia NOT ocular')."
            )
        if tok.field is not None:
            tok.field = _resolve_field(tok.field, tok.text)
    if depth > 0:
        raise QueryError(
            f"Unclosed '(' in {text!r}. Add the matching ')' or remove the '('."
        )


def _rewrite(text: str, toks: list[_Tok]) -> str:
    """Resolve field aliases, then join multi-word concept spellings outside quotes."""
    out: list[str] = []
    pos = 0
    for tok in toks:
        if tok.field is not None:
            out += [text[pos:tok.start], tok.field, tok.text[tok.text.index(":"):]]
            pos = tok.end
    out.append(text[pos:])
    # Phrases are left alone: the analyzer sees a whole phrase and finds concepts itself.
    parts = re.split(r'("[^"]*")', "".join(out))
    return "".join(p if p.startswith('"') else _join_concepts(p) for p in parts)


def _join_concepts(segment: str) -> str:
    """'CAR T cells' -> 'cart': Whoosh splits the query on spaces before analysis."""
    pieces: list[str] = []
    pos = 0
    for start, end, concept in concept_spans(segment):
        if not re.search(r"[\s()]", segment[start:end]) or len(concept.tokens) != 1:
            continue
        pieces += [segment[pos:start], concept.tokens[0]]
        pos = end
    pieces.append(segment[pos:])
    return "".join(pieces)


def _parser(schema: Schema) -> MultifieldParser:
    # Any word may match (OR); documents matching more of the words rank higher through
    # ``_Coord``, not OrGroup.factory(0.9): Whoosh's CoordMatcher counts one term per field
    # (13 per word here, so its bonus is ~0) and multiplies by (terms-1)/terms, which is 0
    # when a word occurs in only one field: every hit then scores 0 and ranking is lost.
    # Field weights are applied afterwards (``_weigh``): the parser's fieldboosts miss phrases.
    parser = MultifieldParser(list(FIELD_BOOSTS), schema, group=OrGroup)
    # 'single quotes' would make "Crohn's disease" or "patients' ..." one literal term.
    parser.remove_plugin_class(SingleQuotePlugin)
    return parser


def _weigh(q: wq.Query) -> wq.Query:
    """Multiply every leaf's boost by its field's weight (fielded or not, phrase or word)."""
    for leaf in q.leaves():
        weight = FIELD_BOOSTS.get(leaf.field() or "", 1.0)
        if weight != 1.0 and hasattr(leaf, "boost"):
            leaf.boost *= weight
    return q


def _lift_not(q: wq.Query) -> wq.Query:
    """'a b NOT c' means (a OR b) AND NOT c; with an OR group Whoosh makes it a OR b OR (NOT c),
    which matches nearly every trial."""
    if isinstance(q, wq.Not):
        q.query = _lift_not(q.query)
        return q
    if not isinstance(q, wq.compound.CompoundQuery):
        return q
    q.subqueries = [_lift_not(s) for s in q.subqueries]
    if not isinstance(q, wq.Or):
        return q
    nots = [s.query for s in q.subqueries if isinstance(s, wq.Not)]
    if not nots:
        return q
    positive = [s for s in q.subqueries if not isinstance(s, wq.Not)]
    negative = nots[0] if len(nots) == 1 else wq.Or(nots)
    if not positive:
        return wq.Not(negative)
    q.subqueries = positive
    return wq.AndNot(positive[0] if len(positive) == 1 else q, negative)


# score *= (idf of the words a trial matches / idf of all the query's words) ** COORD_POWER.
# Squared: a trial with two of three concepts (CAR-T for myeloma) is a different trial, not a
# slightly worse one; idf-weighted so that missing "therapy" costs less than missing "MG".
COORD_POWER = 2.0


class _Coord(WrappingQuery):
    """Wraps an OR of words: a document's score is scaled by the (idf-weighted) share of words
    it matches, so "refractory myasthenia gravis CAR-T" puts trials with all three first."""

    def __init__(self, child: wq.Query, words: tuple[tuple[str, ...], ...]) -> None:
        super().__init__(child)
        self.words = words  # one entry per query word: its term text(s) (a phrase has several)

    def _rewrap(self, child: wq.Query) -> _Coord:
        return _Coord(child, self.words)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Coord) and (other.child, other.words) == (self.child, self.words)

    __hash__ = WrappingQuery.__hash__

    def __str__(self) -> str:
        return str(self.child)

    def matcher(self, searcher: Searcher, context=None):
        if context is None or context.weighting is None:
            # Unscored (counting the total): no coordination needed, and the preloading union
            # counts a common query several times faster than Whoosh's binary tree of unions.
            return wq.compound.PreloadedOr(self.child.subqueries).matcher(searcher, context)
        # needs_current: the union must be able to say which terms match the current document.
        context = context.set(needs_current=True)
        return _CoordMatcher(self.child.matcher(searcher, context), self.words,
                             _word_weights(searcher, self.words))


def _word_weights(searcher: Searcher, words: tuple[tuple[str, ...], ...]) -> tuple[float, ...]:
    """Inverse document frequency of each word (of its rarest term, for a phrase), over the
    default fields: a rare word ("myasthenia_gravis") counts more than "therapy"."""
    n = max(searcher.doc_count(), 1)
    reader = searcher.reader()
    weights = []
    for texts in words:
        df = min(max(reader.doc_frequency(f, t) for f in FIELD_BOOSTS) for t in texts)
        weights.append(math.log(1 + n / (1 + df)))
    return tuple(weights)


class _CoordMatcher(WrappingMatcher):
    def __init__(self, child, words: tuple[tuple[str, ...], ...],
                 weights: tuple[float, ...], boost: float = 1.0) -> None:
        super().__init__(child, boost)
        self._words, self._weights = words, weights
        self._total = sum(weights) or 1.0

    def _replacement(self, newchild):
        return _CoordMatcher(newchild, self._words, self._weights, self.boost)

    def copy(self):
        return _CoordMatcher(self.child.copy(), self._words, self._weights, self.boost)

    # max_quality/block_quality stay the child's: the factor is <= 1, so they remain bounds.
    def score(self) -> float:
        child = self.child
        matched = {t.decode("utf-8") if isinstance(t, bytes) else t
                   for _, t in child.matching_terms(child.id())}
        covered = sum(w for texts, w in zip(self._words, self._weights, strict=True)
                      if all(t in matched for t in texts))
        return child.score() * (covered / self._total) ** COORD_POWER


def _coordinate(q: wq.Query) -> wq.Query:
    """Wrap the OR of words (also under ANDNOT) in ``_Coord`` when every word is a term or a
    phrase; prefixes and ranges report no matched terms, so they are left unscaled."""
    if isinstance(q, wq.AndNot):
        return wq.AndNot(_coordinate(q.a), q.b)
    if not isinstance(q, wq.Or):
        return q
    words: dict[tuple[str, ...], None] = {}
    for sub in q.subqueries:
        if isinstance(sub, wq.Term):
            words[(str(sub.text),)] = None
        elif isinstance(sub, wq.Phrase):
            words[tuple(sub.words)] = None
        else:
            return q
    return _Coord(q, tuple(words)) if len(words) > 1 else q


def _errors(q: wq.Query) -> list[str]:
    found = [q.error] if getattr(q, "error", None) else []
    for child in q.children():
        found.extend(_errors(child))
    return found


def parse_query(text: str, schema: Schema | None = None) -> wq.Query | None:
    """The Whoosh query for ``text``; None for an empty query ("everything").

    Raises ``QueryError`` for syntax errors, unknown fields and queries that leave nothing to
    search for (only stop words).
    """
    if not text or not text.strip() or text.strip() == "*":
        return None
    toks = _lex(text)
    _validate(toks, text)
    schema = schema or build_schema()
    q = _parser(schema).parse(_rewrite(text, toks))
    errors = _errors(q)
    if errors:
        raise QueryError(f"Cannot parse {text!r}: {'; '.join(map(str, errors))}.")
    if q is wq.NullQuery:
        raise QueryError(
            f"Nothing to search for in {text!r}: it has only very common words "
            "(the, of, and, ...). Add a more specific term.",
            code="empty_query",
        )
    return _coordinate(_weigh(_lift_not(q)))


def describe(q: wq.Query | None) -> str:
    """A short text form of a parsed query: a word searched in every default field is shown
    once ("cart" rather than "title:cart^4.0 OR conditions:cart^3.0 OR ...")."""
    if q is None:
        return "<all>"
    if isinstance(q, _Coord):
        return describe(q.child)
    if isinstance(q, wq.Not):
        return f"NOT {describe(q.query)}"
    if isinstance(q, (wq.AndNot, wq.AndMaybe)):
        op = "ANDNOT" if isinstance(q, wq.AndNot) else "ANDMAYBE"
        return f"({describe(q.a)} {op} {describe(q.b)})"
    if isinstance(q, wq.compound.CompoundQuery):
        joiner = " OR " if isinstance(q, wq.Or) else " AND "
        parts: list[str] = []
        fields_of: dict[str, set[str]] = {}
        for sub in q.subqueries:
            if sub.is_leaf() and sub.field():
                fields_of.setdefault(_leaf_text(sub), set()).add(sub.field())
        shown: set[str] = set()
        for sub in q.subqueries:
            text = _leaf_text(sub) if sub.is_leaf() and sub.field() else None
            if text is not None and fields_of[text] >= set(FIELD_BOOSTS):
                if text not in shown:  # searched in every default field: show it once
                    parts.append(text)
                    shown.add(text)
            else:
                parts.append(describe(sub))
        return parts[0] if len(parts) == 1 else "(" + joiner.join(parts) + ")"
    return f"{q.field()}:{_leaf_text(q)}" if q.is_leaf() and q.field() else str(q)


def _leaf_text(q: wq.Query) -> str:
    if isinstance(q, wq.Phrase):
        return '"' + " ".join(q.words) + '"'
    if isinstance(q, wq.Prefix):
        return f"{q.text}*"
    if isinstance(q, wq.Term):
        return str(q.text)
    return str(q)


# -- filters -----------------------------------------------------------------------------------

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
            valid = ", ".join(p.value for p in Phase)
            raise QueryError(f"Unknown phase {raw!r}. Use one of: {valid} (or 1, 2, 3, 4).",
                             code="bad_filter")
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


def _indexed_values(searcher: Searcher, fieldname: str, raws: Iterable[str],
                    label: str) -> list[str]:
    """Free-form filter values (country, registry) must occur in the index, or it is a typo."""
    out: list[str] = []
    for raw in raws:
        key = facet_key(raw)
        if (fieldname, key) not in searcher.reader():
            indexed = list(searcher.reader().field_terms(fieldname))
            close = difflib.get_close_matches(key, indexed, n=3, cutoff=0.6)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise QueryError(f"No indexed trial has {label} {raw!r}.{hint}", code="bad_filter")
        out.append(key)
    return out


def _filter(searcher: Searcher, *, status: Sequence[str], phase: Sequence[str],
            study_type: Sequence[str], registry: Sequence[str],
            country: Sequence[str]) -> wq.Query | None:
    groups = [
        ("status", [facet_key(v) for v in _status_values(status)]),
        ("phases", [facet_key(v) for v in _phase_values(phase)]),
        ("study_type", [facet_key(v) for v in _type_values(study_type)]),
        ("registry", _indexed_values(searcher, "registry", registry, "registry")),
        ("countries", _indexed_values(searcher, "countries", country, "country")),
    ]
    # Values of one filter are alternatives (OR); different filters must all hold (AND).
    clauses = [wq.Or([wq.Term(name, v) for v in dict.fromkeys(values)])
               for name, values in groups if values]
    return wq.And(clauses) if clauses else None


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

def search(
    index_dir: str | os.PathLike[str],
    query: str,
    *,
    status: Sequence[str] = (),
    phase: Sequence[str] = (),
    study_type: Sequence[str] = (),
    registry: Sequence[str] = (),
    country: Sequence[str] = (),
    limit: int | None = 20,
    offset: int = 0,
) -> SearchResults:
    """Ranked hits for ``query`` within the filters; an empty query lists every filtered trial
    (most recently updated first).  ``limit=None`` returns every hit (exports).

    Raises ``QueryError`` (bad query, filter or argument) or ``NoIndexError``.
    """
    if (limit is not None and limit < 1) or offset < 0:
        raise QueryError(f"limit must be >= 1 and offset >= 0 (got {limit}, {offset}).",
                         code="bad_argument")
    ix = open_index(index_dir)
    try:
        q = parse_query(query, ix.schema)
        # One searcher per call: cheap to open because segments are not compound files.
        with ix.searcher() as searcher:
            flt = _filter(searcher, status=status, phase=phase, study_type=study_type,
                          registry=registry, country=country)
            kwargs: dict[str, object] = {
                "limit": None if limit is None else offset + limit, "filter": flt}
            if q is None:
                kwargs["sortedby"] = [FieldFacet("last_updated", reverse=True),
                                      FieldFacet("trial_id")]
            results = searcher.search(q if q is not None else wq.Every(), **kwargs)
            terms = _query_terms(q, searcher)
            page = results[offset:] if limit is None else results[offset:offset + limit]
            hits = [_hit(h, terms if k < MAX_HIGHLIGHTED else frozenset(), ranked=q is not None)
                    for k, h in enumerate(page)]
            return SearchResults(total=len(results), hits=hits, query_repr=describe(q),
                                 offset=offset, limit=limit)
    finally:
        ix.close()


def _hit(h, terms: frozenset[str], ranked: bool) -> Hit:
    stored = h.fields()
    return Hit(
        trial_id=stored["trial_id"],
        score=float(h.score or 0.0) if ranked else 0.0,  # sorted results carry sort keys
        title=stored.get("title", ""),
        status=stored.get("status", "unknown").upper(),
        phases=[p.upper() for p in stored.get("phases", "").split(",") if p],
        conditions=[c for c in stored.get("conditions", "").split("\n") if c],
        snippet=make_snippet(stored.get("snippet", ""), terms),
    )
