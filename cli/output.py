"""Shared CLI plumbing: the error contract and the listing formats (--json / --nl / --csv).

Errors (``core.errors``): ``Error: <what happened>. <what to do>`` on stderr and the error's
``exit_code`` (1 unless it says otherwise; click's own usage errors exit 2), and
``{"error": {"code", "message", "hint"}}`` on stdout under ``--json``.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar, cast

import click

from trialscope.app import present
from trialscope.app.service import DataHome, TrialsError, home_write_error

F = TypeVar("F", bound=Callable[..., Any])


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=False, default=str)


def fail(exc: TrialsError, as_json: bool) -> None:
    """Print ``exc`` as the error contract says and exit with its ``exit_code``."""
    if as_json:
        click.echo(dumps({"error": exc.as_dict()}))
    click.echo(f"Error: {exc.message} {exc.hint}".rstrip(), err=True)
    sys.exit(exc.exit_code)


def handles_errors(func: F) -> F:
    """Turn library errors into the CLI error contract instead of tracebacks: every library
    error is a ``TrialsError``."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TrialsError as exc:
            fail(exc, bool(kwargs.get("as_json")))
        except OSError as exc:
            # A file-system refusal no library call turned into a TrialsError (a read-only
            # or full disk somewhere on the way): still the error contract, never a traceback.
            fail(os_error(exc), bool(kwargs.get("as_json")))
        except KeyboardInterrupt:
            click.echo("Interrupted. What was stored so far is kept; run the command again "
                       "to continue.", err=True)
            sys.exit(130)

    return cast(F, wrapper)  # (functools.wraps keeps func's signature)


def current_home() -> DataHome | None:
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return None
    obj = ctx.find_root().obj or {}
    return DataHome.resolve(obj.get("home"))


def os_error(exc: OSError) -> TrialsError:
    """A ``TrialsError`` for an ``OSError``: about the data home when the file is in it."""
    home = current_home()
    name = exc.filename
    if home is not None and name is not None and _inside(Path(os.fsdecode(name)), home.root):
        return home_write_error(home, exc)
    where = f": {os.fsdecode(name)}" if name is not None else ""
    return TrialsError("io_error", f"{exc.strerror or exc}{where}.",
                       "Check the path, its permissions and the free disk space, then run "
                       "the command again.")


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` (symlinks resolved, as far as they exist) is ``folder`` or in it."""
    try:
        real, root = path.resolve(), folder.resolve()
    except (OSError, RuntimeError):
        return False
    return real == root or root in real.parents


@contextlib.contextmanager
def output_file(path: Path, home: DataHome) -> Iterator[IO[str]]:
    """Write ``path`` safely: never inside the data home (symlinks resolved: ``-o`` pointing
    at ``store.sqlite`` must not empty the store), into a temporary file beside the target,
    renamed over it only when everything was written.  Any error leaves an existing file as
    it was.  A missing or unwritable folder is a ``TrialsError`` (``output_error``)."""
    target = path.expanduser()
    if _inside(target, home.root):
        raise TrialsError("output_error", f"Refusing to write {path}: it is inside the data "
                          f"home {home.root}, where the store and the index live.",
                          "Write the export somewhere else (-o ~/exports/trials.csv).")
    real = target.resolve()  # a symlink outside the home: write where it points
    folder = real.parent
    if not folder.is_dir():
        raise TrialsError("output_error", f"Cannot write {path}: the folder {folder} does "
                          "not exist.", "Create it first, or give another -o path.")
    if real.is_dir():
        raise TrialsError("output_error", f"Cannot write {path}: it is a folder.",
                          "Give a file name, e.g. -o trials.csv.")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise TrialsError("output_error", f"Cannot write in {folder} ({exc.strerror}).",
                          "Give a -o path in a folder you can write.") from exc
    tmp = Path(tmp_name)
    try:
        try:
            mode = real.stat().st_mode & 0o7777 if real.exists() else 0o666 & ~_umask()
            os.chmod(fd, mode)
        except OSError:
            pass  # the temp file's own mode (0600) is a safe default
        with open(fd, "w", encoding="utf-8", newline="") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, real)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise TrialsError("output_error", f"Could not write {path} ({exc.strerror or exc}); "
                          "an existing file there is unchanged.",
                          "Check the free disk space and the folder, then run again.") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_csv(rows: Iterable[dict[str, Any]], columns: list[str], out: Any = None) -> None:
    """CSV with the export's rules (``app.present.write_csv``); to stdout unless ``out``."""
    if out is not None:
        present.write_csv(rows, columns, out)
        return
    stream = io.StringIO()
    present.write_csv(rows, columns, stream)
    click.echo(stream.getvalue(), nl=False)


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










