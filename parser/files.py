"""Saved registry payloads on disk -> records, whatever their format.

``parse_payload`` looks at the content (not the file name) to pick the parser, so a study JSON,
an API search page or a list of studies all work.  Each study parses on its own: one bad study
in a page is reported as a ``Failure`` and the rest still come through.  The formats, the order
they are tried in and their readers are the registry table's (``parser/registries.py``); the
parsers are imported when a payload first needs them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any

from trialscope.core.limits import MAX_RECORD_BYTES, RAW_PREFIX_BYTES, TooLarge
from trialscope.core.record import TrialRecord
from trialscope.parser import ctgov, ctis, registries
from trialscope.parser.errors import ParseError
from trialscope.parser.registries import Format, Registry, resolve


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
    """The payload's format, from its content (not the file name): the name of the first
    format of the registry table (``parser/registries.py``, in sniffing order) whose sniff
    takes it, or "unknown"."""
    found = _format_of(text)
    return found[1].name if found else "unknown"


def _format_of(text: str) -> tuple[Registry, Format] | None:
    for row, fmt in registries.formats():
        if resolve(fmt.sniff)(text):
            return row, fmt
    return None


FORMATS_HELP = registries.formats_help()


def parse_payload(text: str, *, source: str,
                  trial_id: str | None = None) -> Iterator[Parsed | Failure]:
    """Records in one payload.  ``trial_id`` names the trial of a page that does not carry
    its own id (an aggregator page without "NCT ID:").

    Never raises for what the payload holds: each record that cannot be parsed or kept
    (``ParseError``, or any other error a hostile value provokes) is a ``Failure`` with a
    reason, and the payload's other records still come through."""
    done = 0
    try:
        for item in _parse_payload(text, source=source, trial_id=trial_id):
            done += 1
            yield _checked(item, text, source)
    except Exception as exc:  # noqa: BLE001 (one payload's failure, reported, never raised)
        if isinstance(exc, ParseError):
            reason, message = exc.reason, _msg(exc, source)
        else:
            reason, message = failure_reason(exc), f"{source}: {describe(exc)}"
        where = source if not done else f"{source} [after record {done}]"
        yield Failure(where, reason, message, text)


def failure_reason(exc: BaseException) -> str:
    """The reason slug for an error a record provoked outside the parsers' own checks."""
    if isinstance(exc, ParseError):
        return exc.reason
    if isinstance(exc, (TooLarge, MemoryError)):
        return "too_large"
    if isinstance(exc, RecursionError):
        return "too_deep"
    if isinstance(exc, UnicodeError):
        return "bad_text"
    if isinstance(exc, (OverflowError, ArithmeticError)):
        return "bad_field"
    return "parser_error"


def describe(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "values nested too deeply"
    if isinstance(exc, UnicodeEncodeError):
        return f"text that is not valid Unicode ({exc.object[exc.start:exc.end]!a} at " \
               f"{exc.start}: a lone surrogate)"
    if isinstance(exc, MemoryError):
        return "out of memory while reading this payload"
    return f"{type(exc).__name__}: {exc}"


# A JSON escape of a UTF-16 surrogate ("\ud800"): a lone one decodes to a string that
# cannot be encoded (SQLite and the index then fail).  Paired ones (an emoji) are fine.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _checked(item: Parsed | Failure, text: str, source: str) -> Parsed | Failure:
    """A parsed record whose text cannot be encoded (a lone surrogate from a JSON escape)
    becomes a ``bad_text`` failure here, not an error in the store or the index."""
    if isinstance(item, Failure) or not (
            _SURROGATE_ESCAPE.search(text) or _SURROGATE.search(item.raw)):
        return item
    try:
        json.dumps(item.record.to_dict(), ensure_ascii=False).encode("utf-8")
        item.raw.encode("utf-8")
    except UnicodeEncodeError as exc:
        return Failure(f"{source} [{item.record.trial_id}]", "bad_text",
                       f"{source} [{item.record.trial_id}]: {describe(exc)}", item.raw,
                       item.record.registry)
    return item


def _parse_payload(text: str, *, source: str,
                   trial_id: str | None = None) -> Iterator[Parsed | Failure]:
    found = _format_of(text)
    if found is None:
        yield Failure(source, "unknown_format",
                      f"{source}: not a format trialscope reads ({FORMATS_HELP})", text)
        return
    row, fmt = found
    if fmt.refused or fmt.reader is None:
        yield Failure(source, fmt.refused_reason,
                      f"{source}: {fmt.refused or 'a format trialscope does not read'}", text,
                      row.name)
        return
    read = resolve(fmt.reader)
    hash_raw = resolve(fmt.content_hash) if fmt.content_hash else _sha256
    items = (_single(read, text, source, trial_id, row.name, hash_raw(text)) if fmt.one_record
             else _pairs(read, text, source, trial_id, row.name, hash_raw))
    for item in items:
        if fmt.secondary and isinstance(item, Parsed):
            item.secondary = True
        yield item


def _single(read: Callable[..., Iterable[tuple[TrialRecord | ParseError, str]]], text: str,
            source: str, trial_id: str | None, registry: str,
            content_hash: str) -> Iterator[Parsed | Failure]:
    """A payload holding one record (the reader's first pair; the payload is its raw)."""
    try:
        record = next(iter(read(text, source=source, trial_id=trial_id)), (None, text))[0]
        if isinstance(record, ParseError):
            raise record
        if record is None:
            raise ParseError("empty", "no trial record in the payload")
    except ParseError as exc:
        yield Failure(source, exc.reason, _msg(exc, source), text, registry)
        return
    yield Parsed(record, text, content_hash)


def _pairs(read: Callable[..., Iterable[Any]], text: str, source: str, trial_id: str | None,
           registry: str, hash_raw: Callable[[str], str]) -> Iterator[Parsed | Failure]:
    """A payload holding many records, each with its raw fragment; one bad record is reported
    and the others still come through.  ``Parsed`` and ``Failure`` items a reader makes itself
    pass as they are."""
    try:
        for i, entry in enumerate(read(text, source=source, trial_id=trial_id), 1):
            if isinstance(entry, (Parsed, Failure)):
                yield entry
                continue
            item, raw = entry
            if isinstance(item, ParseError):
                yield Failure(f"{source} [record {i}]", item.reason, _msg(item, source), raw,
                              registry)
                continue
            try:
                parsed = Parsed(item, raw, hash_raw(raw))
            except Exception as exc:  # noqa: BLE001 (this record alone fails)
                yield Failure(f"{source} [record {i}]", failure_reason(exc),
                              f"{source} [record {i}]: {describe(exc)}", raw, registry)
                continue
            yield parsed
    except ParseError as exc:
        yield Failure(source, exc.reason, _msg(exc, source), text, registry)


def _sha256(text: str) -> str:
    return sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _msg(exc: ParseError, source: str) -> str:
    return str(exc) if exc.source else f"{source}: {exc}"


def read_ctgov_json(text: str, *, source: str,
                    trial_id: str | None = None) -> Iterator[Parsed | Failure]:
    """The reader of ClinicalTrials.gov JSON (``parser/registries.py``): a study, a search page
    or a list of studies.  It names its own records and failures ("[study 2]"), and a study
    nested too deeply for the decoder fails alone."""
    try:
        payload = ctgov.load_json(text, source=source)
        studies: list[Any] = list(ctgov.iter_studies(payload, source=source))
    except ParseError as exc:
        if not isinstance(exc.__cause__, RecursionError):
            yield Failure(source, exc.reason, str(exc), text, ctgov.REGISTRY)
            return
        # One study nested too deeply for the decoder: read the page study by study, so
        # that study alone fails.
        studies = list(_page_studies(text))
        if not studies:
            yield Failure(source, exc.reason, str(exc), text, ctgov.REGISTRY)
            return
    for i, study in enumerate(studies):
        if isinstance(study, _Undecodable):
            where = f"{source} [study {i + 1}]"
            yield Failure(where, "too_deep", f"{where}: values nested too deeply to decode",
                          study.raw, ctgov.REGISTRY)
            continue
        where = source if len(studies) == 1 else f"{source} [study {i + 1}]"
        raw = text
        try:
            if len(studies) > 1:
                raw = json.dumps(study, ensure_ascii=False)
            record = ctgov.parse_study(study, url=None)
            yield Parsed(record, raw, ctgov.content_hash(_without_ctrdata_keys(study)))
        except ParseError as exc:
            yield Failure(where, exc.reason, str(exc) if exc.source else f"{where}: {exc}", raw,
                          ctgov.REGISTRY)
        except Exception as exc:  # noqa: BLE001 (this study alone fails)
            yield Failure(where, failure_reason(exc), f"{where}: {describe(exc)}", raw,
                          ctgov.REGISTRY)


@dataclass
class _Undecodable:
    raw: str  # one study's text that the JSON decoder cannot take (nested too deeply)


_PAGE_START = re.compile(r'\s*(?:\[|\{.*?"studies"\s*:\s*\[)', re.DOTALL)
_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_SEPARATORS = re.compile(r"[\s,]*")


def _separators_end(text: str, pos: int) -> int:
    m = _SEPARATORS.match(text, pos)  # (it always matches, if only the empty string)
    return m.end() if m else pos


def _page_studies(text: str) -> Iterator[Any]:
    """The elements of a search page's ``studies`` list (or of a top-level list), decoded one
    by one; an element the decoder cannot take is an ``_Undecodable`` holding its text.  Stops
    quietly at the first malformed element (what came before still counts)."""
    start = _PAGE_START.match(text)
    if not start:
        return
    decoder = json.JSONDecoder()
    pos = start.end()
    while True:
        pos = _separators_end(text, pos)
        if pos >= len(text) or text[pos] == "]":
            return
        try:
            value, pos = decoder.raw_decode(text, pos)
        except RecursionError:
            end = _value_end(text, pos)
            if end is None:
                return
            yield _Undecodable(text[pos:end])
            pos = end
            continue
        except ValueError:
            return
        yield value


def _value_end(text: str, pos: int) -> int | None:
    """Where the JSON array or object starting at ``pos`` ends (brackets counted outside
    strings), or None if it does not."""
    depth = 0
    for m in _JSON_TOKENS.finditer(text, pos):
        token = m.group()
        if token in "[{":
            depth += 1
        elif token in "]}":
            depth -= 1
            if depth == 0:
                return m.end()
    return None


def _without_ctrdata_keys(study: dict[str, Any]) -> dict[str, Any]:
    """A study as ctrdata stores it carries import stamps (``record_last_import``...) that
    change with every import: they are left out of the hash, so re-importing changes nothing."""
    if isinstance(study, dict) and "ctrname" in study:
        return {k: v for k, v in study.items() if k not in ctis.CTRDATA_KEYS}
    return study


def read_bytes(path: str | Path, limit: int | None = None) -> bytes:
    """A payload file's bytes; raises OSError for the caller to report, and ``TooLarge``
    (with the file's first bytes) for a file over ``limit`` bytes: its size is checked first
    and the read is bounded, so a growing file cannot get past it."""
    limit = MAX_RECORD_BYTES if limit is None else limit
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise TooLarge(size, f.read(RAW_PREFIX_BYTES))
        data = f.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(None, data[:RAW_PREFIX_BYTES])
    return data


def read_text(path: Path, limit: int | None = None) -> str:
    """A payload file as text (``read_bytes``; UnicodeDecodeError for bytes that are not
    UTF-8)."""
    return read_bytes(path, limit).decode("utf-8-sig")


def raw_prefix(head: bytes) -> str:
    """The first bytes of a payload too large to keep whole, as text for the failures table."""
    return head[:RAW_PREFIX_BYTES].decode("utf-8", "replace")


# What a file inside a folder must be called to be read as a payload (a file named on the
# command line is read whatever its name).
PAYLOAD_SUFFIXES = frozenset({".json", ".xml", ".html", ".htm", ".txt"})


def iter_payload_files(paths: list[Path]) -> Iterator[Path]:
    """Files named, and the payload files inside folders named (sorted, recursive)."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file()
                              and p.suffix.lower() in PAYLOAD_SUFFIXES)
        else:
            yield path


def ignored_files(paths: list[Path]) -> list[Path]:
    """Files inside the folders named that are not read: not payloads by their name (hidden
    files such as ``.DS_Store`` aside).  A summary counts them, so none vanishes unseen."""
    return sorted(p for path in paths if path.is_dir() for p in path.rglob("*")
                  if p.is_file() and p.suffix.lower() not in PAYLOAD_SUFFIXES
                  and p.suffix.lower() != ".zip"
                  and not any(part.startswith(".") for part in p.relative_to(path).parts))


def describe_unreadable(path: Path, exc: BaseException) -> str:
    """'FILE: not UTF-8 text (a binary file?) ...' rather than a codec's message."""
    if isinstance(exc, UnicodeDecodeError):
        return (f"{path}: not UTF-8 text (a binary file?); trialscope reads text payloads "
                "(JSON, XML, HTML, text) and zips of JSON")
    return f"{path}: {exc.strerror or exc}" if isinstance(exc, OSError) else f"{path}: {exc}"
