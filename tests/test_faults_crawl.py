"""Issue 13, crawl side: nothing lost, nothing silent.

Every failure of a crawl, a refresh or ``show --fetch`` is counted with its reason, makes the
run partial (never exit 0), holds a watch back, and is said on stderr with what to do; one bad
study costs only itself; failures retrying cannot fix fail fast.

The real CLI runs in a subprocess (Twisted's reactor cannot restart) against the mock API on
127.0.0.1 (``tests/mockserver.py``), or against a closed port, a ``.invalid`` host name (fails
locally, no network) or TLS spoken to a plain-HTTP port.  Assertions are on exit codes, the
one JSON document on stdout, stats (retry counts included), the store and stderr's
``Error:`` lines, never on timings.
"""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.mockserver import HOSTILE_STUDIES, STUDY_NESTING, Fault, MockServer, run_trials
from trialscope.crawler.middlewares import parse_retry_after, retry_delay
from trialscope.store.db import Store

MG = "myasthenia gravis"
RAISE_IN_DOWNLOAD = {"DOWNLOADER_MIDDLEWARES": {
    "tests.faulty_components.RaisingDownloaderMiddleware": 600}}
RAISE_IN_CALLBACK = {"SPIDER_MIDDLEWARES": {
    "tests.faulty_components.RaisingSpiderMiddleware": 600}}


@pytest.fixture
def mock() -> Iterator[MockServer]:
    with MockServer() as server:
        yield server


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture(scope="module")
def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def trials(home: Path, api: str, *args: str, settings: dict[str, Any] | None = None
           ) -> tuple[int, str, str]:
    proc = run_trials(home, *args, api=api, settings=settings)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc.returncode, proc.stdout, proc.stderr


def crawl_json(home: Path, api: str, *args: str, settings: dict[str, Any] | None = None
               ) -> tuple[int, dict[str, Any], str]:
    """``trials crawl --json ...``: stdout must be exactly one JSON document."""
    code, out, err = trials(home, api, "crawl", "--json", *args, settings=settings)
    return code, json.loads(out), err


def refresh_json(home: Path, api: str, *args: str, settings: dict[str, Any] | None = None
                 ) -> tuple[int, dict[str, Any], str]:
    code, out, err = trials(home, api, "refresh", "--json", *args, settings=settings)
    return code, json.loads(out), err


def watches(home: Path, api: str) -> dict[str, dict[str, Any]]:
    code, out, err = trials(home, api, "watch", "list", "--json")
    assert code == 0, err
    return {w["name"]: w for w in json.loads(out)}


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error: ")]


def kept_failures(home: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(home / "store.sqlite")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM failures ORDER BY id")]
    finally:
        conn.close()


def stored_ids(home: Path) -> set[str]:
    with Store(home / "store.sqlite") as store:
        return set(store.trial_ids())


def mg_ids(mock: MockServer) -> set[str]:
    return {s["protocolSection"]["identificationModule"]["nctId"]
            for s in mock.catalogue.search({"query.cond": MG})}


# -- 1. an exception in the download path: counted, partial, the watch held back ------------

@pytest.mark.parametrize("value", ["²", "¹²", "٣", "３", "1.5", "-1", "1e3", "0x10", "∞"])
def test_a_retry_after_that_is_not_ascii_digits_is_ignored(value: str) -> None:
    assert parse_retry_after(value) is None
    assert parse_retry_after(value.encode("utf-8")) is None
    # Unreadable: the exponential backoff applies instead of an exception.
    assert retry_delay(429, value, 2, base=0.5, backoff_max=60, retry_after_max=120) == 1.0
    assert parse_retry_after(" 7 ") == 7.0


def test_a_429_with_a_superscript_retry_after_is_retried_and_the_trial_stored(
        mock: MockServer, home: Path) -> None:
    mock.add_fault(Fault("429", match="study", retry_after="²"))
    code, summary, err = crawl_json(home, mock.url, "--id", mock.canonical_id)
    assert code == 0, err
    assert summary["stats"]["trials/retry/429"] == 1
    assert summary["new"] == 1 and summary["failed"] == 0 and "error" not in summary
    assert stored_ids(home) == {mock.canonical_id}


def test_an_exception_in_the_download_path_fails_the_crawl_with_its_cause(
        mock: MockServer, home: Path) -> None:
    code, summary, err = crawl_json(home, mock.url, "--condition", MG,
                                    settings=RAISE_IN_DOWNLOAD)
    assert code == 1
    assert summary["failed"] == 1 and summary["complete"] is False
    assert summary["stats"]["trials/failed/value_error"] == 1
    assert summary["error"]["code"] == "partial"
    assert [c["reason"] for c in summary["error"]["causes"]] == ["value_error"]
    lines = error_lines(err)
    assert lines and "1 request failed" in lines[0] and "ValueError" in lines[0]


def test_an_exception_in_the_download_path_holds_the_watch_back(
        mock: MockServer, home: Path) -> None:
    trials(home, mock.url, "watch", "add", "mg", "--condition", MG)
    code, report, err = refresh_json(home, mock.url, settings=RAISE_IN_DOWNLOAD)
    assert code == 3  # nothing could be fetched
    mg = report["watches"][0]
    assert mg["status"] == "failed" and mg["failures"] == {"value_error": 1}
    assert [c["reason"] for c in mg["causes"]] == ["value_error"]
    saved = watches(home, mock.url)["mg"]
    assert saved["last_success_at"] is None and saved["last_status"] == "failed"
    assert any("watch 'mg' is failed" in line for line in error_lines(err))
    # Once the fault is gone the watch is fetched in full: nothing was skipped for good.
    code, report, err = refresh_json(home, mock.url)
    assert code == 0, err
    assert report["watches"][0]["mode"] == "full"
    assert set(report["watches"][0]["new"]) == mg_ids(mock)
    assert watches(home, mock.url)["mg"]["last_success_at"] is not None


def test_an_exception_in_a_callback_is_a_counted_failure(mock: MockServer, home: Path) -> None:
    code, summary, err = crawl_json(home, mock.url, "--id", mock.canonical_id,
                                    settings=RAISE_IN_CALLBACK)
    assert code == 1
    assert summary["stats"]["trials/failed/spider_exception"] == 1
    assert any("internal error" in line and "RuntimeError" in line
               for line in error_lines(err))


def test_a_refresh_with_a_record_it_could_not_parse_is_partial_but_its_window_is_done(
        mock: MockServer, home: Path) -> None:
    """A study fetched whole but not parsed is kept raw: the run says partial (exit 1), while
    the watch's window counts as fetched (nothing was missed at the registry)."""
    trials(home, mock.url, "watch", "add", "mg", "--condition", MG)
    mock.add_fault(Fault("hostile", page="first"))
    code, report, err = refresh_json(home, mock.url)
    assert code == 1, err
    assert sum(report["watches"][0]["dropped"].values()) >= 3  # the hostile studies
    assert report["status"] == "partial" and report["watches"][0]["status"] == "ok"
    assert watches(home, mock.url)["mg"]["last_success_at"] is not None
    code, report, err = refresh_json(home, mock.url)  # the fault is spent
    assert code == 0, err


# -- 2. one bad study costs only itself; a page that cannot be read fails the run ----------

def test_one_hostile_study_costs_only_itself(mock: MockServer, home: Path) -> None:
    mock.add_fault(Fault("hostile", page="first"))
    code, summary, err = crawl_json(home, mock.url, "--condition", MG, "--page-size", "5")
    # every payload fetched is stored or kept raw, but not every record was stored: partial
    assert code == 1, err
    deep = "NCT91000003"  # parses if the parser never recurses into it: then it is stored
    stored = stored_ids(home)
    assert stored - {deep} == mg_ids(mock)  # the page's good studies and every later page
    assert summary["stats"]["trials/pages"] == -(-len(mg_ids(mock)) // 5)
    kept = kept_failures(home)
    broken = [nct_id for nct_id, _ in HOSTILE_STUDIES if nct_id not in stored]
    assert summary["dropped"] == len(kept) == len(broken) >= 3
    by_id = {nct_id: next(f for f in kept if nct_id.removeprefix("NCT") in f["raw"])
             for nct_id in broken}
    assert by_id["NCT91000001"]["reason"] == "bad_field"  # 1e999: the parser refuses inf
    assert by_id["NCT91000002"]["reason"] == "invalid_text"  # lone surrogate
    assert "\\ud800" in by_id["NCT91000002"]["raw"]
    assert by_id["NCT91000004"]["reason"] == "missing_id"  # an int id: no id string
    with Store(home / "store.sqlite") as store:  # the deep one, stored or kept, is whole
        raw = store.raw(deep) if deep in stored else by_id[deep]["raw"]
    assert raw.count("[") >= STUDY_NESTING
    assert any(line.startswith(f"Error: {len(broken)} payloads could not be parsed")
               for line in err.splitlines())


def test_a_truncated_page_fails_the_crawl_and_says_what_was_missed(
        mock: MockServer, home: Path) -> None:
    mock.add_fault(Fault("truncated", page="later"))  # page 2 arrives cut in half
    code, summary, err = crawl_json(home, mock.url, "--condition", MG, "--page-size", "5")
    assert code == 1
    assert summary["complete"] is False and summary["error"]["code"] == "partial"
    assert summary["stats"]["trials/dropped/invalid_json"] == 1
    assert len(stored_ids(home)) == 5  # page 1; its token was lost with page 2's end
    assert summary["not_fetched"] == len(mg_ids(mock)) - 5  # pages 2 and later
    lines = error_lines(err)
    assert any("1 page could not be read" in line for line in lines)
    assert any("were not fetched" in line for line in lines)
    assert [f["reason"] for f in kept_failures(home)] == ["invalid_json"]  # raw kept


def test_a_page_too_deep_to_decode_is_kept_and_paging_goes_on(mock: MockServer,
                                                             home: Path) -> None:
    mock.add_fault(Fault("deep", page="first"))
    code, summary, err = crawl_json(home, mock.url, "--condition", MG, "--page-size", "5")
    assert code == 1  # page 1's studies were not read
    assert summary["stats"]["trials/dropped/invalid_json"] == 1
    assert len(stored_ids(home)) == len(mg_ids(mock)) - 5  # pages 2.. through its token
    assert [f["reason"] for f in kept_failures(home)] == ["invalid_json"]
    assert any("could not be read" in line for line in error_lines(err))


# -- 3. network failures: fail fast where retrying cannot help, and say why -----------------

def test_a_refused_connection_fails_fast_and_says_why(home: Path, closed_port: int) -> None:
    api = f"http://127.0.0.1:{closed_port}"
    code, summary, err = crawl_json(home, api, "--id", "NCT06958939", "--id", "NCT05828225",
                                    settings={"RETRY_TIMES": 5})
    assert code == 1
    stats = summary["stats"]
    assert stats["trials/failed/connection_refused"] == 2
    assert stats.get("trials/retry/connection_refused", 0) <= 2  # at most one retry each
    lines = error_lines(err)
    assert lines[0].startswith(
        f"Error: 2 requests failed: connection refused (127.0.0.1:{closed_port}).")
    assert "TRIALS_CTGOV_API" in lines[0]


def test_a_host_that_keeps_refusing_stops_the_crawl(home: Path, closed_port: int) -> None:
    ids = [f"NCT{n:08d}" for n in range(1, 41)]
    code, summary, err = crawl_json(home, f"http://127.0.0.1:{closed_port}",
                                    "--id", ",".join(ids),
                                    settings={"TRIALS_STOP_AFTER_PERMANENT": 3})
    assert code == 1
    assert summary["finish_reason"] == "unreachable"
    stats = summary["stats"]
    assert 3 <= stats["trials/failed/connection_refused"] < len(ids)
    assert stats["trials/stopped_after"]["reason"] == "connection_refused"
    assert summary["not_fetched"] == len(ids)
    lines = error_lines(err)
    assert any("requests in a row" in line for line in lines)
    assert any("connection refused" in line for line in lines)


def test_a_dns_failure_is_not_retried_and_says_why(home: Path) -> None:
    code, summary, err = crawl_json(home, "http://trials-registry.invalid", "--id",
                                    "NCT06958939", settings={"RETRY_TIMES": 5})
    assert code == 1
    assert summary["stats"]["trials/failed/dns_lookup"] == 1
    assert "trials/retry/dns_lookup" not in summary["stats"]
    assert "DNS lookup failed (trials-registry.invalid)" in error_lines(err)[0]


def test_a_tls_failure_is_named_and_not_retried(mock: MockServer, home: Path) -> None:
    api = mock.url.replace("http://", "https://")  # TLS spoken to a plain-HTTP server
    code, summary, err = crawl_json(home, api, "--id", "NCT06958939",
                                    settings={"RETRY_TIMES": 5})
    assert code == 1
    assert summary["stats"]["trials/failed/tls"] == 1
    assert "trials/retry/tls" not in summary["stats"]
    assert "TLS/SSL handshake failed" in error_lines(err)[0]


def test_timeouts_are_retried_a_bounded_number_of_times(mock: MockServer, home: Path) -> None:
    mock.add_fault(Fault("timeout", match="study", times=10, seconds=1.0))
    code, summary, err = crawl_json(home, mock.url, "--id", mock.canonical_id,
                                    settings={"RETRY_TIMES": 5, "DOWNLOAD_TIMEOUT": 0.3})
    assert code == 1
    assert summary["stats"]["trials/retry/timeout"] == 2  # TRIALS_RETRY_LIMITS, not 5
    assert summary["stats"]["trials/failed/timeout"] == 1
    assert "timed out" in error_lines(err)[0]


def test_show_fetch_that_cannot_fetch_says_so_and_exits_1(mock: MockServer, home: Path,
                                                          closed_port: int) -> None:
    assert trials(home, mock.url, "crawl", "--id", mock.canonical_id)[0] == 0
    down = f"http://127.0.0.1:{closed_port}"
    code, out, err = trials(home, down, "show", mock.canonical_id, "--fetch")
    assert code == 1
    assert out.startswith("STORED COPY") and mock.canonical_id in out
    assert error_lines(err) and error_lines(err)[0].startswith(
        f"Error: Could not fetch {mock.canonical_id} from the registry: connection refused")
    assert "Showing the stored copy" in err
    code, out, err = trials(home, down, "show", mock.canonical_id, "--fetch", "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["trial_id"] == mock.canonical_id and doc["error"]["code"] == "fetch_failed"
    # Not stored at all: only the error.
    code, out, err = trials(home, down, "show", "NCT06958939", "--fetch", "--json")
    assert code == 1 and json.loads(out)["error"]["code"] == "fetch_failed"


def test_a_refresh_that_reaches_nothing_exits_3_and_says_why(mock: MockServer, home: Path,
                                                            closed_port: int) -> None:
    trials(home, mock.url, "watch", "add", "mg", "--condition", MG)
    code, report, err = refresh_json(home, f"http://127.0.0.1:{closed_port}")
    assert code == 3 and report["status"] == "failed"
    assert report["watches"][0]["failures"] == {"connection_refused": 1}
    assert any("connection refused" in line for line in error_lines(err))
    assert watches(home, mock.url)["mg"]["last_success_at"] is None


# -- 11a. --json: one document on stdout, whatever happened ---------------------------------

def test_json_stdout_is_one_document_after_a_blocked_crawl(home: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    from tests.test_chictr_spider import BLOCKED, SYNTHETIC, ChictrSite

    site = ChictrSite()
    site.thread.start()
    try:
        monkeypatch.setenv("TRIALS_CHICTR_BASE", site.url)
        code, doc, err = crawl_json(home, "http://127.0.0.1:9", "--registry", "chictr",
                                    "--id", BLOCKED, "--id", SYNTHETIC,
                                    settings={"TRIALS_CHICTR_MAX_BLOCKED": 1})
    finally:
        site.httpd.shutdown()
        site.thread.join(timeout=10)
        site.httpd.server_close()
    assert code == 1
    assert doc["finish_reason"] == "blocked" and doc["error"]["code"] == "blocked"
    assert "bot check" in error_lines(err)[0]


# -- 12. a 403 is said as such, with the remedy, and never retried --------------------------

def test_a_403_is_reported_with_its_remedy_and_not_retried(mock: MockServer,
                                                           home: Path) -> None:
    mock.add_fault(Fault("403", match="any", times=10))
    ids = [mock.canonical_id, "NCT06958939"]
    code, summary, err = crawl_json(home, mock.url, "--id", ids[0], "--id", ids[1],
                                    settings={"RETRY_TIMES": 5})
    assert code == 1
    assert summary["stats"]["trials/failed/http_403"] == 2
    assert all(mock.hits[f"/studies/{i}"] == 1 for i in ids)  # asked once each
    line = error_lines(err)[0]
    assert line.startswith("Error: 2 requests failed: HTTP 403 Forbidden")
    assert "trials import" in line and "TRIALS_CTGOV_API" in line


def test_a_403_fails_the_refresh_and_holds_the_watch_back(mock: MockServer,
                                                          home: Path) -> None:
    trials(home, mock.url, "watch", "add", "mg", "--condition", MG)
    mock.add_fault(Fault("403", match="any", times=10))
    code, report, err = refresh_json(home, mock.url)
    assert code == 3
    assert report["watches"][0]["failures"] == {"http_403": 1}
    assert any("HTTP 403" in line and "trials import" in line for line in error_lines(err))
    assert watches(home, mock.url)["mg"]["last_success_at"] is None


# -- the callbacks themselves, in this process (no reactor) ----------------------------------

def _spider() -> Any:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import MemoryStatsCollector

    from trialscope.crawler.spiders.ctgov import CtgovSpider

    crawler = Crawler(CtgovSpider, {"REMOTE_CONTROL_ENABLED": False,
                                    "TELNETCONSOLE_ENABLED": False})
    crawler.stats = MemoryStatsCollector(crawler)
    return CtgovSpider.from_crawler(crawler, ids="NCT06958939", api_base="http://127.0.0.1:9")


def test_a_study_by_id_with_a_lone_surrogate_is_kept_not_lost() -> None:
    from scrapy.http import Request, TextResponse

    from trialscope.crawler.replay import StudyCatalogue

    study = StudyCatalogue().studies["NCT06958939"]
    body = json.dumps(study).replace('"briefTitle": "', '"briefTitle": "\\ud800', 1)
    url = "http://127.0.0.1:9/studies/NCT06958939?format=json"
    response = TextResponse(url, body=body.encode(), encoding="utf-8",
                            request=Request(url, meta={"trials_requested_id": "NCT06958939"}))
    spider = _spider()
    items = list(spider.parse_study_response(response))
    assert [i["kind"] for i in items] == ["failure"]
    assert items[0]["reason"] == "invalid_text" and items[0]["trial_id"] == "NCT06958939"
    assert items[0]["raw"] == body  # the body as sent (valid UTF-8: the escape is ASCII)
    assert spider.crawler.stats.get_value("trials/dropped/invalid_text") == 1


def test_the_store_pipeline_keeps_a_record_it_cannot_write_as_a_failure(tmp_path: Path) -> None:
    from trialscope.crawler.pipelines import StorePipeline
    from trialscope.crawler.replay import StudyCatalogue
    from trialscope.parser.ctgov import parse_study

    study = StudyCatalogue().studies["NCT06958939"]
    study["protocolSection"]["identificationModule"]["briefTitle"] = "CAR-T \ud800"
    record = parse_study(study)

    class Stats(dict):  # type: ignore[type-arg]
        def inc_value(self, key: str, count: int = 1) -> None:
            self[key] = self.get(key, 0) + count

    stats = Stats()
    pipeline = StorePipeline(tmp_path / "store.sqlite", stats)  # type: ignore[arg-type]
    pipeline.open_spider()
    out = pipeline.process_item({"kind": "record", "record": record, "raw": "CAR-T \ud800",
                                 "url": "http://x/studies/NCT06958939"})
    assert out["kind"] == "failure" and out["reason"] == "store_rejected"
    pipeline.close_spider()
    assert stats == {"trials/dropped/store_rejected": 1, "trials/failures_kept": 1}
    conn = sqlite3.connect(tmp_path / "store.sqlite")
    try:
        rows = conn.execute("SELECT reason, trial_id, raw FROM failures").fetchall()
    finally:
        conn.close()
    assert rows == [("store_rejected", "NCT06958939", "CAR-T \\ud800")]


def test_a_chictr_page_that_breaks_the_parser_is_kept_not_raised(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Any parser exception on a ChiCTR detail page (not only ParseError) costs that page
    alone: kept raw with its reason, counted; the callback does not raise."""
    from scrapy.http import HtmlResponse, Request

    from tests.test_chictr_spider import FIXTURES, SYNTHETIC, make_spider
    from trialscope.crawler.spiders import chictr

    def broken(text: str, url: str) -> Any:
        raise OverflowError("cannot convert float infinity to integer")

    monkeypatch.setattr(chictr, "parse_detail_html", broken)
    spider = make_spider(ids=SYNTHETIC, base_url="http://127.0.0.1:1")
    url = "http://127.0.0.1:1/showproj.html?proj=900001"
    body = (FIXTURES / "ChiCTR2900000001_detail.html").read_bytes()
    response = HtmlResponse(url, body=body, encoding="utf-8",
                            request=Request(url, meta={"trials_requested_id": SYNTHETIC}))
    (item,) = list(spider.parse_detail(response))
    assert item["kind"] == "failure" and item["reason"] == "invalid_value"
    assert item["trial_id"] == SYNTHETIC and item["raw"] == body.decode("utf-8")
    assert "OverflowError" in item["detail"]
    assert spider.crawler.stats.get_value("trials/dropped/invalid_value") == 1
