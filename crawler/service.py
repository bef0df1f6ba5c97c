"""The crawl as one library call for the CLI: run the spider, then bring the index up to date.

The spider only writes the store; the index is updated here, after the Scrapy process is done,
because Whoosh's writer should not run inside the crawl (see DESIGN.md, dependency notes).
"""

from __future__ import annotations

from typing import Any

from ..index import service as index_service
from ..index.home import DataHome
from ..index.service import TrialsError
from ..parser.vocab import OPEN_STATUSES


def _statuses(values: list[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        group = [s.value for s in OPEN_STATUSES] if value.lower() == "open" else [value.upper()]
        out.extend(s for s in group if s not in out)
    return out


def crawl(home: DataHome, *, ids: list[str] | None = None, term: str | None = None,
          cond: str | None = None, intr: str | None = None, statuses: list[str] | None = None,
          since: str | None = None, offline: bool = False, page_size: int = 1000,
          progress: bool = False, registry: str = "ctgov") -> dict[str, Any]:
    from .run import CrawlArgumentError, run_crawl

    # A crawl writes the same store as a scheduled refresh: one writer per data home.
    with index_service.writing(home, "crawl"):
        try:
            result = run_crawl(
                home.store_path, ids=ids or (), cond=cond, intr=intr, term=term,
                status=_statuses(statuses or []), since=since, page_size=page_size,
                offline=offline, progress=progress, log_file=home.log_dir / "crawl.log",
                registry=registry,
            )
        except CrawlArgumentError as exc:
            raise TrialsError("bad_argument", str(exc).rstrip(".") + ".",
                              "See 'trials crawl --help'.") from exc
        summary = result.as_dict()
        summary["registry"] = registry
        summary["indexed"] = index_service.sync(home)
        return summary
