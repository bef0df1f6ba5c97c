"""Whole crawls against the mock API, each in a subprocess (Twisted's reactor cannot restart).

The mock server runs in this process, on 127.0.0.1; the crawl subprocess calls ``run_crawl``
and prints its summary as JSON.  Assertions are on stats, the finish reason and the store,
never on log text or timings.  Retry waits are shrunk to milliseconds.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.mockserver import (
    ALIAS,
    ALWAYS_500,
    DATA_LOSS,
    MALFORMED,
    MIXED_PAGE,
    NOT_A_STUDY,
    RATE_LIMITED,
    SLOW,
    TRUNCATED,
    TRUNCATED_PAGE,
    UNAVAILABLE,
    UNKNOWN,
    MockServer,
)
from trialscope.crawler.ctgov_args import CrawlArgumentError
from trialscope.crawler.replay import ReplayServer, StudyCatalogue
from trialscope.crawler.run import run_crawl
from trialscope.store.db import Store

RETRY_TIMES = 2
FAST = {
    "AUTOTHROTTLE_ENABLED": False,
    "DOWNLOAD_DELAY": 0,
    "RETRY_TIMES": RETRY_TIMES,
    "TRIALS_RETRY_BACKOFF_BASE": 0.01,
    "TRIALS_RETRY_BACKOFF_MAX": 0.05,
    "TRIALS_RETRY_AFTER_MAX": 0.05,  # the mock's "Retry-After: 1" is honoured, capped
}
CRAWL = """
import json, sys
from pathlib import Path
from trialscope.crawler.run import run_crawl
kwargs = json.loads(sys.argv[1])
kwargs["store_path"] = Path(kwargs["store_path"])
print(json.dumps(run_crawl(**kwargs).to_dict()))
"""


def crawl(store: Path, *, overrides: dict[str, Any] | None = None, **kwargs: Any) -> dict:
    kwargs = {"store_path": str(store), "progress": False,
              "settings_overrides": {**FAST, **(overrides or {})}, **kwargs}
    env = {k: v for k, v in os.environ.items() if k != "TRIALS_CTGOV_API"}
    proc = subprocess.run([sys.executable, "-c", CRAWL, json.dumps(kwargs)], check=False,
                          env=env, capture_output=True, text=True, timeout=90, cwd=store.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def failures(store: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(store)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM failures ORDER BY id")]
    finally:
        conn.close()


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    with MockServer() as server:
        yield server


@pytest.fixture(scope="module")
def failure_crawl(mock: MockServer, tmp_path_factory: pytest.TempPathFactory
                  ) -> tuple[dict, Path]:
    """One crawl over every single-study failure route, shared by the tests that read it."""
    store = tmp_path_factory.mktemp("failures") / "store.sqlite"
    # The alias's canonical id is asked for too: its redirect must not be taken for a dupe.
    ids = [RATE_LIMITED, UNAVAILABLE, ALWAYS_500, MALFORMED, TRUNCATED, NOT_A_STUDY, ALIAS,
           mock.canonical_id, UNKNOWN]
    return crawl(store, ids=ids, api_base=mock.url), store


# -- paging and idempotence ----------------------------------------------------------------

def test_search_follows_every_page_repeating_its_parameters(mock: MockServer,
                                                            tmp_path: Path) -> None:
    total = len(mock.catalogue.studies)
    pages = math.ceil(total / 2)
    assert pages >= 3, "the bundled fixtures should fill at least three pages of two"
    before = mock.hits["/studies"]
    summary = crawl(tmp_path / "store.sqlite", term="nct", page_size=2, api_base=mock.url)
    stats = summary["stats"]
    assert summary["finish_reason"] == "finished"
    assert stats["trials/total_count"] == total
    assert stats["trials/pages"] == pages
    assert mock.hits["/studies"] - before == pages  # each page once, none retried
    # The mock answers a token sent without its query with 400: none were.
    assert "downloader/response_status_count/400" not in stats
    assert summary["new"] == total and summary["dropped"] == summary["failed"] == 0
    assert "log_count/ERROR" not in stats
    with Store(tmp_path / "store.sqlite") as store:
        assert store.counts()["trials"] == total


def test_crawling_the_same_query_twice_changes_nothing(mock: MockServer, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    first = crawl(store, term="nct", page_size=7, api_base=mock.url)
    with Store(store) as s:
        versions = s.counts()["versions"]
    second = crawl(store, term="nct", page_size=7, api_base=mock.url)
    total = len(mock.catalogue.studies)
    assert first["new"] == total
    assert (second["new"], second["changed"], second["unchanged"]) == (0, 0, total)
    with Store(store) as s:
        assert s.counts()["versions"] == versions == total


# -- failure routes ------------------------------------------------------------------------

def test_429_is_retried_after_its_retry_after_and_the_record_stored(failure_crawl) -> None:
    summary, store = failure_crawl
    assert summary["stats"]["trials/retry/429"] == 1
    with Store(store) as s:
        assert s.get(RATE_LIMITED) is not None


def test_503_then_success_is_retried_and_stored(failure_crawl) -> None:
    summary, store = failure_crawl
    assert summary["stats"]["trials/retry/503"] == 1
    with Store(store) as s:
        assert s.get(UNAVAILABLE) is not None


def test_500_until_retries_run_out_is_counted_and_the_crawl_finishes(failure_crawl,
                                                                     mock: MockServer) -> None:
    summary, store = failure_crawl
    stats = summary["stats"]
    assert summary["finish_reason"] == "finished"
    assert stats["trials/retry/500"] == RETRY_TIMES
    assert stats["trials/failed/http_500"] == 1
    assert summary["failed"] == 1
    assert mock.hits[f"/studies/{ALWAYS_500}"] == RETRY_TIMES + 1
    with Store(store) as s:
        assert s.get(ALWAYS_500) is None


def test_payloads_that_do_not_parse_are_counted_and_kept_raw(failure_crawl) -> None:
    summary, store = failure_crawl
    stats = summary["stats"]
    assert stats["trials/dropped/invalid_json"] == 2  # malformed + truncated
    assert stats["trials/dropped/not_a_study"] == 1
    assert summary["dropped"] == 3
    assert stats["trials/failures_kept"] == 3
    kept = {f["trial_id"] or f["url"].split("/studies/")[1][:11]: f for f in failures(store)}
    assert kept[MALFORMED]["reason"] == "invalid_json"
    assert kept[MALFORMED]["raw"].startswith('{"protocolSection"')
    assert kept[TRUNCATED]["reason"] == "invalid_json" and TRUNCATED in kept[TRUNCATED]["raw"]
    assert kept[NOT_A_STUDY]["reason"] == "not_a_study"
    assert json.loads(kept[NOT_A_STUDY]["raw"]) == {"message": "this is not a study"}


def test_a_301_alias_is_followed_and_recorded(failure_crawl, mock: MockServer) -> None:
    summary, store = failure_crawl
    assert summary["aliases"] == {ALIAS: mock.canonical_id}
    assert summary["stats"]["trials/aliases"] == 1
    with Store(store) as s:
        assert s.resolve(ALIAS) == mock.canonical_id
        assert s.get(ALIAS).trial_id == mock.canonical_id


def test_an_unknown_id_is_reported_in_not_found(failure_crawl) -> None:
    summary, _ = failure_crawl
    assert summary["not_found"] == [UNKNOWN]
    assert summary["stats"]["trials/not_found"] == 1
    assert summary["stats"]["trials/not_found_ids"] == [UNKNOWN]
    # Everything else that could be stored was: 429, 503 and the alias's canonical study
    # (fetched twice: by its alias and by its own id).
    assert (summary["new"], summary["unchanged"]) == (3, 1)


def test_slow_and_cut_off_responses_fail_after_their_retries(mock: MockServer,
                                                             tmp_path: Path) -> None:
    summary = crawl(tmp_path / "store.sqlite", ids=[SLOW, DATA_LOSS], api_base=mock.url,
                    overrides={"DOWNLOAD_TIMEOUT": 0.5, "RETRY_TIMES": 1})
    stats = summary["stats"]
    assert summary["finish_reason"] == "finished"
    assert stats["trials/failed/timeout"] == 1
    assert stats["trials/retry/timeout"] == 1
    assert stats["trials/failed/data_loss"] == 1
    assert summary["failed"] == 2 and summary["new"] == 0


def test_bad_pages_are_counted_and_the_good_studies_kept(mock: MockServer,
                                                         tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    cut = crawl(store, term=TRUNCATED_PAGE, api_base=mock.url)
    assert cut["stats"]["trials/dropped/invalid_json"] == 1
    mixed = crawl(store, term=MIXED_PAGE, api_base=mock.url)
    assert mixed["stats"]["trials/dropped/not_a_study"] == 1
    assert mixed["new"] == 1
    assert [f["reason"] for f in failures(store)] == ["invalid_json", "not_a_study"]


# -- offline replay ------------------------------------------------------------------------

def test_offline_crawls_every_bundled_study(tmp_path: Path) -> None:
    bundled = StudyCatalogue()
    summary = crawl(tmp_path / "store.sqlite", offline=True)
    assert summary["finish_reason"] == "finished"
    assert summary["new"] == summary["stats"]["trials/total_count"] == len(bundled.studies)
    assert summary["dropped"] == summary["failed"] == 0


def test_offline_query_crawls_the_matching_bundled_studies(tmp_path: Path) -> None:
    expected = StudyCatalogue().search({"query.cond": "myasthenia gravis"})
    assert expected, "the bundled fixtures should hold myasthenia gravis trials"
    summary = crawl(tmp_path / "store.sqlite", offline=True, cond="myasthenia gravis",
                    page_size=3)
    assert summary["new"] == len(expected)
    assert summary["stats"]["trials/pages"] == math.ceil(len(expected) / 3)


# -- refusals before any crawl (in this process: nothing starts a reactor) -----------------

def test_arguments_are_validated_before_the_crawl_starts(tmp_path: Path) -> None:
    with pytest.raises(CrawlArgumentError, match="page_size"):
        run_crawl(tmp_path / "s.sqlite", ids=["NCT06958939"], page_size=5000)
    with pytest.raises(CrawlArgumentError, match="ids='NCT1'"):
        run_crawl(tmp_path / "s.sqlite", ids=["NCT1"])
    with pytest.raises(ValueError, match="nothing to crawl.*cond"):
        run_crawl(tmp_path / "s.sqlite", api_base="http://127.0.0.1:9")
    with pytest.raises(CrawlArgumentError, match="api_base"):
        run_crawl(tmp_path / "s.sqlite", offline=True, api_base="http://127.0.0.1:9")
    assert not (tmp_path / "s.sqlite").exists()


# -- the replay server's API contract ------------------------------------------------------

def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_replay_tokens_are_bound_to_their_query_and_unknown_input_is_rejected() -> None:
    with ReplayServer(page_size_cap=2) as server:
        status, body = _get(f"{server.url}/studies?query.term=nct&pageSize=1000&countTotal=true")
        first = json.loads(body)
        assert status == 200 and len(first["studies"]) == 2
        assert first["totalCount"] == len(server.catalogue.studies)
        token = first["nextPageToken"]
        status, body = _get(f"{server.url}/studies?query.term=nct&pageToken={token}")
        assert status == 200 and "totalCount" not in json.loads(body)
        assert _get(f"{server.url}/studies?query.term=other&pageToken={token}")[0] == 400
        assert _get(f"{server.url}/studies?query.titles=x")[0] == 400
        assert _get(f"{server.url}/studies?filter.advanced=AREA[Phase]PHASE2")[0] == 400
        assert _get(f"{server.url}/studies/NCT99999999")[0] == 404


# -- the store pipeline, in this process (no reactor needed) -------------------------------

class _Stats(dict):
    def inc_value(self, key: str, count: int = 1) -> None:
        self[key] = self.get(key, 0) + count


def test_the_pipeline_commits_every_batch_so_a_killed_crawl_loses_at_most_one(
        tmp_path: Path) -> None:
    from trialscope.crawler.pipelines import StorePipeline
    from trialscope.parser.ctgov import content_hash, parse_study

    studies = list(StudyCatalogue().studies.values())[:5]
    path = tmp_path / "store.sqlite"
    stats = _Stats()
    pipeline = StorePipeline(path, stats, batch_size=2)  # type: ignore[arg-type]
    pipeline.open_spider()
    for study in studies[:3]:
        pipeline.process_item({"kind": "record", "record": parse_study(study),
                               "raw": json.dumps(study), "content_hash": content_hash(study)})
    pipeline.process_item({"kind": "failure", "registry": "ctgov", "reason": "invalid_json",
                           "raw": "{", "url": "http://x/studies/NCT1", "trial_id": None,
                           "detail": "cut"})
    pipeline.process_item({"kind": "alias", "alias": "NCT00000001",
                           "trial_id": parse_study(studies[0]).trial_id})
    with Store(path) as other:  # another connection sees the committed batches only
        # two batches of two (3 records + 1 failure) committed; the alias is still open
        assert other.counts() == {"trials": 3, "versions": 3, "failures": 1, "aliases": 0}
    pipeline.close_spider()
    with Store(path) as other:
        assert other.counts() == {"trials": 3, "versions": 3, "failures": 1, "aliases": 1}
    assert stats == {"trials/records/new": 3, "trials/failures_kept": 1,
                     "trials/aliases_kept": 1}
