"""What an import, a crawl and a stored trial report to the front ends: the typed summary both
import paths (one file at a time in ``app.service``, all cores in ``app.bulk``) fill in, the
crawl's summary (``app.crawl.crawl``, the document ``trials crawl --json`` prints) and what the
store knows of one trial (``app.service.show``, ``_store`` in ``trials show --json``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict


# -- ingest ---------------------------------------------------------------------------------
@dataclass
class ImportSummary:
    files: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    skipped: int = 0
    indexed: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # files in the folders not read
    seconds: float = 0.0  # wall time of a bulk import
    index_seconds: float = 0.0  # of ``seconds``, spent committing and catching up the index

    @property
    def failed(self) -> int:
        return len(self.failures)

    def as_dict(self) -> dict[str, Any]:
        return {"files": self.files, "new": self.new, "changed": self.changed,
                "unchanged": self.unchanged, "skipped": self.skipped, "indexed": self.indexed,
                "failed": self.failed, "ignored": len(self.ignored),
                "ignored_files": self.ignored, "failures": self.failures}


# -- crawl ----------------------------------------------------------------------------------
class CrawlProblem(TypedDict):
    """What a crawl missed: the error contract's object (``code``, ``message``, ``hint``), one
    ``Error:`` line per cause (``lines``) and the causes themselves (``faults.Cause``)."""

    code: str
    message: str
    hint: str
    lines: list[str]
    causes: list[dict[str, Any]]


class CrawlReport(TypedDict, total=False):
    """A crawl's summary: ``crawler.run.CrawlSummary.as_dict()`` (its fields, in its order;
    tests/test_types.py holds the two together), then what ``app.crawl`` and ``trials crawl``
    add: the registry, the documents indexed, the ``error`` when something was missed, the
    watch saved by ``--save-as``."""

    stats: dict[str, Any]  # Scrapy's stats, JSON-ready
    finish_reason: str
    not_found: list[str]
    aliases: dict[str, str]
    new: int
    changed: int
    unchanged: int
    dropped: int
    failed: int
    causes: list[dict[str, Any]]
    complete: bool
    total_count: int | None
    not_fetched: int | None
    registry: str
    indexed: int
    error: CrawlProblem
    watch: dict[str, Any]


# -- show -----------------------------------------------------------------------------------
class TrialInfo(TypedDict, total=False):
    """What the store knows of one trial: ``Store.info`` (its row), its versions, the other
    registrations of it (``store.links.group_of``) and, when it was asked for by an id it
    carries, that id (``found_as``)."""

    trial_id: str
    registry: str
    versions: int  # the current version's number
    content_hash: str
    url: str | None
    first_seen: str
    last_fetched: str
    indexed_hash: str | None
    aliases: list[str]
    version_list: list[dict[str, Any]]
    links: list[dict[str, Any]]
    found_as: str
