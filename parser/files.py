"""Saved registry payloads on disk -> records, whatever their format.

``parse_payload`` looks at the content (not the file name) to pick the parser, so a study JSON,
an API search page or a list of studies all work.  Each study parses on its own: one bad study
in a page is reported as a ``Failure`` and the rest still come through.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path

from . import aggregator, ctgov
from .errors import ParseError
from .record import TrialRecord


@dataclass
class Parsed:
    record: TrialRecord
    raw: str  # the payload of this one record, as text (kept in the store)
    content_hash: str
    # A copy seen on a third-party page (an aggregator) rather than the registry itself: it
    # must not overwrite the registry's own record of the same trial in the store.
    secondary: bool = False


@dataclass
class Failure:
    source: str
    reason: str
    message: str
    raw: str | None
    registry: str = "unknown"


def detect_format(text: str) -> str:
    """The payload's format, from its content: 'ctgov-json', 'aggregator-html',
    'aggregator-text' or 'unknown'."""
    head = text.lstrip()[:1]
    if head in ("{", "["):
        return "ctgov-json"
    if aggregator.looks_like_aggregator(text):
        return "aggregator-html" if head == "<" else "aggregator-text"
    return "unknown"


def parse_payload(text: str, *, source: str) -> Iterator[Parsed | Failure]:
    fmt = detect_format(text)
    if fmt == "ctgov-json":
        yield from _parse_ctgov(text, source)
    elif fmt.startswith("aggregator"):
        parse = (aggregator.parse_aggregator_html if fmt == "aggregator-html"
                 else aggregator.parse_aggregator_text)
        try:
            record = parse(text, source=source)
        except ParseError as exc:
            yield Failure(source, exc.reason, str(exc), text, "aggregator")
            return
        yield Parsed(record, text, sha256(text.encode("utf-8")).hexdigest(), secondary=True)
    else:
        yield Failure(source, "unknown_format", f"{source}: not a format trialscope reads "
                      "(ClinicalTrials.gov API v2 JSON, or an aggregator trial page)", text)


def _parse_ctgov(text: str, source: str) -> Iterator[Parsed | Failure]:
    try:
        payload = ctgov.load_json(text, source=source)
        studies = list(ctgov.iter_studies(payload, source=source))
    except ParseError as exc:
        yield Failure(source, exc.reason, str(exc), text, ctgov.REGISTRY)
        return
    for i, study in enumerate(studies):
        where = source if len(studies) == 1 else f"{source} [study {i + 1}]"
        raw = text if len(studies) == 1 else json.dumps(study, ensure_ascii=False)
        try:
            record = ctgov.parse_study(study, url=None)
            yield Parsed(record, raw, ctgov.content_hash(study))
        except ParseError as exc:
            yield Failure(where, exc.reason, str(exc) if exc.source else f"{where}: {exc}", raw,
                          ctgov.REGISTRY)


def read_text(path: Path) -> str:
    """A payload file as text; raises OSError / UnicodeDecodeError for the caller to report."""
    return path.read_bytes().decode("utf-8-sig")


def iter_payload_files(paths: list[Path]) -> Iterator[Path]:
    """Files named, and the payload files inside folders named (sorted, recursive)."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file()
                              and p.suffix.lower() in {".json", ".xml", ".html", ".htm", ".txt"})
        else:
            yield path
