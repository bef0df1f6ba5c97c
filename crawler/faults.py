"""Nothing lost, nothing silent: every way a request or its handling can fail becomes a counted
failure with a reason, a sample of what failed, and a remedy the CLI can print.

``FailureAccounting`` is the one place that counts failures.  It is a downloader middleware
(enabled in ``settings.py``) that

- gives every request without one an errback, so a download that fails for any reason (DNS,
  refused connection, timeout, TLS, an exception raised inside any downloader middleware, a
  status no callback accepts, such as 403, or a 500 that outlived its retries) reaches it;
- listens to ``spider_error`` (a callback or errback raised) and ``item_error`` (the store
  refused an item).

Each failure increments ``trials/failed/<reason>`` and keeps up to ``_SAMPLES`` distinct
samples (the host, the status, the exception's message) in ``trials/failure_samples/<reason>``.
Deliberate skips (``IgnoreRequest``: robots.txt, offsite) are counted under
``trials/skipped/<reason>`` instead.  (Scrapy is imported only where a crawl needs it: the
CLI reads ``causes`` without paying for it.)

``causes(stats)`` turns those stats, plus the drops that mean a transfer went wrong (a
truncated or undecodable page), into one ``Cause`` per reason: what happened, how often, to
what, and what to do.  ``trials crawl``, ``trials refresh`` and ``trials show --fetch`` print
one ``Error:`` line per cause.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Request
    from twisted.python.failure import Failure
    from typing_extensions import Self

logger = logging.getLogger(__name__)

FAILED = "trials/failed/"
SAMPLES = "trials/failure_samples/"
SKIPPED = "trials/skipped/"
_SAMPLES = 3  # distinct samples kept per reason

# Exception class names -> short reasons (Scrapy 2.19's download exceptions, and Twisted's).
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
    "SSLError": "tls",
}
# Words in an exception (or the exceptions it wraps) that say the TLS handshake failed.
_TLS_WORDS = re.compile(r"\bSSL|\bTLS|certificate|handshake|wrong.version.number",
                        re.IGNORECASE)

# Failures no retry can fix: retried at most ``TRIALS_RETRY_LIMITS`` times (0 or 1).
PERMANENT = frozenset({"dns_lookup", "connection_refused", "tls", "http_403"})
# Drops that mean the transfer went wrong (the page or study did not arrive whole).
TRANSIENT_DROPS = ("invalid_json", "not_a_page")


def exception_reason(exception: BaseException) -> str:
    """'DownloadTimeoutError' -> 'timeout'; a TLS failure -> 'tls'; an unlisted class -> its
    name in snake_case ('ValueError' -> 'value_error')."""
    name = type(exception).__name__
    reason = _EXCEPTION_REASONS.get(name)
    if reason in (None, "download_failed", "connection_lost") and _is_tls(exception):
        return "tls"
    return reason or re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _is_tls(exception: BaseException) -> bool:
    seen: list[BaseException] = []
    todo: list[Any] = [exception]
    while todo and len(seen) < 20:
        exc = todo.pop()
        if exc is None or any(exc is s for s in seen):
            continue
        seen.append(exc)
        module = type(exc).__module__ or ""
        if module.startswith(("OpenSSL", "ssl")) or _TLS_WORDS.search(str(exc)):
            return True
        todo.append(exc.__cause__)
        todo.append(exc.__context__)
        for reason in getattr(exc, "reasons", None) or ():  # twisted's ResponseFailed
            todo.append(getattr(reason, "value", None))
    return False


def _where(url: str | None) -> str:
    """'http://127.0.0.1:9/studies/NCT1' -> '127.0.0.1:9' (the host is what the user fixes)."""
    if not url:
        return ""
    parts = urlsplit(url)
    return parts.netloc or url


@dataclass(frozen=True)
class Classified:
    reason: str  # the stat's last part: "connection_refused", "http_403", "value_error", ...
    sample: str  # what failed: "127.0.0.1:9", "127.0.0.1:8080 GET /studies/NCT1: ..." ...


def classify(failure: Failure | BaseException, url: str | None) -> Classified | None:
    """A request's failure as a reason and a sample; None for a deliberate skip."""
    from scrapy.exceptions import IgnoreRequest
    from scrapy.spidermiddlewares.httperror import HttpError

    exc = _unwrap(failure)
    where = _where(url)
    if isinstance(exc, HttpError):
        status = exc.response.status
        return Classified(f"http_{status}", where)
    if isinstance(exc, IgnoreRequest):
        return None
    reason = exception_reason(exc)
    if reason in ("connection_refused", "dns_lookup", "timeout"):
        return Classified(reason, where)
    return Classified(reason, _sample(where, exc))


def _sample(where: str, exc: BaseException) -> str:
    """'127.0.0.1:9: ValueError: bad value' (the message on one line, cut at 160 chars)."""
    text = " ".join(str(exc).split())[:160]
    return f"{where}: {type(exc).__name__}: {text}" if text else f"{where}: {type(exc).__name__}"


def _unwrap(failure: Any) -> BaseException:
    """The exception inside a Failure (Scrapy may hand over a Failure wrapping a Failure)."""
    from twisted.python.failure import Failure

    exc = failure
    for _ in range(10):  # twisted's Failure is itself a BaseException: look inside first
        if isinstance(exc, Failure):
            exc = exc.value
        elif isinstance(exc, BaseException):
            return exc
        else:
            break
    return exc if isinstance(exc, BaseException) else RuntimeError(repr(failure))


def count_failure(stats: Any, reason: str, sample: str) -> None:
    """``trials/failed/<reason>`` + 1, and ``sample`` kept if it is new (up to _SAMPLES)."""
    stats.inc_value(FAILED + reason)
    samples = list(stats.get_value(SAMPLES + reason) or [])
    if sample and sample not in samples and len(samples) < _SAMPLES:
        samples.append(sample)
        stats.set_value(SAMPLES + reason, samples)


class FailureAccounting:
    """Downloader middleware + signal listener: see the module docstring."""

    def __init__(self, crawler: Crawler) -> None:
        from scrapy import signals

        self.crawler = crawler
        # After this many failures in a row that no retry can fix (DNS, refused, TLS, 403)
        # from one host with no good answer between them, the crawl stops ("unreachable"):
        # asking the rest would only repeat the failure (and, for a 403, impolitely).
        self.stop_after = crawler.settings.getint("TRIALS_STOP_AFTER_PERMANENT", 5)
        self.streaks: dict[str, int] = {}
        crawler.signals.connect(self.spider_error, signal=signals.spider_error)
        crawler.signals.connect(self.item_error, signal=signals.item_error)
        crawler.signals.connect(self.response_received, signal=signals.response_received)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    # -- every request gets an errback --------------------------------------------------------
    def process_request(self, request: Request) -> None:
        if request.errback is None:
            request.errback = self.request_failed

    def request_failed(self, failure: Failure) -> None:
        request = getattr(failure, "request", None)
        url = getattr(request, "url", None)
        found = classify(failure, url)
        stats = self.crawler.stats
        if found is None:
            text = str(_unwrap(failure)).lower()
            reason = ("robots_txt" if "robots.txt" in text
                      else "offsite" if "offsite" in text else "ignored")
            stats.inc_value(SKIPPED + reason)
            logger.info("skipped %s (%s)", url, failure.value)
            return
        count_failure(stats, found.reason, found.sample)
        logger.error("request failed for good: %s (%s): %s", url, found.reason,
                     failure.getErrorMessage()[:300])
        if found.reason in PERMANENT and self.stop_after > 0:
            host = _where(url)
            self.streaks[host] = self.streaks.get(host, 0) + 1
            if self.streaks[host] >= self.stop_after:
                from scrapy.exceptions import CloseSpider

                stats.set_value("trials/stopped_after", {"reason": found.reason,
                                                         "host": host,
                                                         "failures": self.streaks[host]})
                logger.error("%d requests in a row to %s failed (%s): stopping the crawl",
                             self.streaks[host], host, found.reason)
                raise CloseSpider("unreachable")

    def response_received(self, response: Any, request: Any, spider: Any) -> None:
        if response.status < 400:
            self.streaks.pop(_where(response.url), None)

    # -- callbacks and the store ------------------------------------------------------------
    def spider_error(self, failure: Failure, response: Any, spider: Any) -> None:
        url = getattr(response, "url", None)
        count_failure(self.crawler.stats, "spider_exception",
                      _sample(_where(url), _unwrap(failure)))

    def item_error(self, item: Any, response: Any, spider: Any, failure: Failure) -> None:
        what = item.get("kind") if isinstance(item, dict) else type(item).__name__
        count_failure(self.crawler.stats, "store_error",
                      _sample(str(what), _unwrap(failure)))


# -- what to tell the user ------------------------------------------------------------------
@dataclass
class Cause:
    reason: str
    count: int
    what: str  # "connection refused", "HTTP 403 Forbidden", ...
    samples: list[str]
    hint: str
    unit: str = "request"  # "request" | "page" | "payload" | "item"

    def line(self) -> str:
        """'3 requests failed: connection refused (127.0.0.1:9). Check ...'"""
        units = self.unit if self.count == 1 else self.unit + "s"
        where = f" ({', '.join(self.samples)})" if self.samples else ""
        verb = {"page": "could not be read", "item": "could not be stored"}.get(
            self.unit, "failed")
        return f"{self.count} {units} {verb}: {self.what}{where}. {self.hint}"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["message"] = self.line()
        return data


_NETWORK_HINT = ("Check the network and the registry's address (TRIALS_CTGOV_API for "
                 "ClinicalTrials.gov, TRIALS_CHICTR_BASE for ChiCTR); retrying would not "
                 "help, so it was retried at most once. Run the command again once the "
                 "registry is reachable.")
_TRANSIENT_HINT = ("The registry is slow or overloaded; it was retried with backoff. Run the "
                   "command again later: what was fetched is kept.")
_REMEDIES = {
    "dns_lookup": ("DNS lookup failed", _NETWORK_HINT),
    "connection_refused": ("connection refused", _NETWORK_HINT),
    "tls": ("TLS/SSL handshake failed",
            "Check the address's scheme (https for a TLS server), the system clock, proxies "
            "and certificates; this is not retried."),
    "http_403": ("HTTP 403 Forbidden",
                 "The registry refused this client (it may refuse some clients or networks); "
                 "retrying does not help, so it was not retried. "
                 "Use the bulk download (https://clinicaltrials.gov/api/v2/studies/download"
                 "?format=json.zip) with 'trials import', or a mirror of the API via "
                 "TRIALS_CTGOV_API."),
    "timeout": ("timed out", _TRANSIENT_HINT),
    "data_loss": ("the connection closed before the whole answer arrived", _TRANSIENT_HINT),
    "connection_lost": ("the connection was lost", _TRANSIENT_HINT),
    "download_failed": ("the download failed", _TRANSIENT_HINT),
    "spider_exception": ("an internal error while reading an answer",
                         "This is a bug in trialscope; please report it with the log "
                         "(logs/crawl.log or logs/refresh.log in the data folder)."),
    "search_page_unreadable": ("a search results page was not a results page",
                               "The site may have changed its layout or answered with "
                               "another page (kept raw in the store's failures); the search "
                               "stopped there."),
    "store_error": ("the store refused an item",
                    "Check the disk and the data folder; 'trials check' tells whether store "
                    "and index agree."),
}
_PAGE_HINT = ("The answer was cut off or garbled in transit (its raw bytes are kept in the "
              "store's failures); run the command again to fetch it.")


def _remedy(reason: str) -> tuple[str, str, str]:
    """(what, hint, unit) for a ``trials/failed/<reason>``."""
    if reason in _REMEDIES:
        what, hint = _REMEDIES[reason]
        unit = {"store_error": "item", "search_page_unreadable": "page"}.get(reason, "request")
        return what, hint, unit
    status = reason[5:] if reason.startswith("http_") else ""
    if status.isdigit():
        code = int(status)
        if code == 429 or code >= 500:
            return f"HTTP {code}", _TRANSIENT_HINT, "request"
        if code == 400:
            return "HTTP 400 (the registry rejected the query)", \
                "Check the query's options; the log has the registry's message.", "request"
        return f"HTTP {code}", "See the log for the registry's answer.", "request"
    return (f"an internal error ({reason})",
            "This is a bug in trialscope; please report it with the log (logs/ in the data "
            "folder).", "request")


def causes(stats: dict[str, Any]) -> list[Cause]:
    """One cause per failure reason, most frequent first, then pages that could not be read."""
    out: list[Cause] = []
    for key, n in stats.items():
        if not key.startswith(FAILED) or not isinstance(n, int) or n <= 0:
            continue
        reason = key[len(FAILED):]
        what, hint, unit = _remedy(reason)
        out.append(Cause(reason, n, what, list(stats.get(SAMPLES + reason) or []), hint, unit))
    for reason in TRANSIENT_DROPS:
        n = stats.get(f"trials/dropped/{reason}", 0)
        if isinstance(n, int) and n > 0:
            what = ("not valid JSON (truncated or garbled)" if reason == "invalid_json"
                    else "not a page of studies")
            out.append(Cause(f"dropped/{reason}", n, what, [], _PAGE_HINT, "page"))
    out.sort(key=lambda c: -c.count)
    return out
