"""A progress bar on stderr for interactive crawls (``TRIALS_PROGRESS``, on by default).

The total is unknown until the first search page reports ``totalCount`` (or, for an id crawl,
until the spider has counted its ids): the bar starts with ``total=None`` and gets its total
from the ``trials/total_count`` stat as soon as it appears.  When stderr is not a terminal
(cron, systemd, a pipe) a carriage-return bar would be one endless line, so it prints a plain
line every ``TRIALS_PROGRESS_INTERVAL`` seconds instead.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from scrapy import signals
from scrapy.exceptions import NotConfigured
from tqdm import tqdm

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from typing_extensions import Self

# Item kinds that stand for one study handled (an alias item follows its study's record).
_COUNTED_KINDS = frozenset({"record", "failure"})


class CrawlProgress:
    def __init__(self, crawler: Crawler, *, stream: TextIO | None = None) -> None:
        if not crawler.settings.getbool("TRIALS_PROGRESS", True):
            raise NotConfigured
        self.crawler = crawler
        self.stream = stream or sys.stderr
        self.interval = crawler.settings.getfloat("TRIALS_PROGRESS_INTERVAL", 30.0)
        self.bar: tqdm[Any] | None = None
        self.items = 0  # record and failure items seen
        self.done = 0  # studies handled: items plus ids reported not found
        self.total: int | None = None
        self._last_line = 0.0
        self.name = "crawl"

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_opened(self, spider: Any) -> None:
        self.name = spider.name
        self._last_line = time.monotonic()
        if _is_tty(self.stream):
            self.bar = tqdm(total=None, desc=spider.name, unit=" trials", file=self.stream,
                            dynamic_ncols=True, leave=True)

    def item_scraped(self, item: Any) -> None:
        if not isinstance(item, dict) or item.get("kind") not in _COUNTED_KINDS:
            return
        self.items += 1
        self._update()
        if self.bar is None and time.monotonic() - self._last_line >= self.interval:
            self._print_line()

    def spider_closed(self, spider: Any, reason: str) -> None:
        self._update()
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        else:
            self._print_line(reason)

    def _update(self) -> None:
        stats = self.crawler.stats
        # An id the API does not know yields no item but is one of the total all the same.
        done = self.items + (stats.get_value("trials/not_found") or 0)
        total = stats.get_value("trials/total_count")
        if self.total is None and isinstance(total, int):
            self.total = total
            if self.bar is not None:
                self.bar.total = total
                self.bar.refresh()
        if self.bar is not None and done != self.done:
            self.bar.update(done - self.done)
        self.done = done

    def _print_line(self, reason: str | None = None) -> None:
        self._last_line = time.monotonic()
        of = f"/{self.total}" if self.total is not None else ""
        end = f" ({reason})" if reason else ""
        print(f"{self.name}: {self.done}{of} trials{end}", file=self.stream, flush=True)


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
