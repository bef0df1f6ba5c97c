"""Bulk import: the registry's whole download (``ctg-studies.json.zip``, one study JSON per
member) or a large folder of payload files, into the store and the index.

- **Streamed**: members are read one at a time by the workers themselves (the zip is opened in
  each worker), so neither the archive nor its JSON is ever held in memory whole.
- **Parsed on all cores**: worker processes (forked; they talk to the parent over pipes, so the
  parent runs no threads and may fork Whoosh's sub-writers later) turn raw bytes into
  ``(record as sorted JSON, raw text, content hash)``.
- **Skips what is stored**: a worker hashes a study before parsing it and skips it when the
  store already holds that content (a rerun after an interruption, or a new download in which
  most studies did not change), so a rerun costs a read and a hash per unchanged study.
- **Batched**: the parent writes the store in transactions of ``STORE_BATCH`` records and
  brings the index up to date every ``INDEX_EVERY`` records with ``sync_index`` (multi-process
  Whoosh writer), which lists what to index from the store (``iter_unindexed``): an interrupted
  import loses at most one batch, and the index always catches up from the store.
- **Progress**: ``on_progress`` receives a ``BulkProgress`` (done, total, phase, rate, eta).

The skip by hash means a study whose content did not change is not parsed again, so after a
parser upgrade a bulk re-import does not refresh its stored record; importing the files one by
one (``import_paths`` below the bulk threshold re-parses and refreshes in place) does.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sqlite3
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from ..parser import ctgov
from ..parser.errors import ParseError
from ..parser.files import Failure, iter_payload_files, parse_payload
from ..parser.ids import normalise_nct_id
from ..parser.record import RECORD_FIELDS
from . import indexer
from .store import Store, utcnow

STORE_BATCH = 1000  # records per store transaction
INDEX_EVERY = 20_000  # records stored between index updates (one Whoosh commit each)
TASK_SIZE = 32  # members per task sent to a worker
MIN_PARALLEL_INDEX = 2_000  # below this many records an index update runs in one process

@dataclass
class BulkProgress:
    done: int  # members read (stored, skipped or failed)
    total: int | None  # members in all sources (None while unknown)
    phase: str  # "store" | "index"
    indexed: int
    elapsed: float

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left, from the rate so far (index pauses included)."""
        if not self.total or not self.done:
            return None
        return (self.total - self.done) / self.rate


@dataclass
class BulkResult:
    members: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    skipped: int = 0
    indexed: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    index_seconds: float = 0.0  # of ``seconds``, spent bringing the index up to date


# -- sources ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """One container of payloads: a zip file (members) or plain files (paths)."""

    path: Path
    names: list[str]  # zip member names, or file paths for plain files
    is_zip: bool


def is_bulk_source(path: Path) -> bool:
    return path.is_file() and zipfile.is_zipfile(path)


def sources_for(paths: list[Path]) -> list[Source]:
    """Zips become one source each (their .json members, in archive order); other files and
    folders are gathered into one source of plain files."""
    out: list[Source] = []
    plain: list[str] = []
    for path in paths:
        if is_bulk_source(path):
            with zipfile.ZipFile(path) as zf:
                names = [i.filename for i in zf.infolist()
                         if not i.is_dir() and i.filename.lower().endswith(".json")]
            out.append(Source(path, names, True))
        else:
            plain.extend(str(p) for p in iter_payload_files([path]))
    if plain:
        out.append(Source(Path("."), plain, False))
    return out


# -- workers ------------------------------------------------------------------------------------

def record_json(record: Any) -> str:
    """``json.dumps(record.to_dict(), ensure_ascii=False, sort_keys=True)`` without
    ``dataclasses.asdict``'s deep copy (a third of the cost): the fields are plain data."""
    return json.dumps({name: getattr(record, name) for name in RECORD_FIELDS},
                      ensure_ascii=False, sort_keys=True)


class _Parser:
    """Runs in a worker: raw payloads -> result tuples for the parent.

    ("rec", trial_id, registry, url, record_json, raw, content_hash, secondary, source)
    ("same", trial_id)                    stored already with this content: not parsed
    ("fail", source, reason, message, raw, registry)
    """

    def __init__(self, store_path: str, trial_id: str | None) -> None:
        # Read-only and opened after the fork: SQLite connections must not cross a fork.
        self.db = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True, timeout=30)
        self.trial_id = trial_id
        self.zips: dict[str, zipfile.ZipFile] = {}

    def stored_hash(self, trial_id: str) -> str | None:
        # fetchall: a cursor left open would hold a read transaction, and the WAL could then
        # never be checkpointed while the import runs.
        rows = self.db.execute("SELECT content_hash FROM trials WHERE trial_id=?",
                               (trial_id,)).fetchall()
        return rows[0][0] if rows else None

    def read(self, container: str, name: str, is_zip: bool) -> bytes:
        if not is_zip:
            return Path(name).read_bytes()
        zf = self.zips.get(container)
        if zf is None:
            zf = self.zips[container] = zipfile.ZipFile(container)
        return zf.read(name)

    def run(self, container: str, name: str, is_zip: bool) -> list[tuple[Any, ...]]:
        source = f"{container}!{name}" if is_zip else name
        try:
            text = self.read(container, name, is_zip).decode("utf-8-sig")
        except (OSError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
            return [("fail", source, "unreadable", f"{source}: {exc}", None, "unknown")]
        if text.lstrip()[:1] == "{":
            fast = self._one_study(text, source)
            if fast is not None:
                return [fast]
        return [self._item(item, source)
                for item in parse_payload(text, source=source, trial_id=self.trial_id)]

    def _one_study(self, text: str, source: str) -> tuple[Any, ...] | None:
        """The common case, a file holding one API study: hash it first, parse only if the
        store does not hold this content.  None: not that case (the generic path decides)."""
        try:
            study = json.loads(text)
        except ValueError:
            return None
        if not isinstance(study, dict) or not isinstance(study.get("protocolSection"), dict):
            return None
        ident = study["protocolSection"].get("identificationModule")
        tid = normalise_nct_id(ident.get("nctId")) if isinstance(ident, dict) else None
        content_hash = ctgov.content_hash(study)
        if tid and self.stored_hash(tid) == content_hash:
            return ("same", tid)
        try:
            record = ctgov.parse_study(study, url=None)
        except ParseError as exc:
            message = str(exc) if exc.source else f"{source}: {exc}"
            return ("fail", source, exc.reason, message, text, ctgov.REGISTRY)
        return ("rec", record.trial_id, record.registry, record.url, record_json(record), text,
                content_hash, False, source)

    @staticmethod
    def _item(item: Any, source: str) -> tuple[Any, ...]:
        if isinstance(item, Failure):
            return ("fail", item.source, item.reason, item.message, item.raw, item.registry)
        r = item.record
        return ("rec", r.trial_id, r.registry, r.url, record_json(r), item.raw,
                item.content_hash, item.secondary, source)


def _worker(conn: Connection, store_path: str, trial_id: str | None) -> None:
    parser = _Parser(store_path, trial_id)
    try:
        while True:
            try:
                task = conn.recv()
            except EOFError:  # the parent is gone
                return
            if task is None:
                return
            seq, container, is_zip, names = task
            conn.send((seq, [parser.run(container, name, is_zip) for name in names]))
    except KeyboardInterrupt:  # the parent handles Ctrl-C; the worker just stops
        return


class _Workers:
    """A pool of forked parse workers fed over pipes; results come back in task order.

    Not ``multiprocessing.Pool``: its helper threads would be alive when the index writer
    forks its own processes (DESIGN.md: fork only where no threads are alive).
    """

    def __init__(self, n: int, store_path: Path, trial_id: str | None) -> None:
        ctx = mp.get_context("fork")
        self.exhausted = False
        self.conns: list[Connection] = []
        self.procs = []
        for _ in range(n):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, str(store_path), trial_id),
                               daemon=True)
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)

    def map(self, tasks: Iterator[tuple[str, bool, list[str]]], stop: Callable[[], bool]
            ) -> Iterator[list[list[tuple[Any, ...]]]]:
        """Per task, per member, the member's result tuples.  Sends no new task once
        ``stop()`` is true, and returns when what was sent has come back; ``self.exhausted``
        then says whether ``tasks`` ran out."""
        pending: dict[Connection, int] = {c: 0 for c in self.conns}
        done: dict[int, list[list[tuple[Any, ...]]]] = {}
        sent = received = 0
        stopped = False
        while True:
            # Keep two tasks queued per worker, so none waits for the parent.
            for conn in self.conns:
                while not stopped and pending[conn] < 2:
                    task = None if stop() else next(tasks, None)
                    if task is None:
                        stopped = True
                        self.exhausted = not stop()
                        break
                    conn.send((sent, *task))
                    pending[conn] += 1
                    sent += 1
            if stopped and received == sent:
                return
            for conn in wait([c for c in self.conns if pending[c]]):
                try:
                    seq, out = conn.recv()  # type: ignore[union-attr]
                except EOFError as exc:
                    raise RuntimeError("a parse worker died; rerun the import to resume") \
                        from exc
                pending[conn] -= 1  # type: ignore[index]
                done[seq] = out
            while received in done:
                yield done.pop(received)
                received += 1

    def close(self) -> None:
        for conn in self.conns:
            try:
                conn.send(None)
            except OSError:
                pass
            conn.close()
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()


def _tasks(sources: list[Source]) -> Iterator[tuple[str, bool, list[str]]]:
    for src in sources:
        for start in range(0, len(src.names), TASK_SIZE):
            yield str(src.path), src.is_zip, src.names[start:start + TASK_SIZE]


# -- the import ---------------------------------------------------------------------------------

def bulk_import(
    store: Store,
    index_dir: Path,
    paths: list[Path],
    *,
    workers: int | None = None,
    trial_id: str | None = None,
    index_every: int = INDEX_EVERY,
    on_progress: Callable[[BulkProgress], None] | None = None,
) -> BulkResult:
    """Import every payload in ``paths`` (zips, folders, files) into ``store``, then bring the
    index at ``index_dir`` up to date.  Resumable: rerun after an interruption."""
    started = time.perf_counter()
    sources = sources_for(paths)
    total = sum(len(s.names) for s in sources)
    result = BulkResult()
    n_workers = max(1, workers or os.cpu_count() or 1)
    since_index = 0
    phase = "store"

    def report() -> None:
        if on_progress:
            on_progress(BulkProgress(result.members, total, phase, result.indexed,
                                     time.perf_counter() - started))

    def catch_up(backlog: bool = False) -> None:
        nonlocal since_index, phase
        phase = "index"
        report()
        t0 = time.perf_counter()
        result.indexed += indexer.sync_index(
            store, index_dir, chunk=max(index_every, indexer.CHUNK),
            procs=n_workers if backlog or since_index >= MIN_PARALLEL_INDEX else 1)
        result.index_seconds += time.perf_counter() - t0
        since_index = 0
        phase = "store"
        report()

    # A fresh import (or an import that follows an interrupted one) first brings the index
    # up to what the store holds, so "unchanged" studies skipped below are searchable (an
    # interrupted import may have left many: all processes index them).
    catch_up(backlog=True)
    tasks = _tasks(sources)
    exhausted = False
    while not exhausted:
        # Workers live for one index batch: while Whoosh's sub-writers run they would only
        # hold memory, and the parent forks those sub-writers with no other child alive.
        pool = _Workers(n_workers, store.path, trial_id)
        try:
            batch: list[tuple[Any, ...]] = []
            # late binding wanted: the pool asks before each task how much awaits indexing
            stop = lambda: since_index >= index_every  # noqa: B023, E731
            for task_out in pool.map(tasks, stop=stop):
                for member_items in task_out:
                    result.members += 1
                    batch.extend(member_items)
                if len(batch) >= STORE_BATCH:
                    since_index += _store(store, batch, result)
                    batch = []
                    report()
            since_index += _store(store, batch, result)
            exhausted = pool.exhausted
        finally:
            pool.close()
        catch_up()
    result.seconds = time.perf_counter() - started
    return result


def _store(store: Store, batch: list[tuple[Any, ...]], result: BulkResult) -> int:
    """Write one batch in one transaction; returns how many records need indexing."""
    fetched_at = utcnow()
    same: list[str] = []
    written = 0
    with store.batch():
        for item in batch:
            kind = item[0]
            if kind == "same":
                same.append(item[1])
                result.unchanged += 1
            elif kind == "fail":
                _, source, reason, message, raw, registry = item
                result.failures.append({"source": source, "reason": reason, "message": message})
                store.put_failure(registry=registry, reason=reason, raw=raw, url=source,
                                  detail=message)
            else:
                _, tid, registry, url, rec_json, raw, content_hash, secondary, source = item
                put = store.put_json(tid, registry, url, rec_json, raw,
                                     content_hash=content_hash, fetched_at=fetched_at,
                                     source_url=_source_url(source), secondary=secondary)
                setattr(result, put.outcome, getattr(result, put.outcome) + 1)
                written += put.outcome in ("new", "changed")
        if same:
            store.touch(same, fetched_at)
    return written


def _source_url(source: str | None) -> str | None:
    if not source:
        return None
    container, sep, member = source.partition("!")
    uri = Path(container).resolve().as_uri()
    return f"{uri}!/{member}" if sep else uri
