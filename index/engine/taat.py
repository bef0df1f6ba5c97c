"""Term-at-a-time evaluation of search queries, with the same scores as Whoosh's.

Whoosh scores a query document by document: a tree of matchers advances one posting at a
time, and every posting costs several Python calls (``id``, ``next``, ``score``, the field
length lookup), plus ``pickle.loads`` of each posting block with its positions.  A "CAR-T"
query is ~50 spellings x 13 fields; a common word is in most documents of several fields;
either way Whoosh's block-quality skipping saves little, because a BM25F sum over 13 fields
has loose block bounds.

Here each posting list is read whole, block by block (``_decode``: ids and term
frequencies taken straight from the block's bytes, positions left compressed), and scored
into one accumulator per segment:

    score(doc) = sum over matched leaves of
                 boost x idf x tf (K1 + 1) / (tf + K1 (1 - B + B fl / avgfl))

exactly Whoosh's BM25F (``whoosh.scoring.bm25``, same operations in the same order), then
x coverage ** power for a coordinated query (``ranking.Coord``: the share of the query's
units the document matched, from a bit mask of the matched words) and x prior / 1000
(``ranking.Prior``), read only for the documents that can reach the requested page.

Phrases are matched from the words' positions, read only for the documents that have every
word (``_add_phrase``); a two-word phrase with one of index/pairs.py's common words is one
posting list of the ``pairs`` field instead, in a segment whose every document has pairs
(``has_pairs``, ``_add_pair``: the same documents and scores).  AND, OR, ANDNOT, ANDMAYBE
and NOT combine their parts' document sets (``_combine``).  What is neither (prefixes,
keyword terms, ranges) is scored by its own Whoosh matcher and added in; a range at the top
of a query returns None from ``evaluate`` and the caller uses Whoosh's collector.  The full
match set falls out of the accumulation, so the total and the facets cost nothing more.

Two differences from Whoosh's own collector, both deliberate: the coordination weights
(``ranking.unit_weights``) come from the whole index, not from each segment, so a ranking no
longer depends on how the index happens to be segmented; and ANDNOT excludes every document
of its right side (Whoosh 2.7.5's ANDNOT matcher can step past one inside a preloaded
union: tests/test_search.py ``test_not_excludes_every_match_of_its_term``).

Whoosh internals this module depends on
---------------------------------------
Everything below is private to Whoosh (whoosh-reloaded 2.7.5, pinned exactly in pyproject);
tests/test_engine_scale.py and tests/test_search.py compare this module with Whoosh's own
reader and collector, so an upgrade that changes one of them fails there.

- Segment reader ``seg._terms`` (a ``W3TermsReader``; ``native`` checks the class) and its
  ``_codec.postings_reader``, ``_postfile``, ``_fieldmap`` (field name -> field number) and
  ``_tindex`` (the term table: an ``OrderedHashReader`` with ``closest_key_pos``,
  ``endofdata``, ``dbfile``): every term lookup and posting read goes through them; renamed,
  ``native``/``scannable`` turn False and the slow paths (Whoosh's matchers) take over, but
  a changed meaning breaks the scores.
- ``W3LeafMatcher`` block state: ``_blocklength``, ``_dataoffset``, ``_nextoffset``,
  ``_maxid``, ``_lastblock``, ``_compression``, ``_postfile``, ``_goto``, ``_read_data``,
  ``_read_ids``, ``_read_weights``, ``_read_values``, ``_ids``, ``_weights``, ``_values``
  (``info_blocks``, ``count_in``, ``_positions``): the block walk and the fallback decoding.
  A matcher of another class is read through its public methods instead.
- The posting block format (``codec/whoosh3.py`` ``_write_block``): a block's data is the
  zlib-compressed pickle (protocol 2; 3 from fastwriter) of ``(delta-coded ids, weights,
  values)``, weights None / one float / a tuple of floats; ``_decode`` parses those opcodes
  itself.  A block in another layout makes ``_decode`` return None and Whoosh's own reader
  is used (slower, same result); a layout that parses but means something else (ids not
  delta-coded, say) would give wrong results.
- ``W3TermInfo``: ``is_inlined``, ``inlined_postings`` (``(ids, weights, values)``, ids not
  delta-coded), ``doc_frequency``, ``from_bytes``, and its struct ``!BfIBBfII`` (flags,
  weight, doc frequency, min/max length byte, max weight, first/last doc id: ``_TERMINFO``,
  ``TERM_STATS``), and the term table's records ``!ii`` key/value lengths with keys of a
  2-byte field number + term bytes (``term_table``, ``field_terms``): facets.py scans these
  bytes; a changed struct gives wrong facet counts.
- Field lengths: ``seg._perdoc._cached_reader(_lenfield(name), LENGTHS_COLUMN)`` and that
  column reader's ``_dbfile``, ``_basepos``, ``_count`` (one length byte per document,
  ``byte_to_length``): BM25F's length normalisation.  A change breaks every score.
- Numeric columns (``column_numbers``): ``seg._perdoc`` (``has_column``, ``column_reader``),
  ``NumericColumn._typecode`` / ``_default``, the reader's ``_fixedlen``, ``_dbfile``,
  ``_basepos``, ``_count``, values big-endian: the prior and the newest-first order.  A
  layout it does not recognise gives None (the caller uses Whoosh's column reader).
- Scoring: ``BM25F`` fields ``B``, ``K1``, ``_field_B`` and the formula of
  ``whoosh.scoring.bm25`` and ``WeightingModel.idf`` (reproduced, same operations in the same
  order, so that scores are equal to the last bit); a weighting of another class, or one
  overriding ``idf``, is left to Whoosh.  ``Phrase`` semantics (slop 1, ordered, the words'
  scores summed as ``make_binary_tree`` pairs them, ``_tree_sum``).
- ``seg.deleted_docs_set`` / ``has_deletions`` (live documents), ``Searcher.leaf_searchers``
  offsets, ``TermNotFound``.
"""

from __future__ import annotations

import heapq
import pickle
import struct
import sys
import zlib
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from copy import copy
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate, compress, repeat
from math import log
from operator import mul
from typing import Any
from weakref import WeakKeyDictionary

from whoosh import query as wq
from whoosh.codec.whoosh3 import (
    LENGTHS_COLUMN,
    W3LeafMatcher,
    W3TermsReader,
    _lenfield,
)
from whoosh.columns import NumericColumn
from whoosh.formats import Positions
from whoosh.reading import TermNotFound
from whoosh.scoring import BM25F, WeightingModel
from whoosh.util.numeric import byte_to_length

from trialscope.index.pairs import FIELD as PAIRS_FIELD
from trialscope.index.pairs import MARKER as PAIRS_MARKER
from trialscope.index.pairs import pair_term
from trialscope.index.query import Unit
from trialscope.index.ranking import (
    MAIN_FIELDS,
    Coord,
    MaskForm,
    Prior,
    conditions_of,
    intent_weight,
    rank,
    squash,
    tier_weights,
    unit_weights,
    unsquash,
)

# ranking.Prior multiplies by prior / 1000; schema.prior() is 950..1000 (1000 when unset).
PRIOR_MAX = 1000

# -- reading posting blocks --------------------------------------------------------------------

_TUPLE_END = (0, 0x85, 0x86, 0x87)  # pickle TUPLE1..3 close a tuple of 1-3 items
_PROTOCOLS = (b"\x80\x02", b"\x80\x03")  # Whoosh's writer; fastwriter.DATA_PROTOCOL


@lru_cache(maxsize=256)
def _ks(n: int) -> bytes:
    return b"K" * n


@lru_cache(maxsize=256)
def _floats(n: int) -> struct.Struct:
    return struct.Struct(">" + "xd" * n)  # n pickled BINFLOATs: opcode byte + 8-byte double


def _decode(raw: bytes, n: int, delta: bool = True) -> tuple[tuple[int, ...], Any] | None:
    """(doc ids, weights) from the start of a Whoosh 3 posting block: the pickle of
    ``(delta-coded ids, weights, values)`` (codec/whoosh3.py ``_write_block``, protocol 2;
    fastwriter's, protocol 3, which pickles the ids and weights the same way), read without
    unpickling the values (positions), which are most of its cost.  Weights are None (all
    1.0), one float (all equal), a tuple of floats, or a tuple of ints (fastwriter's term
    frequencies; read here when each is under 256).  None when the bytes are not in that
    shape; the caller then lets Whoosh read the block."""
    if raw[:2] not in _PROTOCOLS:
        return None
    p = 2
    if n >= 4:
        if raw[p] != 0x28:  # MARK
            return None
        p += 1
    end = p + 2 * n
    deltas: Any
    if raw[p:end:2] == _ks(n):  # every delta < 256: BININT1 + one byte
        deltas = raw[p + 1:end:2]
        p = end
        if raw[p] != (0x74 if n >= 4 else _TUPLE_END[n]):  # TUPLE / TUPLEn
            return None
        p += 1
    else:
        # Larger deltas (BININT2 / BININT): let pickle read the ids tuple alone.  It is the
        # first object memoised (BINPUT 0), which marks where it ends.
        close = bytes((0x74 if n >= 4 else _TUPLE_END[n], 0x71, 0))
        end = raw.find(close, p)
        if end < 0:
            return None
        deltas = pickle.loads(raw[:end + 1] + b".")
        if not isinstance(deltas, tuple) or len(deltas) != n:
            return None
        p = end + 1
    c = raw[p]
    if c == 0x71:  # BINPUT
        p += 2
    elif c == 0x72:  # LONG_BINPUT
        p += 5
    c = raw[p]
    weights: Any
    q = p + 1 if n >= 4 else p  # the first item of a weights tuple
    ints_end = q + 2 * n  # where a tuple of n BININT1 items closes
    if c == 0x4E:  # None
        weights = None
    elif c == (0x28 if n >= 4 else 0x4B) and raw[q:ints_end:2] == _ks(n):  # ints < 256
        if raw[ints_end] != (0x74 if n >= 4 else _TUPLE_END[n]):
            return None
        weights = tuple(raw[q + 1:ints_end:2])
    elif (c == 0x28 and n >= 4) or (c == 0x47 and 2 <= n <= 3 and raw[p + 9] == 0x47):
        if raw[q:q + 9 * n:9] != b"G" * n:
            return None
        weights = _floats(n).unpack_from(raw, q)
    elif c == 0x47:  # BINFLOAT: one weight for the whole block
        weights = struct.unpack_from(">d", raw, p + 1)[0]
    else:
        return None
    return (tuple(accumulate(deltas)) if delta else tuple(deltas)), weights


def inlined_ids(raw: bytes, n: int) -> tuple[int, ...] | None:
    """The doc ids of postings inlined in a term table record (the pickle after the
    ``W3TermInfo`` struct: ``(ids, weights, values)``, ids not delta-coded)."""
    try:
        out = _decode(raw, n, delta=False)
    except (IndexError, struct.error, pickle.UnpicklingError, EOFError):
        return None
    return None if out is None else out[0]


def term_blocks(seg: Any, fieldname: str, tbytes: bytes) -> Iterator[tuple[Any, Any]]:
    """(ids, weights) per posting block of one term in one segment, deleted documents
    included (see ``deleted``); nothing when the segment lacks the term."""
    try:
        info = seg._terms.term_info(fieldname, tbytes)
    except (TermNotFound, KeyError):
        return
    yield from info_blocks(seg, fieldname, tbytes, info)


def info_blocks(seg: Any, fieldname: str, tbytes: bytes, info: Any
                ) -> Iterator[tuple[Any, Any]]:
    """``term_blocks`` for a term whose ``W3TermInfo`` is at hand."""
    terms = seg._terms
    if info.is_inlined():  # a short list kept in the term table
        ids, weights, _ = info.inlined_postings()
        yield tuple(ids), (tuple(weights) if weights is not None else None)
        return
    m = terms._codec.postings_reader(terms._postfile, info, seg.schema[fieldname].format,
                                     term=(fieldname, tbytes))
    if not isinstance(m, W3LeafMatcher):
        ids = list(m.all_ids())
        m.reset()
        weights = []
        while m.is_active():
            weights.append(m.weight())
            m.next()
        yield ids, tuple(weights)
        return
    postfile = m._postfile
    while True:
        n = m._blocklength
        data = postfile.get(m._dataoffset, m._nextoffset - m._dataoffset)
        out = None
        try:
            # ids and weights come first: decompress only as far as they can reach
            raw = zlib.decompressobj().decompress(data, 14 * n + 24) if m._compression \
                else data
            out = _decode(raw, n)
        except (IndexError, zlib.error, struct.error, pickle.UnpicklingError, EOFError):
            out = None
        if out is None:
            m._read_data()
            m._read_ids()
            m._read_weights()
            out = (m._ids, tuple(m._weights))
        yield out
        if m._lastblock:
            return
        m._goto(m._nextoffset)


def count_in(seg: Any, fieldname: str, tbytes: bytes, info: Any, docs: set[int],
             ordered: list[int]) -> int:
    """How many of ``docs`` (``ordered``: the same, sorted) have the term: posting blocks
    whose id range holds none of them are skipped unread."""
    if info.is_inlined() or len(docs) * 8 > info.doc_frequency():
        return sum(len(docs.intersection(ids))
                   for ids, _ in info_blocks(seg, fieldname, tbytes, info))
    terms = seg._terms
    m = terms._codec.postings_reader(terms._postfile, info, seg.schema[fieldname].format,
                                     term=(fieldname, tbytes))
    if not isinstance(m, W3LeafMatcher):
        return sum(1 for d in m.all_ids() if d in docs)
    n, lo, last = 0, 0, len(ordered)
    while True:
        i = bisect_left(ordered, lo)
        if i == last:
            return n
        if ordered[i] <= m._maxid:  # a document of ``docs`` in this block's range
            data = m._postfile.get(m._dataoffset, m._nextoffset - m._dataoffset)
            raw = zlib.decompressobj().decompress(data, 14 * m._blocklength + 24) \
                if m._compression else data
            try:
                out = _decode(raw, m._blocklength)
            except (IndexError, struct.error, pickle.UnpicklingError, EOFError):
                out = None
            if out is None:
                m._read_data()
                m._read_ids()
                out = (m._ids, None)
            n += len(docs.intersection(out[0]))
        if m._lastblock:
            return n
        lo = m._maxid + 1
        m._goto(m._nextoffset)


# Per segment reader: the doc ids of the facet values counted from their posting blocks
# (``count_cached``), decoded once, and the facet fields' term table bytes
# (``cached_term_table``).  A segment never changes; weak keys: a closed searcher's readers
# go away with it.  At most MAX_CACHED_IDS ids a segment (4 bytes each); past that, values
# are counted from their blocks as before.
MAX_CACHED_IDS = 4_000_000
_IDS: WeakKeyDictionary[Any, dict[Any, Any]] = WeakKeyDictionary()
_TABLES: WeakKeyDictionary[Any, dict[str, bytes]] = WeakKeyDictionary()


def cached_term_table(seg: Any, fieldname: str) -> bytes:
    """``term_table``, read once per segment reader and field."""
    per = _TABLES.get(seg)
    if per is None:
        per = _TABLES[seg] = {}
    buf = per.get(fieldname)
    if buf is None:
        buf = per[fieldname] = term_table(seg, fieldname)
    return buf


def count_cached(seg: Any, fieldname: str, tbytes: bytes, info: Any, docs: set[int],
                 ordered: list[int]) -> int:
    """``count_in``, from the term's doc ids kept (sorted, in an ``array``): the same count
    (the ids of every posting block, deleted documents included, as ``count_in`` reads
    them), with no block read, decompressed or unpickled again.  The ids are kept the
    second time the segment reader is asked for the term (a long-lived searcher's: the
    statuses, phases and countries of every facet query); the first time, ``count_in``."""
    per = _IDS.get(seg)
    if per is None:
        per = _IDS[seg] = {"": 0}  # "": ids kept so far
    key = (fieldname, tbytes)
    ids = per.get(key)
    if ids is None:
        if key not in per or per[""] + info.doc_frequency() > MAX_CACHED_IDS:
            # The first time: count_in, which reads only the blocks that can hold one of
            # ``docs`` (a reader opened for one search pays nothing more than before).
            per.setdefault(key, None)
            return count_in(seg, fieldname, tbytes, info, docs, ordered)
        ids = array("I")
        for block, _ in info_blocks(seg, fieldname, tbytes, info):
            ids.extend(block)
        per[key] = ids
        per[""] += len(ids)
    if len(ordered) * 16 < len(ids):  # a few documents: look each up (ids ascend)
        n, last = 0, len(ids)
        for d in ordered:
            i = bisect_left(ids, d)
            n += i < last and ids[i] == d
        return n
    return len(docs.intersection(ids))


def term_ids(seg: Any, fieldname: str, text: Any) -> set[int]:
    """Segment doc ids having ``text`` in ``fieldname`` (deleted ones included)."""
    try:
        tbytes = seg.schema[fieldname].to_bytes(text)
    except (KeyError, ValueError):
        return set()
    out: set[int] = set()
    for ids, _ in term_blocks(seg, fieldname, tbytes):
        out.update(ids)
    return out


def native(seg: Any) -> bool:
    """Whether ``seg`` is a segment whose postings ``term_blocks`` can read."""
    return isinstance(getattr(seg, "_terms", None), W3TermsReader)


class Terms:
    """Each (field, text)'s term info in every segment of a searcher, looked up once.

    A query touches the same terms several times: is it in the index (``_drop_absent``), its
    document frequency (idf, the coordination weights), its postings, the highlighted
    words.  On a many-segment index each of those is a hash lookup per segment; here it is
    one per segment in all, kept as long as the searcher (a warm searcher keeps them)."""

    def __init__(self, searcher: Any) -> None:
        self.searcher = searcher
        self.leaves = [(sub, offset, sub.reader()) for sub, offset in searcher.leaf_searchers()]
        self._infos: dict[tuple[str, Any], tuple[Any, ...]] = {}
        self._df: dict[tuple[str, Any], int] = {}  # doc_frequency
        self.params: dict[tuple[str, Any], Any] = {}  # _scorer_params
        self.scores: dict[tuple[int, str, Any], tuple[Any, Any]] = {}  # _term_scores
        self._kept = 0  # postings in ``scores``
        self.filters: dict[tuple[int, str, Any], frozenset[int]] = {}  # filter_sets
        self._filter_ids = 0
        self.priors: Any = None  # priors_of (False: the index has none)
        self.runs: dict[tuple[int, tuple[Any, ...]], Any] = {}  # _Run.of
        self._run_postings = 0

    MAX_KEPT = 4_000_000  # postings of long lists kept scored (12 bytes each)
    MAX_FILTER_IDS = 1_000_000  # documents of filter terms kept (a status, a phase, ...)

    def keep_filter(self, key: tuple[int, str, Any], ids: frozenset[int]) -> None:
        """Keep a filter term's documents (status, phase: few terms, asked again and
        again), forgetting the oldest past MAX_FILTER_IDS."""
        self.filters[key] = ids
        self._filter_ids += len(ids)
        while self._filter_ids > self.MAX_FILTER_IDS and len(self.filters) > 1:
            self._filter_ids -= len(self.filters.pop(next(iter(self.filters))))

    def keep_scores(self, key: tuple[int, str, Any], ids: Any, scores: Any) -> None:
        """Keep a long list's scores, forgetting the least recently used past MAX_KEPT."""
        self.scores[key] = (ids, scores)
        self._kept += len(ids)
        while self._kept > self.MAX_KEPT and len(self.scores) > 1:
            oldest = next(iter(self.scores))
            self._kept -= len(self.scores.pop(oldest)[0])

    MAX_RUN_POSTINGS = 2_000_000  # postings of runs (16 bytes each) and spellings kept

    def keep_run(self, key: tuple[int, tuple[Any, ...]], run: Any) -> None:
        """Keep a run's postings (``_Run``) or a spelling's matches (``_Spelled``),
        forgetting the least recently used past MAX_RUN_POSTINGS.  One larger than the
        budget by itself is used by its query and not kept (kept, it would push the others
        out and still leave the budget exceeded)."""
        if run.size + 1 > self.MAX_RUN_POSTINGS:
            return
        # each entry counts one more than its postings: empty ones (a spelling absent from
        # a segment) are bounded too
        self.runs[key] = run
        self._run_postings += run.size + 1
        while self._run_postings > self.MAX_RUN_POSTINGS and len(self.runs) > 1:
            self._run_postings -= self.runs.pop(next(iter(self.runs))).size + 1

    MAX_TERMS = 100_000  # a long-lived searcher forgets them all past this many

    def infos(self, fieldname: str, text: Any) -> tuple[Any, ...]:
        """Per leaf searcher, the term's ``TermInfo`` there, or None."""
        key = (fieldname, text)
        found = self._infos.get(key)
        if found is None:
            if len(self._infos) >= self.MAX_TERMS:
                self._infos.clear()
                self._df.clear()
                self.params.clear()
            out: list[Any] = []
            try:
                tbytes = self.searcher.schema[fieldname].to_bytes(text)
            except (KeyError, ValueError):
                tbytes = None
            for _sub, _off, seg in self.leaves:
                info = None
                if tbytes is not None:
                    try:
                        info = seg._terms.term_info(fieldname, tbytes) if native(seg) \
                            else seg.term_info(fieldname, tbytes)
                    except (TermNotFound, KeyError):
                        info = None
                out.append(info)
            found = self._infos[key] = tuple(out)
        return found

    def __contains__(self, term: tuple[str, Any]) -> bool:
        return any(info is not None for info in self.infos(*term))

    def doc_frequency(self, fieldname: str, text: Any) -> int:
        """Over every segment (kept: the coordination and tier weights ask it for each
        alternative of a unit in each of its fields, ~1,300 times for a drug class)."""
        key = (fieldname, text)
        found = self._df.get(key)
        if found is None:
            found = self._df[key] = sum(info.doc_frequency()
                                        for info in self.infos(fieldname, text)
                                        if info is not None)
        return found

    def idf(self, fieldname: str, text: Any) -> float:
        """``searcher.idf`` (Whoosh's ``WeightingModel.idf``), from the table."""
        w = self.searcher.weighting
        if type(w).idf is not WeightingModel.idf:
            return self.searcher.idf(fieldname, text)
        dc = self.searcher.doc_count_all()
        return log(dc / (self.doc_frequency(fieldname, text) + 1)) + 1


_TERMS: WeakKeyDictionary[Any, Terms] = WeakKeyDictionary()


def terms_of(searcher: Any) -> Terms:
    """The searcher's ``Terms`` table (made on first use)."""
    found = _TERMS.get(searcher)
    if found is None:
        found = _TERMS[searcher] = Terms(searcher)
    return found


# Per segment reader (segments never change): field length bytes.  Weak keys: a closed
# searcher's readers go away with it.
_LENGTHS: WeakKeyDictionary[Any, dict[str, bytes]] = WeakKeyDictionary()


def lengths(seg: Any, fieldname: str) -> bytes:
    """The segment's encoded field length of every document (``length_to_byte``), one byte
    each, 0 for a document without the field."""
    cache = _LENGTHS.setdefault(seg, {})
    found = cache.get(fieldname)
    if found is not None:
        return found
    n = seg.doc_count_all()
    col = seg._perdoc._cached_reader(_lenfield(fieldname), LENGTHS_COLUMN)
    if col is None:
        out = bytes(n)
    else:
        out = col._dbfile.get(col._basepos, min(col._count, n))
        out = bytes(out) + bytes(n - len(out))
    cache[fieldname] = out
    return out


# -- the plan: which leaves, with which bits -------------------------------------------------

@dataclass
class _Leaf:
    query: wq.Query
    bits: int  # the query words it matches (coordination), or 1


@dataclass
class _Plan:
    leaves: list[_Leaf]
    words: tuple[tuple[tuple[str, ...], ...], ...] = ()  # per unit: its alternatives
    weights: tuple[float, ...] = ()
    power: float = 1.0
    bit_of: dict[str, int] = field(default_factory=dict)
    main_bit_of: dict[str, int] = field(default_factory=dict)  # matched in ranking.MAIN_FIELDS
    runs: dict[int, int] = field(default_factory=dict)  # _Run: first leaf -> past the last
    spelled: set[int] = field(default_factory=set)  # _Spelled: phrase leaves not typed
    _form: MaskForm | None = None

    @property
    def coordinated(self) -> bool:
        return bool(self.words)

    @property
    def form(self) -> MaskForm:
        """ranking.py's coverage and tiers on this plan's masks (made on first use, once
        the bits are all given)."""
        if self._form is None:
            self._form = MaskForm(self.words, self.bit_of, self.main_bit_of)
        return self._form


def _pieces(unit: wq.Query) -> list[wq.Query]:
    child = unit.child if isinstance(unit, Unit) else unit
    if isinstance(child, wq.Or):
        return list(child.subqueries)
    if child is wq.NullQuery or isinstance(child, type(wq.NullQuery)):
        return []
    return [child]


def _words(piece: wq.Query) -> tuple[str, ...] | None:
    if isinstance(piece, wq.Term):
        return (str(piece.text),)
    if isinstance(piece, wq.Phrase):
        return tuple(str(w) for w in piece.words)
    return None


def plan(searcher: Any, q: wq.Query, terms: Terms | None = None) -> _Plan | None:
    """The leaves of ``q`` (a unit, or a ``Coord`` of units), or None for other shapes."""
    if isinstance(q, Prior):
        q = q.child
    if isinstance(q, Unit):
        one = _Plan([_Leaf(p, 1) for p in _pieces(q)])
        one.runs.update(_runs(one.leaves, 0))
        one.spelled.update(_spelled(q, one.leaves, 0))
        return one
    if not (isinstance(q, Coord) and isinstance(q.child, wq.Or)
            and all(isinstance(u, Unit) for u in q.child.subqueries)):
        return None
    frequency = (terms or terms_of(searcher)).doc_frequency
    out = _Plan([], tuple(alts for alts, _, _ in q.units),
                unit_weights(searcher, q.units, frequency), q.power)
    for unit in q.child.subqueries:
        start = len(out.leaves)
        for piece in _pieces(unit):
            words = _words(piece)
            if words is None:
                return None  # coverage needs the matched words
            bits = 0
            for w in words:
                bits |= out.bit_of.setdefault(w, 1 << len(out.bit_of))
            out.leaves.append(_Leaf(piece, bits))
        out.runs.update(_runs(out.leaves, start))
        out.spelled.update(_spelled(unit, out.leaves, start))
    # words matched in a main field: bits above the words' own (ranking.tier_coverage)
    n = len(out.bit_of)
    for leaf in out.leaves:
        if leaf.query.field() in MAIN_FIELDS:
            for w in _words(leaf.query) or ():
                bit = out.main_bit_of.setdefault(w, 1 << (n + len(out.main_bit_of)))
                leaf.bits |= bit
    return out


# A unit's run of more consecutive terms than one word has fields (a drug class: ~100 member
# names in the interventions; a word with its other names): its postings are concatenated
# once per segment (``_Run``), every query naming the unit reads them in one pass
RUN_MIN = 14


def _runs(leaves: list[_Leaf], start: int) -> Iterator[tuple[int, int]]:
    """(first, past the last) of each run of at least RUN_MIN ``wq.Term`` leaves from
    ``leaves[start:]`` (one unit's)."""
    first = None
    for i in range(start, len(leaves) + 1):
        if i < len(leaves) and isinstance(leaves[i].query, wq.Term):
            if first is None:
                first = i
            continue
        if first is not None and i - first >= RUN_MIN:
            yield first, i
        first = None


def _spelled(unit: wq.Query, leaves: list[_Leaf], start: int) -> Iterator[int]:
    """The phrase leaves of ``leaves[start:]`` (one unit's) when the unit is not a phrase
    as typed: the several-word spellings of a concept, a drug class or a record's name
    ("post-traumatic stress disorder"), a vocabulary fixed by the synonym file and the
    index, whose matches ``_Spelled`` keeps per segment like a long term's scores."""
    if not KEEP_SPELLINGS or getattr(unit, "quoted", True):
        return
    for i in range(start, len(leaves)):
        if isinstance(leaves[i].query, wq.Phrase):
            yield i


KEEP_SPELLINGS = True


# -- accumulation ----------------------------------------------------------------------------

@dataclass
class _Segment:
    offset: int
    acc: Any  # score per segment doc number: a list, or a dict of the matched ones
    mask: Any  # matched-words bits, the same way (empty when not coordinated)
    docs: list[int]  # matched, live, allowed documents (segment doc numbers)


@dataclass
class Tiers:
    """The ranking key of ranking.py's "tiers": per unit its weight in the tier's coverage
    (None: one tier, an uncoordinated query), and the understood intents (their ``docs``
    resolved to global document numbers)."""

    weights: tuple[float, ...] | None
    intents: list[Any]
    conditions: tuple[bool, ...] = ()  # per unit: names a condition (ranking.conditions_of)
    intent: float = 0.0  # what an intent weighs in the coverage (ranking.intent_weight)

    @property
    def span(self) -> int:
        return 2 * len(self.intents) + 1


class Matches:
    """Every matching document with its score; ``ranked`` pages them.  With ``tiers`` the
    score is ranking.py's key: tier x span + intents + squash(score)."""

    def __init__(self, searcher: Any, p: _Plan, segments: list[_Segment],
                 tiers: Tiers | None = None) -> None:
        self.searcher = searcher
        self.plan = p
        self.segments = segments
        self.total = sum(len(s.docs) for s in segments)
        self._cov: dict[int, float] = {}
        self._prior = priors_of(searcher)
        self.tiers = tiers
        self._tier_of: dict[tuple[int, tuple[int, ...]], int] = {}  # (mask, levels) -> key

    def docs(self) -> Iterator[int]:
        for s in self.segments:
            off = s.offset
            yield from (off + d for d in s.docs) if off else s.docs

    def _coverage(self, mask: int) -> float:
        c = self._cov.get(mask)
        if c is None:
            c = self._cov[mask] = _mask_coverage(self.plan, mask)
        return c

    @staticmethod
    def _coverage_for(p: _Plan) -> Any:
        """A cached mask -> coverage function for ``p``."""
        cache: dict[int, float] = {}

        def cov(mask: int) -> float:
            c = cache.get(mask)
            if c is None:
                c = cache[mask] = _mask_coverage(p, mask)
            return c
        return cov

    def _bases(self, segments: list[_Segment]) -> tuple[list[int], list[float]]:
        """Global doc numbers and their scores before the prior (with tiers: their keys,
        the prior not yet applied to the squashed score)."""
        gdocs: list[int] = []
        bases: list[float] = []
        coordinated = self.plan.coordinated
        tiers = self.tiers
        for s in segments:
            acc, off = s.acc, s.offset
            first = len(gdocs)
            gdocs.extend(map(off.__add__, s.docs) if off else s.docs)
            scores = map(acc.__getitem__, s.docs)
            if coordinated:
                # a few distinct masks: their coverages looked up, the products made in C
                masks = list(map(s.mask.__getitem__, s.docs))
                distinct = set(masks)
                cov = {m: self._coverage(m) for m in distinct}
                if tiers is not None and not tiers.intents:
                    # the common case in one pass: key + squash(score x coverage), each
                    # mask's key looked up (as below, without the lists between)
                    of = {m: self._tier_key(m, 0) for m in distinct}
                    bases.extend([k + x / (1.0 + x) for k, x in zip(
                        map(of.__getitem__, masks),
                        map(mul, scores, map(cov.__getitem__, masks)))])
                    continue
                part = list(map(mul, scores, map(cov.__getitem__, masks)))
            else:
                masks = None
                part = list(scores)
            if tiers is not None:
                docs_here = gdocs[first:]
                if masks is None:
                    masks = [0] * len(part)
                if tiers.intents:
                    keys = list(map(self._tier_key, masks, docs_here))
                else:  # a few distinct masks: their keys looked up
                    of = {m: self._tier_key(m, 0) for m in set(masks)}
                    keys = list(map(of.__getitem__, masks))
                part = [k + x / (1.0 + x) for k, x in zip(keys, part)]
            bases.extend(part)
        return gdocs, bases

    def _tier_key(self, mask: int, gdoc: int) -> int:
        """tier x span + intent levels for a document with a matched-words mask (0 for
        an uncoordinated query).  An intent counts in the tier's coverage as much as the
        query's heaviest unit (half when satisfied in part)."""
        tiers = self.tiers
        if tiers is None:
            return 0
        levels = tuple(i.level(gdoc) for i in tiers.intents)
        key = self._tier_of.get((mask, levels))
        if key is None:
            weights = tiers.weights
            if weights is not None:
                form = self.plan.form
                total = sum(weights) or 1.0
                covered = form.tier_coverage(mask, weights) * total
                heaviest = tiers.intent or max(weights) or 1.0
                first = form.names_the_disease(mask, weights, tiers.conditions, 2 in levels)
            else:
                total = covered = heaviest = 1.0
                first = False
            total += heaviest * len(levels)
            covered += heaviest * sum(levels) / 2
            key = self._tier_of[(mask, levels)] = rank(covered / total, first) * tiers.span \
                + sum(levels)
        return key

    def _final(self, gdoc: int, base: float) -> float:
        if self._prior is None:
            return base
        if self.tiers is not None:  # the prior scales the score, within the key
            key = float(int(base))
            return key + squash(unsquash(base - key) * (self._prior(gdoc) or 1000) / 1000)
        return base * (self._prior(gdoc) or 1000) / 1000

    def score(self, gdoc: int) -> float:
        """The final score of a matched document."""
        for s in reversed(self.segments):
            if gdoc >= s.offset:
                d = gdoc - s.offset
                base = s.acc[d] * self._coverage(s.mask[d]) if self.plan.coordinated \
                    else s.acc[d]
                if self.tiers is not None:
                    key = self._tier_key(s.mask[d] if self.plan.coordinated else 0, gdoc)
                    base = key + squash(base)
                return self._final(gdoc, base)
        raise KeyError(gdoc)

    def _top_tiers(self, k: int) -> list[_Segment]:
        """The segments with only the documents that can be among the ``k`` best: with
        tiers (and no intents, whose levels vary by document), a document's final score
        is its key (an int: tier x span) plus a squashed score in [0, 1), so every
        document of a key below the key of the ``k``-th best ranks below every document
        of that key or above.  Only those are scored (``_bases``): a drug-class query
        matches thousands of trials, most of them in the low tiers.  The keys come from
        the few distinct masks, looked up per document in C."""
        tiers = self.tiers
        if tiers is None or tiers.intents or not self.plan.coordinated or k >= self.total:
            return self.segments
        count: Counter[int] = Counter()
        per: list[list[int]] = []
        for s in self.segments:
            masks = list(map(s.mask.__getitem__, s.docs))
            of = {m: self._tier_key(m, 0) for m in set(masks)}
            keys = list(map(of.__getitem__, masks))
            count.update(keys)
            per.append(keys)
        seen = 0
        for least in sorted(count, reverse=True):
            seen += count[least]
            if seen >= k:
                break
        if seen == self.total:
            return self.segments
        return [_Segment(s.offset, s.acc, s.mask, list(compress(s.docs, map(least.__le__, keys))))
                for s, keys in zip(self.segments, per)]

    def ranked(self, k: int | None) -> list[tuple[int, float]]:
        """The ``k`` best (global doc number, score), best first (all of them for None);
        equal scores in doc number order, as Whoosh's collector orders them."""
        if k is not None and k <= 0:
            return []
        gdocs, bases = self._bases(self.segments if k is None else self._top_tiers(k))
        n = len(gdocs)
        if k is None or k >= n:
            out = [(g, self._final(g, b)) for g, b in zip(gdocs, bases)]
            out.sort(key=lambda gs: (-gs[1], gs[0]))
            return out if k is None else out[:k]
        m = k
        while True:
            m = min(n, max(m, 2 * k + 8))
            thr = heapq.nlargest(m, bases)[-1]
            pool = list(compress(range(n), map(thr.__le__, bases)))
            out = [(gdocs[i], self._final(gdocs[i], bases[i])) for i in pool]
            out.sort(key=lambda gs: (-gs[1], gs[0]))
            if len(pool) == n or len(out) < k:
                return out[:k]
            # a document outside the pool has a base below thr, so a final score below
            # thr x PRIOR_MAX / 1000: the page is complete once its last score is above that
            if thr * PRIOR_MAX / 1000 * (1 + 1e-12) <= out[k - 1][1]:
                return out[:k]
            m *= 4


def priors_of(searcher: Any) -> Callable[[int], Any] | None:
    """Global doc number -> its stored ``prior`` (what ``reader.column_reader("prior")``
    gives), or None when the index has no such column; kept with the searcher's ``Terms``.

    The column reader goes through four layers of Python calls per document; here each
    segment's column is read whole once (``column_numbers``, kept per segment) and a raw
    value translated as the field translates it (a few distinct values)."""
    terms = terms_of(searcher)
    if terms.priors is not None:
        return terms.priors or None
    reader = searcher.reader()
    found: Callable[[int], Any] | None = None
    if reader.has_column("prior"):
        found = reader.column_reader("prior").__getitem__
        columns = [column_numbers(seg, "prior") if native(seg) and seg.has_column("prior")
                   else None for _sub, _off, seg in terms.leaves]
        if columns and all(c is not None for c in columns):
            found = _SegmentPriors([off for _sub, off, _seg in terms.leaves], columns,
                                   searcher.schema["prior"].from_column_value)
    terms.priors = found or False
    return found


class _SegmentPriors:
    def __init__(self, offsets: list[int], columns: list[Any],
                 translate: Callable[[Any], Any]) -> None:
        self.offsets, self.columns, self.translate = offsets, columns, translate
        self.values: dict[Any, Any] = {}  # raw -> translated

    def __call__(self, gdoc: int) -> Any:
        k = bisect_right(self.offsets, gdoc) - 1
        raw = self.columns[k][gdoc - self.offsets[k]]
        value = self.values.get(raw)
        if value is None:
            value = self.values[raw] = self.translate(raw)
        return value


def _mask_coverage(p: _Plan, mask: int) -> float:
    return p.form.coverage(mask, p.weights, p.power)


def _scorer_params(terms: Terms, fieldname: str, text: str
                   ) -> tuple[float, float, float, float] | None:
    """(idf, average field length, B, K1) of a term scored by BM25F; None for another
    weighting or an unscored field (its Whoosh matcher scores it then)."""
    key = (fieldname, text)
    if key in terms.params:
        return terms.params[key]
    searcher = terms.searcher
    w = searcher.weighting
    out = None
    if type(w) is BM25F and searcher.schema[fieldname].scorable:
        B = w._field_B.get(fieldname, w.B)
        out = terms.idf(fieldname, text), searcher.avg_field_length(fieldname) or 1, B, w.K1
    terms.params[key] = out
    return out


@lru_cache(maxsize=1024)
def _norms(avgfl: float, B: float, K1: float) -> tuple[float, ...]:
    """K1 x (1 - B + B x field length / avgfl) for each encoded field length (0-255)."""
    return tuple(K1 * ((1 - B) + B * byte_to_length(x) / avgfl) for x in range(256))


def _term_scores(terms: Terms, k: int, info: Any, fieldname: str, text: str,
                 params: tuple[float, float, float, float]) -> tuple[Any, Any]:
    """(doc ids, BM25F scores before the leaf's boost) of a term in leaf searcher ``k``.
    Long lists are kept (``Terms.scores``): a warm searcher reads a common word once."""
    idf, avgfl, B, K1 = params
    K1p = K1 + 1
    if info.is_inlined() and info.doc_frequency() < 256:
        # A short list kept in the term table (most rare words' lists): scored as below
        # without the block reader's generator, or a key for a cache it never enters.
        seg = terms.leaves[k][2]
        lb = lengths(seg, fieldname)
        den = _norms(avgfl, B, K1)
        ids, ws, _ = info.inlined_postings()
        if ws is None:
            ws = (1.0,) * len(ids)
        return ids, [idf * ((tf * K1p) / (tf + den[lb[d]])) for d, tf in zip(ids, ws)]
    key = (k, fieldname, text)
    found = terms.scores.get(key)
    if found is not None:
        terms.scores[key] = terms.scores.pop(key)  # most recently used last
        return found
    _sub, _offset, seg = terms.leaves[k]
    lb = lengths(seg, fieldname)
    # Whoosh: bm25 = idf * ((tf * (K1 + 1)) / (tf + K1 * ((1 - B) + B * fl / avgfl)))
    den = _norms(avgfl, B, K1)
    one = _ones(idf, avgfl, B, K1) if info.doc_frequency() >= 256 else None
    ids = []
    scores: Any = []
    for block, ws in info_blocks(seg, fieldname, seg.schema[fieldname].to_bytes(text), info):
        ids.extend(block)
        if ws is None and one is not None:
            scores.extend(map(one.__getitem__, map(lb.__getitem__, block)))
            continue
        if ws is None or isinstance(ws, float):
            ws = (1.0 if ws is None else ws,) * len(block)
        if one is not None:  # most frequencies are 1: the table has their scores
            scores.extend([one[lb[d]] if tf == 1.0 else idf * ((tf * K1p) / (tf + den[lb[d]]))
                           for d, tf in zip(block, ws)])
        else:
            scores.extend([idf * ((tf * K1p) / (tf + den[lb[d]])) for d, tf in zip(block, ws)])
    if len(ids) >= SCORE_CACHE_MIN:
        ids, scores = array("i", ids), array("d", scores)
        terms.keep_scores(key, ids, scores)
    return ids, scores


SCORE_CACHE_MIN = 512  # postings: shorter lists are read again when needed


@lru_cache(maxsize=1024)
def _ones(idf: float, avgfl: float, B: float, K1: float) -> tuple[float, ...]:
    """BM25F of tf = 1 for each encoded field length."""
    return tuple(idf * ((1.0 * (K1 + 1)) / (1.0 + x)) for x in _norms(avgfl, B, K1))


def _add_term(terms: Terms, k: int, info: Any, acc: Any, mask: Any, leaf: _Leaf,
              params: tuple[float, float, float, float], allowed: set[int] | None) -> None:
    term = leaf.query
    ids, scores = _term_scores(terms, k, info, term.fieldname, term.text, params)
    boost = term.boost  # Whoosh: x boost (a WrappingMatcher) when it is not 1
    if allowed is not None:
        pairs = [(d, s) for d, s in zip(ids, scores) if d in allowed]
        ids = [d for d, _ in pairs]
        scores = [s for _, s in pairs]
    if boost != 1.0:
        scores = [s * boost for s in scores]
    bits = leaf.bits
    if isinstance(acc, dict):
        get = acc.get
        if mask is None:
            for d, s in zip(ids, scores):
                acc[d] = get(d, 0.0) + s
        else:  # the score and the matched words in one pass
            mget = mask.get
            for d, s in zip(ids, scores):
                acc[d] = get(d, 0.0) + s
                mask[d] = mget(d, 0) | bits
    elif mask is None:
        for d, s in zip(ids, scores):
            acc[d] += s
    else:
        for d, s in zip(ids, scores):
            acc[d] += s
            mask[d] |= bits


def _add_matcher(subsearcher: Any, context: Any, acc: list[float], mask: list[int],
                 leaf: _Leaf, allowed: set[int] | None) -> None:
    m = leaf.query.matcher(subsearcher, context)
    bits = leaf.bits
    while m.is_active():
        d = m.id()
        if allowed is None or d in allowed:
            acc[d] += m.score()
            mask[d] |= bits
        m.next()


def evaluate(searcher: Any, q: wq.Query, allowed: list[set[int] | None] | None = None,
             *, tiered: bool = False, intents: list[Any] | None = None) -> Matches | None:
    """Every document matching ``q``, scored as Whoosh scores it (``Prior`` included);
    ``allowed``: per leaf searcher, the documents a filter keeps (None: all).

    A unit or a coordinated OR of units (what a query of words is) is accumulated leaf by
    leaf; AND, OR, ANDNOT, ANDMAYBE and NOT combine their parts' results as Whoosh's
    matchers do (sums of the parts' scores; NOT scores 1).  None for anything else at the
    top (the caller then uses Whoosh's collector)."""
    terms = terms_of(searcher)
    top = q.child if isinstance(q, Prior) else q
    p = plan(searcher, top, terms)
    if p is None:
        if not _supported(top):
            return None
        p = _Plan([])  # scores come whole from the parts: no coverage at the top
        parts = [_combine(searcher, terms, top, k, allowed[k] if allowed else None)
                 for k in range(len(terms.leaves))]
        segments = []
        for k, found in enumerate(parts):
            _sub, offset, seg = terms.leaves[k]
            ok = allowed[k] if allowed is not None else None
            docs = sorted(found if ok is None else (d for d in found if d in ok))
            segments.append(_Segment(offset, found, [], _live(seg, docs)))
        return Matches(searcher, p, segments)
    segments = []
    for k, (_sub, offset, seg) in enumerate(terms.leaves):
        acc, mask = _accumulate(searcher, terms, p, k, allowed[k] if allowed else None)
        docs = _live(seg, list(_matched(acc, mask)))
        segments.append(_Segment(offset, acc, mask if mask is not None else [], docs))
    tiers = None
    if tiered and (p.coordinated or intents):
        weights = conditions = None
        if p.coordinated:
            conditions = conditions_of(searcher, top.units, terms.doc_frequency)
            weights = tier_weights(searcher, top.units, terms.doc_frequency, conditions)
        tiers = Tiers(weights, list(intents or []), conditions or (),
                      intent_weight(top.units, weights) if weights else 0.0)
    return Matches(searcher, p, segments, tiers)


def _live(seg: Any, docs: list[int]) -> list[int]:
    if seg.has_deletions():
        deleted = seg.deleted_docs_set
        return [d for d in docs if d not in deleted]
    return docs


def _accumulate(searcher: Any, terms: Terms, p: _Plan, k: int, ok: set[int] | None
                ) -> tuple[Any, Any]:
    """One segment's score and matched-words accumulators for the plan's leaves: lists
    indexed by document, or dicts when only BM25F terms with few postings are summed (a
    rare query should not cost a pass over every document).  No mask (None) when only
    BM25F terms are summed without coordination: then every matched document has a
    positive score, and the scores say which matched."""
    sub, _offset, seg = terms.leaves[k]
    n = seg.doc_count_all()
    fast = native(seg)
    params = [_scorer_params(terms, leaf.query.fieldname, leaf.query.text)
              if fast and isinstance(leaf.query, wq.Term) else None for leaf in p.leaves]
    terms_only = all(prm is not None for prm in params)
    infos = [terms.infos(leaf.query.fieldname, leaf.query.text)[k] if prm is not None
             else None for leaf, prm in zip(p.leaves, params)]
    postings = sum(i.doc_frequency() for i in infos if i is not None)
    sparse = terms_only
    if not terms_only and fast:
        # a kept spelling adds into dicts too; it matches at most its rarest word's documents
        sparse = True
        for j, (leaf, prm) in enumerate(zip(p.leaves, params)):
            if prm is not None:
                continue
            if j not in p.spelled or not _spelled_here(terms, leaf.query, seg):
                sparse = False
                break
            found = [terms.infos(leaf.query.fieldname, w)[k] for w in leaf.query.words]
            postings += min((0 if i is None else i.doc_frequency() for i in found), default=0)
    sparse = sparse and postings * SPARSE_SHARE < n
    acc: Any = {} if sparse else [0.0] * n
    mask: Any = None
    if p.coordinated or not terms_only:
        mask = {} if sparse else [0] * n
    context = None
    i, n_leaves = 0, len(p.leaves)
    while i < n_leaves:
        leaf, prm, info = p.leaves[i], params[i], infos[i]
        end = p.runs.get(i)
        if end is not None and all(x is not None for x in params[i:end]):
            _Run.of(terms, k, p.leaves[i:end], params[i:end], infos[i:end]).add(
                acc, mask, [x.bits for x in p.leaves[i:end]], ok)
            i = end
            continue
        i += 1
        if prm is not None:
            if info is not None:
                _add_term(terms, k, info, acc, mask, leaf, prm, ok)
        elif not (fast and isinstance(leaf.query, wq.Phrase)
                  and (_Spelled.add(terms, k, acc, mask, leaf, ok) if i - 1 in p.spelled
                       else _add_phrase(terms, k, acc, mask, leaf, ok))):
            context = context or searcher.context()
            _add_matcher(sub, context, acc, mask, leaf, ok)
    return acc, mask


def _spelled_here(terms: Terms, q: wq.Query, seg: Any) -> bool:
    """Whether ``_add_phrase`` takes the phrase ``q`` in segment ``seg`` (then ``_Spelled``
    never falls back to Whoosh's matcher, and can add into dicts)."""
    fmt = seg.schema[q.fieldname].format
    return bool(q.words) and q.slop == 1 and fmt.supports("positions") and all(
        _scorer_params(terms, q.fieldname, w) is not None for w in q.words)


class _Spelled:
    """A phrase leaf's matches in one segment (``_add_phrase`` without a filter, with
    boost 1: each document's BM25F sum of the words), kept with the searcher; added as
    ``_add_phrase`` adds them (x the leaf's boost, the same expression), so the sums are
    the same to the last bit."""

    __slots__ = ("ids", "scores", "size")

    def __init__(self, ids: list[int], scores: list[float]) -> None:
        self.ids, self.scores, self.size = ids, scores, len(ids)

    @classmethod
    def add(cls, terms: Terms, k: int, acc: Any, mask: Any, leaf: _Leaf,
            ok: set[int] | None) -> bool:
        q = leaf.query
        key = (k, ("phrase", q.fieldname, tuple(q.words), q.slop))
        found = terms.runs.get(key)
        if found is None:
            one = copy(q)
            one.boost = 1.0
            got: defaultdict[int, float] = defaultdict(float)
            if not _add_phrase(terms, k, got, defaultdict(int), _Leaf(one, 1), None):
                return False
            found = cls(list(got), list(got.values()))
            terms.keep_run(key, found)
        else:
            terms.runs[key] = terms.runs.pop(key)  # most recently used last
        boost, bits = q.boost, leaf.bits
        if isinstance(acc, dict):  # a new document: 0.0 + s, as in a list
            get, mget = acc.get, mask.get
            for d, s in zip(found.ids, found.scores):
                if ok is None or d in ok:
                    acc[d] = get(d, 0.0) + (s * boost if boost != 1.0 else s)
                    mask[d] = mget(d, 0) | bits
            return True
        for d, s in zip(found.ids, found.scores):
            if ok is None or d in ok:
                acc[d] += s * boost if boost != 1.0 else s
                mask[d] |= bits
        return True


class _Run:
    """A run of BM25F term leaves (``_runs``) in one segment, its postings concatenated in
    leaf order: each posting's document, its score x the leaf's boost (what ``_add_term``
    adds) and its leaf's index.  Adding them in that order does the floating-point
    additions of the leaves one by one, each document's in the same order, so the sums are
    the same to the last bit; the leaves' bits (the query's word numbering) are given per
    query.  Made from the leaves' scored lists by ``extend`` (C), so a first use costs
    about what adding the leaves costs."""

    __slots__ = ("ids", "scores", "leaf", "size")

    def __init__(self, terms: Terms, k: int, leaves: list[_Leaf],
                 params: list[Any], infos: list[Any]) -> None:
        self.ids: Any = array("i")
        self.scores: Any = array("d")
        self.leaf: Any = array("i")
        for j, (leaf, prm, info) in enumerate(zip(leaves, params, infos)):
            if info is None:
                continue
            term = leaf.query
            ids, scores = _term_scores(terms, k, info, term.fieldname, term.text, prm)
            boost = term.boost
            self.ids.extend(ids)
            self.scores.extend([s * boost for s in scores] if boost != 1.0 else scores)
            self.leaf.extend(repeat(j, len(ids)))
        self.size = len(self.ids)

    @classmethod
    def of(cls, terms: Terms, k: int, leaves: list[_Leaf], params: list[Any],
           infos: list[Any]) -> _Run:
        """The run's postings in leaf searcher ``k``, kept with the searcher."""
        key = (k, tuple((x.query.fieldname, x.query.text, x.query.boost) for x in leaves))
        found = terms.runs.get(key)
        if found is None:
            found = cls(terms, k, leaves, params, infos)
            terms.keep_run(key, found)
        else:
            terms.runs[key] = terms.runs.pop(key)  # most recently used last
        return found

    def add(self, acc: Any, mask: Any, bits: list[int], ok: set[int] | None) -> None:
        """Add the run's scores (and the leaves' ``bits``) as ``_add_term`` adds each."""
        ids, scores, leaf = self.ids, self.scores, self.leaf
        if ok is not None:
            keep = list(map(ok.__contains__, ids))
            ids = list(compress(ids, keep))
            scores = list(compress(scores, keep))
            leaf = list(compress(leaf, keep))
        if isinstance(acc, dict):
            get = acc.get
            if mask is None:
                for d, s in zip(ids, scores):
                    acc[d] = get(d, 0.0) + s
            else:
                mget = mask.get
                for d, s, b in zip(ids, scores, map(bits.__getitem__, leaf)):
                    acc[d] = get(d, 0.0) + s
                    mask[d] = mget(d, 0) | b
        elif mask is None:
            for d, s in zip(ids, scores):
                acc[d] += s
        else:
            for d, s, b in zip(ids, scores, map(bits.__getitem__, leaf)):
                acc[d] += s
                mask[d] |= b


SPARSE_SHARE = 8  # dicts when the postings are fewer than 1/8 of the segment's documents


def _matched(acc: Any, mask: Any) -> Iterable[int]:
    """The documents ``_accumulate`` found, in document order."""
    if isinstance(acc, dict):
        return sorted(acc)
    return compress(range(len(acc)), acc if mask is None else mask)


def _add_phrase(terms: Terms, k: int, acc: list[float] | dict[int, float],
                mask: list[int] | dict[int, int], leaf: _Leaf,
                ok: set[int] | None) -> bool:
    """Whoosh's ``Phrase`` (``SpanNear2``, slop 1, ordered): the documents with the words at
    consecutive positions, scored as the sum of the words' BM25F scores (summed as
    ``make_binary_tree`` pairs them) x the phrase's boost.  False when it cannot be done
    here (the caller then uses Whoosh's matcher)."""
    q = leaf.query
    fieldname, words = q.fieldname, list(q.words)
    _sub, _offset, seg = terms.leaves[k]
    fmt = seg.schema[fieldname].format
    if not words or q.slop != 1 or not fmt.supports("positions"):
        return False
    scored = [_scorer_params(terms, fieldname, w) for w in words]
    params = [prm for prm in scored if prm is not None]
    if len(params) < len(scored):
        return False
    infos = [terms.infos(fieldname, w)[k] for w in words]
    if any(info is None for info in infos):
        return True  # a word absent here: no match in this segment
    n = len(words)
    if n == 2:
        pair = pair_term(fieldname, words[0], words[1])
        if pair is not None and has_pairs(seg):
            _add_pair(terms, k, acc, mask, leaf, ok, pair, infos, params)
            return True
    tbytes = [seg.schema[fieldname].to_bytes(w) for w in words]
    # each word's frequency and (still encoded) positions in the documents having every
    # word, from one read of its posting blocks (rarest word first, so each next word is
    # only read for the documents still in the running, in the blocks that can hold them)
    freqs: list[dict[int, float]] = [{}] * n
    raws: list[dict[int, Any]] = [{}] * n
    keep: Any = ok
    for i in sorted(range(n), key=lambda i: infos[i].doc_frequency()):
        found: dict[int, float] = {}
        raw: dict[int, Any] = {}
        within = sorted(keep) if keep is not None and keep is not ok else None
        for ids, ws, values in _blocks_with_values(seg, fieldname, tbytes[i], infos[i], fmt,
                                                   within):
            if keep is None:
                found.update(zip(ids, ws))
                raw.update(zip(ids, values))
            else:
                wanted = list(map(keep.__contains__, ids))
                found.update(compress(zip(ids, ws), wanted))
                raw.update(compress(zip(ids, values), wanted))
        if not found:
            return True
        freqs[i], raws[i] = found, raw
        keep = found.keys()
    candidates: set[Any] | list[Any] = set(keep)
    # Whoosh's own Positions format: its values' deltas are read by _deltas_of (below);
    # another positions format through its decoder
    checked = type(fmt) is Positions  # then the candidates left below are the matches
    decode = fmt.decode_positions
    lb = lengths(seg, fieldname)
    boost, bits = q.boost, leaf.bits
    # positions are decoded document by document, a next word's only while starts remain
    first, rest = raws[0], [(raws[i], (-i).__add__) for i in range(1, n)]
    scorers = [(freqs[i], idf, K1 + 1, _norms(avgfl, B, K1))
               for i, (idf, avgfl, B, K1) in enumerate(params)]
    if n == 2 and checked:
        # the common case: each word's position deltas of every candidate from one
        # ``pickle.loads`` (_deltas_of); a document matches when a position of the second
        # word, less one, is one of the first's; ``accumulate(..., initial=-1)`` gives those
        # positions less one after a -1, which no position equals
        order = list(candidates)
        candidates = [d for d, a, b in zip(order, _deltas_of(first, order),
                                           _deltas_of(rest[0][0], order))
                      if not set(accumulate(a)).isdisjoint(accumulate(b, initial=-1))]
    elif checked:
        # the same for three words or more, a candidate at a time: the first word's
        # positions intersected with each next word's shifted back by its place
        # (``initial=-i``: a -i first, which no position equals), while starts remain
        order = list(candidates)
        deltas = [_deltas_of(raws[i], order) for i in range(n)]
        candidates = []
        for j, d in enumerate(order):
            starts = set(accumulate(deltas[0][j]))
            for i in range(1, n):
                starts.intersection_update(accumulate(deltas[i][j], initial=-i))
                if not starts:
                    break
            if starts:
                candidates.append(d)
    if checked and n == 2:
        # the two words' BM25F scores as below, without the list and the loop
        (f0, idf0, k0, norms0), (f1, idf1, k1, norms1) = scorers
        for d in candidates:
            length = lb[d]
            tf = f0[d]
            s0 = idf0 * ((tf * k0) / (tf + norms0[length]))
            tf = f1[d]
            s = s0 + idf1 * ((tf * k1) / (tf + norms1[length]))
            acc[d] += s * boost if boost != 1.0 else s
            mask[d] |= bits
        return True
    for d in candidates:
        # another positions format: the same test through its decoder
        if not checked:
            if n == 2:
                if set(decode(first[d])).isdisjoint(map(rest[0][1], decode(rest[0][0][d]))):
                    continue
            else:
                starts = set(decode(first[d]))
                for raw, back in rest:
                    if not starts:
                        break
                    starts.intersection_update(map(back, decode(raw[d])))
                if not starts:
                    continue
        length = lb[d]
        scores = []
        for freq, idf, k1_1, norms in scorers:
            tf = freq[d]
            scores.append(idf * ((tf * k1_1) / (tf + norms[length])))
        s = _tree_sum(scores)
        acc[d] += s * boost if boost != 1.0 else s
        mask[d] |= bits
    return True


# Per segment reader: whether every document has index/pairs.py's MARKER (pairs written with
# this table).  Weak keys: a closed searcher's readers go away with it.
_PAIRED: WeakKeyDictionary[Any, bool] = WeakKeyDictionary()


def has_pairs(seg: Any) -> bool:
    """Whether ``seg``'s two-word phrases with a common word can be read from its pairs
    field: every document of it (deleted ones too: they are dropped later) was written with
    this table's pairs."""
    found = _PAIRED.get(seg)
    if found is None:
        try:
            info = seg._terms.term_info(PAIRS_FIELD, PAIRS_MARKER.encode("utf-8"))
            found = info.doc_frequency() == seg.doc_count_all()
        except (TermNotFound, KeyError):
            found = False
        _PAIRED[seg] = found
    return found


def _add_pair(terms: Terms, k: int, acc: list[float] | dict[int, float],
              mask: list[int] | dict[int, int], leaf: _Leaf,
              ok: set[int] | None, pair: str, infos: list[Any],
              params: list[tuple[float, float, float, float]]) -> None:
    """``_add_phrase`` of a two-word phrase with a common word, in a segment with pairs
    (``has_pairs``): the documents are the pair term's, each scored as there, from the two
    words' BM25F scores (``_term_scores``: the same formula, kept for long lists)."""
    q = leaf.query
    fieldname = q.fieldname
    _sub, _offset, seg = terms.leaves[k]
    info = terms.infos(PAIRS_FIELD, pair)[k]
    if info is None:
        return
    docs: list[int] = []
    for ids, _ in info_blocks(seg, PAIRS_FIELD, pair.encode("utf-8"), info):
        docs.extend(ids)
    if ok is not None:
        docs = [d for d in docs if d in ok]
    if not docs:
        return
    ids0, scores0 = _term_scores(terms, k, infos[0], fieldname, q.words[0], params[0])
    ids1, scores1 = _term_scores(terms, k, infos[1], fieldname, q.words[1], params[1])
    s0s = map(scores0.__getitem__, map(bisect_left, repeat(ids0), docs))
    s1s = map(scores1.__getitem__, map(bisect_left, repeat(ids1), docs))
    boost, bits = q.boost, leaf.bits
    for d, s0, s1 in zip(docs, s0s, s1s):
        s = s0 + s1
        acc[d] += s * boost if boost != 1.0 else s
        mask[d] |= bits


def _tree_sum(values: list[float]) -> float:
    """Sum in the order of ``whoosh.util.make_binary_tree`` (a + (b + c))."""
    if len(values) == 1:
        return values[0]
    if len(values) == 2:  # the common phrases, without the recursion (same order)
        return values[0] + values[1]
    if len(values) == 3:
        return values[0] + (values[1] + values[2])
    if len(values) == 4:
        return (values[0] + values[1]) + (values[2] + values[3])
    half = len(values) // 2
    return _tree_sum(values[:half]) + _tree_sum(values[half:])


def _deltas_of(values: dict[int, bytes], docs: list[int]) -> list[Any]:
    """The position deltas (what ``Positions.decode_positions`` sums) of ``values[d]`` for each of
    ``docs``, from one ``pickle.loads``: each value is a pickled sequence behind the 4-byte
    count (with or without the STOP opcode; with a protocol header and memo opcodes from
    Whoosh's writer, without from fastwriter's), so the values' pickles between a MARK and
    a LIST are the pickle of the list of them (a memo slot a value sets is only read back
    by that value)."""
    body = b"".join([v[4:-1] if v[-1] == 46 else v[4:]  # 46: b"." (STOP)
                     for v in map(values.__getitem__, docs)])
    return pickle.loads(b"(" + body + b"l.")


def _blocks_with_values(seg: Any, fieldname: str, tbytes: bytes, info: Any, fmt: Any,
                        within: list[int] | None) -> Iterator[tuple[Any, Any, Any]]:
    """(doc ids, weights, encoded values) of each posting block of a term, weights as
    ``info_blocks`` gives them (a block's one weight or none spelled out per posting); with
    ``within`` (sorted doc ids), only the blocks that can hold one of them."""
    if info.is_inlined():
        ids, weights, values = info.inlined_postings()
        ws = (1.0,) * len(ids) if weights is None else tuple(weights)
        yield tuple(ids), ws, values
        return
    terms = seg._terms
    m = terms._codec.postings_reader(terms._postfile, info, fmt, term=(fieldname, tbytes))
    if not isinstance(m, W3LeafMatcher):
        ids, wl, vl = [], [], []
        while m.is_active():
            ids.append(m.id())
            wl.append(m.weight())
            vl.append(m.value())
            m.next()
        yield ids, tuple(wl), vl
        return
    fast = not m._byteids and (m._fixedsize is None or m._fixedsize < 0)
    after = -1  # the previous block's last id
    while True:
        maxid = m._maxid
        i = 0 if within is None else bisect_right(within, after)
        after = maxid
        if within is None or (i < len(within) and within[i] <= maxid):
            if fast:
                # _read_data, _read_ids, _read_weights and _read_values in one, the ids
                # summed by ``accumulate`` (C) instead of Whoosh's delta_decode generator
                data = m._postfile.get(m._dataoffset, m._nextoffset - m._dataoffset)
                block = pickle.loads(zlib.decompress(data) if m._compression else data)
                ids, ws, values = tuple(accumulate(block[0])), block[1], block[2]
                if ws is None or isinstance(ws, (float, int)):
                    ws = (1.0 if ws is None else ws,) * len(ids)
            else:
                m._read_data()
                m._read_ids()
                m._read_weights()
                m._read_values()
                ids, ws, values = m._ids, tuple(m._weights), m._values
            yield ids, ws, values
        elif within is not None and i == len(within):
            return
        if m._lastblock:
            return
        m._goto(m._nextoffset)


_COMBINED = (wq.And, wq.Or, wq.AndNot, wq.AndMaybe, wq.Not)


def _supported(q: wq.Query) -> bool:
    """Whether ``_combine`` evaluates ``q`` itself at the top (else Whoosh does)."""
    return isinstance(q, _COMBINED)


def _combine(searcher: Any, terms: Terms, q: wq.Query, k: int, ok: set[int] | None
             ) -> dict[int, float]:
    """{segment doc number: score} of ``q`` in leaf searcher ``k`` (deleted documents may
    be included; the caller drops them)."""
    p = plan(searcher, q, terms)
    if p is not None:
        acc, mask = _accumulate(searcher, terms, p, k, ok)
        docs = _matched(acc, mask)
        if p.coordinated and mask is not None:
            cov = Matches._coverage_for(p)
            return {d: acc[d] * cov(mask[d]) for d in docs}
        return {d: acc[d] for d in docs}
    if isinstance(q, wq.Not):
        sub, _offset, seg = terms.leaves[k]
        inner = _combine(searcher, terms, q.query, k, ok)
        every = ok if ok is not None else range(seg.doc_count_all())
        return {d: 1.0 for d in every if d not in inner}
    if isinstance(q, wq.AndNot):
        a = _combine(searcher, terms, q.a, k, ok)
        b = _combine(searcher, terms, q.b, k, ok) if a else {}
        return {d: s for d, s in a.items() if d not in b}
    if isinstance(q, wq.AndMaybe):
        a = _combine(searcher, terms, q.a, k, ok)
        b = _combine(searcher, terms, q.b, k, ok) if a else {}
        return {d: s + b[d] if d in b else s for d, s in a.items()}
    if isinstance(q, (wq.And, wq.Or)):
        parts = [_combine(searcher, terms, sq, k, ok) for sq in q.subqueries]
        if not parts:
            return {}
        out = dict(parts[0])
        if isinstance(q, wq.And):
            for part in parts[1:]:
                out = {d: s + part[d] for d, s in out.items() if d in part}
        else:
            for part in parts[1:]:
                for d, s in part.items():
                    out[d] = out[d] + s if d in out else s
        if q.boost != 1.0:
            out = {d: s * q.boost for d, s in out.items()}
        return out
    # anything else: its own Whoosh matcher
    sub, _offset, seg = terms.leaves[k]
    m = q.matcher(sub, searcher.context())
    out = {}
    while m.is_active():
        d = m.id()
        if ok is None or d in ok:
            out[d] = m.score()
        m.next()
    return out


def filter_sets(searcher: Any, flt: wq.Query | None) -> list[Any] | None:
    """Per leaf searcher, the documents ``flt`` keeps (None: no filter)."""
    if flt is None:
        return None
    terms = terms_of(searcher)
    return [_docs(flt, terms, k) for k in range(len(terms.leaves))]


def _docs(q: wq.Query, terms: Terms, k: int) -> set[int] | frozenset[int]:
    sub, _offset, seg = terms.leaves[k]
    if isinstance(q, wq.Term) and native(seg):
        key = (k, q.fieldname, q.text)
        found = terms.filters.get(key)
        if found is None:
            info = terms.infos(q.fieldname, q.text)[k]
            ids: set[int] = set()
            if info is not None:
                tbytes = seg.schema[q.fieldname].to_bytes(q.text)
                for block, _ in info_blocks(seg, q.fieldname, tbytes, info):
                    ids.update(block)
                if seg.has_deletions():
                    ids -= seg.deleted_docs_set
            found = frozenset(ids)
            terms.keep_filter(key, found)
        return found
    if isinstance(q, wq.Or):
        out: set[int] = set()
        for sq in q.subqueries:
            out |= _docs(sq, terms, k)
        return out
    if isinstance(q, wq.And):
        parts = sorted((_docs(sq, terms, k) for sq in q.subqueries), key=len)
        both = parts[0]
        for part in parts[1:]:
            both = both & part  # a new set: the parts may be kept ones
        return both
    return frozenset(q.docs(sub))


# -- a field's terms, read straight from the term table --------------------------------------

_TERMINFO = struct.Struct("!BfIBBfII")  # W3TermInfo: flags, weight, df, lengths, max weight,
_NO_ID = 0xFFFFFFFF                     # first and last doc id
_LENGTHS_PAIR = struct.Struct("!ii")  # a hash file record: key length, value length


def term_table(seg: Any, fieldname: str) -> bytes:
    """The segment's term table records of ``fieldname`` (a hash file's key/value records,
    in key order): ``keylen, datalen`` ("!ii"), the key (field number + term bytes), the
    value (a ``W3TermInfo``: ``_TERMINFO``, then the postings' place or inlined postings)."""
    terms = seg._terms
    fnum = terms._fieldmap.get(fieldname)
    if fnum is None:
        return b""
    tindex = terms._tindex
    start = tindex.closest_key_pos(struct.pack("!H", fnum))
    if start is None:
        return b""
    end = tindex.closest_key_pos(struct.pack("!H", fnum + 1)) if fnum < 65535 else None
    end = tindex.endofdata if end is None else end
    return tindex.dbfile.get(start, end - start)


# the flags (1: postings inlined), doc frequency, first and last doc id of a W3TermInfo
TERM_STATS = struct.Struct("!B4xI6xII")
TERMINFO_SIZE = _TERMINFO.size
RECORD_LENGTHS = _LENGTHS_PAIR


def field_terms(seg: Any, fieldname: str) -> Iterator[tuple[bytes, int, int, int]]:
    """(term bytes, doc frequency, first doc id, last doc id) of every term of ``fieldname``
    in a segment, in term order.

    Whoosh's ``iter_field`` decodes a ``W3TermInfo`` per term (and unpickles inlined
    postings); a prefix or stem lookup only needs the terms and their frequencies, and a
    facet count the id range too, which for the commonest terms (one or two documents) says
    which documents they are.  (A caller that needs a term's ``W3TermInfo`` asks
    ``Terms.infos``.)
    """
    buf = term_table(seg, fieldname)
    unpack_lengths, unpack_stats = _LENGTHS_PAIR.unpack_from, TERM_STATS.unpack_from
    pos, stop = 0, len(buf)
    while pos < stop:
        keylen, datalen = unpack_lengths(buf, pos)
        vpos = pos + 8 + keylen
        _flags, df, minid, maxid = unpack_stats(buf, vpos)
        yield (buf[pos + 10:vpos], df, -1 if minid == _NO_ID else minid,
               -1 if maxid == _NO_ID else maxid)
        pos = vpos + datalen


PREFIX_LOOKUPS = 16
# Per segment reader: a field's term bytes and doc frequencies, in term order, for prefix
# lookups (``prefix_terms``), and how many lookups were made before it was read.  Weak
# keys: a closed searcher's readers go away with it.
_SORTED_TERMS: WeakKeyDictionary[Any, dict[Any, Any]] = WeakKeyDictionary()


def _sorted_terms(seg: Any, fieldname: str) -> tuple[list[bytes], list[int]]:
    per = _SORTED_TERMS.get(seg)
    if per is None:
        per = _SORTED_TERMS[seg] = {}
    found = per.get(fieldname)
    if found is None:
        keys: list[bytes] = []
        dfs: list[int] = []
        for tbytes, df, _first, _last in field_terms(seg, fieldname):
            keys.append(tbytes)
            dfs.append(df)
        found = per[fieldname] = (keys, dfs)
    return found


def prefix_terms(reader: Any, fieldname: str, prefix: bytes) -> list[tuple[bytes, int]] | None:
    """The terms of ``fieldname`` that start with ``prefix``, in order, each with its document
    frequency summed over the segments: ``reader.expand_prefix`` and ``doc_frequency``,
    read from an in-memory copy of the field's term table (made once per segment reader)
    where Whoosh does a binary search of file reads per segment and per call.  The copy is
    made at a reader's PREFIX_LOOKUPS-th lookup (a long-lived searcher's; a reader opened
    for one search, which makes a few, would pay more for it than it saves).  None when the
    copy is not made (yet) or a segment's term table cannot be read so: the caller asks
    Whoosh."""
    totals: dict[bytes, int] = {}
    leaves = list(reader.leaf_readers())
    early = False
    for seg, _offset in leaves:
        if not scannable(seg):
            return None
        per = _SORTED_TERMS.get(seg)
        if per is None:
            per = _SORTED_TERMS[seg] = {}
        if fieldname not in per:
            asked = per[("asked", fieldname)] = per.get(("asked", fieldname), 0) + 1
            early |= asked < PREFIX_LOOKUPS
    if early:
        return None
    for seg, _offset in leaves:
        keys, dfs = _sorted_terms(seg, fieldname)
        i = bisect_left(keys, prefix)
        while i < len(keys) and keys[i].startswith(prefix):
            totals[keys[i]] = totals.get(keys[i], 0) + dfs[i]
            i += 1
    return sorted(totals.items())


def scannable(seg: Any) -> bool:
    """Whether ``field_terms`` can read this segment's term table."""
    tindex = getattr(getattr(seg, "_terms", None), "_tindex", None)
    return native(seg) and all(hasattr(tindex, a) for a in ("closest_key_pos", "endofdata",
                                                           "dbfile"))


# -- numeric columns, read whole ---------------------------------------------------------------

_COLUMNS: WeakKeyDictionary[Any, dict[str, Any]] = WeakKeyDictionary()


def column_numbers(seg: Any, fieldname: str) -> Any:
    """A sortable NUMERIC field's column for every document of a segment, read in one go:
    an array of the column's raw values (Whoosh's order-preserving "sortable" form, not the
    numbers themselves: compare them, do not show them); None when the column is not a
    fixed-width numeric one."""
    cache = _COLUMNS.setdefault(seg, {})
    if fieldname in cache:
        return cache[fieldname]
    out = None
    fieldobj = seg.schema[fieldname]
    column = getattr(fieldobj, "column_type", None)
    perdoc = getattr(seg, "_perdoc", None)
    typecode = getattr(column, "_typecode", None)
    if (isinstance(column, NumericColumn) and typecode is not None and perdoc is not None
            and perdoc.has_column(fieldname)):
        reader = perdoc.column_reader(fieldname, column)
        values = array(typecode)
        if values.itemsize == reader._fixedlen:
            n = seg.doc_count_all()
            values.frombytes(reader._dbfile.get(reader._basepos, reader._count * values.itemsize))
            if sys.byteorder == "little":
                values.byteswap()  # the column is big-endian ("!" + typecode)
            values.extend([column._default] * (n - len(values)))
            out = values
    cache[fieldname] = out
    return out


def pattern_terms(query: Any, reader: Any) -> Iterator[bytes]:
    """The index terms a prefix / wildcard / fuzzy query expands to, lazily (so a caller can
    stop counting at a budget).  Whoosh internal: ``PatternQuery._btexts``."""
    return query._btexts(reader)
