"""`trials search` and `trials export`: ranked search with filters and facets, and exports."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import click

from trialscope.app import payloads, service
from trialscope.cli import render
from trialscope.cli.options import PHASE_HELP, STATUS_HELP, TYPE_HELP, command_home
from trialscope.cli.output import (
    dumps,
    handles_errors,
    listing_options,
    output_file,
    write_csv,
    write_nl,
)
from trialscope.core.errors import TrialsError
from trialscope.core.record import ROW_COLUMNS, to_row

_DATE = "YYYY[-MM[-DD]]"
SEARCH_CSV_COLUMNS = ["trial_id", "score", "status", "phases", "title", "conditions", "sponsor",
                      "start_date", "url", "snippet"]


def search_filters(func: Any) -> Any:
    """The filters `search` and `export` share (validated in index/facets.py)."""
    options = [
        click.option("--status", "status", multiple=True, metavar="STATUS", help=STATUS_HELP),
        click.option("--phase", "phase", multiple=True, metavar="PHASE", help=PHASE_HELP),
        click.option("--type", "study_type", multiple=True, metavar="TYPE", help=TYPE_HELP),
        click.option("--registry", "registry", multiple=True, help="Registry (ctgov, ...)."),
        click.option("--country", "country", multiple=True,
                     help="Country with at least one site (repeatable)."),
        click.option("--city", "city", multiple=True, help="City with at least one site."),
        click.option("--sponsor", "sponsor", multiple=True,
                     help="Lead sponsor, exactly as the facet lists it (any case)."),
        click.option("--target", "target", multiple=True,
                     help="Cell-therapy target antigen (CD19, BCMA, ...)."),
        click.option("--modality", "modality", multiple=True,
                     help="Cell-therapy modality (CAR-T, CAR-NK, CAAR-T, ...)."),
        click.option("--sex", type=click.Choice(["female", "male"], case_sensitive=False),
                     help="Trials that take this sex (also used for the patient filters)."),
        click.option("--start-from", metavar=_DATE, help="Started on or after this date."),
        click.option("--start-to", metavar=_DATE, help="Started on or before this date."),
        click.option("--updated-since", metavar=_DATE, help="Last updated on or after."),
        click.option("--updated-to", metavar=_DATE, help="Last updated on or before."),
        click.option("--min-enrollment", type=click.IntRange(0), help="Enrollment at least."),
        click.option("--max-enrollment", type=click.IntRange(0), help="Enrollment at most."),
        click.option("--has-results/--no-results", "has_results", default=None,
                     help="Only trials with (or without) posted results."),
        click.option("--patient-age", type=click.FloatRange(0, 130), metavar="YEARS",
                     help="Patient fit: trials whose extracted limits admit this age."),
        click.option("--where", "where", multiple=True, metavar="MEASURE=VALUE",
                     help='Patient fit: a score, class, vital or lab value, e.g. "MG-ADL=7", '
                          '"ECOG=1", "NYHA=II", "systolic=150" (repeatable).'),
        click.option("--washout", "washout", multiple=True, metavar="DRUG:AGO",
                     help="Patient fit: last dose of a drug, or an event or procedure, that "
                          "long ago, e.g. rituximab:4m, 'myocardial infarction:2m' "
                          "(repeatable)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _filters(kwargs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        if isinstance(value, tuple):
            value = tuple(v.upper() if key in ("status", "phase", "study_type") else v
                          for v in value)
        out[key] = value
    return out


@click.command()
@click.argument("query", required=False, default="")
@search_filters
@click.option("--limit", type=click.IntRange(1, 10000), default=20, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0, help="Skip this many results.")
@click.option("--explain", is_flag=True,
              help="Show why each result ranks where it does (per-field contributions).")
@click.option("--show-query", is_flag=True,
              help="Print the parsed query (with synonyms) and the intents understood.")
@click.option("--literal", is_flag=True,
              help="Search the words as written: no synonyms, no other names (the "
                   "records' own, a drug dictionary's brand and generic names), and no "
                   "understanding of status, place, population, phase or subtype words.")
@click.option("--facets/--no-facets", default=True, show_default=True,
              help="Count results per status, phase, country, sponsor, start year, target.")
@listing_options
@click.pass_context
@handles_errors
def search(ctx: click.Context, query: str, limit: int, offset: int, explain: bool,
           show_query: bool, literal: bool, facets: bool, as_json: bool, as_nl: bool,
           as_csv: bool, **filters: Any) -> None:
    """Ranked search of the local index, with filters and facets.

    \b
    Query syntax: words (synonyms match each other: CAR-T / CAR T /
    chimeric antigen receptor; FcRn inhibitor finds efgartigimod,
    rozanolixizumab, ...; see index/synonyms.txt; a brand finds its generic:
    Jardiance / empagliflozin), "exact phrases",
    AND / OR / NOT, prefix*, ranges enrollment:[10 TO 50], and fields:
    title:, condition:, intervention:, sponsor:, id:, exclusion:, location:.
    Words naming a status, place, population, phase or subtype ("recruiting",
    "in China", "children", "phase 3", "HER2-positive"; index/intents.txt)
    rank the trials that have it first; quote them or use --literal to
    search them as text.
    \b
    Examples:
      trials search "refractory myasthenia gravis CAR-T"
      trials search "CAR-T" --status open --phase phase1 --country China
      trials search "FcRn inhibitor" --start-from 2019 --min-enrollment 100
      trials search myasthenia --patient-age 70 --where "MG-ADL=7" --washout rituximab:4m
      trials search 'condition:"myasthenia gravis" AND intervention:efgartigimod' --explain
    """
    results = service.search(command_home(ctx), query, limit=limit, offset=offset,
                             facets=facets and not (as_nl or as_csv), explain_hits=explain,
                             literal=literal, **_filters(filters))
    rows = payloads.search_rows(results, explain=explain)
    if as_json:
        click.echo(dumps(payloads.search_document(query, results, offset=offset,
                                                  explain=explain)))
        return
    if show_query:
        click.echo(f"Parsed query: {results.query_repr}", err=as_nl or as_csv)
    if as_nl:
        write_nl(rows)
    elif as_csv:
        records = service.records_by_id(command_home(ctx), [r["trial_id"] for r in rows])
        for row in rows:
            rec = records.get(row["trial_id"])
            row.update(sponsor=rec.sponsor if rec else None,
                       start_date=rec.start_date if rec else None,
                       url=rec.url if rec else None,
                       snippet=render.plain(row["snippet"] or ""))
        write_csv(rows, SEARCH_CSV_COLUMNS)
    else:
        click.echo(render.search_table(results, color=sys.stdout.isatty(), explain=explain))
        if results.facets:
            click.echo(render.facets_block(results.facets))


@click.command()
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
    """Export all stored trials, or those a query and filters select, as JSONL or CSV.

    Takes the same filters as `trials search` (patient-fit ones included); best match first.
    With -o the file is replaced only once the export is complete (an error leaves it as it
    was); a path inside the data home is refused.  CSV text cells that a spreadsheet would
    run as a formula (starting with = + - @, tab or CR) get a leading apostrophe.
    """
    home = command_home(ctx)
    if output is None and query.strip().lower().endswith((".json", ".jsonl", ".csv")):
        # `trials export trials.jsonl` would search for the file's name and print to stdout
        raise TrialsError("bad_argument", f"'{query}' looks like a file name, not a query.",
                          f"Write the export to that file with -o: trials export -o "
                          f"{query.strip()}")
    # The query and filters are checked (and the search run) before any output is created.
    records = service.records(home, query, **_filters(filters))
    context = output_file(output, home) if output else contextlib.nullcontext(sys.stdout)
    n = 0
    with context as out:
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
    if output:
        click.echo(f"{n} trial(s) written to {output}", err=True)
