"""Shared test helpers: paths to the repo's fixtures and to the optional ../shared samples.

The real registry samples (``../shared/data``) and seed captures (``../shared/seeds``) live
beside the repo, not in it: a fresh clone has none, and every test that reads them must skip
cleanly then.  Tests reach them only through ``shared_path`` / ``shared_files`` below, never
through a path of their own.  ``TRIALS_SHARED_DIR`` points the helpers at another folder (give
a missing one to see the skip path: ``TRIALS_SHARED_DIR=/nonexistent pytest``).

Golden files (expected outputs kept in ``fixtures/``) are read through ``golden`` below, which
rewrites them when ``TRIALSCOPE_REGENERATE=1`` is set: the one switch for every golden file.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
CTGOV_FIXTURES = FIXTURES / "ctgov" / "studies"
SHARED = Path(os.environ.get("TRIALS_SHARED_DIR") or REPO.parent / "shared")
SHARED_DATA = SHARED / "data"
REGENERATE = "TRIALSCOPE_REGENERATE"  # =1: rewrite the golden files instead of comparing


def load_bench(name: str) -> Any:
    """A bench script (``bench/<name>.py``: not a package) loaded as a module, for the tests
    that assert on its figures."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "bench" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _absent(path: Path) -> str:
    return f"{path} not present (the real registry samples live beside the repo, in ../shared)"


def shared_path(*parts: str) -> Path:
    """A path inside ../shared, or skip the test cleanly when it is not there (a fresh clone
    has no ../shared).  Call it inside the test or fixture that reads the file."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(_absent(path))
    return path


def shared_files(folder: str, pattern: str = "*.json") -> list[Path]:
    """The files under ../shared/<folder> (at collection time), or none when ../shared or the
    folder is absent.  To parametrize a test, use ``shared_params``."""
    base = SHARED.joinpath(folder)
    return sorted(base.glob(pattern)) if base.exists() else []


def shared_params(folder: str, pattern: str = "*.json") -> list[Any]:
    """For ``parametrize``: the files under ../shared/<folder>, or, when there are none, one
    parameter whose test skips naming the missing folder (an empty parameter set would skip
    without saying what is missing)."""
    return shared_files(folder, pattern) or [shared_absent(folder)]


def shared_absent(*parts: str) -> Any:
    """One ``parametrize`` parameter that skips, naming ../shared/<parts> as missing."""
    return pytest.param(None, id="absent", marks=pytest.mark.skip(
        reason=_absent(SHARED.joinpath(*parts))))


def golden(path: Path, text: str) -> str:
    """The golden file's text, to compare ``text`` (what the code produces now) with; with
    ``TRIALSCOPE_REGENERATE=1`` the file is first rewritten with ``text``, on purpose."""
    if os.environ.get(REGENERATE) == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if not path.exists():
        pytest.fail(f"{path} is missing: run the test with {REGENERATE}=1 to write it, then "
                    "review and commit it")
    return path.read_text(encoding="utf-8")


def json_paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The key/index path of every node under ``node`` (parsed JSON), for hostile-input tests
    that replace each node in turn."""
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += json_paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += json_paths(value, (*prefix, i))
    return out


def replaced(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A deep copy of ``node`` with the node at ``path`` replaced by ``value``."""
    node = copy.deepcopy(node)
    target = node
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return node


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Derived caches (the drug dictionary's table, index/drugnames.py) go to a folder of
    this test session, for every process it starts, not to the user's cache."""
    from trialscope.index import drugnames

    patch = pytest.MonkeyPatch()
    patch.setenv(drugnames.CACHE_ENV, str(tmp_path_factory.mktemp("cache")))
    drugnames.reset()
    yield
    patch.undo()
    drugnames.reset()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def index_of(tmp_path_factory: pytest.TempPathFactory, name: str, records: list[Any]) -> Path:
    """An index of ``records`` in a fresh temporary folder (for a module-scoped fixture)."""
    from trialscope.index.indexer import index_records

    path = tmp_path_factory.mktemp(name) / "index"
    index_records(path, records)
    return path


def indexed_ids(index_dir: Path) -> list[str]:
    """Sorted trial ids in the index (read from the sortable id column, not stored fields)."""
    from trialscope.index.indexer import open_index

    ix = open_index(index_dir)
    try:
        with ix.reader() as reader:
            column = reader.column_reader("trial_id")
            return sorted(column[docnum] for docnum in reader.all_doc_ids())
    finally:
        ix.close()


def hit_ids(index_dir: Path, query: str, limit: int, **options: Any) -> list[str]:
    """The trial ids ``search`` ranks for ``query``, best first (``options``: its keywords)."""
    from trialscope.index.search import search

    return [h.trial_id for h in search(index_dir, query, limit=limit, **options).hits]


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SQL statement the store's connections run from now on (sqlite3 trace)."""
    seen: list[str] = []
    connect = sqlite3.connect

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(seen.append)
        return conn

    monkeypatch.setattr(sqlite3, "connect", traced)
    return seen


def threshold_rows(text: str, section: str = "inclusion") -> list[tuple[Any, ...]]:
    """What the extractor reads from one item, as comparable rows: (measure, op, value, unit)
    [+ direction for a window]."""
    from trialscope.extract.thresholds import extract_from_text

    out = []
    for t in extract_from_text(text, section):
        value = round(t["value"], 6) if isinstance(t["value"], float) else t["value"]
        row = (t["measure"], t["op"], value, t["unit"])
        out.append(row + ((t["direction"],) if t["op"] == "within" else ()))
    return out


def whoosh_postings(seg: Any, field: str, tbytes: bytes) -> tuple[list[int], list[float]]:
    """A term's (doc ids, weights) as Whoosh's own matcher reads them (deleted ones skipped)."""
    m = seg.postings(field, tbytes)
    ids, weights = [], []
    while m.is_active():
        ids.append(m.id())
        weights.append(m.weight())
        m.next()
    return ids, weights


def block_postings(seg: Any, field: str, tbytes: bytes) -> tuple[list[int], list[float]]:
    """The same term's (doc ids, weights) as the engine's block reader reads them."""
    from trialscope.index.engine import taat

    ids: list[int] = []
    weights: list[float] = []
    for block_ids, block_weights in taat.term_blocks(seg, field, tbytes):
        ids.extend(block_ids)
        if block_weights is None or isinstance(block_weights, float):
            block_weights = [block_weights or 1.0] * len(block_ids)
        weights.extend(block_weights)
    return ids, weights
