"""`trials refresh` end to end: the real CLI in a subprocess against the mock API, whose data
changes between cycles and which misbehaves on demand.

Assertions are on the refresh's JSON report, the mock's request log and the store, never on
timings or log text.  Every request goes to 127.0.0.1; retry waits are milliseconds.
"""

from __future__ import annotations

import copy
import json
import shutil
import signal
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.mockserver import Fault, MockServer, run_trials, start_trials
from trialscope.crawler.replay import bundled_studies_dir
from trialscope.store.db import Store

MG = "myasthenia gravis"
TODAY = datetime.now(timezone.utc).date()
SINCE = (TODAY - timedelta(days=2)).isoformat()  # the refresh's safety overlap
NEW_TRIAL = "NCT07999999"
KARMMA = "NCT03361748"  # a myeloma trial: watched by id, outside the MG query


# -- helpers ---------------------------------------------------------------------------------
@pytest.fixture
def mock(tmp_path: Path) -> Iterator[MockServer]:
    studies = tmp_path / "studies"
    shutil.copytree(str(bundled_studies_dir()), studies)
    with MockServer(studies) as server:
        yield server


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def trials(home: Path, mock: MockServer, *args: str, settings: dict[str, Any] | None = None
           ) -> tuple[int, str, str]:
    proc = run_trials(home, *args, api=mock.url, settings=settings)
    return proc.returncode, proc.stdout, proc.stderr


def refresh(home: Path, mock: MockServer, *args: str,
            settings: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    code, out, err = trials(home, mock, "refresh", "--json", *args, settings=settings)
    assert out.strip(), err[-3000:]
    return code, json.loads(out)


def add_watch(home: Path, mock: MockServer, name: str, *args: str) -> None:
    code, _, err = trials(home, mock, "watch", "add", name, *args)
    assert code == 0, err


def watch_of(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(w for w in report["watches"] if w["name"] == name)


def update(mock: MockServer, nct_id: str, change: Callable[[dict[str, Any]], None],
           new_id: str | None = None) -> None:
    """Change a study as the registry would: the edit plus a new LastUpdatePostDate."""
    study = copy.deepcopy(mock.catalogue.studies[nct_id])
    ps = study["protocolSection"]
    if new_id:
        ps["identificationModule"]["nctId"] = new_id
    change(ps)
    ps.setdefault("statusModule", {})["lastUpdatePostDateStruct"] = {
        "date": TODAY.isoformat(), "type": "ACTUAL"}
    mock.catalogue.put(study)


def set_status(status: str, why: str | None = None) -> Callable[[dict[str, Any]], None]:
    def change(ps: dict[str, Any]) -> None:
        ps.setdefault("statusModule", {})["overallStatus"] = status
        if why:
            ps["statusModule"]["whyStopped"] = why
    return change


def set_enrollment(count: int) -> Callable[[dict[str, Any]], None]:
    def change(ps: dict[str, Any]) -> None:
        ps["designModule"]["enrollmentInfo"]["count"] = count
    return change


def counts(home: Path) -> dict[str, int]:
    with Store(home / "store.sqlite") as store:
        return store.counts()


def check_json(home: Path, mock: MockServer, *args: str) -> tuple[int, dict[str, Any]]:
    code, out, err = trials(home, mock, "check", "--json", *args)
    assert out.strip(), err
    return code, json.loads(out)


def mg_ids(mock: MockServer) -> set[str]:
    return {s["protocolSection"]["identificationModule"]["nctId"]
            for s in mock.catalogue.search({"query.cond": MG})}


# -- the "Done when" tests -------------------------------------------------------------------
def test_three_refresh_cycles_report_exactly_the_changes_made(home: Path,
                                                              mock: MockServer) -> None:
    add_watch(home, mock, "mg", "--condition", MG)
    add_watch(home, mock, "karmma", "--id", KARMMA)
    first_ids = mg_ids(mock) | {KARMMA}

    code, r1 = refresh(home, mock)
    assert code == 0 and r1["status"] == "ok"
    assert r1["totals"]["new"] == len(first_ids) and r1["totals"]["changed"] == 0
    assert {w["mode"] for w in r1["watches"]} == {"full"}

    # Cycle 2: a status change, an enrollment change, a new matching trial.
    update(mock, "NCT06958939", set_status("RECRUITING"))
    update(mock, "NCT05828225", set_enrollment(12))
    update(mock, "NCT05828225", set_status("RECRUITING"), new_id=NEW_TRIAL)
    code, r2 = refresh(home, mock)
    assert code == 0
    mg = watch_of(r2, "mg")
    assert (mg["mode"], mg["since"]) == ("since", SINCE)
    assert mg["new"] == [NEW_TRIAL]
    assert sorted(mg["changed"]) == ["NCT05828225", "NCT06958939"]
    assert mg["transitions"] == [{"trial_id": "NCT06958939", "from": "NOT_YET_RECRUITING",
                                  "to": "RECRUITING"}]
    assert mg["withdrawn"] == [] and mg["gone"] == [] and mg["failed"] == 0
    summaries = {c["trial_id"]: c["summary"] for c in r2["changes"]}
    assert summaries == {"NCT06958939": "status NOT_YET_RECRUITING -> RECRUITING",
                         "NCT05828225": "enrollment 9 -> 12",
                         NEW_TRIAL: "new trial (RECRUITING)"}
    karmma = watch_of(r2, "karmma")
    assert (karmma["new"], karmma["changed"], karmma["unchanged"]) == ([], [], 0)

    # Cycle 3: a withdrawn trial, and a status change on the id-watched trial.
    update(mock, "NCT06419166", set_status("WITHDRAWN", "Sponsor decision"))
    update(mock, KARMMA, set_status("COMPLETED"))
    code, r3 = refresh(home, mock)
    assert code == 0
    mg = watch_of(r3, "mg")
    assert mg["new"] == [] and mg["changed"] == ["NCT06419166"]
    assert mg["withdrawn"] == ["NCT06419166"]
    # cycle 2's changes are inside the overlap window: fetched again, unchanged
    assert mg["unchanged"] == 3
    karmma = watch_of(r3, "karmma")
    assert karmma["changed"] == [KARMMA]
    assert karmma["transitions"] == [{"trial_id": KARMMA, "from": "ACTIVE_NOT_RECRUITING",
                                      "to": "COMPLETED"}]
    assert {c["trial_id"]: c["summary"] for c in r3["changes"]} == {
        "NCT06419166": "status NOT_YET_RECRUITING -> WITHDRAWN; why_stopped (none) -> "
                       "Sponsor decision",
        KARMMA: "status ACTIVE_NOT_RECRUITING -> COMPLETED",
    }

    # The change list: exactly those changes, and the new trials, nothing else.
    code, out, _ = trials(home, mock, "changes", "--since",
                          (TODAY - timedelta(days=1)).isoformat(), "--json")
    assert code == 0
    feed = json.loads(out)
    changed = {(c["trial_id"], c["version"]): [f["field"] for f in c["changes"]]
               for c in feed if c["kind"] == "changed"}
    assert changed == {("NCT06958939", 2): ["status"], ("NCT05828225", 2): ["enrollment"],
                       ("NCT06419166", 2): ["status", "why_stopped"], (KARMMA, 2): ["status"]}
    assert {c["trial_id"] for c in feed if c["kind"] == "new"} == first_ids | {NEW_TRIAL}

    # The history of each: versions with fetch dates and the field-level diff.
    code, out, _ = trials(home, mock, "history", "NCT05828225", "--json")
    versions = json.loads(out)["versions"]
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[1]["changes"] == [{"field": "enrollment", "kind": "value", "old": 9,
                                       "new": 12, "old_type": "ESTIMATED",
                                       "new_type": "ESTIMATED"}]
    assert versions[1]["last_updated"] == TODAY.isoformat()
    code, out, _ = trials(home, mock, "history", "NCT01997229")
    assert code == 0 and "1 version(s)" in out and "first version" in out
    with Store(home / "store.sqlite") as store:
        assert store.counts()["trials"] == len(first_ids) + 1
        assert store.counts()["versions"] == len(first_ids) + 1 + 4
    assert check_json(home, mock)[1]["ok"]


def test_refresh_when_nothing_changed_fetches_only_the_changed_since_pages(refreshed) -> None:
    home, mock = refreshed
    before = counts(home)

    code, out, err = trials(home, mock, "refresh")
    assert code == 0, err
    assert "Nothing changed since the last refresh: no new versions written." in out
    # One "changed since" page per watch, nothing else: no study fetched by id.
    since = f"AREA[LastUpdatePostDate]RANGE[{SINCE},MAX]"
    assert mock.log == [
        ("/studies", {"query.cond": MG, "filter.advanced": since, "pageSize": "1000",
                      "countTotal": "true", "format": "json"}),
        ("/studies", {"filter.ids": f"NCT06958939,{KARMMA}", "filter.advanced": since,
                      "pageSize": "1000", "countTotal": "true", "format": "json"}),
    ]
    assert counts(home) == before
    code, out, _ = trials(home, mock, "watch", "list", "--json")
    assert {w["last_status"] for w in json.loads(out)} == {"ok"}


KILL_POINTS = {
    # page 3 of the one query is held: pages 1-2 are stored, the rest is not
    "mid-query": (Fault("hold", page="later", skip=1), 4),
    # the second watch's first page is held: the first watch is stored, not indexed
    "between-watches": (Fault("hold", params={"query.cond": "multiple myeloma"}), None),
}


@pytest.mark.parametrize("point", sorted(KILL_POINTS))
def test_a_killed_refresh_is_completed_by_the_next_one(point: str, home: Path,
                                                       tmp_path: Path) -> None:
    studies = tmp_path / "studies"
    shutil.copytree(str(bundled_studies_dir()), studies)
    with MockServer(studies, page_size_cap=2) as mock:
        add_watch(home, mock, "mg", "--condition", MG)
        if point == "between-watches":
            add_watch(home, mock, "myeloma", "--condition", "multiple myeloma")
        fault, stored_before_kill = KILL_POINTS[point]
        mock.add_fault(copy.copy(fault))
        expected = len(mg_ids(mock)) if stored_before_kill is None else stored_before_kill
        proc = start_trials(home, "refresh", "--json", api=mock.url,
                            settings={"TRIALS_STORE_BATCH": 1})
        try:
            assert mock.held.wait(60), "the refresh never reached the held request"
            _wait_for(lambda: counts(home)["trials"] >= expected)
        finally:
            proc.kill()  # SIGKILL: no handler, no cleanup
            proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        killed_pid = proc.pid

        # What the kill left: committed store batches, a lock naming a dead process, a run
        # still "running", a watch never successful, an index behind the store.
        assert counts(home)["trials"] == expected
        lock = json.loads((home / "refresh.lock").read_text())
        assert lock["pid"] == killed_pid
        code, report = check_json(home, mock)
        assert code == 1 and not report["ok"]
        code, out, _ = trials(home, mock, "watch", "list", "--json")
        assert all(w["last_success_at"] is None for w in json.loads(out))

        mock.release.set()
        mock.clear()
        code, r = refresh(home, mock)
        assert code == 0, r
        assert r["stale_lock"]["pid"] == killed_pid
        assert r["interrupted_runs"] == [1]
        assert {w["mode"] for w in r["watches"]} == {"full"}  # never succeeded: all again
        # Versions the killed run stored count as this window's news, once.
        assert sorted(watch_of(r, "mg")["new"]) == sorted(mg_ids(mock))

    total = len(mg_ids(mock) | {s["protocolSection"]["identificationModule"]["nctId"] for s in
                                mock.catalogue.search({"query.cond": "multiple myeloma"})}) \
        if point == "between-watches" else len(mg_ids(mock))
    assert counts(home)["trials"] == counts(home)["versions"] == total  # none lost, none twice
    code, report = check_json(home, mock)
    assert code == 0 and report["ok"] and report["index_docs"] == total
    assert (home / "refresh.lock").read_text() == ""  # released


def _wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the crawl"
        time.sleep(0.05)


# -- faults: each retried politely, counted, what came is kept, the next run catches up ------
def _backdate(home: Path, name: str, days: int) -> str:
    """Pretend the watch last succeeded ``days`` ago; returns the since day that implies."""
    when = (TODAY - timedelta(days=days)).isoformat() + "T06:00:00Z"
    conn = sqlite3.connect(home / "store.sqlite")
    with conn:
        conn.execute("UPDATE watches SET last_success_at=? WHERE name=?", (when, name))
    conn.close()
    return (TODAY - timedelta(days=days + 2)).isoformat()


def _since_params(mock: MockServer) -> list[str]:
    return [p.get("filter.advanced", "") for path, p in mock.log if path == "/studies"]


@pytest.fixture(scope="module")
def base_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two watches, refreshed once against the bundled studies (built once, copied)."""
    home = tmp_path_factory.mktemp("base") / "home"
    with MockServer() as mock:
        add_watch(home, mock, "mg", "--condition", MG)
        add_watch(home, mock, "mine", "--id", "NCT06958939", "--id", KARMMA)
        assert refresh(home, mock)[0] == 0
    return home


@pytest.fixture
def refreshed(base_home: Path, home: Path, mock: MockServer) -> tuple[Path, MockServer]:
    """A copy of ``base_home`` and a fresh mock serving the same studies."""
    shutil.copytree(base_home, home)
    return home, mock


def test_a_429_burst_is_waited_out_and_the_refresh_succeeds(refreshed) -> None:
    home, mock = refreshed
    update(mock, "NCT06958939", set_status("RECRUITING"))
    mock.add_fault(Fault("429", times=3, retry_after="1", params={"query.cond": MG}))
    code, r = refresh(home, mock, settings={"RETRY_TIMES": 5})
    assert code == 0
    mg = watch_of(r, "mg")
    assert mg["retries"] == {"429": 3} and mg["failed"] == 0
    assert mg["changed"] == ["NCT06958939"]
    assert len([p for p, q in mock.log if q.get("query.cond") == MG]) == 4


@pytest.mark.parametrize("kind", ["500", "timeout", "reset"])
def test_a_request_failing_for_good_is_counted_and_asked_again_next_time(
        kind: str, refreshed) -> None:
    home, mock = refreshed
    since = _backdate(home, "mg", 10)
    update(mock, "NCT05828225", set_enrollment(7))
    # RETRY_TIMES=1: the request and one retry (more faults than attempts: Twisted may
    # quietly re-send once after a reset on a kept-alive connection).
    mock.add_fault(Fault(kind, times=4, seconds=1.5, params={"query.cond": MG}))
    code, r = refresh(home, mock, settings={"RETRY_TIMES": 1, "DOWNLOAD_TIMEOUT": 0.5})
    assert code == 1  # partial: the other watch succeeded
    mg, mine = watch_of(r, "mg"), watch_of(r, "mine")
    assert (mg["status"], mine["status"]) == ("failed", "ok")
    assert mg["failed"] == 1 and sum(mg["retries"].values()) == 1
    assert mg["changed"] == []
    code, out, _ = trials(home, mock, "watch", "list", "--json")
    saved = {w["name"]: w for w in json.loads(out)}
    assert saved["mg"]["last_status"] == "failed"
    assert saved["mg"]["last_success_at"].startswith((TODAY - timedelta(days=10)).isoformat())

    mock.clear()
    code, r = refresh(home, mock)
    assert code == 0
    assert f"AREA[LastUpdatePostDate]RANGE[{since},MAX]" in _since_params(mock)
    assert watch_of(r, "mg")["changed"] == ["NCT05828225"]


def test_transient_faults_within_the_retries_cost_nothing(refreshed) -> None:
    home, mock = refreshed
    for kind in ("500", "reset", "timeout"):
        mock.add_fault(Fault(kind, seconds=1.5, params={"query.cond": MG}))
    code, r = refresh(home, mock, settings={"RETRY_TIMES": 3, "DOWNLOAD_TIMEOUT": 0.5})
    assert code == 0
    mg = watch_of(r, "mg")
    assert mg["status"] == "ok" and mg["failed"] == 0
    # Each fault cost one attempt (Twisted itself may re-send after a reset on a kept-alive
    # connection, uncounted by Scrapy's retry stats, hence the request log).
    assert len([p for p, q in mock.log if q.get("query.cond") == MG]) == 4
    assert {"500", "timeout"} <= set(mg["retries"])


@pytest.mark.parametrize("kind", ["truncated", "invalid_json"])
def test_a_garbled_page_is_kept_counted_and_fetched_again_next_time(kind: str,
                                                                    refreshed) -> None:
    home, mock = refreshed
    update(mock, "NCT06958939", set_status("RECRUITING"))
    mock.add_fault(Fault(kind, params={"query.cond": MG}))
    failures_before = counts(home)["failures"]
    code, r = refresh(home, mock)
    assert code == 1
    mg = watch_of(r, "mg")
    assert mg["status"] == "failed" and mg["dropped"] == {"invalid_json": 1}
    assert counts(home)["failures"] == failures_before + 1  # the raw body is kept
    mock.clear()
    code, r = refresh(home, mock)
    assert code == 0 and watch_of(r, "mg")["changed"] == ["NCT06958939"]


def test_a_failure_on_a_later_page_keeps_the_pages_before_it(home: Path,
                                                             tmp_path: Path) -> None:
    studies = tmp_path / "studies"
    shutil.copytree(str(bundled_studies_dir()), studies)
    with MockServer(studies, page_size_cap=5) as mock:
        add_watch(home, mock, "mg", "--condition", MG)
        mock.add_fault(Fault("500", page="later", times=3))  # page 2, and both retries
        code, r = refresh(home, mock)
        assert code == 1
        mg = watch_of(r, "mg")
        assert mg["status"] == "partial" and mg["failures"] == {"http_500": 1}
        assert len(mg["new"]) == 5  # page 1 is stored; pages 2-3 could not be reached
        mock.clear()
        code, r = refresh(home, mock)
        assert code == 0
        mg = watch_of(r, "mg")
        assert mg["mode"] == "full"  # still never succeeded: all of it
        # Reported from the last success on: the 5 stored by the failed run are news too.
        assert sorted(mg["new"]) == sorted(mg_ids(mock))
    assert counts(home)["versions"] == len(mg_ids(mock))


def test_everything_failing_is_a_total_failure(refreshed) -> None:
    home, mock = refreshed
    mock.add_fault(Fault("503", match="any", times=100, retry_after="0"))
    code, r = refresh(home, mock, settings={"RETRY_TIMES": 1})
    assert code == 3 and r["status"] == "failed"
    assert {w["status"] for w in r["watches"]} == {"failed"}


def test_an_alias_id_is_followed_and_refreshed_through_its_alias(home: Path,
                                                                 mock: MockServer) -> None:
    alias = "NCT01111111"
    update(mock, "NCT06958939", lambda ps: ps["identificationModule"].__setitem__(
        "nctIdAliases", [alias]))
    add_watch(home, mock, "old-id", "--id", alias)
    code, r = refresh(home, mock)
    assert code == 0
    w = watch_of(r, "old-id")
    assert w["aliases"] == {alias: "NCT06958939"} and w["new"] == ["NCT06958939"]
    update(mock, "NCT06958939", set_status("RECRUITING"))
    mock.clear()
    code, r = refresh(home, mock)
    assert code == 0
    assert watch_of(r, "old-id")["changed"] == ["NCT06958939"]
    assert mock.log[0][1]["filter.ids"] == alias  # the API matches aliases too


def test_a_watched_id_the_registry_no_longer_has_is_reported_gone(refreshed) -> None:
    home, mock = refreshed
    mock.catalogue.remove(KARMMA)
    # a "since" search cannot see a deletion: --full asks for every id
    code, r = refresh(home, mock, "--full", "--watch", "mine")
    assert code == 0
    assert watch_of(r, "mine")["gone"] == [KARMMA]
    assert r["totals"]["gone"] == 1


def test_changes_written_as_files_are_picked_up(refreshed, tmp_path: Path) -> None:
    """The other way to move the registry: rewrite the study files and reload."""
    home, mock = refreshed
    path = tmp_path / "studies" / "NCT05828225.json"
    study = json.loads(path.read_text(encoding="utf-8"))
    study["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 3
    study["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"] = {
        "date": TODAY.isoformat(), "type": "ACTUAL"}
    path.write_text(json.dumps(study), encoding="utf-8")
    mock.reload()
    code, r = refresh(home, mock)
    assert code == 0 and r["changes"][0]["summary"] == "enrollment 9 -> 3"
    assert watch_of(r, "mg")["changed"] == ["NCT05828225"]


def test_a_trial_leaving_a_status_filtered_watch_is_still_followed(home: Path,
                                                                   mock: MockServer) -> None:
    add_watch(home, mock, "open-mg", "--condition", MG, "--status", "recruiting")
    code, r = refresh(home, mock)
    assert code == 0 and "NCT05828225" in watch_of(r, "open-mg")["new"]
    members = sorted(watch_of(r, "open-mg")["new"])
    update(mock, "NCT05828225", set_status("COMPLETED"))  # no longer matches the filter
    mock.clear()
    code, r = refresh(home, mock)
    assert code == 0
    assert watch_of(r, "open-mg")["transitions"] == [
        {"trial_id": "NCT05828225", "from": "RECRUITING", "to": "COMPLETED"}]
    # the query (which no longer finds it) and its known trials changed since: two pages
    assert [sorted(q) for _, q in mock.log] == [
        sorted(["query.cond", "filter.overallStatus", "filter.advanced", "pageSize",
                "countTotal", "format"]),
        sorted(["filter.ids", "filter.advanced", "pageSize", "countTotal", "format"])]
    assert sorted(mock.log[1][1]["filter.ids"].split(",")) == members
