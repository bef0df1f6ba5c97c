"""``trials check [--repair]``: is the index in step with the store, and the repair."""

from __future__ import annotations

from trialscope.index import indexer
from trialscope.index.check import CheckReport, check_store_and_index, repair_index
from trialscope.store.access import check_home, home_write_error, open_store, read_store
from trialscope.store.home import DataHome
from trialscope.store.lock import LOCK_NAME, LockHeld, RefreshLock

__all__ = ["CheckReport", "LockHeld", "check"]


def check(home: DataHome, *, repair: bool = False, lock_max_age: float | None = None
          ) -> CheckReport:
    """Check (and with ``repair``, fix) one data home.

    A repair takes the refresh lock (``LockHeld`` if a refresh runs): it must not write the
    index while a refresh does.  Under it, folders left by a killed rebuild are removed first.
    A plain check only reads (a store that cannot be written is opened read-only); while a
    refresh runs its answer may be a moment out of date, and ``refresh_running`` says so.
    A data home that cannot be written makes a repair a ``TrialsError`` (``read_only``).
    """

    check_home(home)
    lock = RefreshLock(home.root / LOCK_NAME, command="check --repair", max_age=lock_max_age)
    cleaned: list[str] = []
    if repair:
        try:
            home.root.mkdir(parents=True, exist_ok=True)
            lock.acquire()
        except OSError as exc:
            raise home_write_error(home, exc) from exc
    try:
        if repair:
            cleaned = indexer.clean_leftovers(home.index_dir)
        opened = open_store(home) if repair or not home.store_path.exists() \
            else read_store(home)
        with opened as store:
            report = check_store_and_index(store, home.index_dir)
            if repair and not report.ok:
                done = repair_index(store, home.index_dir, report)
                report = check_store_and_index(store, home.index_dir)
                report.repaired = done
        if not repair:
            holder = lock.holder()
            report.refresh_running = holder.to_dict() if holder else None
            if holder is None:  # no writer runs: a rebuild folder now is a dead run's
                report.leftovers = [str(p) for p in indexer.leftovers(home.index_dir)]
        report.cleaned = cleaned
    finally:
        lock.release()
    return report
