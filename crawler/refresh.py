"""``trials refresh``: bring every watch up to date, in one Scrapy process, then the index.

For each watch (see ``index/watches.py``) the refresh plans its crawl(s):

- never refreshed successfully (or ``full``): the whole query, or every id by ``/studies/{id}``
  (a 404 there is a trial gone from the registry, a 301 an alias);
- otherwise only what changed: the query plus
  ``filter.advanced=AREA[LastUpdatePostDate]RANGE[since,MAX]``, where ``since`` is the day of
  the last successful refresh minus ``SAFETY_OVERLAP_DAYS`` (the filter has day granularity
  and the registry's day is not UTC's); an id watch asks ``filter.ids=...`` with the same
  filter (the API matches ids and their aliases), so an unchanged list of 500 trials costs one
  page.  Ids a watch lists but the store lacks are fetched one by one.

The crawls run one after another in one ``AsyncCrawlerProcess`` (Twisted's reactor runs once
per process; and one crawl at a time is what the registry deserves, and what keeps two store
pipelines from waiting on each other's SQLite transaction).  The store writes a new version
only when content changed; the index is then synced incrementally from the store.

Nothing is lost if the refresh dies at any point (``kill -9`` included): store writes are
transactions, the index is synced from the store's "indexed" marks (``iter_unindexed``), and a
watch's last-success time only moves at the very end, for a watch whose crawls all succeeded;
the next refresh asks for the same window again.  Exit codes: ``EXIT_*`` below.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import threading
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field, fields, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from ..index import service as index_service
from ..index.history import version_change
from ..index.home import DataHome
from ..index.lock import LOCK_NAME, LockHeld, LockInfo, RefreshLock
from ..index.service import TrialsError
from ..index.store import Store, utcnow
from ..index.watches import REGISTRIES, Watch, WatchBook, WatchError, check_name
from ..parser.vocab import OPEN_STATUSES
from .ctgov_args import CrawlArgumentError, CtgovArgs

log = logging.getLogger(__name__)

EXIT_OK = 0  # every watch refreshed, index in step
EXIT_PARTIAL = 1  # some requests failed (what succeeded is kept; those watches retry next run)
EXIT_USAGE = 2  # bad arguments, unknown watch, no watches
EXIT_FAILED = 3  # nothing could be fetched (registry unreachable, crawl could not run)
EXIT_LOCKED = 75  # another refresh holds the lock (EX_TEMPFAIL: try again later)

SAFETY_OVERLAP_DAYS = 2
ID_CHUNK = 200  # ids per filter.ids query: keeps the URL well under common 8 KB limits
# Drops that say the transfer went wrong (a cut or garbled body): fetch again next time.
# Payloads that arrived whole but do not parse are kept and counted, and do not hold the
# watch back: fetching them again would give the same bytes.
TRANSIENT_DROPS = ("invalid_json", "not_a_page")
SETTINGS_ENV = "TRIALS_CRAWL_SETTINGS"  # JSON object of Scrapy setting overrides

_session_used = False


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
        raise WatchError("bad_watch", str(exc).rstrip(".") + ".",
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

    def save(self, home: DataHome, summary: dict[str, Any]) -> dict[str, Any]:
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


@dataclass
class CrawlPlan:
    watch: str
    mode: str  # "full" | "since" (changed since a day) | "ids" (ids the store lacks)
    args: CtgovArgs
    since: date | None = None

    def describe(self) -> str:
        if self.mode == "since":
            return f"changed since {self.since}"
        if self.mode == "ids":
            return f"{len(self.args.ids)} id(s) not stored yet"
        return "full crawl"


def since_day(last_success_at: str, overlap_days: int = SAFETY_OVERLAP_DAYS) -> date:
    return date.fromisoformat(last_success_at[:10]) - timedelta(days=overlap_days)


def plan_watch(watch: Watch, store: Store, *, full: bool = False,
               overlap_days: int = SAFETY_OVERLAP_DAYS, page_size: int = 1000,
               api_base: str | None = None) -> list[CrawlPlan]:
    since = None if full or not watch.last_success_at else since_day(watch.last_success_at,
                                                                     overlap_days)
    common: dict[str, Any] = {"page_size": page_size, "api_base": api_base}
    try:
        if not watch.ids:
            args = CtgovArgs.from_raw(cond=watch.cond, intr=watch.intr, term=watch.term,
                                      status=watch.status or None, since=since, **common)
            return [CrawlPlan(watch.name, "since" if since else "full", args, since)]
        if since is None:
            return [CrawlPlan(watch.name, "full", CtgovArgs.from_raw(ids=watch.ids, **common))]
        stored = [i for i in watch.ids if store.resolve(i)]
        missing = [i for i in watch.ids if i not in stored]
        plans = []
        if missing:
            plans.append(CrawlPlan(watch.name, "ids", CtgovArgs.from_raw(ids=missing, **common)))
        base = CtgovArgs.from_raw(since=since, **common)
        values = {f.name: getattr(base, f.name) for f in fields(CtgovArgs)}
        for start in range(0, len(stored), ID_CHUNK):
            chunk = tuple(stored[start:start + ID_CHUNK])
            plans.append(CrawlPlan(watch.name, "since",
                                   ChangedIdsArgs(**values, filter_ids=chunk), since))
        return plans
    except CrawlArgumentError as exc:
        raise WatchError("bad_watch", f"Watch '{watch.name}' cannot be crawled: {exc}.",
                         f"Remove it and add it again: trials watch remove {watch.name}") \
            from exc


# -- running: one Scrapy process, crawls one after another ----------------------------------
@dataclass
class CrawlOutcome:
    plan: CrawlPlan
    ran: bool = False
    error: str | None = None  # the crawl could not run, or was cut short
    stats: dict[str, Any] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)  # trial ids stored by this crawl
    not_found: list[str] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    item_errors: int = 0
    interrupted: bool = False  # stopped by a signal, or never started because of one

    def on_item(self, item: Any) -> None:
        if isinstance(item, dict) and item.get("kind") == "record":
            self.seen.append(item["record"].trial_id)

    def on_item_error(self, item: Any) -> None:
        self.item_errors += 1  # the store refused an item: the watch must try again

    def _total(self, prefix: str) -> dict[str, int]:
        return {k[len(prefix):]: v for k, v in self.stats.items()
                if k.startswith(prefix) and isinstance(v, int)}

    @property
    def failures(self) -> dict[str, int]:
        out = self._total("trials/failed/")
        if self.item_errors:
            out["store"] = self.item_errors
        return out

    @property
    def dropped(self) -> dict[str, int]:
        return self._total("trials/dropped/")

    @property
    def retries(self) -> dict[str, int]:
        return self._total("trials/retry/")

    @property
    def transient_drops(self) -> int:
        return sum(self.dropped.get(r, 0) for r in TRANSIENT_DROPS)

    @property
    def finish_reason(self) -> str:
        return str(self.stats.get("finish_reason") or "")

    @property
    def ok(self) -> bool:
        return (self.ran and self.error is None and self.finish_reason == "finished"
                and not self.failures and not self.transient_drops)

    @property
    def responses_ok(self) -> int:
        return int(self.stats.get("downloader/response_status_count/200", 0))


class CrawlSession:
    """The refresh's Scrapy process: its log handler is installed from ``__enter__`` to
    ``__exit__`` (so the refresh's own messages go to the same log); ``run`` runs the crawls
    in order.  Once per process, like ``run_crawl``."""

    def __init__(self, store_path: Path, *, progress: bool = False,
                 log_file: Path | str | None = None,
                 settings_overrides: dict[str, Any] | None = None) -> None:
        self.store_path = store_path
        self.progress = progress
        self.log_file = log_file
        self.overrides = settings_overrides or {}
        self.process: Any = None
        self._handler: Any = None
        self._stopping = False

    def __enter__(self) -> CrawlSession:
        global _session_used
        from scrapy.crawler import AsyncCrawlerProcess

        from . import run as run_module

        if _session_used or run_module._crawled:
            raise run_module.CrawlError("one crawl session per process (Twisted's reactor "
                                        "cannot restart); run refreshes in new processes")
        _session_used = True
        settings = run_module.crawl_settings(self.store_path, progress=self.progress,
                                             overrides=self.overrides)
        self.process = AsyncCrawlerProcess(settings)
        # After the process: its configure_logging() closes handlers installed before it.
        self._handler = run_module._install_log_handler(settings, self.log_file,
                                                        "LOG_LEVEL" in self.overrides)
        return self

    def __exit__(self, *exc: object) -> None:
        from . import run as run_module

        if self._handler is not None:
            run_module._remove_handler(self._handler)
            self._handler = None

    def run(self, plans: list[CrawlPlan]) -> list[CrawlOutcome]:
        outcomes = [CrawlOutcome(plan) for plan in plans]
        if not plans:
            return outcomes
        from twisted.internet import reactor

        async def chain() -> None:
            try:
                for outcome in outcomes:
                    if self._stopping:
                        break
                    await self._crawl(outcome)
            finally:
                reactor.callLater(0, _stop, reactor)  # type: ignore[attr-defined]

        main = asyncio.get_event_loop().create_task(chain())
        self.process.start(stop_after_crawl=False,
                           install_signal_handlers=threading.current_thread()
                           is threading.main_thread())
        if main.done() and not main.cancelled() and main.exception() is not None:
            exc = main.exception()
            for outcome in outcomes:
                outcome.error = outcome.error or f"{type(exc).__name__}: {exc}"
        for outcome in outcomes:
            if not outcome.ran:
                outcome.interrupted = True
                outcome.error = outcome.error or "not run: the refresh was stopped"
        return outcomes

    async def _crawl(self, outcome: CrawlOutcome) -> None:
        from scrapy import signals

        from .run import _jsonable
        from .spiders.ctgov import CtgovSpider

        crawler = self.process.create_crawler(CtgovSpider)
        crawler.signals.connect(outcome.on_item, signal=signals.item_scraped)
        crawler.signals.connect(outcome.on_item_error, signal=signals.item_error)
        log.info("refresh: watch %s: %s", outcome.plan.watch, outcome.plan.describe())
        try:
            await self.process.crawl(crawler, crawl_args=outcome.plan.args,
                                     name=outcome.plan.watch)
        except Exception as exc:  # noqa: BLE001 (counted: the other watches still run)
            outcome.error = f"{type(exc).__name__}: {exc}"
            log.error("refresh: watch %s: the crawl failed: %s", outcome.plan.watch, exc)
        outcome.ran = True
        outcome.stats = _jsonable(crawler.stats.get_stats() or {})
        spider = getattr(crawler, "spider", None)
        outcome.not_found = list(getattr(spider, "not_found_ids", []) or [])
        outcome.aliases = dict(getattr(spider, "aliases", {}) or {})
        if outcome.finish_reason not in ("", "finished"):
            # "shutdown": SIGTERM/SIGINT asked the process to stop; start nothing more.
            self._stopping = True
            outcome.interrupted = True
            outcome.error = outcome.error or f"stopped ({outcome.finish_reason})"


def _stop(reactor: Any) -> None:
    with suppress(RuntimeError):  # already stopping (a signal got there first)
        reactor.stop()


# -- the refresh ------------------------------------------------------------------------------
@dataclass
class WatchReport:
    name: str
    kind: str
    query: str
    mode: str  # "full" | "since" | "mixed"
    since: str | None
    window_start: str
    status: str = "ok"  # ok | partial | failed | interrupted
    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0
    transitions: list[dict[str, Any]] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)  # retried requests, by reason
    errors: list[str] = field(default_factory=list)
    pages: int = 0
    requests: int = 0
    last_success_at: str | None = None

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    def as_dict(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["failed"] = self.failed
        return data


@dataclass
class RefreshReport:
    run_id: int
    started_at: str
    finished_at: str = ""
    exit_code: int = EXIT_OK
    status: str = "ok"
    watches: list[WatchReport] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)  # one per new/changed trial
    indexed: int = 0
    index_error: str | None = None
    error: str | None = None
    interrupted_runs: list[int] = field(default_factory=list)  # killed runs this one follows
    stale_lock: dict[str, Any] | None = None  # the dead holder whose lock was taken over

    def totals(self) -> dict[str, int]:
        def unique(attr: str) -> int:
            return len({t for w in self.watches for t in getattr(w, attr)})

        return {
            "watches": len(self.watches), "new": unique("new"), "changed": unique("changed"),
            "unchanged": sum(w.unchanged for w in self.watches),
            "transitions": len({t["trial_id"] for w in self.watches for t in w.transitions}),
            "withdrawn": unique("withdrawn"), "gone": unique("gone"),
            "failed": sum(w.failed for w in self.watches),
            "dropped": sum(sum(w.dropped.values()) for w in self.watches),
            "pages": sum(w.pages for w in self.watches),
            "requests": sum(w.requests for w in self.watches),
        }

    @property
    def nothing_changed(self) -> bool:
        """Every watch refreshed and no version written (ids still gone are listed, but
        are not news)."""
        t = self.totals()
        return self.status == "ok" and not (t["new"] or t["changed"])

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "started_at": self.started_at,
            "finished_at": self.finished_at, "status": self.status,
            "exit_code": self.exit_code, "nothing_changed": self.nothing_changed,
            "totals": self.totals(), "watches": [w.as_dict() for w in self.watches],
            "changes": self.changes, "indexed": self.indexed, "index_error": self.index_error,
            "error": self.error, "interrupted_runs": self.interrupted_runs,
            "stale_lock": self.stale_lock,
        }


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
                w, store, full=full, overlap_days=overlap_days, page_size=page_size)]
            mark = store.version_mark()
        run_id, started, killed = book.begin_run(pid=os.getpid(), host=socket.gethostname())
        selected = [book.start_watch(w.name, started, mark) for w in selected]
    report = RefreshReport(run_id=run_id, started_at=started, interrupted_runs=killed,
                           stale_lock=lock.taken_over.to_dict() if lock.taken_over else None)
    outcomes: list[CrawlOutcome] = []
    from .run import CrawlError

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
            wr = _watch_report(store, watch, mine, changes)
            report.watches.append(wr)
            book.record_members(watch.name, sorted(set(wr.new) | set(wr.changed) | {
                t for o in mine for t in o.seen}), report.started_at)
            book.finish_watch(watch.name, status=wr.status,
                              success_at=report.started_at if wr.status == "ok" else None)
            wr.last_success_at = report.started_at if wr.status == "ok" \
                else watch.last_success_at
        report.changes = sorted(changes.values(), key=lambda c: c["trial_id"])
        statuses = {w.status for w in report.watches}
        if report.error is not None or statuses == {"failed"}:
            report.status, report.exit_code = "failed", EXIT_FAILED
        elif statuses != {"ok"}:
            report.status, report.exit_code = "partial", EXIT_PARTIAL
        elif report.index_error:
            report.status, report.exit_code = "partial", EXIT_PARTIAL
        report.finished_at = utcnow()
        book.finish_run(report.run_id, status=report.status, summary=report.as_dict())
    t = report.totals()
    log.info("refresh run %s %s: %d new, %d changed, %d unchanged, %d withdrawn, %d gone, "
             "%d failed; %d page(s), %d request(s); %d indexed", report.run_id, report.status,
             t["new"], t["changed"], t["unchanged"], t["withdrawn"], t["gone"], t["failed"],
             t["pages"], t["requests"], report.indexed)


def _watch_report(store: Store, watch: Watch, outcomes: list[CrawlOutcome],
                  changes: dict[str, dict[str, Any]]) -> WatchReport:
    modes = {o.plan.mode for o in outcomes}
    sinces = [o.plan.since for o in outcomes if o.plan.since]
    window = watch.pending_since or watch.last_run_at or utcnow()
    wr = WatchReport(name=watch.name, kind=watch.kind, query=watch.describe(),
                     mode=modes.pop() if len(modes) == 1 else "mixed",
                     since=sinces[0].isoformat() if sinces else None, window_start=window)
    seen: dict[str, None] = {}
    for o in outcomes:
        seen.update(dict.fromkeys(o.seen))
        wr.gone.extend(t for t in o.not_found if t not in wr.gone)
        wr.aliases.update(o.aliases)
        for reason, n in o.failures.items():
            wr.failures[reason] = wr.failures.get(reason, 0) + n
        for reason, n in o.dropped.items():
            wr.dropped[reason] = wr.dropped.get(reason, 0) + n
        for reason, n in o.retries.items():
            wr.retries[reason] = wr.retries.get(reason, 0) + n
        if o.error:
            wr.errors.append(o.error)
        wr.pages += int(o.stats.get("trials/pages", 0))
        wr.requests += int(o.stats.get("downloader/request_count", 0))
    # What the store gained in this watch's window (this run, and any failed or killed run
    # since its last success), for the trials this run saw.
    first_version: dict[str, int] = {}
    last_version: dict[str, int] = {}
    for row in store.versions_after(watch.pending_mark or 0):
        tid = row["trial_id"]
        if tid in seen:
            first_version.setdefault(tid, row["version"])
            last_version[tid] = row["version"]
    for tid in seen:
        if tid not in first_version:
            wr.unchanged += 1
            continue
        first, last = first_version[tid], last_version[tid]
        change = changes.get(tid) or _window_change(store, tid, first, last)
        change.setdefault("watches", []).append(watch.name)
        changes[tid] = change
        (wr.new if first == 1 else wr.changed).append(tid)
        old_status, new_status = change.get("old_status"), change.get("status")
        if first > 1 and old_status != new_status:
            wr.transitions.append({"trial_id": tid, "from": old_status, "to": new_status})
        if new_status == "WITHDRAWN" and old_status != "WITHDRAWN":
            wr.withdrawn.append(tid)
    if not outcomes or all(o.ok for o in outcomes):
        wr.status = "ok"
    elif any(o.interrupted for o in outcomes):
        wr.status = "interrupted"
    elif not seen:
        wr.status = "failed"  # nothing stored: the registry was unreachable or unreadable
    else:
        wr.status = "partial"
    return wr


def _window_change(store: Store, trial_id: str, first: int, last: int) -> dict[str, Any]:
    """The change from the version before the window to the newest one (several versions in
    one window, after a failed run, are reported as one change)."""
    from ..index.history import diff_records, summarize

    newest = version_change(store, trial_id, last)
    if first == last or first == 1:
        change = newest if first == last else {
            **newest, "kind": "new", "changes": [],
            "summary": f"new trial ({newest.get('status') or 'UNKNOWN'})"}
    else:
        before = store.record_at(trial_id, first - 1)
        after = store.record_at(trial_id, last)
        diff = diff_records(before.to_dict() if before else {},
                            after.to_dict() if after else {})
        change = {**newest, "kind": "changed", "changes": diff, "summary": summarize(diff)}
    if change["kind"] == "changed":
        before = store.record_at(trial_id, first - 1)
        change["old_status"] = before.status if before else None
    else:
        change["old_status"] = None
    change["versions"] = list(range(first, last + 1))
    return change


def _hours(seconds: float | None) -> str:
    if seconds is None:
        return "an unknown time"
    return f"{seconds / 3600:.1f} h"
