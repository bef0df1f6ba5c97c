"""ClinicalTrials.gov API v2 spider: studies by NCT id, or every study a query matches.

Arguments (``scrapy crawl ctgov -a ids=NCT06958939`` or ``run_crawl``): ``ids``, ``cond``,
``intr``, ``term``, ``status``, ``since``, ``page_size``, ``api_base`` (see ``CtgovArgs``);
they are validated in ``__init__``, before any request.

Items are plain dicts with a ``kind``:

- ``record``:  ``record`` (TrialRecord), ``raw`` (the study JSON text), ``content_hash``;
- ``failure``: ``reason``, ``raw``, ``url``, ``trial_id``, ``detail`` (a payload that did not
  parse; the store keeps it so nothing fetched is lost);
- ``alias``:   ``alias``, ``trial_id`` (the API redirected an old id to the current one).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

from scrapy.http import Request, Response

from ...parser.ctgov import REGISTRY, content_hash, normalise_nct_id, parse_study
from ...parser.errors import ParseError
from ..ctgov_args import CtgovArgs
from .base import Item, RegistrySpider, body_text


class CtgovSpider(RegistrySpider):
    name = "ctgov"
    registry = REGISTRY
    arg_names = frozenset({"ids", "cond", "intr", "term", "status", "since", "page_size",
                           "api_base", "allow_unfiltered"})
    args_type = CtgovArgs
    crawl_args: CtgovArgs

    def __init__(self, *args: Any, crawl_args: CtgovArgs | None = None, **kwargs: Any) -> None:
        super().__init__(*args, crawl_args=crawl_args, **kwargs)
        self.aliases: dict[str, str] = {}

    # -- requests --------------------------------------------------------------------------
    async def start(self) -> AsyncIterator[Request]:
        args = self.crawl_args
        if args.ids:
            self._stats().set_value("trials/total_count", len(args.ids))
            for nct_id in args.ids:
                # dont_filter: ids are unique already, and an alias's 301 leads to a URL that
                # may also be requested directly; the dupefilter would swallow the redirect.
                yield Request(args.study_url(nct_id), callback=self.parse_study_response,
                              meta={"trials_requested_id": nct_id}, dont_filter=True)
        else:
            yield self.search_request()

    def search_request(self, page_token: str | None = None) -> Request:
        return Request(self.crawl_args.search_url(page_token), callback=self.parse_page,
                       meta={"trials_page_token": page_token},
                       # pages of one query are fetched in order; a token is never reused
                       dont_filter=True)

    # -- callbacks -------------------------------------------------------------------------
    def parse_study_response(self, response: Response) -> Iterator[Item]:
        """``/studies/{id}``: one study, a 404 for an unknown id, or a 301 already followed."""
        requested = response.meta.get("trials_requested_id")
        if response.status == 404:
            self._not_found(requested, response.url)
            return
        if response.status != 200:
            self._http_failure(response)
            return
        text = body_text(response)
        try:
            study = json.loads(text)
        except (ValueError, RecursionError) as exc:  # RecursionError: hostile nesting
            yield self._failure("invalid_json", text, response.url, requested, str(exc))
            return
        item = self._study_item(study, text, response.url)
        yield item
        canonical = item.get("trial_id") if item["kind"] == "failure" else item["record"].trial_id
        if requested and canonical and canonical != requested:
            # The API answered the old id with a 301 to the current one (Scrapy followed it).
            self._stats().inc_value("trials/aliases")
            self.aliases[requested] = canonical
            yield {"kind": "alias", "alias": requested, "trial_id": canonical}

    def parse_page(self, response: Response) -> Iterator[Item | Request]:
        """``/studies?...``: a page of studies, maybe a ``nextPageToken``."""
        if response.status != 200:
            self._http_failure(response)
            return
        text = body_text(response)
        try:
            page = json.loads(text)
        except (ValueError, RecursionError) as exc:  # RecursionError: hostile nesting
            # The rest of the query is unreachable without this page's token: kept and counted.
            yield self._failure("invalid_json", text, response.url, None, str(exc))
            return
        if not isinstance(page, dict) or not isinstance(page.get("studies"), list):
            yield self._failure("not_a_page", text, response.url, None,
                                "no 'studies' list in a search response")
            return
        stats = self._stats()
        stats.inc_value("trials/pages")
        if response.meta.get("trials_page_token") is None and "totalCount" in page:
            stats.set_value("trials/total_count", page["totalCount"])
        token = page.get("nextPageToken")
        if token:
            # Asked for before this page's studies are stored, so the download overlaps them.
            yield self.search_request(str(token))
        for study in page["studies"]:
            raw = json.dumps(study, ensure_ascii=False, indent=2)
            yield self._study_item(study, raw, response.url)

    # -- helpers ---------------------------------------------------------------------------
    def _study_item(self, study: Any, raw: str, url: str) -> Item:
        try:
            record = parse_study(study, url=url)
        except ParseError as exc:
            return self._failure(exc.reason, raw, url, _nct_id_of(study), str(exc))
        return {"kind": "record", "record": record, "raw": raw, "url": url,
                "content_hash": content_hash(study)}

    def _http_failure(self, response: Response) -> None:
        # A status that reached us without being retried (400: the API rejected the query).
        self._stats().inc_value(f"trials/failed/http_{response.status}")
        self.logger.error("HTTP %s for %s: %s", response.status, response.url,
                          body_text(response)[:500])


def _nct_id_of(study: Any) -> str | None:
    """The study's NCT id if one can be read, for labelling a failure."""
    try:
        return normalise_nct_id(study["protocolSection"]["identificationModule"]["nctId"])
    except (KeyError, TypeError, AttributeError):
        return None
