"""A searcher kept open across calls (``index.search.KeptSearcher``, what ``trials serve`` uses):
the same answers as a searcher opened per call, the index's changes seen at the next call (a
commit that adds trials, a rebuilt index swapped into place), and threads that share it."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.test_search import ALL
from trialscope.index.indexer import index_records
from trialscope.index.search import KeptSearcher, search

QUERIES = [
    ("myasthenia gravis CAR-T", {}),
    ("CAR T myasthenia", {"status": ["recruiting"]}),
    ("\"physical therapy\"", {}),
    ("depression", {"facets": True}),
    ("drug-3 obesity", {"limit": 5, "offset": 2}),
    ("recruiting phase 1 in China", {}),
    ("", {"limit": 7}),
]


def answer(index_dir: Path, query: str, kept: KeptSearcher | None, **options: Any) -> Any:
    r = search(index_dir, query, kept=kept, **options)
    return (r.total, [(h.trial_id, h.score, h.snippet) for h in r.hits], r.query_repr,
            r.facets)


def test_kept_answers_as_a_searcher_opened_per_call(tmp_path: Path) -> None:
    index_records(tmp_path / "index", ALL)
    kept = KeptSearcher(tmp_path / "index")
    try:
        for _ in range(2):  # the second round is served from what the searcher kept
            for query, options in QUERIES:
                assert answer(tmp_path / "index", query, kept, **options) == \
                    answer(tmp_path / "index", query, None, **options), query
    finally:
        kept.close()


def test_kept_sees_a_commit_and_a_swapped_index(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    half = len(ALL) // 2
    index_records(index_dir, ALL[:half])
    kept = KeptSearcher(index_dir)
    try:
        assert search(index_dir, "", kept=kept, limit=1).total == half
        index_records(index_dir, ALL[half:])  # another process's commit: a new segment
        assert search(index_dir, "", kept=kept, limit=1).total == len(ALL)
        # `trials reindex` builds a fresh index beside the old one and swaps it in
        fresh = tmp_path / "fresh"
        index_records(fresh, ALL[:3])
        os.replace(index_dir, tmp_path / "old")
        os.replace(fresh, index_dir)
        assert search(index_dir, "", kept=kept, limit=1).total == 3
    finally:
        kept.close()


def test_threads_share_one_kept_searcher(tmp_path: Path) -> None:
    index_records(tmp_path / "index", ALL)
    expected = {q: answer(tmp_path / "index", q, None, **o) for q, o in QUERIES}
    kept = KeptSearcher(tmp_path / "index")
    errors: list[BaseException] = []
    wrong: list[str] = []

    def work() -> None:
        try:
            for _ in range(5):
                for query, options in QUERIES:
                    if answer(tmp_path / "index", query, kept, **options) != expected[query]:
                        wrong.append(query)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        kept.close()
    assert not errors and not wrong


def test_kept_searcher_of_a_missing_index_raises_the_usual_error(tmp_path: Path) -> None:
    from trialscope.index.indexer import NoIndexError

    kept = KeptSearcher(tmp_path / "nothing")
    with pytest.raises(NoIndexError):
        search(tmp_path / "nothing", "x", kept=kept)
