"""`trials related ID`: the trials most like a given one."""

from __future__ import annotations

import sys

import click

from trialscope.app import payloads, service
from trialscope.cli import render
from trialscope.cli.options import command_home
from trialscope.cli.output import dumps, handles_errors, listing_options, write_csv, write_nl


@click.command()
@click.argument("trial_id", metavar="ID")
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True)
@listing_options
@click.pass_context
@handles_errors
def related(ctx: click.Context, trial_id: str, limit: int, as_json: bool, as_nl: bool,
            as_csv: bool) -> None:
    """Trials most like ID: same condition and therapy first, then shared words.

    \b
    Compares conditions, cell-therapy kind (CAR-T, CAR-NK, CAAR-T and the
    products the synonym file knows), targets and modality, and the most
    distinctive words of the title, interventions and summary.
    \b
    Examples:
      trials related NCT06958939
      trials related NCT06958939 --limit 5 --json
    """
    results = service.related(command_home(ctx), trial_id, limit=limit)
    rows = payloads.related_rows(results)
    if as_json:
        click.echo(dumps(payloads.related_document(results)))
    elif as_nl:
        write_nl(rows)
    elif as_csv:
        write_csv(rows, ["trial_id", "score", "status", "phases", "title", "shared"])
    else:
        click.echo(render.related_table(results, color=sys.stdout.isatty()))
