"""Shared CLI plumbing: the error contract and the listing formats (--json / --nl / --csv).

Errors: ``Error: <what happened>. <what to do>`` on stderr, exit 1 (2 for usage errors, which
click handles), and ``{"error": {"code", "message", "hint"}}`` on stdout under ``--json``.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import sys
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click

from ..index.service import TrialsError

F = TypeVar("F", bound=Callable[..., Any])


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False, default=str)


def fail(exc: TrialsError, as_json: bool) -> None:
    if as_json:
        click.echo(dumps({"error": {"code": exc.code, "message": exc.message,
                                    "hint": exc.hint}}))
    click.echo(f"Error: {exc.message} {exc.hint}".rstrip(), err=True)
    sys.exit(1)


def handles_errors(func: F) -> F:
    """Turn library errors into the CLI error contract instead of tracebacks."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TrialsError as exc:
            fail(exc, bool(kwargs.get("as_json")))
        except RuntimeError as exc:
            # The index's own errors (no index, index busy) carry a stable code too.
            code = getattr(exc, "code", None)
            if not code:
                raise
            fail(TrialsError(code, str(exc)), bool(kwargs.get("as_json")))
        except KeyboardInterrupt:
            click.echo("Interrupted. What was stored so far is kept; run the command again "
                       "to continue.", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Output JSON.")(func)


def listing_options(func: F) -> F:
    """--json (one document), --nl (one JSON object per line), --csv."""
    func = click.option("--csv", "as_csv", is_flag=True, help="Output CSV rows.")(func)
    func = click.option("--nl", "as_nl", is_flag=True,
                        help="Output newline-delimited JSON, one object per line.")(func)
    return json_option(func)


def write_nl(rows: Iterable[dict[str, Any]]) -> None:
    for row in rows:
        click.echo(json.dumps(row, ensure_ascii=False, default=str))


def write_csv(rows: Iterable[dict[str, Any]], columns: list[str], out: Any = None) -> None:
    stream = out or io.StringIO()
    writer = csv.DictWriter(stream, fieldnames=columns, extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in columns})
    if out is None:
        click.echo(stream.getvalue(), nl=False)


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return "; ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else value
