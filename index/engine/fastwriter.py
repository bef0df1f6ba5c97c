"""A Whoosh segment writer for bulk loads: the same segment files, written faster.

Whoosh's ``SegmentWriter`` spends most of a bulk load in per-token and per-posting Python:
the analyzer's generator chain yields a token object per word, every posting goes through a
sorting pool (an external merge sort of tuples), and the postings writer looks up each
posting's field length again on disk.  ``FastSegmentWriter`` keeps Whoosh's segment format,
codec, per-document writer and TOC handling, and replaces only that middle:

- text fields analysed by the clinical analyzer go through ``analysis.index_positions`` (one
  regex pass and a per-word cache; it yields exactly the analyzer's index-mode terms and
  positions); other fields use Whoosh's own ``field.index``;
- postings are accumulated per term in flat lists (docnums are added in order, so no sort is
  needed; terms are sorted once at flush);
- blocks are handed to the codec's postings writer whole, with the field lengths already known;
  their data is pickled with protocol 3, not 2 (``DATA_PROTOCOL``: the same values, read by
  the same readers, faster to pickle and smaller);
- numbers are pickled in their smallest form: term frequencies (a posting's weight) as ints
  where Whoosh pickles floats (``_mini_weights``), and a positions value as a bare tuple
  (``_encode_positions``) where Whoosh pickles a memoised list behind a protocol header.
  Whoosh's readers give the same numbers back (a weight ``1`` where Whoosh's writer gives
  ``1.0``: equal, and every score computed from it is the same float).

tests/test_fastwriter.py builds the same documents with both writers and compares every
term, posting, weight, position, field length, stored field and column: the two indexes must
be indistinguishable to a reader (positions compared as the positions they decode to).
Only ``add_document`` (no deletions, updates or merges of other segments) is fast;
``commit`` writes the segment without merging old ones.

Whoosh internals this module depends on
---------------------------------------
It writes Whoosh 3 segments through the codec's writer objects, with whoosh-reloaded 2.7.5
pinned exactly; tests/test_fastwriter.py and tests/test_engine_scale.py compare its segments
with Whoosh's writer's term by term, so an upgrade that changes any of these fails there.

- ``SegmentWriter`` internals: ``__init__`` asking ``storage.temp_storage`` for its
  temporary folder (shadowed here, see ``__init__``), ``_check_state``, ``_check_fields``,
  ``docnum``, ``_added``, ``merge``, ``perdocwriter`` (``start_doc``, ``add_field``,
  ``add_column_value``, ``finish_doc``, ``close``), ``fieldwriter`` (``start_field``,
  ``finish_field``, ``close``, and its private ``_fieldid``, ``_format``, ``_postwriter``,
  ``_tindex``), ``_flush_segment`` (overridden), ``_finalize_segment``, ``_tempstorage``,
  ``commit(mergetype=NO_MERGE)``.  A renamed one fails at once; a changed order of calls could
  leave a segment without its per-document data.
- ``W3PostingsWriter``'s ``_postfile``, ``_blocklimit``, ``_compression`` and its block
  format, re-implemented in ``_write_blocks``: ``WHOOSH3_HEADER_MAGIC``, then per block a
  signed size (negative for the last), the info pickle ``(count, last id, max weight,
  compression, min length byte, max length byte)`` (protocol 2) and the data pickle
  ``(delta ids, weights, values)`` (None when every weight is 1, one number when all are
  equal, ints where whole (``_mini_weights``); zlib at the writer's level).  A changed
  format would make segments Whoosh's readers misread.
- ``W3TermInfo._struct`` (``!BfIBBfII``) followed by the postings' offset and length
  (``pack_long``, ``pack_int``), or for an inlined list by the pickle of ``(ids, weights,
  values)``: the term table values, built here.
- ``OrderedHashWriter`` internals (``_add_terms``): ``dbfile``, ``lastkey``, ``hashfn``,
  ``buckets`` (256, by ``hash & 255``), ``index`` (a ``GrowableArray`` with ``array``) and
  the ``!ii`` key/value length record: the term table and its hash buckets.  A change makes
  terms unfindable.  ``filetables.md5_hash`` (computed here as ``_md5_low32``), and
  ``HashWriter._write_hashes`` with its ``directory`` and ``_pointer`` slot format
  (replaced per writer by ``_write_hashes``, which writes the same tables in one call each).
- The ``Positions`` value format: ``pack_uint(frequency)`` + a pickle of the delta-coded
  positions (here a bare tuple, ``_encode_positions``; Whoosh's ``Positions.decode_positions``
  unpickles either form; ``_freq_at``), and
  ``length_to_byte``/``byte_to_length`` (field lengths stored as one lossy byte).
"""

from __future__ import annotations

import struct
import zlib
from array import array
from hashlib import md5
from operator import sub
from pickle import dumps
from types import MethodType
from typing import Any

from whoosh.codec.whoosh3 import WHOOSH3_HEADER_MAGIC, W3TermInfo
from whoosh.filedb.filetables import _pointer as _POINTER
from whoosh.filedb.filetables import md5_hash
from whoosh.formats import Positions
from whoosh.system import _uint_struct, pack_int, pack_long, pack_uint, pack_ushort
from whoosh.util import random_name
from whoosh.util.numeric import byte_to_length, length_to_byte
from whoosh.writing import NO_MERGE, SegmentWriter

from trialscope.index.analysis import clinical_analyzer, index_positions
from trialscope.index.pairs import FIELD as PAIRS_FIELD
from trialscope.index.pairs import doc_pairs

# Terms with at most this many postings in a segment are stored in the term table itself.
INLINE_LIMIT = 32
_ITEM_CACHE_LIMIT = 100_000  # (field, value) -> index items entries; cleared when full
# Pickle protocol of a posting list's data (a block's ``(ids, weights, values)``, an inlined
# list): Whoosh writes protocol 2, which has no bytes type and pickles each positions value as
# a ``_codecs.encode(str, "latin1")`` call (5.5 us for a 5-posting list against 0.7, and twice
# the size before compression).  Protocol 3 pickles ints, floats, tuples and None exactly as
# 2 does and bytes natively; Whoosh's readers unpickle either (``pickle.loads``), and read
# protocol 3's bytes faster too.  Positions values and block infos hold no bytes: they keep 2.
DATA_PROTOCOL = 3


# A term's postings while its segment is written: one flat list, in docnum order, of
# (docnum, value) pairs for text fields (the weight is the frequency a positions value starts
# with) or (docnum, weight, value) triples for other fields.  The docnum is one int object per
# document and a one-position value is a shared bytes object, so a posting costs two or three
# list slots; field lengths are kept once per document (``FastSegmentWriter._lengths``).
TEXT_STRIDE, FIELD_STRIDE = 2, 3


# Positions values for the commonest case, one occurrence: _encode_positions([p]), cached.
_ONE_POSITION: dict[int, bytes] = {}


_FREQ: dict[bytes, int] = {}  # those values -> 1 (their frequency), for the flush

# pickle opcodes: an int 0-255 (BININT1 + the byte), 256-65535 (BININT2 + 2 bytes), the close
# of a 0-3 item tuple (EMPTY_TUPLE, TUPLE1..TUPLE3) and STOP
_BININT2, _BININT = struct.Struct("<H"), struct.Struct("<i")
# The opcode of every int below _INT_OPS_SIZE, made once: a position (the first of a value,
# the others delta-coded) is over 255 in most long texts, and a per-value fallback costs a
# generator step each.  4096 entries: ~0.3 MB a process.
_INT_OPS_SIZE = 4096
_INT_OP = {i: b"K" + bytes((i,)) if i < 256 else b"M" + _BININT2.pack(i)
           for i in range(_INT_OPS_SIZE)}
_TUPLE_CLOSE = (b").", b"\x85.", b"\x86.", b"\x87.")


def _int_op(v: int) -> bytes:
    """One int's pickle opcode, smallest form (BININT1, BININT2 or BININT)."""
    op = _INT_OP.get(v)
    if op is not None:
        return op
    return b"M" + _BININT2.pack(v) if 0 <= v < 65536 else b"J" + _BININT.pack(v)


def _pickled_ints(values: list[int]) -> bytes:
    """A tuple of ints as a pickle without protocol header or memo: ``pickle.loads`` gives
    the tuple back.  ``dumps(list, 2)`` spends a protocol header, a memo entry and list
    opcodes on it: 9 bytes for one small int, against 4 here."""
    try:
        body = b"".join(map(_INT_OP.__getitem__, values))
    except KeyError:  # one is not 0-4095: BININT2 (unsigned 16 bits) or BININT (signed 32)
        body = b"".join(map(_int_op, values))
    n = len(values)
    return body + _TUPLE_CLOSE[n] if n <= 3 else b"(" + body + b"t."  # MARK ... TUPLE


def _one_position(pos: int) -> bytes:
    """``_encode_positions([pos])``, made once per position (``_ONE_POSITION``)."""
    value = _ONE_POSITION[pos] = pack_uint(1) + _pickled_ints([pos])
    _FREQ[value] = 1
    return value


def _encode_positions(positions: list[int]) -> bytes:
    """A ``Positions`` format value, as Whoosh's ``Positions.encode`` lays it out (the
    frequency as a 4-byte uint, then a pickle of the position deltas, which
    ``Positions.decode_positions`` iterates), the pickle in its smallest form
    (``_pickled_ints``)."""
    if len(positions) == 1:
        return _ONE_POSITION.get(positions[0]) or _one_position(positions[0])
    deltas = [positions[0], *map(sub, positions[1:], positions)]
    return pack_uint(len(deltas)) + _pickled_ints(deltas)


def _mini_weights(weights: Any, frequencies: bool) -> Any:
    """A posting list's weights as they are pickled: None when every one is 1 (Whoosh's
    readers then give 1.0), else ints when they are term frequencies (``frequencies``: a
    text field's, ints already) or all whole (a float pickles in 9 bytes, an int under 256
    in 2), else the floats."""
    if weights.count(1) == len(weights):
        return None
    if frequencies:
        return tuple(weights)
    if all(w.is_integer() and 0 <= w < 2**31 for w in weights):
        return tuple(map(int, weights))
    return tuple(weights)


_freq_at = _uint_struct.unpack_from  # the frequency that starts a positions value
_FREQ_GET = _FREQ.get
_TERMINFO = W3TermInfo._struct  # flags, weight, df, min/max length byte, max weight, ids


def _quantized(length: int) -> int:
    """A field length as a reader gets it back from the length column (one byte, lossy)."""
    return byte_to_length(length_to_byte(length)) if length else 0


def _post_text(terms: dict[str, list[Any]], docnum: int,
               positions: dict[str, list[int]]) -> None:
    """Add one document's terms of a text field (``index_positions``) to ``terms``."""
    one = _ONE_POSITION.get
    get = terms.get
    for term, poslist in positions.items():
        if len(poslist) == 1:
            value = one(poslist[0]) or _one_position(poslist[0])
        else:
            value = _encode_positions(poslist)
        found = get(term)
        if found is None:
            terms[term] = [docnum, value]
        else:
            found += (docnum, value)


def _index_items(field: Any, value: Any) -> list[tuple[str, int, float, bytes]]:
    """``field.index(value)``'s items, with each term decoded to the str ``_terms`` keys."""
    return [(tbytes.decode("utf-8", "surrogateescape"), freq, weight, vbytes)
            for tbytes, freq, weight, vbytes in field.index(value)]


def _post_field(terms: dict[str, list[Any]], docnum: int,
                items: list[tuple[str, int, float, bytes]]) -> None:
    """Add one document's ``_index_items`` of another field to ``terms``."""
    for term, _freq, weight, vbytes in items:
        found = terms.get(term)
        if found is None:
            terms[term] = [docnum, weight, vbytes]
        else:
            found += (docnum, weight, vbytes)


class FastSegmentWriter(SegmentWriter):
    """A ``SegmentWriter`` whose ``add_document`` and segment flush are fast (see above).

    Takes the same arguments as ``SegmentWriter``; ``_lk=False`` for a worker writing a
    segment that another process (holding the lock) commits.
    """

    def __init__(self, ix: Any, **kwargs: Any) -> None:
        # Whoosh names every writer's temporary folder "<index>.tmp" and deletes it whole when
        # the writer finishes: two writers at once (the bulk import's workers, each writing a
        # segment) would delete each other's temporary files.  This writer's are its own: the
        # storage's temp_storage is shadowed while SegmentWriter sets up, so the writer and its
        # per-document writer (which asks for the same "<index>.tmp") share one folder of
        # this writer's, deleted when it finishes.
        storage = ix.storage
        shared = storage.temp_storage
        own = f"{ix.indexname}.{random_name()}.tmp"
        storage.temp_storage = lambda name=None: shared(own)
        try:
            super().__init__(ix, **kwargs)
        finally:
            del storage.temp_storage  # the class's method again
        self.merge = False  # merging old segments goes through the pool this class bypasses
        analyzer = clinical_analyzer()
        self._fast_text = {
            name for name, field in self.schema.items()
            if isinstance(field.format, Positions) and field.format.field_boost == 1.0
            and field.analyzer == analyzer and not field.vector
            and not field.separate_spelling()
        }
        pairs = self.schema[PAIRS_FIELD] if PAIRS_FIELD in self.schema else None
        # a schema with index/pairs.py's field, as pairs.pairs_value spells its terms
        self._pairs = pairs is not None and pairs.format.posting_size == 0
        self._terms: dict[str, dict[str, list[Any]]] = {}  # field -> term -> postings
        self._lengths: dict[str, array] = {}  # field -> quantized length per docnum
        self._items: dict[tuple[str, type, Any], list[Any]] = {}  # see _field_items

    # -- documents ------------------------------------------------------------------------

    def add_document(self, **fields: Any) -> None:
        self._check_state()
        names = sorted(fields)
        if any(name.startswith("_") for name in names):
            raise ValueError("FastSegmentWriter takes plain field values only")
        self._check_fields(self.schema, names)
        schema = self.schema
        docnum = self.docnum
        # Analyse every field and compute its column value before writing anything: a field
        # that fails leaves no posting, length or column value behind (Whoosh's per-document
        # writer cannot take back column values, and the next document reuses the docnum).
        analysed: list[tuple[str, bool, Any, int]] = []
        per_doc: list[tuple[str, Any, Any, int, Any]] = []
        for name in names:
            value = fields[name]
            if value is None:
                continue
            field = schema[name]
            length = 0
            if field.indexed:
                if name in self._fast_text:
                    if not isinstance(value, str):
                        raise ValueError(f"{name}: a text field takes a string, not "
                                         f"{type(value).__name__}")
                    data: Any = index_positions(value)
                    length = sum(map(len, data.values()))
                    analysed.append((name, True, data, length))
                else:
                    data = self._field_items(name, field, value)
                    if field.scorable:
                        length = sum(freq for _, freq, _, _ in data)
                    analysed.append((name, False, data, length))
            column = field.column_type and field.to_column_value(value)
            per_doc.append((name, field, value if field.stored else None, length, column))
        if self._pairs and PAIRS_FIELD not in fields:
            # the word pairs of index/pairs.py, from the text fields' analysis above (what
            # pairs.pairs_value gives Whoosh's writer, without analysing the texts again)
            pair_terms = doc_pairs((name, data) for name, text, data, _ in analysed if text)
            analysed.append((PAIRS_FIELD, False, [(t, 1, 1.0, b"") for t in pair_terms], 0))
            per_doc.append((PAIRS_FIELD, schema[PAIRS_FIELD], None, 0, None))
        pdw = self.perdocwriter
        pdw.start_doc(docnum)
        for name, field, stored, length, column in per_doc:
            pdw.add_field(name, field, stored, length)
            if field.column_type:
                pdw.add_column_value(name, field.column_type, column)
        pdw.finish_doc()
        for name, text, data, length in analysed:
            terms = self._terms.get(name)
            if terms is None:
                terms = self._terms[name] = {}
            (_post_text if text else _post_field)(terms, docnum, data)
            if length:
                lengths = self._lengths.setdefault(name, array("I"))
                if len(lengths) < docnum:
                    lengths.frombytes(bytes(lengths.itemsize * (docnum - len(lengths))))
                lengths.append(_quantized(length))
        self._added = True
        self.docnum += 1

    def _field_items(self, name: str, field: Any, value: Any) -> list[Any]:
        """``_index_items(field, value)``, cached for the fields whose values repeat (dates,
        ages, enrollment, statuses, countries...): NUMERIC's tiered range terms cost a
        generator chain per value.  A unique field (the trial id) is not cached."""
        if field.unique or value.__class__ not in (str, int, float, bool):
            return _index_items(field, value)
        key = (name, value.__class__, value)  # 1 == 1.0 == True: the class keeps them apart
        items = self._items.get(key)
        if items is None:
            if len(self._items) >= _ITEM_CACHE_LIMIT:
                self._items.clear()
            items = self._items[key] = _index_items(field, value)
        return items

    # -- flushing ---------------------------------------------------------------------------

    def _flush_segment(self) -> None:
        self.perdocwriter.close()
        fieldwriter = self.fieldwriter
        for name in sorted(self._terms):
            field = self.schema[name]
            fieldwriter.start_field(name, field)
            terms = self._terms[name]
            encoded = sorted((term.encode("utf-8", "surrogateescape"), term) for term in terms)
            stride = TEXT_STRIDE if name in self._fast_text else FIELD_STRIDE
            lengths = self._lengths.pop(name, array("I"))
            prefix = pack_ushort(fieldwriter._fieldid)
            fixed = fieldwriter._format.fixed_value_size()
            pop = terms.pop
            _add_terms(fieldwriter._tindex, [
                (prefix + btext, _write_term(fieldwriter, pop(term), stride, lengths, fixed))
                for btext, term in encoded])
            fieldwriter.finish_field()
        self._terms = {}
        tindex = fieldwriter._tindex
        tindex._write_hashes = MethodType(_write_hashes, tindex)
        fieldwriter.close()

    def commit(self, mergetype: Any = None, optimize: bool = False, merge: bool = False) -> None:
        if optimize or merge:
            raise ValueError("FastSegmentWriter writes one new segment; it does not merge")
        super().commit(mergetype=NO_MERGE)

    def finish_segment(self) -> Any:
        """Write the segment and return it, without committing a TOC: for a worker whose
        segment the lock holder adds to the index (``whoosh.multiproc`` does the same)."""
        segment = self._finalize_segment()
        self._tempstorage.destroy()  # this writer's own folder (see __init__)
        self.is_closed = True
        return segment


def _write_term(fieldwriter: Any, postings: list[Any], stride: int, lengths: array,
                fixed: int | None) -> bytes:
    """One term's postings, written as the codec's ``W3PostingsWriter`` writes them; returns
    its term info (the term table value).

    What ``start_term``, ``add`` per posting and ``finish_term`` do, a block at a time and
    without the per-posting checks (posting data pickled with ``DATA_PROTOCOL``, see there).
    One more difference: a term with at most ``INLINE_LIMIT`` postings is stored inline in
    the term table (a W3 feature its readers support, which whoosh-reloaded 2.7.5's writer
    cannot use: its ``finish_postings`` calls a misspelt ``set_inline``), saving a
    compressed block per rare term; its term info is built here directly, as
    ``W3TermInfo.add_block`` / ``set_inlined`` / ``to_bytes`` would.  ``fixed``: the field
    format's ``fixed_value_size()``."""
    docs = postings[0::stride]
    values = postings[stride - 1::stride]
    frequencies = stride == TEXT_STRIDE
    weights: Any
    if frequencies:  # a positions value starts with the frequency, the weight (an int)
        weights = [_FREQ_GET(v) or _freq_at(v)[0] for v in values]
    else:
        weights = array("f", postings[1::stride])
    count = len(docs)
    n_lengths = len(lengths)
    if count <= INLINE_LIMIT:
        if docs[-1] < n_lengths:  # (docs ascend) every posting's document has a length
            known = list(map(lengths.__getitem__, docs))
            nonzero = known if min(known) else [n for n in known if n]
        else:
            nonzero = [lengths[d] for d in docs if d < n_lengths and lengths[d]]
        minbyte = length_to_byte(min(nonzero)) if nonzero else 0
        maxbyte = length_to_byte(max(nonzero)) if nonzero else 0
        # A valueless format's postings (``Existence``: the trial id, dates, numbers) are
        # kept as None values, which Whoosh's ``ListMatcher`` gives back as a block reader
        # does; no values at all would read "" (a str), which Whoosh's segment merge refuses.
        inline_values = (None,) * count if fixed == 0 else tuple(filter(None, values))
        return _TERMINFO.pack(1, sum(weights), count, minbyte, maxbyte, max(max(weights), 0),
                              docs[0], docs[-1]) + dumps(
            (tuple(docs), _mini_weights(weights, frequencies), inline_values), DATA_PROTOCOL)
    return _write_blocks(fieldwriter, docs, weights, values,
                         [lengths[d] if d < n_lengths else 0 for d in docs], frequencies)


def _write_blocks(fieldwriter: Any, docs: list[int], weights: Any, values: list[bytes],
                  doc_lengths: list[int], frequencies: bool = False) -> bytes:
    """A term's postings as blocks of the postings file, as ``W3PostingsWriter`` writes them
    (``_write_block`` per ``blocklimit`` postings, then ``finish_postings``: the same blocks,
    headers and infos; each block's data tuple unpickles to the same value, pickled with
    ``DATA_PROTOCOL``, weights as ``_mini_weights``); returns the term info.  ``weights``:
    an ``array("f")``, or a list of ints that are term ``frequencies``.  Whoosh's per-block
    list "minifying" runs a generator per posting; here they are list operations."""
    writer = fieldwriter._postwriter
    postfile, limit, compression = writer._postfile, writer._blocklimit, writer._compression
    fixed = fieldwriter._format.fixed_value_size()
    offset = postfile.tell()
    postfile.write(WHOOSH3_HEADER_MAGIC)
    count = len(docs)
    total_weight, max_weight, min_length, max_length = 0.0, 0.0, None, 0
    start = 0
    while start < count:
        stop = min(start + limit, count)
        ids = docs[start:stop]
        block_weights = weights[start:stop]
        block_values = [v for v in values[start:stop] if v]  # add_posting keeps no empty
        block_max = float(max(max(block_weights), 0))
        nonzero = [n for n in doc_lengths[start:stop] if n]
        low, high = (min(nonzero), max(nonzero)) if nonzero else (None, 0)
        total_weight += sum(block_weights)
        max_weight = max(max_weight, block_max)
        if low is not None:
            min_length = low if min_length is None else min(min_length, low)
        max_length = max(max_length, high)
        # W3PostingsWriter._mini_ids / _mini_weights / _mini_values
        deltas = [ids[0]]  # delta_encode starts from 0 in every block
        deltas += [b - a for a, b in zip(ids, ids[1:])]
        first = block_weights[0]
        if first != 1 and block_weights.count(first) == len(block_weights):
            mini_weights: Any = float(first)  # one float for the block, as Whoosh writes it
        else:
            mini_weights = _mini_weights(block_weights, frequencies)  # None, ints or floats
        if fixed is None or fixed < 0:
            mini_values: Any = tuple(block_values)
        else:
            mini_values = None if fixed == 0 else b"".join(block_values)
        data = dumps((tuple(deltas), mini_weights, mini_values), DATA_PROTOCOL)
        if compression:  # Whoosh compresses every block, even one under 20 bytes
            data = zlib.compress(data, compression)
        info = dumps((len(ids), ids[-1], block_max, compression, length_to_byte(low),
                      length_to_byte(high)), 2)
        size = len(info) + len(data)
        postfile.write_int(-size if stop == count else size)
        postfile.write(info)
        postfile.write(data)
        start = stop
    return _TERMINFO.pack(0, total_weight, count, length_to_byte(min_length),
                          length_to_byte(max_length), max_weight, docs[0], docs[-1]
                          ) + pack_long(offset) + pack_int(postfile.tell() - offset)


_KV_LENGTHS = struct.Struct("!ii")  # filetables' key/value length header


def _add_terms(tindex: Any, entries: list[tuple[bytes, bytes]]) -> None:
    """``tindex.add(key, value)`` (an ``OrderedHashWriter``) for many entries in key order,
    with one file write: the same bytes, hash buckets and key-position index."""
    if not entries:
        return
    previous = tindex.lastkey
    for key, _ in entries:
        if key <= previous:
            raise ValueError(f"term keys must increase: {previous!r}..{key!r}")
        previous = key
    pos = tindex.dbfile.tell()
    hashfn, buckets = tindex.hashfn, tindex.buckets
    header = _KV_LENGTHS.pack
    parts: list[bytes] = []
    positions: list[int] = []
    if hashfn is md5_hash:  # the same number: the digest's last 4 bytes, big-endian
        hashfn = _md5_low32
    for key, value in entries:
        positions.append(pos)
        h = hashfn(key)
        buckets[h & 255].append((h, pos))
        record = header(len(key), len(value)) + key + value
        parts.append(record)
        pos += len(record)
    index = tindex.index  # a GrowableArray: widens its type when a position overflows it
    try:
        index.array.extend(array(index.array.typecode, positions))
    except (OverflowError, AttributeError):  # a wider type needed; or a list already
        for position in positions:
            index.append(position)
    tindex.dbfile.write(b"".join(parts))
    tindex.lastkey = entries[-1][0]


def _md5_low32(key: bytes) -> int:
    """``filetables.md5_hash(key)``: ``int(md5(key).hexdigest(), 16) & 0xFFFFFFFF``."""
    return int.from_bytes(md5(key, usedforsecurity=False).digest()[-4:], "big")


_NULL_SLOT = (0, 0)


def _write_hashes(self: Any) -> None:
    """``HashWriter._write_hashes`` (the term table's 256 hash tables), the same bytes in one
    write a table instead of one a slot."""
    dbfile = self.dbfile
    pack = _POINTER.pack
    for entries in self.buckets:
        pos = dbfile.tell()
        numslots = 2 * len(entries)
        self.directory.append((pos, numslots))
        hashtable = [_NULL_SLOT] * numslots
        for hashval, position in entries:
            slot = (hashval >> 8) % numslots
            while hashtable[slot] != _NULL_SLOT:
                slot = (slot + 1) % numslots
            hashtable[slot] = (hashval, position)
        dbfile.write(b"".join([pack(h, p) for h, p in hashtable]))


def commit_with_segments(writer: Any, segments: list[Any]) -> None:
    """Commit ``writer`` (its deletions) with finished ``segments`` added to the index's table
    of contents: what Whoosh's ``MpWriter`` does with its sub-writers' segments
    (``whoosh.multiproc``).  The writer's own (empty) segment is closed and left out.
    Whoosh internals: ``SegmentWriter._close_segment``, ``_commit_toc``, ``_finish``."""
    writer._close_segment()
    writer._commit_toc(list(writer.segments) + list(segments))
    writer._finish()
