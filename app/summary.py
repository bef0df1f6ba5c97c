"""What an import reports: the typed summary both import paths (one file at a time in
``app.service``, all cores in ``app.bulk``) fill in and the front ends print."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
