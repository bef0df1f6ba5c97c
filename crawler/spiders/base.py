"""What every registry spider shares: its arguments checked before the first request, and the
bookkeeping of what a crawl could not store (failures kept raw, ids not found, stats).

A spider names its arguments (``arg_names``) and the frozen type that validates them
(``args_type``: a class with ``from_raw(**raw)`` raising ``CrawlArgumentError``), and says how
``run_crawl``'s options become them (``run_args``) and, if it has a bundled replay, how an
offline crawl runs (``replayed``).  ``run_crawl`` finds the spider of a crawlable registry
(``parser/registries.py``) by its ``name``, which is the registry's.  Arguments
come either already validated (``crawl_args``, from ``run_crawl``) or raw (``scrapy crawl NAME
-a key=value``, ``create_crawler`` kwargs); an argument the spider does not know is refused,
because Scrapy would quietly turn a misspelt ``-a idz=...`` into an attribute.

This class has no ``name``, so Scrapy's spider loader does not list it as a spider.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Protocol

import scrapy
from scrapy.http import Response

from trialscope.crawler.ctgov_args import CrawlArgumentError

Item = dict[str, Any]


class CrawlArgs(Protocol):
    """A spider's validated arguments (``CtgovArgs``, ``ChictrArgs``)."""

    @classmethod
    def from_raw(cls, *args: Any, **raw: Any) -> Any: ...


class RegistrySpider(scrapy.Spider):
    registry: ClassVar[str]  # the ``registry`` of the failures this spider keeps
    arg_names: ClassVar[frozenset[str]]  # the ``-a`` arguments ``args_type.from_raw`` takes
    args_type: ClassVar[type[CrawlArgs]]

    def __init__(self, *args: Any, crawl_args: Any = None, **kwargs: Any) -> None:
        raw = {k: kwargs.pop(k) for k in list(kwargs) if k in self.arg_names}
        unknown = sorted(set(kwargs) - {"name"})
        if unknown:
            known = ", ".join(sorted(self.arg_names))
            raise CrawlArgumentError(unknown[0], kwargs[unknown[0]],
                                     f"unknown argument (known: {known})")
        super().__init__(*args, **kwargs)
        # ``crawl_args`` comes already validated from run_crawl; ``-a`` arguments arrive raw.
        self.crawl_args = crawl_args or self.args_type.from_raw(**raw)
        self.not_found_ids: list[str] = []

    # -- run_crawl's options -----------------------------------------------------------------
    @classmethod
    def run_args(cls, *, ids: Any, cond: str | None, intr: str | None, term: str | None,
                 status: Any, since: Any, page_size: int, api_base: str | None,
                 offline: bool) -> Any:
        """``run_crawl``'s options as this spider's validated arguments; raises
        ``CrawlArgumentError`` for one it cannot honour (``offline``, without a replay)."""
        raise NotImplementedError(f"{cls.__name__} must say how run_crawl's options become "
                                  "its arguments (run_args)")

    @classmethod
    @contextmanager
    def replayed(cls, args: Any) -> Iterator[Any]:
        """An offline crawl: the arguments pointed at a bundled replay, while it runs."""
        raise CrawlArgumentError("offline", True, f"has no bundled {cls.registry} replay")
        yield args  # pragma: no cover (a generator, for contextmanager)

    # -- what could not be stored ------------------------------------------------------------
    def _failure(self, reason: str, raw: str, url: str, trial_id: str | None,
                 detail: str) -> Item:
        """A payload that did not parse, as a ``failure`` item (the store keeps it raw)."""
        self._stats().inc_value(f"trials/dropped/{reason}")
        self.logger.warning("dropped %s (%s): %s", trial_id or url, reason, detail[:200])
        return {"kind": "failure", "registry": self.registry, "reason": reason, "raw": raw,
                "url": url, "trial_id": trial_id, "detail": detail}

    def _not_found(self, requested: str | None, url: str) -> None:
        """The registry has no trial under an id asked for: counted and listed, not raised."""
        self._stats().inc_value("trials/not_found")
        if requested:
            self.not_found_ids.append(requested)
            self._stats().set_value("trials/not_found_ids", list(self.not_found_ids))
        self.logger.warning("not found: %s (%s)", requested, url)

    def _stats(self) -> Any:
        return self.crawler.stats


def body_text(response: Response) -> str:
    """A response's text: a TextResponse decodes by its declared charset; anything else is
    read as UTF-8."""
    text = getattr(response, "text", None)
    return text if isinstance(text, str) else response.body.decode("utf-8", "replace")
