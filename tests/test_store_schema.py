"""The store file's schema (store/schema.py): the only place DDL lives, numbered migrations
1..N, stores of every older shape opened, migrated and kept, newer stores refused, read-only
readers never writing.

The older shapes are made here the way the code of their time made them: schema 1 without
``trials.secondary`` from that era's statements (below), the others with the first k
migrations; rows are TEXT, as schema 1 wrote them (every later trialscope reads them as
they are)."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.test_architecture import MODULES
from trialscope.core.record import TrialRecord
from trialscope.store import db, schema
from trialscope.store.db import Store, StoreError
from trialscope.store.links import refresh_links
from trialscope.store.watches import WatchBook, has_watch_tables

_DDL = re.compile(r"\b(CREATE|ALTER|DROP)\s+(UNIQUE\s+|TEMP\s+|TEMPORARY\s+|VIRTUAL\s+)?"
                  r"(TABLE|INDEX|VIEW|TRIGGER)\b", re.I)
_DEFERRED = {schema.LINK_SOURCES.name, schema.VERSIONS_BY_FETCHED_AT.name}

# The trials table as trialscope wrote it before ``secondary`` (schema 1, before a641b25).
_TRIALS_BEFORE_SECONDARY = """CREATE TABLE trials (
    trial_id TEXT PRIMARY KEY, registry TEXT NOT NULL, current_version INTEGER NOT NULL,
    content_hash TEXT NOT NULL, record_json TEXT NOT NULL, url TEXT, first_seen TEXT NOT NULL,
    last_fetched TEXT NOT NULL, indexed_hash TEXT)"""


# -- the rules -------------------------------------------------------------------------------

def test_the_migrations_are_numbered_1_to_n_without_gaps() -> None:
    numbers = [m.number for m in schema.MIGRATIONS]
    assert numbers == list(range(1, len(numbers) + 1))
    assert schema.SCHEMA_VERSION == numbers[-1] == db.SCHEMA_VERSION
    assert all(m.description and (m.statements or m.step) for m in schema.MIGRATIONS)
    assert schema.LINKS.deferred == (schema.LINK_SOURCES,)
    assert schema.WATCHES.deferred == (schema.VERSIONS_BY_FETCHED_AT,)


# Modules that write SQLite files that are not the store, and why.
NOT_THE_STORE = {
    "trialscope.index.drugnames": "a derived cache in the user's cache folder, rebuilt from "
                                  "the drug dictionary package's data file, never migrated",
}


def test_no_ddl_outside_store_schema() -> None:
    assert _DDL.search('conn.execute("create index if not exists x ON t (a)")')  # it can fail
    assert not _DDL.search("Drop --offline, or drop --save-as; create the index later")
    assert set(NOT_THE_STORE) <= set(MODULES)
    found = []
    for name, path in MODULES.items():
        if name == "trialscope.store.schema" or name in NOT_THE_STORE:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _DDL.search(line):
                found.append(f"{path}:{number}: {line.strip()}")
    assert "trialscope.store.schema" in MODULES and "trialscope.store.db" in MODULES
    assert found == [], "DDL belongs in store/schema.py (a numbered migration):\n" + \
        "\n".join(found)


# -- helpers ---------------------------------------------------------------------------------

def _ddl(statements: list[str]) -> list[str]:
    return [s for s in statements if _DDL.search(s)]


def _objects(path: Path) -> dict[str, Any]:
    """name -> (type, columns) of every table and index in the file."""
    conn = sqlite3.connect(path)
    try:
        out: dict[str, Any] = {}
        for kind, name in conn.execute("SELECT type, name FROM sqlite_master"):
            pragma = "table_info" if kind == "table" else "index_info"
            out[name] = (kind, [tuple(r) for r in conn.execute(f"PRAGMA {pragma}({name})")])
        return out
    finally:
        conn.close()


def _version(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0]
    finally:
        conn.close()


def _record(tid: str, title: str) -> TrialRecord:
    return TrialRecord(trial_id=tid, registry="ctgov", title=title, status="RECRUITING")


_ROWS = {"NCT00000001": "Étude un", "NCT00000002": "Second trial"}


def _old_store(path: Path, version: int) -> None:
    """A store as the code of schema ``version`` left it, holding ``_ROWS`` (TEXT rows, an
    alias, a failure).  0: schema 1 from before ``trials.secondary``."""
    conn = sqlite3.connect(path)
    with conn:
        if version == 0:
            for statement in schema.MIGRATIONS[0].statements:
                if " trials (" in statement:
                    statement = _TRIALS_BEFORE_SECONDARY
                conn.execute(statement)
        for migration in schema.MIGRATIONS[:version]:
            schema.apply(conn, migration)
        conn.execute("INSERT INTO meta VALUES ('schema', ?)", (str(max(version, 1)),))
        for tid, title in _ROWS.items():
            text = json.dumps(_record(tid, title).to_dict(), ensure_ascii=False, sort_keys=True)
            raw = json.dumps({"id": tid, "t": title}, ensure_ascii=False)
            digest = hashlib.sha256(raw.encode()).hexdigest()
            conn.execute("INSERT INTO trials (trial_id, registry, current_version, content_hash,"
                         " record_json, url, first_seen, last_fetched) VALUES"
                         " (?, 'ctgov', 1, ?, ?, NULL, '2024-01-01', '2024-01-01')",
                         (tid, digest, text))
            conn.execute("INSERT INTO versions VALUES (?, 1, '2024-01-01', ?, NULL, ?, ?)",
                         (tid, digest, raw, text))
        conn.execute("INSERT INTO aliases VALUES ('NCT00000009', 'NCT00000001')")
        conn.execute("INSERT INTO failures (fetched_at, registry, reason, raw) VALUES"
                     " ('2024-01-01', 'ctgov', 'invalid_json', '{oops')")
    conn.close()


def _assert_rows_kept(store: Store) -> None:
    assert [r.trial_id for r in store.iter_records()] == list(_ROWS)
    for tid, title in _ROWS.items():
        assert store.get(tid) == _record(tid, title)
        assert store.raw(tid, 1) == json.dumps({"id": tid, "t": title}, ensure_ascii=False)
    assert store.resolve("NCT00000009") == "NCT00000001"
    assert store.failures()[0]["reason"] == "invalid_json"
    assert store.counts() == {"trials": 2, "versions": 2, "failures": 1, "aliases": 1}
    assert store.integrity_problems() == []


# -- a new store, a current store ------------------------------------------------------------

def test_a_new_store_gets_every_migration_at_once(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    Store(path).close()
    assert _version(path) == str(schema.SCHEMA_VERSION)
    names = set(_objects(path))
    # the deferred indexes too: built while their tables were empty (O(1))
    assert schema.CORE_TABLES | schema.LINK_OBJECTS | schema.WATCH_TABLES | _DEFERRED | {
        "zdicts"} <= names
    assert has_watch_tables(path)


def test_opening_a_current_store_and_its_watch_book_runs_no_ddl(
        tmp_path: Path, statements: list[str]) -> None:
    path = tmp_path / "s.sqlite"
    Store(path).close()
    before = _objects(path)
    statements.clear()
    with Store(path) as store, WatchBook(path) as book:
        book.begin_run(pid=1, host="h")
        assert store.counts()["trials"] == 0 and book.list() == []
    Store(path, readonly=True).close()
    assert statements and _ddl(statements) == []
    assert _objects(path) == before


# -- older shapes ----------------------------------------------------------------------------

@pytest.mark.parametrize("version", [0, 1, 2, 3],
                         ids=["schema1-no-secondary", "schema1-no-zdicts", "schema2-no-links",
                              "schema3-no-watches"])
def test_an_older_store_opens_migrates_and_keeps_its_rows(
        tmp_path: Path, statements: list[str], version: int) -> None:
    new = tmp_path / "new.sqlite"
    Store(new).close()
    current = _objects(new)
    path = tmp_path / "old.sqlite"
    _old_store(path, version)
    statements.clear()
    with Store(path) as store:
        _assert_rows_kept(store)
    assert _version(path) == str(schema.SCHEMA_VERSION)
    assert _ddl(statements)  # migrated when opened for writing...
    migrated = _objects(path)
    # ...to the current layout, bar the indexes deferred over stored rows (O(N))
    assert {n: v for n, v in current.items() if n not in _DEFERRED} == \
        {n: v for n, v in migrated.items() if n not in _DEFERRED}
    deferred = {d.name for m in schema.MIGRATIONS[version:] for d in m.deferred}
    assert deferred and not deferred & set(migrated)
    statements.clear()
    with Store(path) as store:  # current now: opening it again runs no DDL
        _assert_rows_kept(store)
        assert store.put_record(_record("NCT00000003", "New"), "{}").outcome == "new"
        assert _ddl(statements) == []
        # the next links refresh builds trials_link_sources...
        assert refresh_links(store).updated == 3
    with WatchBook(path) as book:  # ...and the next refresh run versions_by_fetched_at
        book.begin_run(pid=1, host="h")
    assert _objects(path) == current
    with Store(path, readonly=True) as store:
        assert store.get("NCT00000003") == _record("NCT00000003", "New")


def test_the_schema1_fixture_store_migrates(tmp_path: Path) -> None:
    """The file the schema 1 code wrote (``fixtures/store/schema1-store.sqlite``: secondary
    and link tables, no zdicts, no watch tables)."""
    source = Path(__file__).resolve().parents[1] / "fixtures" / "store" / "schema1-store.sqlite"
    path = tmp_path / "old.sqlite"
    path.write_bytes(source.read_bytes())
    assert not has_watch_tables(path)
    Store(path).close()
    assert _version(path) == str(schema.SCHEMA_VERSION)
    assert {"zdicts"} | schema.WATCH_TABLES <= set(_objects(path))
    assert has_watch_tables(path)


def test_read_only_readers_never_migrate(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    _old_store(path, 2)  # no link tables, no watch tables
    before = path.read_bytes()
    with Store(path, readonly=True) as store:
        _assert_rows_kept(store)
        assert store.link_group_of("NCT00000001") is None
    assert not has_watch_tables(path)
    assert path.read_bytes() == before


def test_read_only_refuses_a_store_that_lacks_what_a_read_needs(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    _old_store(path, 0)  # no trials.secondary
    before = path.read_bytes()
    with pytest.raises(StoreError, match="was written by an older trialscope and must be "
                                         "upgraded once where it can be written"):
        Store(path, readonly=True)
    assert path.read_bytes() == before


def test_a_watch_book_on_a_store_without_watch_tables_adds_only_them(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    _old_store(path, 3)
    with WatchBook(path) as book:
        assert book.list() == []
    assert has_watch_tables(path)
    assert _version(path) == "3"  # the rest of the migration is the Store's
    assert schema.VERSIONS_BY_FETCHED_AT.name not in _objects(path)  # not over stored rows


# -- newer and unusable stores ---------------------------------------------------------------

def _set_version(path: Path, value: str) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE meta SET value=? WHERE key='schema'", (value,))
    conn.close()


@pytest.mark.parametrize("readonly", [False, True], ids=["write", "read-only"])
def test_a_newer_store_is_refused_and_left_as_it_is(tmp_path: Path, statements: list[str],
                                                    readonly: bool) -> None:
    path = tmp_path / "s.sqlite"
    Store(path).close()
    newer = schema.SCHEMA_VERSION + 1
    _set_version(path, str(newer))
    before = _objects(path)
    statements.clear()
    with pytest.raises(StoreError, match=re.escape(
            f"was written by a newer trialscope (schema {newer}); upgrade trialscope")):
        Store(path, readonly=readonly)
    assert _ddl(statements) == [] and _objects(path) == before
    assert _version(path) == str(newer)


@pytest.mark.parametrize("readonly", [False, True], ids=["write", "read-only"])
def test_a_version_that_is_not_a_number_is_a_clear_error(tmp_path: Path, readonly: bool) -> None:
    path = tmp_path / "s.sqlite"
    Store(path).close()
    _set_version(path, "two")
    with pytest.raises(StoreError, match="is not a usable trialscope store .*'two' is not a "
                                         "number"):
        Store(path, readonly=readonly)
