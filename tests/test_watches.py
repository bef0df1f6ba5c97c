"""Watches: `trials watch add|list|remove`, `crawl --save-as`, and the run bookkeeping that
makes a refresh resumable."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.mockserver import MockServer, run_trials
from trialscope.app.refresh import ChangedIdsArgs, plan_watch, since_day
from trialscope.cli.main import cli
from trialscope.crawler.replay import bundled_studies_dir
from trialscope.store.db import Store
from trialscope.store.watches import Watch, WatchBook, WatchError

MG = "myasthenia gravis"


def invoke(home: Path, *args: str):  # noqa: ANN201
    return CliRunner().invoke(cli, ["--home", str(home), *args])


def test_add_list_and_remove(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = invoke(home, "watch", "list")
    assert result.exit_code == 0 and "No watches yet" in result.output
    result = invoke(home, "watch", "add", "mg-cart", "--condition", MG, "--intervention",
                    "CAR-T", "--status", "open")
    assert result.exit_code == 0, result.output
    assert result.output == ("Watch 'mg-cart' saved: condition=\"myasthenia gravis\" "
                             "intervention=\"CAR-T\" status=\"NOT_YET_RECRUITING,RECRUITING,"
                             "ENROLLING_BY_INVITATION\". Run 'trials refresh' to fetch it.\n")
    result = invoke(home, "watch", "add", "mine", "--id", "nct06958939, NCT05828225",
                    "--json")
    assert json.loads(result.output)["ids"] == ["NCT06958939", "NCT05828225"]
    listed = json.loads(invoke(home, "watch", "list", "--json").output)
    assert [(w["name"], w["kind"], w["last_success_at"], w["trials"]) for w in listed] == [
        ("mg-cart", "query", None, 0), ("mine", "ids", None, 0)]
    assert listed[0]["cond"] == MG and listed[0]["intr"] == "CAR-T"
    text = invoke(home, "watch", "list").output
    assert "mine" in text and "last success never" in text
    result = invoke(home, "watch", "remove", "mine")
    assert result.exit_code == 0 and "Watch 'mine' removed" in result.output
    assert [w["name"] for w in json.loads(invoke(home, "watch", "list", "--json").output)] \
        == ["mg-cart"]


@pytest.mark.parametrize(("args", "code", "message"), [
    (["add", "bad name!", "--condition", MG], 2,
     "Error: 'bad name!' is not a usable watch name."),
    (["add", "x"], 1, "Error: A watch needs ids or a query."),
    (["add", "x", "--id", "NCT1"], 1, "Error: --id 'NCT1': not an NCT id"),
    (["add", "x", "--id", "NCT06958939", "--condition", MG], 1,
     "Error: --id 'NCT06958939' cannot be combined with a query (--condition"),
    (["remove", "nope"], 2, "Error: No watch named 'nope'."),
])
def test_bad_watches_are_refused_with_the_reason(tmp_path: Path, args: list[str], code: int,
                                                 message: str) -> None:
    result = invoke(tmp_path / "home", "watch", *args)
    assert result.exit_code == code
    assert result.output.startswith(message), result.output


def test_a_name_is_used_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert invoke(home, "watch", "add", "mg", "--condition", MG).exit_code == 0
    result = invoke(home, "watch", "add", "mg", "--condition", "lupus", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "exists"
    assert result.stderr.startswith("Error: A watch named 'mg' exists already.")


def test_refresh_without_watches_or_with_an_unknown_one_is_a_usage_error(
        tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = invoke(home, "refresh")
    assert result.exit_code == 2
    assert result.output.startswith("Error: Nothing to refresh: no watches yet.")
    invoke(home, "watch", "add", "mg", "--condition", MG)
    result = invoke(home, "refresh", "--watch", "nope")
    assert result.exit_code == 2 and "No watch named 'nope'" in result.output
    assert (home / "refresh.lock").read_text() == ""  # the lock was released


# -- planning --------------------------------------------------------------------------------
def test_plans_full_then_changed_since_and_ids_in_chunks(tmp_path: Path) -> None:
    with Store(tmp_path / "store.sqlite") as store:
        query = Watch(name="q", cond=MG)
        assert [p.mode for p in plan_watch(query, store)] == ["full"]
        query.last_success_at = "2025-06-10T03:00:00Z"
        (plan,) = plan_watch(query, store)
        assert plan.mode == "since" and plan.since == since_day(query.last_success_at)
        assert ("filter.advanced", "AREA[LastUpdatePostDate]RANGE[2025-06-08,MAX]") \
            in plan.args.search_params()
        assert plan_watch(query, store, full=True)[0].mode == "full"

        ids = [f"NCT{n:08d}" for n in range(1, 451)]
        watch = Watch(name="i", ids=ids, last_success_at="2025-06-10T03:00:00Z")
        # None stored yet: fetched one by one (a 404 is a trial gone).
        assert [(p.mode, len(p.args.ids)) for p in plan_watch(watch, store)] == [("ids", 450)]
        bundled = bundled_studies_dir() / "NCT06958939.json"
        from trialscope.parser.ctgov import parse_study_json

        record = parse_study_json(bundled.read_text(encoding="utf-8"))
        for tid in ids[:430]:
            store.put_record(_as(record, tid), "{}")
        plans = plan_watch(watch, store)
        assert [(p.mode, len(p.args.ids) or len(p.args.filter_ids)) for p in plans] == [
            ("ids", 20), ("since", 200), ("since", 200), ("since", 30)]
        assert isinstance(plans[1].args, ChangedIdsArgs)
        params = dict(plans[1].args.search_params())
        assert params["filter.ids"].split(",") == ids[:200]


def _as(record, trial_id):  # noqa: ANN001, ANN202
    import dataclasses

    return dataclasses.replace(record, trial_id=trial_id)


# -- run bookkeeping -------------------------------------------------------------------------
def run_statuses(store_path: Path) -> list[str]:
    """The refresh runs' statuses, newest first (read straight from the table)."""
    conn = sqlite3.connect(store_path)
    try:
        return [s for (s,) in conn.execute("SELECT status FROM refresh_runs ORDER BY id DESC")]
    finally:
        conn.close()


def test_a_run_left_running_is_marked_interrupted_by_the_next(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    Store(path).close()
    with WatchBook(path) as book:
        book.add(Watch(name="w", cond=MG))
        first, started, killed = book.begin_run(pid=1, host="h")
        assert killed == []
        book.start_watch("w", started, 0)
        # ... killed here: no finish_run, no finish_watch
        second, started2, killed = book.begin_run(pid=2, host="h")
        assert killed == [first] and second == first + 1
        watch = book.start_watch("w", started2, 5)
        assert (watch.pending_since, watch.pending_mark) == (started, 0)  # the first window
        assert run_statuses(path) == ["running", "interrupted"]
        book.record_members("w", ["NCT1", "NCT2"], started2)
        book.finish_watch("w", status="ok", success_at=started2)
        watch = book.require("w")
        assert (watch.last_success_at, watch.pending_since, watch.pending_mark) == (
            started2, None, None)
        assert watch.trials == 2 and book.members("w") == ["NCT1", "NCT2"]
        with pytest.raises(WatchError):
            book.require("missing")


# -- crawl --save-as -------------------------------------------------------------------------
def test_a_crawl_saved_as_a_watch_is_refreshed_by_what_changed_since(tmp_path: Path) -> None:
    studies = tmp_path / "studies"
    shutil.copytree(str(bundled_studies_dir()), studies)
    home = tmp_path / "home"
    with MockServer(studies) as mock:
        proc = run_trials(home, "crawl", "--condition", MG, "--save-as", "mg", "--json",
                          api=mock.url)
        assert proc.returncode == 0, proc.stderr
        saved = json.loads(proc.stdout)["watch"]
        assert saved["name"] == "mg" and saved["last_success_at"] is not None
        # --since limits the crawl: the watch must still fetch the rest on its first refresh
        proc = run_trials(home, "crawl", "--condition", "multiple myeloma", "--since",
                          "2020-01-01", "--save-as", "myeloma", api=mock.url)
        assert proc.returncode == 0, proc.stderr
        mock.clear()
        proc = run_trials(home, "refresh", "--json", api=mock.url)
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        assert [(w["name"], w["mode"]) for w in report["watches"]] == [("mg", "since"),
                                                                      ("myeloma", "full")]
        assert report["nothing_changed"]


def test_save_as_is_checked_before_the_crawl(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = invoke(home, "crawl", "--offline", "--save-as", "demo")
    assert result.exit_code == 1
    assert result.output.startswith("Error: --save-as cannot be used with --offline")
    invoke(home, "watch", "add", "mg", "--condition", MG)
    result = invoke(home, "crawl", "--condition", MG, "--save-as", "mg")
    assert result.exit_code == 1 and "A watch named 'mg' exists already" in result.output
    result = invoke(home, "crawl", "--condition", MG, "--save-as", "a b")
    assert result.exit_code == 1 and "'a b' is not a usable watch name" in result.output
