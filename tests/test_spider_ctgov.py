"""The ctgov spider's callbacks and arguments, tested without a network or a reactor.

Responses are built from the bundled fixture studies (and, when present, the real API pages
in ../shared/data); the retry middleware's delay rule is tested as a pure function.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from scrapy.crawler import Crawler
from scrapy.http import Request, TextResponse
from scrapy.statscollectors import MemoryStatsCollector

from trialscope.crawler.ctgov_args import (
    DEFAULT_API_BASE,
    CrawlArgumentError,
    CtgovArgs,
    since_filter,
)
from trialscope.crawler.middlewares import parse_retry_after, retry_delay
from trialscope.crawler.replay import bundled_studies_dir
from trialscope.crawler.spiders.ctgov import CtgovSpider
from trialscope.parser.ctgov import content_hash

from .conftest import shared_path

BASE = "http://127.0.0.1:8999/api/v2"


def bundled_studies() -> list[dict[str, Any]]:
    studies = []
    for entry in sorted(bundled_studies_dir().iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            try:
                study = json.loads(entry.read_bytes())
            except ValueError:
                continue
            if isinstance(study, dict) and isinstance(study.get("protocolSection"), dict):
                studies.append(study)
    return studies


def make_spider(**kwargs: Any) -> CtgovSpider:
    # A crawler with stats but no engine: enough for callbacks, and no reactor is installed.
    crawler = Crawler(CtgovSpider, {"REMOTE_CONTROL_ENABLED": False,
                                    "TELNETCONSOLE_ENABLED": False})
    crawler.stats = MemoryStatsCollector(crawler)
    kwargs.setdefault("api_base", BASE)
    return CtgovSpider.from_crawler(crawler, **kwargs)


def stats(spider: CtgovSpider) -> dict[str, Any]:
    return spider.crawler.stats.get_stats()


def start_requests(spider: CtgovSpider) -> list[Request]:
    async def collect() -> list[Request]:
        return [r async for r in spider.start()]

    return asyncio.run(collect())


def response(url: str, body: bytes | str, *, status: int = 200,
             meta: dict[str, Any] | None = None) -> TextResponse:
    if isinstance(body, str):
        body = body.encode("utf-8")
    return TextResponse(url=url, body=body, status=status, encoding="utf-8",
                        headers={"Content-Type": "application/json"},
                        request=Request(url, meta=meta or {}))


def params(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


# -- arguments -----------------------------------------------------------------------------

def test_ids_are_normalised_deduplicated_and_fetched_one_by_one() -> None:
    spider = make_spider(ids="nct06958939, NCT06958939,NCT04146051")
    requests = start_requests(spider)
    assert [r.url for r in requests] == [
        f"{BASE}/studies/NCT06958939?format=json",
        f"{BASE}/studies/NCT04146051?format=json",
    ]
    assert [r.meta["trials_requested_id"] for r in requests] == ["NCT06958939", "NCT04146051"]
    assert stats(spider)["trials/total_count"] == 2


def test_first_search_request_carries_every_parameter() -> None:
    spider = make_spider(cond="myasthenia gravis", intr="CAR-T", term="refractory",
                         status="recruiting, Not yet recruiting", since="2025-01-01",
                         page_size="50")
    (request,) = start_requests(spider)
    assert request.url.startswith(f"{BASE}/studies?")
    assert params(request.url) == [
        ("query.cond", "myasthenia gravis"),
        ("query.intr", "CAR-T"),
        ("query.term", "refractory"),
        ("filter.overallStatus", "RECRUITING,NOT_YET_RECRUITING"),
        ("filter.advanced", "AREA[LastUpdatePostDate]RANGE[2025-01-01,MAX]"),
        ("pageSize", "50"),
        ("countTotal", "true"),
        ("format", "json"),
    ]


def test_since_becomes_the_exact_last_update_filter() -> None:
    assert since_filter(date(2025, 1, 1)) == "AREA[LastUpdatePostDate]RANGE[2025-01-01,MAX]"
    args = CtgovArgs.from_raw(since="2024-02-29", api_base=BASE)
    assert dict(args.search_params())["filter.advanced"] == (
        "AREA[LastUpdatePostDate]RANGE[2024-02-29,MAX]")
    assert args.page_size == 1000


@pytest.mark.parametrize(
    ("kwargs", "argument", "value"),
    [
        ({"ids": "NCT0695893"}, "ids", "NCT0695893"),
        ({"ids": ["NCT06958939", "06958939"]}, "ids", "06958939"),
        ({"ids": 6958939}, "ids", "6958939"),
        ({"status": "recruting"}, "status", "recruting"),
        ({"since": "2025-13-01"}, "since", "2025-13-01"),
        ({"since": "01/02/2025"}, "since", "01/02/2025"),
        ({"cond": "x", "page_size": 0}, "page_size", "0"),
        ({"cond": "x", "page_size": 1001}, "page_size", "1001"),
        ({"cond": "x", "page_size": "ten"}, "page_size", "ten"),
        ({"cond": "x", "api_base": "ftp://example.org"}, "api_base", "ftp://example.org"),
        ({"cond": "  "}, "cond", ""),
        ({"ids": "NCT06958939", "cond": "gravis"}, "ids", "NCT06958939"),
    ],
)
def test_bad_arguments_are_named_with_their_value(kwargs: dict[str, Any], argument: str,
                                                  value: str) -> None:
    kwargs.setdefault("api_base", BASE)
    with pytest.raises(CrawlArgumentError) as err:
        make_spider(**kwargs)
    assert err.value.argument == argument
    assert f"{argument}=" in str(err.value) and value in str(err.value)


def test_a_crawl_with_nothing_to_crawl_is_refused_naming_the_options() -> None:
    with pytest.raises(ValueError, match="nothing to crawl") as err:
        make_spider()
    for option in ("--id", "--condition", "--intervention", "--query", "--since"):
        assert option in str(err.value)
    # The offline replay may crawl everything it has.
    args = CtgovArgs.from_raw(api_base=BASE, allow_unfiltered=True)
    assert not args.ids and not args.has_query


def test_a_misspelt_spider_argument_is_refused() -> None:
    with pytest.raises(CrawlArgumentError, match="idz"):
        make_spider(idz="NCT06958939")


def test_api_base_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIALS_CTGOV_API", "http://mirror.example/api/v2/")
    assert CtgovArgs.from_raw(ids="NCT06958939").api_base == "http://mirror.example/api/v2"
    monkeypatch.delenv("TRIALS_CTGOV_API")
    assert CtgovArgs.from_raw(ids="NCT06958939").api_base == DEFAULT_API_BASE


# -- search pages --------------------------------------------------------------------------

def test_a_page_yields_the_next_page_request_and_a_record_per_study() -> None:
    spider = make_spider(cond="myasthenia gravis", status="RECRUITING", page_size=3)
    (first,) = start_requests(spider)
    studies = bundled_studies()[:3]
    body = json.dumps({"studies": studies, "nextPageToken": "tok-2", "totalCount": 7})
    out = list(spider.parse_page(response(first.url, body, meta=first.meta)))

    requests = [o for o in out if isinstance(o, Request)]
    items = [o for o in out if not isinstance(o, Request)]
    assert len(requests) == 1
    assert params(requests[0].url) == params(first.url) + [("pageToken", "tok-2")]
    assert requests[0].callback == spider.parse_page
    assert [i["kind"] for i in items] == ["record"] * 3
    for item, study in zip(items, studies):
        ident = study["protocolSection"]["identificationModule"]["nctId"]
        assert item["record"].trial_id == ident
        assert json.loads(item["raw"]) == study
        assert item["content_hash"] == content_hash(study)
    assert stats(spider)["trials/total_count"] == 7
    assert stats(spider)["trials/pages"] == 1


def test_the_last_page_ends_the_query_and_later_pages_keep_the_first_total() -> None:
    spider = make_spider(term="gravis", page_size=2)
    (first,) = start_requests(spider)
    list(spider.parse_page(response(first.url, json.dumps({"studies": [], "totalCount": 3}),
                                    meta=first.meta)))
    later = spider.search_request("tok-2")
    page = {"studies": bundled_studies()[:1], "totalCount": 99}  # ignored on later pages
    out = list(spider.parse_page(response(later.url, json.dumps(page), meta=later.meta)))
    assert not [o for o in out if isinstance(o, Request)]
    assert stats(spider)["trials/total_count"] == 3
    assert stats(spider)["trials/pages"] == 2


def test_a_study_that_does_not_parse_is_dropped_counted_and_kept_raw() -> None:
    spider = make_spider(term="gravis")
    (first,) = start_requests(spider)
    good = bundled_studies()[0]
    bad = {"protocolSection": {"identificationModule": {"nctId": "NCT12345678"},
                               "statusModule": []}, "derivedSection": {}}
    out = list(spider.parse_page(response(first.url, json.dumps({"studies": [bad, good]}),
                                          meta=first.meta)))
    kinds = [o["kind"] for o in out]
    assert kinds == ["failure", "record"]
    failure = out[0]
    assert failure["raw"] and json.loads(failure["raw"]) == bad
    assert failure["trial_id"] == "NCT12345678"
    assert stats(spider)[f"trials/dropped/{failure['reason']}"] == 1


def test_a_page_that_is_not_json_is_kept_raw_as_invalid_json() -> None:
    spider = make_spider(term="gravis")
    (first,) = start_requests(spider)
    body = json.dumps({"studies": bundled_studies()[:2]})[:500]
    (failure,) = list(spider.parse_page(response(first.url, body, meta=first.meta)))
    assert failure["kind"] == "failure" and failure["reason"] == "invalid_json"
    assert failure["raw"] == body
    assert stats(spider)["trials/dropped/invalid_json"] == 1


def test_a_real_api_page_with_a_next_page_token() -> None:
    page = shared_path("data", "ctgov-v2", "pages", "page_NCT04523987_with_nextPageToken.json")
    spider = make_spider(cond="pancreatic", page_size=1)
    (first,) = start_requests(spider)
    body = page.read_bytes()
    out = list(spider.parse_page(response(first.url, body, meta=first.meta)))
    (nxt,) = [o for o in out if isinstance(o, Request)]
    assert dict(params(nxt.url))["pageToken"] == "NF0g5JE"
    assert [o["record"].trial_id for o in out if isinstance(o, dict)] == ["NCT04523987"]


# -- single studies ------------------------------------------------------------------------

def test_an_unknown_id_is_reported_not_raised() -> None:
    spider = make_spider(ids="NCT99999999")
    (request,) = start_requests(spider)
    out = list(spider.parse_study_response(
        response(request.url, "Study NCT99999999 not found", status=404, meta=request.meta)))
    assert out == []
    assert spider.not_found_ids == ["NCT99999999"]
    assert stats(spider)["trials/not_found"] == 1
    assert stats(spider)["trials/not_found_ids"] == ["NCT99999999"]


def test_a_redirected_alias_yields_the_record_and_the_alias() -> None:
    study = bundled_studies()[0]
    canonical = study["protocolSection"]["identificationModule"]["nctId"]
    spider = make_spider(ids="NCT00000001")
    (request,) = start_requests(spider)
    url = f"{BASE}/studies/{canonical}?format=json"  # where the 301 led
    body = json.dumps(study, indent=2)
    record, alias = list(spider.parse_study_response(response(url, body, meta=request.meta)))
    assert record["kind"] == "record" and record["record"].trial_id == canonical
    assert record["raw"] == body  # a single study is kept byte for byte
    assert alias == {"kind": "alias", "alias": "NCT00000001", "trial_id": canonical}
    assert stats(spider)["trials/aliases"] == 1


def test_a_study_body_that_is_not_json_is_kept_raw() -> None:
    spider = make_spider(ids="NCT06958939")
    (request,) = start_requests(spider)
    body = '{"protocolSection": {"identificationModule": '
    (failure,) = list(spider.parse_study_response(response(request.url, body,
                                                           meta=request.meta)))
    assert (failure["kind"], failure["reason"], failure["raw"]) == ("failure", "invalid_json",
                                                                    body)
    assert failure["trial_id"] == "NCT06958939"


# -- retry delays --------------------------------------------------------------------------

DELAYS = {"base": 0.5, "backoff_max": 30.0, "retry_after_max": 120.0}


def test_retry_after_seconds_and_http_dates() -> None:
    now = datetime(2025, 5, 6, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("1") == 1.0
    assert parse_retry_after(b" 30 ") == 30.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=45), usegmt=True),
                             now=now) == 45.0
    assert parse_retry_after(format_datetime(now - timedelta(hours=1), usegmt=True),
                             now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_retry_delay_honours_retry_after_on_429_and_503_capped() -> None:
    assert retry_delay(429, "1", 1, **DELAYS) == 1.0
    assert retry_delay(503, "7", 3, **DELAYS) == 7.0
    assert retry_delay(429, "86400", 1, **DELAYS) == 120.0


def test_retry_delay_backs_off_exponentially_otherwise() -> None:
    assert [retry_delay(500, None, n, **DELAYS) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
    assert retry_delay(500, "1", 1, **DELAYS) == 0.5  # Retry-After only counts on 429/503
    assert retry_delay(429, "whenever", 2, **DELAYS) == 1.0
    assert retry_delay(None, None, 20, **DELAYS) == 30.0


# -- progress ------------------------------------------------------------------------------

def test_progress_off_a_terminal_prints_plain_lines_with_the_total() -> None:
    import io

    from trialscope.crawler.progress import CrawlProgress

    spider = make_spider(ids="NCT06958939,NCT99999999")
    start_requests(spider)  # sets trials/total_count = 2
    stream = io.StringIO()
    progress = CrawlProgress(spider.crawler, stream=stream)
    progress.interval = 0
    progress.spider_opened(spider)
    progress.item_scraped({"kind": "record"})
    spider.crawler.stats.inc_value("trials/not_found")
    progress.item_scraped({"kind": "alias"})  # not a study of its own
    progress.spider_closed(spider, "finished")
    assert stream.getvalue().splitlines() == ["ctgov: 1/2 trials", "ctgov: 2/2 trials (finished)"]


def test_progress_is_off_when_asked() -> None:
    from scrapy.exceptions import NotConfigured

    from trialscope.crawler.progress import CrawlProgress

    crawler = Crawler(CtgovSpider, {"TRIALS_PROGRESS": False})
    with pytest.raises(NotConfigured):
        CrawlProgress(crawler)
