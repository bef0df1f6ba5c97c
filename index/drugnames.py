"""Drug names from a maintained dictionary: a brand or other name of a drug -> its generic name.

The records' own names (aliases.py) link a brand to its generic only when some record states
the pair; no record of a corpus may say "Jardiance", so nothing there links it to
empagliflozin.  This module reads the dictionary of the ``drug-named-entity-recognition``
package (Fast Data Science, MIT; a dependency): ~107,000 names of ~20,000 drugs and
substances (brand names, synonyms, other languages' spellings, code names), each mapped to
its canonical name, compiled by its authors from DrugBank, MeSH, MedlinePlus, the NHS and
Wikipedia.  Its data file (``drug_ner_dictionary.pkl.bz2``) takes seconds to load, so it is
read once into a derived table (``build_rows``): a small SQLite file in the user's cache
folder, named after the data file it came from (a new package version makes a new table),
opened read-only; a query then costs a few indexed look-ups.  The package itself is never
imported (importing it loads the whole dictionary and reads a cache in the home folder).

What the table keeps (``build_rows``):

- only entries that are drugs: a canonical name the dictionary has a DrugBank, MedlinePlus,
  NHS or Wikipedia drug page for, not its MeSH-only concepts (drug classes, proteins,
  receptors, pollens: "monoclonal antibody" -> "antibodies, monoclonal", "transthyretin" ->
  "prealbumin" are vocabulary, not drug names);
- each name as the query analyser reads it (aliases.words), and each canonical name as
  records write it (``record_name``): without the FDA's four-letter suffix of a biologic
  ("ravulizumab-cwvz" -> ravulizumab), and as its first word alone when the dictionary uses
  that word for this drug only ("efgartigimod alfa" -> efgartigimod, "idecabtagene
  vicleucel" -> idecabtagene; not "insulin glargine" -> insulin, "folic acid" -> folic).

At query time (search.expand_aliases) ``accepted`` gives a query word or run of words the
generic names the dictionary knows it by and, when it is a generic itself, the drug's other
names, each only when the index holds it: "Jardiance" also searches empagliflozin,
"semaglutide" also Ozempic and Wegovy.  Without the package (or with a data file this code
cannot read) nothing is added and search works as before.
"""

from __future__ import annotations

import bz2
import functools
import hashlib
import importlib.util
import os
import pickle
import re
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

PACKAGE = "drug_named_entity_recognition"
DATA_FILE = "drug_ner_dictionary.pkl.bz2"
FORMAT = 1  # of the derived table: a change here makes a new file
# A canonical entry is a drug when the dictionary has one of these pages for it.
DRUG_SOURCES = ("drugbank_id", "medline_plus_id", "nhs_url", "wikipedia_url")
# The FDA's suffix of a biologic's proper name: four lower-case letters devoid of meaning
# ("ravulizumab-cwvz"); a four-letter part the dictionary also uses as a word of its own
# ("ferricrocin-iron", "polymer-type") is no such suffix.
_SUFFIX_RE = re.compile(r"^([a-z]{5,})-([a-z]{4})$")
_WORD_SPLIT = re.compile(r"[^0-9a-z]+")
MIN_FIRST_WORD = 5  # letters of a first word that stands for a whole name
MAX_VALUES = 4  # names a query word gets from the dictionary, the most used first


# -- building the table ------------------------------------------------------------------------

def build_rows(data: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(key, name) rows of the derived table from the dictionary's data: every name of a drug
    (``key``: its analysed words, space-separated) -> the drug's name as records write it
    (``record_name``), and that name -> itself (so a generic finds its other names)."""
    from trialscope.index.aliases import MAX_WORDS, _name_like, words

    variant_to_canonical: Mapping[str, list[str]] = data["drug_variant_to_canonical"]
    canonical_data: Mapping[str, Mapping[str, Any]] = data["drug_canonical_to_data"]
    drugs = {c for cs in variant_to_canonical.values() for c in cs
             if any(k in canonical_data.get(c, {}) for k in DRUG_SOURCES)}
    # the words of every name, as the dictionary writes them: which drugs use a word
    owners: dict[str, set[str]] = {}
    for variant, canonicals in variant_to_canonical.items():
        for canonical in canonicals:
            for text in (variant, canonical):
                for w in _WORD_SPLIT.split(text):
                    owners.setdefault(w, set()).add(canonical)
    names: dict[str, str] = {}
    for canonical in drugs:
        written = record_name(words(canonical),
                              lambda w, c=canonical: owners.get(w, set()) - {c})
        if written and len(written) <= MAX_WORDS and _name_like(written):
            names[canonical] = " ".join(written)
    seen: set[tuple[str, str]] = set()
    for variant, canonicals in variant_to_canonical.items():
        key = words(variant)
        if not key or len(key) > MAX_WORDS or not _name_like(key):
            continue
        for canonical in canonicals:
            name = names.get(canonical)
            if name is None:
                continue
            for row in ((" ".join(key), name), (name, name)):
                if row not in seen:
                    seen.add(row)
                    yield row


def record_name(name: tuple[str, ...], others: Any) -> tuple[str, ...]:
    """A canonical name (analysed words) as records write it: without an FDA suffix on its
    last word, and as its first word alone when that word names this drug only.
    ``others(word)``: the other drugs whose names use ``word`` (as the dictionary writes
    them)."""
    if not name:
        return name
    m = _SUFFIX_RE.match(name[-1])
    if m and not others(m.group(2)):
        name = (*name[:-1], m.group(1))
    first = name[0]
    if len(name) > 1 and first.isalpha() and len(first) >= MIN_FIRST_WORD \
            and not others(first):
        return (first,)
    return name


def _read_data(path: Path) -> Mapping[str, Any]:
    """The dictionary's data file, unpickled (seconds: read once per table built)."""
    with bz2.open(path, "rb") as f:
        # the package's own data file, as trusted as its code
        return pickle.load(f)  # noqa: S301


# -- the table file ----------------------------------------------------------------------------

def data_file() -> Path | None:
    """The installed package's data file, found without importing the package; None when
    the package is not installed."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / DATA_FILE
        if path.is_file():
            return path
    return None


CACHE_ENV = "TRIALS_CACHE_DIR"


def cache_dir() -> Path:
    """``TRIALS_CACHE_DIR``, else the platform's user cache folder."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("trialscope", appauthor=False))


def table_path(source: Path) -> Path:
    """Where the table derived from ``source`` lives: named after the data file's path, size
    and modification time, so a new version of the package makes a new table."""
    st = source.stat()
    tag = hashlib.sha1(f"{source}|{st.st_size}|{st.st_mtime_ns}|{FORMAT}".encode()
                       ).hexdigest()[:16]
    return cache_dir() / f"drugnames-{FORMAT}-{tag}.sqlite"


_SCHEMA = ("CREATE TABLE names (key TEXT NOT NULL, name TEXT NOT NULL, "
           "PRIMARY KEY (key, name)) WITHOUT ROWID",
           "CREATE INDEX names_by_name ON names (name, key)")


def _fill(conn: sqlite3.Connection, rows: Iterable[tuple[str, str]]) -> None:
    for statement in _SCHEMA:
        conn.execute(statement)
    conn.executemany("INSERT OR IGNORE INTO names VALUES (?, ?)", rows)
    conn.commit()


def write_table(path: Path, rows: Iterable[tuple[str, str]]) -> None:
    """Write the table to ``path`` atomically (a reader never sees half a table; two
    processes building it at once both end with a whole one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        conn = sqlite3.connect(tmp)
        try:
            _fill(conn, rows)
        finally:
            conn.close()
        with open(tmp, "rb") as f:  # whole on disk before it takes the name
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _prune(path)


STALE_TEMP_SECONDS = 3600  # a build takes seconds: an older temp file is a killed build's
# A table is touched each time a process opens it: one untouched this long belongs to no
# install still in use (two installs of different versions sharing the cache keep theirs).
STALE_TABLE_SECONDS = 30 * 24 * 3600


def _prune(current: Path) -> None:
    """Remove the tables of other dictionary versions no process has opened for
    STALE_TABLE_SECONDS and the temp files of builds that were killed (older than
    STALE_TEMP_SECONDS; a younger one may be another process's build)."""
    now = time.time()
    for other in current.parent.glob("drugnames-*"):
        if other == current:
            continue
        try:
            age = now - other.stat().st_mtime
            if age < (STALE_TEMP_SECONDS if other.suffix == ".tmp" else STALE_TABLE_SECONDS):
                continue
            other.unlink()
        except OSError:  # gone already, or not ours to remove: left
            continue


class Table:
    """The derived table, read-only; safe to share between threads."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path) -> Table:
        """The table at ``path``; sqlite3.Error when it is not one (a foreign or truncated
        file: sqlite reads nothing before the first query, so one is run here)."""
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True,
                               check_same_thread=False)
        try:
            conn.execute("SELECT key, name FROM names LIMIT 1").fetchall()
        except BaseException:
            conn.close()
            raise
        return cls(conn)

    @classmethod
    def of_rows(cls, rows: Iterable[tuple[str, str]]) -> Table:
        conn = sqlite3.connect(":memory:", check_same_thread=False)
        _fill(conn, rows)
        return cls(conn)

    def names(self, key: str) -> list[str]:
        """The record names of the drugs ``key`` names (none when the file cannot be read)."""
        return self._column("SELECT name FROM names WHERE key = ?", key)

    def keys(self, name: str) -> list[str]:
        """Every name (analysed) of the drug whose record name is ``name``."""
        return self._column("SELECT key FROM names WHERE name = ?", name)

    def _column(self, sql: str, value: str) -> list[str]:
        with self._lock:
            try:
                return [v for (v,) in self._conn.execute(sql, (value,))]
            except sqlite3.Error:  # a page damaged after the file was opened: no names
                return []


_LOCK = threading.Lock()
_TABLE: list[Table | None] = []  # the process's table, once looked for


def table() -> Table | None:
    """The derived table of the installed dictionary, built on first use (into the cache
    folder, else in memory when that cannot be written); None without the package or when
    its data file cannot be read."""
    with _LOCK:
        if _TABLE:
            return _TABLE[0]
        found = _load()
        _TABLE.append(found)
        return found


def reset() -> None:
    """Forget the process's table (tests, or after the package changed)."""
    with _LOCK:
        _TABLE.clear()
    _accepted_names.cache_clear()


def _touch(path: Path) -> None:
    """Mark the table as in use (its mtime), so another install's prune leaves it."""
    try:
        os.utime(path)
    except OSError:  # a read-only cache: the table is still used, only not marked
        pass


def _load() -> Table | None:
    source = data_file()
    if source is None:
        return None
    try:
        path = table_path(source)
        if path.is_file():
            try:
                table = Table.open(path)
            except sqlite3.Error:  # not a whole table (a foreign or damaged file): rebuilt
                pass
            else:
                _touch(path)
                return table
        data = _read_data(source)
        try:
            write_table(path, build_rows(data))
        except OSError:  # the cache folder cannot be written: keep it in memory (the data
            # already read, not unpickled a second time)
            return Table.of_rows(build_rows(data))
        return Table.open(path)
    except Exception:  # noqa: BLE001 - a data file this code cannot read (another format,
        # a module its pickle names that is not installed, ...): no dictionary, search as before
        return None


# -- query time --------------------------------------------------------------------------------

def accepted(reader: Any, key: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Other names of ``key`` from the dictionary that the index holds (in the fields that
    say what a trial is): the generic name of a brand; the other names of a generic (its
    brands); the most used first, at most MAX_VALUES."""
    from trialscope.index.aliases import key_frequency

    names = _accepted_names(key)
    found: list[tuple[tuple[str, ...], int]] = []
    for name in names:
        # a name holding the key or a shorter name adds nothing ("efgartigimod alfa"
        # beside efgartigimod)
        if any(_contains(name, other) for other in (key, *names) if len(other) < len(name)):
            continue
        n = key_frequency(reader, name)
        if n:
            found.append((name, n))
    found.sort(key=lambda vn: (-vn[1], vn[0]))
    return [v for v, _ in found[:MAX_VALUES]]


def _contains(seq: tuple[str, ...], sub: tuple[str, ...]) -> bool:
    n = len(sub)
    return any(seq[i:i + n] == sub for i in range(len(seq) - n + 1))


@functools.lru_cache(maxsize=4096)
def _accepted_names(key: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """The dictionary's names for ``key`` (its generic, and the generic's other names),
    before the index is asked; ``key`` itself left out."""
    tab = table()
    if tab is None or not key:
        return ()
    text = " ".join(key)
    out: dict[str, None] = {}
    for name in tab.names(text):
        out[name] = None
        for other in tab.keys(name):
            out[other] = None
    out.pop(text, None)
    return tuple(tuple(n.split(" ")) for n in out)
