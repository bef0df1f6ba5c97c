"""The refresh's one Scrapy process: its crawls run one after another, each one's outcome
(stats, the trials it stored, ids not found, aliases) collected for the report.

One crawl at a time is what the registry deserves, and what keeps two store pipelines from
waiting on each other's SQLite transaction (each holds one open while it batches).  A
SIGTERM or Ctrl-C stops the running crawl gracefully (Scrapy's handler) and starts no other;
those watches are reported as interrupted and ask again next run.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trialscope.crawler.faults import TRANSIENT_DROPS, causes

if TYPE_CHECKING:
    from trialscope.crawler.plan import CrawlPlan

log = logging.getLogger(__name__)

# TRANSIENT_DROPS: drops that say the transfer went wrong (a cut or garbled body): fetch
# again next time.  Payloads that arrived whole but do not parse are kept and counted, and
# do not hold the watch back: fetching them again would give the same bytes.

_session_used = False


@dataclass
class CrawlOutcome:
    plan: CrawlPlan
    ran: bool = False
    error: str | None = None  # the crawl could not run, or was cut short
    stats: dict[str, Any] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)  # trial ids stored by this crawl
    not_found: list[str] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    item_errors: int = 0
    interrupted: bool = False  # stopped by a signal, or never started because of one

    def on_item(self, item: Any) -> None:
        if isinstance(item, dict) and item.get("kind") == "record":
            self.seen.append(item["record"].trial_id)

    def on_item_error(self, item: Any) -> None:
        # The store refused an item: the watch must try again.  Counted in the stats too
        # (trials/failed/store_error, by faults.FailureAccounting); this count is for a crawl
        # whose stats could not be read.
        self.item_errors += 1

    def _total(self, prefix: str) -> dict[str, int]:
        return {k[len(prefix):]: v for k, v in self.stats.items()
                if k.startswith(prefix) and isinstance(v, int)}

    @property
    def failures(self) -> dict[str, int]:
        # Every failure (a request, a callback that raised, the store refusing an item) is
        # counted once under trials/failed/ by faults.FailureAccounting.
        out = self._total("trials/failed/")
        if self.item_errors and "store_error" not in out:
            out["store_error"] = self.item_errors
        return out

    @property
    def causes(self) -> list[dict[str, Any]]:
        return [c.as_dict() for c in causes(self.stats)]

    @property
    def dropped(self) -> dict[str, int]:
        return self._total("trials/dropped/")

    @property
    def retries(self) -> dict[str, int]:
        return self._total("trials/retry/")

    @property
    def transient_drops(self) -> int:
        return sum(self.dropped.get(r, 0) for r in TRANSIENT_DROPS)

    @property
    def finish_reason(self) -> str:
        return str(self.stats.get("finish_reason") or "")

    @property
    def ok(self) -> bool:
        return (self.ran and self.error is None and self.finish_reason == "finished"
                and not self.failures and not self.transient_drops)


class CrawlSession:
    """The refresh's Scrapy process: its log handler is installed from ``__enter__`` to
    ``__exit__`` (so the refresh's own messages go to the same log); ``run`` runs the crawls
    in order.  Once per process, like ``run_crawl``."""

    def __init__(self, store_path: Path, *, progress: bool = False,
                 log_file: Path | str | None = None,
                 settings_overrides: dict[str, Any] | None = None) -> None:
        self.store_path = store_path
        self.progress = progress
        self.log_file = log_file
        self.overrides = settings_overrides or {}
        self.process: Any = None
        self._handler: Any = None
        self._stopping = False

    def __enter__(self) -> CrawlSession:
        global _session_used
        from scrapy.crawler import AsyncCrawlerProcess

        from trialscope.crawler import run as run_module

        if _session_used or run_module._crawled:
            raise run_module.CrawlError("one crawl session per process (Twisted's reactor "
                                        "cannot restart); run refreshes in new processes")
        _session_used = True
        settings = run_module.crawl_settings(self.store_path, progress=self.progress,
                                             overrides=self.overrides)
        self.process = AsyncCrawlerProcess(settings)
        # After the process: its configure_logging() closes handlers installed before it.
        self._handler = run_module._install_log_handler(settings, self.log_file,
                                                        "LOG_LEVEL" in self.overrides)
        return self

    def __exit__(self, *exc: object) -> None:
        from trialscope.crawler import run as run_module

        if self._handler is not None:
            run_module._remove_handler(self._handler)
            self._handler = None

    def run(self, plans: list[CrawlPlan]) -> list[CrawlOutcome]:
        outcomes = [CrawlOutcome(plan) for plan in plans]
        if not plans:
            return outcomes
        from twisted.internet import reactor

        async def chain() -> None:
            try:
                for outcome in outcomes:
                    if self._stopping:
                        break
                    await self._crawl(outcome)
            finally:
                # (Twisted declares the reactor's methods on zope interfaces, without self,
                # which mypy reads wrongly without the mypy-zope plugin)
                reactor.callLater(0, _stop, reactor)  # type: ignore[arg-type]

        main = asyncio.get_event_loop().create_task(chain())
        self.process.start(stop_after_crawl=False,
                           install_signal_handlers=threading.current_thread()
                           is threading.main_thread())
        if main.done() and not main.cancelled() and main.exception() is not None:
            exc = main.exception()
            for outcome in outcomes:
                outcome.error = outcome.error or f"{type(exc).__name__}: {exc}"
        for outcome in outcomes:
            if not outcome.ran:
                outcome.interrupted = True
                outcome.error = outcome.error or "not run: the refresh was stopped"
        return outcomes

    async def _crawl(self, outcome: CrawlOutcome) -> None:
        from scrapy import signals

        from trialscope.crawler.run import _jsonable
        from trialscope.crawler.spiders.ctgov import CtgovSpider

        crawler = self.process.create_crawler(CtgovSpider)
        crawler.signals.connect(outcome.on_item, signal=signals.item_scraped)
        crawler.signals.connect(outcome.on_item_error, signal=signals.item_error)
        log.info("refresh: watch %s: %s", outcome.plan.watch, outcome.plan.describe())
        try:
            await self.process.crawl(crawler, crawl_args=outcome.plan.args,
                                     name=outcome.plan.watch)
        except Exception as exc:  # noqa: BLE001 (counted: the other watches still run)
            outcome.error = f"{type(exc).__name__}: {exc}"
            log.error("refresh: watch %s: the crawl failed: %s", outcome.plan.watch, exc)
        outcome.ran = True
        outcome.stats = _jsonable(crawler.stats.get_stats() or {})
        spider = getattr(crawler, "spider", None)
        outcome.not_found = list(getattr(spider, "not_found_ids", []) or [])
        outcome.aliases = dict(getattr(spider, "aliases", {}) or {})
        if outcome.finish_reason not in ("", "finished", "unreachable"):
            # "shutdown": SIGTERM/SIGINT asked the process to stop; start nothing more.
            # ("unreachable": the crawl gave up on a host; it failed, nothing was stopped.)
            self._stopping = True
            outcome.interrupted = True
            outcome.error = outcome.error or f"stopped ({outcome.finish_reason})"


def _stop(reactor: Any) -> None:
    with suppress(RuntimeError):  # already stopping (a signal got there first)
        reactor.stop()
