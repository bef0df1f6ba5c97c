"""Watches (saved queries and id lists that ``trials refresh`` keeps fresh) and the refresh
runs' bookkeeping, in the store's SQLite file beside the records they describe.

Tables (store/schema.py's migration 4 makes them: with every new store, in an older store
when it is opened for writing, or here when a ``WatchBook`` finds them missing):

- ``watches``: one row per watch: what it asks the registry for, when it was created, the
  start of its last *successful* refresh (the next refresh asks for what changed since then),
  its last run's status, and ``pending_since`` / ``pending_mark``: the start of the first run
  after that success (a time, and the store's change-feed position, which is exact where
  times kept to the second are not), so changes met by a run that failed or was killed are
  still reported by the run that finally succeeds;
- ``watch_trials``: which trials each watch has brought in (first and last seen);
- ``refresh_runs``: one row per ``trials refresh``; a row still ``running`` when the next run
  starts belongs to a run that was killed.

Only the refresh writes these, under the refresh lock; reads need no lock.
"""

from __future__ import annotations

import builtins
import json
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trialscope.core.errors import TrialsError
from trialscope.parser import registries
from trialscope.store import schema
from trialscope.store.db import is_read_only_error, utcnow

REGISTRIES = registries.watchable()  # the registry table's rows marked watchable
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")

class WatchError(TrialsError):
    """A watch cannot be added, found or refreshed.  ``code``: bad_name, exists,
    unknown_watch, no_watches, bad_watch."""


@dataclass
class Watch:
    name: str
    registry: str = "ctgov"
    ids: list[str] = field(default_factory=list)
    cond: str | None = None
    intr: str | None = None
    term: str | None = None
    status: list[str] = field(default_factory=list)
    created_at: str = ""
    last_success_at: str | None = None
    last_run_at: str | None = None
    last_status: str | None = None
    pending_since: str | None = None
    pending_mark: int | None = None
    trials: int = 0  # trials this watch has brought in (watch_trials rows)

    @property
    def kind(self) -> str:
        return "ids" if self.ids else "query"

    def query(self) -> dict[str, Any]:
        if self.ids:
            return {"ids": list(self.ids)}
        return {k: v for k, v in (("cond", self.cond), ("intr", self.intr), ("term", self.term),
                                  ("status", list(self.status))) if v}

    def describe(self) -> str:
        if self.ids:
            shown = ", ".join(self.ids[:5]) + (f" (+{len(self.ids) - 5} more)"
                                               if len(self.ids) > 5 else "")
            return f"ids {shown}"
        labels = {"cond": "condition", "intr": "intervention", "term": "query",
                  "status": "status"}
        parts = []
        for key, value in self.query().items():
            text = ",".join(value) if isinstance(value, list) else value
            parts.append(f'{labels[key]}="{text}"')
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["kind"] = self.kind
        return data


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not NAME_RE.match(name):
        raise WatchError("bad_name", f"'{name}' is not a usable watch name.",
                         "Use letters, digits, '.', '_' or '-' (up to 64), starting with a "
                         "letter or digit, e.g. mg-cart.")
    return name


class WatchBook:
    """The watch and run tables of one store file.  Use as a context manager."""

    def __init__(self, store_path: str | Path) -> None:
        path = Path(store_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), timeout=30)
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            if not schema.WATCH_TABLES <= schema.names(self._conn):
                # A store last opened for writing by a trialscope without watches (a store
                # opened now is migrated by ``Store``): its tables, in one transaction.
                self._conn.execute("BEGIN IMMEDIATE")
                with self._conn:
                    schema.apply(self._conn, schema.WATCHES)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            if is_read_only_error(exc):  # read-only media or no permission: not a bad file
                raise TrialsError("read_only", f"The data home {path.parent} is read-only "
                                  f"({exc}).", "Watches need a writable data home: point "
                                  "--home at a writable folder or get write access to this "
                                  "one.") from exc
            raise TrialsError("store_error", f"{path} is not a usable trialscope store ({exc}).",
                              "Point --home at another folder or move the file away.") from exc

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> WatchBook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- watches ---------------------------------------------------------------------------
    def add(self, watch: Watch) -> Watch:
        """Save a new watch (its query already validated by the caller)."""
        check_name(watch.name)
        if watch.registry not in REGISTRIES:
            raise WatchError("bad_watch", f"Registry '{watch.registry}' cannot be watched.",
                             f"Watches support: {', '.join(REGISTRIES)}.")
        if not watch.query():
            raise WatchError("bad_watch", "A watch needs ids or a query.",
                             "Give --id, or --condition / --intervention / --query.")
        watch.created_at = watch.created_at or utcnow()
        try:
            with self._conn:
                self._conn.execute(
                    "INSERT INTO watches (name, registry, query_json, created_at,"
                    " last_success_at) VALUES (?,?,?,?,?)",
                    (watch.name, watch.registry, json.dumps(watch.query(), sort_keys=True),
                     watch.created_at, watch.last_success_at),
                )
        except sqlite3.IntegrityError:
            raise WatchError("exists", f"A watch named '{watch.name}' exists already.",
                             f"Pick another name, or remove it first: "
                             f"trials watch remove {watch.name}") from None
        return self.get(watch.name) or watch

    def exists(self, name: str) -> bool:
        return self._conn.execute("SELECT 1 FROM watches WHERE name=?", (name,)).fetchone() \
            is not None

    def get(self, name: str) -> Watch | None:
        rows = self._select("WHERE w.name=?", (name,))
        return rows[0] if rows else None

    def require(self, name: str) -> Watch:
        watch = self.get(name)
        if watch is None:
            import difflib

            names = [w.name for w in self.list()]
            close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
            hint = f"Did you mean {', '.join(repr(c) for c in close)}? " if close else ""
            known = ", ".join(names) or "none yet"
            raise WatchError("unknown_watch", f"No watch named '{name}'.",
                             f"{hint}Known watches: {known}. See 'trials watch list'.")
        return watch

    def list(self) -> list[Watch]:
        return self._select("", ())

    def remove(self, name: str) -> Watch:
        """Forget a watch (the trials it brought in stay in the store)."""
        watch = self.require(name)
        with self._conn:
            self._conn.execute("DELETE FROM watches WHERE name=?", (name,))
            self._conn.execute("DELETE FROM watch_trials WHERE watch=?", (name,))
        return watch

    def members(self, name: str) -> builtins.list[str]:
        return [r[0] for r in self._conn.execute(
            "SELECT trial_id FROM watch_trials WHERE watch=? ORDER BY trial_id", (name,))]

    def _select(self, where: str, args: tuple[Any, ...]) -> builtins.list[Watch]:
        rows = self._conn.execute(
            "SELECT w.name, w.registry, w.query_json, w.created_at, w.last_success_at,"
            " w.last_run_at, w.last_status, w.pending_since, w.pending_mark,"
            " (SELECT COUNT(*) FROM watch_trials m WHERE m.watch=w.name)"
            f" FROM watches w {where} ORDER BY w.name", args)
        out = []
        for (name, registry, query_json, created, success, run_at, status, pending, mark,
             count) in rows:
            query = json.loads(query_json)
            out.append(Watch(
                name=name, registry=registry, ids=list(query.get("ids") or []),
                cond=query.get("cond"), intr=query.get("intr"), term=query.get("term"),
                status=list(query.get("status") or []), created_at=created,
                last_success_at=success, last_run_at=run_at, last_status=status,
                pending_since=pending, pending_mark=mark, trials=count,
            ))
        return out

    # -- runs ------------------------------------------------------------------------------
    def begin_run(self, *, pid: int, host: str, started_at: str | None = None
                  ) -> tuple[int, str, builtins.list[int]]:
        """Open a run; returns (run id, start time, ids of earlier runs found still
        'running', i.e. killed, which are now marked 'interrupted')."""
        started = started_at or utcnow()
        with self._conn:
            # When the store's migration deferred it (O(N) over stored versions): the change
            # feed and this run's report read versions by fetch time.
            schema.build(self._conn, schema.VERSIONS_BY_FETCHED_AT)
            killed = [r[0] for r in self._conn.execute(
                "SELECT id FROM refresh_runs WHERE status='running' ORDER BY id")]
            self._conn.execute(
                "UPDATE refresh_runs SET status='interrupted' WHERE status='running'")
            self._conn.execute(
                "UPDATE watches SET last_status='interrupted' WHERE last_status='running'")
            cur = self._conn.execute(
                "INSERT INTO refresh_runs (started_at, status, pid, host) VALUES (?,?,?,?)",
                (started, "running", pid, host))
        return int(cur.lastrowid or 0), started, killed

    def start_watch(self, name: str, started_at: str, mark: int) -> Watch:
        """Mark a watch as being refreshed; its reporting window starts at the first run
        since its last success (``mark``: the store's ``version_mark()`` now)."""
        with self._conn:
            self._conn.execute(
                "UPDATE watches SET last_run_at=?, last_status='running',"
                " pending_since=COALESCE(pending_since, ?),"
                " pending_mark=COALESCE(pending_mark, ?) WHERE name=?",
                (started_at, started_at, mark, name))
        return self.require(name)

    def record_members(self, name: str, trial_ids: Iterable[str], seen_at: str) -> None:
        with self._conn:
            self._conn.executemany(
                "INSERT INTO watch_trials VALUES (?,?,?,?) ON CONFLICT(watch, trial_id)"
                " DO UPDATE SET last_seen=excluded.last_seen",
                [(name, tid, seen_at, seen_at) for tid in trial_ids])

    def finish_watch(self, name: str, *, status: str, success_at: str | None) -> None:
        """``success_at``: the run's start time when every crawl of the watch succeeded
        (the next refresh asks for changes since then); None leaves the last success as it
        was, so the next refresh asks again for everything this one may have missed."""
        with self._conn:
            if success_at is not None:
                self._conn.execute(
                    "UPDATE watches SET last_status=?, last_success_at=?, pending_since=NULL,"
                    " pending_mark=NULL WHERE name=?", (status, success_at, name))
            else:
                self._conn.execute("UPDATE watches SET last_status=? WHERE name=?",
                                   (status, name))

    def finish_run(self, run_id: int, *, status: str, summary: dict[str, Any]) -> None:
        with self._conn:
            self._conn.execute(
                "UPDATE refresh_runs SET status=?, finished_at=?, summary_json=? WHERE id=?",
                (status, utcnow(), json.dumps(summary, default=str), run_id))



def has_watch_tables(store_path: str | Path) -> bool:
    """Whether the store holds the watch tables, read without writing (a store last written
    by a trialscope without watches has none; ``WatchBook`` and the store's migration create
    them): listing watches, or showing changes, must not write a store that has none, as
    `trials serve` only reads."""
    try:
        conn = sqlite3.connect(f"{Path(store_path).resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND "
                            "name='watches'").fetchone() is not None
    except sqlite3.Error:
        return False
    finally:
        conn.close()




