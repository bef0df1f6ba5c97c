"""Items -> the store.  The store is the system of record; the index is rebuilt from it after
the crawl (by the caller, in a process without Scrapy's threads), so nothing here imports
whoosh.

Writes are grouped in transactions of ``TRIALS_STORE_BATCH`` items (or
``TRIALS_STORE_BATCH_SECONDS``, whichever comes first) and committed at close: one commit per
record would make a 1000-study page crawl disk-bound, and a killed crawl loses at most the
open batch, which the next crawl fetches again.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import NotConfigured

from trialscope.store.db import Store

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector
    from typing_extensions import Self


class StorePipeline:
    """Writes ``record``, ``failure`` and ``alias`` items (see the ctgov spider) to the store.

    Stats: ``trials/records/new|changed|unchanged``, ``trials/failures_kept``,
    ``trials/aliases_kept``.
    """

    def __init__(self, store_path: Path, stats: StatsCollector, *, batch_size: int = 200,
                 batch_seconds: float = 10.0) -> None:
        self.store_path = store_path
        self.stats = stats
        self.batch_size = max(1, batch_size)
        self.batch_seconds = batch_seconds
        self.store: Store | None = None
        self._tx: ExitStack | None = None  # the open Store.batch(), if any
        self._pending = 0
        self._opened_at = 0.0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        path = crawler.settings.get("TRIALS_STORE_PATH")
        if not path:
            # Scrapy logs this reason as a warning; run_crawl always sets the path.
            raise NotConfigured("TRIALS_STORE_PATH is not set: crawled items will not be stored")
        return cls(
            Path(path), crawler.stats,
            batch_size=crawler.settings.getint("TRIALS_STORE_BATCH", 200),
            batch_seconds=crawler.settings.getfloat("TRIALS_STORE_BATCH_SECONDS", 10.0),
        )

    def open_spider(self) -> None:
        self.store = Store(self.store_path)

    def close_spider(self) -> None:
        self._commit()
        if self.store is not None:
            self.store.close()
            self.store = None

    def process_item(self, item: Any) -> Any:
        """Store one item; returns it (a record the store refused comes back as the failure
        item it was kept as, so signal listeners do not count it as stored)."""
        store = self.store
        assert store is not None, "open_spider was not called"
        kind = item.get("kind") if isinstance(item, dict) else None
        if kind is None:
            return item  # not ours (another spider's item type): pass it on untouched
        self._begin()
        if kind == "record":
            try:
                result = store.put_record(item["record"], item["raw"],
                                          content_hash=item.get("content_hash"),
                                          source_url=item.get("url"))
            except (ValueError, TypeError) as exc:  # UnicodeEncodeError: text SQLite refuses
                # Nothing was written for it (the values are bound before any write): keep
                # the payload as a failure instead, so nothing fetched is lost.
                record = item["record"]
                item = {"kind": "failure", "registry": getattr(record, "registry", "unknown"),
                        "reason": "store_rejected", "raw": _storable(item.get("raw")),
                        "url": item.get("url"), "trial_id": getattr(record, "trial_id", None),
                        "detail": f"{type(exc).__name__}: {exc}"[:1000]}
                store.put_failure(**{k: v for k, v in item.items() if k != "kind"})
                self.stats.inc_value("trials/dropped/store_rejected")
                self.stats.inc_value("trials/failures_kept")
            else:
                self.stats.inc_value(f"trials/records/{result.outcome}")
        elif kind == "failure":
            store.put_failure(registry=item.get("registry", "unknown"), reason=item["reason"],
                              raw=item.get("raw"), url=item.get("url"),
                              trial_id=item.get("trial_id"), detail=item.get("detail"))
            self.stats.inc_value("trials/failures_kept")
        elif kind == "alias":
            store.add_alias(item["alias"], item["trial_id"])
            self.stats.inc_value("trials/aliases_kept")
        else:
            raise ValueError(f"unknown item kind {kind!r}")
        self._pending += 1
        if (self._pending >= self.batch_size
                or time.monotonic() - self._opened_at >= self.batch_seconds):
            self._commit()
        return item

    def _begin(self) -> None:
        if self._tx is None and self.store is not None:
            self._tx = ExitStack()
            self._tx.enter_context(self.store.batch())
            self._opened_at = time.monotonic()

    def _commit(self) -> None:
        if self._tx is not None:
            self._tx.close()  # leaves Store.batch(): commits the transaction
            self._tx = None
        self._pending = 0


def _storable(raw: Any) -> str | None:
    """``raw`` as valid UTF-8 text (a lone surrogate becomes its ``\\udXXX`` escape)."""
    if raw is None or isinstance(raw, bytes):
        return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else None
    text = str(raw)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
