"""Review of the pair path (index/pairs.py, taat._add_pair) in cases test_pairs.py does not
cover: a segment with deleted documents, filters (``ok``), field prefixes, boolean operators,
unquoted spellings, and phrase leaves with a boost or a slop set by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from trialscope.index import search as search_mod
from trialscope.index.engine import taat
from trialscope.index.engine.fastwriter import FastSegmentWriter
from trialscope.index.indexer import open_index

from .test_fastwriter import DOCS
from .test_pairs import _phrases


def _results(index_dir: Path, texts: list[str], **filters: Any) -> dict[str, Any]:
    out = {}
    for text in texts:
        for limit in (3, 200):
            res = search_mod.search(index_dir, text, limit=limit, facets=True, **filters)
            out[f"{text} {limit}"] = (res.total, res.facets,
                                      [(h.trial_id, repr(h.score)) for h in res.hits])
    return out


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("r10") / "bulk"
    docs = [dict(doc, trial_id=f"{doc['trial_id']}-{i}") for i in range(12) for doc in DOCS]
    open_index(base, create=True).close()
    for part in (docs[::3], docs[1::3] + docs[2::3]):
        writer = FastSegmentWriter(open_index(base), compound=False)
        for doc in part:
            writer.add_document(**doc)
        writer.commit()
    ix = open_index(base)
    writer = ix.writer(compound=False)
    for doc in docs[::5]:
        writer.delete_by_term("trial_id", doc["trial_id"])
    writer.commit(merge=False)
    ix.close()
    return base


def _variants() -> list[str]:
    out = []
    for p in _phrases(12)[:12]:
        # (the parser gives a phrase no slop and only field boosts: see the test below)
        out += [p, f"title:{p}", f"summary:{p}", f"{p} trial", p.strip('"'), f"{p} OR cancer",
                f"{p} AND NOT cancer"]
    return out


@pytest.mark.parametrize("filters", [{}, {"status": ["recruiting"]}, {"phase": ["phase 2"]}])
def test_pair_path_equals_positions_in_more_cases(home: Path, filters: dict[str, Any],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    with open_index(home).searcher() as s:
        assert all(taat.has_pairs(sub.reader()) for sub, _ in s.leaf_searchers())
        assert any(sub.reader().has_deletions() for sub, _ in s.leaf_searchers())
    texts = _variants()
    with_pairs = _results(home, texts, **filters)
    monkeypatch.setattr(taat, "has_pairs", lambda seg: False)
    from_positions = _results(home, texts, **filters)
    diffs = [k for k in with_pairs if with_pairs[k] != from_positions[k]]
    assert not diffs, diffs[:5]
    assert sum(1 for v in with_pairs.values() if v[0]) > (0 if filters else len(texts))


def _phrase_leaves(q: Any) -> list[Any]:
    from whoosh import query as wq
    out = []
    stack = [q]
    while stack:
        x = stack.pop()
        if isinstance(x, wq.Phrase):
            out.append(x)
        stack.extend(getattr(x, "subqueries", ()) or ())
        if getattr(x, "child", None) is not None:
            stack.append(x.child)
    return out


@pytest.mark.parametrize("boost,slop", [(2.5, 1), (0.5, 1), (1.0, 2), (3.0, 3)])
def test_pair_path_with_a_boost_or_slop_on_the_leaf(home: Path, boost: float, slop: int,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The parser gives no slop and only field boosts: the leaves are set by hand here."""
    from .test_engine_runs import _accumulated

    calls = []
    real = taat._add_pair
    monkeypatch.setattr(taat, "_add_pair", lambda *a: calls.append(1) or real(*a))
    ix = open_index(home)
    with ix.searcher() as searcher:
        allowed = [set(range(0, sub.reader().doc_count_all(), 3))
                   for sub, _ in searcher.leaf_searchers()]
        got: dict[str, Any] = {}
        for text in _phrases(12)[:12]:
            q = search_mod.parse_query(text, literal=True)
            leaves = _phrase_leaves(q)
            assert leaves, text
            for leaf in leaves:
                leaf.boost *= boost
                leaf.slop = slop
            got[text] = (_accumulated(searcher, q, None), _accumulated(searcher, q, allowed))
        assert bool(calls) == (slop == 1)  # the pairs answered (slop 1 only)
        monkeypatch.setattr(taat, "has_pairs", lambda seg: False)
        for text in got:
            q = search_mod.parse_query(text, literal=True)
            for leaf in _phrase_leaves(q):
                leaf.boost *= boost
                leaf.slop = slop
            assert got[text] == (_accumulated(searcher, q, None),
                                 _accumulated(searcher, q, allowed)), text
        assert sum(1 for a, _ in got.values() if any(acc for acc, _ in a)) >= 6
    ix.close()


def test_a_whoosh_merge_of_pair_segments_with_deletions_keeps_the_pairs(
        home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whoosh's own merge (optimize) of the bulk writer's segments, deleted documents
    dropped, and of a segment without pairs whose documents are all deleted: one segment
    whose every document has pairs, answering as positions do."""
    import shutil

    merged = tmp_path / "merged"
    shutil.copytree(home, merged)
    ix = open_index(merged)
    writer = ix.writer(compound=False)
    extra = dict(DOCS[0], trial_id="NCT-EXTRA")
    writer.add_document(**extra)  # no pairs
    writer.commit(merge=False)
    writer = ix.writer(compound=False)
    writer.delete_by_term("trial_id", "NCT-EXTRA")
    writer.commit(optimize=True)
    ix.close()
    with open_index(merged).searcher() as s:
        leaves = [sub.reader() for sub, _ in s.leaf_searchers()]
        assert len(leaves) == 1 and not leaves[0].has_deletions()
        assert taat.has_pairs(leaves[0])
    texts = _phrases(20)
    with_pairs = _results(merged, texts)
    before = _results(home, texts)  # (scores differ: the deleted documents left the stats)
    assert {k: v[0] for k, v in with_pairs.items()} == {k: v[0] for k, v in before.items()}
    monkeypatch.setattr(taat, "has_pairs", lambda seg: False)
    assert with_pairs == _results(merged, texts)
