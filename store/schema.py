"""The store file's schema: every CREATE and ALTER statement trialscope runs on
``store.sqlite``, as numbered migrations, and the version record.

The store's version is the ``meta`` row ``'schema'``: the number of the last migration applied.
A writer (``Store``) opening a store below ``SCHEMA_VERSION`` applies the migrations above its
number, in order, in one transaction, and records the new number; a store at
``SCHEMA_VERSION`` runs no DDL at all when opened; a new store gets every migration at once.
A store above ``SCHEMA_VERSION`` was written by a newer trialscope and is refused, so code
never misreads a layout it does not know (the schema 2 code refuses schema 3 and 4 stores:
upgrade, do not downgrade).  Every migration is written to be safe on a store that already
holds some of what it makes (``IF NOT EXISTS``; a column added only when absent): the numbers
came after the tables, and stores of one number differ in what later migrations add.

Read-only readers (``Store(readonly=True)``, ``trials serve``, ``has_watch_tables``) never
migrate: they read what the file holds (a schema 1 store's TEXT rows, a store without link or
watch tables), and refuse only a store lacking what a read needs (``Migration.readable``),
with "must be upgraded once where it can be written".

One kind of object is not built when a store is opened: an index over a table that may
already hold many rows (``Deferred``).  Building it reads every row (O(N): most of a minute at
100k trials), so a migration builds it only while its table is empty (a new store) and
otherwise leaves it to its owner, at a moment the user already waits for:
``trials_link_sources`` at the next links refresh (``Store._ensure_link_schema``),
``versions_by_fetched_at`` at the next refresh run (``WatchBook.begin_run``).  SQLite keeps an
index up to date once it exists.

Stores that were written by the schema 1 code and the schema 2 code, and what they may lack:

- 1: the core tables; perhaps no ``trials.secondary`` (written before it existed), no link
  tables, no watch tables (uncompressed TEXT rows: read as they are, for ever);
- 2: the core tables with ``secondary``, ``zdicts``; perhaps no link or watch tables.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

CORE_TABLES = frozenset({"meta", "trials", "versions", "aliases", "failures"})

_CORE = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS trials (
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
)""",
    """CREATE TABLE IF NOT EXISTS versions (
    trial_id     TEXT NOT NULL,
    version      INTEGER NOT NULL,
    fetched_at   TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    url          TEXT,
    raw          TEXT NOT NULL,
    record_json  TEXT NOT NULL,
    PRIMARY KEY (trial_id, version)
)""",
    "CREATE TABLE IF NOT EXISTS aliases (alias TEXT PRIMARY KEY, trial_id TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS failures (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    fetched_at TEXT NOT NULL,
    registry   TEXT NOT NULL,
    trial_id   TEXT,
    url        TEXT,
    reason     TEXT NOT NULL,
    detail     TEXT,
    raw        TEXT
)""",
)
_ZDICTS = ("CREATE TABLE IF NOT EXISTS zdicts (dict_id INTEGER PRIMARY KEY, kind TEXT NOT NULL,"
           " data BLOB NOT NULL)")
_SECONDARY = "ALTER TABLE trials ADD COLUMN secondary INTEGER NOT NULL DEFAULT 0"

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

# Watches and the refresh runs' bookkeeping (store/watches.py describes them).
_WATCH_TABLES = (
    """CREATE TABLE IF NOT EXISTS watches (
    name            TEXT PRIMARY KEY,
    registry        TEXT NOT NULL,
    query_json      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    last_success_at TEXT,
    last_run_at     TEXT,
    last_status     TEXT,
    pending_since   TEXT,
    pending_mark    INTEGER
)""",
    """CREATE TABLE IF NOT EXISTS watch_trials (
    watch      TEXT NOT NULL,
    trial_id   TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen  TEXT NOT NULL,
    PRIMARY KEY (watch, trial_id)
)""",
    """CREATE TABLE IF NOT EXISTS refresh_runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    status       TEXT NOT NULL,
    pid          INTEGER,
    host         TEXT,
    summary_json TEXT
)""",
)


@dataclass(frozen=True)
class Deferred:
    """An index over a table a store may already hold many rows of: a migration builds it
    only while ``table`` is empty; otherwise its owner builds it later (``build``)."""

    name: str
    table: str
    sql: str
    built_by: str  # where it is built on a store that had rows: documentation


# Covers ``Store.stale_links``: the staleness check then reads this index, not the rows (which
# hold the record JSON: ~300x more pages).
LINK_SOURCES = Deferred(
    "trials_link_sources", "trials",
    "CREATE INDEX IF NOT EXISTS trials_link_sources ON trials (trial_id, registry, content_hash)",
    "Store._ensure_link_schema, inside a links refresh's write transaction")
# The change feed (`trials changes --since`) and each refresh's report read versions by fetch
# time.
VERSIONS_BY_FETCHED_AT = Deferred(
    "versions_by_fetched_at", "versions",
    "CREATE INDEX IF NOT EXISTS versions_by_fetched_at ON versions(fetched_at)",
    "WatchBook.begin_run, as a refresh run starts")


def _has_secondary(conn: sqlite3.Connection) -> bool:
    return any(r[1] == "secondary" for r in conn.execute("PRAGMA table_info(trials)"))


def _add_secondary(conn: sqlite3.Connection) -> None:
    if not _has_secondary(conn):  # a store written before the column existed
        conn.execute(_SECONDARY)


@dataclass(frozen=True)
class Migration:
    """One step of the store's schema.  ``statements`` run in order, then ``step`` (for a
    change that must look before it acts), then each ``deferred`` index whose table is empty.
    ``readable``: whether a read-only reader can use a store this migration was not applied
    to (None: it always can)."""

    number: int
    description: str
    statements: tuple[str, ...] = ()
    step: Callable[[sqlite3.Connection], None] | None = None
    deferred: tuple[Deferred, ...] = ()
    readable: Callable[[sqlite3.Connection], bool] | None = None


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "the core tables: meta, trials, versions, aliases, failures", _CORE),
    Migration(2, "compressed rows: the zstd dictionaries (zdicts); trials.secondary where a "
              "store was written before it", (_ZDICTS,), step=_add_secondary,
              readable=_has_secondary),
    Migration(3, "cross-registry links: link_state, link_keys and their indexes, and "
              "trials_link_sources (deferred)", _LINK_TABLES, deferred=(LINK_SOURCES,)),
    Migration(4, "watches and refresh runs: watches, watch_trials, refresh_runs, and "
              "versions_by_fetched_at (deferred)", _WATCH_TABLES,
              deferred=(VERSIONS_BY_FETCHED_AT,)),
)
SCHEMA_VERSION = MIGRATIONS[-1].number
LINKS, WATCHES = MIGRATIONS[2], MIGRATIONS[3]  # what Store and WatchBook complete themselves

LINK_OBJECTS = frozenset({"link_state", "link_state_group", "link_state_linked", "link_keys",
                          "link_keys_key", LINK_SOURCES.name})
WATCH_TABLES = frozenset({"watches", "watch_trials", "refresh_runs"})


def names(conn: sqlite3.Connection) -> set[str]:
    """Names of the tables and indexes in the file (one read of sqlite_master)."""
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}


def stored_version(conn: sqlite3.Connection, present: set[str]) -> int:
    """The store's version: its ``meta`` 'schema' row; 0 for a file without the core tables
    (a new store) or without the row.  ``ValueError`` when the row is not a number."""
    if not CORE_TABLES <= present:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
    if row is None:
        return 0
    try:
        return int(row[0])
    except (TypeError, ValueError):
        raise ValueError(f"its schema version {row[0]!r} is not a number") from None


def unreadable(conn: sqlite3.Connection, version: int) -> list[Migration]:
    """The migrations a store of ``version`` lacks that a read-only reader cannot do without."""
    return [m for m in MIGRATIONS
            if m.number > version and m.readable is not None and not m.readable(conn)]


def migrate(conn: sqlite3.Connection) -> tuple[int, set[str]]:
    """Bring the store to ``SCHEMA_VERSION``: the migrations above its version, in one write
    transaction (taken up front, so two processes opening an old store at once migrate it
    once), then the new version recorded.  Returns the version found (before migrating) and
    the names of the file's tables and indexes (after); a store already current is only
    read, and one above ``SCHEMA_VERSION`` is left as it is (the caller refuses it)."""
    present = names(conn)
    found = stored_version(conn, present)
    if found >= SCHEMA_VERSION:
        return found, present
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = stored_version(conn, names(conn))  # another process may have migrated it
        if version < SCHEMA_VERSION:
            for migration in MIGRATIONS[version:]:
                apply(conn, migration)
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)",
                         (str(SCHEMA_VERSION),))
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
    return found, names(conn)


def apply(conn: sqlite3.Connection, migration: Migration, *, deferred: bool = False) -> None:
    """Run one migration's statements and step; its deferred indexes too when their table is
    empty, or always with ``deferred`` (their owner's moment), never when their table is
    absent (a file holding only watch tables).  Inside the caller's transaction; safe to run
    again."""
    for statement in migration.statements:
        conn.execute(statement)
    if migration.step is not None:
        migration.step(conn)
    present = names(conn) if migration.deferred else set()
    for index in migration.deferred:
        if index.table in present and (deferred or _empty(conn, index.table)):
            conn.execute(index.sql)


def _empty(conn: sqlite3.Connection, table: str) -> bool:
    return conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is None


def build(conn: sqlite3.Connection, index: Deferred) -> None:
    """Build a deferred index if its table is there and it is not (O(N) over the table's
    rows), inside the caller's transaction."""
    present = names(conn)
    if index.name not in present and index.table in present:
        conn.execute(index.sql)
