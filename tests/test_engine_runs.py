"""index/engine/taat.py's shortcuts for expanded queries give what the plain paths give, to
the last bit: ``_Run`` (a unit's run of term leaves merged per segment) against the leaves
added one by one, ``_Spelled`` (a concept's phrase kept) against ``_add_phrase``, and
``Matches._top_tiers`` (only the keys that can reach the page ranked) against the full
ranking."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from trialscope.index import search as search_mod
from trialscope.index.engine import taat
from trialscope.index.indexer import open_index
from trialscope.index.ranking import Prior

from .test_engine_scale import _open, _queries, indexes  # noqa: F401  (module fixture)
from .test_search import index_dir  # noqa: F401  (the module fixture)

# drug classes (an INN stem: the members in the interventions), aliases, several units
EXPANDED = ["pembrolizumab", "nivolumab lung", "osimertinib egfr", "rituximab myasthenia",
            "efgartigimod", "CAR-T myasthenia gravis", "tyrosine kinase inhibitor",
            "monoclonal antibody therapy", "eculizumab ravulizumab", "zilucoplan children"]


def _plain_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(taat, "RUN_MIN", 10**9)
    monkeypatch.setattr(taat, "KEEP_SPELLINGS", False)


def _kept_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs of two terms or more merged (every unit's terms make one); spellings kept."""
    monkeypatch.setattr(taat, "RUN_MIN", 2)
    monkeypatch.setattr(taat, "KEEP_SPELLINGS", True)


def _plain(acc: Any) -> dict[int, Any]:
    """A segment's accumulator (a list or a dict) as {doc: value} of its nonzero entries."""
    items = acc.items() if isinstance(acc, dict) else enumerate(acc)
    return {d: v for d, v in items if v}


def _accumulated(searcher: Any, q: Any, allowed: Any) -> list[tuple[Any, Any]]:
    terms = taat.terms_of(searcher)
    p = taat.plan(searcher, q, terms)
    assert p is not None
    out = []
    for k in range(len(terms.leaves)):
        acc, mask = taat._accumulate(searcher, terms, p, k, allowed[k] if allowed else None)
        out.append((_plain(acc), None if mask is None else _plain(mask)))
    return out


def _expanded(searcher: Any, text: str) -> Any:
    """``text`` as search() expands it (aliases, classes, stems), absent leaves dropped."""
    q = search_mod.parse_query(text)
    search_mod.expand_aliases(q, search_mod._TableFrequencies(searcher))
    q = search_mod.class_units(q)
    search_mod.expand_stems(q, searcher.reader())
    search_mod._drop_absent(q, taat.terms_of(searcher))
    return q


@pytest.mark.parametrize("sparse", [False, True])
def test_runs_add_what_their_leaves_add(index_dir: Path, sparse: bool,  # noqa: F811
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every segment's scores and matched-word masks, with the runs merged (RUN_MIN low, so
    that every unit's terms make one) and without (RUN_MIN too high): equal, with list
    and dict accumulators, with and without a filter, the merged runs cold and kept."""
    if sparse:  # dict accumulators whatever the lists' lengths (for BM25F terms only)
        monkeypatch.setattr(taat, "SPARSE_SHARE", 0)
    ix = open_index(index_dir)
    checked = spelled = 0
    with ix.searcher() as searcher:
        every = [set(range(sub.doc_count_all())) for sub, _ in searcher.leaf_searchers()]
        some = [{d for d in docs if d % 3} for docs in every]
        for text in EXPANDED:
            q = Prior(_expanded(searcher, text)).child
            for allowed in (None, some):
                _plain_paths(monkeypatch)
                plain = _accumulated(searcher, q, allowed)
                _kept_paths(monkeypatch)
                taat.terms_of(searcher).runs.clear()
                merged = _accumulated(searcher, q, allowed)  # the runs made
                kept = _accumulated(searcher, q, allowed)  # the runs kept
                assert merged == plain == kept, (text, allowed is not None)
                p = taat.plan(searcher, q, taat.terms_of(searcher))
                checked += bool(p and p.runs)
                spelled += bool(p and p.spelled)
    ix.close()
    assert checked >= len(EXPANDED) // 2  # some queries had a run (two checks each)
    assert spelled >= 2  # and some a spelling of several words


def test_runs_on_the_engine_corpus(indexes: dict[str, Path],  # noqa: F811
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The same on a many-segment index with long posting lists (blocks, not inlined)."""
    texts = [t for t in _queries(indexes["multi"]) if ":" not in t and '"' not in t
             and "*" not in t and t.upper() == t.upper().replace(" AND ", "")
             and " OR " not in t and "NOT" not in t]
    ix = _open(indexes["multi"])
    with ix.searcher() as searcher:
        for text in texts:
            q = search_mod.parse_query(text)
            search_mod._drop_absent(q, taat.terms_of(searcher))
            if taat.plan(searcher, q) is None:
                continue
            _plain_paths(monkeypatch)
            plain = _accumulated(searcher, q, None)
            _kept_paths(monkeypatch)
            assert _accumulated(searcher, q, None) == plain, text
    ix.close()


def test_search_is_the_same_with_and_without_runs(index_dir: Path,  # noqa: F811
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def run() -> list[Any]:
        out = []
        for text in EXPANDED:
            res = search_mod.search(index_dir, text, limit=50, facets=True)
            out.append((res.total, res.facets,
                        [(h.trial_id, repr(h.score), h.snippet) for h in res.hits]))
        return out
    _plain_paths(monkeypatch)
    plain = run()
    _kept_paths(monkeypatch)
    assert run() == plain


def test_a_page_of_the_top_tiers_is_the_head_of_the_full_ranking(
        index_dir: Path) -> None:  # noqa: F811
    ix = open_index(index_dir)
    checked = 0
    with ix.searcher() as searcher:
        for text in EXPANDED + ["myasthenia gravis therapy", "refractory lupus nephritis"]:
            matches = taat.evaluate(searcher, Prior(_expanded(searcher, text)), tiered=True)
            assert matches is not None, text
            checked += matches.tiers is not None
            full = matches.ranked(None)
            for k in (1, 2, 3, 5, 10, len(full) - 1, len(full), len(full) + 1):
                if k > 0:
                    assert matches.ranked(k) == full[:k], (text, k)
    ix.close()
    assert checked >= 8  # most in tiers (a single unit is not)
