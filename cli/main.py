"""`trials`: the command line.  Each command validates its input, calls one library function
and formats the result; query building, parsing and storage live in the library.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from trialscope import __version__
from trialscope.app import payloads, service
from trialscope.app.summary import CrawlProblem, TrialInfo
from trialscope.cli import related, render, search, serve, watch
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
from trialscope.core.record import ROW_COLUMNS, TrialRecord, to_row


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", type=click.Path(file_okay=False), envvar="TRIALS_HOME",
              help="Data folder (default: $TRIALS_HOME, else the platform's user data dir).")
@click.version_option(__version__, prog_name="trials")
@click.pass_context
def cli(ctx: click.Context, home: str | None) -> None:
    """trialscope: a local, searchable copy of clinical-trial registries.

    \b
    Quick start (offline, bundled demo data):
      trials crawl --offline
      trials search "refractory myasthenia gravis CAR-T"
      trials show NCT06958939
    """
    ctx.ensure_object(dict)
    ctx.obj["home"] = home


# -- crawl ----------------------------------------------------------------------------------
@cli.command()
@click.option("--id", "ids", multiple=True, metavar="ID",
              help="Trial id to fetch (repeatable; comma-separated lists work too).")
@click.option("--query", help="Free-text query (the API's query.term).")
@click.option("--condition", help="Condition or disease (query.cond).")
@click.option("--intervention", help="Intervention or treatment (query.intr).")
@click.option("--status", "statuses", multiple=True, type=click.Choice(STATUS_CHOICES,
              case_sensitive=False), help="Only trials with this overall status (repeatable).")
@click.option("--since", metavar="YYYY-MM-DD",
              help="Only trials updated on or after this date (LastUpdatePostDate).")
@click.option("--registry", type=click.Choice(service.crawlable()), default="ctgov",
              show_default=True,
              help="Registry to crawl.  chictr takes --id or --query (titles) only; its base "
                   "URL comes from TRIALS_CHICTR_BASE.")
@click.option("--offline", is_flag=True,
              help="Replay the bundled fixtures through the real spider (no network).")
@click.option("--page-size", type=click.IntRange(1, 1000), default=1000, show_default=True,
              help="Studies per API page.")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar (default: when stderr is a terminal).")
@click.option("--save-as", metavar="NAME",
              help="Also save this query (or id list) as a watch for 'trials refresh'.")
@json_option
@click.pass_context
@handles_errors
def crawl(ctx: click.Context, ids: tuple[str, ...], query: str | None, condition: str | None,
          intervention: str | None, statuses: tuple[str, ...], since: str | None, registry: str,
          offline: bool, page_size: int, progress: bool | None, save_as: str | None,
          as_json: bool) -> None:
    """Fetch trials from a registry into the local store, then update the index.

    \b
    Examples:
      trials crawl --offline
      trials crawl --id NCT06958939 --id NCT05828225
      trials crawl --condition "myasthenia gravis" --intervention "CAR-T"
      trials crawl --condition "myasthenia gravis" --since 2025-01-01 --status open
      trials crawl --registry chictr --query "CAR-T myasthenia gravis"
    """
    from trialscope.app.crawl import crawl as run  # scrapy is slow to import: only when crawling

    home = command_home(ctx)
    id_list = [part.strip() for raw in ids for part in raw.split(",") if part.strip()]
    id_list = [service.check_trial_id(i) for i in id_list]
    if registry != "ctgov" and any(i.startswith("NCT") for i in id_list):
        raise TrialsError("bad_argument", f"NCT ids belong to ClinicalTrials.gov, not {registry}.",
                          "Drop --registry or give that registry's ids.")
    if progress is None:
        progress = sys.stderr.isatty() and not as_json
    saving = None
    if save_as:  # checked before the crawl: a bad name must not waste one
        from trialscope.app.refresh import prepare_saved_crawl

        saving = prepare_saved_crawl(home, save_as, offline=offline, since=since, ids=id_list,
                                     cond=condition, intr=intervention, term=query,
                                     statuses=[s.upper() for s in statuses], registry=registry)
    summary = run(home, ids=id_list, term=query, cond=condition, intr=intervention,
                  statuses=list(statuses), since=since, offline=offline, page_size=page_size,
                  progress=progress, registry=registry)
    if saving:
        summary["watch"] = saving.save(home, summary)
    error = summary.get("error")
    if as_json:
        click.echo(dumps(summary))  # one document: the error, if any, is inside it
    else:
        click.echo(render.crawl_summary(summary))
    if error:
        for line in error["lines"]:
            click.echo(f"Error: {line}", err=True)
        sys.exit(1)
    unparsed = render.kept_unparsed_warning(summary)
    if unparsed:  # nothing fetched was lost, but not every record was stored: partial
        click.echo(f"Error: {unparsed}", err=True)
        sys.exit(1)


# -- import / parse -------------------------------------------------------------------------
@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar (default: when stderr is a terminal).")
@click.option("--id", "trial_id", metavar="ID",
              help="The trial id of a saved page that does not show one (aggregator pages).")
@json_option
@click.pass_context
@handles_errors
def import_(ctx: click.Context, paths: tuple[Path, ...], progress: bool | None,
            trial_id: str | None, as_json: bool) -> None:
    """Import saved registry payloads (study JSON, API search pages, folders of them).

    A new version is stored only when a trial's content changed; records that cannot be
    parsed are kept (raw) and counted.
    """
    enabled = sys.stderr.isatty() if progress is None else progress
    bar = render.FileProgress(enabled=enabled)
    bulk_bar = _BulkBar(enabled=enabled)
    try:
        summary = service.import_paths(
            command_home(ctx), list(paths), on_file=bar.update,
            trial_id=service.check_trial_id(trial_id) if trial_id else None,
            on_progress=bulk_bar.update)
    finally:
        bar.close()
        bulk_bar.close()
    if as_json:
        click.echo(dumps(summary.as_dict()))
    else:
        click.echo(render.import_summary(summary))
        for f in summary.failures:
            click.echo(f"  failed: {f['message']} [{f['reason']}]", err=True)
        from trialscope.app.formats import PAYLOAD_SUFFIXES  # lazy: it imports every parser

        read = ", ".join(sorted(PAYLOAD_SUFFIXES))
        for name in summary.ignored[:IGNORED_SHOWN]:
            click.echo(f"  not read: {name} (trialscope reads {read} files in folders)",
                       err=True)
        if len(summary.ignored) > IGNORED_SHOWN:
            click.echo(f"  ... and {len(summary.ignored) - IGNORED_SHOWN} more not read "
                       "(--json lists them)", err=True)
    if summary.failed:
        sys.exit(1)


IGNORED_SHOWN = 5


class _BulkBar:
    """Progress of a bulk import (zips, large folders): studies read, the phase, an estimate
    of the time left from the whole run's rate (index pauses included)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None

    def update(self, p: Any) -> None:  # p: index.bulk.BulkProgress
        if not self.enabled:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=p.total, unit="study", desc="import", smoothing=0,
                             leave=False)
        self._bar.update(p.done - self._bar.n)
        eta = p.eta
        left = f", ~{eta / 60:.0f} min left" if eta is not None else ""
        self._bar.set_postfix_str(f"{p.phase}, {p.indexed} indexed{left}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--id", "trial_id", metavar="ID",
              help="The trial id of a saved page that does not show one (aggregator pages).")
@listing_options
@handles_errors
def parse(paths: tuple[Path, ...], trial_id: str | None, as_json: bool, as_nl: bool,
          as_csv: bool) -> None:
    """Parse saved payloads and print the records.  Touches no store.

    --json prints a list of records, also for one file.
    """
    from trialscope.app.formats import FORMATS_HELP, Failure

    records: list[TrialRecord] = []
    failures: list[Failure] = []
    tid = service.check_trial_id(trial_id) if trial_id else None
    for item in service.parse_paths(list(paths), trial_id=tid):
        if isinstance(item, Failure):
            failures.append(item)
        else:
            records.append(item)
    _print_records(records, as_json, as_nl, as_csv)
    for f in failures:
        reads = ("" if FORMATS_HELP in f.message or f.reason == "unreadable"
                 else f" trialscope reads {FORMATS_HELP}.")
        click.echo(f"Error: could not parse {f.message} [{f.reason}].{reads}", err=True)
    if failures:
        sys.exit(1)


def _print_records(records: list[TrialRecord], as_json: bool, as_nl: bool, as_csv: bool) -> None:
    if as_json:  # always a list, however many records (scripts need one shape)
        click.echo(dumps([r.to_dict() for r in records]))
    elif as_nl:
        write_nl(r.to_dict() for r in records)
    elif as_csv:
        write_csv((to_row(r) for r in records), list(ROW_COLUMNS))
    else:
        click.echo("\n\n".join(render.trial_card(r) for r in records))


# -- show / search / export -----------------------------------------------------------------
@cli.command()
@click.argument("trial_id", metavar="ID")
@click.option("--fetch", is_flag=True, help="Fetch the current version from the registry first.")
@json_option
@click.pass_context
@handles_errors
def show(ctx: click.Context, trial_id: str, fetch: bool, as_json: bool) -> None:
    """Show one trial from the local store: a readable card, or the record with --json."""
    home = command_home(ctx)
    tid = service.check_trial_id(trial_id)
    fetch_error: CrawlProblem | None = None
    record: TrialRecord | None
    info: TrialInfo | None
    if fetch:
        from trialscope.app.crawl import crawl as run

        summary = run(home, ids=[tid], progress=False)
        if summary.get("not_found"):
            raise TrialsError("not_found", f"The registry does not know {tid}.",
                              "Check the id on the registry's website.")
        fetch_error = summary.get("error")
    if fetch_error is None:
        record, info = service.show(home, tid)
    else:
        try:
            record, info = service.show(home, tid)
        except TrialsError:
            record = info = None
        first = f"Could not fetch {tid} from the registry: " + (
            "; ".join(f"{c['what']}" + (f" ({', '.join(c['samples'])})" if c["samples"] else "")
                      for c in fetch_error["causes"]) or fetch_error["lines"][0].rstrip("."))
        stored = (f"Showing the stored copy (last fetched {info.get('last_fetched')})."
                  if info is not None else "No copy of it is stored.")
        fetch_error = {**fetch_error, "code": "fetch_failed", "message": f"{first}. {stored}"}
        if record is None or info is None:  # (both or neither)
            raise TrialsError("fetch_failed", f"{first}. {stored}", fetch_error["hint"])
    if as_json:
        data = payloads.show_document(record, info)
        if fetch_error is not None:
            data["error"] = {k: v for k, v in fetch_error.items() if k != "lines"}
        click.echo(dumps(data))
    else:
        if fetch_error is not None:
            click.echo(click.style("STORED COPY: the registry could not be reached (see "
                                   "stderr).", bold=True))
        click.echo(render.trial_card(record, info))
    if fetch_error is not None:
        click.echo(f"Error: {fetch_error['message']} {fetch_error['hint']}", err=True)
        sys.exit(1)


# -- maintenance ----------------------------------------------------------------------------
@cli.command()
@json_option
@click.pass_context
@handles_errors
def reindex(ctx: click.Context, as_json: bool) -> None:
    """Rebuild the search index from the store (the store is the system of record).

    Takes the data home's writer lock: while a crawl, import or refresh writes, it exits 1
    (code locked) and says who holds the lock.  Folders left by a killed rebuild are removed.
    """
    n = service.reindex(command_home(ctx))
    click.echo(dumps({"indexed": n}) if as_json else f"Index rebuilt: {n} trials.")


@cli.command()
@json_option
@click.pass_context
@handles_errors
def info(ctx: click.Context, as_json: bool) -> None:
    """Where the data lives and how much of it there is."""
    data = service.status(command_home(ctx))
    if as_json:
        click.echo(dumps(data))
    else:
        sizes = {k: data.pop(k) for k in list(data) if k.endswith("_bytes")
                 or k.endswith("_per_trial")}
        width = max([len(k) for k in data] + [len("store size")]) + 1
        for k, v in data.items():
            click.echo(f"{k + ':':<{width}} {v}")
        for part in ("store", "index"):
            line = f"{part + ' size:':<{width}} {_size(sizes[part + '_bytes'])}"
            if part + "_bytes_per_trial" in sizes:
                line += f" ({sizes[part + '_bytes_per_trial'] / 1000:.1f} kB a trial)"
            click.echo(line)


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


# The commands of their own modules, attached to the group (they do not import it).
for _command in (related.related, search.search, search.export, serve.serve, watch.watch,
                 watch.refresh, watch.history, watch.changes, watch.check):
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="trials")


if __name__ == "__main__":
    main()
