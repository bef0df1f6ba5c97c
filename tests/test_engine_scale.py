"""The engine at scale: the bulk writer (index/engine/fastwriter.py), the term-at-a-time scorer
(index/engine/taat.py) and the facet counter (index/engine/termcounts.py) against Whoosh's own
writer, searcher and a brute-force count, on a generated corpus large enough that posting lists
span many blocks (Whoosh 3 writes 128 postings a block): a word in every document, Zipf-distributed
words from a few documents to most of them, phrases, fields with different weights, several
segments from both writers, updated and deleted documents.

The indexes are built once per module.  Where the engine has a second path (the block
reader's fallback to Whoosh's own decoding, a matcher that is not Whoosh 3's, a query taat
leaves to Whoosh's collector, the facet counter's skipping of blocks), a spy asserts that the
tests reach both sides.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from whoosh import index as whoosh_index
from whoosh import query as wq
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.scoring import BM25F

from trialscope.core.record import TrialRecord
from trialscope.index import ranking
from trialscope.index import search as search_mod
from trialscope.index.engine import taat, termcounts
from trialscope.index.engine.fastwriter import INLINE_LIMIT, FastSegmentWriter
from trialscope.index.facets import FACETS, Filters, build_filter, count_facets
from trialscope.index.indexer import add_segments, open_index
from trialscope.index.pairs import FIELD as PAIRS_FIELD
from trialscope.index.pairs import pairs_value
from trialscope.index.query import Unit
from trialscope.index.ranking import Prior
from trialscope.index.schema import build_schema, facet_key, record_to_doc
from trialscope.index.search import _drop_absent, parse_query

from .conftest import block_postings, whoosh_postings

# Builds three indexes of a few thousand studies and compares them posting by posting: about
# two minutes on two busy cores.  Not deselected anywhere: pyproject registers the marker.
pytestmark = pytest.mark.slow

BLOCK = 128  # Whoosh 3's postings per block (W3Codec blocklimit)
N = 3000
REL = 1e-9  # score tolerance, relative

# -- the corpus --------------------------------------------------------------------------------

_SYL = ["ta", "ri", "mo", "ne", "lu", "ca", "vo", "zi", "pe", "gra", "tri", "xa", "ben", "dol",
        "fen", "kor", "wem", "jud"]
STATUSES = {"COMPLETED": 46, "UNKNOWN": 17, "RECRUITING": 12, "TERMINATED": 6,
            "NOT_YET_RECRUITING": 4, "ACTIVE_NOT_RECRUITING": 4, "WITHDRAWN": 3,
            "ENROLLING_BY_INVITATION": 1, "SUSPENDED": 0.5}
PHASES = {("NA",): 38, ("PHASE2",): 17, ("PHASE1",): 13, ("PHASE3",): 11, ("PHASE4",): 10,
          ("PHASE1", "PHASE2"): 6, ("PHASE2", "PHASE3"): 2, ("EARLY_PHASE1",): 3}
COUNTRIES = {"United States": 35, "China": 10, "France": 6, "Canada": 4, "Germany": 4,
             "United Kingdom": 4, "Italy": 3, "Spain": 3, "Korea, Republic of": 3, "Japan": 2,
             "Brazil": 2, "Denmark": 2, "Israel": 1, "India": 1, "Sweden": 1, "Taiwan": 1}
CONDITIONS = ["Myasthenia Gravis", "Lupus Erythematosus", "Asthma", "Heart Failure",
              "Multiple Myeloma", "Lymphoma", "Breast Cancer", "Stroke", "Psoriasis", "Healthy"]
PHRASES = ["refractory generalized myasthenia gravis", "safety and efficacy",
           "standard therapy", "heart failure", "quality of life"]


class Corpus:
    """Deterministic studies: pseudo-words drawn Zipf-wise (the commonest is in nearly every
    summary, the rarest in one study), "trial" in every title and summary, fixed phrases at
    a few rates, facet values with registry-like skew and a long tail of sponsors."""

    def __init__(self, seed: int = 15) -> None:
        self.rng = rng = random.Random(seed)
        vocab = sorted({rng.choice(_SYL) + rng.choice(_SYL) + rng.choice(_SYL)
                        for _ in range(4000)})
        rng.shuffle(vocab)
        self.vocab = vocab
        self.cum = list(_cumulative([1 / (i + 1) for i in range(len(vocab))]))
        self.sponsors = [f"{w.title()} {kind}" for w, kind in
                         zip(vocab[::7], ["University", "Pharma", "Hospital", "Inc."] * 200)]
        self.sponsor_cum = list(_cumulative([1 / (i + 1) ** 0.8
                                             for i in range(len(self.sponsors))]))

    def words(self, n: int) -> str:
        return " ".join(self.rng.choices(self.vocab, cum_weights=self.cum, k=n))

    def text(self, n: int) -> str:
        parts = [self.words(n)]
        for phrase, rate in zip(PHRASES, (0.08, 0.3, 0.15, 0.05, 0.6)):
            if self.rng.random() < rate:
                parts.insert(self.rng.randrange(len(parts) + 1), phrase)
        return " ".join(parts)

    def record(self, i: int, version: int = 0) -> TrialRecord:
        rng = self.rng
        pick = rng.choices
        status = pick(list(STATUSES), list(STATUSES.values()))[0]
        phases = list(pick(list(PHASES), list(PHASES.values()))[0])
        countries = pick(list(COUNTRIES), list(COUNTRIES.values()), k=rng.choice([1, 1, 2, 3]))
        cell = {"targets": [], "modality": []}
        if rng.random() < 0.06:
            cell = {"targets": rng.sample(["CD19", "BCMA", "CD20", "MuSK"], rng.randint(1, 2)),
                    "modality": [rng.choice(["CAR-T", "CAR-NK", "CAAR-T"])]}
        year = rng.randint(2000, 2025)
        title = f"{self.words(rng.randint(2, 10))} trial"
        if rng.random() < 0.1:
            title = f"{title} {self.text(0)}"
        return TrialRecord(
            trial_id=f"NCT{20000000 + i:08d}", registry="ctgov", status=status, phases=phases,
            study_type="INTERVENTIONAL", title=title,
            official_title=self.words(rng.randint(5, 20)) if rng.random() < 0.7 else None,
            conditions=rng.sample(CONDITIONS, rng.choice([1, 1, 2])),
            keywords=self.words(rng.randint(1, 4)).split() if rng.random() < 0.5 else [],
            summary=f"This trial studies {self.text(rng.randint(10, 80))}",
            description=self.text(rng.choice([0, 5, 40, 300])) or None,
            interventions=[{"type": "DRUG", "name": self.words(2), "other_names": [],
                            "description": self.words(rng.randint(0, 12)), "arm_labels": []}],
            eligibility={"sex": rng.choice(["ALL", "ALL", "FEMALE", "MALE"]),
                         "inclusion": [{"text": self.text(rng.randint(3, 30)), "children": []}],
                         "exclusion": [{"text": self.words(rng.randint(3, 15)),
                                        "children": []}]},
            locations=[{"facility": None,
                        "city": self.vocab[rng.randrange(len(self.vocab))].title(),
                        "state": None, "country": c} for c in countries],
            sponsor=pick(self.sponsors, cum_weights=self.sponsor_cum)[0],
            enrollment={"count": int(rng.lognormvariate(4.2, 1.2)), "type": "ACTUAL"},
            start_date=f"{year}-{rng.randint(1, 12):02d}",
            last_updated=f"{rng.randint(max(year, 2005), 2025)}-{rng.randint(1, 12):02d}-01",
            has_results=rng.random() < 0.1, cell_therapy=cell,
            primary_outcomes=[self.words(rng.randint(2, 8))] if version == 0 else ["changed"],
        )


def _cumulative(weights: list[float]) -> Iterator[float]:
    total = 0.0
    for w in weights:
        total += w
        yield total


def _docs() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """N documents, and new versions of some of them (for updates)."""
    corpus = Corpus()
    docs = [record_to_doc(corpus.record(i)) for i in range(N)]
    updates = [record_to_doc(corpus.record(i, version=1)) for i in range(0, N, 37)]
    return docs, updates


DOCS, UPDATES = _docs()
DELETED = [DOCS[i]["trial_id"] for i in range(5, N, 53) if i % 37]  # none of them updated


def _whoosh_build(path: Path, docs: list[dict[str, Any]]) -> None:
    ix = whoosh_index.create_in(str(path), build_schema())
    writer = ix.writer(compound=False)
    for doc in docs:
        # with index/pairs.py's pairs as indexer.py gives them (the bulk writer makes its own)
        writer.add_document(**doc, **{PAIRS_FIELD: pairs_value(doc)})
    writer.commit(merge=False)
    ix.close()


def _fast_build(path: Path, docs: list[dict[str, Any]]) -> None:
    ix = whoosh_index.create_in(str(path), build_schema())
    writer = FastSegmentWriter(ix, compound=False)
    for doc in docs:
        writer.add_document(**doc)
    writer.commit()
    ix.close()


def _multi_build(path: Path) -> None:
    """Four segments: Whoosh's writer, a bulk worker's segment, Whoosh's writer again, then
    updated versions of some studies (their old documents deleted in every earlier segment)
    and deletions."""
    open_index(path, create=True).close()
    ix = open_index(path)
    writer = ix.writer(compound=False)
    for doc in DOCS[:N // 3]:
        writer.add_document(**doc)
    writer.commit(merge=False)
    ix.close()
    worker = FastSegmentWriter(open_index(path), _lk=False, compound=False)
    for doc in DOCS[N // 3:2 * N // 3]:
        worker.add_document(**doc)
    add_segments(path, [worker.finish_segment()])
    ix = open_index(path)
    writer = ix.writer(compound=False)
    for doc in DOCS[2 * N // 3:]:
        writer.add_document(**doc)
    writer.commit(merge=False)
    writer = ix.writer(compound=False)
    for doc in UPDATES:
        writer.update_document(**doc)
    for trial_id in DELETED:
        writer.delete_by_term("trial_id", trial_id)
    writer.commit(merge=False)
    ix.close()


@pytest.fixture(scope="module")
def indexes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("engine_scale")
    out = {name: base / name for name in ("whoosh", "fast", "multi")}
    for path in out.values():
        path.mkdir()
    _whoosh_build(out["whoosh"], DOCS)
    _fast_build(out["fast"], DOCS)
    _multi_build(out["multi"])
    return out


def _open(path: Path) -> Any:
    return whoosh_index.open_dir(str(path), schema=build_schema())


# -- the bulk writer against Whoosh's ---------------------------------------------------------

def _term_contents(r: Any, fieldname: str, btext: bytes) -> tuple[Any, ...]:
    info = r.term_info(fieldname, btext)
    m = r.postings(fieldname, btext)
    fmt = r.schema[fieldname].format
    decode = getattr(fmt, "decode_positions", None)
    postings = []
    while m.is_active():
        # an inlined posting of a valueless format reads "" where a block reads None; positions
        # are compared as what they decode to (the bulk writer pickles them more compactly)
        value = m.value() or None
        if value is not None and decode is not None:
            value = (fmt.decode_frequency(value), decode(value))
        postings.append((m.id(), m.weight(), value))
        m.next()
    return (info.weight(), info.doc_frequency(), info.min_length(), info.max_length(),
            info.max_weight(), info.min_id(), info.max_id(), postings)


def test_the_corpus_spans_many_blocks_and_inlines_rare_terms(indexes: dict[str, Path]) -> None:
    ix = _open(indexes["whoosh"])
    with ix.reader() as r:
        assert r.doc_count_all() == N
        assert r.doc_frequency("title", "trial") == N  # in every document
        assert r.doc_frequency("summary", "trial") == N
        summary = sorted((r.doc_frequency("summary", t) for t in r.lexicon("summary")),
                         reverse=True)
        assert summary[0] > 20 * BLOCK  # lists of 20+ blocks
        assert sum(BLOCK < df for df in summary) > 40  # many lists of several blocks
        assert summary[-1] <= 2  # and a few postings
        assert sum(2 < df <= INLINE_LIMIT for df in summary) > 100  # inlined by the bulk writer
    ix.close()


def test_the_bulk_writer_writes_the_index_whooshs_writer_writes(
        indexes: dict[str, Path]) -> None:
    """Every term's statistics and postings (ids, frequencies, positions), field lengths
    (per document and in total), stored fields and columns: equal."""
    slow, fast = _open(indexes["whoosh"]), _open(indexes["fast"])
    with slow.reader() as s, fast.reader() as f:
        assert list(f.all_terms()) == list(s.all_terms())
        compared = blocks = inlined = 0
        for fieldname, btext in s.all_terms():
            mine, theirs = _term_contents(f, fieldname, btext), _term_contents(s, fieldname, btext)
            assert mine == theirs, (fieldname, btext)
            compared += 1
            df = theirs[1]
            blocks = max(blocks, -(-df // BLOCK))
            inlined += f.term_info(fieldname, btext).is_inlined()
        assert compared > 25_000 and blocks >= 23 and inlined > 1000
        for fieldname in s.indexed_field_names():
            assert f.field_length(fieldname) == s.field_length(fieldname), fieldname
            if build_schema()[fieldname].scorable:  # others have no length column
                assert f.max_field_length(fieldname) == s.max_field_length(fieldname)
            assert [f.doc_field_length(d, fieldname) for d in range(N)] == \
                [s.doc_field_length(d, fieldname) for d in range(N)], fieldname
        for fieldname in build_schema().names():
            assert f.has_column(fieldname) == s.has_column(fieldname)
            if s.has_column(fieldname):
                fc, sc = f.column_reader(fieldname), s.column_reader(fieldname)
                assert [fc[d] for d in range(N)] == [sc[d] for d in range(N)], fieldname
        assert [f.stored_fields(d) for d in range(N)] == [s.stored_fields(d) for d in range(N)]
        assert s.stored_fields(7)["trial_id"] == DOCS[7]["trial_id"]
    slow.close()
    fast.close()


# -- queries -------------------------------------------------------------------------------------

def _by_df(r: Any, fieldname: str) -> list[tuple[int, str]]:
    return sorted(((r.doc_frequency(fieldname, t), t.decode("utf-8"))
                   for t in r.lexicon(fieldname)), reverse=True)


def _queries(path: Path) -> list[str]:
    """Query texts with words of every list length, from the index itself."""
    ix = _open(path)
    with ix.reader() as r:
        ranked = [(df, t) for df, t in _by_df(r, "summary") if t.isalpha() and len(t) > 5
                  and t not in ("trial", "studies", "study")]
    ix.close()

    def near(n: int, skip: int = 0) -> str:
        return sorted(ranked, key=lambda dt: (abs(dt[0] - n), dt[1]))[skip][1]

    top, common, mid, few, rare = (ranked[0][1], near(1500), near(400), near(60), near(12))
    once = near(1)
    return [
        "trial", top, common, mid, few, rare, once,                      # single words
        f"{top} {common}", f"{common} {mid} {few}", f"{mid} {rare}",     # coordinated OR
        f"trial {top} {mid} {rare} {once}",
        f"title:{common}", f"title:trial {mid}", f"summary:{top}",       # one field
        f"{top} AND {common}", f"{mid} OR {few}", f"{common} AND ({mid} OR {few})",
        f"{top} NOT {common}", f"{common} ANDNOT {mid}", f"{mid} ANDMAYBE {top}",
        f"NOT {common}",
        '"safety and efficacy"', '"quality of life"', '"heart failure"', '"standard therapy"',
        f'"quality of life" {mid}', f'"refractory generalized myasthenia gravis" {common}',
        'title:"quality of life"', f'"{top} {common}"',
        '"trial studies"', 'summary:"trial studies"',  # index/pairs.py's pairs (bulk writer)
        f"{top[:4]}*", f"{mid[:3]}* {few}",                             # prefixes (Whoosh)
        f"status:recruiting AND {common}", f"{few} AND status:completed",  # keyword fields
        f"{near(400, 1)} {near(400, 2)} {near(400, 3)}",
    ]


@contextmanager
def _whole_index_coordination(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Whoosh's ``Coord`` matcher weighs the units by each segment's document frequencies;
    the engine by the whole index's, on purpose (taat's docstring).  For a multi-segment
    comparison Whoosh's side is given the whole index's too."""
    original = ranking.unit_weights

    def whole(searcher: Any, units: Any, doc_frequency: Any = None) -> Any:
        return original(searcher.get_parent(), units, doc_frequency)

    with monkeypatch.context() as m:
        m.setattr(ranking, "unit_weights", whole)
        yield


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= REL * max(1.0, abs(a), abs(b))


def _same_ranking(mine: list[tuple[int, float]], theirs: list[tuple[int, float]],
                  label: Any) -> None:
    """Every match with the same score; the order may differ only between equal scores."""
    assert len(mine) == len(theirs), label
    theirs_of = dict(theirs)
    assert set(theirs_of) == {d for d, _ in mine}, label
    for d, s in mine:
        assert _close(s, theirs_of[d]), (label, d, s, theirs_of[d])
    assert all(a[1] >= b[1] for a, b in zip(mine, mine[1:])), label


def _same_page(page: list[tuple[int, float]], full: dict[int, float], k: int,
               label: Any) -> None:
    """``page``: a top-``k`` of the ranking whose scores are ``full``: ties at its end may
    hold any of the documents of that score."""
    assert len(page) == min(k, len(full)), label
    if not page:
        return
    for d, s in page:
        assert _close(s, full[d]), (label, d, s, full[d])
    last = page[-1][1]
    above = {d for d, s in full.items() if s > last and not _close(s, last)}
    assert above <= {d for d, _ in page}, label
    assert all(s >= last or _close(s, last) for _, s in page), label


class Spy:
    """Counts calls of a module function (and what a probe says of each)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, owner: Any, name: str,
                 probe: Callable[..., Any] | None = None) -> None:
        self.calls = 0
        self.seen: Counter[Any] = Counter()
        original = getattr(owner, name)

        def spy(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            out = original(*args, **kwargs)
            if probe is not None:
                self.seen[probe(out, *args, **kwargs)] += 1
            return out

        monkeypatch.setattr(owner, name, spy)


def _block_kind(out: Any, raw: bytes, n: int, delta: bool = True) -> Any:
    """What ``taat._decode`` met: a block it could not read, one with an id delta past a
    byte (the pickled-ids branch), a tail of 1-3 postings, or a plain block."""
    if out is None:
        return "fallback"
    ids = out[0]
    deltas = [ids[0]] + [b - a for a, b in zip(ids, ids[1:])] if delta else list(ids)
    if max(deltas) >= 256:
        return "wide"
    return "short" if n < 4 else "plain"


def _whoosh_pages_wrong(q: Any) -> bool:
    """Whether ``q`` has a part for which Whoosh's collector skips blocks wrongly: see
    ``_compare``."""
    return isinstance(q, (wq.And, wq.AndNot, wq.AndMaybe, wq.Not, wq.MultiTerm)) or any(
        _whoosh_pages_wrong(sub) for sub in q.children())


def _compare(searcher: Any, texts: list[str], ks: tuple[int, ...] = (1, 3, 10),
             flt: Any = None) -> int:
    """taat against Whoosh for each query: every match, and pages of ``ks`` (taat's against
    the full ranking; Whoosh's collector's too, where it skips blocks correctly).

    Whoosh 2.7.5's collector, given a limit, skips blocks by their quality bound, and for
    AND, ANDMAYBE, NOT and prefix queries over several fields that skipping drops documents
    that belong on the page (a plain ``And([Or(...), Or(...)])`` of ``wq.Term``, without the
    project's wrappers, does it too).  taat ranks every match and has no such gap; Whoosh's
    pages of such queries are not compared (``_whoosh_pages_wrong``); the others' must be
    right."""
    allowed = taat.filter_sets(searcher, flt)
    reader = searcher.reader()
    checked = 0
    for text in texts:
        q = parse_query(text)
        _drop_absent(q, searcher.reader())
        # Whoosh 2.7.5's NOT can match a deleted document (the last one of a segment with
        # deletions); taat never does, so Whoosh's are dropped here.
        full = [(h.docnum, h.score) for h in searcher.search(Prior(q), limit=None,
                                                              filter=flt)
                if not reader.is_deleted(h.docnum)]
        for _ in range(2):  # the second time from the searcher's kept scores
            matches = taat.evaluate(searcher, Prior(q), allowed)
            assert matches is not None, text
            _same_ranking(matches.ranked(None), full, text)
            assert matches.total == len(full), text
            for k in ks:
                page = [(h.docnum, h.score) for h in searcher.search(Prior(q), limit=k,
                                                                      filter=flt)]
                if not _whoosh_pages_wrong(q):
                    _same_page(page, dict(full), k, ("whoosh", text, k))
                _same_page(matches.ranked(k), dict(full), k, ("taat", text, k))
        checked += 1
    return checked


@pytest.mark.parametrize("name", ["whoosh", "fast", "multi"])
def test_taat_scores_as_whooshs_collector(indexes: dict[str, Path], name: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Every match and each top-k page (k small over lists of dozens of blocks: Whoosh's
    collector skips blocks by their quality) with the same scores, on one-segment indexes from
    either writer and on a four-segment one with updates and deletions."""
    texts = _queries(indexes[name])
    blocks = Spy(monkeypatch, taat, "_decode", _block_kind)
    phrases = Spy(monkeypatch, taat, "_add_phrase")
    matchers = Spy(monkeypatch, taat, "_add_matcher")
    accumulators = Spy(monkeypatch, taat, "_accumulate",
                       lambda out, *a: type(out[0]).__name__)
    ix = _open(indexes[name])
    with _whole_index_coordination(monkeypatch), ix.searcher() as searcher:
        if name == "multi":
            assert len(searcher.leaf_searchers()) == 4
            assert searcher.doc_count() == N - len(DELETED)
            assert sum(sub.reader().has_deletions() for sub, _ in searcher.leaf_searchers()) >= 3
        assert _compare(searcher, texts) == len(texts)
        assert taat.terms_of(searcher).scores  # long lists' scores were kept, and reused
    ix.close()
    assert blocks.seen["plain"] > 100 and blocks.seen["wide"] > 10
    assert blocks.seen["fallback"] == 0
    assert phrases.calls and matchers.calls  # phrases here, prefixes and keywords by Whoosh
    assert accumulators.seen["dict"] and accumulators.seen["list"]  # rare and common queries


def test_taat_ranked_pages_prune_long_result_lists(indexes: dict[str, Path],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A small page of a query matching every document scores only a pool of candidates
    (``Matches.ranked``), and it is the head of the full ranking."""
    finals = Spy(monkeypatch, taat.Matches, "_final")
    ix = _open(indexes["multi"])
    with ix.searcher() as searcher:
        q = parse_query("trial")
        _drop_absent(q, searcher.reader())
        matches = taat.evaluate(searcher, Prior(q))
        assert matches is not None and matches.total == N - len(DELETED)
        full = dict(matches.ranked(None))
        before = finals.calls
        for k in (1, 5, 20):
            _same_page(matches.ranked(k), full, k, k)
        assert finals.calls - before < matches.total  # not every match scored
    ix.close()


def test_taat_with_other_bm25f_parameters(indexes: dict[str, Path],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Another K1 and B, and a B of its own for one field (``BM25F(title_B=...)``)."""
    texts = _queries(indexes["multi"])[:14]
    ix = _open(indexes["multi"])
    weighting = BM25F(B=0.4, K1=2.0, title_B=0.9, summary_B=0.1)
    with _whole_index_coordination(monkeypatch), ix.searcher(weighting=weighting) as searcher:
        assert _compare(searcher, texts, ks=(5,)) == len(texts)
    ix.close()


@pytest.mark.parametrize("filters", [
    {"status": ["completed", "recruiting"]},
    {"phase": ["2"], "country": ["United States"]},
    {"country": ["China", "Japan"], "has_results": False},
    {"start_from": "2010", "start_to": "2015"},  # a range: Whoosh's own docs()
    {"sex": "female"},  # NOT Every("sex") inside
    {"sponsor": ["pharma"]},
])
def test_taat_filters_as_whoosh_filters(indexes: dict[str, Path], filters: dict[str, Any],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    texts = _queries(indexes["multi"])
    texts = [texts[i] for i in (0, 1, 3, 8, 10, 14, 17, 21, 29, 31)]
    ix = _open(indexes["multi"])
    with _whole_index_coordination(monkeypatch), ix.searcher() as searcher:
        flt = build_filter(searcher, Filters.of(filters))
        assert flt is not None
        kept = taat.filter_sets(searcher, flt)
        assert kept is not None and 0 < sum(map(len, kept)) < searcher.doc_count()
        assert _compare(searcher, texts, ks=(3,), flt=flt) == len(texts)
    ix.close()


# -- the engine's second paths ---------------------------------------------------------------

def test_taat_gives_the_same_with_whooshs_block_decoding(indexes: dict[str, Path],
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """A block ``_decode`` cannot read (another pickle layout) is read by Whoosh's own
    block reader: forced for every block, the scores and the facet counts stay the same."""
    texts = _queries(indexes["multi"])
    ix = _open(indexes["multi"])
    with ix.searcher() as searcher:
        every = set(_live(searcher))
        expected = count_facets(searcher, every, None)
    ix.close()
    monkeypatch.setattr(taat, "_decode", lambda *args, **kwargs: None)
    read = Spy(monkeypatch, W3LeafMatcher, "_read_ids")
    ix = _open(indexes["multi"])
    with _whole_index_coordination(monkeypatch), ix.searcher() as searcher:
        assert _compare(searcher, texts, ks=(3,)) == len(texts)
        assert count_facets(searcher, every, None) == expected
        _check_facets(searcher, _docset(searcher, texts[2]))
    ix.close()
    assert read.calls > 100


def test_taat_gives_the_same_with_another_postings_matcher(indexes: dict[str, Path],
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """Where the codec's postings reader is not a ``W3LeafMatcher``, the engine reads the
    postings through the matcher's public methods."""
    texts = _queries(indexes["multi"])
    monkeypatch.setattr(taat, "W3LeafMatcher", type("NotW3", (), {}))
    ix = _open(indexes["multi"])
    with _whole_index_coordination(monkeypatch), ix.searcher() as searcher:
        assert _compare(searcher, texts, ks=(3,)) == len(texts)
        _check_facets(searcher, _docset(searcher, texts[2]))
        _check_facets(searcher, set(list(_live(searcher))[::40]))
    ix.close()


def test_queries_taat_leaves_to_whoosh(indexes: dict[str, Path],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A range or a bare term at the top is no plan of taat's (``evaluate`` gives None) and
    ``search`` uses Whoosh's collector; a phrase with slop goes to Whoosh's matcher inside a
    unit.  Both give Whoosh's results."""
    ix = _open(indexes["multi"])
    with ix.searcher() as searcher:
        for q in (parse_query("enrollment:[10 TO 50]"), wq.Term("summary", "trial")):
            assert taat.evaluate(searcher, Prior(q)) is None
        words = ["quality", "life"]  # "quality of life": "of" is a stop word, a gap of 1
        unit = Unit(wq.Or([wq.Phrase("summary", words, slop=2),
                           wq.Phrase("title", words, slop=2, boost=4.0)]))
        phrases = Spy(monkeypatch, taat, "_add_phrase", lambda out, *a: out)
        matchers = Spy(monkeypatch, taat, "_add_matcher")
        matches = taat.evaluate(searcher, Prior(unit))
        assert matches is not None and phrases.seen == Counter({False: 2 * 4})
        assert matchers.calls == 2 * 4  # two leaves, four segments
        full = [(h.docnum, h.score) for h in searcher.search(Prior(unit), limit=None)]
        assert len(full) > BLOCK
        _same_ranking(matches.ranked(None), full, "slop")
        expected = [searcher.stored_fields(h.docnum)["trial_id"]
                    for h in searcher.search(Prior(parse_query("enrollment:[10 TO 50]")),
                                             limit=None)]
    ix.close()
    fallback = Spy(monkeypatch, search_mod, "_page_whoosh")
    found = search_mod.search(indexes["multi"], "enrollment:[10 TO 50]", limit=None,
                              literal=True)
    assert fallback.calls == 1
    assert sorted(h.trial_id for h in found.hits) == sorted(expected) and len(expected) > BLOCK


# -- posting blocks read straight from the files --------------------------------------------

def test_posting_blocks_read_as_whoosh_reads_them(indexes: dict[str, Path],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """``taat.field_terms`` and ``term_blocks`` against the reader's lexicon and postings, for
    every term of fields with lists of every length, in every segment of both writers."""
    blocks = Spy(monkeypatch, taat, "_decode", _block_kind)
    ix = _open(indexes["multi"])
    terms = postings = deleted = 0
    with ix.searcher() as searcher:
        for sub, _ in searcher.leaf_searchers():
            seg = sub.reader()
            assert taat.native(seg) and taat.scannable(seg)
            for field in ("title", "summary", "conditions", "status", "countries",
                          "sponsor_name", "start_year", "enrollment"):
                listed = list(taat.field_terms(seg, field))
                assert [t for t, *_ in listed] == list(seg.lexicon(field))
                for tbytes, df, first, last in listed:
                    ids, weights = whoosh_postings(seg, field, tbytes)
                    got_ids, got_weights = block_postings(seg, field, tbytes)
                    # the term table and the blocks hold deleted documents; postings() not
                    assert (df, first, last) == (len(got_ids), got_ids[0], got_ids[-1])
                    live = [not seg.is_deleted(d) for d in got_ids]
                    deleted += live.count(False)
                    assert ([d for d, ok in zip(got_ids, live) if ok],
                            [w for w, ok in zip(got_weights, live) if ok]) == (ids, weights), \
                        (field, tbytes)
                    terms += 1
                    postings += len(ids)
    ix.close()
    assert terms > 10_000 and postings > 150_000 and deleted > 100
    assert blocks.seen["plain"] and blocks.seen["wide"] and blocks.seen["short"]
    assert blocks.seen["fallback"] == 0


# -- facets against a brute-force count ------------------------------------------------------

def _live(searcher: Any) -> Iterator[int]:
    return (d for d in range(searcher.doc_count_all()) if not searcher.reader().is_deleted(d))


def _docset(searcher: Any, text: str) -> set[int]:
    reader = searcher.reader()
    return {d for d in searcher.docs_for_query(parse_query(text)) if not reader.is_deleted(d)}


def _values(doc: dict[str, Any], field: str) -> list[str]:
    value = doc.get(field)
    if value is None:
        return []
    if field in ("status", "phases"):
        return [v.strip().upper() for v in value.split(",") if v.strip()]
    return [v for v in value.split("\n") if v]


def _brute_facets(searcher: Any, docset: set[int], limit: int | None
                  ) -> dict[str, dict[str, int]]:
    """Counted from each document's own values: what was indexed for its stored trial id
    (the updated version where the index has one: the last segment's)."""
    source = {doc["trial_id"]: doc for doc in DOCS}
    if len(searcher.leaf_searchers()) > 1:
        source |= {doc["trial_id"]: doc for doc in UPDATES}
    docs = [source[searcher.stored_fields(d)["trial_id"]] for d in docset]
    out = {}
    for name, field in FACETS.items():
        counts = Counter(v for doc in docs for v in set(_values(doc, field)))
        if field in ("status", "phases"):
            ranked = sorted(counts.items(), key=lambda vc: (-vc[1], vc[0]))
        else:
            ranked = sorted(counts.items(), key=lambda vc: (-vc[1], vc[0].encode("utf-8")))
        out[name] = dict(ranked[:limit] if limit else ranked)
    return out


def _check_facets(searcher: Any, docset: set[int]) -> None:
    for limit in (None, 15, 3):
        mine = count_facets(searcher, docset, limit)
        expected = _brute_facets(searcher, docset, limit)
        for name in FACETS:
            assert list(mine[name].items()) == list(expected[name].items()), (name, limit)


@pytest.mark.parametrize("kept", [False, True])
@pytest.mark.parametrize("name", ["whoosh", "fast", "multi"])
def test_facet_counts_equal_a_brute_force_count(indexes: dict[str, Path], name: str,
                                                kept: bool,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Facet counts (all values, and the top 15 and 3, ties in value order) over result sets
    of every size: every live document, a common word's, a rare word's, a phrase's, a
    scattered sample; counted from the posting blocks (``count_in``: no ids kept) and from
    the ids kept per segment (``count_cached``), each document set counted twice (the
    second time from what the first kept)."""
    texts = _queries(indexes[name])
    if not kept:
        monkeypatch.setattr(taat, "MAX_CACHED_IDS", 0)
    cached = Spy(monkeypatch, taat, "count_cached",
                 lambda out, seg, f, t, info, docs, ordered:
                 "few" if len(ordered) * 16 < info.doc_frequency() else "many")
    skips = Spy(monkeypatch, taat, "count_in",
                lambda out, seg, f, t, info, docs, ordered:
                "whole" if info.is_inlined() or len(docs) * 8 > info.doc_frequency()
                else "skipping")
    decoded = Spy(monkeypatch, taat, "_decode")
    ix = _open(indexes[name])
    with ix.searcher() as searcher:
        every = set(_live(searcher))
        sets = [every, _docset(searcher, texts[2]), _docset(searcher, texts[5]),
                _docset(searcher, '"heart failure"'), set(sorted(every)[::97]),
                set(sorted(every)[:3])]
        for docset in sets:
            _check_facets(searcher, docset)
            _check_facets(searcher, docset)
        # one long list, a few documents: most of its blocks are never read
        seg = searcher.leaf_searchers()[0][0].reader()
        info = seg.term_info("status", "completed")
        assert info.doc_frequency() > 3 * BLOCK and not info.is_inlined()
        few = sorted(d for d in range(0, 40, 3) if not seg.is_deleted(d))
        before = decoded.calls
        n = taat.count_in(seg, "status", b"completed", info, set(few), few)
        assert n == sum(searcher.stored_fields(d)["status"] == "completed" for d in few)
        assert decoded.calls - before < -(-info.doc_frequency() // BLOCK) / 2
    ix.close()
    if kept:  # kept ids counted both ways; a term's first request: count_in, both ways
        assert cached.seen["few"] and cached.seen["many"]
        assert skips.seen["skipping"] and skips.seen["whole"]
    else:
        assert skips.seen["whole"] and skips.seen["skipping"]


def test_facet_counts_without_the_term_table_scan(indexes: dict[str, Path],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A segment ``field_terms`` cannot scan is counted from its postings: the same counts."""
    texts = _queries(indexes["multi"])
    monkeypatch.setattr(taat, "scannable", lambda seg: False)
    fallback = Spy(monkeypatch, termcounts, "count_postings")
    ix = _open(indexes["multi"])
    with ix.searcher() as searcher:
        _check_facets(searcher, _docset(searcher, texts[3]))
    ix.close()
    assert fallback.calls


def test_facet_keys_match_the_brute_force_values() -> None:
    """The brute force reads a document's values as the index analyses them."""
    doc = next(d for d in DOCS if "," in d.get("phases", "") and "\n" in d.get("countries", ""))
    assert _values(doc, "phases") == [facet_key(p).upper() for p in doc["phases"].split(",")]
    assert len(_values(doc, "countries")) >= 2


@pytest.mark.parametrize("name", ["fast", "multi"])
def test_prefix_terms_are_whooshs(indexes: dict[str, Path], name: str) -> None:
    """``taat.prefix_terms`` (the alias lookup's prefix search, from memory) gives Whoosh's
    ``expand_prefix`` terms with ``doc_frequency`` summed over the segments, deletions and
    all, on one segment and on four."""
    ix = _open(indexes[name])
    with ix.searcher() as searcher:
        reader = searcher.reader()
        # a reader's first lookups: Whoosh's (None), the in-memory copy from the 16th
        assert [taat.prefix_terms(reader, "title", b"a") is None
                for _ in range(taat.PREFIX_LOOKUPS)] == [True] * (taat.PREFIX_LOOKUPS - 1) + [False]
        checked = 0
        for field in ("title", "sponsor_name", "countries", "aliases", "no_such_field"):
            words = [t for t in reader.lexicon(field)] if field in ix.schema.names() else []
            prefixes = {b"", b"zz\xff", *(w[:k] for w in words[::37] for k in (1, 2, 4))}
            for prefix in sorted(prefixes):
                try:
                    whoosh = [(t, reader.doc_frequency(field, t))
                              for t in reader.expand_prefix(field, prefix)]
                except Exception:  # noqa: BLE001 - no such field
                    whoosh = []
                for _ in range(taat.PREFIX_LOOKUPS):
                    found = taat.prefix_terms(reader, field, prefix)
                assert found == whoosh, (field, prefix)
                checked += 1
        assert checked > 100
    ix.close()


def test_positions_decode_as_whooshs() -> None:
    from itertools import accumulate

    from whoosh.formats import Positions

    from trialscope.index.engine.fastwriter import _encode_positions

    fmt = Positions()
    for positions in ([0], [7], [0, 1], [3, 300, 300_000], list(range(0, 900, 7)), []):
        for value in (fmt.encode(positions), _encode_positions(positions) if positions else None):
            if value is not None:
                assert fmt.decode_positions(value) == positions
                assert list(accumulate(taat._deltas_of({0: value}, [0])[0])) == positions


def test_positions_of_many_documents_decode_as_whooshs() -> None:
    """``_deltas_of`` (every candidate's positions from one ``pickle.loads``): each value,
    in Whoosh's encoding (protocol header, memoised list, STOP) or fastwriter's (a bare
    tuple), with or without its STOP opcode, mixed in one call, decodes as Whoosh's
    decoder decodes it alone."""
    from itertools import accumulate

    from whoosh.formats import Positions

    from trialscope.index.engine.fastwriter import _encode_positions

    fmt = Positions()
    rng = random.Random(5)
    values: dict[int, bytes] = {}
    for d in range(400):
        span = rng.choice((5, 300, 70_000))
        positions = sorted(rng.sample(range(span), min(span, rng.choice((1, 1, 2, 3, 40)))))
        value = fmt.encode(positions) if d % 3 else _encode_positions(positions)
        if d % 5 == 0 and value.endswith(b"."):
            value = value[:-1]  # the STOP left out, as Whoosh's decoder allows
        values[d] = value
    docs = [d for d in values if d % 7]
    rng.shuffle(docs)
    got = taat._deltas_of(values, docs)
    assert len(got) == len(docs)
    for d, deltas in zip(docs, got):
        assert list(accumulate(deltas)) == fmt.decode_positions(values[d])
    assert taat._deltas_of(values, []) == []
