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

from ..parser.record import TrialRecord

SCHEMA_VERSION = 1

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


class StoreError(RuntimeError):
    """The store file cannot be used (not a trialscope store, newer schema, corrupt)."""


@dataclass(frozen=True)
class PutResult:
    trial_id: str
    outcome: str  # "new" | "changed" | "unchanged" | "skipped" (a third-party copy)
    version: int


def utcnow() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Store:
    """One SQLite file.  Use as a context manager, or call ``close()``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(str(self.path), timeout=30)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
            row = self._conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            columns = {r[1] for r in self._conn.execute("PRAGMA table_info(trials)")}
            if "secondary" not in columns:  # a store written before the column existed
                self._conn.execute(
                    "ALTER TABLE trials ADD COLUMN secondary INTEGER NOT NULL DEFAULT 0")
        except sqlite3.DatabaseError as exc:
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
        self._in_batch = False

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
            with self._conn:
                yield
        finally:
            self._in_batch = False

    @contextmanager
    def _tx(self) -> Iterator[None]:
        if self._in_batch:
            yield
        else:
            with self._conn:
                yield

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
        fetched_at = fetched_at or utcnow()
        content_hash = content_hash or sha256_text(raw)
        record_json = json.dumps(record.to_dict(), ensure_ascii=False, sort_keys=True)
        tid = record.trial_id
        with self._tx():
            row = self._conn.execute(
                "SELECT current_version, content_hash, record_json, secondary FROM trials"
                " WHERE trial_id=?",
                (tid,),
            ).fetchone()
            if row is not None and secondary and not row[3]:
                return PutResult(tid, "skipped", row[0])
            if row is not None and row[1] == content_hash:
                if row[2] != record_json:
                    # Same payload, newer parser: refresh the parsed form in place (no new
                    # version: the trial did not change) and let the index pick it up.
                    self._conn.execute(
                        "UPDATE trials SET record_json=?, indexed_hash=NULL WHERE trial_id=?",
                        (record_json, tid))
                    self._conn.execute(
                        "UPDATE versions SET record_json=? WHERE trial_id=? AND version=?",
                        (record_json, tid, row[0]))
                self._conn.execute(
                    "UPDATE trials SET last_fetched=? WHERE trial_id=?", (fetched_at, tid)
                )
                return PutResult(tid, "unchanged", row[0])
            version = 1 if row is None else row[0] + 1
            self._conn.execute(
                "INSERT INTO versions VALUES (?,?,?,?,?,?,?)",
                (tid, version, fetched_at, content_hash, source_url or record.url, raw,
                 record_json),
            )
            if row is None:
                self._conn.execute(
                    "INSERT INTO trials (trial_id, registry, current_version, content_hash,"
                    " record_json, url, first_seen, last_fetched, indexed_hash, secondary)"
                    " VALUES (?,?,?,?,?,?,?,?,NULL,?)",
                    (tid, record.registry, version, content_hash, record_json, record.url,
                     fetched_at, fetched_at, int(secondary)),
                )
            else:
                self._conn.execute(
                    "UPDATE trials SET current_version=?, content_hash=?, record_json=?, url=?,"
                    " last_fetched=?, registry=?, secondary=? WHERE trial_id=?",
                    (version, content_hash, record_json, record.url, fetched_at,
                     record.registry, int(secondary), tid),
                )
            return PutResult(tid, "new" if row is None else "changed", version)

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
        """Keep a payload that could not be parsed, with why."""
        with self._tx():
            self._conn.execute(
                "INSERT INTO failures (fetched_at, registry, trial_id, url, reason, detail, raw)"
                " VALUES (?,?,?,?,?,?,?)",
                (utcnow(), registry, trial_id, url, reason, detail, raw),
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

    def get(self, trial_id: str) -> TrialRecord | None:
        tid = self.resolve(trial_id)
        if tid is None:
            return None
        row = self._conn.execute(
            "SELECT record_json FROM trials WHERE trial_id=?", (tid,)
        ).fetchone()
        return TrialRecord.from_dict(json.loads(row[0]))

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
            "SELECT record_json FROM versions WHERE trial_id=? AND version=?", (tid, version)
        ).fetchone()
        return TrialRecord.from_dict(json.loads(row[0])) if row else None

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
        return row[0] if row else None

    def iter_records(self, *, registry: str | None = None) -> Iterator[TrialRecord]:
        sql = "SELECT record_json FROM trials"
        args: tuple[Any, ...] = ()
        if registry:
            sql, args = sql + " WHERE registry=?", (registry,)
        for (text,) in self._conn.execute(sql + " ORDER BY trial_id", args):
            yield TrialRecord.from_dict(json.loads(text))

    def iter_unindexed(self) -> Iterator[tuple[TrialRecord, str]]:
        """Records whose current content the index does not hold yet, with their hash."""
        cur = self._conn.execute(
            "SELECT record_json, content_hash FROM trials"
            " WHERE indexed_hash IS NULL OR indexed_hash != content_hash ORDER BY trial_id"
        )
        for text, content_hash in cur:
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
