"""The word-pair index (index/pairs.py): its terms are exactly the adjacent pairs the analyzer
gives, and a phrase read from a pair finds and scores what the positions find and score."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from trialscope.index import pairs
from trialscope.index import search as search_mod
from trialscope.index.analysis import clinical_analyzer
from trialscope.index.engine import taat
from trialscope.index.engine.fastwriter import FastSegmentWriter
from trialscope.index.indexer import index_records, open_index

from .test_fastwriter import DOCS


def _brute_pairs(doc: dict[str, Any]) -> list[str]:
    """The pair terms from the analyzer's own tokens (Whoosh's path, not index_positions)."""
    analyzer = clinical_analyzer()
    out = set()
    for name, code in pairs.CODES.items():
        value = doc.get(name)
        if not value:
            continue
        at: dict[int, set[str]] = {}
        for t in analyzer(value, mode="index", positions=True):
            at.setdefault(t.pos, set()).add(t.text)
        for p, firsts in at.items():
            for a in firsts:
                for b in at.get(p + 1, ()):
                    if (a in pairs.COMMON and b in pairs.FREQUENT) or (
                            b in pairs.COMMON and a in pairs.FREQUENT):
                        out.add(f"{code}{a} {b}")
    return [pairs.MARKER, *sorted(out)]


def test_pair_terms_are_the_analyzers_adjacent_pairs() -> None:
    made = 0
    for doc in DOCS:
        found = pairs.pairs_value(doc).split("\n")
        assert found == _brute_pairs(doc), doc["trial_id"]
        made += len(found) - 1
    assert made > 200


def test_the_table_is_small_and_holds_the_commonest_words() -> None:
    assert {"study", "patient", "treatment"} <= pairs.COMMON <= pairs.FREQUENT
    assert 8 <= len(pairs.COMMON) <= 64 and 200 <= len(pairs.FREQUENT) <= 5000
    assert pairs.pair_term("summary", "study", "group") == "sstudy group"
    assert pairs.pair_term("summary", "clinical", "study") == "sclinical study"
    assert pairs.pair_term("summary", "escalation", "study") is None  # not frequent
    assert pairs.pair_term("summary", "cell", "lung") is None  # neither word common
    assert pairs.pair_term("summary", "study", "myasthenia_gravis") is None  # not frequent
    assert pairs.pair_term("locations", "study", "group") is None  # a field without pairs


def _phrases(limit: int = 60) -> list[str]:
    """Two-word phrases of the fixture texts with a common word, commonest first, and a few
    without one (positions)."""
    counts: Counter[str] = Counter()
    for doc in DOCS:
        for term in pairs.pairs_value(doc).split("\n")[1:]:
            counts[term[1:]] += 1
    out = [f'"{t}"' for t, _ in counts.most_common(limit) if t.replace(" ", "").isalnum()]
    return out + ['"heart failure"', '"myasthenia gravis"', '"safety and efficacy"']


def _results(index_dir: Path, texts: list[str]) -> dict[str, Any]:
    out = {}
    for text in texts:
        for limit in (10, 200):
            res = search_mod.search(index_dir, text, limit=limit, facets=True)
            out[f"{text} {limit}"] = (res.total, res.facets,
                                      [(h.trial_id, repr(h.score), h.snippet) for h in res.hits])
    return out


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The fixture documents x 12 (lists of several blocks): written by the bulk writer in two
    segments (pairs), and by Whoosh's writer without pairs (an index made before them)."""
    base = tmp_path_factory.mktemp("pairs")
    docs = [dict(doc, trial_id=f"{doc['trial_id']}-{i}") for i in range(12) for doc in DOCS]
    out = {}
    out["bulk"] = base / "bulk"
    open_index(out["bulk"], create=True).close()
    for part in (docs[::3], docs[1::3] + docs[2::3]):
        writer = FastSegmentWriter(open_index(out["bulk"]), compound=False)
        for doc in part:
            writer.add_document(**doc)
        writer.commit()
    out["old"] = base / "old"
    ix = open_index(out["old"], create=True)
    writer = ix.writer(compound=False)
    for doc in docs:
        writer.add_document(**doc)  # no pairs field: what a home indexed before has
    writer.commit()
    ix.close()
    return out


def test_a_phrase_from_its_pair_equals_the_phrase_from_positions(
        homes: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    texts = _phrases()
    calls: Counter[bool] = Counter()
    real = taat._add_pair

    def spy(*args: Any) -> None:
        calls[True] += 1
        real(*args)

    monkeypatch.setattr(taat, "_add_pair", spy)
    with_pairs = _results(homes["bulk"], texts)
    assert calls[True] > len(texts)  # the pairs answered
    monkeypatch.setattr(taat, "has_pairs", lambda seg: False)
    from_positions = _results(homes["bulk"], texts)
    assert with_pairs == from_positions
    assert sum(1 for v in with_pairs.values() if v[0]) > len(texts)  # most phrases match


def test_an_index_without_pairs_answers_from_positions(homes: dict[str, Path]) -> None:
    texts = _phrases(15)
    with open_index(homes["old"]).searcher() as s:
        assert not any(taat.has_pairs(sub.reader()) for sub, _ in s.leaf_searchers())
    old = _results(homes["old"], texts)
    new = _results(homes["bulk"], texts)
    assert {k: v[0] for k, v in old.items()} == {k: v[0] for k, v in new.items()}


def test_a_segment_with_a_document_lacking_pairs_answers_from_positions(
        tmp_path: Path) -> None:
    """Whoosh's writer merges segments: a document without pairs (written by code that made
    none) in a segment keeps that segment on positions."""
    from trialscope.core.record import TrialRecord

    home = tmp_path / "mixed"
    records = [TrialRecord(trial_id=f"NCT0000000{i}", registry="ctgov", title=f"study group {i}",
                           summary="The study group will be treated.") for i in range(3)]
    index_records(home, records[:2])  # indexer.py's writes make pairs
    with open_index(home).searcher() as s:
        assert all(taat.has_pairs(sub.reader()) for sub, _ in s.leaf_searchers())
    ix = open_index(home)
    writer = ix.writer(compound=False)
    from trialscope.index.schema import record_to_doc

    writer.add_document(**record_to_doc(records[2]))  # no pairs
    writer.commit(optimize=True)  # one segment
    ix.close()
    with open_index(home).searcher() as s:
        assert not any(taat.has_pairs(sub.reader()) for sub, _ in s.leaf_searchers())
    res = search_mod.search(home, '"study group"', limit=10)
    assert res.total == 3
