"""The system of record: every fetched payload, every version, every failure, in one SQLite file.

Per trial id the store keeps the raw payload, the parsed record, the fetch time and a content
hash, for every version; a new version is written only when the content hash changes.  A payload
that could not be parsed is kept in ``failures`` with its reason, so nothing fetched is lost.
The Whoosh index is a projection of this store: ``trials.indexed_hash`` remembers which content
the index holds, so an interrupted indexing run is resumed by indexing what differs.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from trialscope.core.record import TrialRecord
from trialscope.store import codec

# 2: payloads and records compressed (store/codec.py), dictionaries in ``zdicts``.  Rows an
# older trialscope wrote (TEXT) stay readable as they are; schema 1 code refuses a schema 2
# store with "upgrade trialscope" instead of misreading its compressed rows.
SCHEMA_VERSION = 2
PAGE_SIZE = 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    trial_id        TEXT PRIMARY KEY,
    registry        TEXT NOT NULL,
    current_version INTEGER NOT NULL,
    content_hash    TEXT NOT NULL,
    record_json     TEXT NOT NULL,
    url             TEXT,
    first_seen      TEXT NOT NULL,
    last_fetched    TEXT NOT NULL,
    indexed_hash    TEXT,
    secondary       INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS versions (
    trial_id     TEXT NOT NULL,
    version      INTEGER NOT NULL,
    fetched_at   TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    url          TEXT,
    raw          TEXT NOT NULL,
    record_json  TEXT NOT NULL,
    PRIMARY KEY (trial_id, version)
);
CREATE TABLE IF NOT EXISTS aliases (alias TEXT PRIMARY KEY, trial_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS failures (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    fetched_at TEXT NOT NULL,
    registry   TEXT NOT NULL,
    trial_id   TEXT,
    url        TEXT,
    reason     TEXT NOT NULL,
    detail     TEXT,
    raw        TEXT
);
"""
_CORE_TABLES = frozenset({"meta", "trials", "versions", "aliases", "failures"})
_ZDICTS = ("CREATE TABLE IF NOT EXISTS zdicts (dict_id INTEGER PRIMARY KEY, kind TEXT NOT NULL,"
           " data BLOB NOT NULL)")

# Cross-registry links (store/links.py computes them; the Store's link methods only keep them).
_LINK_TABLES = (
    "CREATE TABLE IF NOT EXISTS link_state (trial_id TEXT PRIMARY KEY, registry TEXT NOT NULL,"
    " content_hash TEXT NOT NULL, own_key TEXT NOT NULL, group_id TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS link_state_group ON link_state (group_id)",
    # Only linked trials (a few percent): what a search reads to collapse groups.
    "CREATE INDEX IF NOT EXISTS link_state_linked ON link_state (trial_id, group_id, registry)"
    " WHERE group_id != trial_id",
    # WITHOUT ROWID: the rows are their primary key, kept once (a rowid table kept them
    # twice, in the table and in its primary-key index: 0.1 kB a trial).  Stores made before
    # keep their rowid table; the SQL is the same for both.
    "CREATE TABLE IF NOT EXISTS link_keys (trial_id TEXT NOT NULL, key TEXT NOT NULL,"
    " PRIMARY KEY (trial_id, key)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS link_keys_key ON link_keys (key)",
)
# Covers ``stale_links``: the staleness check then reads this index, not the rows (which hold
# the record JSON: ~300x more pages).  Building it over trials already stored reads every row
# (O(N): most of a minute at 100k trials), so it is only ever built over an empty table (a new
# store, below) or inside a links refresh (``links_write``), never when a store is opened;
# SQLite keeps it up to date as records are written.
_LINK_SOURCES_INDEX = ("CREATE INDEX IF NOT EXISTS trials_link_sources ON trials (trial_id,"
                       " registry, content_hash)")
_LINK_SCHEMA = (*_LINK_TABLES, _LINK_SOURCES_INDEX)
_LINK_OBJECTS = frozenset({"link_state", "link_state_group", "link_state_linked", "link_keys",
                           "link_keys_key", "trials_link_sources"})


class StoreError(RuntimeError):
    """The store file cannot be used (not a trialscope store, newer schema, corrupt)."""


class StoreReadOnly(StoreError):
    """The store can be read but not written (read-only media, no write permission)."""


# SQLite's primary result codes that mean "this file or its folder cannot be written".
_SQLITE_READONLY, _SQLITE_CANTOPEN, _SQLITE_PERM = 8, 14, 3


def is_read_only_error(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_READONLY, _SQLITE_CANTOPEN, _SQLITE_PERM)
    text = str(exc).lower()
    return "readonly" in text or "read-only" in text or "unable to open" in text


@dataclass(frozen=True)
class PutResult:
    trial_id: str
    outcome: str  # "new" | "changed" | "unchanged" | "skipped" (a third-party copy)
    version: int


def utcnow() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _encodable(text: str | None) -> str | None:
    """``text``, with what UTF-8 cannot encode (lone surrogates) backslash-escaped."""
    if text is None or text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Store:
    """One SQLite file.  Use as a context manager, or call ``close()``."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        """Open (or create) the store.  ``readonly``: open an existing store for reading only
        (SQLite's ``mode=ro``; ``immutable=1`` when even that needs a file it cannot create,
        as for a WAL store on read-only media); nothing is created or migrated then."""
        self.path = Path(path)
        self.readonly = readonly
        if readonly:
            _row, names = self._open_readonly()
            self._in_batch = False
            self._links_complete = _LINK_OBJECTS <= names
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(str(self.path), timeout=30)
            # A new store only (a no-op once the file has tables): 1 kB pages, because a
            # compressed version row (~4.3 kB) overflows a 4 kB page and leaves the last
            # overflow page half empty: 6.2 -> 5.6 kB a study on the real-text corpus.
            self._conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            names = self._schema_names()
            if not _CORE_TABLES <= names:
                # A new store: its tables, and the link tables and indexes while every table
                # is empty (O(1)).  Opening a store that has them runs no DDL at all.
                script = _SCHEMA
                if "trials" not in names:
                    script += "".join(f"{statement};\n" for statement in _LINK_SCHEMA)
                self._conn.executescript(script)
                names = self._schema_names()
            row = self._conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            columns = {r[1] for r in self._conn.execute("PRAGMA table_info(trials)")}
            if "secondary" not in columns:  # a store written before the column existed
                self._conn.execute(
                    "ALTER TABLE trials ADD COLUMN secondary INTEGER NOT NULL DEFAULT 0")
            if "zdicts" not in names:  # a schema 1 store: its rows stay as they are
                self._conn.execute(_ZDICTS)
                names.add("zdicts")
        except sqlite3.DatabaseError as exc:
            conn = getattr(self, "_conn", None)
            if conn is not None:
                conn.close()
            if is_read_only_error(exc):
                raise StoreReadOnly(f"{self.path} cannot be written ({exc})") from exc
            raise StoreError(f"{self.path} is not a usable trialscope store ({exc})") from exc
        if row is None:
            with self._conn:
                self._conn.execute(
                    "INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
                )
        elif int(row[0]) > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer trialscope (schema {row[0]});"
                " upgrade trialscope"
            )
        elif int(row[0]) < SCHEMA_VERSION:
            with self._conn:
                self._conn.execute("UPDATE meta SET value=? WHERE key='schema'",
                                   (str(SCHEMA_VERSION),))
        self._in_batch = False
        self._links_complete = _LINK_OBJECTS <= names
        self._load_dicts(names)

    def _open_readonly(self) -> tuple[Any, set[str]]:
        if not self.path.is_file():
            raise StoreError(f"{self.path} does not exist")
        uri = self.path.resolve().as_uri()
        last: sqlite3.DatabaseError | None = None
        # mode=ro reads a WAL store through its -shm file, which it must create when absent:
        # in a folder it cannot write that fails, and immutable=1 (no locking, no -shm) is
        # the way left.  It is safe there: a writer would have created the -shm already (it
        # can write the folder), so its absence means no one is writing the store.
        for query in ("?mode=ro", "?mode=ro&immutable=1"):
            try:
                self._conn = sqlite3.connect(uri + query, uri=True, timeout=30)
            except sqlite3.DatabaseError as exc:
                last = exc
                continue
            try:
                names = self._schema_names()
                if not _CORE_TABLES <= names:
                    raise StoreError(f"{self.path} is not a trialscope store (no trials table)")
                row = self._conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
                columns = {r[1] for r in self._conn.execute("PRAGMA table_info(trials)")}
            except sqlite3.DatabaseError as exc:  # e.g. a WAL store whose -shm cannot be made
                self._conn.close()
                last = exc
                continue
            except StoreError:
                self._conn.close()
                raise
            if row is not None and int(row[0]) > SCHEMA_VERSION:
                self._conn.close()
                raise StoreError(f"{self.path} was written by a newer trialscope (schema "
                                 f"{row[0]}); upgrade trialscope")
            if "secondary" not in columns:
                self._conn.close()
                raise StoreError(f"{self.path} was written by an older trialscope and must be "
                                 "upgraded once where it can be written")
            self._load_dicts(names)
            return row, names
        raise StoreError(f"{self.path} is not a usable trialscope store ({last})")

    def _load_dicts(self, names: set[str]) -> None:
        """The compression dictionaries the store holds; the newest raw one compresses."""
        self._codec = codec.RawDictionary()
        self._samples: list[bytes] | None = []
        self._seeded = False
        self._dict_saved = True
        if "zdicts" not in names:
            return
        for ident, kind, data in self._conn.execute(
                "SELECT dict_id, kind, data FROM zdicts ORDER BY rowid"):
            if kind == "raw":
                self._codec.use(data)
                self._samples = None
            else:
                self._codec.known(ident, data)

    def _sample(self, raw: str) -> None:
        """Keep the store's first payloads; at ``DICT_SAMPLES`` train the dictionary the
        following ones are compressed with.  It is written to ``zdicts`` with every row that
        uses it until a commit (``_saved``), so a rolled-back savepoint cannot leave a row
        whose dictionary was not kept."""
        if self._samples is None:
            return
        if not self._seeded:
            # Payloads stored in earlier sessions count too (a store that grows by a few
            # hundred trials a refresh, or one written before compression, gets its
            # dictionary once it holds DICT_SAMPLES payloads): read once, at the first write.
            self._seeded = True
            rows = self._conn.execute("SELECT raw FROM versions ORDER BY rowid DESC LIMIT ?",
                                      (codec.DICT_SAMPLES,)).fetchall()
            self._samples = [self._codec.decompress(r[0]).encode("utf-8") for r in rows]
        self._samples.append(raw.encode("utf-8"))
        if len(self._samples) >= codec.DICT_SAMPLES:
            samples, self._samples = self._samples, None
            try:
                data = self._codec.train(samples)
            except Exception:  # zstd cannot train on these (too few distinct bytes): no dict
                return
            self._dict_row = (self._codec.use(data), data)
            self._dict_saved = False

    def _saved(self) -> None:
        """After a commit: a trained dictionary written with its rows is now kept."""
        if not self._dict_saved and not self._conn.in_transaction:
            self._dict_saved = self._conn.execute(
                "SELECT 1 FROM zdicts WHERE dict_id=?", (self._dict_row[0],)
            ).fetchone() is not None

    def _schema_names(self) -> set[str]:
        """Names of the tables and indexes in the file (one read of sqlite_master)."""
        return {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master")}

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group many writes in one transaction (much faster than one commit per record)."""
        if self._in_batch:
            yield
            return
        self._in_batch = True
        try:
            self._begin()
            with self._conn:
                yield
        finally:
            self._in_batch = False
            self._saved()

    def _begin(self) -> None:
        """Start the write transaction now, taking SQLite's write lock (waiting for another
        writer up to the connection's timeout).  Python's implicit BEGIN is deferred: a batch
        that read first and then wrote failed at once with "database is locked" when any other
        connection (a reader refreshing the links, the web page) had written in between."""
        if not self._conn.in_transaction:
            self._conn.execute("BEGIN IMMEDIATE")

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside a ``batch``: the writes of the block are undone alone if it raises (one
        record that cannot be stored costs that record, not the batch)."""
        self._conn.execute("SAVEPOINT one_record")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK TO one_record")
            self._conn.execute("RELEASE one_record")
            raise
        self._conn.execute("RELEASE one_record")

    @contextmanager
    def _tx(self) -> Iterator[None]:
        if self._in_batch:
            yield
        else:
            try:
                self._begin()
                with self._conn:
                    yield
            finally:
                self._saved()

    # -- writes ----------------------------------------------------------------------------
    def put_record(
        self,
        record: TrialRecord,
        raw: str,
        *,
        content_hash: str | None = None,
        fetched_at: str | None = None,
        source_url: str | None = None,
        secondary: bool = False,
    ) -> PutResult:
        """Store one fetched record.  Idempotent: the same content twice writes no version.

        ``source_url`` is where the payload was fetched from (default: the record's url).
        ``secondary`` marks a copy from a third party (WHO ICTRP, an aggregator page): it never
        replaces the registry's own record of the trial (outcome "skipped").
        """
        record_json = json.dumps(record.to_dict(), ensure_ascii=False, sort_keys=True)
        return self.put_json(
            record.trial_id, record.registry, record.url, record_json, raw,
            content_hash=content_hash or sha256_text(raw), fetched_at=fetched_at,
            source_url=source_url, secondary=secondary)

    def put_json(
        self,
        trial_id: str,
        registry: str,
        url: str | None,
        record_json: str,
        raw: str,
        *,
        content_hash: str,
        fetched_at: str | None = None,
        source_url: str | None = None,
        secondary: bool = False,
    ) -> PutResult:
        """``put_record`` for a record already serialised (``json.dumps(record.to_dict(),
        ensure_ascii=False, sort_keys=True)``): bulk imports serialise in worker processes."""
        fetched_at = fetched_at or utcnow()
        tid = trial_id
        with self._tx():
            row = self._conn.execute(
                "SELECT t.current_version, t.content_hash, t.record_json, t.secondary, v.raw,"
                " v.record_json FROM trials t LEFT JOIN versions v ON v.trial_id=t.trial_id"
                " AND v.version=t.current_version WHERE t.trial_id=?",
                (tid,),
            ).fetchone()
            if row is not None and secondary and not row[3]:
                return PutResult(tid, "skipped", row[0])
            if row is not None and row[1] == content_hash:
                stored_raw = self._codec.decompress(row[4])
                if self._record_text(row[2], stored_raw, row[5]) != record_json:
                    # Same payload, newer parser: refresh the parsed form in place (no new
                    # version: the trial did not change) and let the index pick it up.
                    self._conn.execute(
                        "UPDATE trials SET record_json=?, indexed_hash=NULL WHERE trial_id=?",
                        (codec.CURRENT, tid))
                    self._conn.execute(
                        "UPDATE versions SET record_json=? WHERE trial_id=? AND version=?",
                        (codec.compress_record(record_json, stored_raw or ""), tid, row[0]))
                self._conn.execute(
                    "UPDATE trials SET last_fetched=? WHERE trial_id=?", (fetched_at, tid)
                )
                return PutResult(tid, "unchanged", row[0])
            version = 1 if row is None else row[0] + 1
            self._sample(raw)
            self._conn.execute(
                "INSERT INTO versions VALUES (?,?,?,?,?,?,?)",
                (tid, version, fetched_at, content_hash, source_url or url,
                 self._codec.compress(raw), codec.compress_record(record_json, raw)),
            )
            if not self._dict_saved:
                self._conn.execute("INSERT OR IGNORE INTO zdicts VALUES (?, 'raw', ?)",
                                   self._dict_row)
            record_json = codec.CURRENT  # the trial's row points at its current version's
            if row is None:
                self._conn.execute(
                    "INSERT INTO trials (trial_id, registry, current_version, content_hash,"
                    " record_json, url, first_seen, last_fetched, indexed_hash, secondary)"
                    " VALUES (?,?,?,?,?,?,?,?,NULL,?)",
                    (tid, registry, version, content_hash, record_json, url,
                     fetched_at, fetched_at, int(secondary)),
                )
            else:
                self._conn.execute(
                    "UPDATE trials SET current_version=?, content_hash=?, record_json=?, url=?,"
                    " last_fetched=?, registry=?, secondary=? WHERE trial_id=?",
                    (version, content_hash, record_json, url, fetched_at,
                     registry, int(secondary), tid),
                )
            return PutResult(tid, "new" if row is None else "changed", version)

    def touch(self, trial_ids: list[str], fetched_at: str | None = None) -> None:
        """Record that these trials were fetched again, unchanged (a bulk import that skipped
        them by content hash): ``last_fetched`` moves, nothing else."""
        stamp = fetched_at or utcnow()
        with self._tx():
            self._conn.executemany("UPDATE trials SET last_fetched=? WHERE trial_id=?",
                                   [(stamp, tid) for tid in trial_ids])

    def put_failure(
        self,
        *,
        registry: str,
        reason: str,
        raw: str | None,
        url: str | None = None,
        trial_id: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Keep a payload that could not be parsed, with why.  Text that cannot be encoded
        (a lone surrogate: often the very reason it failed) is kept with that character
        escaped (``\\ud800``), so the failure itself never fails."""
        with self._tx():
            self._conn.execute(
                "INSERT INTO failures (fetched_at, registry, trial_id, url, reason, detail, raw)"
                " VALUES (?,?,?,?,?,?,?)",
                (utcnow(), _encodable(registry), _encodable(trial_id), _encodable(url),
                 _encodable(reason), _encodable(detail), _encodable(raw)),
            )

    def add_alias(self, alias: str, trial_id: str) -> None:
        """Remember that the registry redirected ``alias`` to ``trial_id`` (a 301 alias id)."""
        if alias == trial_id:
            return
        with self._tx():
            self._conn.execute("INSERT OR REPLACE INTO aliases VALUES (?,?)", (alias, trial_id))

    def mark_indexed(self, pairs: list[tuple[str, str]]) -> None:
        """Record that the index now holds ``content_hash`` for each ``trial_id``."""
        with self._tx():
            self._conn.executemany(
                "UPDATE trials SET indexed_hash=? WHERE trial_id=?",
                [(h, tid) for tid, h in pairs],
            )

    def clear_indexed(self) -> None:
        with self._tx():
            self._conn.execute("UPDATE trials SET indexed_hash=NULL")

    def mark_unindexed(self, trial_ids: list[str]) -> None:
        """Forget that the index holds these trials, so the next ``sync_index`` rewrites them
        (``trials check --repair``)."""
        with self._tx():
            self._conn.executemany("UPDATE trials SET indexed_hash=NULL WHERE trial_id=?",
                                   [(tid,) for tid in trial_ids])

    # -- reads -----------------------------------------------------------------------------
    def resolve(self, trial_id: str) -> str | None:
        """The stored trial id for an id or a known alias, case-insensitively; None if absent."""
        for tid in (trial_id, trial_id.upper()):
            if self._conn.execute("SELECT 1 FROM trials WHERE trial_id=?", (tid,)).fetchone():
                return tid
            row = self._conn.execute(
                "SELECT trial_id FROM aliases WHERE alias=?", (tid,)
            ).fetchone()
            if row:
                return row[0]
        return None

    def registry_of(self, trial_id: str) -> str | None:
        row = self._conn.execute(
            "SELECT registry FROM trials WHERE trial_id=?", (trial_id,)
        ).fetchone()
        return row[0] if row else None

    # The current record: trials.record_json as an older trialscope wrote it (TEXT), or
    # codec.CURRENT and the current version's compressed record.
    _CURRENT = ("SELECT t.record_json, v.raw, v.record_json FROM trials t LEFT JOIN versions v"
                " ON v.trial_id=t.trial_id AND v.version=t.current_version")

    def _record_text(self, current: Any, raw: Any, version_record: Any) -> str:
        if isinstance(current, str):
            return current
        if isinstance(raw, bytes):
            raw = self._codec.decompress(raw)
        return codec.decompress_record(version_record, raw)

    def get(self, trial_id: str) -> TrialRecord | None:
        tid = self.resolve(trial_id)
        if tid is None:
            return None
        row = self._conn.execute(self._CURRENT + " WHERE t.trial_id=?", (tid,)).fetchone()
        return TrialRecord.from_dict(json.loads(self._record_text(*row)))

    def record_json(self, trial_id: str) -> str | None:
        """The current record as stored (JSON text), or None."""
        row = self._conn.execute(self._CURRENT + " WHERE t.trial_id=?", (trial_id,)).fetchone()
        return self._record_text(*row) if row else None

    def info(self, trial_id: str) -> dict[str, Any] | None:
        tid = self.resolve(trial_id)
        if tid is None:
            return None
        row = self._conn.execute(
            "SELECT trial_id, registry, current_version, content_hash, url, first_seen,"
            " last_fetched, indexed_hash FROM trials WHERE trial_id=?",
            (tid,),
        ).fetchone()
        keys = ("trial_id", "registry", "versions", "content_hash", "url", "first_seen",
                "last_fetched", "indexed_hash")
        info = dict(zip(keys, row))
        info["aliases"] = [
            r[0] for r in self._conn.execute(
                "SELECT alias FROM aliases WHERE trial_id=? ORDER BY alias", (tid,))
        ]
        return info

    def versions(self, trial_id: str) -> list[dict[str, Any]]:
        tid = self.resolve(trial_id) or trial_id
        rows = self._conn.execute(
            "SELECT version, fetched_at, content_hash, url FROM versions WHERE trial_id=?"
            " ORDER BY version",
            (tid,),
        ).fetchall()
        return [dict(zip(("version", "fetched_at", "content_hash", "url"), r)) for r in rows]

    def record_at(self, trial_id: str, version: int) -> TrialRecord | None:
        """The parsed record as stored with one version (for history and diffs)."""
        tid = self.resolve(trial_id) or trial_id
        row = self._conn.execute(
            "SELECT raw, record_json FROM versions WHERE trial_id=? AND version=?",
            (tid, version)).fetchone()
        if row is None:
            return None
        return TrialRecord.from_dict(json.loads(self._record_text(None, *row)))

    def raw(self, trial_id: str, version: int | None = None) -> str | None:
        tid = self.resolve(trial_id) or trial_id
        if version is None:
            row = self._conn.execute(
                "SELECT raw FROM versions WHERE trial_id=? ORDER BY version DESC LIMIT 1", (tid,)
            ).fetchone()
        else:
            row = self._conn.execute(
                "SELECT raw FROM versions WHERE trial_id=? AND version=?", (tid, version)
            ).fetchone()
        return self._codec.decompress(row[0]) if row else None

    def iter_records(self, *, registry: str | None = None) -> Iterator[TrialRecord]:
        sql = self._CURRENT
        args: tuple[Any, ...] = ()
        if registry:
            sql, args = sql + " WHERE t.registry=?", (registry,)
        for row in self._conn.execute(sql + " ORDER BY t.trial_id", args):
            yield TrialRecord.from_dict(json.loads(self._record_text(*row)))

    def iter_unindexed(self) -> Iterator[tuple[TrialRecord, str]]:
        """Records whose current content the index does not hold yet, with their hash."""
        cur = self._conn.execute(
            "SELECT t.record_json, v.raw, v.record_json, t.content_hash FROM trials t"
            " LEFT JOIN versions v ON v.trial_id=t.trial_id AND v.version=t.current_version"
            " WHERE t.indexed_hash IS NULL OR t.indexed_hash != t.content_hash"
            " ORDER BY t.trial_id"
        )
        for current, raw, version_record, content_hash in cur:
            text = self._record_text(current, raw, version_record)
            yield TrialRecord.from_dict(json.loads(text)), content_hash

    def versions_since(self, since: str, *, until: str | None = None) -> list[dict[str, Any]]:
        """Versions fetched at or after ``since`` (an ISO date or timestamp, compared as text
        with the UTC ``fetched_at`` stamps), oldest first: the change feed."""
        sql = ("SELECT trial_id, version, fetched_at, content_hash FROM versions"
               " WHERE fetched_at >= ?")
        args: list[Any] = [since]
        if until is not None:
            sql += " AND fetched_at < ?"
            args.append(until)
        rows = self._conn.execute(sql + " ORDER BY fetched_at, trial_id, version", args)
        keys = ("trial_id", "version", "fetched_at", "content_hash")
        return [dict(zip(keys, r)) for r in rows]

    def version_mark(self) -> int:
        """A position in the change feed: versions written later have a greater mark (the
        versions table's rowid: rows are only ever appended).  Exact where fetch times, kept
        to the second, are not."""
        return int(self._conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM versions")
                   .fetchone()[0])

    def versions_after(self, mark: int) -> list[dict[str, Any]]:
        """Versions written after ``version_mark()`` returned ``mark``, oldest first."""
        rows = self._conn.execute(
            "SELECT trial_id, version, fetched_at, content_hash FROM versions WHERE rowid > ?"
            " ORDER BY rowid", (mark,))
        keys = ("trial_id", "version", "fetched_at", "content_hash")
        return [dict(zip(keys, r)) for r in rows]

    def index_marks(self) -> dict[str, tuple[str, str | None]]:
        """trial_id -> (content_hash, indexed_hash) for every stored trial."""
        rows = self._conn.execute("SELECT trial_id, content_hash, indexed_hash FROM trials")
        return {tid: (content, indexed) for tid, content, indexed in rows}

    def integrity_problems(self) -> list[str]:
        """What is wrong inside the store itself (empty when nothing is): SQLite's own check,
        and every trial's current row agreeing with its latest version."""
        problems = [r[0] for r in self._conn.execute("PRAGMA quick_check") if r[0] != "ok"]
        rows = self._conn.execute(
            "SELECT t.trial_id, t.current_version, t.content_hash, v.content_hash,"
            " (SELECT MAX(version) FROM versions WHERE trial_id=t.trial_id),"
            " (SELECT COUNT(*) FROM versions WHERE trial_id=t.trial_id)"
            " FROM trials t LEFT JOIN versions v"
            " ON v.trial_id=t.trial_id AND v.version=t.current_version"
        )
        for tid, current, content, version_hash, latest, count in rows:
            if version_hash is None:
                problems.append(f"{tid}: current version {current} is missing")
            elif version_hash != content:
                problems.append(f"{tid}: current content differs from version {current}")
            if latest is not None and latest != current:
                problems.append(f"{tid}: current version is {current} but {latest} is stored")
            if count and latest != count:
                problems.append(f"{tid}: versions are not numbered 1..{count}")
        orphans = self._conn.execute(
            "SELECT DISTINCT trial_id FROM versions WHERE trial_id NOT IN"
            " (SELECT trial_id FROM trials)").fetchall()
        problems.extend(f"{tid}: versions without a trial row" for (tid,) in orphans)
        return problems

    def trial_ids(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT trial_id FROM trials ORDER BY trial_id")]

    def failures(self, limit: int | None = None) -> list[dict[str, Any]]:
        sql = ("SELECT id, fetched_at, registry, trial_id, url, reason, detail FROM failures"
               " ORDER BY id DESC")
        if limit:
            sql += f" LIMIT {int(limit)}"
        keys = ("id", "fetched_at", "registry", "trial_id", "url", "reason", "detail")
        return [dict(zip(keys, r)) for r in self._conn.execute(sql)]

    def counts(self) -> dict[str, int]:
        one = self._conn.execute
        return {
            "trials": one("SELECT COUNT(*) FROM trials").fetchone()[0],
            "versions": one("SELECT COUNT(*) FROM versions").fetchone()[0],
            "failures": one("SELECT COUNT(*) FROM failures").fetchone()[0],
            "aliases": one("SELECT COUNT(*) FROM aliases").fetchone()[0],
        }

    # -- cross-registry links (store/links.py computes them; these methods only keep them) ---
    def _has_links(self) -> bool:
        """Whether the link tables exist (a new store has them; a store written before they
        were part of the schema gets them at its first links refresh)."""
        return self._links_complete or self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='link_state'"
        ).fetchone() is not None

    def _ensure_link_schema(self) -> None:
        """Create whatever is missing of the link tables and indexes; called inside a links
        refresh's write transaction.  A new store has them all from the start, so this is a
        no-op there.  A store written before they were part of the store's schema gets them
        here, at its next links refresh (every import, crawl and sync ends with one; a read
        that refreshes links does it too when no write came first), never when it is opened:
        building ``trials_link_sources`` over stored trials is O(N)."""
        if self._links_complete:
            return
        if _LINK_OBJECTS <= self._schema_names():
            self._links_complete = True
            return
        # Not remembered as complete: this DDL commits or rolls back with the refresh.
        for statement in _LINK_SCHEMA:
            self._conn.execute(statement)

    @contextmanager
    def links_write(self, wait: float | None = None) -> Iterator[None]:
        """One write transaction for a links refresh, taken up front (BEGIN IMMEDIATE).
        ``wait``: seconds to wait for another writer (None: the store's own timeout); on
        timeout sqlite3.OperationalError ("database is locked") is raised."""
        if self._in_batch or self._conn.in_transaction:
            self._ensure_link_schema()
            yield
            return
        old = self._conn.execute("PRAGMA busy_timeout").fetchone()[0]
        if wait is not None:
            self._conn.execute(f"PRAGMA busy_timeout={max(0, int(wait * 1000))}")
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        finally:
            if wait is not None:
                self._conn.execute(f"PRAGMA busy_timeout={int(old)}")
        try:
            self._ensure_link_schema()
            yield
        except BaseException:
            self._conn.rollback()
            raise
        self._conn.commit()

    def stale_links(self, *, everything: bool = False
                    ) -> tuple[list[tuple[str, str, str]], list[str]]:
        """([(trial_id, registry, content_hash)] whose link keys are missing or were computed
        from other content, [trial ids with link state but no longer stored]).  Compared in
        SQL over the covering index: no record JSON is read."""
        if not self._has_links():
            rows = self._conn.execute("SELECT trial_id, registry, content_hash FROM trials")
            return [tuple(r) for r in rows], []
        sql = ("SELECT t.trial_id, t.registry, t.content_hash FROM trials t LEFT JOIN link_state l"
               " ON l.trial_id = t.trial_id")
        if not everything:
            sql += " WHERE l.content_hash IS NULL OR l.content_hash != t.content_hash"
        stale = [tuple(r) for r in self._conn.execute(sql)]
        gone = [r[0] for r in self._conn.execute(
            "SELECT trial_id FROM link_state WHERE trial_id NOT IN (SELECT trial_id FROM trials)")]
        return stale, gone

    def link_state(self) -> dict[str, tuple[str, str]]:
        """trial_id -> (content_hash the keys were computed from, group_id)."""
        if not self._has_links():
            return {}
        rows = self._conn.execute("SELECT trial_id, content_hash, group_id FROM link_state")
        return {tid: (chash, gid) for tid, chash, gid in rows}

    def link_meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key=?", (f"links_{key}",)
                                 ).fetchone()
        return row[0] if row else None

    def set_link_meta(self, key: str, value: str) -> None:
        with self._tx():
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (f"links_{key}", value))

    def change_stamp(self) -> str:
        """Changes whenever a trial or a version is written (the highest rowids: versions are
        only ever appended), in O(log n): a cheap "anything new since?" check."""
        versions = self._conn.execute("SELECT MAX(rowid) FROM versions").fetchone()[0]
        trials = self._conn.execute("SELECT MAX(rowid) FROM trials").fetchone()[0]
        return f"{versions or 0}:{trials or 0}"

    def put_link_keys(self, rows: list[tuple[str, str, str, str, list[str]]]) -> None:
        """Replace the keys of some trials: rows of (trial_id, registry, content_hash, own_key,
        keys).  Their group id is set by the next ``put_link_groups``."""
        with self._tx():
            for tid, registry, chash, own, keys in rows:
                self._conn.execute("DELETE FROM link_keys WHERE trial_id=?", (tid,))
                self._conn.executemany("INSERT OR IGNORE INTO link_keys VALUES (?,?)",
                                       [(tid, k) for k in keys])
                self._conn.execute(
                    "INSERT INTO link_state VALUES (?,?,?,?,?) ON CONFLICT(trial_id) DO UPDATE"
                    " SET registry=excluded.registry, content_hash=excluded.content_hash,"
                    " own_key=excluded.own_key", (tid, registry, chash, own, tid))

    def drop_links(self, trial_ids: list[str]) -> None:
        with self._tx():
            for tid in trial_ids:
                self._conn.execute("DELETE FROM link_keys WHERE trial_id=?", (tid,))
                self._conn.execute("DELETE FROM link_state WHERE trial_id=?", (tid,))

    def shared_link_keys(self) -> dict[str, list[str]]:
        """key -> trial ids, for the keys two or more trials hold (the only ones that link)."""
        if not self._has_links():
            return {}
        out: dict[str, list[str]] = {}
        for key, tid in self._conn.execute(
                "SELECT key, trial_id FROM link_keys WHERE key IN (SELECT key FROM link_keys"
                " GROUP BY key HAVING COUNT(*) > 1) ORDER BY key, trial_id"):
            out.setdefault(key, []).append(tid)
        return out

    def link_entries(self, trial_ids: list[str]) -> dict[str, tuple[str, str]]:
        """trial_id -> (registry, own_key) for the given trials."""
        if not self._has_links():
            return {}
        out: dict[str, tuple[str, str]] = {}
        for i in range(0, len(trial_ids), 500):
            chunk = trial_ids[i:i + 500]
            rows = self._conn.execute(
                "SELECT trial_id, registry, own_key FROM link_state WHERE trial_id IN"
                f" ({','.join('?' * len(chunk))})", chunk)
            out.update((tid, (registry, own)) for tid, registry, own in rows)
        return out

    def put_link_groups(self, groups: dict[str, str]) -> list[str]:
        """Set the group ids of linked trials (``groups``); every other trial becomes its own
        group.  Returns the trial ids whose group id changed (sorted)."""
        grouped = dict(self._conn.execute(
            "SELECT trial_id, group_id FROM link_state WHERE group_id != trial_id"))
        current = {t: grouped.get(t, t) for t in groups} | grouped
        wanted = {t: groups.get(t, t) for t in current}
        changed = sorted(t for t in current if current[t] != wanted[t])
        with self._tx():
            self._conn.executemany("UPDATE link_state SET group_id=? WHERE trial_id=?",
                                   [(wanted[t], t) for t in changed])
        return changed

    def linked_groups(self) -> dict[str, tuple[str, str]]:
        """trial_id -> (group_id, registry) for the trials of groups with two or more members
        (every other trial is its own group): small enough to hold for a whole search."""
        if not self._has_links():
            return {}
        out = {tid: (gid, registry) for tid, gid, registry in self._conn.execute(
            "SELECT trial_id, group_id, registry FROM link_state WHERE group_id != trial_id")}
        primaries = sorted({gid for gid, _registry in out.values()})
        for tid, (registry, _own) in self.link_entries(primaries).items():
            out[tid] = (tid, registry)  # a group's primary record is its own group id
        return out

    def link_group_of(self, trial_id: str) -> str | None:
        if not self._has_links():
            return None
        tid = self.resolve(trial_id) or trial_id
        row = self._conn.execute("SELECT group_id FROM link_state WHERE trial_id=?",
                                 (tid,)).fetchone()
        return row[0] if row else None

    def link_group_members(self, group_id: str) -> list[str]:
        if not self._has_links():
            return []
        rows = self._conn.execute(
            "SELECT trial_id FROM link_state WHERE group_id=? ORDER BY trial_id", (group_id,))
        return [r[0] for r in rows]

    def link_keys_of(self, trial_id: str) -> set[str]:
        if not self._has_links():
            return set()
        rows = self._conn.execute("SELECT key FROM link_keys WHERE trial_id=?", (trial_id,))
        return {r[0] for r in rows}

    def trials_with_link_key(self, key: str) -> list[str]:
        if not self._has_links():
            return []
        rows = self._conn.execute(
            "SELECT trial_id FROM link_keys WHERE key=? ORDER BY trial_id", (key,))
        return [r[0] for r in rows]
