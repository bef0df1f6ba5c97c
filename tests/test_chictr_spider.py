"""The ChiCTR spider: arguments and politeness in this process; whole crawls in a subprocess
(Twisted's reactor cannot restart) against a stand-in ChiCTR site on 127.0.0.1.

The stand-in serves the real detail and search pages from ../shared (those crawls skip when
the samples are absent) and the synthetic pages in fixtures/chictr, plus a robots.txt.  Routes:

- ``/searchproj.html?regno=<id>``: one hit for the ids in ``REGNO`` (-> ``proj``), else none;
- ``/searchproj.html?title=myasthenia&page=1|2``: the two synthetic pages (4 hits);
- ``/searchproj.html?title=KRAS``: the real search page (10 hits, 32 in all);
- ``/showproj.html?proj=<n>``: ``DETAILS`` (the real page, the synthetic trial, a page in an
  unknown layout, a 405 bot check); anything else 404;
- ``/robots.txt``: forbids ``/showproj.html?proj=900003``.

Assertions are on stats, the finish reason and the store, never on log text or timings.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from scrapy.crawler import Crawler
from scrapy.http import HtmlResponse, Request
from scrapy.statscollectors import MemoryStatsCollector

from trialscope.crawler.ctgov_args import CrawlArgumentError
from trialscope.crawler.spiders.chictr import ChictrArgs, ChictrSpider
from trialscope.store.db import Store

from .conftest import FIXTURES as ALL_FIXTURES
from .conftest import SHARED, shared_path

FIXTURES = ALL_FIXTURES / "chictr"
# The real pages (../shared) the stand-in site serves; the tests that need them skip when
# they are absent (``needs_real_pages``).
REAL_HTML = ("data", "chictr", "html")
REAL_DETAIL = SHARED.joinpath(*REAL_HTML, "ChiCTR2400084905_detail.html")
REAL_SEARCH = SHARED.joinpath(*REAL_HTML, "search_results_page.html")

SYNTHETIC = "ChiCTR2900000001"
GONE = "ChiCTR2900000404"  # listed by the search, its page answers 404
NEW_LAYOUT = "ChiCTR2900000002"
BLOCKED = "ChiCTR2900000405"
UNKNOWN = "ChiCTR2999999999"  # the search finds nothing
REAL = "ChiCTR2400084905"
REGNO = {SYNTHETIC: "900001", GONE: "900404", NEW_LAYOUT: "900002", BLOCKED: "900405",
         REAL: "173420"}
DETAILS = {"900001": (200, FIXTURES / "ChiCTR2900000001_detail.html"),
           "900002": (200, FIXTURES / "unknown_layout.html"),
           "900405": (405, FIXTURES / "blocked_challenge.html"),
           "173420": (200, REAL_DETAIL)}
ROBOTS = "User-agent: *\nDisallow: /showproj.html?proj=900003\n"

FAST = {"AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY": 0, "RETRY_TIMES": 1,
        "TRIALS_RETRY_BACKOFF_BASE": 0.01, "TRIALS_RETRY_BACKOFF_MAX": 0.05}

CRAWL = """
import json, sys
from pathlib import Path
from scrapy.crawler import AsyncCrawlerProcess
from trialscope.crawler.run import crawl_settings
from trialscope.crawler.spiders.chictr import ChictrSpider

kwargs = json.loads(sys.argv[1])
settings = crawl_settings(Path(kwargs.pop("store_path")), progress=False,
                          overrides=kwargs.pop("overrides"))
process = AsyncCrawlerProcess(settings)
crawler = process.create_crawler(ChictrSpider)
process.crawl(crawler, **kwargs)
process.start(install_signal_handlers=False)
stats = {k: v.isoformat() if hasattr(v, "isoformat") else v
         for k, v in crawler.stats.get_stats().items()}
print(json.dumps(stats))
"""


# -- the stand-in site ----------------------------------------------------------------------

class ChictrHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each small response waits ~40 ms for an ACK
    server: Any

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        with self.server.lock:
            self.server.hits[self.path] += 1
        if url.path == "/robots.txt":
            self.send(200, ROBOTS.encode(), "text/plain")
        elif url.path == "/searchproj.html":
            self.search(params)
        elif url.path == "/showproj.html":
            status, path = DETAILS.get(params.get("proj", ""),
                                       (404, FIXTURES / "not_found_404.html"))
            self.send_file(status, path)
        else:
            self.send_file(404, FIXTURES / "not_found_404.html")

    def search(self, params: dict[str, str]) -> None:
        if params.get("btngo") != "btn":
            self.send(400, b"missing btngo", "text/plain")
        elif "regno" in params:
            proj = REGNO.get(params["regno"])
            if proj is None:
                self.send_file(200, FIXTURES / "search_empty.html")
            else:
                page = Template(read(FIXTURES / "search_regno_hit.html"))
                self.send(200, page.substitute(trial_id=params["regno"], proj=proj).encode())
        elif params.get("title") == "myasthenia" and params.get("page") in ("1", "2"):
            self.send_file(200, FIXTURES / f"search_mg_p{params['page']}.html")
        elif params.get("title") == "KRAS":
            self.send_file(200, REAL_SEARCH)
        else:
            self.send_file(200, FIXTURES / "search_empty.html")

    def send_file(self, status: int, path: Path) -> None:
        self.send(status, path.read_bytes())

    def send(self, status: int, body: bytes, content_type: str = "text/html; charset=utf-8"
             ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


class ChictrSite:
    def __init__(self) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), ChictrHandler)
        self.httpd.daemon_threads = True
        self.httpd.hits = Counter()  # type: ignore[attr-defined]
        self.httpd.lock = threading.Lock()  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def hits(self) -> Counter[str]:
        return self.httpd.hits  # type: ignore[attr-defined,no-any-return]


@pytest.fixture(scope="module")
def site() -> Iterator[ChictrSite]:
    server = ChictrSite()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.thread.join(timeout=10)
        server.httpd.server_close()


def crawl(store: Path, *, env_base: str | None = None, overrides: dict[str, Any] | None = None,
          **kwargs: Any) -> dict[str, Any]:
    payload = {"store_path": str(store), "overrides": {**FAST, **(overrides or {})}, **kwargs}
    env = {k: v for k, v in os.environ.items() if k != "TRIALS_CHICTR_BASE"}
    if env_base:
        env["TRIALS_CHICTR_BASE"] = env_base
    proc = subprocess.run([sys.executable, "-c", CRAWL, json.dumps(payload)], check=False,
                          env=env, capture_output=True, text=True, timeout=120,
                          cwd=store.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def failures(store: Path) -> list[dict[str, Any]]:
    """Kept failures with their raw payload (Store.failures() leaves the payload out)."""
    conn = sqlite3.connect(store)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM failures ORDER BY id")]
    finally:
        conn.close()


def needs_real_pages() -> None:
    for page in (REAL_DETAIL, REAL_SEARCH):
        shared_path(*REAL_HTML, page.name)


# -- whole crawls ---------------------------------------------------------------------------

def test_id_crawl_finds_parses_and_counts_every_outcome(site: ChictrSite, tmp_path: Path
                                                        ) -> None:
    store = tmp_path / "store.sqlite"
    ids = [SYNTHETIC, UNKNOWN, GONE, NEW_LAYOUT, BLOCKED]
    stats = crawl(store, ids=",".join(ids), env_base=site.url)  # base URL from the env
    assert stats["finish_reason"] == "finished"
    assert stats["trials/total_count"] == 5
    assert stats["trials/records/new"] == 1
    assert stats["trials/not_found"] == 2
    assert sorted(stats["trials/not_found_ids"]) == sorted([UNKNOWN, GONE])
    assert stats["trials/dropped/unexpected_layout"] == 1
    assert stats["trials/failures_kept"] == 1
    assert stats["trials/blocked"] == 1
    assert stats["robotstxt/request_count"] == 1
    assert "log_count/CRITICAL" not in stats and "spider_exceptions" not in str(stats)
    with Store(store) as s:
        rec = s.get(SYNTHETIC)
        assert rec is not None and rec.registry == "chictr"
        assert rec.url == f"{site.url}/showproj.html?proj=900001"
        assert rec.arms[0]["sample_size"] == 12
        assert s.raw(SYNTHETIC) == read(FIXTURES / "ChiCTR2900000001_detail.html")
        assert s.counts()["trials"] == 1
    kept = failures(store)
    assert [(f["reason"], f["trial_id"], f["registry"]) for f in kept] == [
        ("unexpected_layout", NEW_LAYOUT, "chictr")]
    assert kept[0]["raw"] == read(FIXTURES / "unknown_layout.html")


def test_two_page_search_follows_pages_and_obeys_robots(site: ChictrSite, tmp_path: Path
                                                        ) -> None:
    store = tmp_path / "store.sqlite"
    first = crawl(store, query="myasthenia", base_url=site.url)
    assert first["finish_reason"] == "finished"
    assert first["trials/pages"] == 2 and first["trials/total_count"] == 4
    assert first["trials/records/new"] == 1
    assert first["trials/not_found"] == 1  # the 404
    assert first["trials/dropped/unexpected_layout"] == 1
    assert first["robotstxt/forbidden"] == 1
    assert site.hits["/showproj.html?proj=900003"] == 0
    assert site.hits["/searchproj.html?title=myasthenia&page=2&btngo=btn"] >= 1
    # The same search again: the unchanged trial writes no new version.
    second = crawl(store, query="myasthenia", base_url=site.url)
    assert second.get("trials/records/new", 0) == 0
    assert second["trials/records/unchanged"] == 1
    with Store(store) as s:
        assert s.counts()["versions"] == 1


def test_too_many_bot_checks_stop_the_crawl(site: ChictrSite, tmp_path: Path) -> None:
    stats = crawl(tmp_path / "store.sqlite", ids=[BLOCKED, SYNTHETIC], base_url=site.url,
                  overrides={"TRIALS_CHICTR_MAX_BLOCKED": 1})
    assert stats["finish_reason"] == "blocked"
    assert stats["trials/blocked"] == 1


def test_real_pages_crawl(site: ChictrSite, tmp_path: Path) -> None:
    needs_real_pages()
    store = tmp_path / "store.sqlite"
    by_id = crawl(store, ids=[REAL], base_url=site.url)
    assert by_id["trials/records/new"] == 1
    with Store(store) as s:
        rec = s.get(REAL)
        assert rec.title.startswith("SUNRAY-01") and rec.enrollment["count"] == 936
        assert s.raw(REAL) == read(REAL_DETAIL)
    # The real search page: 10 hits (of 32), their pages unknown to the stand-in (404).
    search = crawl(tmp_path / "search.sqlite", query="KRAS", base_url=site.url, max_pages=1)
    assert search["finish_reason"] == "finished"
    assert search["trials/pages"] == 1 and search["trials/total_count"] == 32
    assert search["trials/truncated_at_page"] == 1
    assert search["trials/not_found"] == 10
    assert site.hits["/showproj.html?proj=274313"] == 1


# -- arguments and politeness (in this process: no reactor) ---------------------------------

def make_spider(**kwargs: Any) -> ChictrSpider:
    crawler = Crawler(ChictrSpider, {"REMOTE_CONTROL_ENABLED": False,
                                     "TELNETCONSOLE_ENABLED": False})
    crawler.stats = MemoryStatsCollector(crawler)
    return ChictrSpider.from_crawler(crawler, **kwargs)


@pytest.mark.parametrize(("kwargs", "argument", "value"), [
    ({"ids": "ChiCTR2400084905, NCT06958939"}, "ids", "NCT06958939"),
    ({"ids": "ChiCTR2400084905/../../etc"}, "ids", "ChiCTR2400084905/../../etc"),
    ({"ids": "ChiCTR2400084905", "query": "CAR-T"}, "ids", "ChiCTR2400084905"),
    ({}, "ids", None),
    ({"query": "  "}, "query", "  "),
    ({"query": "CAR-T", "base_url": "ftp://chictr.org.cn"}, "base_url", "ftp://chictr.org.cn"),
    ({"query": "CAR-T", "max_pages": "0"}, "max_pages", "0"),
    ({"query": "CAR-T", "idz": "x"}, "idz", "x"),
])
def test_bad_arguments_are_refused_before_any_request(kwargs: dict[str, Any], argument: str,
                                                      value: Any) -> None:
    with pytest.raises(CrawlArgumentError) as err:
        make_spider(**kwargs)
    assert err.value.argument == argument and err.value.value == value


def test_arguments_are_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIALS_CHICTR_BASE", "http://mirror.example/chictr/")
    args = ChictrArgs.from_raw(ids=["chictr2400084905 ChiCTR-TRC-12002345", "ChiCTR2400084905"])
    assert args.ids == ("ChiCTR2400084905", "ChiCTR-TRC-12002345")
    assert args.base_url == "http://mirror.example/chictr"
    assert args.search_url(regno="ChiCTR2400084905") == (
        "http://mirror.example/chictr/searchproj.html?regno=ChiCTR2400084905&btngo=btn")
    monkeypatch.delenv("TRIALS_CHICTR_BASE")
    assert ChictrArgs.from_raw(query="重症肌无力").base_url == "https://www.chictr.org.cn"
    assert not args.same_site("https://evil.example/showproj.html?proj=1")


def test_politeness_settings() -> None:
    settings = ChictrSpider.custom_settings
    assert settings["ROBOTSTXT_OBEY"] is True
    assert settings["DOWNLOAD_DELAY"] >= 1
    assert settings["CONCURRENT_REQUESTS_PER_DOMAIN"] == 1


def test_detail_callback_yields_a_record_item() -> None:
    spider = make_spider(ids=SYNTHETIC, base_url="http://127.0.0.1:1")
    url = "http://127.0.0.1:1/showproj.html?proj=900001"
    response = HtmlResponse(url, body=(FIXTURES / "ChiCTR2900000001_detail.html").read_bytes(),
                            encoding="utf-8",
                            request=Request(url, meta={"trials_requested_id": SYNTHETIC}))
    (item,) = list(spider.parse_detail(response))
    assert item["kind"] == "record" and item["record"].trial_id == SYNTHETIC
    assert item["record"].url == url and item["content_hash"]
