"""``trials refresh``: bring every watch up to date, in one Scrapy process, then the index.

For each watch (see ``store/watches.py``) the refresh plans its crawl(s):

- never refreshed successfully (or ``full``): the whole query, or every id by ``/studies/{id}``
  (a 404 there is a trial gone from the registry, a 301 an alias);
- otherwise only what changed: the query plus
  ``filter.advanced=AREA[LastUpdatePostDate]RANGE[since,MAX]``, where ``since`` is the day of
  the last successful refresh minus ``SAFETY_OVERLAP_DAYS`` (the filter has day granularity
  and the registry's day is not UTC's); an id watch asks ``filter.ids=...`` with the same
  filter (the API matches ids and their aliases), so an unchanged list of 200 trials costs one
  page.  Ids a watch lists but the store lacks are fetched one by one.  A query with a status
  filter also asks for its known trials changed since (the same ``filter.ids`` search): a
  trial that leaves the filter (recruiting -> completed) is what its watcher wants to hear.

The crawls run one after another in one Scrapy process (``refresh_session``).  The store
writes a new version only when content changed; the index is then synced incrementally from
the store.

Nothing is lost if the refresh dies at any point (``kill -9`` included): store writes are
transactions, the index is synced from the store's "indexed" marks (``iter_unindexed``), and a
watch's last-success time only moves at the very end, for a watch whose crawls all succeeded;
the next refresh asks for the same window again.

Parts: the Scrapy process is ``refresh_session``, the report and exit codes (``EXIT_*``)
``refresh_report``; planning and the run itself are here.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from trialscope.app import service as index_service
from trialscope.app.refresh_report import (
    EXIT_FAILED,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    RefreshReport,
    WatchReport,
    conclude,
    watch_report,
)
from trialscope.app.summary import CrawlReport
from trialscope.core.errors import TrialsError
from trialscope.core.vocab import OPEN_STATUSES
from trialscope.crawler.ctgov_args import CrawlArgumentError, CtgovArgs
from trialscope.crawler.plan import CrawlPlan
from trialscope.crawler.session import TRANSIENT_DROPS, CrawlOutcome, CrawlSession
from trialscope.store.db import Store, utcnow
from trialscope.store.home import DataHome
from trialscope.store.lock import LOCK_NAME, LockHeld, LockInfo, RefreshLock
from trialscope.store.watches import REGISTRIES, Watch, WatchBook, WatchError, check_name

__all__ = [
    "EXIT_FAILED", "EXIT_LOCKED", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE", "ChangedIdsArgs",
    "CrawlOutcome", "CrawlPlan", "CrawlSession", "RefreshLocked", "RefreshReport",
    "WatchReport", "add_watch", "plan_watch", "prepare_saved_crawl", "refresh",
    "since_day", "validated_watch",
]

log = logging.getLogger(__name__)

SAFETY_OVERLAP_DAYS = 2
ID_CHUNK = 200  # ids per filter.ids query: keeps the URL well under common 8 KB limits
SETTINGS_ENV = "TRIALS_CRAWL_SETTINGS"  # JSON object of Scrapy setting overrides


class RefreshLocked(TrialsError):
    """Another refresh holds the lock."""

    exit_code = EXIT_LOCKED

    def __init__(self, held: LockHeld) -> None:
        holder = held.holder
        who = holder.describe() if holder else "another process"
        hint = "Wait for it to finish; scheduled runs can simply try again later (exit 75)."
        if held.too_old and holder is not None:
            hint = (f"It has run for over {_hours(holder.age_seconds())}: if it is hung, stop "
                    f"it (kill {holder.pid} on {holder.host}) and run again.")
        super().__init__("locked", f"Another refresh is running ({who}).", hint)
        self.holder = holder


# -- watches --------------------------------------------------------------------------------
def _expand_statuses(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        group = [s.value for s in OPEN_STATUSES] if value.lower() == "open" else [value]
        out.extend(s for s in group if s not in out)
    return out


def validated_watch(name: str, *, ids: Iterable[str] = (), cond: str | None = None,
                    intr: str | None = None, term: str | None = None,
                    statuses: Iterable[str] = (), registry: str = "ctgov") -> Watch:
    """A new watch with its query checked the way a crawl checks it (nothing saved)."""
    name = check_name(name)
    if registry not in REGISTRIES:
        raise WatchError("bad_watch", f"Registry '{registry}' cannot be watched yet.",
                         f"Watches support: {', '.join(REGISTRIES)}.")
    ids, statuses = list(ids), _expand_statuses(statuses)
    if not ids and not any((cond, intr, term, statuses)):
        raise WatchError("bad_watch", "A watch needs ids or a query.",
                         "Give --id, or --condition / --intervention / --query / --status.")
    try:
        args = CtgovArgs.from_raw(ids=ids or None, cond=cond, intr=intr, term=term,
                                  status=statuses or None)
    except CrawlArgumentError as exc:
        raise WatchError("bad_watch", exc.for_user().rstrip(".") + ".",
                         "See 'trials watch add --help'.") from exc
    return Watch(name=name, registry=registry, ids=list(args.ids), cond=args.cond,
                 intr=args.intr, term=args.term, status=list(args.status))


def add_watch(home: DataHome, name: str, **query: Any) -> Watch:
    """Save a watch; its first refresh crawls the whole query (or every id)."""
    watch = validated_watch(name, **query)
    index_service.open_store(home).close()  # a usable store file, with its tables
    with WatchBook(home.store_path) as book:
        return book.add(watch)


@dataclass
class SavedCrawl:
    """``trials crawl --save-as NAME``: the watch to save once the crawl has run."""

    watch: Watch
    started_at: str
    since: str | None

    def save(self, home: DataHome, summary: CrawlReport) -> dict[str, Any]:
        stats = summary.get("stats") or {}
        complete = (summary.get("finish_reason") == "finished" and not summary.get("failed")
                    and not any(stats.get(f"trials/dropped/{r}") for r in TRANSIENT_DROPS))
        # A crawl limited by --since did not fetch the query's older trials: the watch's
        # first refresh must, so it is saved as never refreshed.
        if complete and self.since is None:
            self.watch.last_success_at = self.started_at
        with WatchBook(home.store_path) as book:
            return book.add(self.watch).to_dict()


def prepare_saved_crawl(home: DataHome, name: str, *, offline: bool = False,
                        since: str | None = None, **query: Any) -> SavedCrawl:
    """Check ``--save-as NAME`` before the crawl runs (a bad name must not waste a crawl)."""
    if offline:
        raise WatchError("bad_watch", "--save-as cannot be used with --offline (a watch "
                         "refreshes from the registry, not from the bundled demo).",
                         "Drop --offline, or drop --save-as.")
    watch = validated_watch(name, **query)
    index_service.open_store(home).close()
    with WatchBook(home.store_path) as book:
        if book.exists(watch.name):
            raise WatchError("exists", f"A watch named '{watch.name}' exists already.",
                             f"Pick another name, or remove it first: "
                             f"trials watch remove {watch.name}")
    return SavedCrawl(watch, utcnow(), since)


# -- planning -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChangedIdsArgs(CtgovArgs):
    """A search for some ids updated since a day: ``filter.ids`` + the since filter.
    (``CtgovArgs`` keeps ids and queries apart; this is the one place they meet.)"""

    filter_ids: tuple[str, ...] = ()

    @property
    def has_query(self) -> bool:
        return True

    def search_params(self, page_token: str | None = None) -> list[tuple[str, str]]:
        params = super().search_params(page_token)
        at = next(i for i, (key, _) in enumerate(params)
                  if key in ("filter.advanced", "pageSize"))
        params.insert(at, ("filter.ids", ",".join(self.filter_ids)))
        return params




def since_day(last_success_at: str, overlap_days: int = SAFETY_OVERLAP_DAYS) -> date:
    return date.fromisoformat(last_success_at[:10]) - timedelta(days=overlap_days)


def plan_watch(watch: Watch, store: Store, *, full: bool = False,
               overlap_days: int = SAFETY_OVERLAP_DAYS, page_size: int = 1000,
               api_base: str | None = None, members: Iterable[str] = ()) -> list[CrawlPlan]:
    """The crawls that bring one watch up to date.  ``members``: the trials the watch has
    brought in before (a status-filtered query re-asks for those changed since, so a trial
    that leaves the filter, recruiting -> completed, is still seen)."""
    since = None if full or not watch.last_success_at else since_day(watch.last_success_at,
                                                                     overlap_days)
    common: dict[str, Any] = {"page_size": page_size, "api_base": api_base}
    try:
        if not watch.ids:
            args = CtgovArgs.from_raw(cond=watch.cond, intr=watch.intr, term=watch.term,
                                      status=watch.status or None, since=since, **common)
            plans = [CrawlPlan(watch.name, "since" if since else "full", args, since)]
            if since is not None and watch.status:
                plans += _changed_ids(watch.name, list(members), since, common)
            return plans
        if since is None:
            return [CrawlPlan(watch.name, "full", CtgovArgs.from_raw(ids=watch.ids, **common))]
        stored = [i for i in watch.ids if store.resolve(i)]
        missing = [i for i in watch.ids if i not in stored]
        plans = []
        if missing:
            plans.append(CrawlPlan(watch.name, "ids", CtgovArgs.from_raw(ids=missing, **common)))
        return plans + _changed_ids(watch.name, stored, since, common)
    except CrawlArgumentError as exc:
        raise WatchError("bad_watch", f"Watch '{watch.name}' cannot be crawled: {exc.for_user()}.",
                         f"Remove it and add it again: trials watch remove {watch.name}") \
            from exc


def _changed_ids(name: str, ids: list[str], since: date, common: dict[str, Any]
                 ) -> list[CrawlPlan]:
    """``filter.ids`` + the since filter, ``ID_CHUNK`` ids per search."""
    base = CtgovArgs.from_raw(since=since, **common)
    values = {f.name: getattr(base, f.name) for f in fields(CtgovArgs)}
    return [CrawlPlan(name, "since", ChangedIdsArgs(**values,
                                                    filter_ids=tuple(ids[i:i + ID_CHUNK])), since)
            for i in range(0, len(ids), ID_CHUNK)]


# -- running: one Scrapy process, crawls one after another ----------------------------------
# -- the refresh ------------------------------------------------------------------------------
def settings_from_env() -> dict[str, Any]:
    """Scrapy setting overrides from ``TRIALS_CRAWL_SETTINGS`` (a JSON object), e.g.
    ``{"DOWNLOAD_DELAY": 2}`` for a gentler schedule."""
    text = os.environ.get(SETTINGS_ENV, "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise TrialsError("bad_argument", f"{SETTINGS_ENV} is not valid JSON ({exc}).",
                          'Give a JSON object, e.g. {"DOWNLOAD_DELAY": 2}.') from exc
    if not isinstance(value, dict):
        raise TrialsError("bad_argument", f"{SETTINGS_ENV} must be a JSON object.",
                          'e.g. {"DOWNLOAD_DELAY": 2}.')
    return value


def refresh(home: DataHome, *, watches: Iterable[str] = (), full: bool = False,
            progress: bool = False, settings_overrides: dict[str, Any] | None = None,
            lock_max_age: float | None = None, overlap_days: int = SAFETY_OVERLAP_DAYS,
            page_size: int = 1000, log_file: Path | str | None = None) -> RefreshReport:
    """Refresh the named watches (default: all).  Raises ``RefreshLocked`` if another refresh
    runs, ``WatchError`` for an unknown watch or none at all; crawl trouble is reported in the
    returned report (``exit_code``), never raised."""
    overrides = {**settings_from_env(), **(settings_overrides or {})}
    home.root.mkdir(parents=True, exist_ok=True)
    lock = RefreshLock(home.root / LOCK_NAME, command="refresh", max_age=lock_max_age)
    try:
        lock.acquire()
    except LockHeld as exc:
        raise RefreshLocked(exc) from exc
    try:
        return _refresh_locked(home, lock, list(watches), full=full, progress=progress,
                               overrides=overrides, overlap_days=overlap_days,
                               page_size=page_size,
                               log_file=log_file or home.log_dir / "refresh.log")
    finally:
        lock.release()


def _refresh_locked(home: DataHome, lock: RefreshLock, names: list[str], *, full: bool,
                    progress: bool, overrides: dict[str, Any], overlap_days: int,
                    page_size: int, log_file: Path | str) -> RefreshReport:
    index_service.open_store(home).close()
    with WatchBook(home.store_path) as book:
        selected = [book.require(n) for n in dict.fromkeys(names)] if names else book.list()
        if not selected:
            raise WatchError("no_watches", "Nothing to refresh: no watches yet.",
                             "Add one: trials watch add NAME --condition ... "
                             "(or trials crawl ... --save-as NAME).")
        with Store(home.store_path) as store:
            plans = [p for w in selected for p in plan_watch(
                w, store, full=full, overlap_days=overlap_days, page_size=page_size,
                members=book.members(w.name))]
            mark = store.version_mark()
        run_id, started, killed = book.begin_run(pid=os.getpid(), host=socket.gethostname())
        selected = [book.start_watch(w.name, started, mark) for w in selected]
    report = RefreshReport(run_id=run_id, started_at=started, interrupted_runs=killed,
                           stale_lock=lock.taken_over.to_dict() if lock.taken_over else None)
    outcomes: list[CrawlOutcome] = []
    from trialscope.crawler.run import CrawlError

    try:
        with CrawlSession(home.store_path, progress=progress, log_file=log_file,
                          settings_overrides=overrides) as session:
            _log_start(report, lock.taken_over, selected, plans)
            outcomes = session.run(plans)
            _sync_index(home, report)
            _finish(home, report, selected, outcomes)
    except CrawlError as exc:
        report.error = str(exc)
        outcomes = [replace(CrawlOutcome(p), error=str(exc)) for p in plans]
        _finish(home, report, selected, outcomes)
    return report


def _log_start(report: RefreshReport, stale: LockInfo | None, selected: list[Watch],
               plans: list[CrawlPlan]) -> None:
    if stale is not None:
        log.warning("refresh: took over the lock of a refresh that is no longer running (%s)",
                    stale.describe())
    if report.interrupted_runs:
        log.warning("refresh: run(s) %s did not finish (killed?); this run asks the registry "
                    "for everything they may have missed", report.interrupted_runs)
    log.info("refresh run %s: %d watch(es), %d crawl(s)", report.run_id, len(selected),
             len(plans))


def _sync_index(home: DataHome, report: RefreshReport) -> None:
    try:
        report.indexed = index_service.sync(home)
    except Exception as exc:  # noqa: BLE001 (the store is complete; the next sync catches up)
        report.index_error = f"{type(exc).__name__}: {exc}"
        log.error("refresh: the index could not be updated: %s", report.index_error)


def _finish(home: DataHome, report: RefreshReport, selected: list[Watch],
            outcomes: list[CrawlOutcome]) -> None:
    changes: dict[str, dict[str, Any]] = {}
    with Store(home.store_path) as store, WatchBook(home.store_path) as book:
        for watch in selected:
            mine = [o for o in outcomes if o.plan.watch == watch.name]
            wr = watch_report(store, watch, mine, changes)
            report.watches.append(wr)
            book.record_members(watch.name, sorted({t for o in mine for t in o.seen}),
                                report.started_at)
            book.finish_watch(watch.name, status=wr.status,
                              success_at=report.started_at if wr.status == "ok" else None)
            wr.last_success_at = report.started_at if wr.status == "ok" \
                else watch.last_success_at
        report.changes = sorted(changes.values(), key=lambda c: c["trial_id"])
        conclude(report)
        book.finish_run(report.run_id, status=report.status, summary=report.as_dict())
    t = report.totals()
    log.info("refresh run %s %s: %d new, %d changed, %d unchanged, %d withdrawn, %d gone, "
             "%d failed; %d page(s), %d request(s); %d indexed", report.run_id, report.status,
             t["new"], t["changed"], t["unchanged"], t["withdrawn"], t["gone"], t["failed"],
             t["pages"], t["requests"], report.indexed)


def _hours(seconds: float | None) -> str:
    if seconds is None:
        return "an unknown time"
    return f"{seconds / 3600:.1f} h"
