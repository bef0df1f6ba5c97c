"""Build and update the Whoosh index from the store (the index is a projection of the store).

- ``index_records``: add or replace documents, keyed by trial id (``update_document``), so
  indexing the same records twice changes nothing.
- ``sync_index``: index what the store says the index lacks, in chunks; each chunk is marked
  indexed in the store right after its commit, so an interrupted run resumes where it stopped.
- ``rebuild_index``: a fresh index in a temp dir beside the old one, swapped in only when it is
  complete, so a failed rebuild never leaves the user without an index.  A fresh index has
  nothing to replace, so it is written by ``fastwriter.FastSegmentWriter`` (several times
  faster than Whoosh's writer, same index).

Writers use ``compound=False``: opening a searcher on a compound segment copies it into memory
on every open (DESIGN.md "Whoosh speed"); separate files are used where they lie (figures:
bench/README.md, "Measured without a script").
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index
from whoosh.index import FileIndex, LockError
from whoosh.writing import IndexWriter

from trialscope.core.errors import TrialsError
from trialscope.core.record import TrialRecord
from trialscope.index.pairs import FIELD as PAIRS_FIELD
from trialscope.index.pairs import pairs_value
from trialscope.index.schema import SCHEMA_VERSION, build_schema, record_to_doc
from trialscope.store.db import Store

log = logging.getLogger(__name__)

VERSION_FILE = "trialscope-index.json"
CHUNK = 1000  # records per commit in sync_index: bounds the work lost to an interruption
LOCK_TIMEOUT = 30.0  # seconds to wait for another process's writer (a crawl, a refresh)


class NoIndexError(TrialsError, RuntimeError):
    """There is no usable index (absent, or built by an incompatible trialscope)."""

    code = "no_index"

    def __init__(self, message: str) -> None:
        super().__init__(self.code, message)


class IndexBusyError(TrialsError, RuntimeError):
    """Another process holds the index's write lock."""

    code = "index_busy"

    def __init__(self, message: str) -> None:
        super().__init__(self.code, message)


def _version_ok(path: Path) -> bool:
    try:
        meta = json.loads((path / VERSION_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return meta.get("schema_version") == SCHEMA_VERSION


def _index_state(path: Path) -> str:
    """'ok', 'absent' or 'outdated'."""
    if not path.is_dir() or not whoosh_index.exists_in(str(path)):
        return "absent"
    return "ok" if _version_ok(path) else "outdated"


def _create(path: Path) -> FileIndex:
    path.mkdir(parents=True, exist_ok=True)
    ix = whoosh_index.create_in(str(path), build_schema())
    (path / VERSION_FILE).write_text(
        json.dumps({"schema_version": SCHEMA_VERSION}) + "\n", encoding="utf-8"
    )
    return ix


# A writer that commits while a reader opens the index replaces the table of contents
# (_MAIN_N.toc -> _MAIN_N+1.toc): the reader may list the old one and find it gone.  Reading
# the folder again finds the new one.
OPEN_ATTEMPTS = 5


def open_index(index_dir: str | os.PathLike[str], create: bool = False) -> FileIndex:
    """Open the index (always with the current code's schema); create it if asked."""
    path = Path(index_dir)
    for _ in range(OPEN_ATTEMPTS - 1):
        try:
            return _open_index(path, create)
        except FileNotFoundError:
            continue
    return _open_index(path, create)  # the last attempt's error is the caller's


def _open_index(path: Path, create: bool) -> FileIndex:
    state = _index_state(path)
    if state == "ok":
        # Passing the schema skips unpickling the stored one: the current analyzer is used.
        return whoosh_index.open_dir(str(path), schema=build_schema())
    if state == "outdated":
        raise NoIndexError(
            f"The search index at {path} was built by a different trialscope version. "
            "Run `trials reindex` to rebuild it from the store."
        )
    if not create:
        raise NoIndexError(
            f"No search index at {path}. Run `trials crawl --offline` to load the demo "
            "trials, or `trials reindex` to build the index from the store."
        )
    return _create(path)


def _writer(ix: FileIndex, procs: int = 1) -> IndexWriter:
    kwargs: dict[str, object] = {"compound": False, "timeout": LOCK_TIMEOUT, "delay": 0.25}
    if procs > 1:
        # Forks: only call with procs > 1 where no threads are alive (not inside Scrapy).
        kwargs.update(procs=procs, multisegment=True)
    try:
        return ix.writer(**kwargs)
    except LockError as exc:
        raise IndexBusyError(
            f"The search index at {ix.storage.folder} is being written by another trialscope "
            "process. Wait for it to finish and try again."
        ) from exc


def _write(ix: FileIndex, records: Iterable[TrialRecord], *, procs: int = 1) -> int:
    """Write records in one commit; nothing is committed if anything fails."""
    writer = _writer(ix, procs)
    count = 0
    try:
        for record in records:
            doc = record_to_doc(record)
            doc[PAIRS_FIELD] = pairs_value(doc)  # the bulk writer makes them itself
            writer.update_document(**doc)
            count += 1
    except BaseException:
        writer.cancel()
        raise
    writer.commit()
    return count


def add_segments(index_dir: str | os.PathLike[str], segments: list[Any], *,
                 replace: Sequence[str] = (), delete: Sequence[str] = ()) -> None:
    """Add finished segments (written by ``FastSegmentWriter`` workers with ``_lk=False``)
    to the index in one commit, under the index's write lock, deleting in the same commit
    the documents the index already had for the trial ids in ``replace`` (the segments hold
    their new versions); then delete every document of the trial ids in ``delete``, the new
    segments' included."""
    ix = open_index(index_dir)
    try:
        writer = _writer(ix)
        try:
            for trial_id in replace:
                writer.delete_by_term("trial_id", trial_id)  # existing segments only
        except BaseException:
            writer.cancel()
            raise
        from trialscope.index.engine.fastwriter import commit_with_segments

        commit_with_segments(writer, segments)
        if delete:
            writer = _writer(ix)
            try:
                for trial_id in delete:
                    writer.delete_by_term("trial_id", trial_id)
            except BaseException:
                writer.cancel()
                raise
            writer.commit(merge=False)
    finally:
        ix.close()


FRESH_SEGMENT = 50_000  # documents per segment of a rebuild (bounds the writer's memory)


def _write_fresh(ix: FileIndex, records: Iterable[TrialRecord]) -> int:
    """Write records into an index that holds none of them: ``FastSegmentWriter`` segments of
    ``FRESH_SEGMENT`` documents (it keeps a segment's postings in memory, ~17 kB a study)."""
    from trialscope.index.engine.fastwriter import FastSegmentWriter

    count = 0
    writer = None
    try:
        for record in records:
            if writer is None:
                writer = FastSegmentWriter(ix, compound=False, timeout=LOCK_TIMEOUT,
                                           delay=0.25)
            writer.add_document(**record_to_doc(record))
            count += 1
            if writer.doc_count() >= FRESH_SEGMENT:
                writer.commit()
                writer = None
    except LockError as exc:
        raise IndexBusyError(
            f"The search index at {ix.storage.folder} is being written by another trialscope "
            "process. Wait for it to finish and try again.") from exc
    except BaseException:
        if writer is not None:
            writer.cancel()
        raise
    if writer is not None:
        writer.commit()
    return count


def index_records(index_dir: str | os.PathLike[str], records: Iterable[TrialRecord]) -> int:
    """Add or replace ``records`` (keyed by trial id); returns how many were written."""
    # Whoosh's update_document only replaces *committed* documents: the same id twice in one
    # writer would give two documents, so duplicates are collapsed first (the last one wins).
    unique = {record.trial_id: record for record in records}
    ix = open_index(index_dir, create=True)
    try:
        return _write(ix, unique.values())
    finally:
        ix.close()


def sync_index(store: Store, index_dir: str | os.PathLike[str], *, chunk: int = CHUNK,
               procs: int = 1) -> int:
    """Index every record whose current content the index lacks; returns how many.

    Idempotent (a second run finds nothing to do) and resumable (chunks are committed and
    marked one by one).  An absent or outdated index is rebuilt from the whole store, since
    the store's "indexed" marks describe an index that is not there.
    """
    path = Path(index_dir)
    state = _index_state(path)
    if state != "ok":
        log.info("search index %s: %s; rebuilding from the store", state, path)
        return rebuild_index(store, path, procs=procs)
    ix = open_index(path)
    done: dict[str, str] = {}
    total = 0
    try:
        while True:
            pairs: list[tuple[str, str]] = []
            # A fresh query per chunk: marking rows while a SELECT over the same rows is still
            # stepping is undefined in SQLite, so the cursor is closed before mark_indexed.
            # Records stream from the cursor into the writer (a bulk import's chunks are
            # large: holding a chunk's records in a list cost ~15 kB each).
            rows = store.iter_unindexed()
            try:
                records = _chunk(rows, done, pairs, chunk)
                first = next(records, None)
                if first is not None:
                    _write(ix, itertools.chain([first], records), procs=procs)
            finally:
                rows.close()
            if not pairs:
                return total
            store.mark_indexed(pairs)
            done.update(pairs)
            total += len(pairs)
    finally:
        ix.close()


def _chunk(rows: Iterable[tuple[TrialRecord, str]], done: dict[str, str],
           pairs: list[tuple[str, str]], size: int) -> Iterator[TrialRecord]:
    """Up to ``size`` records from ``rows``, noting (trial id, content hash) in ``pairs``."""
    for record, content_hash in rows:
        if done.get(record.trial_id) == content_hash:
            continue  # marked already but still listed: never loop on it
        pairs.append((record.trial_id, content_hash))
        yield record
        if len(pairs) >= size:
            return


def rebuild_index(store: Store, index_dir: str | os.PathLike[str], *, procs: int = 1) -> int:
    """Build a new index from every stored record, then swap it in; returns the doc count.

    The store's "indexed" marks are cleared first (so every record is listed with its content
    hash) and set again after the swap.  If the rebuild fails, the old index stays in place
    and the next ``sync_index`` re-indexes everything into it: slow, never wrong.
    """
    target = Path(index_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.rebuild-", dir=target.parent))
    try:
        ix = _create(tmp)
        store.clear_indexed()
        pairs: list[tuple[str, str]] = []

        def records() -> Iterable[TrialRecord]:
            for record, content_hash in store.iter_unindexed():
                pairs.append((record.trial_id, content_hash))
                yield record

        try:
            count = _write_fresh(ix, records())
        finally:
            ix.close()
        _swap(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for start in range(0, len(pairs), CHUNK):
        store.mark_indexed(pairs[start:start + CHUNK])
    return count


def leftovers(index_dir: str | os.PathLike[str]) -> list[Path]:
    """Folders a killed rebuild left beside the index: its unfinished new index
    (``.index.rebuild-*``) and, when it died while swapping, the old one (``.index.old-*``)."""
    target = Path(index_dir)
    if not target.parent.is_dir():
        return []
    return sorted(p for p in target.parent.iterdir() if p.is_dir() and (
        p.name.startswith(f".{target.name}.rebuild-") or p.name.startswith(f".{target.name}.old-")))


def clean_leftovers(index_dir: str | os.PathLike[str]) -> list[str]:
    """Remove what ``leftovers`` finds; returns the paths removed.  Call only under the data
    home's writer lock (then no rebuild is running, so every such folder is from a dead run).
    An old index whose replacement never arrived (killed mid-swap, no index in place) is put
    back instead: the store's marks were cleared before the swap, so the next sync re-indexes
    into it and it ends up right."""
    target = Path(index_dir)
    removed = []
    for path in leftovers(target):
        if path.name.startswith(f".{target.name}.old-") and not target.exists() \
                and _index_state(path) != "absent":
            os.replace(path, target)
            log.warning("put back the index a killed rebuild had moved aside: %s", path)
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            removed.append(str(path))
            log.warning("removed a folder left by a killed index rebuild: %s", path)
    return removed


def _swap(new: Path, target: Path) -> None:
    """Put ``new`` where ``target`` is; the old index is removed only once ``new`` is there."""
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        if old.exists() and not target.exists():
            os.replace(old, target)  # put the old index back
        raise
    shutil.rmtree(old, ignore_errors=True)


def doc_count(index_dir: str | os.PathLike[str]) -> int:
    ix = open_index(index_dir)
    try:
        return ix.doc_count()
    finally:
        ix.close()
