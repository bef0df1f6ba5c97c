"""`trials watch add|list|remove`, `trials refresh`, `trials history`, `trials changes` and
`trials check`: keeping the local copy fresh on a schedule, and saying what moved.

`trials refresh` exit codes (for cron / systemd / CI; also in `trials refresh --help`):
0 success, 1 partial failure or stopped by a signal (what succeeded is kept; the watches that
did not finish ask again next run), 2 usage (bad option, unknown watch, no watches), 3 total
failure (nothing could be fetched), 75 another refresh is running (EX_TEMPFAIL).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from trialscope.app.service import watchable
from trialscope.cli.options import STATUS_CHOICES, command_home
from trialscope.cli.output import (
    dumps,
    handles_errors,
    json_option,
    listing_options,
    write_csv,
    write_nl,
)
from trialscope.core.errors import TrialsError

if TYPE_CHECKING:
    from trialscope.app.refresh_report import RefreshReport

EXIT_USAGE = 2  # the same number as app.refresh_report's (not imported: slow)
# The usage errors of these commands, which exit EXIT_USAGE (`trials refresh --help`).
USAGE_CODES = frozenset({"unknown_watch", "no_watches", "bad_name", "bad_argument"})


def _exits(func: Callable[..., Any]) -> Callable[..., Any]:
    """The error contract (``handles_errors``), with the refresh's own exit codes: 2 for usage
    errors (an unknown watch, none at all, a bad option value).  (The 75 of a held lock is
    ``RefreshLocked``'s own ``exit_code``.)"""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TrialsError as exc:
            if exc.code in USAGE_CODES and exc.exit_code == 1:
                exc.exit_code = EXIT_USAGE
            raise

    return handles_errors(wrapper)


def _locked(exc: Exception) -> TrialsError:
    from trialscope.app.refresh import RefreshLocked

    return RefreshLocked(exc)  # type: ignore[arg-type]


# -- watch add / list / remove --------------------------------------------------------------
@click.group()
def watch() -> None:
    """Saved queries and id lists that `trials refresh` keeps up to date.

    \b
    Examples:
      trials watch add mg-cart --condition "myasthenia gravis" --intervention CAR-T
      trials watch add mine --id NCT06958939 --id NCT05828225
      trials watch list
      trials watch remove mg-cart
    """


@watch.command("add")
@click.argument("name")
@click.option("--id", "ids", multiple=True, metavar="ID",
              help="Trial id to watch (repeatable; comma-separated lists work too).")
@click.option("--query", help="Free-text query (the API's query.term).")
@click.option("--condition", help="Condition or disease (query.cond).")
@click.option("--intervention", help="Intervention or treatment (query.intr).")
@click.option("--status", "statuses", multiple=True, type=click.Choice(STATUS_CHOICES,
              case_sensitive=False), help="Only trials with this overall status (repeatable).")
@click.option("--registry", type=click.Choice(watchable()), default="ctgov", show_default=True)
@json_option
@click.pass_context
@_exits
def watch_add(ctx: click.Context, name: str, ids: tuple[str, ...], query: str | None,
              condition: str | None, intervention: str | None, statuses: tuple[str, ...],
              registry: str, as_json: bool) -> None:
    """Save a watch.  Its first refresh fetches everything it matches; later ones only what
    changed since."""
    from trialscope.app.refresh import add_watch

    id_list = [part.strip() for raw in ids for part in raw.split(",") if part.strip()]
    saved = add_watch(command_home(ctx), name, ids=id_list, cond=condition, intr=intervention,
                      term=query, statuses=[s.upper() for s in statuses], registry=registry)
    if as_json:
        click.echo(dumps(saved.to_dict()))
    else:
        click.echo(f"Watch '{saved.name}' saved: {saved.describe()}. "
                   "Run 'trials refresh' to fetch it.")


@watch.command("list")
@listing_options
@click.pass_context
@_exits
def watch_list(ctx: click.Context, as_json: bool, as_nl: bool, as_csv: bool) -> None:
    """The watches, with their last refresh."""
    from trialscope.app.watches import list_watches

    rows = [w.to_dict() for w in list_watches(command_home(ctx))]
    if as_json:
        click.echo(dumps(rows))
    elif as_nl:
        write_nl(rows)
    elif as_csv:
        write_csv(rows, ["name", "kind", "registry", "ids", "cond", "intr", "term", "status",
                         "created_at", "last_success_at", "last_status", "trials"])
    elif not rows:
        click.echo("No watches yet. Add one: trials watch add NAME --condition ...")
    else:
        for w in rows:
            last = w["last_success_at"] or "never"
            status = f", last run {w['last_status']}" if w["last_status"] else ""
            click.echo(f"{w['name']:<20} {w['kind']:<5} {_describe(w)}")
            click.echo(f"{'':<20} {w['trials']} trial(s); last success {last}{status}")


def _describe(row: dict[str, Any]) -> str:
    from trialscope.app.watches import Watch

    keys = ("name", "registry", "ids", "cond", "intr", "term", "status")
    return Watch(**{k: row[k] for k in keys}).describe()


@watch.command("remove")
@click.argument("name")
@json_option
@click.pass_context
@_exits
def watch_remove(ctx: click.Context, name: str, as_json: bool) -> None:
    """Forget a watch (the trials it fetched stay in the store)."""
    from trialscope.app.watches import remove_watch

    removed = remove_watch(command_home(ctx), name)
    click.echo(dumps({"removed": removed.to_dict()}) if as_json
               else f"Watch '{removed.name}' removed; its {removed.trials} trial(s) stay stored.")


# -- refresh --------------------------------------------------------------------------------
@click.command()
@click.option("--watch", "watches", multiple=True, metavar="NAME",
              help="Refresh only this watch (repeatable; default: all).")
@click.option("--full", is_flag=True,
              help="Fetch everything each watch matches, not only what changed (also finds "
                   "watched ids the registry no longer has).")
@click.option("--lock-max-age", type=click.FloatRange(min=0), metavar="HOURS",
              help="Where the lock file cannot be kernel-locked (some network filesystems), "
                   "treat a lock older than this as stale.  [default: 6]")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar (default: when stderr is a terminal).")
@json_option
@click.pass_context
@_exits
def refresh(ctx: click.Context, watches: tuple[str, ...], full: bool,
            lock_max_age: float | None, progress: bool | None, as_json: bool) -> None:
    """Fetch what changed for every watch, store new versions, update the index.

    Each watch asks the registry only for trials updated since its last successful
    refresh (minus a 2-day overlap); a new watch is fetched in full.  The log goes to
    <home>/logs/refresh.log.  Only one refresh runs at a time per data home.

    \b
    Exit codes:
      0   success
      1   partial failure: some requests failed, a record could not be parsed
          (kept raw), or the refresh was stopped (SIGTERM/Ctrl-C); what succeeded
          is kept, and the watches that did not finish ask for the same changes
          again next run
      2   usage: bad option, unknown watch, no watches
      3   total failure: nothing could be fetched
      75  another refresh is running (EX_TEMPFAIL: try again later)
    \b
    Examples:
      trials refresh
      trials refresh --watch mg-cart --json
    """
    from trialscope.app.refresh import refresh as run_refresh

    if progress is None:
        progress = sys.stderr.isatty() and not as_json
    report = run_refresh(command_home(ctx), watches=watches, full=full, progress=progress,
                         lock_max_age=None if lock_max_age is None else lock_max_age * 3600)
    if as_json:
        click.echo(dumps(report.as_dict()))
    else:
        click.echo(_refresh_text(report))
    if report.stale_lock and not as_json:
        click.echo(f"Note: took over the lock of a refresh that is no longer running (pid "
                   f"{report.stale_lock['pid']} on {report.stale_lock['host']}).", err=True)
    for line in _refresh_errors(report):
        click.echo(f"Error: {line}", err=True)
    sys.exit(report.exit_code)


def _refresh_errors(r: RefreshReport) -> list[str]:
    """One line per cause per watch that missed something (what, how often, what to do)."""
    lines: list[str] = []
    if r.error:
        lines.append(f"The refresh could not run: {r.error}.")
    for w in r.watches:
        if w.status == "ok":
            continue
        again = ("its changes will be asked for again next run" if w.last_success_at
                 else "it will be fetched in full next run")
        head = f"watch '{w.name}' is {w.status} ({again})"
        if not w.causes:
            lines.append(f"{head}: {'; '.join(w.errors) or 'see the log'}.")
        for c in w.causes:
            lines.append(f"{head}: {c['message']}")
    return lines


def _refresh_text(r: RefreshReport) -> str:
    t = r.totals()
    lines = [
        f"Refresh {r.status} (run {r.run_id}): {t['watches']} watch(es); {t['new']} new, "
        f"{t['changed']} changed, {t['unchanged']} unchanged, {t['withdrawn']} withdrawn, "
        f"{t['gone']} gone, {t['failed']} failed; {t['pages']} page(s), {t['requests']} "
        f"request(s); {r.indexed} indexed."
    ]
    changes = {c["trial_id"]: c for c in r.changes}
    for w in r.watches:
        how = f"changed since {w.since}" if w.since else "full crawl"
        counts = f"{len(w.new)} new, {len(w.changed)} changed, {w.unchanged} unchanged"
        lines.append(f"{w.name} [{w.status}] {w.query} ({how}): {counts}")
        withdrawn = set(w.withdrawn)
        for tid in w.new + w.changed:
            mark = "!" if tid in withdrawn else "+" if tid in w.new else "~"
            lines.append(f"  {mark} {tid}  {changes.get(tid, {}).get('summary', '')}")
        for tid in w.gone:
            lines.append(f"  - {tid}  gone: the registry answers 404")
        if w.failures or w.errors:
            what = ", ".join(f"{k} x{v}" for k, v in sorted(w.failures.items()))
            lines.append(f"  failed: {what or '; '.join(w.errors)}; these changes will be "
                         "asked for again next run")
    if r.interrupted_runs:
        lines.append(f"Resumed after interrupted run(s) {r.interrupted_runs}.")
    if r.index_error:
        lines.append(f"The index was not updated ({r.index_error}); the next refresh or "
                     "'trials check --repair' catches up.")
    if r.error:
        lines.append(f"The refresh could not run: {r.error}")
    if r.nothing_changed:
        lines.append("Nothing changed since the last refresh: no new versions written.")
    return "\n".join(lines)


# -- history / changes ----------------------------------------------------------------------
HISTORY_COLUMNS = ["trial_id", "version", "fetched_at", "last_updated", "status", "summary",
                   "url"]


@click.command()
@click.argument("trial_id", metavar="ID")
@listing_options
@click.pass_context
@_exits
def history(ctx: click.Context, trial_id: str, as_json: bool, as_nl: bool,
            as_csv: bool) -> None:
    """Every stored version of a trial, with what changed between them.

    'fetched' is when trialscope stored the version; 'registry update' is the
    date the registry gives for it (LastUpdatePostDate on ClinicalTrials.gov).

    \b
    Examples:
      trials history NCT06958939
      trials history NCT06958939 --csv
    """
    from trialscope.app.history import trial_history

    result = trial_history(command_home(ctx), trial_id)
    rows = [{"trial_id": result["trial_id"], **v} for v in result["versions"]]
    if as_json:
        click.echo(dumps(result))
        return
    if as_nl:
        write_nl(rows)
        return
    if as_csv:
        write_csv(rows, HISTORY_COLUMNS)
        return
    click.echo(f"{result['trial_id']}: {len(result['versions'])} version(s)")
    for v in result["versions"]:
        registry_date = f", registry update {v['last_updated']}" if v["last_updated"] else ""
        click.echo(f"  v{v['version']}  fetched {v['fetched_at']}{registry_date}  "
                   f"[{v['status']}]")
        click.echo(f"      {v['summary']}")


@click.command()
@click.option("--since", metavar="YYYY-MM-DD",
              help="Versions trialscope fetched on or after this date (UTC).")
@click.option("--updated-since", metavar="YYYY-MM-DD",
              help="Versions the registry updated on or after this date (its last-update "
                   "date, e.g. ClinicalTrials.gov's LastUpdatePostDate).")
@click.option("--watch", metavar="NAME", help="Only trials this watch brought in.")
@listing_options
@click.pass_context
@_exits
def changes(ctx: click.Context, since: str | None, updated_since: str | None, watch: str | None,
            as_json: bool, as_nl: bool, as_csv: bool) -> None:
    """What changed across all trials: one line per new or changed trial version.

    Give --since (when trialscope fetched it) or --updated-since (when the registry
    updated it), or both (a version must pass both).

    \b
    Examples:
      trials changes --since 2025-06-01
      NCT06958939  2025-06-03T06:00:12Z  status NOT_YET_RECRUITING -> RECRUITING
      trials changes --updated-since 2025-01-01 --csv
    """
    from trialscope.app.history import changes_feed

    if not since and not updated_since:
        raise TrialsError("bad_argument", "Give --since (fetched on or after) or "
                          "--updated-since (updated by the registry on or after).",
                          "e.g. trials changes --since 2025-06-01")
    rows = changes_feed(command_home(ctx), since, watch=watch, updated_since=updated_since)
    if as_json:
        click.echo(dumps(rows))
    elif as_nl:
        write_nl(rows)
    elif as_csv:
        write_csv(rows, ["trial_id", "version", "fetched_at", "last_updated", "kind", "status",
                         "summary"])
    elif not rows:
        what = " and ".join(x for x in (since and f"fetched since {since}",
                                        updated_since and f"updated since {updated_since}") if x)
        click.echo(f"No changes stored {what}.")
    else:
        for row in rows:
            click.echo(f"{row['trial_id']:<14} fetched {row['fetched_at']}  registry update "
                       f"{row.get('last_updated') or '-'}  v{row['version']}  {row['summary']}")


# -- check ----------------------------------------------------------------------------------
@click.command()
@click.option("--repair", is_flag=True, help="Fix the index from the store (the store is the "
              "system of record).")
@json_option
@click.pass_context
@_exits
def check(ctx: click.Context, repair: bool, as_json: bool) -> None:
    """Check that the store and the search index agree: counts, ids, content.

    Exit 0 when they agree (after --repair, if given), 1 when they do not, 75 when
    --repair finds a refresh running.
    """
    from trialscope.app.check import LockHeld
    from trialscope.app.check import check as run_check

    try:
        report = run_check(command_home(ctx), repair=repair)
    except LockHeld as exc:
        raise _locked(exc) from exc
    if as_json:
        click.echo(dumps(report.as_dict()))
    else:
        verdict = "agree" if report.ok else "DISAGREE"
        click.echo(f"Store and index {verdict}: {report.store_trials} trial(s), "
                   f"{report.store_versions} version(s) stored; {report.index_docs} indexed.")
        if report.repaired is not None:
            done = report.repaired
            click.echo(f"Repaired: {'rebuilt the index, ' if done['rebuilt'] else ''}"
                       f"{done['deleted']} document(s) removed, {done['reindexed']} re-indexed.")
        for line in report.problems():
            click.echo(f"  {line}")
        if report.refresh_running:
            click.echo(f"  (a refresh is running: pid {report.refresh_running['pid']}; "
                       "check again when it ends)")
        if not report.ok and not repair:
            click.echo("Run 'trials check --repair' to fix the index from the store.")
    if not report.ok:
        sys.exit(1)
