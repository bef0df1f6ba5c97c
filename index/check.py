"""``trials check``: does the search index hold exactly what the store holds?  And repair it.

The store is the system of record; the index is a projection of it.  The check compares:

- the store with itself: SQLite's quick_check, and every trial's current row agreeing with its
  latest version (a problem here is reported; the index cannot repair the store);
- ids: every stored trial has exactly one index document, and the index has no others;
- content: each document's stored fields equal what the store's current record would index
  (``record_to_doc``), so an index left behind by an interrupted write or restored from an old
  backup is caught even where the store's "indexed" marks say all is well;
- marks: trials whose current content the store knows is not indexed yet (a refresh or crawl
  stopped between writing the store and syncing the index).

``repair`` removes extra and duplicate documents, marks every disagreeing trial unindexed and
syncs them from the store (or rebuilds the whole index when it is absent, outdated or
unreadable), then checks again.
"""

from __future__ import annotations

import gc
import logging
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from whoosh.index import LockError

from trialscope.index import indexer
from trialscope.index.schema import build_schema, record_to_doc
from trialscope.store.db import Store

log = logging.getLogger(__name__)

SHOWN = 20  # ids listed per problem in the human report (the JSON lists them all)


@dataclass
class CheckReport:
    store_trials: int = 0
    store_versions: int = 0
    index_docs: int = 0
    index_state: str = "ok"  # ok | absent | outdated | unreadable
    index_error: str | None = None
    missing: list[str] = field(default_factory=list)  # stored, not in the index
    extra: list[str] = field(default_factory=list)  # in the index, not stored
    duplicates: list[str] = field(default_factory=list)  # more than one document
    stale: list[str] = field(default_factory=list)  # document differs from the stored record
    unsynced: list[str] = field(default_factory=list)  # the store knows the index lacks them
    store_problems: list[str] = field(default_factory=list)
    repaired: dict[str, Any] | None = None  # what --repair did; the lists are after it

    refresh_running: dict[str, Any] | None = None  # the lock holder, if a refresh runs now
    # folders a killed rebuild left beside the index (listed when no writer runs; --repair
    # removes them, a reindex too)
    leftovers: list[str] = field(default_factory=list)
    cleaned: list[str] = field(default_factory=list)  # what --repair removed of them

    @property
    def ok(self) -> bool:
        return self.index_state == "ok" and not self.store_problems and not any(
            (self.missing, self.extra, self.duplicates, self.stale, self.unsynced,
             self.leftovers))

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data

    def problems(self) -> list[str]:
        """One line per kind of disagreement, for people."""
        lines = []
        if self.index_state != "ok":
            lines.append(f"index {self.index_state}" + (f" ({self.index_error})"
                                                       if self.index_error else ""))
        for label, ids in (("stored but not in the index", self.missing),
                           ("in the index but not stored", self.extra),
                           ("indexed more than once", self.duplicates),
                           ("indexed with content that differs from the store", self.stale),
                           ("not indexed yet (an interrupted crawl or refresh)", self.unsynced)):
            if ids:
                shown = ", ".join(ids[:SHOWN]) + (f", ... (+{len(ids) - SHOWN})"
                                                  if len(ids) > SHOWN else "")
                lines.append(f"{len(ids)} {label}: {shown}")
        lines.extend(f"store: {p}" for p in self.store_problems[:SHOWN])
        if self.leftovers:
            lines.append(f"{len(self.leftovers)} folder(s) left by an interrupted rebuild: "
                         + ", ".join(self.leftovers[:SHOWN]))
        return lines


def check_store_and_index(store: Store, index_dir: Any) -> CheckReport:
    report = CheckReport()
    counts = store.counts()
    report.store_trials, report.store_versions = counts["trials"], counts["versions"]
    report.store_problems = store.integrity_problems()
    marks = store.index_marks()
    report.unsynced = sorted(tid for tid, (content, indexed) in marks.items()
                             if indexed != content)
    try:
        ix, error = _open_quietly(index_dir)
    except indexer.NoIndexError as exc:
        absent = "No search index" in str(exc)
        report.index_state = "absent" if absent else "outdated"
        if absent and not marks:
            report.index_state = "ok"  # an empty store needs no index
        report.missing = sorted(marks)
        return report
    if ix is None:
        report.index_state, report.index_error = "unreadable", error
        report.missing = sorted(marks)
        return report
    try:
        docs = _read_docs(ix)
    except Exception as exc:  # noqa: BLE001
        report.index_state, report.index_error = "unreadable", f"{type(exc).__name__}: {exc}"
        report.missing = sorted(marks)
        return report
    finally:
        ix.close()
    stored_names = {name for name, fld in build_schema().items() if fld.stored}
    ids: Counter[Any] = Counter(doc.get("trial_id") for doc in docs)  # as the index holds them
    report.index_docs = len(docs)
    report.duplicates = sorted(tid for tid, n in ids.items() if n > 1)
    report.extra = sorted(tid for tid in ids if tid not in marks)
    report.missing = sorted(tid for tid in marks if tid not in ids)
    unsynced = set(report.unsynced)
    by_id = {doc.get("trial_id"): doc for doc in docs}
    stale = []
    for record in store.iter_records():
        tid = record.trial_id
        if tid not in by_id or tid in unsynced or ids[tid] > 1:
            continue
        expected = {k: v for k, v in record_to_doc(record).items() if k in stored_names}
        if by_id[tid] != expected:
            stale.append(tid)
    report.stale = stale
    return report


def _open_quietly(index_dir: Any) -> tuple[Any, str | None]:
    """The index, or (None, why) when it is damaged.  Whoosh leaves a file open when it
    fails to read a damaged table of contents; that handle is closed here, quietly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            return indexer.open_index(index_dir), None
        except indexer.NoIndexError:
            raise
        except Exception as exc:  # noqa: BLE001 (a damaged index fails in many ways)
            error = f"{type(exc).__name__}: {exc}"
        gc.collect()
    return None, error


def _read_docs(ix: Any) -> list[dict[str, Any]]:
    with ix.reader() as reader:
        return [dict(fields) for _, fields in reader.iter_docs()]


def repair_index(store: Store, index_dir: Any, report: CheckReport) -> dict[str, Any]:
    """Make the index agree with the store; returns what was done."""
    done: dict[str, Any] = {"rebuilt": False, "deleted": 0, "reindexed": 0}
    if report.index_state != "ok":
        done["rebuilt"] = True
        done["reindexed"] = indexer.rebuild_index(store, index_dir)
        return done
    delete = sorted(set(report.extra) | set(report.duplicates))
    if delete:
        ix = indexer.open_index(index_dir)
        try:
            try:
                writer = ix.writer(timeout=indexer.LOCK_TIMEOUT, delay=0.25)
            except LockError as exc:
                raise indexer.IndexBusyError(
                    f"The search index at {index_dir} is being written by another trialscope "
                    "process. Wait for it to finish and try again.") from exc
            try:
                for tid in delete:
                    writer.delete_by_term("trial_id", tid)
            except BaseException:
                writer.cancel()
                raise
            writer.commit()
        finally:
            ix.close()
        done["deleted"] = len(delete)
    again = sorted(set(report.missing) | set(report.stale) | set(report.duplicates)
                   | set(report.unsynced))
    store.mark_unindexed(again)
    done["reindexed"] = indexer.sync_index(store, index_dir)
    log.info("index repaired: %s", done)
    return done


