"""One planned crawl of a refresh: which watch, what kind, and the API arguments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from trialscope.crawler.ctgov_args import CtgovArgs


@dataclass
class CrawlPlan:
    watch: str
    mode: str  # "full" | "since" (changed since a day) | "ids" (ids the store lacks)
    args: CtgovArgs
    since: date | None = None

    def describe(self) -> str:
        if self.mode == "since":
            return f"changed since {self.since}"
        if self.mode == "ids":
            return f"{len(self.args.ids)} id(s) not stored yet"
        return "full crawl"
