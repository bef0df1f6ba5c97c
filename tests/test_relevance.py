"""Search relevance on the judged query set must not fall below what was reached.

The figures (bench/relevance.py): mean nDCG@10 0.982, P@5 0.533, recall@20 1.000 over 30
queries.  A change that costs more than the margin below is a regression to look at.
"""

from __future__ import annotations

import importlib.util
import json

import pytest

from .conftest import FIXTURES, REPO

FLOORS = {"ndcg@10": 0.97, "p@5": 0.52, "recall@20": 0.98}
MG_CART = {"NCT06958939", "NCT05828225", "NCT06759948", "NCT07058298", "NCT06371040",
           "NCT06419166", "NCT04146051", "NCT06799247"}
NON_MG_CART = {"NCT03361748", "NCT02348216", "NCT05938725"}


@pytest.fixture(scope="module")
def report() -> dict:
    spec = importlib.util.spec_from_file_location("relevance", REPO / "bench" / "relevance.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.evaluate()


def test_the_query_set_is_well_formed() -> None:
    queries = json.loads((FIXTURES / "eval" / "queries.json").read_text())["queries"]
    assert len(queries) >= 20 and len({q["id"] for q in queries}) == len(queries)
    corpus = {p.stem for p in (FIXTURES / "ctgov" / "studies").glob("*.json")}
    corpus |= {p.stem for p in (FIXTURES / "eval" / "corpus").glob("*.json")}
    for q in queries:
        assert q["relevant"] and set(q["relevant"].values()) <= {1, 2}
        assert set(q["relevant"]) <= corpus and set(q["non_relevant"]) <= corpus
        assert not set(q["relevant"]) & set(q["non_relevant"]), q["id"]


def test_means_stay_above_the_floors(report: dict) -> None:
    for metric, floor in FLOORS.items():
        assert report["means"][metric] >= floor, (metric, report["means"])


@pytest.mark.parametrize("qid", ["cart-mg-1", "cart-mg-2", "cart-mg-3"])
def test_mg_cart_trials_above_every_non_mg_cart_trial(report: dict, qid: str) -> None:
    """The issue's "done when": each spelling of CAR-T + MG."""
    ranked = next(q for q in report["queries"] if q["id"] == qid)["ranked"]
    assert MG_CART <= set(ranked)
    last_mg = max(ranked.index(t) for t in MG_CART)
    assert all(ranked.index(t) > last_mg for t in NON_MG_CART if t in ranked), ranked
