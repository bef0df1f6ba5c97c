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

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Request, Response
    from scrapy.settings import BaseSettings
    from typing_extensions import Self

logger = logging.getLogger(__name__)

# Statuses whose Retry-After we honour (RFC 9110 §10.2.3, RFC 6585 §4).
RETRY_AFTER_STATUSES = frozenset({429, 503})

# Exception class names -> short reasons for ``trials/retry/<reason>`` and
# ``trials/failed/<reason>`` (Scrapy 2.19's download exceptions, and Twisted's for older ones).
_EXCEPTION_REASONS = {
    "DownloadTimeoutError": "timeout",
    "TimeoutError": "timeout",
    "TCPTimedOutError": "timeout",
    "DownloadConnectionRefusedError": "connection_refused",
    "ConnectionRefusedError": "connection_refused",
    "CannotResolveHostError": "dns_lookup",
    "DNSLookupError": "dns_lookup",
    "ResponseDataLossError": "data_loss",
    "DownloadFailedError": "download_failed",
    "ConnectionLost": "connection_lost",
    "ConnectionDone": "connection_lost",
    "ResponseFailed": "download_failed",
}


def parse_retry_after(value: str | bytes | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if
    absent or unreadable.  A date in the past means "now" (0)."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
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


def exception_reason(exception: BaseException) -> str:
    """'DownloadTimeoutError' -> 'timeout'; an unlisted class -> its name in snake_case."""
    name = type(exception).__name__
    return _EXCEPTION_REASONS.get(name) or re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class BackoffRetryMiddleware(RetryMiddleware):
    """Drop-in replacement for Scrapy's RetryMiddleware (same settings), plus:

    - ``TRIALS_RETRY_BACKOFF_BASE`` / ``TRIALS_RETRY_BACKOFF_MAX``: exponential backoff;
    - ``TRIALS_RETRY_AFTER_MAX``: cap on a server's Retry-After;
    - stats ``trials/retry/<status or reason>`` per retry and ``trials/failed/<reason>``
      (``http_500``, ``timeout``, ...) when a request runs out of retries.
    """

    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        self.backoff_base = settings.getfloat("TRIALS_RETRY_BACKOFF_BASE", 1.0)
        self.backoff_max = settings.getfloat("TRIALS_RETRY_BACKOFF_MAX", 60.0)
        self.retry_after_max = settings.getfloat("TRIALS_RETRY_AFTER_MAX", 120.0)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        mw = cls(crawler.settings)
        mw.crawler = crawler
        return mw

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        attempt = request.meta.get("retry_times", 0) + 1
        retry = self._retry(request, response_status_message(response.status))
        stats = self.crawler.stats
        if retry is None:
            # Out of retries: the response goes on (HttpErrorMiddleware drops it) and we count.
            stats.inc_value(f"trials/failed/http_{response.status}")
            return response
        stats.inc_value(f"trials/retry/{response.status}")
        delay = retry_delay(
            response.status, response.headers.get("Retry-After"), attempt,
            base=self.backoff_base, backoff_max=self.backoff_max,
            retry_after_max=self.retry_after_max,
        )
        logger.debug("retrying %s after %.2fs (HTTP %s)", request.url, delay, response.status)
        if delay > 0:
            await sleep(delay)
        return retry

    async def process_exception(
        self, request: Request, exception: Exception
    ) -> Request | Response | None:
        if request.meta.get("dont_retry", False) or not isinstance(
            exception, self.exceptions_to_retry
        ):
            return None
        attempt = request.meta.get("retry_times", 0) + 1
        retry = self._retry(request, exception)
        reason = exception_reason(exception)
        if retry is None:
            self.crawler.stats.inc_value(f"trials/failed/{reason}")
            return None
        self.crawler.stats.inc_value(f"trials/retry/{reason}")
        delay = retry_delay(None, None, attempt, base=self.backoff_base,
                            backoff_max=self.backoff_max, retry_after_max=self.retry_after_max)
        if delay > 0:
            await sleep(delay)
        return retry
