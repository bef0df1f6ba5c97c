"""The one error contract (core/errors.py): one base class, one list of codes, one CLI handler,
one web mapping; the README lists exactly the codes."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from trialscope.core.errors import CODES, TrialsError

REPO = Path(__file__).resolve().parents[1]
ROOMS = ("core", "extract", "parser", "store", "index", "crawler", "app", "cli", "web")
# Control flow that never reaches a user, listed (with why) in core/errors.py's docstring.
INTERNAL = {"trialscope.app.service.Stopped", "trialscope.crawler.replay.BadRequest"}

ALL_CODES = [
    "bad_argument", "bad_filter", "bad_home", "bad_input", "bad_name", "bad_query", "bad_range",
    "bad_request", "bad_watch", "bad_wildcard", "blocked", "crawl_failed", "empty_query",
    "exists", "fetch_failed", "index_busy", "internal_error", "interrupted",
    "invalid_id", "io_error", "locked", "no_index", "no_watches", "not_found", "output_error",
    "parse_error", "partial", "port_in_use", "query_syntax", "read_only", "store_error",
    "too_deep", "too_large", "unknown_field", "unknown_watch",
]


def _modules() -> list[str]:
    names = []
    for room in ROOMS:
        package = importlib.import_module(f"trialscope.{room}")
        names.append(package.__name__)
        names += [m.name for m in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")
                  if not m.name.endswith("__main__")]
    return names


MODULES = _modules()


def _exception_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined in a room, by its full name."""
    out = {}
    for name in MODULES:
        module = importlib.import_module(name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == name:
                out[f"{name}.{obj.__qualname__}"] = obj
    return out


EXCEPTIONS = _exception_classes()


def test_the_codes_are_pinned() -> None:
    assert sorted(CODES) == ALL_CODES
    assert all(isinstance(v, str) and v.strip() for v in CODES.values())


def test_every_exception_in_the_rooms_is_a_trials_error() -> None:
    assert len(EXCEPTIONS) >= 15  # the walk found the library's errors
    outside = sorted(name for name, cls in EXCEPTIONS.items()
                     if not issubclass(cls, TrialsError) and name not in INTERNAL)
    assert outside == [], "derive these from core.errors.TrialsError (or list them as internal)"
    doc = importlib.import_module("trialscope.core.errors").__doc__ or ""
    for name in INTERNAL:
        assert name in EXCEPTIONS, f"{name} is gone: drop it from INTERNAL and core/errors.py"
        assert name.removeprefix("trialscope.") in doc, f"{name}: say why in core/errors.py"


def test_library_errors_keep_the_base_their_callers_catch() -> None:
    from trialscope.core.limits import TooLarge
    from trialscope.crawler.ctgov_args import CrawlArgumentError
    from trialscope.crawler.run import CrawlError
    from trialscope.index.indexer import IndexBusyError, NoIndexError
    from trialscope.index.query import QueryError
    from trialscope.parser.errors import ParseError
    from trialscope.store.codec import CodecError
    from trialscope.store.db import StoreError, StoreReadOnly
    from trialscope.store.lock import LockHeld

    for cls in (TooLarge, ParseError, CodecError, QueryError, CrawlArgumentError):
        assert issubclass(cls, ValueError) and issubclass(cls, TrialsError), cls
    for cls in (LockHeld, StoreError, NoIndexError, IndexBusyError, CrawlError):
        assert issubclass(cls, RuntimeError) and issubclass(cls, TrialsError), cls
    assert StoreReadOnly("x").code == "read_only" and StoreError("x").code == "store_error"
    assert ParseError("bad_field", "enrollment", source="a.json").code == "parse_error"
    err = QueryError("Unknown field 'x'.", code="unknown_field", hint="Use title:")
    assert (str(err), err.message, err.hint) == ("Unknown field 'x'.", "Unknown field 'x'.",
                                                 "Use title:")
    held = LockHeld(Path("/data/refresh.lock"), None)
    assert held.code == "locked" and held.describe() == "another process"
    assert str(TooLarge(2**30)).startswith("payload too large (1,073,741,824 bytes")


# -- every code written in the source is in CODES, and every code in CODES is used ----------
CODE_FIRST = {"TrialsError", "WatchError"}  # raised as Cls(code, message, hint)


def _strings(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)}


def _codes_in(path: Path, error_classes: set[str]) -> tuple[set[str], list[str]]:
    """The codes ``path`` writes: the first argument of TrialsError/WatchError, a ``code=``
    keyword of an error class, an error class's own ``code = ...`` and the code its
    ``__init__`` hands to ``super().__init__``, and the ``"code"`` of an error document (a
    dict literal with "code" and "message"; a variable there is followed to what its function
    assigns it).  Also the calls whose code is not written out (the scan could not see it)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    unseen: list[str] = []
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        if cls.name not in error_classes:
            continue
        for stmt in cls.body:
            if isinstance(stmt, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "code" for t in stmt.targets):
                found |= _strings(stmt.value)
            if isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__":
                params = stmt.args.posonlyargs + stmt.args.args
                defaults = dict(zip([a.arg for a in params][::-1], stmt.args.defaults[::-1]))
                defaults |= {a.arg: d for a, d in zip(stmt.args.kwonlyargs, stmt.args.kw_defaults)
                             if d is not None}
                if "code" in defaults:
                    found |= _strings(defaults["code"])
        for call in (n for n in ast.walk(cls) if isinstance(n, ast.Call)):
            f = call.func
            if (isinstance(f, ast.Attribute) and f.attr == "__init__" and call.args
                    and isinstance(f.value, ast.Call)
                    and getattr(f.value.func, "id", "") == "super"):
                found |= _strings(call.args[0])
    for node in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name in CODE_FIRST and node.args:
            strings = _strings(node.args[0])
            if not strings:
                unseen.append(f"{path.name}:{node.lineno}")
            found |= strings
        if name in error_classes:
            found |= {s for kw in node.keywords if kw.arg == "code" for s in _strings(kw.value)}
    scopes = [tree, *(n for n in ast.walk(tree)
                      if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))]
    for scope in scopes:
        for doc in (n for n in ast.walk(scope) if isinstance(n, ast.Dict)):
            keys = {k.value: v for k, v in zip(doc.keys, doc.values)
                    if isinstance(k, ast.Constant)}
            if "code" not in keys or "message" not in keys:
                continue
            value = keys["code"]
            if isinstance(value, ast.Name):
                for a in (n for n in ast.walk(scope) if isinstance(n, ast.Assign)):
                    if any(isinstance(t, ast.Name) and t.id == value.id for t in a.targets):
                        found |= _strings(a.value)
            else:
                found |= _strings(value)
    return found, unseen


def _source_codes() -> dict[str, set[str]]:
    error_classes = {cls.__name__ for cls in EXCEPTIONS.values() if issubclass(cls, TrialsError)}
    where: dict[str, set[str]] = {}
    unseen: list[str] = []
    for name in MODULES:
        origin = importlib.util.find_spec(name).origin  # type: ignore[union-attr]
        if not origin or not origin.endswith(".py") or name == "trialscope.core.errors":
            continue
        codes, missed = _codes_in(Path(origin), error_classes)
        unseen += missed
        for code in codes:
            where.setdefault(code, set()).add(name)
    assert unseen == [], "write the code as a literal (from core.errors.CODES) at these calls"
    return where


def test_every_code_in_the_source_is_registered_and_every_registered_code_is_used() -> None:
    where = _source_codes()
    unknown = {code: sorted(mods) for code, mods in where.items() if code not in CODES}
    assert unknown == {}, "add these codes to core.errors.CODES (and the README's table)"
    assert sorted(set(CODES) - set(where)) == [], "codes no source file uses"


def test_the_scan_sees_a_code_it_does_not_know(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text('class E(TrialsError):\n    code = "class_code"\n'
                   '    def __init__(self, m, code="default"):\n'
                   '        super().__init__("no_such", "m")\n'
                   'raise TrialsError("made_up", "m")\nraise WatchError(variable, "m")\n'
                   'x = {"code": "in_a_dict", "message": "m"}\n'
                   'y = {"code": "not_an_error", "name": "a field code"}\n'
                   'E("m", code="as_keyword")\nOther("m", code="not_ours")\n'
                   'def f():\n    code = "by_name"\n    return {"code": code, "message": "m"}\n')
    codes, unseen = _codes_in(bad, {"E"})
    assert codes == {"class_code", "default", "no_such", "made_up", "in_a_dict", "as_keyword",
                     "by_name"}
    assert unseen == ["bad.py:6"]


def test_class_codes_are_registered() -> None:
    for name, cls in EXCEPTIONS.items():
        code = cls.__dict__.get("code")
        assert code is None or code in CODES, name


def _readme_codes() -> list[str]:
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    start = lines.index("Error codes:")
    rows = []
    for line in lines[start + 1:]:
        if not line.strip() and not rows:
            continue
        if not line.startswith("|"):
            break
        rows.append(line)
    assert rows[0].split("|")[1:4] == [" code ", " meaning ", " exit code "], rows[0]
    codes = []
    for row in rows[2:]:
        m = re.match(r"\| `([a-z_]+)` \|", row)
        assert m, row
        codes.append(m.group(1))
    return codes


def test_the_readme_lists_exactly_the_codes() -> None:
    codes = _readme_codes()
    assert len(codes) == len(set(codes)), "a code listed twice"
    assert sorted(codes) == sorted(CODES)


# -- exit codes ------------------------------------------------------------------------------
def test_documented_exit_codes() -> None:
    from trialscope.app import refresh_report
    from trialscope.app.refresh import RefreshLocked
    from trialscope.cli import watch

    assert TrialsError("not_found", "m").exit_code == 1
    assert TrialsError("locked", "m", exit_code=75).exit_code == 75
    assert RefreshLocked.exit_code == refresh_report.EXIT_LOCKED == 75
    assert watch.EXIT_USAGE == refresh_report.EXIT_USAGE == 2
    assert watch.USAGE_CODES <= set(CODES)


# -- the one CLI handler ---------------------------------------------------------------------
def _command(exc: BaseException) -> click.Command:
    from trialscope.cli.output import handles_errors, json_option

    @click.command()
    @json_option
    @handles_errors
    def boom(as_json: bool) -> None:
        raise exc

    return boom


def test_the_cli_handler_prints_any_library_error_with_its_exit_code() -> None:
    from trialscope.index.indexer import NoIndexError
    from trialscope.store.db import StoreError

    cases = [  # a StoreError is a RuntimeError without a code: it used to be a traceback
        (StoreError("/data/store.sqlite is not a usable trialscope store (file is not a "
                    "database)"), "store_error", 1),
        (NoIndexError("No search index at /data/index."), "no_index", 1),
        (TrialsError("locked", "Another refresh is running.", "Try later.", exit_code=75),
         "locked", 75),
    ]
    runner = CliRunner()
    for exc, code, exit_code in cases:
        text = runner.invoke(_command(exc), [])
        assert text.exit_code == exit_code, (code, text.output)
        assert text.stderr == f"Error: {exc.message} {exc.hint}".rstrip() + "\n"
        assert text.stdout == ""
        doc = runner.invoke(_command(exc), ["--json"])
        assert doc.exit_code == exit_code
        assert json.loads(doc.stdout) == {"error": {"code": code, "message": exc.message,
                                                    "hint": exc.hint}}


def test_a_runtime_error_with_a_code_attribute_is_not_taken_for_a_library_error() -> None:
    class Foreign(RuntimeError):
        code = "no_index"

    result = CliRunner().invoke(_command(Foreign("not ours")), [])
    assert isinstance(result.exception, Foreign)  # a bug to see, not an error message


def test_the_refresh_family_exits_2_on_usage_errors_and_other_commands_1(tmp_path: Path) -> None:
    from trialscope.cli.main import cli

    runner = CliRunner()
    home = ["--home", str(tmp_path / "home")]
    env = {"TRIALS_CRAWL_SETTINGS": "{not json"}
    result = runner.invoke(cli, [*home, "refresh", "--json"], env=env)
    assert result.exit_code == 2, result.output
    assert json.loads(result.stdout)["error"]["code"] == "bad_argument"
    result = runner.invoke(cli, [*home, "crawl", "--offline", "--json"], env=env)
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["error"]["code"] == "bad_argument"


# -- the one web mapping ---------------------------------------------------------------------
def test_the_web_page_maps_any_library_error(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from starlette.testclient import TestClient

    from trialscope.app import service
    from trialscope.store.db import StoreError
    from trialscope.web.server import create_app

    def broken(*_args: object, **_kwargs: object) -> None:
        raise StoreError("/data/store.sqlite was written by a newer trialscope")

    monkeypatch.setattr(service, "search", broken)
    with TestClient(create_app(service.DataHome.resolve(str(tmp_path / "home")))) as client:
        res = client.get("/search.json", params={"q": "myasthenia"})
        assert res.status_code == 503
        assert res.json() == {"error": {
            "code": "store_error", "hint": "",
            "message": "/data/store.sqlite was written by a newer trialscope"}}
        page = client.get("/search", params={"q": "myasthenia"})
        assert page.status_code == 503 and "was written by a newer trialscope" in page.text
        res = client.get("/trial/NCT123.json")
        assert res.status_code == 400 and res.json()["error"]["code"] == "invalid_id"
