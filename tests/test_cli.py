"""The `trials` command line: every command, its output formats and its error paths."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from trialscope.cli.main import cli

from .conftest import CTGOV_FIXTURES, shared_params

REAL_STUDIES = shared_params("data/ctgov-v2/studies")


def run(home: Path, *args: str) -> CliResult:
    result = CliRunner().invoke(cli, ["--home", str(home), *args], catch_exceptions=False)
    return CliResult(result.exit_code, result.stdout, result.stderr)


class CliResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self) -> object:
        return json.loads(self.out)


@pytest.fixture
def loaded(home: Path) -> Path:
    res = run(home, "import", str(CTGOV_FIXTURES), "--json")
    assert res.code == 0, res.err
    return home


def test_import_twice_is_idempotent(home: Path) -> None:
    first = run(home, "import", str(CTGOV_FIXTURES), "--json").json()
    n = len(list(CTGOV_FIXTURES.glob("*.json")))
    assert first["new"] == n and first["failed"] == 0 and first["indexed"] == n
    second = run(home, "import", str(CTGOV_FIXTURES), "--json").json()
    assert (second["new"], second["changed"], second["unchanged"], second["indexed"]) == (
        0, 0, n, 0)
    info = run(home, "info", "--json").json()
    assert info["trials"] == n and info["versions"] == n and info["indexed"] == n
    # sizes on disk, whole and per trial (the store counts its WAL too)
    assert info["store_bytes"] > 0 and info["index_bytes"] > 0
    assert info["store_bytes_per_trial"] == round(info["store_bytes"] / n)
    assert info["index_bytes_per_trial"] == round(info["index_bytes"] / n)
    text = run(home, "info").out
    assert "store size:" in text and "index size:" in text and "kB a trial" in text


def test_show_reference_trial_json(loaded: Path) -> None:
    rec = run(loaded, "show", "NCT06958939", "--json").json()
    assert rec["status"] == "NOT_YET_RECRUITING" and rec["phases"] == ["PHASE1"]
    assert rec["enrollment"]["count"] == 24
    assert rec["start_date"] == "2025-05-01" and rec["completion_date"] == "2026-08-30"
    assert [d["value"] for arm in rec["arms"] for d in arm["doses"]] == [1e6, 2e6, 4e6, 8e6]
    assert len(rec["interventions"]) == 4
    assert {d["per"] for arm in rec["arms"] for d in arm["doses"]} == {"kg"}
    assert rec["eligibility"]["inclusion"] and rec["eligibility"]["exclusion"]
    assert rec["_store"]["versions"] == 1


def test_show_card_is_readable(loaded: Path) -> None:
    res = run(loaded, "show", "nct06958939")
    assert res.code == 0
    for text in ("NCT06958939", "NOT_YET_RECRUITING", "Arms (1)", "Inclusion (", "Exclusion (",
                 "dose: 1 × 10^6 cells/kg"):
        assert text in res.out


@pytest.mark.parametrize("bad", ["NCT123", "NCT0695893X", "!!"])
def test_show_malformed_id(loaded: Path, bad: str) -> None:
    res = run(loaded, "show", bad)
    assert res.code == 1 and res.out == ""
    assert res.err.startswith("Error: ") and bad in res.err
    res = run(loaded, "show", bad, "--json")
    assert res.json()["error"]["code"] == "invalid_id"


def test_show_unknown_id(loaded: Path) -> None:
    res = run(loaded, "show", "NCT00000000")
    assert res.code == 1 and "not in the local store" in res.err and "--fetch" in res.err


def test_nothing_stored_yet(home: Path) -> None:
    for args in (["search", "CAR-T"], ["show", "NCT06958939"], ["reindex"], ["export"]):
        res = run(home, *args)
        assert res.code == 1, args
        assert "trials crawl --offline" in res.err, args


def test_search_finds_the_seed_trials(loaded: Path) -> None:
    res = run(loaded, "search", "refractory myasthenia gravis CAR-T", "--json", "--limit", "5")
    ids = [r["trial_id"] for r in res.json()["results"]]
    assert "NCT06958939" in ids and "NCT05828225" in ids
    table = run(loaded, "search", "refractory myasthenia gravis CAR-T").out
    assert "found" in table and "NCT06958939" in table


def test_search_filters_and_formats(loaded: Path) -> None:
    res = run(loaded, "search", "myasthenia", "--status", "open", "--json", "--limit", "100")
    statuses = {r["status"] for r in res.json()["results"]}
    assert statuses and statuses <= {"NOT_YET_RECRUITING", "RECRUITING", "ENROLLING_BY_INVITATION"}
    nl = run(loaded, "search", "myasthenia", "--nl").out.strip().splitlines()
    assert all(json.loads(line)["trial_id"] for line in nl)
    rows = list(csv.DictReader(io.StringIO(run(loaded, "search", "myasthenia", "--csv").out)))
    assert rows and rows[0]["trial_id"].startswith("NCT")


@pytest.mark.parametrize("query", ['title:(myasthenia', '"unclosed phrase', 'foo:bar'])
def test_search_bad_query_is_an_error_not_zero_results(loaded: Path, query: str) -> None:
    res = run(loaded, "search", query)
    assert res.code == 1 and res.err.startswith("Error: ")
    assert run(loaded, "search", query, "--json").json()["error"]["code"] == "bad_query"


def test_export_jsonl_and_csv(loaded: Path, tmp_path: Path) -> None:
    out = run(loaded, "export").out.strip().splitlines()
    assert len(out) == len(list(CTGOV_FIXTURES.glob("*.json")))
    assert json.loads(out[0])["trial_id"]
    target = tmp_path / "mg.csv"
    res = run(loaded, "export", "myasthenia", "--format", "csv", "-o", str(target))
    assert res.code == 0
    with target.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows and all("yasthenia" in (r["title"] + r["conditions"]) for r in rows)


def test_reindex_rebuilds_same_count(loaded: Path) -> None:
    n = len(list(CTGOV_FIXTURES.glob("*.json")))
    assert run(loaded, "reindex", "--json").json() == {"indexed": n}
    assert run(loaded, "info", "--json").json()["indexed"] == n


def test_parse_prints_records_and_touches_no_store(home: Path) -> None:
    res = run(home, "parse", str(CTGOV_FIXTURES / "NCT06958939.json"), "--json")
    assert [r["trial_id"] for r in res.json()] == ["NCT06958939"]
    assert not home.exists()


def test_parse_bad_file(home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"studies": [{"protocolSection": ')
    res = run(home, "parse", str(bad))
    assert res.code == 1 and "bad.json" in res.err and "invalid_json" in res.err
    res = run(home, "parse", str(tmp_path / "missing.json"))
    assert res.code == 1 and "No such file" in res.err


def test_import_keeps_a_bad_payload_and_goes_on(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a_bad.json").write_text("{oops")
    (folder / "b_good.json").write_text((CTGOV_FIXTURES / "NCT06958939.json").read_text())
    res = run(home, "import", str(folder), "--json")
    assert res.code == 1
    data = res.json()
    assert data["new"] == 1 and data["failed"] == 1
    assert run(home, "info", "--json").json()["failures"] == 1


@pytest.mark.parametrize("path", REAL_STUDIES, ids=lambda p: p.stem)
def test_parse_real_sample_via_cli(home: Path, path: Path) -> None:
    [rec] = run(home, "parse", str(path), "--json").json()
    study = json.loads(path.read_text())["protocolSection"]
    assert rec["status"] == study["statusModule"]["overallStatus"]
    assert len(rec["locations"]) == len(study.get("contactsLocationsModule", {})
                                        .get("locations", []))


def test_help_lists_the_stable_command_names() -> None:
    out = CliRunner().invoke(cli, ["--help"]).stdout
    for name in ("crawl", "import", "parse", "show", "search", "export", "reindex"):
        assert f"  {name}" in out


def _trials(home: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "trialscope.cli", "--home", str(home), *args],
        capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})},
    )


def test_crawl_offline_end_to_end_twice(home: Path) -> None:
    """The README's first command: crawl the bundled fixtures through the real spider."""
    first = _trials(home, "crawl", "--offline", "--json", "--no-progress")
    assert first.returncode == 0, first.stderr
    s1 = json.loads(first.stdout)
    n = len(list(CTGOV_FIXTURES.glob("*.json")))
    assert s1["new"] == n and s1["finish_reason"] == "finished" and s1["indexed"] == n
    second = json.loads(_trials(home, "crawl", "--offline", "--json", "--no-progress").stdout)
    assert (second["new"], second["changed"], second["unchanged"], second["indexed"]) == (
        0, 0, n, 0)
    info = json.loads(_trials(home, "info", "--json").stdout)
    assert info["versions"] == n and info["indexed"] == n
    top = json.loads(_trials(home, "search", "refractory myasthenia gravis CAR-T", "--json",
                             "--limit", "5").stdout)
    ids = [r["trial_id"] for r in top["results"]]
    assert "NCT06958939" in ids and "NCT05828225" in ids


def test_crawl_online_without_selector_is_refused(home: Path) -> None:
    res = _trials(home, "crawl", env={"TRIALS_CTGOV_API": "http://127.0.0.1:9"})
    assert res.returncode != 0 and "Error:" in res.stderr and "Traceback" not in res.stderr


def test_crawl_bad_since(home: Path) -> None:
    res = _trials(home, "crawl", "--condition", "mg", "--since", "yesterday")
    assert res.returncode != 0 and "since" in res.stderr and "Traceback" not in res.stderr


def test_show_fetch_and_crawl_by_id_against_a_mirror(home: Path) -> None:
    """TRIALS_CTGOV_API points the real code path at a stand-in registry on 127.0.0.1."""
    from .mockserver import UNKNOWN, MockServer

    with MockServer() as mock:
        env = {"TRIALS_CTGOV_API": mock.url}
        res = _trials(home, "show", "NCT06958939", "--fetch", "--json", env=env)
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout)["trial_id"] == "NCT06958939"
        res = _trials(home, "show", UNKNOWN, "--fetch", env=env)
        assert res.returncode == 1 and f"does not know {UNKNOWN}" in res.stderr
        res = _trials(home, "crawl", "--id", f"NCT05828225,{UNKNOWN}", "--json", env=env)
        summary = json.loads(res.stdout)
        assert summary["new"] == 1 and summary["not_found"] == [UNKNOWN]
    assert mock.hits, "the crawl must have gone to the mirror"
