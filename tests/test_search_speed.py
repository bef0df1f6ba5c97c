"""The fast paths of search (index/search.py snippets, index/engine/taat.py ranking) against the
straightforward code they replace: the same fragments, spans, priors and scores, exactly.

No timings here: bench/search_bench.py measures; these pin that the results do not move.
"""

from __future__ import annotations

import re
from itertools import chain, groupby
from pathlib import Path

import pytest
from whoosh import highlight as wh

from trialscope.index import search as search_mod
from trialscope.index.analysis import SCAN_RE, TOKEN_RE
from trialscope.index.engine import taat
from trialscope.index.indexer import index_records, open_index
from trialscope.index.ranking import Prior
from trialscope.index.search import parse_query

from .test_search import ALL, ENGINE_QUERIES

AWKWARD = [
    "CAR T cells " * 3 + ". " * 300 + "CAR-T cells for refractory MG",
    "word " * 30 + "myasthenia" + "-x" * 200 + " gravis " + "filler " * 80 + "MG and more",
    "Phase 2 study; " * 40 + "studies of " + "generalised MG " * 3,
    "10 MG daily · MG-ADL >= 6 · gMG and MG · anti-CD19 CAR-T19 · chimeric antigen receptor "
    "(CAR) T cells · CAR-NK · CAAR-T · 1.5 x 10e6/kg · 2,000 · IMVT‐1402 (en dash‑free) · "
    "foo_bar_baz · therapies · Studies · the and of · myasthenia  gravis · CART · car accident",
    "study " + "a" * 400 + " study",
    # a passage whose context is the previous span's last words (no word in between)
    "refractory " + "word " * 60 + "." * 150 + " refractory disease " + "filler " * 30,
    "x" * 33000 + " study of therapy " + "study " * 50,  # past the fragmenter's charlimit
]


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The search tests' records in two segments (ranking reads a column per segment)."""
    path = tmp_path_factory.mktemp("speed") / "index"
    index_records(path, ALL[:20])
    index_records(path, ALL[20:])
    return path


def _texts_and_terms(index_dir: Path) -> list[tuple[str, frozenset[str]]]:
    """Every stored snippet text (and each twice, far apart), with the words of each engine
    query that the index has, and each of a sample of the text's own words."""
    out = []
    ix = open_index(index_dir)
    with ix.searcher() as searcher:
        assert len(searcher.leaf_searchers()) == 2
        query_terms = []
        for text in ENGINE_QUERIES:
            q = parse_query(text)
            search_mod._drop_absent(q, searcher.reader())
            query_terms.append(search_mod._query_terms(q, searcher))
        for docnum in range(searcher.doc_count_all()):
            text = searcher.stored_fields(docnum).get("snippet", "")
            for t in (text, text + " · filler words " * 60 + text):
                joined = " · ".join(line.strip() for line in t.splitlines() if line.strip())
                own = sorted({tok.text for tok in search_mod._ANALYZER(joined, mode="index")})
                sets = [*query_terms, *(frozenset([w]) for w in own[::7]),
                        frozenset(own[1::5])]
                out.extend((joined, terms) for terms in sets if terms)
    ix.close()
    return out


def _reference_fragments(text: str, spans: list[tuple[int, int, int]],
                         terms: frozenset[str]) -> list[wh.Fragment]:
    """What ``_fragments`` replaces: the analyzer's tokens of each span, marked, through
    Whoosh's own fragmenter."""
    tokens = chain.from_iterable(
        search_mod._ANALYZER(text[lo:hi], chars=True, mode="index", removestops=False,
                             start_char=lo) for lo, hi, _ in spans)
    return list(search_mod._FRAGMENTER.fragment_tokens(
        text, wh.set_matched_filter(tokens, terms)))


def _shape(fragments: list[wh.Fragment]) -> list[tuple[int, int, list[tuple[str, int, int]]]]:
    return [(f.startchar, f.endchar, [(t.text, t.startchar, t.endchar) for t in f.matches])
            for f in fragments]


@pytest.mark.parametrize("scan", ["SCAN_RE", "TOKEN_RE"])  # the fast scan, and the one it mirrors
def test_fragments_are_whooshs_on_the_analyzers_tokens(index_dir: Path, scan: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    if scan == "TOKEN_RE":
        monkeypatch.setattr(search_mod, "SCAN_RE", TOKEN_RE)
    cases = _texts_and_terms(index_dir)
    cases += [(text, frozenset(terms)) for text in AWKWARD
              for terms in ({"study"}, {"myasthenia_gravis", "gravis"}, {"cart", "cell"},
                            {"generalized", "study"}, {"refractory"}, {"mg-adl", "adl"},
                            {"the", "therapy"}, {"1.5", "2,000"}, {"imvt‐1402", "imvt"})]
    assert len(cases) > 500
    for text, terms in cases:
        spans = search_mod._spans(text, terms)
        for chosen in (spans, [(0, len(text), len(text))]):  # and the whole text
            assert _shape(search_mod._fragments(text, chosen, terms)) == _shape(
                _reference_fragments(text, chosen, terms)), (text[:80], sorted(terms))


def test_token_scan_matches_the_analyzer() -> None:
    """``SCAN_RE`` + ``_surface_texts`` give each token's place and texts as the analyzer
    (``TOKEN_RE``) does."""
    for text in [*AWKWARD, *(r.summary or "" for r in ALL), *(r.title for r in ALL)]:
        tokens = [((t.startchar, t.endchar), t.text) for t in search_mod._ANALYZER(
            text, chars=True, mode="index", removestops=False)]  # one token object, reused
        expected = [(span, tuple(t for _, t in group))
                    for span, group in groupby(tokens, key=lambda st: st[0])]
        scanned = [(m.span(), search_mod._surface_texts(m.lastgroup, m.group()))
                   for m in SCAN_RE.finditer(text)]
        assert scanned == expected, text[:80]


_WORD_RUN = re.compile(r"\w+")


def _reference_spans(text: str, terms: frozenset[str]) -> list[tuple[int, int]]:
    """Spans as they were found before: word characters counted run by run."""
    def words_after(pos: int) -> int:
        count = 0
        for m in _WORD_RUN.finditer(text, pos):
            count += m.end() - m.start()
            if count >= search_mod._AFTER_WORD_CHARS:
                return m.end()
        return len(text)

    spots = search_mod._spots(text, terms)
    if spots is None:
        return [(0, len(text))]
    spans: list[list[int]] = []
    for start, end in sorted(spots):
        lo = text.rfind(" ", 0, max(0, start - search_mod._BEFORE)) + 1 \
            if start > search_mod._BEFORE else 0
        hi = text.find(" ", words_after(end))
        hi = len(text) if hi < 0 else hi
        if spans and lo <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], hi)
        else:
            spans.append([lo, hi])
    return [(lo, hi) for lo, hi in spans]


def test_spans_are_found_as_before(index_dir: Path) -> None:
    cases = _texts_and_terms(index_dir) + [
        (text, frozenset(t)) for text in AWKWARD + ["é" * 300 + " study", "a_b " * 100]
        for t in ({"study"}, {"gravis"}, {"b"})]
    for text, terms in cases:
        spans = search_mod._spans(text, terms)
        assert [(lo, hi) for lo, hi, _ in spans] == _reference_spans(text, terms)
        spots = search_mod._spots(text, terms)
        for lo, hi, last in spans:  # ``last``: where the span's last spot ends
            assert last == max((e for s, e in spots or [(0, len(text))]
                                if lo <= s < hi), default=last)


def test_priors_are_the_columns_values(index_dir: Path) -> None:
    ix = open_index(index_dir)
    with ix.searcher() as searcher:
        column = searcher.reader().column_reader("prior")
        priors = taat.priors_of(searcher)
        assert isinstance(priors, taat._SegmentPriors)
        values = [priors(d) for d in range(searcher.doc_count_all())]
        assert values == [column[d] for d in range(searcher.doc_count_all())]
        assert len(set(values)) > 1  # the records' priors differ: the test can see a mix-up
    ix.close()


def test_ranked_scores_are_the_straightforward_products(index_dir: Path) -> None:
    """``Matches.ranked``'s scores, bit for bit: base x coverage, then x prior / 1000."""
    ix = open_index(index_dir)
    with ix.searcher() as searcher:
        column = searcher.reader().column_reader("prior")
        for text in ENGINE_QUERIES:
            q = parse_query(text)
            search_mod._drop_absent(q, searcher.reader())
            matches = taat.evaluate(searcher, Prior(q))
            assert matches is not None
            expected = []
            for s in matches.segments:
                for d in s.docs:
                    base = s.acc[d] * matches._coverage(s.mask[d]) \
                        if matches.plan.coordinated else s.acc[d]
                    g = s.offset + d
                    expected.append((g, base * (column[g] or 1000) / 1000))
            expected.sort(key=lambda gs: (-gs[1], gs[0]))
            assert matches.ranked(None) == expected, text
            assert all(matches.score(g) == score for g, score in expected), text
    ix.close()


def test_short_inlined_lists_are_scored_as_the_block_reader_scores_them(
        tmp_path: Path) -> None:
    """``_term_scores`` reads a short inlined list straight from its term info; the scores
    are those of the general path (``info_blocks``), bit for bit.  A bulk-written segment
    inlines short lists (as a bulk import writes them)."""
    from trialscope.index.engine.fastwriter import FastSegmentWriter
    from trialscope.index.indexer import add_segments
    from trialscope.index.schema import record_to_doc

    path = tmp_path / "index"
    open_index(path, create=True).close()
    writer = FastSegmentWriter(open_index(path), _lk=False, compound=False)
    for record in ALL:
        writer.add_document(**record_to_doc(record))
    add_segments(path, [writer.finish_segment()])
    ix = open_index(path)
    inlined = 0
    with ix.searcher() as searcher:
        terms = taat.terms_of(searcher)
        seg = terms.leaves[0][2]
        for field in ("title", "summary", "conditions"):
            for tbytes in seg.lexicon(field):
                text = tbytes.decode("utf-8")
                info = terms.infos(field, text)[0]
                params = taat._scorer_params(terms, field, text)
                if params is None or not info.is_inlined():
                    continue
                inlined += 1
                idf, avgfl, b, k1 = params
                lb, den = taat.lengths(seg, field), taat._norms(avgfl, b, k1)
                expected_ids, expected = [], []
                for ids, ws in taat.info_blocks(seg, field, tbytes, info):
                    ws = (1.0,) * len(ids) if ws is None else ws
                    expected_ids.extend(ids)
                    expected.extend(idf * ((tf * (k1 + 1)) / (tf + den[lb[d]]))
                                    for d, tf in zip(ids, ws))
                ids, scores = taat._term_scores(terms, 0, info, field, text, params)
                assert (list(ids), list(scores)) == (expected_ids, expected), (field, text)
    ix.close()
    assert inlined > 50
