"""The bulk writer (index/engine/fastwriter.py) and its analyzer fast path give exactly what
Whoosh's own writer and the analyzer give: compared term by term, posting by posting."""

from __future__ import annotations

import re
from array import array
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from whoosh import index as whoosh_index

from trialscope.index import analysis
from trialscope.index.analysis import clinical_analyzer, index_positions
from trialscope.index.engine.fastwriter import INLINE_LIMIT, FastSegmentWriter
from trialscope.index.pairs import FIELD as PAIRS_FIELD
from trialscope.index.pairs import pairs_value
from trialscope.index.schema import TEXT_FIELDS, build_schema, record_to_doc
from trialscope.parser.files import Failure, iter_payload_files, parse_payload, read_text

from .conftest import FIXTURES, indexed_ids


def _fixture_docs() -> list[dict[str, Any]]:
    """Every record the bundled fixtures parse to (all registries), as index documents."""
    docs: dict[str, dict[str, Any]] = {}
    for path in iter_payload_files([FIXTURES]):
        if "golden" in path.parts or "eval" in path.parts or "labelled" in path.parts:
            continue
        try:
            text = read_text(path)
        except (OSError, UnicodeDecodeError):
            continue
        for item in parse_payload(text, source=str(path)):
            if not isinstance(item, Failure):
                docs.setdefault(item.record.trial_id, record_to_doc(item.record))
    return list(docs.values())


DOCS = _fixture_docs()


def _analyzer_positions(text: str) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for t in clinical_analyzer()(text, mode="index", positions=True):
        if not t.stopped:
            out.setdefault(t.text, []).append(t.pos)
    return out


def test_fixture_docs_cover_every_text_field_and_concepts() -> None:
    assert len(DOCS) >= 25
    assert all(any(name in doc for doc in DOCS) for name in TEXT_FIELDS)
    texts = [doc[name] for doc in DOCS for name in TEXT_FIELDS if name in doc]
    assert any(analysis.CONCEPT_RE.search(text) for text in texts)
    assert any(not analysis.CONCEPT_RE.search(text) for text in texts)


def test_index_positions_equal_the_analyzer_on_every_fixture_text() -> None:
    for doc in DOCS:
        for name in TEXT_FIELDS:
            if name in doc:
                assert index_positions(doc[name]) == _analyzer_positions(doc[name]), doc[name]


_PIECES = ["CAR-T", "CAR T cells", "chimeric antigen receptor (CAR) T cells", "MG", "gMG",
           "myasthenia gravis", "10 MG", "MG-ADL", "anti-CD19", "the", "and", "Cells",
           "IMVT-1402", "1.5", "3,000", "car", "CAAR-T", "CAR-NK", "x", "\u00e9t\u00e9",
           "generalised", "-", "(", ")", ".", ",", "\n", " ", "_", "\u2010", "Therapies"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=6)), max_size=25))
def test_index_positions_equal_the_analyzer_on_random_text(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert index_positions(text) == _analyzer_positions(text)


def test_concept_lookahead_changes_no_match() -> None:
    """TOKEN_RE skips the concept alternatives where the text does not start with one of
    ``CONCEPT_FIRST``: every concept spelling must start with one of those letters."""
    plain = re.compile("|".join(f"(?P<{c.name}>{c.pattern})" for c in analysis.CONCEPTS))
    texts = [doc[name] for doc in DOCS for name in TEXT_FIELDS if name in doc] + _PIECES
    for text in texts:
        assert [(m.start(), m.group()) for m in plain.finditer(text)] == [
            (m.start(), m.group()) for m in analysis.CONCEPT_RE.finditer(text)]


def _build(path: Path, docs: list[dict[str, Any]], fast: bool) -> Any:
    ix = whoosh_index.create_in(str(path), build_schema())
    writer = FastSegmentWriter(ix, compound=False) if fast else ix.writer(compound=False)
    for doc in docs:
        # the bulk writer makes index/pairs.py's word pairs from its own analysis; Whoosh's
        # writer gets them as indexer.py gives them (the same terms: compared below)
        writer.add_document(**(doc if fast else {**doc, PAIRS_FIELD: pairs_value(doc)}))
    writer.commit()
    return whoosh_index.open_dir(str(path), schema=build_schema())


def _contents(ix: Any) -> dict[str, Any]:
    """Everything a searcher can read: terms with their statistics and postings (ids,
    weights, values), stored fields, field lengths and columns.  A positions value is read
    as its frequency and positions (the bulk writer pickles it smaller: other bytes)."""
    with ix.reader() as r:
        n = r.doc_count_all()
        terms = []
        for fieldname, btext in r.all_terms():
            info = r.term_info(fieldname, btext)
            m = r.postings(fieldname, btext)
            fmt = ix.schema[fieldname].format
            postings = []
            while m.is_active():
                value = m.value() or None  # a valueless format's: None
                if value is not None and fmt.supports("positions"):
                    value = (fmt.decode_frequency(value), fmt.decode_positions(value))
                postings.append((m.id(), m.weight(), value))
                m.next()
            terms.append((fieldname, btext, info.weight(), info.doc_frequency(),
                          info.min_length(), info.max_length(), info.max_weight(),
                          info.min_id(), info.max_id(), postings))
        lengths = {f: (r.field_length(f), [r.doc_field_length(d, f) for d in range(n)])
                   for f in r.indexed_field_names()}
        columns = {f: [r.column_reader(f)[d] for d in range(n)]
                   for f in ix.schema.names() if r.has_column(f)}
        stored = [r.stored_fields(d) for d in range(n)]
    return {"terms": terms, "lengths": lengths, "columns": columns, "stored": stored}


def test_fast_writer_gives_the_index_whooshs_writer_gives(tmp_path: Path) -> None:
    (tmp_path / "slow").mkdir()
    (tmp_path / "fast").mkdir()
    # Enough copies that some terms need several blocks (128 postings each) and some are
    # inlined (at most INLINE_LIMIT postings).
    docs = [dict(doc, trial_id=f"{doc['trial_id']}-{i}") for i in range(9) for doc in DOCS]
    slow = _contents(_build(tmp_path / "slow", docs, fast=False))
    fast = _contents(_build(tmp_path / "fast", docs, fast=True))
    dfs = [t[3] for t in slow["terms"]]
    assert max(dfs) > 128 and min(dfs) <= INLINE_LIMIT < max(dfs)
    for key in ("stored", "lengths", "columns"):
        assert fast[key] == slow[key], key
    assert len(fast["terms"]) == len(slow["terms"])
    for f, s in zip(fast["terms"], slow["terms"], strict=True):
        assert f == s


def test_fast_writer_segments_search_like_any_other(tmp_path: Path) -> None:
    from trialscope.index import indexer

    indexer.open_index(tmp_path, create=True).close()
    segments = []
    for part in (DOCS[::2], DOCS[1::2]):
        writer = FastSegmentWriter(indexer.open_index(tmp_path), _lk=False, compound=False)
        for doc in part:
            writer.add_document(**doc)
        segments.append(writer.finish_segment())
    indexer.add_segments(tmp_path, segments, delete=["NCT06958939"])
    ids = indexed_ids(tmp_path)
    assert ids == sorted(d["trial_id"] for d in DOCS if d["trial_id"] != "NCT06958939")


def test_whooshs_writer_merges_a_bulk_written_segment(tmp_path: Path) -> None:
    """Whoosh's own writer merges a bulk-written segment (its merge policy does, once enough
    small commits follow a bulk import) into what its own writer would have written: inlined
    postings of a valueless field (the trial id, dates) read back as None, as a block's do,
    not as "" (a str, which the merge refused: ``AssertionError: vbytes=''``)."""
    merged = {}
    for kind in ("slow", "fast"):
        (tmp_path / kind).mkdir()
        ix = _build(tmp_path / kind, DOCS, fast=kind == "fast")
        if kind == "fast":
            with ix.reader() as r:
                m = r.postings("trial_id", DOCS[0]["trial_id"])
                assert m.__class__.__name__ == "ListMatcher"  # inlined
                assert m.value() is None
        ix.writer().commit(optimize=True)  # rewrites the segment through Whoosh's writer
        ix = whoosh_index.open_dir(str(tmp_path / kind), schema=build_schema())
        assert len(ix._segments()) == 1
        merged[kind] = _contents(ix)
    # (a merge sums the lengths kept per document, which are rounded: both alike)
    assert merged["fast"] == merged["slow"]


def test_fast_writer_refuses_to_merge(tmp_path: Path) -> None:
    ix = whoosh_index.create_in(str(tmp_path), build_schema())
    writer = FastSegmentWriter(ix, compound=False)
    with pytest.raises(ValueError, match="does not merge"):
        writer.commit(optimize=True)
    writer.cancel()


def test_a_failed_document_leaves_no_postings_behind(tmp_path: Path) -> None:
    """A document whose field cannot be indexed is refused whole: the next document takes its
    docnum and the index equals one written without the bad document."""
    (tmp_path / "slow").mkdir()
    (tmp_path / "fast").mkdir()
    docs = DOCS[:6]
    slow = _contents(_build(tmp_path / "slow", docs, fast=False))
    ix = whoosh_index.create_in(str(tmp_path / "fast"), build_schema())
    writer = FastSegmentWriter(ix, compound=False)
    for i, doc in enumerate(docs):
        if i == 3:
            # "title" sorts before "trial_id": its terms are analysed, then the id fails
            bad = dict(doc, title="a unique zzyzx title", trial_id=7)
            with pytest.raises(Exception):  # noqa: B017 (Whoosh's own error for the id)
                writer.add_document(**bad)
        writer.add_document(**doc)
    writer.commit()
    fast = _contents(whoosh_index.open_dir(str(tmp_path / "fast"), schema=build_schema()))
    assert fast == slow


def test_add_terms_writes_what_the_hash_writer_writes(tmp_path: Path) -> None:
    """``_add_terms`` (one write for a field's terms) against ``OrderedHashWriter.add`` per
    term: the same file, including past 64 kB, where the key-position index widens."""
    from whoosh.filedb.filestore import FileStorage
    from whoosh.filedb.filetables import OrderedHashReader, OrderedHashWriter

    from trialscope.index.engine.fastwriter import _add_terms

    entries = [(b"\x00\x01term%06d" % i, b"v" * (i % 40)) for i in range(5000)]
    storage = FileStorage(str(tmp_path))
    slow = OrderedHashWriter(storage.create_file("slow"))
    for key, value in entries:
        slow.add(key, value)
    fast = OrderedHashWriter(storage.create_file("fast"))
    _add_terms(fast, entries[:10])
    _add_terms(fast, entries[10:])
    assert fast.index.array.typecode != "H"  # positions passed 64 kB
    slow.close()
    fast.close()
    assert (tmp_path / "fast").read_bytes() == (tmp_path / "slow").read_bytes()
    reader = OrderedHashReader.open(storage, "fast")
    assert reader[b"\x00\x01term004321"] == b"v" * (4321 % 40)
    reader.close()
    with pytest.raises(ValueError, match="increase"):
        _add_terms(bad := OrderedHashWriter(storage.create_file("bad")), entries[1::-1])
    bad.dbfile.close()


def _blocks(raw: bytes) -> list[tuple[bytes, Any, Any]]:
    """A postings file holding one term: per block, its info pickle's bytes, its data
    unpickled, and the ids and weights ``taat._decode`` reads from the data."""
    import io
    import pickle
    import struct
    import zlib

    from whoosh.codec.whoosh3 import WHOOSH3_HEADER_MAGIC

    from trialscope.index.engine.taat import _decode

    assert raw[:4] == WHOOSH3_HEADER_MAGIC
    out, p = [], 4
    while True:
        size = struct.unpack_from("!i", raw, p)[0]
        p += 4
        end = p + abs(size)
        buf = io.BytesIO(raw[p:end])
        info = pickle.load(buf)
        cut = p + buf.tell()
        data = zlib.decompress(raw[cut:end]) if info[3] else raw[cut:end]
        out.append((raw[p:cut], pickle.loads(data), _decode(data, info[0])))
        p = end
        if size < 0:
            assert p == len(raw)
            return out


@pytest.mark.parametrize("count", [INLINE_LIMIT + 1, 128, 129, 300])
@pytest.mark.parametrize("fieldname", ["description", "status", "enrollment"])
def test_blocks_read_as_whooshs_postings_writer_writes_them(
        tmp_path: Path, count: int, fieldname: str) -> None:
    """``_write_blocks`` against ``W3PostingsWriter`` fed posting by posting, for a
    positions field, a valueless KEYWORD and a NUMERIC field, across block boundaries (128
    postings a block): the same blocks, block infos and term info, and every block's data
    unpickles to the same tuple.  Only the data's pickle protocol differs (3, not 2: the
    positions values are bytes), and it is smaller; the search's own block reader
    (``taat._decode``) reads both."""
    import random
    from types import SimpleNamespace

    from whoosh.codec.whoosh3 import W3Codec, W3TermInfo
    from whoosh.filedb.filestore import FileStorage

    from trialscope.index.engine.fastwriter import _encode_positions, _write_blocks

    rng = random.Random(count)
    field = build_schema()[fieldname]
    docs = sorted(rng.sample(range(5 * count), count))
    weights = [float(rng.choice([1, 1, 1, 2, 3])) for _ in docs]
    if fieldname == "description":
        values = [_encode_positions(list(range(0, 3 * int(w), 3))) for w in weights]
    else:
        values = [b"" for _ in docs]
        weights = [1.0] * count if fieldname == "status" else weights
    lengths = [rng.choice([0, 1, 5, 17, 400]) for _ in docs]
    storage = FileStorage(str(tmp_path))
    codec = W3Codec()

    slow_file = storage.create_file("slow")
    writer = codec.postings_writer(slow_file)
    writer.start_postings(field.format, W3TermInfo())
    for d, w, v, n in zip(docs, weights, values, lengths):
        writer.add_posting(d, w, v, n or None)
    slow_info = writer.finish_postings().to_bytes()

    fast_file = storage.create_file("fast")
    fake = SimpleNamespace(_postwriter=codec.postings_writer(fast_file), _format=field.format)
    if fieldname == "description":  # a text field's weights: its term frequencies, ints
        fast_info = _write_blocks(fake, docs, [int(w) for w in weights], values, lengths,
                                  frequencies=True)
    else:
        fast_info = _write_blocks(fake, docs, array("f", weights), values, lengths)
    slow_file.close()
    fast_file.close()
    fast_raw, slow_raw = (tmp_path / "fast").read_bytes(), (tmp_path / "slow").read_bytes()
    fast, slow = _blocks(fast_raw), _blocks(slow_raw)
    assert fast == slow
    assert all(decoded is not None for _, _, decoded in fast)  # the fast path, not Whoosh's
    # the term info: the same statistics and offset; the length is this file's
    assert fast_info[:-4] == slow_info[:-4]
    assert W3TermInfo.from_bytes(fast_info)._length == (len(fast_raw),)
    if fieldname == "description":
        assert len(fast_raw) < len(slow_raw)


@pytest.mark.parametrize("positions", [
    [0], [5], [255], [256], [70_000], [2**31 - 1], [0, 1], [3, 300, 300_000], [1, 2, 3],
    list(range(0, 40, 3)), [7, 400, 401, 80_000, 80_255, 2**30]])
def test_positions_values_decode_as_whooshs(positions: list[int]) -> None:
    """``_encode_positions`` gives what Whoosh's ``Positions.encode`` gives to every reader
    (frequency and positions, through each opcode size), in fewer bytes."""
    from whoosh.formats import Positions

    from trialscope.index.engine.fastwriter import _encode_positions

    fmt = Positions()
    ours, whooshs = _encode_positions(positions), fmt.encode(positions)
    assert fmt.decode_frequency(ours) == fmt.decode_frequency(whooshs) == len(positions)
    assert fmt.decode_positions(ours) == fmt.decode_positions(whooshs) == positions
    assert len(ours) < len(whooshs)


def test_inlined_lists_are_read_by_the_engines_fast_path(tmp_path: Path) -> None:
    """Inlined lists carry their term frequencies as ints (None when all are 1): Whoosh's
    reader, the engine's ``inlined_ids`` (facet counts) and ``info_blocks`` read them, and
    a frequency is the same number Whoosh's own writer gives."""
    from whoosh.codec.whoosh3 import W3TermInfo

    from trialscope.index.engine import taat

    (tmp_path / "fast").mkdir()
    (tmp_path / "slow").mkdir()
    docs = DOCS[:12]
    slow = _contents(_build(tmp_path / "slow", docs, fast=False))
    ix = _build(tmp_path / "fast", docs, fast=True)
    assert _contents(ix) == slow
    kinds = {"none": 0, "ints": 0}
    with ix.reader() as r:
        seg = r.leaf_readers()[0][0] if hasattr(r, "leaf_readers") else r
        tindex = seg._terms._tindex
        for key, raw in tindex.items():
            info = W3TermInfo.from_bytes(raw)
            if not info.is_inlined():
                continue
            ids, weights, _ = info.inlined_postings()
            kinds["none" if weights is None else "ints"] += 1
            assert weights is None or all(type(w) is int for w in weights)
            body = raw[taat.TERMINFO_SIZE:]
            assert taat.inlined_ids(body, len(ids)) == ids
            decoded = taat._decode(body, len(ids), delta=False)
            assert decoded is not None and decoded[1] in (None, weights), key
    assert kinds["none"] and kinds["ints"]
    ix.close()


def test_term_table_hashes_are_whooshs(tmp_path: Path) -> None:
    """``_md5_low32`` is Whoosh's ``md5_hash``, and ``_write_hashes`` writes the bytes
    Whoosh's ``HashWriter._write_hashes`` writes (buckets with collisions and empty ones)."""
    from types import MethodType

    from whoosh.filedb.filestore import FileStorage
    from whoosh.filedb.filetables import OrderedHashWriter, md5_hash

    from trialscope.index.engine.fastwriter import _md5_low32, _write_hashes

    keys = [b"", b"a", b"\x00\xff", *(f"term{i}".encode() for i in range(3000))]
    assert [_md5_low32(k) for k in keys] == [md5_hash(k) for k in keys]
    storage = FileStorage(str(tmp_path))
    for name, fast in (("slow", False), ("fast", True)):
        writer = OrderedHashWriter(storage.create_file(name))
        for i, key in enumerate(sorted(keys[1:])):
            writer.add(key, b"v%d" % i)
        if fast:
            writer._write_hashes = MethodType(_write_hashes, writer)
        writer.close()
    assert (tmp_path / "fast").read_bytes() == (tmp_path / "slow").read_bytes()
