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

Faults (issue 13: nothing lost, nothing silent):

- **One record fails alone.**  A member that cannot be read, parsed, encoded or indexed is a
  failure with its reason (``unreadable``, ``too_large``, ``bad_text``, ``bad_field``, ...)
  and its raw text, kept in the store's ``failures``; a record the store cannot take fails in
  its own savepoint.  A worker never dies on a record it can catch.
- **A worker that dies anyway** (the OOM killer, a crash in C) costs only the member it died
  on: the parent forks a replacement, re-runs that worker's unanswered tasks one member at a
  time, and counts a member that kills the replacement too as ``worker_died``.  What the dead
  worker had indexed is left to ``sync_index`` (its segment died with it).
- **Bounded memory.**  A member over ``MAX_RECORD_BYTES`` (declared size, and a bounded
  decompressor for a header that lies) fails as ``too_large`` without being read whole; tasks
  and store batches are bounded in bytes as well as in members.
- **Workers die with the import.**  ``prctl(PR_SET_PDEATHSIG)`` on Linux, and everywhere a
  check that the parent is still theirs; a worker holds no copy of the other workers' pipes
  (so it sees its own close) nor of the writer lock (``lock.py`` closes it in every fork).  A
  SIGTERM (``service.Stopped``) or Ctrl-C in the parent ends the workers before the lock is
  released.

The skip by hash means a study whose content did not change is not parsed again, so after a
parser upgrade a bulk re-import does not refresh its stored record; importing the files one by
one (``import_paths`` below the bulk threshold re-parses and refreshes in place) does.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import json
import multiprocessing as mp
import os
import select
import signal
import sqlite3
import struct
import sys
import time
import zipfile
import zlib
from array import array
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, cast

from trialscope.app.summary import ImportSummary
from trialscope.core.limits import MAX_RECORD_BYTES, RAW_PREFIX_BYTES, TooLarge
from trialscope.core.record import RECORD_FIELDS
from trialscope.extract import units
from trialscope.index import indexer
from trialscope.index.schema import record_to_doc
from trialscope.parser import ctgov
from trialscope.parser.errors import ParseError
from trialscope.parser.files import (
    Failure,
    describe,
    failure_reason,
    iter_payload_files,
    parse_payload,
    raw_prefix,
    read_bytes,
)
from trialscope.parser.ids import normalise_nct_id
from trialscope.store import links
from trialscope.store.db import Store, utcnow

STORE_BATCH = 1000  # records per store transaction
# Records per index batch: each worker holds its segment's postings in memory (~17 kB per
# study), so this bounds memory; each batch adds one segment per worker to the index.
INDEX_EVERY = 50_000
TASK_SIZE = 32  # members per task sent to a worker
# ... and at most this many bytes (declared sizes): a task's results (raw text and record) are
# one message, held whole by the worker and the parent.
TASK_BYTES = 64 * 2**20
STORE_BYTES = 128 * 2**20  # a store batch is written when its records reach this many bytes
# A worker's garbage collector: a young-generation collection every this many net container
# allocations (Python's default is 700).  A worker allocates a few thousand containers a
# study (the parser's dicts and lists, a list per new term of its segment) and frees them
# without cycles, so the default's collections found next to nothing and cost ~2.5% of a
# worker's CPU (0.11 ms a study on the real-text corpus; with this, a third of that).
WORKER_GC_THRESHOLD = (10_000, 20, 10)

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


# -- sources ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """One container of payloads: a zip file (members) or plain files (paths)."""

    path: Path
    names: list[str]  # zip member names, or file paths for plain files
    is_zip: bool
    places: _Places | None = None  # where a zip's members are (``_Places.of``)


# A zip member's local file header, as zipfile reads it (APPNOTE 4.3.7: signature, versions,
# flags, method, time, date, CRC, sizes, then the lengths of the name and the extra field):
# zipfile's structFileHeader and stringFileHeader, which it does not export.
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_LOCAL_SIGNATURE = b"PK\x03\x04"
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


def read_member(f: Any, name: str, place: tuple[int, int, int, int, int],
                limit: int = MAX_RECORD_BYTES) -> bytes:
    """A stored or deflated member's bytes, read from the open zip file ``f`` at ``place``
    (``_Places.at``) and checked against its CRC and size, as ``ZipFile.read`` checks them.

    Raises ``TooLarge`` for a member over ``limit`` bytes: its declared size is checked first,
    and the data is read and inflated no further than the limit, so a member whose header
    lies (a zip bomb) costs no more than an honest one."""
    offset, csize, size, crc, method = place
    f.seek(offset)
    head = f.read(_LOCAL_HEADER.size)
    if len(head) < _LOCAL_HEADER.size or head[:4] != _LOCAL_SIGNATURE:
        raise zipfile.BadZipFile(f"{name}: no local file header at offset {offset}")
    fields = _LOCAL_HEADER.unpack(head)
    f.seek(fields[_NAME_LENGTH] + fields[_EXTRA_LENGTH], os.SEEK_CUR)  # past name and extra
    if size > limit:
        raise TooLarge(size, _inflate(f.read(min(csize, RAW_PREFIX_BYTES)), method,
                                      RAW_PREFIX_BYTES, strict=False))
    # Deflate never grows data by more than 5 bytes per 16 kB block (plus a header).
    data = f.read(min(csize, limit + limit // 1000 + 1024))
    data = _inflate(data, method, limit + 1)
    if len(data) > limit:
        raise TooLarge(None, data[:RAW_PREFIX_BYTES])
    if len(data) != size or zlib.crc32(data) != crc:
        raise zipfile.BadZipFile(f"Bad CRC-32 or size for member {name!r}")
    return data


def _inflate(data: bytes, method: int, most: int, strict: bool = True) -> bytes:
    """At most ``most`` bytes of a member's data (raw deflate, as zip stores it, or stored)."""
    if method != zipfile.ZIP_DEFLATED:
        return data[:most]
    try:
        return zlib.decompressobj(-15).decompress(data, most)
    except zlib.error:
        if strict:
            raise
        return b""


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

    def index(self, record: Any, stored: str | None, content_hash: str) -> int:
        """Add a record whose content the store lacks to this worker's segment (the parent
        deletes the trial's older version from the index when it commits the segment).
        Returns this worker's pid (the parent tells whose segment holds what), or 0."""
        if stored == content_hash:
            return 0
        if self.writer is None:
            from trialscope.index.engine.fastwriter import FastSegmentWriter

            ix = indexer.open_index(self.index_dir)
            # _lk=False: the parent holds the import, and commits this segment itself.
            self.writer = FastSegmentWriter(ix, _lk=False, compound=False)
        self.writer.add_document(**record_to_doc(record, parsed=True))
        return os.getpid()

    def finish(self) -> Any:
        """This worker's finished segment, or None if it indexed nothing."""
        if self.writer is None:
            return None
        segment, self.writer = self.writer.finish_segment(), None
        return segment

    def read(self, container: str, name: str, is_zip: bool, place: Any = None) -> bytes:
        if not is_zip:
            return read_bytes(name, MAX_RECORD_BYTES)
        if place is not None:
            f = self.files.get(container)
            if f is None:
                f = self.files[container] = open(container, "rb")  # noqa: SIM115
            return read_member(f, name, place)
        zf = self._zip(container)
        info = zf.getinfo(name)
        with zf.open(info) as member:
            if info.file_size > MAX_RECORD_BYTES:
                raise TooLarge(info.file_size, member.read(RAW_PREFIX_BYTES))
            data = member.read(MAX_RECORD_BYTES + 1)
        if len(data) > MAX_RECORD_BYTES:
            raise TooLarge(None, data[:RAW_PREFIX_BYTES])
        return data

    def _zip(self, container: str) -> zipfile.ZipFile:
        """The zip, opened with ``zipfile`` (its whole directory read): for the members
        ``read_member`` does not read."""
        zf = self.zips.get(container)
        if zf is None:
            zf = self.zips[container] = zipfile.ZipFile(container)
        return zf

    def run(self, container: str, name: str, is_zip: bool,
            place: Any = None) -> list[tuple[Any, ...]]:
        """One member's result tuples.  Never raises for what the member holds: whatever
        goes wrong with it is its failure (the worker goes on with the next member)."""
        source = f"{container}!{name}" if is_zip else name
        try:
            text = self.read(container, name, is_zip, place).decode("utf-8-sig")
        except (TooLarge, MemoryError) as exc:
            head = exc.head if isinstance(exc, TooLarge) else b""
            return [("fail", source, "too_large", f"{source}: {exc or 'out of memory'}",
                     raw_prefix(head), "unknown")]
        except Exception as exc:  # noqa: BLE001 (OSError, bad zip data, not UTF-8, ...)
            return [("fail", source, "unreadable", f"{source}: {exc}", None, "unknown")]
        out: list[tuple[Any, ...]] = []
        try:
            if text.lstrip()[:1] == "{":
                fast = self._one_study(text, source)
                if fast is not None:
                    return [fast]
            for item in parse_payload(text, source=source, trial_id=self.trial_id):
                out.append(self._guarded(item, source))  # (what a worker indexed is kept)
        except Exception as exc:  # noqa: BLE001 (this member alone fails)
            out.append(_fail(source, exc, text))
        return out

    def _guarded(self, item: Any, source: str) -> tuple[Any, ...]:
        """``_item``, one record's error being that record's failure (not the page's)."""
        try:
            return self._item(item, source)
        except Exception as exc:  # noqa: BLE001
            where = f"{source} [{getattr(getattr(item, 'record', None), 'trial_id', '?')}]"
            return _fail(where, exc, getattr(item, "raw", None))

    def _one_study(self, text: str, source: str) -> tuple[Any, ...] | None:
        """The common case, a file holding one API study: hash it first, parse only if the
        store does not hold this content.  None: not that case (the generic path decides)."""
        try:
            study = json.loads(text)
        except (ValueError, RecursionError):
            return None  # the generic path reports it (or finds the studies of a page)
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
        # Everything that can fail before the record enters this worker's segment: a record
        # in the segment must reach the parent.
        rec_json = _encodable(record_json(record))
        link_row = _link_row(record, content_hash)
        indexed = self.index(record, stored, content_hash)
        return ("rec", record.trial_id, record.registry, record.url, rec_json, text,
                content_hash, False, source, indexed, link_row)

    def _item(self, item: Any, source: str) -> tuple[Any, ...]:
        if isinstance(item, Failure):
            return ("fail", item.source, item.reason, item.message, item.raw, item.registry)
        r = item.record
        rec_json = _encodable(record_json(r))
        _encodable(item.raw)
        link_row = _link_row(r, item.content_hash)
        indexed = self.index(r, self.stored_hash(r.trial_id), item.content_hash)
        return ("rec", r.trial_id, r.registry, r.url, rec_json, item.raw,
                item.content_hash, item.secondary, source, indexed, link_row)


def _encodable(text: str) -> str:
    """``text``, checked to encode as UTF-8 (raises UnicodeEncodeError on a lone surrogate,
    before the record reaches the index or the store)."""
    if not text.isascii():
        text.encode("utf-8")
    return text


def _fail(source: str, exc: BaseException, raw: str | None,
          registry: str = "unknown") -> tuple[Any, ...]:
    if isinstance(exc, ParseError):
        message = str(exc) if exc.source else f"{source}: {exc}"
    else:
        message = f"{source}: {describe(exc)}"
    return ("fail", source, failure_reason(exc), message, raw, registry)


def _link_row(record: Any, content_hash: str) -> tuple[str, str, str, str, list[str]]:
    own = links.own_key(record)
    return (record.trial_id, record.registry, content_hash, own,
            sorted(links.link_keys(record, own=own)))


_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_PARENT_CHECK = 1.0  # seconds between a waiting worker's checks that its parent lives


def _die_with_parent(parent_pid: int) -> None:
    """Have the kernel kill this worker when its parent dies (Linux), and leave now if the
    parent is already gone (it may have died before the request took effect)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the parent check below still ends an orphaned worker
    if os.getppid() != parent_pid:
        os._exit(0)


def worker_gc() -> None:
    """The collector as a worker runs it.  What the parent had allocated (modules, compiled
    regexes, the schema) lives as long as the worker: out of the collector's sight, so no full
    collection walks it again, nor writes to its (shared, copy-on-write) pages."""
    gc.freeze()
    gc.set_threshold(*WORKER_GC_THRESHOLD)


def _worker(conn: Connection, others: list[Connection], store_path: str, index_dir: str,
            trial_id: str | None, parent_pid: int) -> None:
    # The parent's SIGTERM handler raises in the parent; here the default (end now) applies.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(parent_pid)
    worker_gc()
    for other in others:
        # Forked copies of the parent's ends of the pipes (this worker's own and the earlier
        # workers'): while any is open here, no worker would see its parent's end close.
        other.close()
    parser = _Parser(store_path, index_dir, trial_id)
    try:
        while True:
            # The portable part of dying with the parent: an orphan is re-parented.
            while not conn.poll(_PARENT_CHECK):
                if os.getppid() != parent_pid:
                    return
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
    except (BrokenPipeError, ConnectionResetError):  # the parent is gone
        return


Task = tuple[str, bool, list[str], list[Any]]


class _Workers:
    """A pool of forked parse workers fed over pipes; results come back in task order.

    Not ``multiprocessing.Pool``: its helper threads would be alive when the index writer
    forks its own processes (DESIGN.md: fork only where no threads are alive).

    A worker that dies is replaced (see the module docstring); ``dead`` holds the pids of
    the workers that died, whose index segments are lost.
    """

    # Results a worker may have waiting in the parent, taken in by ``pump`` or ahead of a
    # slower worker's (``map`` hands them on in task order): 16 tasks, ~500 studies of the
    # real-text corpus (~15 MB), a store batch's worth for two workers; ``TASK_BYTES`` of
    # text bounds them too.  Past that no new task is sent.
    AHEAD_TASKS = 16

    def __init__(self, n: int, store_path: Path, index_dir: Path,
                 trial_id: str | None) -> None:
        self.ctx = mp.get_context("fork")
        self.args = (str(store_path), str(index_dir), trial_id)
        self.exhausted = False
        self.conns: list[Connection] = []
        self.procs: list[Any] = []
        self.dead: set[int] = set()
        self._pending: list[deque[tuple[int, Task]]] = []
        self._stopped = True  # (no ``map`` running: ``pump`` does nothing)
        self._requested = False  # the segments asked for (``request_segments``)
        self._poller: Any = None  # ``select.poll`` over the pipes, for ``pump``
        for _ in range(n):
            conn, proc = self._spawn()
            self.conns.append(conn)
            self.procs.append(proc)

    def _spawn(self) -> tuple[Connection, Any]:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_worker,
                                args=(child, [*self.conns, parent], *self.args, os.getpid()),
                                daemon=True)
        proc.start()
        child.close()
        return parent, proc

    def _replace(self, slot: int) -> None:
        """Worker ``slot`` died: reap it, fork another in its place."""
        proc = self.procs[slot]
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()
            proc.join(timeout=5)
        self.dead.add(proc.pid)
        self.conns[slot].close()
        self.conns[slot], self.procs[slot] = self._spawn()
        self._poller = None  # (registered the old pipe)

    def _rescue(self, slot: int, task: Task) -> list[list[tuple[Any, ...]]]:
        """The results of a dead worker's task, re-run one member at a time on its
        replacement; a member the replacement dies on too is counted, not retried again."""
        container, is_zip, names, places = task
        out: list[list[tuple[Any, ...]]] = []
        for name, place in zip(names, places):
            try:
                self.conns[slot].send((-1, container, is_zip, [name], [place]))
                _, result = self.conns[slot].recv()
                out.append(result[0])
            except (EOFError, OSError):
                self._replace(slot)
                out.append([_died(container, name, is_zip, place)])
        return out

    def map(self, tasks: Iterator[Task],
            stop: Callable[[], bool]) -> Iterator[list[list[tuple[Any, ...]]]]:
        """Per task, per member, the member's result tuples.  Sends no new task once
        ``stop()`` is true, and returns when what was sent has come back; ``self.exhausted``
        then says whether ``tasks`` ran out.  While the caller works on what this yields,
        ``pump`` keeps the workers going."""
        self._tasks, self._stop = tasks, stop
        self._pending = [deque() for _ in self.conns]
        # seq -> (a task's results, characters of text they hold)
        self._done: dict[int, tuple[list[list[tuple[Any, ...]]], int]] = {}
        self._ahead = 0  # characters of text in ``_done``
        self._sent = self._received = 0
        self._stopped = False
        while True:
            self._feed()
            if self._stopped and self._received == self._sent:
                return
            if self._received not in self._done:
                self._collect(block=True)
            while self._received in self._done:
                out, size = self._done.pop(self._received)
                self._ahead -= size
                self._received += 1
                yield out

    def pump(self) -> None:
        """Take in the results the workers have finished and send them new tasks, without
        waiting: the parent calls this between the records it stores.  A worker's result is
        one message, sent whole before it reads its next task, so a worker whose result the
        parent did not read sat idle for as long as the parent wrote the store (up to a
        store batch: a core of two left idle).  Results taken in ahead of ``map`` wait in
        memory, at most ``AHEAD_TASKS`` tasks a worker or ``TASK_BYTES`` characters of
        text (then no new task is sent until ``map`` has handed them on)."""
        if not self._stopped or any(self._pending):
            self._collect(block=False)
            self._feed()

    def _feed(self) -> None:
        """Keep two tasks queued per worker (so none waits for the parent), unless the
        results taken in ahead are already many."""
        if len(self._done) >= self.AHEAD_TASKS * len(self.conns) or \
                self._ahead >= TASK_BYTES:
            return
        for slot, conn in enumerate(self.conns):
            while not self._stopped and len(self._pending[slot]) < 2:
                task = None if self._stop() else next(self._tasks, None)
                if task is None:
                    self._stopped = True
                    self.exhausted = not self._stop()
                    break
                self._pending[slot].append((self._sent, task))
                try:
                    conn.send((self._sent, *task))
                except OSError:
                    pass  # a dead worker: its EOF in _collect re-runs what it held
                self._sent += 1

    def _collect(self, block: bool) -> None:
        """Receive the results that are ready (``block``: wait until one is)."""
        busy = [c for slot, c in enumerate(self.conns) if self._pending[slot]]
        if not busy:
            return
        if block or not hasattr(select, "poll"):
            # (wait returns the connections it is given that are ready)
            ready = cast("list[Connection]", wait(busy, timeout=None if block else 0))
        else:  # one system call (``wait`` builds a selector each call: ~20 µs a record)
            if self._poller is None:
                self._poller = select.poll()
                for conn in self.conns:
                    self._poller.register(conn.fileno(), select.POLLIN)
            fds = {fd for fd, _ in self._poller.poll(0)}
            ready = [c for c in busy if c.fileno() in fds]
        for conn in ready:
            slot = self.conns.index(conn)
            try:
                seq, out = conn.recv()
            except (EOFError, OSError):
                # The worker died (killed, out of memory): what it held is re-run.
                held = list(self._pending[slot])
                self._pending[slot].clear()
                self._replace(slot)
                for seq, task in held:
                    self._take(seq, self._rescue(slot, task))
                continue
            self._pending[slot].popleft()
            self._take(seq, out)

    def _take(self, seq: int, out: list[list[tuple[Any, ...]]]) -> None:
        size = _task_text_size(out)
        self._done[seq] = out, size
        self._ahead += size

    def request_segments(self) -> None:
        """Ask every worker to finish its index segment (after the last ``map`` has
        returned); ``finish`` collects them.  Asked first, the workers write their segments
        while the parent stores the batch's last records."""
        for slot, conn in enumerate(self.conns):
            try:
                conn.send(None)
            except OSError:
                self.dead.add(self.procs[slot].pid)
        self._requested = True

    def finish(self) -> list[Any]:
        """Ask every worker to finish its index segment; returns the segments (after the
        last ``map`` has returned).  A worker that dies here loses its segment only (its pid
        joins ``dead``)."""
        if not self._requested:
            self.request_segments()
        segments = []
        for slot, conn in enumerate(self.conns):
            if self.procs[slot].pid in self.dead:
                continue
            try:
                kind, segment = conn.recv()
            except (EOFError, OSError):
                self.dead.add(self.procs[slot].pid)
                continue
            if kind == "segment" and segment is not None:
                segments.append(segment)
        return segments

    def close(self, abort: bool = False) -> None:
        """End the workers: politely after ``finish``, at once when ``abort`` (an error or a
        signal in the parent: nothing they hold is wanted)."""
        for conn in self.conns:
            if not abort:
                try:
                    conn.send(None)
                except OSError:
                    pass
            conn.close()
        if abort:
            for proc in self.procs:
                if proc.is_alive():
                    proc.terminate()
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)


def _died(container: str, name: str, is_zip: bool, place: Any) -> tuple[Any, ...]:
    """The failure of a member a worker died on (twice), with as much of its text as the
    parent can read safely (the bounded readers)."""
    source = f"{container}!{name}" if is_zip else name
    raw: str | None = None
    try:
        reader = _Parser.__new__(_Parser)
        reader.zips, reader.files = {}, {}
        try:
            raw = reader.read(container, name, is_zip, place).decode("utf-8", "replace")
        finally:
            for f in reader.files.values():
                f.close()
            for zf in reader.zips.values():
                zf.close()
    except Exception:  # noqa: BLE001 (the failure is counted without its text)
        raw = None
    return ("fail", source, "worker_died",
            f"{source}: a parse worker stopped on this record twice (killed, or out of "
            "memory); it was skipped", raw, "unknown")


def _tasks(sources: list[Source]) -> Iterator[Task]:
    """(container, is zip, member names, their places or Nones) per TASK_SIZE members or
    TASK_BYTES (declared sizes), whichever comes first."""
    for src in sources:
        places = src.places
        start, count = 0, len(src.names)
        while start < count:
            stop, size = start, 0
            while stop < count and stop - start < TASK_SIZE:
                if stop > start and size >= TASK_BYTES:
                    break
                size += places.size[stop] if places else _file_size(src.names[stop])
                stop += 1
            yield (str(src.path), src.is_zip, src.names[start:stop],
                   [places.at(k) for k in range(start, stop)] if places else
                   [None] * (stop - start))
            start = stop


def _file_size(name: str) -> int:
    try:
        return os.path.getsize(name)
    except OSError:
        return 0


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
    units.warm()  # (the workers inherit the unit conversions: none builds pint's registry)
    exhausted = False
    while not exhausted:
        # Workers live for one index batch; the parent forks them with no other child alive.
        pool = _Workers(n_workers, store.path, index_dir, trial_id)
        batch = _Batch()
        try:
            items: list[tuple[Any, ...]] = []
            size = 0  # bytes of text in ``items``
            # late binding wanted: the pool asks before each task how much awaits indexing
            stop = lambda: batch.stored >= index_every  # noqa: B023, E731
            for task_out in pool.map(tasks, stop=stop):
                for member_items in task_out:
                    result.files += 1
                    items.extend(member_items)
                    size += sum(_text_size(item) for item in member_items)
                if len(items) >= STORE_BATCH or size >= STORE_BYTES:
                    _store(store, items, result, batch, between=pool.pump)
                    items, size = [], 0
                    report()
            # The workers write their segments while the last records are stored.
            pool.request_segments()
            _store(store, items, result, batch)
            exhausted = pool.exhausted
            batch.segments = pool.finish()
            batch.lost(pool.dead)
        except BaseException:
            pool.close(abort=True)  # an error, Ctrl-C or SIGTERM: end the workers now
            raise
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

    by: dict[str, int] = field(default_factory=dict)  # trial id -> pid of the worker

    def add(self, trial_id: str, content_hash: str, outcome: str, worker: int = 0) -> None:
        """A record a worker indexed, and what the store made of it."""
        if trial_id in self.indexed or outcome not in ("new", "changed"):
            # The same trial twice in one batch, or a third-party copy the registry's own
            # record outranks (or could not store): the segments may hold a version the
            # store does not.
            self.conflicts.add(trial_id)
        else:
            self.indexed[trial_id] = content_hash
            self.by[trial_id] = worker
            if outcome == "changed":
                self.replaced.add(trial_id)

    def lost(self, dead: set[int]) -> None:
        """Records indexed by workers that died: their segments are gone, so they are
        left to ``sync_index`` (as conflicts: unmarked, and any older version deleted)."""
        if dead:
            self.conflicts.update(t for t, pid in self.by.items() if pid in dead)

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
           batch: _Batch, between: Callable[[], None] | None = None) -> None:
    """Write one batch of worker results in one transaction; ``between`` is called before
    each record (``_Workers.pump``: the workers are not kept waiting meanwhile)."""
    fetched_at = utcnow()
    same: list[str] = []
    link_rows: list[tuple[str, str, str, str, list[str]]] = []
    with store.batch():
        for item in items:
            if between is not None:
                between()
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
                try:
                    with store.savepoint():  # a record the store cannot take fails alone
                        put = store.put_json(tid, registry, url, rec_json, raw,
                                             content_hash=content_hash, fetched_at=fetched_at,
                                             source_url=_source_url(source),
                                             secondary=secondary)
                except (sqlite3.Error, UnicodeError, ValueError, OverflowError) as exc:
                    reason = "too_large" if isinstance(exc, sqlite3.DataError) else \
                        failure_reason(exc)
                    message = f"{source}: could not be stored ({describe(exc)})"
                    result.failures.append({"source": source, "reason": reason,
                                            "message": message})
                    store.put_failure(registry=registry, reason=reason, raw=raw, url=source,
                                      trial_id=tid, detail=message)
                    if indexed:
                        batch.add(tid, content_hash, "failed")  # out of the index again
                    continue
                setattr(result, put.outcome, getattr(result, put.outcome) + 1)
                batch.stored += put.outcome in ("new", "changed")
                if indexed:
                    batch.add(tid, content_hash, put.outcome, indexed)
                if put.outcome in ("new", "changed"):  # the store now holds this record
                    link_rows.append(link_row)
        if same:
            store.touch(same, fetched_at)
        if link_rows:
            with store.links_write():
                store.put_link_keys(link_rows)


def _task_text_size(out: list[list[tuple[Any, ...]]]) -> int:
    """Characters of text a task's results hold."""
    return sum(_text_size(item) for member in out for item in member)


def _text_size(item: tuple[Any, ...]) -> int:
    """Characters of text a result tuple holds (its raw payload and record)."""
    if item[0] == "rec":
        return len(item[5] or "") + len(item[4] or "")
    if item[0] == "fail":
        return len(item[4] or "")
    return 0


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
