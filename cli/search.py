"""`trials search` and `trials export`: ranked search with filters, and exports."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..index import service
from ..parser.record import ROW_COLUMNS, to_row
from . import render
from .main import PHASE_CHOICES, STATUS_CHOICES, TYPE_CHOICES, _home, cli
from .output import dumps, handles_errors, listing_options, write_csv, write_nl


def search_filters(func: Any) -> Any:
    options = [
        click.option("--status", "status", multiple=True, type=click.Choice(
            STATUS_CHOICES, case_sensitive=False),
            help="Overall status; 'open' = not yet recruiting, recruiting, by invitation."),
        click.option("--phase", "phase", multiple=True,
                     type=click.Choice(PHASE_CHOICES, case_sensitive=False), help="Phase."),
        click.option("--type", "study_type", multiple=True,
                     type=click.Choice(TYPE_CHOICES, case_sensitive=False), help="Study type."),
        click.option("--registry", "registry", multiple=True, help="Registry (ctgov, ...)."),
        click.option("--country", "country", multiple=True,
                     help="Country with at least one site (repeatable)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _filters(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v.upper() if k in ("status", "phase", "study_type") else v for v in vals)
            for k, vals in kwargs.items()}


@cli.command()
@click.argument("query", required=False, default="")
@search_filters
@click.option("--limit", type=click.IntRange(1, 10000), default=20, show_default=True)
@listing_options
@click.pass_context
@handles_errors
def search(ctx: click.Context, query: str, limit: int, as_json: bool, as_nl: bool,
           as_csv: bool, **filters: Any) -> None:
    """Ranked search of the local index, with filters.

    \b
    Query syntax: words (synonyms such as CAR-T / CAR T / chimeric antigen
    receptor match each other), "exact phrases", AND / OR / NOT, prefix*,
    and fields: title:, condition:, intervention:, sponsor:, id:.
    \b
    Examples:
      trials search "refractory myasthenia gravis CAR-T"
      trials search "CAR-T" --status open --phase phase1 --country China
      trials search 'condition:"myasthenia gravis" AND intervention:efgartigimod'
    """
    results = service.search(_home(ctx), query, limit=limit, **_filters(filters))
    rows = [{"trial_id": h.trial_id, "score": round(h.score, 4), "title": h.title,
             "status": h.status, "phases": h.phases, "conditions": h.conditions,
             "snippet": h.snippet} for h in results.hits]
    if as_json:
        click.echo(dumps({"query": query, "parsed_query": results.query_repr,
                          "total": results.total, "results": rows}))
    elif as_nl:
        write_nl(rows)
    elif as_csv:
        write_csv(rows, ["trial_id", "score", "status", "phases", "title", "conditions"])
    else:
        click.echo(render.search_table(results, color=sys.stdout.isatty()))


@cli.command()
@click.argument("query", required=False, default="")
@search_filters
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl",
              show_default=True, help="jsonl: whole records; csv: one flat row per trial.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of stdout.")
@click.pass_context
@handles_errors
def export(ctx: click.Context, query: str, fmt: str, output: Path | None,
           **filters: Any) -> None:
    """Export all stored trials, or those a query and filters select, as JSONL or CSV."""
    records = service.records(_home(ctx), query, **_filters(filters))
    stream = output.open("w", encoding="utf-8", newline="") if output else None
    try:
        out = stream or sys.stdout
        n = 0
        if fmt == "csv":
            rows = []
            for rec in records:
                rows.append(to_row(rec))
                n += 1
            write_csv(rows, list(ROW_COLUMNS), out)
        else:
            for rec in records:
                out.write(json.dumps(rec.to_dict(), ensure_ascii=False) + "\n")
                n += 1
    finally:
        if stream:
            stream.close()
    if output:
        click.echo(f"{n} trial(s) written to {output}", err=True)
