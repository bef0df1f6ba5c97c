"""Issue 16: drug names from a maintained dictionary (index/drugnames.py), used by search.

A brand no record states ("Jardiance") finds the trials of its generic (empagliflozin) through
the ``drug-named-entity-recognition`` package's dictionary, read into a derived table; the
generic's name is written as records write it (no FDA suffix, the first word when it names the
drug alone); quoted phrases and --literal are never expanded; plain words still match.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from trialscope.index import drugnames
from trialscope.index.drugnames import Table, build_rows, record_name, write_table
from trialscope.index.search import search

from .conftest import hit_ids, index_of
from .test_aliases import trial

TRIALS = [
    # no record names a brand: only the generics
    trial("NCT30000001", "Empagliflozin in type 2 diabetes", ["Type 2 Diabetes"],
          "Empagliflozin"),
    trial("NCT30000002", "Metformin in type 2 diabetes", ["Type 2 Diabetes"], "Metformin"),
    trial("NCT30000003", "Efgartigimod PH20 SC in generalized myasthenia gravis",
          ["Myasthenia Gravis"], "efgartigimod PH20 SC"),
    trial("NCT30000004", "Ravulizumab in generalized myasthenia gravis",
          ["Myasthenia Gravis"], "Ravulizumab"),
    trial("NCT30000005", "Exercise in generalized myasthenia gravis",
          ["Myasthenia Gravis"], "exercise"),
    # a brand stated by one record only, the generic by another
    trial("NCT30000006", "Ozempic and weight in obesity", ["Obesity"], "Ozempic"),
    trial("NCT30000007", "Semaglutide in obesity", ["Obesity"], "semaglutide"),
]


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return index_of(tmp_path_factory, "drugnames", TRIALS)


def test_the_dictionary_is_installed_and_read() -> None:
    # a dependency: its data file is found without importing the package, and read
    assert drugnames.data_file() is not None
    table = drugnames.table()
    assert table is not None
    assert "empagliflozin" in table.names("jardiance")
    assert "jardiance" in table.keys("empagliflozin")


def test_a_brand_no_record_states_finds_the_generics_trial(index_dir: Path) -> None:
    found = hit_ids(index_dir, "Jardiance type 2 diabetes", 10)
    assert found[0] == "NCT30000001"
    assert "NCT30000002" in found  # the words "type 2 diabetes" still match
    assert hit_ids(index_dir, "Jardiance", 10) == ["NCT30000001"]


def test_generic_names_are_written_as_records_write_them(index_dir: Path) -> None:
    # "efgartigimod alfa": the first word names the drug alone; "ravulizumab-cwvz": the
    # FDA's suffix is not written by the records
    assert hit_ids(index_dir, "Vyvgart myasthenia gravis", 10)[0] == "NCT30000003"
    assert hit_ids(index_dir, "Ultomiris myasthenia gravis", 10)[0] == "NCT30000004"


def test_a_generic_finds_the_trials_that_name_only_a_brand(index_dir: Path) -> None:
    assert set(hit_ids(index_dir, "semaglutide", 10)) == {"NCT30000006", "NCT30000007"}
    # the brand as typed ranks first: the dictionary's names come a little below
    assert hit_ids(index_dir, "Ozempic", 10) == ["NCT30000006", "NCT30000007"]


def test_show_query_lists_the_generic(index_dir: Path) -> None:
    shown = search(index_dir, "Jardiance type 2 diabetes", limit=5).query_repr
    assert "(jardiance | empagliflozin)" in shown


def test_quoted_and_literal_queries_are_not_expanded(index_dir: Path) -> None:
    assert hit_ids(index_dir, '"Jardiance"', 10) == []
    assert hit_ids(index_dir, "Jardiance", 10, literal=True) == []
    assert "empagliflozin" not in search(index_dir, "Jardiance", limit=5,
                                          literal=True).query_repr


def test_without_the_dictionary_search_works_as_before(index_dir: Path,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.setattr(drugnames, "data_file", lambda: None)
    drugnames.reset()
    try:
        assert hit_ids(index_dir, "Jardiance", 10) == []
        assert hit_ids(index_dir, "empagliflozin", 10) == ["NCT30000001"]
    finally:
        drugnames.reset()


# -- the rules that make the table, on a made-up dictionary -----------------------------------

def owners_of(*drugs: str):
    """``others`` for record_name: every word of these names belongs to another drug."""
    words = {w for d in drugs for w in d.replace("-", " ").split()}
    return lambda w: {"another drug"} if w in words else set()


def test_record_name_drops_the_fda_suffix_and_keeps_a_word() -> None:
    assert record_name(("ravulizumab-cwvz",), owners_of()) == ("ravulizumab",)
    # a four-letter part the dictionary uses as a word is not a suffix
    assert record_name(("ferricrocin-iron",), owners_of("iron sucrose")) == ("ferricrocin-iron",)


def test_record_name_uses_a_first_word_that_names_the_drug_alone() -> None:
    assert record_name(("efgartigimod", "alfa"), owners_of("epoetin alfa")) == ("efgartigimod",)
    # "insulin" names other drugs too; "d" is too short to stand for a name
    assert record_name(("insulin", "glargine"), owners_of("insulin lispro")) == (
        "insulin", "glargine")
    assert record_name(("tenecteplase",), owners_of()) == ("tenecteplase",)


DICTIONARY = {
    "drug_variant_to_canonical": {
        "jardiance": ["empagliflozin"], "empagliflozin": ["empagliflozin"],
        "vyvgart": ["efgartigimod alfa"], "efgartigimod alfa": ["efgartigimod alfa"],
        "lantus": ["insulin glargine"], "insulin glargine": ["insulin glargine"],
        "humalog": ["insulin lispro"], "insulin lispro": ["insulin lispro"],
        "transthyretin": ["prealbumin"], "prealbumin": ["prealbumin"],
        "placebo empagliflozin": ["empagliflozin"],  # "placebo" is not a drug's name
    },
    "drug_canonical_to_data": {
        "empagliflozin": {"name": "Empagliflozin", "drugbank_id": "DB09038"},
        "efgartigimod alfa": {"name": "Efgartigimod alfa", "drugbank_id": "DB15270"},
        "insulin glargine": {"name": "Insulin Glargine", "drugbank_id": "DB00047"},
        "insulin lispro": {"name": "Insulin Lispro", "medline_plus_id": "a697021"},
        # a MeSH concept, not a drug
        "prealbumin": {"name": "Prealbumin", "mesh_id": "D011228"},
    },
    "drug_variant_to_variant_data": {},
}


def test_build_rows_keeps_drugs_as_records_name_them() -> None:
    rows = set(build_rows(DICTIONARY))
    assert ("jardiance", "empagliflozin") in rows
    assert ("empagliflozin", "empagliflozin") in rows  # a generic finds its other names
    assert ("vyvgart", "efgartigimod") in rows
    assert ("lantus", "insulin glargine") in rows  # "insulin" names another drug too
    assert not [r for r in rows if "prealbumin" in r or "transthyretin" in r]
    assert not [r for r in rows if "placebo" in r[0]]


def test_the_table_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "names.sqlite"
    write_table(path, build_rows(DICTIONARY))
    table = Table.open(path)
    assert table.names("jardiance") == ["empagliflozin"]
    assert sorted(table.keys("empagliflozin")) == ["empagliflozin", "jardiance"]
    assert not list(tmp_path.joinpath("cache").glob("*.tmp"))


def test_a_new_table_removes_old_versions_and_killed_builds(tmp_path: Path) -> None:
    import os
    import time

    cache = tmp_path / "cache"
    cache.mkdir()
    old_table = cache / "drugnames-1-0000000000000000.sqlite"
    in_use = cache / "drugnames-1-4444444444444444.sqlite"  # another install's, opened lately
    killed = cache / "drugnames-1-1111111111111111.sqlite.abc.tmp"
    building = cache / "drugnames-1-2222222222222222.sqlite.def.tmp"  # another process's
    other = cache / "unrelated.sqlite"
    for f in (old_table, in_use, killed, building, other):
        f.write_bytes(b"x")
    hour_ago = time.time() - drugnames.STALE_TEMP_SECONDS - 60
    os.utime(killed, (hour_ago, hour_ago))
    unused = time.time() - drugnames.STALE_TABLE_SECONDS - 60
    os.utime(old_table, (unused, unused))
    path = cache / "drugnames-1-3333333333333333.sqlite"
    write_table(path, build_rows(DICTIONARY))
    assert sorted(f.name for f in cache.iterdir()) == sorted(
        [path.name, in_use.name, building.name, other.name])
    assert Table.open(path).names("jardiance") == ["empagliflozin"]


def _table_in_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data file (read as DICTIONARY) and a cache folder under tmp_path: its table's path."""
    source = tmp_path / "data.pkl.bz2"
    source.write_bytes(b"x")
    monkeypatch.setenv(drugnames.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(drugnames, "data_file", lambda: source)
    monkeypatch.setattr(drugnames, "_read_data", lambda source: DICTIONARY)
    return drugnames.table_path(source)


def test_opening_a_table_marks_it_in_use(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    # two installs sharing the cache each open their own table: neither prunes the other's
    import os
    import time

    path = _table_in_cache(tmp_path, monkeypatch)
    write_table(path, build_rows(DICTIONARY))
    month_ago = time.time() - drugnames.STALE_TABLE_SECONDS
    os.utime(path, (month_ago, month_ago))
    drugnames.reset()
    try:
        assert drugnames.table() is not None
        assert time.time() - path.stat().st_mtime < 3600
    finally:
        drugnames.reset()


def test_a_cache_folder_that_cannot_be_written_keeps_the_table_in_memory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("")
    monkeypatch.setenv(drugnames.CACHE_ENV, str(blocker / "cache"))
    reads: list[object] = []
    monkeypatch.setattr(drugnames, "_read_data",
                        lambda source: reads.append(source) or DICTIONARY)
    drugnames.reset()
    try:
        table = drugnames.table()
        assert table is not None and table.names("vyvgart") == ["efgartigimod"]
        assert len(reads) == 1  # the data file unpickled once, not again for the memory table
    finally:
        drugnames.reset()


@pytest.mark.parametrize("content", [b"", b"not a database" * 100,
                                     b"SQLite format 3\x00" + b"\x00" * 200])
def test_a_damaged_table_file_is_rebuilt_not_fatal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes) -> None:
    # a foreign, empty or truncated file where the table should be: sqlite reads nothing
    # before the first query, so it used to fail in the middle of a search
    path = _table_in_cache(tmp_path, monkeypatch)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    drugnames.reset()
    try:
        table = drugnames.table()
        assert table is not None and table.names("jardiance") == ["empagliflozin"]
        assert Table.open(path).names("vyvgart") == ["efgartigimod"]  # the file was replaced
    finally:
        drugnames.reset()


def test_a_table_damaged_after_opening_gives_no_names(tmp_path: Path) -> None:
    path = tmp_path / "names.sqlite"
    write_table(path, build_rows(DICTIONARY))
    table = Table.open(path)
    table._conn.close()  # any sqlite error from here on
    assert table.names("jardiance") == []
    assert table.keys("empagliflozin") == []


@pytest.mark.parametrize("data", [
    b"\x80\x04cno_such_module_x\nC\n.",  # names a module that is not installed
    b"\x80\x04}\x94.",  # a dict without the keys this code reads
    b"\x80\x04]\x94.",  # a list
])
def test_a_data_file_of_another_format_gives_no_dictionary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    import bz2

    source = tmp_path / drugnames.DATA_FILE
    source.write_bytes(bz2.compress(data))
    monkeypatch.setenv(drugnames.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(drugnames, "data_file", lambda: source)
    drugnames.reset()
    try:
        assert drugnames.table() is None
        assert drugnames._accepted_names(("jardiance",)) == ()
        assert not list((tmp_path / "cache").glob("*"))  # nothing half-written left
    finally:
        drugnames.reset()
