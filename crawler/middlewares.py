"""Retries that respect the registry: Retry-After first, else exponential backoff.

Scrapy's ``RetryMiddleware`` re-queues a failed request at once; against a rate-limited API
that turns one 429 into a burst of them.  ``BackoffRetryMiddleware`` keeps its bookkeeping
(``retry_times`` meta, ``RETRY_TIMES``, ``retry/*`` stats) and waits before handing the retry
back, with a non-blocking sleep so the rest of the crawl keeps moving.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.utils.asyncio import sleep
from scrapy.utils.response import response_status_message

from trialscope.crawler.faults import PERMANENT, exception_reason

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response
    from scrapy.settings import BaseSettings
    from typing_extensions import Self

logger = logging.getLogger(__name__)

# Statuses whose Retry-After we honour (RFC 9110 §10.2.3, RFC 6585 §4).
RETRY_AFTER_STATUSES = frozenset({429, 503})

_DELTA_SECONDS = re.compile(r"[0-9]{1,12}")  # RFC 9110: 1*DIGIT, ASCII digits only


def parse_retry_after(value: str | bytes | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if
    absent or unreadable.  A date in the past means "now" (0)."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if not text:
        return None
    # Not str.isdigit(): it is True for "²" or "٣", which float() then refuses.
    if _DELTA_SECONDS.fullmatch(text):
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # HTTP dates are GMT; a naive result means "-0000"
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def retry_delay(
    status: int | None,
    retry_after: str | bytes | None,
    attempt: int,
    *,
    base: float,
    backoff_max: float,
    retry_after_max: float,
) -> float:
    """How long to wait before retry number ``attempt`` (1 for the first retry).

    On 429/503 with a readable Retry-After, that value capped at ``retry_after_max``;
    otherwise ``base * 2**(attempt-1)`` capped at ``backoff_max``.  No jitter: one client
    crawling sequentially has no herd to spread out.
    """
    if status in RETRY_AFTER_STATUSES:
        seconds = parse_retry_after(retry_after)
        if seconds is not None:
            return min(seconds, retry_after_max)
    return min(base * 2 ** max(attempt - 1, 0), backoff_max)


class BackoffRetryMiddleware(RetryMiddleware):
    """Drop-in replacement for Scrapy's RetryMiddleware (same settings), plus:

    - ``TRIALS_RETRY_BACKOFF_BASE`` / ``TRIALS_RETRY_BACKOFF_MAX``: exponential backoff;
    - ``TRIALS_RETRY_AFTER_MAX``: cap on a server's Retry-After;
    - ``TRIALS_RETRY_LIMITS``: per-reason caps on ``RETRY_TIMES`` (``{"dns_lookup": 0,
      "connection_refused": 1, ...}``): a failure no retry can fix fails fast;
    - stats ``trials/retry/<status or reason>`` per retry.  A request that runs out of
      retries is counted once, as ``trials/failed/<reason>``, by ``faults.FailureAccounting``
      (the response or exception goes on to it).
    """

    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        self.backoff_base = settings.getfloat("TRIALS_RETRY_BACKOFF_BASE", 1.0)
        self.backoff_max = settings.getfloat("TRIALS_RETRY_BACKOFF_MAX", 60.0)
        self.retry_after_max = settings.getfloat("TRIALS_RETRY_AFTER_MAX", 120.0)
        limits = settings.getdict("TRIALS_RETRY_LIMITS") or {}
        self.retry_limits = {str(k): int(v) for k, v in limits.items()}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        mw = cls(crawler.settings)
        mw.crawler = crawler
        return mw

    def _out_of_tries(self, request: Request, reason: str) -> bool:
        """The per-reason cap is reached (the request has been retried that often)."""
        limit = self.retry_limits.get(reason)
        if limit is None and reason in PERMANENT:
            limit = 0
        return limit is not None and request.meta.get("retry_times", 0) >= limit

    # Scrapy's middleware manager awaits a coroutine method and passes ``spider`` only to a
    # method that takes it; RetryMiddleware declares the synchronous form with ``spider``.
    async def process_response(  # type: ignore[override]
        self, request: Request, response: Response
    ) -> Request | Response:
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        if self._out_of_tries(request, f"http_{response.status}"):
            return response
        attempt = request.meta.get("retry_times", 0) + 1
        retry = self._retry(request, response_status_message(response.status))
        if retry is None:
            return response  # out of retries: HttpErrorMiddleware fails it, and it is counted
        self.crawler.stats.inc_value(f"trials/retry/{response.status}")
        delay = retry_delay(
            response.status, response.headers.get("Retry-After"), attempt,
            base=self.backoff_base, backoff_max=self.backoff_max,
            retry_after_max=self.retry_after_max,
        )
        logger.debug("retrying %s after %.2fs (HTTP %s)", request.url, delay, response.status)
        if delay > 0:
            await sleep(delay)
        return retry

    async def process_exception(  # type: ignore[override]
        self, request: Request, exception: Exception
    ) -> Request | Response | None:
        if request.meta.get("dont_retry", False) or not isinstance(
            exception, self.exceptions_to_retry
        ):
            return None
        reason = exception_reason(exception)
        if self._out_of_tries(request, reason):
            logger.debug("not retrying %s: %s is not transient", request.url, reason)
            return None
        attempt = request.meta.get("retry_times", 0) + 1
        retry = self._retry(request, exception)
        if retry is None:
            return None
        self.crawler.stats.inc_value(f"trials/retry/{reason}")
        delay = retry_delay(None, None, attempt, base=self.backoff_base,
                            backoff_max=self.backoff_max, retry_after_max=self.retry_after_max)
        if delay > 0:
            await sleep(delay)
        return retry
