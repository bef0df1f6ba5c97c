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

import dataclasses
import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from scrapy.http import Request, Response

from trialscope.crawler.ctgov_args import CrawlArgumentError, CtgovArgs
from trialscope.crawler.faults import count_failure
from trialscope.crawler.replay import ReplayServer
from trialscope.crawler.spiders.base import Item, RegistrySpider, body_text
from trialscope.parser.ctgov import REGISTRY, content_hash, normalise_nct_id, parse_study
from trialscope.parser.errors import ParseError

_OFFLINE_PLACEHOLDER = "http://127.0.0.1"  # replaced by the replay server's URL once it runs


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

    # -- run_crawl's options -----------------------------------------------------------------
    @classmethod
    def run_args(cls, *, ids: Any, cond: str | None, intr: str | None, term: str | None,
                 status: Any, since: Any, page_size: int, api_base: str | None,
                 offline: bool) -> CtgovArgs:
        """Offline, with neither ids nor a query, every bundled study is crawled."""
        if offline and api_base:
            raise CrawlArgumentError("api_base", api_base, "cannot be combined with offline "
                                     "(the replay server is the API)")
        return CtgovArgs.from_raw(
            ids=ids or None, cond=cond, intr=intr, term=term, status=status or None,
            since=since, page_size=page_size,
            api_base=_OFFLINE_PLACEHOLDER if offline else api_base, allow_unfiltered=offline,
        )

    @classmethod
    @contextmanager
    def replayed(cls, args: CtgovArgs) -> Iterator[CtgovArgs]:
        """The bundled studies served by the replay server (``crawler/replay.py``)."""
        with ReplayServer() as server:
            yield dataclasses.replace(args, api_base=server.url)

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
        """``/studies?...``: a page of studies, maybe a ``nextPageToken``.

        Each study stands alone: one that cannot be parsed (or serialised, or stored) is kept
        raw and counted, and the page's other studies are stored.  A page that cannot be
        decoded is kept raw and counted (the run is then partial); paging goes on if its
        ``nextPageToken`` can still be read from the text."""
        if response.status != 200:
            self._http_failure(response)
            return
        text = body_text(response)
        try:
            page = json.loads(text)
        except (ValueError, RecursionError) as exc:  # RecursionError: hostile nesting
            yield self._failure("invalid_json", text, response.url, None,
                                f"the page is not valid JSON: {exc}")
            token = _token_in_text(text)
            if token:
                yield self.search_request(token)
            return
        if not isinstance(page, dict) or not isinstance(page.get("studies"), list):
            yield self._failure("not_a_page", text, response.url, None,
                                "no 'studies' list in a search response")
            token = page.get("nextPageToken") if isinstance(page, dict) else None
            if isinstance(token, str) and token:
                yield self.search_request(token)
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
            yield self._study_item(study, None, response.url)

    # -- helpers ---------------------------------------------------------------------------
    def _study_item(self, study: Any, raw: str | None, url: str) -> Item:
        """A record item, or a failure item keeping the study raw: never raises, so one bad
        study cannot take its page's other studies with it."""
        try:
            if raw is None:
                raw = decoded = _raw_json(study)
            else:  # the body as sent: an escaped surrogate is in the decoded study only
                decoded = _raw_json(study) if _SURROGATE_ESCAPE.search(raw) else raw
            record = parse_study(study, url=url)
            # The store writes UTF-8: a lone surrogate ("\ud800") would fail there, later
            # and without the payload; refuse it here, where the payload can still be kept.
            _check_text(record.trial_id, decoded)
            digest = content_hash(study)
        except ParseError as exc:
            return self._failure(exc.reason, _storable(raw, study), url, _nct_id_of(study),
                                 str(exc))
        except Exception as exc:  # noqa: BLE001 (any study may be hostile: counted, kept)
            reason = _study_error_reason(exc)
            return self._failure(reason, _storable(raw, study), url, _nct_id_of(study),
                                 f"{type(exc).__name__}: {exc}"[:1000])
        return {"kind": "record", "record": record, "raw": raw, "url": url,
                "content_hash": digest}

    def _http_failure(self, response: Response) -> None:
        # A status that reached us without being retried (400: the API rejected the query).
        count_failure(self._stats(), f"http_{response.status}", _host(response.url))
        self.logger.error("HTTP %s for %s: %s", response.status, response.url,
                          body_text(response)[:500])


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_TOKEN_RE = re.compile(r'"nextPageToken"\s*:\s*"([^"\\]{1,4096})"')


def _token_in_text(text: str) -> str | None:
    """The last ``"nextPageToken": "..."`` in a page that did not decode (too deep, or one
    bad byte): paging can go on past it.  A cut-off page has none."""
    found = _TOKEN_RE.findall(text[-100_000:]) or _TOKEN_RE.findall(text)
    return found[-1] if found else None


def _raw_json(study: Any) -> str:
    try:
        return json.dumps(study, ensure_ascii=False, indent=2)
    except RecursionError:
        return json.dumps(study, ensure_ascii=False)  # the C encoder nests deeper


def _storable(raw: str | None, study: Any) -> str:
    """The study as text the store can keep (valid UTF-8; however deep it nests)."""
    if raw is None:
        for dump in (lambda: json.dumps(study, ensure_ascii=True),
                     lambda: repr(study)):
            try:
                raw = dump()
                break
            except (RecursionError, ValueError):
                continue
        else:
            raw = "<the payload nests too deeply to be written out>"
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raw = raw.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw


def _check_text(trial_id: str, raw: str) -> None:
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UnicodeError(f"{trial_id}: text that is not valid Unicode ({exc.reason} at "
                           f"position {exc.start})") from exc


def _study_error_reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "too_deep"
    if isinstance(exc, UnicodeError):
        return "invalid_text"
    return "invalid_value"


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _nct_id_of(study: Any) -> str | None:
    """The study's NCT id if one can be read, for labelling a failure."""
    try:
        return normalise_nct_id(study["protocolSection"]["identificationModule"]["nctId"])
    except Exception:  # noqa: BLE001 (only a label: a hostile study must not raise here)
        return None
