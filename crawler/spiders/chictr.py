"""Chinese Clinical Trial Registry spider: trials by ChiCTR id, or every trial a title search finds.

ChiCTR has no API: it is an HTML site, so this spider reads robots.txt and keeps to one request
at a time with a delay of seconds (``custom_settings``; a crawl's own settings may lower them,
as the tests do against their local server).

Arguments (``scrapy crawl chictr -a ids=ChiCTR2400084905`` or ``create_crawler`` kwargs), checked
in ``__init__`` before any request (``ChictrArgs``):

- ``ids``: ChiCTR registration numbers.  A detail page is addressed by the site's internal
  project number (``showproj.html?proj=173420``), not by the registration number, so each id is
  looked up with the site's own search (``searchproj.html?regno=<id>``) and the matching hit's
  page fetched; an id the search does not find is reported in ``trials/not_found``;
- ``query``: words searched in the registration titles (``searchproj.html?title=...``); the
  result pages are followed one after another (``max_pages`` at most, default 50) and each
  hit's detail page fetched;
- ``base_url``: the site, default ``$TRIALS_CHICTR_BASE`` or ``https://www.chictr.org.cn``.

Items are the store pipeline's: ``record`` (``record``, ``raw`` = the page, ``content_hash``) and
``failure`` (a page that did not parse: ``unexpected_layout``, ``missing_id``, ...; kept raw).
Stats: ``trials/total_count``, ``trials/pages`` (result pages of a query),
``trials/truncated_at_page`` (``max_pages`` stopped it there), ``trials/not_found`` (+ ``_ids``),
``trials/dropped/<reason>``, ``trials/blocked`` (the site's bot check answered instead of the
page; after ``TRIALS_CHICTR_MAX_BLOCKED`` of them the crawl stops with reason ``blocked``),
``trials/failed/http_<status>``, ``trials/skipped/no_link``, ``trials/id_mismatch``.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from scrapy.exceptions import CloseSpider
from scrapy.http import Request, Response

from trialscope.crawler.ctgov_args import CrawlArgumentError
from trialscope.crawler.faults import count_failure
from trialscope.crawler.spiders.base import Item, RegistrySpider, body_text
from trialscope.parser.chictr import (
    DEFAULT_BASE,
    REGISTRY,
    SEARCH_PAGE,
    SearchResults,
    content_hash,
    looks_like_challenge,
    normalise_chictr_id,
    parse_detail_html,
    parse_search_html,
)
from trialscope.parser.errors import ParseError

MAX_PAGES_LIMIT = 1000


def _ids(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    parts = [value] if isinstance(value, str) else value
    if not isinstance(parts, Iterable) or not all(isinstance(p, str) for p in parts):
        raise CrawlArgumentError("ids", value, "expected ChiCTR ids as text or a list")
    out: list[str] = []
    for part in parts:
        for item in (p.strip() for p in re.split(r"[,\s]+", part) if p.strip()):
            chictr = normalise_chictr_id(item)
            if chictr is None:
                raise CrawlArgumentError(
                    "ids", item, "not a ChiCTR id (ChiCTR followed by 10 digits, or the old"
                    " ChiCTR-XXX-12345678 form)")
            if chictr not in out:
                out.append(chictr)
    return tuple(out)


def _base_url(value: Any) -> str:
    if value is None:
        value = os.environ.get("TRIALS_CHICTR_BASE") or DEFAULT_BASE
    if not isinstance(value, str) or not re.match(r"^https?://[^/\s?#]+(?:/[^\s?#]*)?$",
                                                  value.strip()):
        raise CrawlArgumentError("base_url", value, "expected an http(s) URL")
    return value.strip().rstrip("/")


def _max_pages(value: Any) -> int:
    try:
        pages = int(value)
    except (TypeError, ValueError):
        raise CrawlArgumentError("max_pages", value, "expected a whole number") from None
    if not 1 <= pages <= MAX_PAGES_LIMIT:
        raise CrawlArgumentError("max_pages", value, f"must be between 1 and {MAX_PAGES_LIMIT}")
    return pages


@dataclass(frozen=True)
class ChictrArgs:
    """What to crawl: ``ids`` or a title ``query``, never both."""

    ids: tuple[str, ...] = ()
    query: str | None = None
    base_url: str = DEFAULT_BASE
    max_pages: int = 50

    @classmethod
    def from_raw(cls, *, ids: Any = None, query: Any = None, base_url: Any = None,
                 max_pages: Any = 50) -> ChictrArgs:
        if query is not None and (not isinstance(query, str) or not query.strip()):
            raise CrawlArgumentError("query", query, "expected words to search for")
        args = cls(ids=_ids(ids), query=query.strip() if query else None,
                   base_url=_base_url(base_url), max_pages=_max_pages(max_pages))
        if args.ids and args.query:
            raise CrawlArgumentError("ids", ",".join(args.ids),
                                     "cannot be combined with --query; run two crawls")
        if not args.ids and not args.query:
            raise CrawlArgumentError("ids", None, "nothing to crawl",
                                     message="nothing to crawl: give --id or --query")
        return args

    def search_url(self, **params: str) -> str:
        return f"{self.base_url}/{SEARCH_PAGE}?{urlencode({**params, 'btngo': 'btn'})}"

    def same_site(self, url: str | None) -> bool:
        """Only pages on the configured site are followed (links come from pages)."""
        return bool(url) and urlsplit(url).netloc == urlsplit(self.base_url).netloc


class ChictrSpider(RegistrySpider):
    name = "chictr"
    registry = REGISTRY
    arg_names = frozenset({"ids", "query", "base_url", "max_pages"})
    args_type = ChictrArgs
    crawl_args: ChictrArgs

    @classmethod
    def run_args(cls, *, ids: Any, cond: str | None, intr: str | None, term: str | None,
                 status: Any, since: Any, page_size: int, api_base: str | None,
                 offline: bool) -> ChictrArgs:
        """By ids or a title query (``term``).  Its site has no condition/intervention/status/
        date search we could verify, and no bundled replay, so those options are refused."""
        for name, value in (("cond", cond), ("intr", intr), ("status", status),
                            ("since", since)):
            if value:
                raise CrawlArgumentError(name, value, "is not supported for chictr (use --id or "
                                         "--query: ChiCTR searches titles)")
        if offline:
            raise CrawlArgumentError("offline", True, "has no bundled ChiCTR replay; import "
                                     "saved pages with 'trials import' instead")
        return ChictrArgs.from_raw(ids=ids or None, query=term, base_url=api_base)

    custom_settings = {
        # An HTML site for people: its robots.txt applies to us.
        "ROBOTSTXT_OBEY": True,
        # One page at a time, seconds apart (AutoThrottle never goes below DOWNLOAD_DELAY;
        # Scrapy's default DOWNLOAD_DELAY_JITTER of ±50% spreads the requests).
        "CONCURRENT_REQUESTS": 1,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
        "DOWNLOAD_DELAY": 3.0,
        "AUTOTHROTTLE_START_DELAY": 3.0,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": 1.0,
        "DOWNLOAD_TIMEOUT": 60,
        # 404: an unknown project; 405: how the site's firewall turns clients away.
        "HTTPERROR_ALLOWED_CODES": [404, 405],
        # The site sets a session cookie before it serves pages; keep it like a browser would.
        "COOKIES_ENABLED": True,
    }

    def __init__(self, *args: Any, crawl_args: ChictrArgs | None = None, **kwargs: Any) -> None:
        super().__init__(*args, crawl_args=crawl_args, **kwargs)
        self.pages_seen = 0

    # -- requests --------------------------------------------------------------------------
    async def start(self) -> AsyncIterator[Request]:
        args = self.crawl_args
        if args.ids:
            self._stats().set_value("trials/total_count", len(args.ids))
            for chictr_id in args.ids:
                yield Request(args.search_url(regno=chictr_id), callback=self.parse_id_search,
                              meta={"trials_requested_id": chictr_id}, dont_filter=True)
        else:
            yield Request(args.search_url(title=args.query or "", page="1"),
                          callback=self.parse_search, dont_filter=True)

    def detail_request(self, hit: dict[str, Any], requested: str | None = None) -> Request | None:
        if not self.crawl_args.same_site(hit.get("url")):
            self._stats().inc_value("trials/skipped/no_link")
            self.logger.warning("no usable detail link for %s", hit.get("trial_id") or hit)
            return None
        return Request(hit["url"], callback=self.parse_detail,
                       meta={"trials_requested_id": requested or hit.get("trial_id")})

    # -- callbacks -------------------------------------------------------------------------
    def parse_id_search(self, response: Response) -> Iterator[Item | Request]:
        """``searchproj.html?regno=<id>``: the hit whose id is the one asked for, or none."""
        requested = response.meta["trials_requested_id"]
        hits = yield from self._search_hits(response)
        if hits is None:
            return
        match = next((h for h in hits if h.get("trial_id") == requested), None)
        if match is None:
            self._not_found(requested, response.url)
            return
        request = self.detail_request(match, requested)
        if request is not None:
            yield request

    def parse_search(self, response: Response) -> Iterator[Item | Request]:
        """``searchproj.html?title=...&page=N``: detail requests for the hits, the next page."""
        hits = yield from self._search_hits(response)
        if hits is None:
            return
        stats = self._stats()
        stats.inc_value("trials/pages")
        self.pages_seen += 1
        if hits.page == 1 and hits.total is not None:
            stats.set_value("trials/total_count", hits.total)
        nxt = hits.next_url
        if nxt and self.pages_seen < self.crawl_args.max_pages and self.crawl_args.same_site(nxt):
            yield Request(nxt, callback=self.parse_search, dont_filter=True)
        elif nxt:
            stats.set_value("trials/truncated_at_page", hits.page)
        for hit in hits:
            request = self.detail_request(hit)
            if request is not None:
                yield request

    def parse_detail(self, response: Response) -> Iterator[Item]:
        requested = response.meta.get("trials_requested_id")
        if response.status == 404:
            self._not_found(requested, response.url)
            return
        text = body_text(response)
        if self._blocked(response, text):
            return
        try:
            record = parse_detail_html(text, url=response.url)
            digest = content_hash(text)
        except ParseError as exc:
            if exc.reason == "not_found":
                self._not_found(requested, response.url)
            else:
                yield self._failure(exc.reason, text, response.url, requested, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 (a hostile page: kept and counted)
            yield self._failure("invalid_value", text, response.url, requested,
                                f"{type(exc).__name__}: {exc}"[:1000])
            return
        if requested and record.trial_id != requested:
            # The search linked a page of another trial: stored under the page's own id.
            self._stats().inc_value("trials/id_mismatch")
            self.logger.warning("asked for %s, %s is %s", requested, response.url,
                                record.trial_id)
        yield {"kind": "record", "record": record, "raw": text, "content_hash": digest}

    # -- helpers ---------------------------------------------------------------------------
    def _search_hits(self, response: Response) -> Generator[Item, None, SearchResults | None]:
        """Parse a search page (a generator so failures can be yielded); returns the hits or
        None when the page was unusable."""
        if response.status != 200:
            if not self._blocked(response, body_text(response)):
                count_failure(self._stats(), f"http_{response.status}",
                              urlsplit(response.url).netloc)
            return None
        text = body_text(response)
        if self._blocked(response, text):
            return None
        try:
            return parse_search_html(text, url=response.url)
        except Exception as exc:  # noqa: BLE001 (ParseError, or a hostile page)
            # The page is not a results page: kept raw and counted, the search ends here.
            reason = exc.reason if isinstance(exc, ParseError) else "invalid_value"
            detail = str(exc) if isinstance(exc, ParseError) else f"{type(exc).__name__}: {exc}"
            yield self._failure(reason, text, response.url,
                                response.meta.get("trials_requested_id"), detail[:1000])
            count_failure(self._stats(), "search_page_unreadable", urlsplit(response.url).netloc)
            return None

    def _blocked(self, response: Response, text: str) -> bool:
        if response.status != 405 and not looks_like_challenge(text):
            return False
        stats = self._stats()
        stats.inc_value("trials/blocked")
        self.logger.error("the site's bot check answered %s (HTTP %s); not retried",
                          response.url, response.status)
        limit = self.crawler.settings.getint("TRIALS_CHICTR_MAX_BLOCKED", 3)
        if stats.get_value("trials/blocked", 0) >= limit:
            raise CloseSpider("blocked")
        return True
