"""`trials related ID`: the trials most like a given one, and the CLI around it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from trialscope.app import service
from trialscope.cli.main import cli
from trialscope.store.home import DataHome

from .conftest import CTGOV_FIXTURES

MG_CELL = {"NCT05828225", "NCT06759948", "NCT07058298", "NCT06371040", "NCT06419166",
           "NCT07243366", "NCT04146051", "NCT06799247", "NCT05451212"}
NON_MG_CART = {"NCT03361748", "NCT02348216", "NCT05938725"}


@pytest.fixture(scope="module")
def home_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("related") / "home"
    assert not service.import_paths(DataHome.resolve(str(root)), [CTGOV_FIXTURES]).failed
    return root


def run(home: Path, *args: str):
    return CliRunner().invoke(cli, ["--home", str(home), *args], catch_exceptions=False)


def test_reference_trial_puts_mg_cell_therapy_first(home_dir: Path) -> None:
    res = run(home_dir, "related", "NCT06958939", "--limit", "19", "--json")
    assert res.exit_code == 0, res.stderr
    ids = [r["trial_id"] for r in json.loads(res.stdout)["results"]]
    assert "NCT06958939" not in ids  # never itself
    assert set(ids[:len(MG_CELL)]) == MG_CELL, ids
    assert all(ids.index(t) > len(MG_CELL) - 1 for t in NON_MG_CART if t in ids)
    assert "NCT00204204" not in ids[:15]  # the car crash study is nothing like it


def test_a_biologic_trial_is_most_like_other_mg_trials(home_dir: Path) -> None:
    ids = [h.trial_id for h in service.related(DataHome.resolve(str(home_dir)),
                                               "NCT03669588", limit=10).hits]
    assert all(t not in NON_MG_CART for t in ids[:10])


def test_a_myeloma_cart_trial_is_most_like_other_cart_trials(home_dir: Path) -> None:
    ids = [h.trial_id for h in service.related(DataHome.resolve(str(home_dir)),
                                               "NCT03361748", limit=8).hits]
    # no other myeloma trial in the fixtures: the cell therapies, whatever the disease
    assert set(ids) <= (MG_CELL | NON_MG_CART | {"NCT06958939"}) and "NCT02348216" in ids


def test_related_human_output_says_what_is_shared(home_dir: Path) -> None:
    res = run(home_dir, "related", "nct06958939", "--limit", "3")
    assert res.exit_code == 0
    assert "Trials most like NCT06958939" in res.stdout and "shares: " in res.stdout


def test_shared_words_are_a_researchers_words(home_dir: Path) -> None:
    """'shares:' names what a researcher reads in the trials, never an index token
    ('cart', 'myasthenia_gravis', 'target:BCMA'), and a thing once."""
    hits = service.related(DataHome.resolve(str(home_dir)), "NCT05828225", limit=15).hits
    assert hits
    for hit in hits:
        words = [w.lower() for w in hit.shared]
        assert len(words) == len(set(words)), hit.shared
        assert not any(w in ("cart", "carnk", "caart") or "_" in w or w.startswith("target:")
                       for w in words), hit.shared
    by_id = {h.trial_id: h.shared for h in hits}
    # a CAR-NK trial is related to this CAR-T trial as a sibling therapy, and says so
    assert "CAR-NK (like CAR-T)" in by_id["NCT07243366"]
    assert "myasthenia gravis" in by_id["NCT07243366"]


@pytest.mark.parametrize("args, code, words", [
    (["related", "NCT00000000"], "not_found", "not in the local store"),
    (["related", "NCT123"], "invalid_id", "not a ClinicalTrials.gov id"),
])
def test_related_errors(home_dir: Path, args: list[str], code: str, words: str) -> None:
    res = run(home_dir, *args)
    assert res.exit_code == 1 and words in res.stderr
    assert json.loads(run(home_dir, *args, "--json").stdout)["error"]["code"] == code


def test_search_cli_flags(home_dir: Path) -> None:
    out = json.loads(run(home_dir, "search", "CAR-T", "--json", "--explain", "--target",
                         "BCMA", "--status", "open").stdout)
    assert out["total"] == len(out["results"]) > 0
    assert set(out["facets"]["target"]) >= {"BCMA"}
    first = out["results"][0]["explain"]
    assert first["fields"] and first["terms"] and 0 < first["coverage"] <= 1
    shown = run(home_dir, "search", "FcRn inhibitor", "--show-query", "--limit", "2")
    assert 'Parsed query: (("fcrn inhibitor"' in shown.stdout
    assert "Facets" in shown.stdout and "Status:" in shown.stdout
    human = run(home_dir, "search", "CAR-T", "--explain", "--limit", "1").stdout
    assert "x coverage" in human
    bad = run(home_dir, "search", "CAR-T", "--start-from", "yesterday")
    assert bad.exit_code == 1 and "not a date" in bad.stderr


def test_export_takes_the_search_filters(home_dir: Path) -> None:
    res = run(home_dir, "export", "myasthenia", "--target", "BCMA")
    ids = {json.loads(line)["trial_id"] for line in res.stdout.splitlines()}
    assert ids and "NCT05828225" not in ids and "NCT06958939" in ids
