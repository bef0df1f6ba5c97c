"""Query understanding: words that name a fact of the record (index/intents.txt).

"CAR-T myasthenia gravis recruiting in China" is a topic ("CAR-T myasthenia gravis") and two
facts a trial either has or has not: its status and a site country.  ``understand`` finds
such words in a plain query (no operators, groups or fields: an expert query means what it
says), takes them out of the free text and returns them as ``Intent`` objects; the search
then ranks the trials that satisfy them above those that do not, through the structured
record (status, phases, age limits, sex, countries, cities), never as a hard filter.  Quoted
words are never understood, and ``literal=True`` (``trials search --literal``) turns it off.

Countries and cities are not listed in the table: any country value in the index is
understood, in any case; a city when written capitalised after "in", "at" or "near".
"""

from __future__ import annotations

import functools
import re
import weakref
from collections.abc import Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whoosh import query as wq

from trialscope.index.antibodies import ANTIBODIES, ANTIBODY_FIELD
from trialscope.index.negation import FIELD as NEGATED_FIELD

INTENTS_FILE = Path(__file__).with_name("intents.txt")
# fields where a subtype marker, or a population word, counts as what the trial is about
ABOUT_FIELDS = ("title", "official_title", "conditions", "keywords")
SUBTYPE_FIELDS = (*ABOUT_FIELDS, "criteria")
_PLACE_CUES = frozenset({"in", "at", "near"})
_WORD_RE = re.compile(r"[^\s()\"]+")


@dataclass(frozen=True)
class Rule:
    kind: str
    spellings: tuple[tuple[str, ...], ...]  # lower-cased words (case kept: exact spellings)
    exact: tuple[str, ...]  # spellings matched case-sensitively (two-letter capitals)
    full: tuple[str, ...]
    partial: tuple[str, ...] = ()


@dataclass
class Intent:
    """One understood fact: ``label`` for --show-query / --explain, the Whoosh queries of
    the trials that satisfy it (``full``) or satisfy it in part (``partial``)."""

    kind: str
    words: str  # as the user wrote them
    label: str
    full: wq.Query
    partial: wq.Query | None = None
    docs: Set[int] = field(default_factory=frozenset)  # filled per search
    partial_docs: Set[int] = field(default_factory=frozenset)

    def level(self, docnum: int) -> int:
        """2: satisfied; 1: in part; 0: not."""
        return 2 if docnum in self.docs else 1 if docnum in self.partial_docs else 0

    def resolve(self, searcher: Any) -> None:
        """Fill ``docs`` and ``partial_docs`` for ``searcher``'s documents.  The sets depend
        only on the two queries and the searcher's (fixed) segments, so a searcher kept open
        across searches keeps them (``_RESOLVED``, like Whoosh's own filter cache): matching
        an age range or a country through Whoosh's matchers costs ~20 ms at 10k trials."""
        key = (self.full, self.partial)
        try:
            cache = _RESOLVED.setdefault(searcher, {})
        except TypeError:  # a searcher that cannot be weakly referenced: no cache
            cache = {}
        found = cache.get(key)
        if found is None:
            docs = frozenset(searcher.docs_for_query(self.full))
            partial = frozenset(searcher.docs_for_query(self.partial)) - docs \
                if self.partial is not None else frozenset()
            if len(cache) >= _RESOLVED_LIMIT:
                cache.clear()
            found = cache[key] = (docs, partial)
        self.docs, self.partial_docs = found


# searcher -> {(full, partial): (docs, partial_docs)}; gone with the searcher
_RESOLVED: weakref.WeakKeyDictionary[Any, dict[tuple[Any, Any], tuple[frozenset[int],
                                                                       frozenset[int]]]] \
    = weakref.WeakKeyDictionary()
_RESOLVED_LIMIT = 256  # intents a searcher keeps (an age range set is ~8 bytes a trial)


@functools.lru_cache(maxsize=1)
def contrary_words() -> tuple[str, ...]:
    """Status words that say a marker is NOT what a subtype query asks ("HER2-low",
    "ALK-negative"): intents.txt's ``subtype-not`` line."""
    for line in INTENTS_FILE.read_text(encoding="utf-8").splitlines():
        kind, _, rest = line.strip().partition(":")
        if kind.strip() == "subtype-not":
            return tuple(w.strip().lower() for w in rest.split("|") if w.strip())
    return ()


def _antibody_queries(value: str, named: wq.Query) -> tuple[wq.Query, wq.Query]:
    """(full, partial) of an antibody intent: restricted to ``value`` (or naming it where
    the trial says what it is about, ``named``); admitting it."""
    others = [v for v in ANTIBODIES.values() if v != value]
    elsewhere = wq.Or([_minus(wq.Or([wq.Term(ANTIBODY_FIELD, f"req:{v}") for v in others]),
                              wq.Term(ANTIBODY_FIELD, f"req:{value}")),
                       wq.Term(ANTIBODY_FIELD, f"not:{value}")])
    full = wq.Or([wq.Term(ANTIBODY_FIELD, f"only:{value}"), _minus(named, elsewhere)])
    return full, _minus(wq.Every(), elsewhere)


def _minus(a: wq.Query, b: wq.Query) -> wq.Query:
    """The documents of ``a`` not in ``b``.  Not ``wq.AndNot``: its matcher (Whoosh 2.7.4)
    can keep a document of ``b`` that is the first of ``a``."""
    return wq.And([a, wq.Not(b)])


def _words(spelling: str) -> tuple[str, ...]:
    return tuple(spelling.lower().split())


@functools.lru_cache(maxsize=1)
def table() -> tuple[list[Rule], tuple[str, ...]]:
    """The rules of intents.txt, and the subtype suffixes."""
    rules: list[Rule] = []
    suffixes: tuple[str, ...] = ()
    for line in INTENTS_FILE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        kind, _, rest = line.partition(":")
        kind = kind.strip()
        if kind == "subtype":
            suffixes = tuple(s.strip().lower() for s in rest.split("|") if s.strip())
            continue
        if kind == "subtype-not":
            continue  # read by contrary_words()
        spell, _, meaning = rest.partition("->")
        spellings = [s.strip() for s in spell.split("|") if s.strip()]
        exact = tuple(s for s in spellings if len(s) == 2 and s.isalpha() and s.isupper())
        full, _, partial = meaning.partition("~")
        sep = ";" if kind in ("region", "country", "age") else None
        rules.append(Rule(kind, tuple(_words(s) for s in spellings if s not in exact), exact,
                          tuple(v.strip() for v in full.split(sep) if v.strip()),
                          tuple(v.strip() for v in partial.split(sep) if v.strip())))
    return rules, suffixes


_COUNTRIES: dict[tuple[Any, ...], dict[str, str]] = {}


def _countries(reader: Any) -> dict[str, str]:
    """Lower-cased country value -> the value as indexed (kept per set of segments)."""
    try:
        key = tuple(lr.segment().segment_id() for lr, _ in reader.leaf_readers())
    except Exception:  # noqa: BLE001 - not a segment reader: read it each time
        key = None
    found = _COUNTRIES.get(key) if key is not None else None
    if found is not None:
        return found
    try:
        values = [v.decode("utf-8") if isinstance(v, bytes) else v
                  for v in reader.lexicon("countries")]
    except Exception:  # noqa: BLE001 - an index without the field: no countries
        return {}
    found = {v.lower(): v for v in values}
    if key is not None:
        if len(_COUNTRIES) > 64:
            _COUNTRIES.clear()
        _COUNTRIES[key] = found
    return found


def _about(words: tuple[str, ...]) -> list[wq.Query]:
    """The words themselves in the fields that say what a trial is about."""
    from trialscope.index.query import _ANALYZER

    texts = [t.text for w in words for t in _ANALYZER(w, mode="query")]
    if not texts:
        return []
    leaf = (lambda f: wq.Term(f, texts[0])) if len(texts) == 1 else \
        (lambda f: wq.Phrase(f, texts))
    return [leaf(f) for f in ABOUT_FIELDS]


def _age(spec: str) -> wq.Query:
    m = re.fullmatch(r"min(<|>=)(\d+)|overlap (\d+)-(\d+)|admits (\d+)", spec)
    if m is None:
        raise ValueError(f"intents.txt: cannot read the age rule {spec!r}")
    if m.group(5):  # the age range reaches the age: no maximum, or one at least that
        return wq.Not(wq.NumericRange("max_age", None, float(m.group(5)), endexcl=True))
    if m.group(1) == "<":
        return wq.NumericRange("min_age", None, float(m.group(2)), endexcl=True)
    if m.group(1) == ">=":
        return wq.NumericRange("min_age", float(m.group(2)), None)
    lo, hi = float(m.group(3)), float(m.group(4))
    return wq.AndNot(wq.NumericRange("min_age", None, hi),
                     wq.NumericRange("max_age", None, lo, endexcl=True))


def _intent(rule: Rule, words: str, values: tuple[str, ...] | None = None) -> Intent:
    said = _words(words)
    if rule.kind == "status":
        return Intent("status", words, "status: " + " or ".join(rule.full),
                      wq.Or([wq.Term("status", v) for v in rule.full]),
                      wq.Or([wq.Term("status", v) for v in rule.partial])
                      if rule.partial else None)
    if rule.kind == "antibody":
        value = rule.full[0].lower()
        named = wq.Or([wq.Term(f, value) for f in ABOUT_FIELDS])
        full, partial = _antibody_queries(value, named)
        return Intent("subtype", words, f"subtype: {value} (antibody limits of the criteria, "
                      "or named in title, conditions or keywords)", full, partial)
    if rule.kind == "phase":
        return Intent("phase", words, "phase: " + " or ".join(rule.full),
                      wq.Or([wq.Term("phases", v) for v in rule.full]))
    if rule.kind == "age":
        return Intent("population", words, f"population: {words} (age {rule.full[0]}"
                      + (f"; in part: age {rule.partial[0]})" if rule.partial else ")"),
                      wq.Or([_age(rule.full[0]), *_about(said)]),
                      _age(rule.partial[0]) if rule.partial else None)
    if rule.kind == "sex":
        return Intent("population", words, f"population: {words} (sex {rule.full[0]})",
                      wq.Or([wq.Term("sex", rule.full[0]), *_about(said)]),
                      wq.Or([wq.Term("sex", v) for v in rule.partial]) if rule.partial
                      else None)
    places = values if values is not None else rule.full
    shown = words if len(places) > 3 else " or ".join(places)
    return Intent("place", words, f"place: {shown}",
                  wq.Or([wq.Term("countries", v) for v in places]))


def understand(text: str, reader: Any, searcher: Any = None) -> tuple[str, list[Intent]]:
    """(the free text left, the intents understood) for a plain query; (text, []) when the
    query uses operators, groups, fields or quotes around everything, or is only intents.
    ``searcher`` (when given) guards one-word status words: one that with the next word
    names something in the index ("open angle glaucoma") stays text.  (Not population
    words: "children with asthma" is a phrase of titles, stop words left out.)"""
    from trialscope.index.query import _BINARY_OPS, _lex

    toks = _lex(text)
    if any(t.kind != "word" and t.kind != "phrase" for t in toks) \
            or any(t.field for t in toks) \
            or any(t.text in _BINARY_OPS or t.text == "NOT" for t in toks):
        return text, []
    rules, suffixes = table()
    countries = _countries(reader)
    intents: list[Intent] = []
    blank: list[tuple[int, int, str]] = []  # (start, end, replacement)
    k = 0
    while k < len(toks):
        tok = toks[k]
        if tok.kind != "word":
            k += 1
            continue
        run = [tok]  # adjacent words from here (a phrase ends the run)
        while k + len(run) < len(toks) and toks[k + len(run)].kind == "word":
            run.append(toks[k + len(run)])
        found = _match(run, rules, countries, reader, toks[k - 1].text.lower() if k else "",
                       suffixes)
        if found is not None and found[0] == 1 and found[1].kind == "status" and len(run) > 1 \
                and _names_a_thing(searcher, run[0].text, run[1].text):
            found = None
        if found is None:
            k += 1
            continue
        n, intent, keep = found
        intents.append(intent)
        blank.append((run[0].start, run[n - 1].end, keep))
        k += n
    if not intents:
        return text, []
    out = text
    for start, end, keep in reversed(blank):
        out = out[:start] + (keep or " ") + out[end:]
    if not _WORD_RE.search(out) or all(_stop_only(w) for w in _WORD_RE.findall(out)):
        return text, intents  # nothing but intents: the words stay the topic too
    return " ".join(out.split()), intents


def _names_a_thing(searcher: Any, first: str, second: str) -> bool:
    """Do ``first second`` appear as a phrase in a title or a condition?"""
    if searcher is None:
        return False
    from trialscope.index.query import _ANALYZER

    words = [t.text for w in (first, second) for t in _ANALYZER(w, mode="query")]
    if len(words) != 2:
        return False
    return any(True for f in ("title", "conditions")
               for _ in searcher.docs_for_query(wq.Phrase(f, words)))


def _stop_only(word: str) -> bool:
    from trialscope.index.analysis import STOP_WORDS

    return word.lower() in STOP_WORDS


def _match(run: list[Any], rules: list[Rule], countries: dict[str, str], reader: Any,
           before: str, suffixes: tuple[str, ...]) -> tuple[int, Intent, str] | None:
    """The longest intent spelled by the first words of ``run``: (words used, the intent,
    text to leave in their place)."""
    surfaces = [t.text for t in run]
    lowered = [s.lower().strip(",.;:") for s in surfaces]
    for n in range(min(4, len(run)), 0, -1):
        said = tuple(lowered[:n])
        words = " ".join(surfaces[:n]).strip(",.;:")
        for rule in rules:
            if said in rule.spellings or (n == 1 and surfaces[0] in rule.exact):
                if rule.kind == "country":
                    values = tuple(v for v in rule.full if v.lower() in countries)
                    if values:
                        return n, _intent(rule, words, values), ""
                    continue
                if rule.kind == "region":
                    values = tuple(countries[v.lower()] for v in rule.full
                                   if v.lower() in countries)
                    if values:
                        return n, _intent(rule, words, values), ""
                    continue
                # an antibody word stays in the text too, as a subtype's marker does
                return n, _intent(rule, words), words if rule.kind == "antibody" else ""
        name = " ".join(said)
        if name in countries:
            place = Rule("place", (), (), (countries[name],))
            return n, _intent(place, words), ""
        city = " ".join(surfaces[:n]).strip(",.;:")
        if before in _PLACE_CUES and city[:1].isupper() and _has(reader, "cities", city):
            return n, Intent("place", words, f"place: {city}", wq.Term("cities", city)), ""
    return _subtype(surfaces, suffixes)


def _subtype(surfaces: list[str], suffixes: tuple[str, ...]
             ) -> tuple[int, Intent, str] | None:
    """"ALK-positive", "HER2+", "EGFR-mutant", "ALK positive": the marker stays in the free
    text; a trial naming it where it says what it is about satisfies the intent."""
    first = surfaces[0]
    m = re.fullmatch(r"([A-Za-z][A-Za-z0-9]*[A-Z0-9][A-Za-z0-9]*)(?:[-\u2010](\w+)|(\+))",
                     first)
    n = 1
    if m is not None and (m.group(3) or (m.group(2) or "").lower() in suffixes):
        marker = m.group(1)
    elif (len(surfaces) > 1 and surfaces[1].lower() in suffixes
          and re.fullmatch(r"[A-Za-z][A-Za-z0-9]*[A-Z0-9][A-Za-z0-9]*", first)
          and any(c.isupper() for c in first[1:] + first[:1])):
        marker, n = first, 2
    elif _bare_antibody(first):
        # An antibody named bare ("MuSK myasthenia gravis", "AChR MG") names the patients
        # who have it: an antibody is a subtype by nature, unlike a target ("BCMA CAR-T").
        marker = first
    else:
        return None
    if not any(c.isupper() or c.isdigit() for c in marker):
        return None
    from trialscope.index.query import _ANALYZER

    texts = [t.text for t in _ANALYZER(marker, mode="query")]
    if len(texts) != 1:
        return None
    words = " ".join(surfaces[:n])
    # named where the trial says what it is about, and not only as absent ("no EGFR
    # mutation" in an immunotherapy trial: index/negation.py)
    named = _minus(wq.Or([wq.Term(f, texts[0]) for f in SUBTYPE_FIELDS]),
                   wq.Term(NEGATED_FIELD, texts[0]))
    # "HER2-low", "ALK-negative" without a positive form: the marker named, not the subtype
    contrary = _status_forms(marker, contrary_words())
    if contrary is not None:
        positive = _status_forms(marker, tuple(x for x in suffixes if x.isalpha()))
        named = _minus(named, contrary if positive is None else _minus(contrary, positive))
    value = ANTIBODIES.get(texts[0])
    if value is not None:
        full, partial = _antibody_queries(value, named)
        return n, Intent("subtype", words, f"subtype: {marker} (antibody limits of the "
                         "criteria, or named in title, conditions, keywords or inclusion "
                         "criteria)", full, partial), marker
    return n, Intent("subtype", words, f"subtype: {marker} named in title, conditions, "
                     "keywords or inclusion criteria, not only as absent", named), marker


def _bare_antibody(word: str) -> bool:
    """An antibody marker of ANTIBODIES (not a serostatus word) written as it is, with a
    capital ("MuSK", "AChR", "LRP4")."""
    return (word.lower() in ANTIBODIES and ANTIBODIES[word.lower()].endswith("+")
            and any(c.isupper() for c in word))


def _status_forms(marker: str, statuses: tuple[str, ...]) -> wq.Query | None:
    """The marker with one of ``statuses`` ("HER2-low", "HER2 low") in SUBTYPE_FIELDS."""
    from trialscope.index.query import _ANALYZER

    leaves: list[wq.Query] = []
    for status in statuses:
        for spelled in (f"{marker}-{status}", f"{marker} {status}"):
            toks = [t.text for t in _ANALYZER(spelled, mode="query")]
            if len(toks) == 1:
                leaves += [wq.Term(f, toks[0]) for f in SUBTYPE_FIELDS]
            elif len(toks) == 2:
                leaves += [wq.Phrase(f, toks) for f in SUBTYPE_FIELDS]
    return wq.Or(leaves) if leaves else None


def _has(reader: Any, fieldname: str, value: str) -> bool:
    try:
        return reader.doc_frequency(fieldname, value) > 0
    except Exception:  # noqa: BLE001 - no such field
        return False
