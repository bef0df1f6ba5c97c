"""Review: ``Terms.keep_run``'s budget (MAX_RUN_POSTINGS) holds whatever the runs' sizes."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from trialscope.index.engine import taat
from trialscope.index.indexer import open_index

from .test_search import index_dir  # noqa: F401  (the module fixture)


def test_a_run_larger_than_the_budget_is_not_kept(index_dir: Path) -> None:  # noqa: F811
    with open_index(index_dir).searcher() as searcher:
        terms = taat.Terms(searcher)
        terms.MAX_RUN_POSTINGS = 100
        for i in range(5):
            terms.keep_run((0, ("small", i)), SimpleNamespace(size=20))
        assert len(terms.runs) == 4  # (each entry counts one more: 4 x 21)
        terms.keep_run((0, ("big",)), SimpleNamespace(size=250))  # one run over the budget
        assert terms._run_postings <= terms.MAX_RUN_POSTINGS
        assert terms._run_postings == sum(r.size + 1 for r in terms.runs.values())
        assert (0, ("big",)) not in terms.runs
        assert len(terms.runs) == 4  # and the kept ones stay
        terms.keep_run((0, ("small", 9)), SimpleNamespace(size=30))  # the oldest go
        assert terms._run_postings <= terms.MAX_RUN_POSTINGS
        assert terms._run_postings == sum(r.size + 1 for r in terms.runs.values())


def test_empty_runs_and_spellings_are_bounded_too(index_dir: Path) -> None:  # noqa: F811
    """A spelling absent from a segment is kept as an empty ``_Spelled`` (size 0): a
    long-lived searcher asked many such phrases must not keep them all."""
    with open_index(index_dir).searcher() as searcher:
        terms = taat.Terms(searcher)
        terms.MAX_RUN_POSTINGS = 100
        for i in range(10_000):
            terms.keep_run((0, ("phrase", "title", (f"w{i}", "x"), 1)), SimpleNamespace(size=0))
        assert len(terms.runs) <= terms.MAX_RUN_POSTINGS
