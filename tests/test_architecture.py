"""The house rules of docs/architecture.md, checked on the code as installed.

Every import counts, at module level or inside a function (a lazy import is still a
dependency), including ``if TYPE_CHECKING:`` blocks.  Three rules:

1. A room imports only the rooms the table below allows (no upward import).
2. No two modules import each other, directly or round a longer loop (no cycle).
3. Whoosh is imported only by the ``index`` room, and its internals (codec, storage, posting
   formats, private attributes) are touched only in ``index/engine/``.

A failure names the module, the line and the rule: move the code to the room that owns it,
or, if the rule itself should change, change ``ALLOWED`` and docs/architecture.md together.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
import re
from pathlib import Path

import trialscope

# room -> the rooms it may import (its own always allowed).  Keep equal to docs/architecture.md.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "extract": {"core"},
    "parser": {"core", "extract"},
    "store": {"core", "parser"},
    "index": {"core", "extract", "parser", "store"},
    "crawler": {"core", "parser", "store"},
    "app": {"core", "extract", "parser", "store", "index", "crawler"},
    "web": {"core", "app"},
    "cli": {"core", "app", "web"},
    "fixtures": set(),
}
# Whoosh modules that are its public API (schemas, queries, searchers, analysis, custom
# query/matcher classes).  Everything else of Whoosh is internal: index/engine/ only.
WHOOSH_PUBLIC = {"whoosh", "whoosh.index", "whoosh.fields", "whoosh.query",
                 "whoosh.query.wrappers", "whoosh.analysis", "whoosh.searching",
                 "whoosh.sorting", "whoosh.highlight", "whoosh.matching", "whoosh.writing",
                 "whoosh.scoring", "whoosh.support.levenshtein"}
WHOOSH_INTERNAL_NAMES = {("whoosh.writing", "SegmentWriter")}
ARCHITECTURE = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def _rooms() -> set[str]:
    """Sub-packages of trialscope: folders of the installed package, plus (an editable install
    maps them from the checkout) the checkout's top-level folders that are packages."""
    found = {p.name for d in trialscope.__path__ for p in Path(d).iterdir()
             if (p / "__init__.py").is_file()}
    checkout = Path(__file__).resolve().parents[1]
    found |= {p.name for p in checkout.iterdir() if (p / "__init__.py").is_file()
              and importlib.util.find_spec(f"trialscope.{p.name}") is not None}
    return found | set(ALLOWED)


def _modules() -> dict[str, Path]:
    out = {"trialscope": Path(trialscope.__file__)}
    for room in sorted(_rooms()):
        package = importlib.import_module(f"trialscope.{room}")
        out[package.__name__] = Path(package.__file__)
        for info in pkgutil.walk_packages(package.__path__, f"trialscope.{room}."):
            spec = importlib.util.find_spec(info.name)
            assert spec is not None and spec.origin, info.name
            out[info.name] = Path(spec.origin)
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The module of ours an imported name lives in (``a.b.c`` -> ``a.b`` if ``c`` is a
    name in module ``a.b``)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str) -> list[tuple[int, str]]:
    """(line, imported dotted name) for every import in the module."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts) + ("." + base if base else "")
            out.append((node.lineno, base))
            out += [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return out


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        for _, name in _imports(module):
            if not name.startswith("trialscope"):
                continue
            target = _resolve(name)
            if target and target != module and target != "trialscope":
                edges[module].add(target)
    return edges


def test_every_room_is_known():
    assert _rooms() == set(ALLOWED), "a room without a rule: add it to ALLOWED and the doc"
    assert len(MODULES) > 80


def test_no_upward_import():
    bad = []
    for module in MODULES:
        room = _room(module)
        if room is None:
            continue
        for line, name in _imports(module):
            target = _resolve(name) if name.startswith("trialscope") else None
            if not target or target == "trialscope":
                continue
            other = _room(target)
            if other != room and other not in ALLOWED[room]:
                bad.append(f"{MODULES[module]}:{line}: {room} imports {target} ({other})")
    assert not bad, "imports the architecture forbids:\n" + "\n".join(sorted(set(bad)))


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle():
    assert _cycles(_edges()) == []


def test_the_cycle_check_finds_a_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(edges) == [["a", "b", "c"]]


def test_whoosh_stays_in_the_index_room():
    bad = []
    for module in MODULES:
        room = _room(module)
        in_engine = module.startswith("trialscope.index.engine")
        for line, name in _imports(module):
            if name != "whoosh" and not name.startswith("whoosh."):
                continue
            where = f"{MODULES[module]}:{line}"
            if room != "index":
                bad.append(f"{where}: {name} imported outside index/")
                continue
            mod, _, attr = name.rpartition(".")
            public = name in WHOOSH_PUBLIC or (mod in WHOOSH_PUBLIC
                                               and (mod, attr) not in WHOOSH_INTERNAL_NAMES)
            if not public and not in_engine:
                bad.append(f"{where}: Whoosh internal {name} outside index/engine/")
    assert not bad, "\n".join(sorted(set(bad)))


def _private_uses(path: Path) -> list[str]:
    """``obj._name`` on anything but ``self`` / ``cls`` (dunders aside)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
            out.append(f"{path}:{node.lineno}: .{node.attr}")
    return out


def test_no_private_attributes_outside_the_engine():
    """Outside index/engine/, the index room reaches into no object's private attributes
    (Whoosh's least of all): what the engine needs of Whoosh's internals is written once."""
    bad = []
    for module, path in MODULES.items():
        if _room(module) == "index" and not module.startswith("trialscope.index.engine"):
            bad += _private_uses(path)
    assert not bad, "\n".join(bad)


def test_the_private_check_sees_a_private_use(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text("def f(w):\n    self._ok = 1\n    return w._segment\n")
    assert _private_uses(sample) == [f"{sample}:3: ._segment"]


def test_architecture_doc_states_the_same_rules():
    if not ARCHITECTURE.is_file():  # an installed copy without the checkout's docs/
        import pytest

        pytest.skip(f"{ARCHITECTURE} not found (run from a checkout)")
    text = ARCHITECTURE.read_text(encoding="utf-8")
    for room, allowed in ALLOWED.items():
        row = re.search(rf"^\| `{room}/` \|[^\n]*\| ([^|\n]*) \|$", text, re.M)
        assert row, f"docs/architecture.md has no table row for `{room}/`"
        named = set(re.findall(r"`(\w+)`", row.group(1)))
        assert named == allowed, f"{room}: the doc says {sorted(named)}, the test {sorted(allowed)}"
