"""What a refresh reports, per watch and in all, and the exit code a scheduler acts on.

A watch's news is read from the store, not from the crawl's counters: the versions written
since the watch's window opened (its ``pending_mark``, set by the first run after its last
success), for the trials this run saw.  So changes stored by a run that failed or was killed
are reported by the run that finally succeeds, and nothing is reported twice by runs that
both succeed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trialscope.crawler.faults import causes
from trialscope.store.db import Store, utcnow
from trialscope.store.history import diff_records, summarize, version_change
from trialscope.store.watches import Watch

if TYPE_CHECKING:
    from trialscope.crawler.session import CrawlOutcome

# `trials refresh` exit codes, for schedulers (documented in `trials refresh --help`).
EXIT_OK = 0  # every watch refreshed, index in step
EXIT_PARTIAL = 1  # some requests failed, a record could not be parsed (kept raw), or a
#                   signal stopped the run (what came is kept;
#                   the watches that did not finish ask for the same window next run)
EXIT_USAGE = 2  # bad arguments, unknown watch, no watches
EXIT_FAILED = 3  # nothing could be fetched (registry unreachable, crawl could not run)
EXIT_LOCKED = 75  # another refresh holds the lock (EX_TEMPFAIL: try again later)


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
    # Why the watch missed something, one entry per reason (faults.Cause.as_dict()).
    causes: list[dict[str, Any]] = field(default_factory=list)
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


def watch_report(store: Store, watch: Watch, outcomes: list[CrawlOutcome],
                  changes: dict[str, dict[str, Any]]) -> WatchReport:
    modes = {o.plan.mode for o in outcomes}
    sinces = [o.plan.since for o in outcomes if o.plan.since]
    window = watch.pending_since or watch.last_run_at or utcnow()
    wr = WatchReport(name=watch.name, kind=watch.kind, query=watch.describe(),
                     mode=modes.pop() if len(modes) == 1 else "mixed",
                     since=sinces[0].isoformat() if sinces else None, window_start=window)
    seen: dict[str, None] = {}
    merged: dict[str, Any] = {}  # the failure stats of all the watch's crawls
    for o in outcomes:
        for key, value in o.stats.items():
            if key.startswith(("trials/failed/", "trials/dropped/")) and isinstance(value, int):
                merged[key] = merged.get(key, 0) + value
            elif key.startswith("trials/failure_samples/") and isinstance(value, list):
                merged[key] = list(dict.fromkeys([*merged.get(key, []), *value]))[:3]
        if o.item_errors and "trials/failed/store_error" not in o.stats:
            merged["trials/failed/store_error"] = (merged.get("trials/failed/store_error", 0)
                                                   + o.item_errors)
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
    wr.causes = [c.as_dict() for c in causes(merged)]
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
        change = window_change(store, tid, first, last)
        # One entry per trial in the run's change list: the widest window among its watches.
        kept = changes.get(tid)
        if kept is None or first < kept["versions"][0]:
            change["watches"] = [*(kept or {}).get("watches", []), watch.name]
            changes[tid] = change
        else:
            kept["watches"].append(watch.name)
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


def window_change(store: Store, trial_id: str, first: int, last: int) -> dict[str, Any]:
    """The change from the version before the window to the newest one: several versions
    stored in one window (a failed run, then this one) are reported as one change."""
    change = version_change(store, trial_id, last)
    before = store.record_at(trial_id, first - 1) if first > 1 else None
    if first == 1:
        change.update(kind="new", changes=[],
                      summary=f"new trial ({change.get('status') or 'UNKNOWN'})")
    elif first != last and before is not None:
        after = store.record_at(trial_id, last)
        diff = diff_records(before.to_dict(), after.to_dict() if after else {})
        change.update(kind="changed", changes=diff, summary=summarize(diff))
    change["old_status"] = before.status if before is not None else None
    change["versions"] = list(range(first, last + 1))
    return change


def conclude(report: RefreshReport) -> None:
    """The run's status and exit code, from its watches'."""
    statuses = {w.status for w in report.watches}
    if report.error is not None or statuses == {"failed"}:
        report.status, report.exit_code = "failed", EXIT_FAILED
    elif statuses != {"ok"} or report.index_error or any(w.dropped for w in report.watches):
        # a record kept unparsed (raw, in the store's failures) leaves the watch's window
        # done (it was fetched), but the run did not store everything: partial
        report.status, report.exit_code = "partial", EXIT_PARTIAL
    else:
        report.status, report.exit_code = "ok", EXIT_OK
    report.finished_at = utcnow()
