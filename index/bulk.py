"""Bulk import: the registry's whole download (``ctg-studies.json.zip``, one study JSON per
member) or a large folder of payload files, into the store and the index.

- **Streamed**: members are read one at a time by the workers themselves, at the places the
  parent found in the zip's central directory (``_Places``), so neither the archive nor its
  JSON is ever held in memory whole, and the directory is read once.
- **Parsed on all cores**: worker processes (forked; they talk to the parent over pipes, so the
  parent runs no threads and may fork Whoosh's sub-writers later) turn raw bytes into
  ``(record as sorted JSON, raw text, content hash)``.
- **Skips what is stored**: a worker hashes a study before parsing it and skips it when the
  store already holds that content (a rerun after an interruption, or a new download in which
  most studies did not change), so a rerun costs a read and a hash per unchanged study.
- **Indexed where parsed**: a worker adds each study whose content the store lacks to a
  Whoosh segment of its own (``fastwriter.FastSegmentWriter``: the analyzer's terms, written several
  times faster than Whoosh's writer), so parsing and indexing share all cores and nothing is
  read back from the store to index it.
- **Batched**: the parent writes the store in transactions of ``STORE_BATCH`` records.  Every
  ``INDEX_EVERY`` records the workers finish their segments and the parent adds them to the
  index (one TOC commit, which also deletes the older versions of changed studies), marks
  their records indexed in the store, then lets ``sync_index`` index what the workers did
  not (a trial met twice in one batch).  An
  interrupted import loses at most one batch of index work: the store still lists those
  records as unindexed, and the next import or ``sync_index`` indexes them.
- **Linked**: a worker also computes each record's link keys (``links.link_keys``), which
  the parent stores with the record, so the links refresh that ends the import only regroups.
- **Progress**: ``on_progress`` receives a ``BulkProgress`` (done, total, phase, rate, eta).

The skip by hash means a study whose content did not change is not parsed again, so after a
parser upgrade a bulk re-import does not refresh its stored record; importing the files one by
one (``import_paths`` below the bulk threshold re-parses and refreshes in place) does.
"""

from __future__ import annotations

import functools
import json
import multiprocessing as mp
import os
import sqlite3
import struct
import time
import zipfile
import zlib
from array import array
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
from . import indexer, links
from .schema import record_to_doc
from .service import ImportSummary
from .store import Store, utcnow

STORE_BATCH = 1000  # records per store transaction
# Records per index batch: each worker holds its segment's postings in memory (~17 kB per
# study), so this bounds memory; each batch adds one segment per worker to the index.
INDEX_EVERY = 50_000
TASK_SIZE = 32  # members per task sent to a worker

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


class WorkerDied(RuntimeError):
    """A worker process ended without answering (killed, out of memory)."""


# -- sources ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """One container of payloads: a zip file (members) or plain files (paths)."""

    path: Path
    names: list[str]  # zip member names, or file paths for plain files
    is_zip: bool
    places: _Places | None = None  # where a zip's members are (``_Places.of``)


# A zip member's local file header, as zipfile reads it (APPNOTE 4.3.7: signature, versions,
# flags, method, time, date, CRC, sizes, then the lengths of the name and the extra field).
_LOCAL_HEADER = struct.Struct(zipfile.structFileHeader)
_NAME_LENGTH, _EXTRA_LENGTH = 10, 11  # zipfile's _FH_FILENAME_LENGTH, _FH_EXTRA_FIELD_LENGTH
_READABLE = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


@dataclass(frozen=True)
class _Places:
    """Where each member of a zip is (its central directory, which the parent reads once),
    in compact arrays.  A worker reads its members straight from the file with these: each
    worker of each batch opening the zip with ``zipfile`` parsed the whole directory again,
    ~2.5 s and ~250 MB a worker for the registry's 600,000 members."""

    offset: array  # of the local header
    csize: array  # compressed size
    size: array
    crc: array
    method: array  # compression; flags bit 0: encrypted
    flags: array

    @classmethod
    def of(cls, infos: list[zipfile.ZipInfo]) -> _Places:
        return cls(array("Q", [i.header_offset for i in infos]),
                   array("Q", [i.compress_size for i in infos]),
                   array("Q", [i.file_size for i in infos]),
                   array("L", [i.CRC for i in infos]),
                   array("H", [i.compress_type for i in infos]),
                   array("H", [i.flag_bits for i in infos]))

    def at(self, k: int) -> tuple[int, int, int, int, int] | None:
        """Member ``k``'s place, or None when only ``zipfile`` can read it (encrypted, or
        compressed with something other than deflate)."""
        if self.flags[k] & 1 or self.method[k] not in _READABLE:
            return None
        return self.offset[k], self.csize[k], self.size[k], self.crc[k], self.method[k]


def read_member(f: Any, name: str, place: tuple[int, int, int, int, int]) -> bytes:
    """A stored or deflated member's bytes, read from the open zip file ``f`` at ``place``
    (``_Places.at``) and checked against its CRC and size, as ``ZipFile.read`` checks them."""
    offset, csize, size, crc, method = place
    f.seek(offset)
    head = f.read(_LOCAL_HEADER.size)
    if len(head) < _LOCAL_HEADER.size or head[:4] != zipfile.stringFileHeader:
        raise zipfile.BadZipFile(f"{name}: no local file header at offset {offset}")
    fields = _LOCAL_HEADER.unpack(head)
    f.seek(fields[_NAME_LENGTH] + fields[_EXTRA_LENGTH], os.SEEK_CUR)  # past name and extra
    data = f.read(csize)
    if method == zipfile.ZIP_DEFLATED:
        data = zlib.decompress(data, -15)  # raw deflate, as zip stores it
    if len(data) != size or zlib.crc32(data) != crc:
        raise zipfile.BadZipFile(f"Bad CRC-32 or size for member {name!r}")
    return data


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
                infos = [i for i in zf.infolist()
                         if not i.is_dir() and i.filename.lower().endswith(".json")]
            out.append(Source(path, [i.filename for i in infos], True, _Places.of(infos)))
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

    ("rec", trial_id, registry, url, record_json, raw, content_hash, secondary, source, indexed,
     link_row)
    ("same", trial_id)                    stored already with this content: not parsed
    ("fail", source, reason, message, raw, registry)

    ``indexed``: the store lacked this content, so the worker added the record to its own
    index segment (``finish`` returns the segment for the parent to commit).  ``link_row``:
    the record's link keys (``Store.put_link_keys``' row), computed here so that the links
    refresh that ends an import has no record to read back and parse.
    """

    def __init__(self, store_path: str, index_dir: str, trial_id: str | None) -> None:
        # Read-only and opened after the fork: SQLite connections must not cross a fork.
        self.db = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True, timeout=30)
        self.index_dir = index_dir
        self.trial_id = trial_id
        self.zips: dict[str, zipfile.ZipFile] = {}
        self.files: dict[str, Any] = {}  # zips read with ``read_member``
        self.writer: Any = None

    def stored_hash(self, trial_id: str) -> str | None:
        # fetchall: a cursor left open would hold a read transaction, and the WAL could then
        # never be checkpointed while the import runs.
        rows = self.db.execute("SELECT content_hash FROM trials WHERE trial_id=?",
                               (trial_id,)).fetchall()
        return rows[0][0] if rows else None

    def index(self, record: Any, stored: str | None, content_hash: str) -> bool:
        """Add a record whose content the store lacks to this worker's segment (the parent
        deletes the trial's older version from the index when it commits the segment)."""
        if stored == content_hash:
            return False
        if self.writer is None:
            from .fastwriter import FastSegmentWriter

            ix = indexer.open_index(self.index_dir)
            # _lk=False: the parent holds the import, and commits this segment itself.
            self.writer = FastSegmentWriter(ix, _lk=False, compound=False)
        self.writer.add_document(**record_to_doc(record, parsed=True))
        return True

    def finish(self) -> Any:
        """This worker's finished segment, or None if it indexed nothing."""
        if self.writer is None:
            return None
        segment, self.writer = self.writer.finish_segment(), None
        return segment

    def read(self, container: str, name: str, is_zip: bool, place: Any = None) -> bytes:
        if not is_zip:
            return Path(name).read_bytes()
        if place is not None:
            f = self.files.get(container)
            if f is None:
                f = self.files[container] = open(container, "rb")  # noqa: SIM115
            return read_member(f, name, place)
        return self._zip(container).read(name)

    def _zip(self, container: str) -> zipfile.ZipFile:
        """The zip, opened with ``zipfile`` (its whole directory read): for the members
        ``read_member`` does not read."""
        zf = self.zips.get(container)
        if zf is None:
            zf = self.zips[container] = zipfile.ZipFile(container)
        return zf

    def run(self, container: str, name: str, is_zip: bool,
            place: Any = None) -> list[tuple[Any, ...]]:
        source = f"{container}!{name}" if is_zip else name
        try:
            text = self.read(container, name, is_zip, place).decode("utf-8-sig")
        except (OSError, UnicodeDecodeError, zipfile.BadZipFile, zlib.error) as exc:
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
        stored = self.stored_hash(tid) if tid else None
        if tid and stored == content_hash:
            return ("same", tid)
        try:
            record = ctgov.parse_study(study, url=None)
        except ParseError as exc:
            message = str(exc) if exc.source else f"{source}: {exc}"
            return ("fail", source, exc.reason, message, text, ctgov.REGISTRY)
        if record.trial_id != tid:
            stored = self.stored_hash(record.trial_id)
        indexed = self.index(record, stored, content_hash)
        return ("rec", record.trial_id, record.registry, record.url, record_json(record), text,
                content_hash, False, source, indexed, _link_row(record, content_hash))

    def _item(self, item: Any, source: str) -> tuple[Any, ...]:
        if isinstance(item, Failure):
            return ("fail", item.source, item.reason, item.message, item.raw, item.registry)
        r = item.record
        indexed = self.index(r, self.stored_hash(r.trial_id), item.content_hash)
        return ("rec", r.trial_id, r.registry, r.url, record_json(r), item.raw,
                item.content_hash, item.secondary, source, indexed,
                _link_row(r, item.content_hash))


def _link_row(record: Any, content_hash: str) -> tuple[str, str, str, str, list[str]]:
    own = links.own_key(record)
    return (record.trial_id, record.registry, content_hash, own,
            sorted(links.link_keys(record, own=own)))


def _worker(conn: Connection, store_path: str, index_dir: str, trial_id: str | None) -> None:
    parser = _Parser(store_path, index_dir, trial_id)
    try:
        while True:
            try:
                task = conn.recv()
            except EOFError:  # the parent is gone
                return
            if task is None:  # the batch is over: hand back the segment
                conn.send(("segment", parser.finish()))
                return
            seq, container, is_zip, names, places = task
            conn.send((seq, [parser.run(container, name, is_zip, place)
                             for name, place in zip(names, places)]))
    except KeyboardInterrupt:  # the parent handles Ctrl-C; the worker just stops
        return


class _Workers:
    """A pool of forked parse workers fed over pipes; results come back in task order.

    Not ``multiprocessing.Pool``: its helper threads would be alive when the index writer
    forks its own processes (DESIGN.md: fork only where no threads are alive).
    """

    def __init__(self, n: int, store_path: Path, index_dir: Path,
                 trial_id: str | None) -> None:
        ctx = mp.get_context("fork")
        self.exhausted = False
        self.conns: list[Connection] = []
        self.procs = []
        for _ in range(n):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker,
                               args=(child, str(store_path), str(index_dir), trial_id),
                               daemon=True)
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)

    def map(self, tasks: Iterator[tuple[str, bool, list[str], list[Any]]],
            stop: Callable[[], bool]) -> Iterator[list[list[tuple[Any, ...]]]]:
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
                    raise WorkerDied("A parse worker of the import stopped unexpectedly") \
                        from exc
                pending[conn] -= 1  # type: ignore[index]
                done[seq] = out
            while received in done:
                yield done.pop(received)
                received += 1

    def finish(self) -> list[Any]:
        """Ask every worker to finish its index segment; returns the segments (after the
        last ``map`` has returned)."""
        segments = []
        for conn in self.conns:
            conn.send(None)
        for conn in self.conns:
            try:
                kind, segment = conn.recv()
            except EOFError as exc:
                raise WorkerDied("A parse worker of the import stopped unexpectedly") from exc
            if kind == "segment" and segment is not None:
                segments.append(segment)
        return segments

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


def _tasks(sources: list[Source]) -> Iterator[tuple[str, bool, list[str], list[Any]]]:
    """(container, is zip, member names, their places or Nones) per TASK_SIZE members."""
    for src in sources:
        for start in range(0, len(src.names), TASK_SIZE):
            stop = min(start + TASK_SIZE, len(src.names))
            places = src.places
            yield (str(src.path), src.is_zip, src.names[start:stop],
                   [places.at(k) for k in range(start, stop)] if places else
                   [None] * (stop - start))


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
) -> ImportSummary:
    """Import every payload in ``paths`` (zips, folders, files) into ``store`` and the index
    at ``index_dir``.  Resumable: rerun after an interruption."""
    started = time.perf_counter()
    sources = sources_for(paths)
    total = sum(len(s.names) for s in sources)
    result = ImportSummary()
    n_workers = max(1, workers or os.cpu_count() or 1)
    phase = "store"

    def report() -> None:
        if on_progress:
            on_progress(BulkProgress(result.files, total, phase, result.indexed,
                                     time.perf_counter() - started))

    def catch_up(batch: _Batch | None = None, backlog: bool = False) -> None:
        """Commit the workers' segments, then index what they did not."""
        nonlocal phase
        phase = "index"
        report()
        t0 = time.perf_counter()
        if batch is not None:
            result.indexed += batch.commit(store, index_dir)
        result.indexed += indexer.sync_index(
            store, index_dir, chunk=max(index_every, indexer.CHUNK),
            procs=n_workers if backlog else 1)
        result.index_seconds += time.perf_counter() - t0
        phase = "store"
        report()

    # The link tables first come up to date (a no-op unless something was written since the
    # last refresh), so the keys the workers compute below are all there is left to add.
    links.refresh_links(store)
    # A fresh import (or an import that follows an interrupted one) first brings the index
    # up to what the store holds, so "unchanged" studies skipped below are searchable (an
    # interrupted import may have left many: all processes index them).
    catch_up(backlog=True)
    tasks = _tasks(sources)
    exhausted = False
    while not exhausted:
        # Workers live for one index batch; the parent forks them with no other child alive.
        pool = _Workers(n_workers, store.path, index_dir, trial_id)
        batch = _Batch()
        try:
            items: list[tuple[Any, ...]] = []
            # late binding wanted: the pool asks before each task how much awaits indexing
            stop = lambda: batch.stored >= index_every  # noqa: B023, E731
            for task_out in pool.map(tasks, stop=stop):
                for member_items in task_out:
                    result.files += 1
                    items.extend(member_items)
                if len(items) >= STORE_BATCH:
                    _store(store, items, result, batch)
                    items = []
                    report()
            _store(store, items, result, batch)
            exhausted = pool.exhausted
            batch.segments = pool.finish()
        finally:
            pool.close()
        catch_up(batch)
    # Link groups now, not at the first `trials show`.  Every record this import stored came
    # with its keys (``_store``), so this finds no stale key to recompute: it regroups.
    links.refresh_links(store)
    result.seconds = time.perf_counter() - started
    return result


@dataclass
class _Batch:
    """What one index batch's workers indexed, and what the parent stored of it."""

    stored: int = 0  # records written (new or changed) in this batch
    indexed: dict[str, str] = field(default_factory=dict)  # trial id -> hash, in a segment
    replaced: set[str] = field(default_factory=set)  # of those, trials the index had before
    conflicts: set[str] = field(default_factory=set)  # in a segment but not as stored
    segments: list[Any] = field(default_factory=list)

    def add(self, trial_id: str, content_hash: str, outcome: str) -> None:
        """A record a worker indexed, and what the store made of it."""
        if trial_id in self.indexed or outcome not in ("new", "changed"):
            # The same trial twice in one batch, or a third-party copy the registry's own
            # record outranks: the segments may hold a version the store does not.
            self.conflicts.add(trial_id)
        else:
            self.indexed[trial_id] = content_hash
            if outcome == "changed":
                self.replaced.add(trial_id)

    def commit(self, store: Store, index_dir: Path) -> int:
        """Add the segments to the index (deleting the replaced trials' old documents in the
        same commit), then mark their records indexed; returns how many.  Conflicts are
        deleted from the index again and left to ``sync_index``, which indexes the stored
        version."""
        if not self.segments:
            return 0
        indexer.add_segments(index_dir, self.segments, replace=sorted(self.replaced),
                             delete=sorted(self.conflicts))
        pairs = [(tid, h) for tid, h in self.indexed.items() if tid not in self.conflicts]
        for start in range(0, len(pairs), indexer.CHUNK):
            store.mark_indexed(pairs[start:start + indexer.CHUNK])
        if self.conflicts:
            store.mark_unindexed(sorted(self.conflicts))
        return len(pairs)


def _store(store: Store, items: list[tuple[Any, ...]], result: ImportSummary,
           batch: _Batch) -> None:
    """Write one batch of worker results in one transaction."""
    fetched_at = utcnow()
    same: list[str] = []
    link_rows: list[tuple[str, str, str, str, list[str]]] = []
    with store.batch():
        for item in items:
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
                (_, tid, registry, url, rec_json, raw, content_hash, secondary, source,
                 indexed, link_row) = item
                put = store.put_json(tid, registry, url, rec_json, raw,
                                     content_hash=content_hash, fetched_at=fetched_at,
                                     source_url=_source_url(source), secondary=secondary)
                setattr(result, put.outcome, getattr(result, put.outcome) + 1)
                batch.stored += put.outcome in ("new", "changed")
                if indexed:
                    batch.add(tid, content_hash, put.outcome)
                if put.outcome in ("new", "changed"):  # the store now holds this record
                    link_rows.append(link_row)
        if same:
            store.touch(same, fetched_at)
        if link_rows:
            with store.links_write():
                store.put_link_keys(link_rows)


def _source_url(source: str | None) -> str | None:
    if not source:
        return None
    container, sep, member = source.partition("!")
    uri = _file_uri(container)
    return f"{uri}!/{member}" if sep else uri


@functools.lru_cache(maxsize=64)
def _file_uri(path: str) -> str:
    """A payload container's URI (a zip: resolved once, not once per member)."""
    return Path(path).resolve().as_uri()
