"""`trials check`: the store and the index agree (counts, ids, content), and --repair makes
them agree again whatever broke: a document missing, extra, doubled or stale, marks that lag,
an index absent or damaged."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import CTGOV_FIXTURES
from trialscope.app.check import check
from trialscope.app.service import import_paths
from trialscope.cli.main import cli
from trialscope.index import indexer
from trialscope.index.schema import record_to_doc
from trialscope.store.db import Store
from trialscope.store.home import DataHome

TRIAL = "NCT06958939"


@pytest.fixture
def home(tmp_path: Path) -> DataHome:
    home = DataHome(tmp_path / "home")
    summary = import_paths(home, [CTGOV_FIXTURES])
    assert summary.new == summary.indexed > 10
    return home


def writer(home: DataHome):  # noqa: ANN201
    ix = indexer.open_index(home.index_dir)
    return ix, ix.writer()


def test_a_fresh_import_is_consistent(home: DataHome) -> None:
    report = check(home)
    assert report.ok and report.problems() == []
    assert report.store_trials == report.index_docs == report.store_versions


def test_a_missing_document_is_found_and_repaired(home: DataHome) -> None:
    ix, w = writer(home)
    w.delete_by_term("trial_id", TRIAL)
    w.commit()
    ix.close()
    report = check(home)
    assert not report.ok and report.missing == [TRIAL]
    repaired = check(home, repair=True)
    assert repaired.ok and repaired.repaired == {"rebuilt": False, "deleted": 0,
                                                  "reindexed": 1}


def test_extra_and_duplicate_documents_are_removed(home: DataHome) -> None:
    with Store(home.store_path) as store:
        record = store.get(TRIAL)
    assert record is not None
    ghost = dataclasses.replace(record, trial_id="NCT00000001")
    ix, w = writer(home)
    w.add_document(**record_to_doc(ghost))
    w.add_document(**record_to_doc(record))  # a second document for one trial
    w.commit()
    ix.close()
    report = check(home)
    assert report.extra == ["NCT00000001"] and report.duplicates == [TRIAL]
    repaired = check(home, repair=True)
    assert repaired.ok and repaired.index_docs == repaired.store_trials
    assert repaired.repaired["deleted"] == 2


def test_a_document_older_than_the_store_is_found_even_when_the_marks_say_indexed(
        home: DataHome) -> None:
    with Store(home.store_path) as store:
        record = store.get(TRIAL)
        assert record is not None
        newer = dataclasses.replace(record, status="RECRUITING", title="A new title")
        result = store.put_record(newer, json.dumps({"v": 2}))
        # The marks claim the index holds it (an index restored from an old backup).
        store.mark_indexed([(TRIAL, store.info(TRIAL)["content_hash"])])
    assert result.outcome == "changed"
    report = check(home)
    assert report.stale == [TRIAL] and report.unsynced == []
    assert check(home, repair=True).ok


def test_store_writes_not_yet_indexed_are_reported_and_synced(home: DataHome) -> None:
    """The state a refresh killed between its crawl and its index sync leaves behind."""
    with Store(home.store_path) as store:
        record = store.get(TRIAL)
        assert record is not None
        store.put_record(dataclasses.replace(record, status="COMPLETED"), "{}")
    report = check(home)
    assert report.unsynced == [TRIAL] and not report.ok
    assert "not indexed yet" in "\n".join(report.problems())
    repaired = check(home, repair=True)
    assert repaired.ok
    with Store(home.store_path) as store:
        assert list(store.iter_unindexed()) == []


@pytest.mark.parametrize("damage", ["absent", "unreadable"])
def test_an_absent_or_damaged_index_is_rebuilt(damage: str, home: DataHome) -> None:
    if damage == "absent":
        shutil.rmtree(home.index_dir)
    else:
        for toc in home.index_dir.glob("_MAIN_*.toc"):
            toc.write_bytes(b"\x00garbage")
    report = check(home)
    assert report.index_state == damage and not report.ok
    assert len(report.missing) == report.store_trials
    repaired = check(home, repair=True)
    assert repaired.ok and repaired.repaired["rebuilt"]
    assert repaired.index_docs == repaired.store_trials


def test_an_empty_home_is_consistent(tmp_path: Path) -> None:
    report = check(DataHome(tmp_path / "empty"))
    assert report.ok and report.store_trials == 0


def test_check_on_the_command_line(home: DataHome) -> None:
    ix, w = writer(home)
    w.delete_by_term("trial_id", TRIAL)
    w.commit()
    ix.close()
    runner = CliRunner()
    args = ["--home", str(home.root), "check"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 1
    assert "Store and index DISAGREE" in result.output
    assert f"1 stored but not in the index: {TRIAL}" in result.output
    assert "Run 'trials check --repair'" in result.output
    result = runner.invoke(cli, [*args, "--repair", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["ok"] and data["repaired"]["reindexed"] == 1
    result = runner.invoke(cli, args)
    assert result.exit_code == 0 and "Store and index agree" in result.output
