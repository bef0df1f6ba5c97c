"""Run one registry crawl into a store, in this process: the library entry point behind
``trials crawl`` and ``trials refresh``.  The registries that can be crawled are the registry
table's (``parser/registries.py``); each one's spider is the Scrapy spider of the same name
(``crawler/spiders/``), which turns the crawl's options into its arguments (``run_args``).

Twisted's reactor cannot be restarted, so a process runs at most one crawl: call
``run_crawl`` once (the CLI does), or run it in a subprocess (the tests do).  Arguments are
validated before the reactor starts, so a bad one surfaces as ``CrawlArgumentError`` at once.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import threading
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from scrapy.crawler import AsyncCrawlerProcess
from scrapy.settings import Settings
from scrapy.spiderloader import get_spider_loader
from tqdm import tqdm

from trialscope.core.errors import TrialsError
from trialscope.crawler.ctgov_args import CrawlArgumentError
from trialscope.crawler.faults import TRANSIENT_DROPS, causes
from trialscope.crawler.spiders.base import RegistrySpider
from trialscope.parser.registries import crawlable

__all__ = ["CrawlArgumentError", "CrawlError", "CrawlSummary", "crawl_settings", "run_crawl"]

_crawled = False
_COMPONENT_SETTINGS = ("DOWNLOADER_MIDDLEWARES", "SPIDER_MIDDLEWARES", "ITEM_PIPELINES",
                       "EXTENSIONS")


class CrawlError(TrialsError, RuntimeError):
    """The crawl could not run (as opposed to running and meeting errors, which are counted).
    Code ``crawl_failed``."""

    def __init__(self, message: str) -> None:
        super().__init__("crawl_failed", message)


@dataclass
class CrawlSummary:
    stats: dict[str, Any]  # Scrapy's stats, JSON-ready (datetimes as ISO strings)
    finish_reason: str  # "finished" unless the crawl was stopped ("shutdown", ...)
    not_found: list[str] = field(default_factory=list)  # requested ids the API does not know
    aliases: dict[str, str] = field(default_factory=dict)  # requested id -> current id
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    dropped: int = 0  # payloads that did not parse (kept in the store's failures)
    failed: int = 0  # requests (or callbacks, or store writes) that failed for good
    # Why the crawl missed something, one entry per reason (faults.Cause.as_dict()); empty
    # when it did not.
    causes: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = True  # finished, and nothing failed or arrived garbled
    total_count: int | None = None  # what the registry said the query matches
    not_fetched: int | None = None  # of those, how many were neither stored nor kept raw

    @classmethod
    def from_stats(cls, stats: dict[str, Any], *, not_found: Iterable[str] = (),
                   aliases: dict[str, str] | None = None) -> CrawlSummary:
        def total(prefix: str) -> int:
            return sum(v for k, v in stats.items() if k.startswith(prefix) and isinstance(v, int))

        found = causes(stats)
        finish_reason = str(stats.get("finish_reason", ""))
        total_count = stats.get("trials/total_count")
        # Trials accounted for: stored, kept raw, or unknown to the registry.  A payload that
        # arrived garbled (a cut page, a cut study) accounts for none of the trials it held.
        handled = (sum(stats.get(f"trials/records/{k}", 0)
                       for k in ("new", "changed", "unchanged"))
                   + total("trials/dropped/") - sum(stats.get(f"trials/dropped/{r}", 0)
                                                    for r in TRANSIENT_DROPS)
                   + int(stats.get("trials/not_found", 0) or 0))
        complete = finish_reason == "finished" and not found
        not_fetched = None
        if isinstance(total_count, int) and not complete:
            not_fetched = max(0, total_count - handled)
        return cls(
            stats=stats,
            finish_reason=finish_reason,
            not_found=list(not_found),
            aliases=dict(aliases or {}),
            new=stats.get("trials/records/new", 0),
            changed=stats.get("trials/records/changed", 0),
            unchanged=stats.get("trials/records/unchanged", 0),
            dropped=total("trials/dropped/"),
            failed=total("trials/failed/"),
            causes=[c.as_dict() for c in found],
            complete=complete,
            total_count=total_count if isinstance(total_count, int) else None,
            not_fetched=not_fetched,
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    as_dict = to_dict  # the name app/crawl.py uses


def crawl_settings(store_path: Path | str, *, progress: bool = True, offline: bool = False,
                   overrides: dict[str, Any] | None = None) -> Settings:
    """The project settings plus this crawl's store and switches."""
    settings = Settings()
    settings.setmodule("trialscope.crawler.settings", priority="project")
    settings.set("TRIALS_STORE_PATH", str(store_path), priority="cmdline")
    settings.set("TRIALS_PROGRESS", progress, priority="cmdline")
    if offline:
        # The replay server is on this machine: politeness delays would only slow the demo.
        settings.set("AUTOTHROTTLE_ENABLED", False, priority="cmdline")
        settings.set("DOWNLOAD_DELAY", 0, priority="cmdline")
    if overrides:
        overrides = dict(overrides)
        for name in _COMPONENT_SETTINGS:
            # A component dict adds to the project's (a new middleware must not silently
            # remove the retry and failure accounting ones); ``None`` disables one.
            if isinstance(overrides.get(name), dict):
                overrides[name] = {**settings.getdict(name), **overrides[name]}
        settings.setdict(overrides, priority="cmdline")
    return settings


def run_crawl(
    store_path: Path,
    *,
    ids: Iterable[str] | str = (),
    cond: str | None = None,
    intr: str | None = None,
    term: str | None = None,
    status: Iterable[str] | str = (),
    since: str | date | None = None,
    page_size: int = 1000,
    api_base: str | None = None,
    offline: bool = False,
    progress: bool = True,
    log_file: Path | str | None = None,
    settings_overrides: dict[str, Any] | None = None,
    registry: str = "ctgov",
) -> CrawlSummary:
    """Crawl ``registry`` (ClinicalTrials.gov unless told; ``offline``, its bundled replay)
    into ``store_path``.

    Give ``ids`` or a query (``cond``, ``intr``, ``term``, ``status``, ``since``); offline, with
    neither, every bundled study is crawled.  What a registry's spider cannot honour is refused
    (ChiCTR: ids or a title ``term`` only).  Raises ``CrawlArgumentError`` (a ValueError)
    for a bad argument, ``CrawlError`` if the crawl could not run; errors met while crawling
    are counted in the summary instead.
    """
    global _crawled
    spider_cls = _spider(registry)
    args = spider_cls.run_args(ids=ids, cond=cond, intr=intr, term=term, status=status,
                               since=since, page_size=page_size, api_base=api_base,
                               offline=offline)
    if _crawled:
        raise CrawlError("run_crawl runs once per process (Twisted's reactor cannot restart); "
                         "run further crawls in new processes")
    _crawled = True
    settings = crawl_settings(store_path, progress=progress, offline=offline,
                              overrides=settings_overrides)
    with ExitStack() as stack:
        if offline:
            args = stack.enter_context(spider_cls.replayed(args))
        process = AsyncCrawlerProcess(settings)
        # After the process: its configure_logging() runs dictConfig, which closes handlers.
        explicit_level = bool(settings_overrides and "LOG_LEVEL" in settings_overrides)
        stack.callback(_remove_handler, _install_log_handler(settings, log_file, explicit_level))
        crawler = process.create_crawler(spider_cls)
        task = process.crawl(crawler, crawl_args=args)
        process.start(install_signal_handlers=threading.current_thread() is threading.main_thread())
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise CrawlError(f"the crawl failed to run: {task.exception()}") from task.exception()
    spider = crawler.spider
    stats = _jsonable(crawler.stats.get_stats())
    return CrawlSummary.from_stats(
        stats,
        not_found=getattr(spider, "not_found_ids", ()),
        aliases=getattr(spider, "aliases", None),
    )


def _spider(registry: str) -> type[RegistrySpider]:
    """The spider of a crawlable registry: the Scrapy spider named after it."""
    names = crawlable()
    if registry not in names:
        raise CrawlArgumentError("registry", registry,
                                 f"has no spider (use {' or '.join(names)})")
    settings = Settings()
    settings.setmodule("trialscope.crawler.settings", priority="project")
    try:
        spider_cls = get_spider_loader(settings).load(registry)
    except KeyError:
        raise CrawlError(f"the registry table says {registry} can be crawled, but no spider in "
                         "crawler/spiders/ is named so") from None
    if not issubclass(spider_cls, RegistrySpider):
        raise CrawlError(f"the spider named {registry} is not a RegistrySpider")
    return spider_cls


class _TqdmHandler(logging.StreamHandler):
    """Writes through tqdm, so log lines do not tear the progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # noqa: BLE001 (logging must never raise)
            self.handleError(record)


def _install_log_handler(settings: Settings, log_file: Path | str | None,
                         explicit_level: bool) -> tuple[logging.Handler, int]:
    """The one log handler (Scrapy's is off, LOG_INSTALL_ROOT_HANDLER=False): the log file at
    LOG_LEVEL, or stderr at WARNING (INFO lines would bury the progress bar) unless a level was
    asked for."""
    handler: logging.Handler
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_file, encoding="utf-8")
        level = logging.getLevelName(settings.get("LOG_LEVEL", "INFO"))
    else:
        handler = _TqdmHandler(sys.stderr)
        level = logging.getLevelName(settings.get("LOG_LEVEL")) if explicit_level \
            else logging.WARNING
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(settings.get("LOG_FORMAT"),
                                           settings.get("LOG_DATEFORMAT")))
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(min(level, root.level) if root.level else level)
    root.addHandler(handler)
    return handler, old_level


def _remove_handler(installed: tuple[logging.Handler, int]) -> None:
    handler, old_level = installed
    root = logging.getLogger()
    root.removeHandler(handler)
    root.setLevel(old_level)
    handler.close()


def _jsonable(stats: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in stats.items():
        out[key] = value.isoformat() if isinstance(value, (datetime, date)) else value
    return out
