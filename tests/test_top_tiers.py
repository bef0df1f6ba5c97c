"""Review of ``Matches._top_tiers`` through search(): pages at offsets, filters, intents and
groups give what the full ranking gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from trialscope.index import search as search_mod
from trialscope.index.engine import taat

from .test_search import index_dir  # noqa: F401  (the module fixture)

TEXTS = ["pembrolizumab", "nivolumab lung", "rituximab myasthenia", "CAR-T myasthenia gravis",
         "tyrosine kinase inhibitor", "monoclonal antibody therapy", "recruiting lung cancer",
         "children myasthenia gravis", "phase 3 breast cancer in China"]


def _pages(index_dir: Path) -> list[Any]:  # noqa: F811
    out = []
    for text in TEXTS:
        for filters in ({}, {"status": ["recruiting"]}):
            for offset, limit in ((0, 1), (0, 3), (2, 3), (5, 10), (0, 1000), (40, 5)):
                res = search_mod.search(index_dir, text, limit=limit, offset=offset, **filters)
                out.append((text, filters, offset, limit, res.total,
                            [(h.trial_id, repr(h.score)) for h in res.hits]))
            res = search_mod.search(index_dir, text, limit=3, keep=lambda t: t[-1] in "02468")
            out.append((text, filters, "keep", res.total, [h.trial_id for h in res.hits]))
            every = search_mod.search(index_dir, text, limit=None)
            groups = {h.trial_id: h.trial_id[:-1] for h in every.hits}  # ~10 a group
            for offset, limit in ((0, 1), (0, 3), (1, 2)):
                res = search_mod.search(index_dir, text, limit=limit, offset=offset,
                                        groups=groups, **filters)
                out.append((text, filters, "groups", offset, res.total,
                            [(h.trial_id, repr(h.score)) for h in res.hits]))
    return out


def test_top_tier_pages_are_the_full_rankings_pages(
        index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    fast = _pages(index_dir)
    monkeypatch.setattr(taat.Matches, "_top_tiers", lambda self, k: self.segments)
    full = _pages(index_dir)
    diffs = [(a, b) for a, b in zip(fast, full) if a != b]
    assert not diffs, diffs[:3]
    assert sum(1 for row in fast if row[-1]) > len(fast) // 2
