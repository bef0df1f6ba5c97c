"""Issue 13, "nothing lost, nothing silent": the maintenance, export, search-input and
file-system edges.  Each fault is driven through the CLI and must end as the error contract
(``Error: ...`` on stderr, exit 1, ``{"error": ...}`` under --json), never a traceback, and
never with stored data lost."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from trialscope.cli.main import cli
from trialscope.cli.output import write_csv
from trialscope.index import search as search_mod
from trialscope.store.lock import LOCK_NAME, RefreshLock

from .conftest import CTGOV_FIXTURES

N_FIXTURES = len(list(CTGOV_FIXTURES.glob("*.json")))
REF = "NCT06958939"


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self) -> object:
        return json.loads(self.out)


def run(home: Path, *args: str) -> Result:
    result = CliRunner().invoke(cli, ["--home", str(home), *args], catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"traceback instead of an error: {result.exception!r}"
                             f"\n{result.stderr}") from result.exception
    return Result(result.exit_code, result.stdout, result.stderr)


def assert_error(res: Result, code: str | None = None) -> None:
    assert res.code == 1, (res.code, res.out, res.err)
    assert res.err.startswith("Error: "), res.err
    assert "Traceback" not in res.err
    if code is not None and res.out.strip().startswith("{"):
        assert res.json()["error"]["code"] == code, res.out


@pytest.fixture
def loaded(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    res = run(home, "import", str(CTGOV_FIXTURES), "--json")
    assert res.code == 0, res.err
    return home


# -- 6: maintenance writers take the writer lock; leftovers of killed runs are cleaned --------

def test_reindex_refuses_while_another_writer_holds_the_lock(loaded: Path) -> None:
    lock = RefreshLock(loaded / LOCK_NAME, command="import").acquire()
    try:
        res = run(loaded, "reindex", "--json")
        assert_error(res, "locked")
        err = res.json()["error"]
        assert f"pid {os.getpid()}" in err["message"] and "(import)" in err["message"]
    finally:
        lock.release()
    assert run(loaded, "reindex", "--json").json() == {"indexed": N_FIXTURES}


def test_reindex_and_repair_remove_leftovers_of_killed_rebuilds(loaded: Path) -> None:
    killed = loaded / ".index.rebuild-k1l1ed"
    killed.mkdir()
    (killed / "_MAIN_1.toc").write_bytes(b"half a rebuild")
    old = loaded / ".index.old-999999"
    old.mkdir()
    (old / "seg.seg").write_bytes(b"x")
    report = run(loaded, "check", "--json")
    assert report.code == 1
    assert sorted(report.json()["leftovers"]) == sorted([str(killed), str(old)])
    assert killed.exists() and old.exists()  # a plain check only reads
    res = run(loaded, "reindex", "--json")
    assert res.json() == {"indexed": N_FIXTURES}
    assert not killed.exists() and not old.exists()
    again = loaded / ".index.rebuild-again"
    again.mkdir()
    res = run(loaded, "check", "--repair", "--json")
    assert res.code == 0, res.out
    assert not again.exists()
    assert run(loaded, "search", "myasthenia", "--json").json()["total"] > 0


def test_a_swap_killed_midway_gets_its_index_back(loaded: Path) -> None:
    # killed between moving the old index aside and moving the new one in
    os.replace(loaded / "index", loaded / ".index.old-999999")
    (loaded / ".index.rebuild-partial").mkdir()
    res = run(loaded, "check", "--repair", "--json")
    assert res.code == 0, res.out
    assert (loaded / "index").is_dir()
    assert not any(p.name.startswith(".index.") for p in loaded.iterdir())
    assert run(loaded, "info", "--json").json()["indexed"] == N_FIXTURES


# -- 7: export ------------------------------------------------------------------------------

def test_export_bad_query_leaves_the_old_file_intact(loaded: Path, tmp_path: Path) -> None:
    target = tmp_path / "mg.csv"
    target.write_text("precious\n")
    res = run(loaded, "export", "title:(myasthenia", "--format", "csv", "-o", str(target))
    assert_error(res)
    assert target.read_text() == "precious\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mg.csv")]


def test_export_given_a_file_name_as_its_query_says_use_o(loaded: Path, tmp_path: Path) -> None:
    """`trials export trials.jsonl` would search for the words of the file name and print to
    stdout: an error naming -o instead, and nothing written."""
    res = run(loaded, "export", str(tmp_path / "trials.jsonl"))
    assert_error(res, "bad_argument")
    assert "-o" in res.err and not res.out.strip()
    assert not (tmp_path / "trials.jsonl").exists()


def test_export_replaces_the_file_only_when_complete(loaded: Path, tmp_path: Path) -> None:
    target = tmp_path / "all.jsonl"
    target.write_text("old\n")
    res = run(loaded, "export", "-o", str(target))
    assert res.code == 0, res.err
    lines = target.read_text().splitlines()
    assert len(lines) == N_FIXTURES and json.loads(lines[0])["trial_id"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["all.jsonl"]


@pytest.mark.parametrize("where", ["store", "inside", "symlink"])
def test_export_never_writes_into_the_data_home(loaded: Path, tmp_path: Path,
                                               where: str) -> None:
    store = loaded / "store.sqlite"
    before = store.stat().st_size
    if where == "store":
        target = store
    elif where == "inside":
        target = loaded / "index" / "x.jsonl"
    else:
        target = tmp_path / "innocent.csv"
        target.symlink_to(store)
    res = run(loaded, "export", "--format", "csv", "-o", str(target))
    assert_error(res)
    assert "data home" in res.err
    assert store.stat().st_size == before
    assert run(loaded, "info", "--json").json()["trials"] == N_FIXTURES
    assert not (loaded / "index" / "x.jsonl").exists()


def test_export_into_a_missing_folder_is_a_clear_error(loaded: Path, tmp_path: Path) -> None:
    res = run(loaded, "export", "-o", str(tmp_path / "nowhere" / "x.csv"))
    assert_error(res)
    assert "nowhere" in res.err and "does not exist" in res.err


def _record_with(tmp_path: Path, **fields: object) -> Path:
    data = json.loads((CTGOV_FIXTURES / f"{REF}.json").read_text())
    ident = data["protocolSection"]["identificationModule"]
    ident.update(fields)
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(data))
    return path


def test_csv_cells_cannot_start_a_formula(tmp_path: Path) -> None:
    home = tmp_path / "home"
    evil = _record_with(tmp_path, briefTitle='=HYPERLINK("http://x.invalid","click")')
    assert run(home, "import", str(evil)).code == 0
    target = tmp_path / "out.csv"
    assert run(home, "export", "--format", "csv", "-o", str(target)).code == 0
    with target.open(encoding="utf-8") as f:
        row = next(csv.DictReader(f))
    assert row["title"] == "'" + '=HYPERLINK("http://x.invalid","click")'
    # the shared writer: --csv listings of search and parse get the same treatment
    rows = list(csv.DictReader(io.StringIO(run(home, "search", "hyperlink", "--csv").out)))
    assert rows and rows[0]["title"].startswith("'=")
    parsed = list(csv.DictReader(io.StringIO(run(home, "parse", str(evil), "--csv").out)))
    assert parsed[0]["title"].startswith("'=")


def test_write_csv_neutralises_strings_and_keeps_numbers() -> None:
    out = io.StringIO()
    cells = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx", "plain", "-1.5", "+3"]
    rows = [{"c": c} for c in cells] + [{"c": -1.5}, {"c": 7}, {"c": ["=a", "b"]}]
    write_csv(rows, ["c"], out)
    got = [r["c"] for r in csv.DictReader(io.StringIO(out.getvalue()))]
    # (a CR inside a cell is written as a line feed: csv leaves a bare CR unquoted)
    assert got == ["'=1+1", "'+SUM(A1)", "'-2+3", "'@cmd", "'\tx", "'\nx", "plain", "-1.5",
                   "+3", "-1.5", "7", "'=a; b"]


# -- 9: search input limits -----------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["enrollment:[0 TO 99999999999]"],
    ["enrollment:99999999999"],
    ["enrollment:[-99999999999 TO 5]"],
    ["min_age:[0 TO 1e400]"],
    ["myasthenia", "--min-enrollment", "99999999999"],
    ["myasthenia", "--max-enrollment", "99999999999"],
])
def test_numeric_ranges_beyond_the_field_are_clamped(loaded: Path, args: list[str]) -> None:
    res = run(loaded, "search", *args, "--json")
    assert res.code in (0, 1), res.err
    if res.code == 1:
        assert_error(res, "bad_query")
    else:
        assert "results" in res.json()


def test_an_open_ended_enrollment_range_still_finds_everything(loaded: Path) -> None:
    wide = run(loaded, "search", "enrollment:[0 TO 99999999999]", "--json").json()
    open_ended = run(loaded, "search", "enrollment:[0 TO]", "--json").json()
    assert wide["total"] == open_ended["total"] > 0
    assert run(loaded, "search", "", "--min-enrollment", "99999999999",
               "--json").json()["total"] == 0


def test_not_a_number_is_refused(loaded: Path) -> None:
    for q in ("enrollment:nan", "enrollment:[0 TO inf]"):
        assert_error(run(loaded, "search", q, "--json"), "bad_query")


@pytest.mark.parametrize("query", [
    "(" * 300 + "myasthenia" + ")" * 300,
    "NOT " * 300 + "myasthenia",
    "title:(" * 100 + "myasthenia" + ")" * 100,
])
def test_deep_nesting_is_refused(loaded: Path, query: str) -> None:
    res = run(loaded, "search", query, "--json")
    assert_error(res, "bad_query")
    assert "nest" in res.json()["error"]["message"]


def test_moderate_nesting_still_works(loaded: Path) -> None:
    q = "(" * 10 + "myasthenia" + ")" * 10
    assert run(loaded, "search", q, "--json").json()["total"] > 0


@pytest.mark.parametrize("query", ["?????*", "*thenia", "?yasthenia", "m?asthenia", "*"])
def test_a_wildcard_needs_a_literal_prefix(loaded: Path, query: str) -> None:
    if query == "*":  # "*" alone means everything: the empty query
        assert run(loaded, "search", query, "--json").code == 0
        return
    res = run(loaded, "search", query, "--json")
    assert_error(res, "bad_query")
    assert "2 letters" in res.json()["error"]["message"]


def test_wildcards_with_a_prefix_still_work(loaded: Path) -> None:
    assert run(loaded, "search", "myasth*", "--json").json()["total"] > 0
    assert run(loaded, "search", "myas?henia", "--json").json()["total"] > 0


def test_too_many_wildcards_are_refused(loaded: Path) -> None:
    for n in (2000, 100):  # 2,000 is past the term limit already; 100 past the wildcard one
        query = " OR ".join(f"ab{i}*" for i in range(n))
        res = run(loaded, "search", query, "--json")
        assert_error(res, "bad_query")
        assert ("wildcard" if n == 100 else "terms") in res.json()["error"]["message"]
    assert run(loaded, "search", "myasth* OR cell* OR car*", "--json").code == 0


def test_too_many_terms_are_refused(loaded: Path) -> None:
    query = " OR ".join(f"word{i}" for i in range(2000))
    res = run(loaded, "search", query, "--json")
    assert_error(res, "bad_query")
    assert "terms" in res.json()["error"]["message"]
    long_and = " AND ".join(["myasthenia"] * 150)
    assert run(loaded, "search", long_and, "--json").code == 0


def test_wildcard_expansion_is_bounded(loaded: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ok = run(loaded, "search", "co*", "--json")
    assert ok.code == 0 and ok.json()["total"] > 0
    monkeypatch.setattr(search_mod, "MAX_EXPANSION", 5)
    res = run(loaded, "search", "co*", "--json")
    assert_error(res, "bad_query")
    assert "more than 5" in res.json()["error"]["message"]
    assert "longer" in res.json()["error"]["hint"]


# -- 10: file-system edges ------------------------------------------------------------------

def test_home_under_a_regular_file(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    for args in (["import", str(CTGOV_FIXTURES / f"{REF}.json")], ["info"], ["reindex"],
                 ["show", REF], ["search", "x"], ["check"], ["check", "--repair"],
                 ["export", "-o", str(tmp_path / "x.jsonl")]):
        res = run(afile / "home", *args, *([] if args[0] == "export" else ["--json"]))
        assert_error(res, "bad_home")
        assert "is a file" in res.err
    assert afile.read_text() == "not a folder"


def test_home_with_a_missing_parent(tmp_path: Path) -> None:
    home = tmp_path / "not" / "yet" / "home"
    assert_error(run(home, "show", REF, "--json"), "no_index")
    assert not home.exists()  # reading creates nothing
    assert run(home, "import", str(CTGOV_FIXTURES / f"{REF}.json")).code == 0
    assert run(home, "show", REF, "--json").json()["trial_id"] == REF


def test_a_missing_index_points_at_reindex_not_at_a_crawl(loaded: Path) -> None:
    shutil.rmtree(loaded / "index")
    for args in (["search", "myasthenia"], ["related", REF]):
        res = run(loaded, *args, "--json")
        assert_error(res, "no_index")
        error = res.json()["error"]
        assert "trials reindex" in error["hint"] and "crawl" not in error["hint"]
        assert f"{N_FIXTURES} trial" in error["message"]
    assert run(loaded, "info", "--json").json()["indexed"] == 0
    assert run(loaded, "reindex").code == 0
    assert run(loaded, "search", "myasthenia", "--json").json()["total"] > 0


def _trials(home: Path, *args: str, drop_privileges: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*drop_privileges, sys.executable, "-m", "trialscope.cli", "--home", str(home), *args],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


def _read_only_runner() -> list[str]:
    """How to run a process that file permissions bind.  Root ignores them (CAP_DAC_OVERRIDE),
    so as root the child runs without that capability (setpriv); otherwise as is."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("root without setpriv: read-only permissions cannot be simulated")
    cmd = [setpriv, "--bounding-set", "-dac_override,-dac_read_search,-fowner"]
    probe = subprocess.run([*cmd, "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"setpriv cannot drop capabilities here: {probe.stderr!r}")
    return cmd


def _chmod_tree(root: Path, writable: bool) -> None:
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        if writable:
            path.chmod(mode | stat.S_IWUSR)
        else:
            path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def test_a_read_only_home_reads_and_refuses_writes_clearly(loaded: Path,
                                                           tmp_path: Path) -> None:
    runner = _read_only_runner()
    store = loaded / "store.sqlite"
    before = store.read_bytes()
    _chmod_tree(loaded, writable=False)
    try:
        probe = _trials(loaded, "info", "--json", drop_privileges=runner)
        assert probe.returncode == 0, probe.stderr
        assert json.loads(probe.stdout)["trials"] == N_FIXTURES
        shown = _trials(loaded, "show", REF, "--json", drop_privileges=runner)
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["trial_id"] == REF
        found = _trials(loaded, "search", "myasthenia", "--json", drop_privileges=runner)
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout)["total"] > 0
        exported = _trials(loaded, "export", drop_privileges=runner)
        assert exported.returncode == 0, exported.stderr
        assert len(exported.stdout.splitlines()) == N_FIXTURES
        checked = _trials(loaded, "check", "--json", drop_privileges=runner)
        assert checked.returncode == 0, checked.stderr
        for args in (["history", REF], ["changes", "--since", "2000-01-01"],
                     ["related", REF]):
            res = _trials(loaded, *args, "--json", drop_privileges=runner)
            assert res.returncode == 0, (args, res.stderr)
        for args in (["import", str(CTGOV_FIXTURES / f"{REF}.json")], ["reindex"],
                     ["check", "--repair"], ["crawl", "--offline", "--no-progress"],
                     ["refresh"]):
            res = _trials(loaded, *args, "--json", drop_privileges=runner)
            assert res.returncode == 1, (args, res.stdout, res.stderr)
            assert "Traceback" not in res.stderr, res.stderr
            assert res.stderr.startswith("Error: ") and "read-only" in res.stderr, res.stderr
            assert json.loads(res.stdout)["error"]["code"] == "read_only"
            assert "move the file away" not in res.stderr
    finally:
        _chmod_tree(loaded, writable=True)
    assert store.read_bytes() == before


def test_a_read_only_store_is_never_called_unusable(loaded: Path) -> None:
    """Without the permission trick: the store opened read-only by hand, as on read-only
    media, answers reads (index.store's read-only mode)."""
    from trialscope.store.db import Store

    with Store(loaded / "store.sqlite", readonly=True) as store:
        assert store.counts()["trials"] == N_FIXTURES
        assert store.get(REF) is not None
        with pytest.raises(Exception, match="readonly"):
            store.mark_unindexed([REF])


# -- 11b: parse --json is always a list -----------------------------------------------------

def test_parse_json_is_always_a_list(tmp_path: Path) -> None:
    one = run(tmp_path / "home", "parse", str(CTGOV_FIXTURES / f"{REF}.json"), "--json")
    assert one.code == 0
    data = one.json()
    assert isinstance(data, list) and [r["trial_id"] for r in data] == [REF]
    two = run(tmp_path / "home", "parse", str(CTGOV_FIXTURES / f"{REF}.json"),
              str(CTGOV_FIXTURES / "NCT05828225.json"), "--json").json()
    assert isinstance(two, list) and len(two) == 2
