"""The store: every version kept, a new one only on changed content, failures kept raw; opening
one runs no schema work."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from trialscope.core.record import TrialRecord
from trialscope.store import links
from trialscope.store.db import Store, StoreError
from trialscope.store.links import group_of, refresh_links


def _rec(status: str = "RECRUITING") -> TrialRecord:
    return TrialRecord(trial_id="NCT00000001", registry="ctgov", title="T", status=status)


def test_versions_only_on_change(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        assert store.put_record(_rec(), '{"a":1}', content_hash="h1").outcome == "new"
        assert store.put_record(_rec(), '{"a":1}', content_hash="h1").outcome == "unchanged"
        res = store.put_record(_rec("COMPLETED"), '{"a":2}', content_hash="h2")
        assert (res.outcome, res.version) == ("changed", 2)
        assert [v["content_hash"] for v in store.versions("NCT00000001")] == ["h1", "h2"]
        assert store.get("nct00000001").status == "COMPLETED"
        assert store.raw("NCT00000001", 1) == '{"a":1}'
        assert store.counts() == {"trials": 1, "versions": 2, "failures": 0, "aliases": 0}


def test_record_round_trips(tmp_path: Path) -> None:
    rec = _rec()
    rec.arms = [{"label": "A", "type": None, "description": None, "interventions": [],
                 "doses": [{"value": 1e6, "unit": "cells", "per": "kg", "text": "1e6/kg"}]}]
    with Store(tmp_path / "s.sqlite") as store:
        store.put_record(rec, "{}")
        assert store.get(rec.trial_id) == rec


def test_failures_and_aliases(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        store.put_record(_rec(), "{}")
        store.put_failure(registry="ctgov", reason="invalid_json", raw="{trunc", url="u")
        store.add_alias("NCT99999999", "NCT00000001")
        assert store.resolve("NCT99999999") == "NCT00000001"
        assert store.get("NCT99999999").trial_id == "NCT00000001"
        [failure] = store.failures()
        assert failure["reason"] == "invalid_json"
        raw = sqlite3.connect(tmp_path / "s.sqlite").execute("SELECT raw FROM failures").fetchone()
        assert raw == ("{trunc",)


def test_index_bookkeeping(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        store.put_record(_rec(), "{}", content_hash="h1")
        assert [h for _, h in store.iter_unindexed()] == ["h1"]
        store.mark_indexed([("NCT00000001", "h1")])
        assert list(store.iter_unindexed()) == []
        store.put_record(_rec("COMPLETED"), "{}", content_hash="h2")
        assert [h for _, h in store.iter_unindexed()] == ["h2"]


def test_not_a_store(tmp_path: Path) -> None:
    bad = tmp_path / "s.sqlite"
    bad.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a usable trialscope store"):
        Store(bad)


def test_same_payload_newer_parser_updates_in_place(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        store.put_record(_rec(), "{}", content_hash="h1")
        store.mark_indexed([("NCT00000001", "h1")])
        better = _rec()
        better.conditions = ["Myasthenia Gravis"]  # what an improved parser now extracts
        assert store.put_record(better, "{}", content_hash="h1").outcome == "unchanged"
        assert store.get("NCT00000001").conditions == ["Myasthenia Gravis"]
        assert store.record_at("NCT00000001", 1).conditions == ["Myasthenia Gravis"]
        assert store.counts()["versions"] == 1
        assert [r.trial_id for r, _ in store.iter_unindexed()] == ["NCT00000001"]


def test_third_party_copy_never_replaces_the_registry_record(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        assert store.put_record(_rec(), "who", content_hash="w1", secondary=True).outcome == "new"
        # The registry's own record replaces the third-party copy...
        assert store.put_record(_rec(), "api", content_hash="a1").outcome == "changed"
        # ...and a later third-party copy does not replace it.
        thin = _rec("UNKNOWN")
        assert store.put_record(thin, "who2", content_hash="w2", secondary=True).outcome == (
            "skipped")
        assert store.get("NCT00000001").status == "RECRUITING"
        assert store.counts()["versions"] == 2


# -- opening a store does no schema work (the link indexes are built with the data) -----------

_DDL = re.compile(r"^\s*(CREATE|ALTER|DROP|REINDEX)\b", re.I)
_LINK_OBJECTS = {"link_state", "link_state_group", "link_state_linked", "link_keys",
                 "link_keys_key", "trials_link_sources"}


def _schema(path: Path) -> set[tuple[str, str]]:
    conn = sqlite3.connect(path)
    try:
        return set(conn.execute("SELECT type, name FROM sqlite_master"))
    finally:
        conn.close()


def _linked_pair(store: Store) -> None:
    """An ISRCTN record quoting a ClinicalTrials.gov id: one trial, two registrations."""
    store.put_record(_rec(), "{}", content_hash="h1")
    quoting = TrialRecord(trial_id="ISRCTN12345678", registry="isrctn", title="T",
                          secondary_ids=[{"id": "NCT00000001", "type": "REGISTRY",
                                          "domain": None}])
    store.put_record(quoting, "{}", content_hash="h2")


def test_a_new_store_has_the_link_indexes_from_the_start(tmp_path: Path,
                                                         statements: list[str]) -> None:
    path = tmp_path / "s.sqlite"
    Store(path).close()
    # Created while the tables were empty; SQLite keeps them up to date from then on.
    assert _LINK_OBJECTS <= {name for _type, name in _schema(path)}
    assert any(_DDL.match(s) for s in statements)  # the trace does see schema work


def test_opening_a_store_with_its_indexes_runs_no_ddl(tmp_path: Path,
                                                      statements: list[str]) -> None:
    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        _linked_pair(store)
        assert refresh_links(store).updated == 2
    before = _schema(path)
    statements.clear()
    with Store(path) as store:  # what `trials show` does: open, read, refresh links, read
        assert store.get("NCT00000001") is not None
        assert [m["trial_id"] for m in group_of(store, "NCT00000001")] == ["ISRCTN12345678"]
    assert statements  # the trace was on
    assert [s for s in statements if _DDL.match(s)] == []
    assert _schema(path) == before


@pytest.mark.parametrize("layout", ["new", "rowid"])
def test_link_keys_table_of_either_layout_links_the_same(tmp_path: Path, layout: str) -> None:
    """A new store keeps link keys in a WITHOUT ROWID table (each row once); a store made
    before keeps its rowid table (rows in the table and again in its primary-key index).
    Both link, look up and replace keys alike."""
    path = tmp_path / "s.sqlite"
    Store(path).close()
    conn = sqlite3.connect(path)
    with conn:
        if layout == "rowid":  # as the store's schema made it before
            conn.execute("DROP TABLE link_keys")
            conn.execute("CREATE TABLE link_keys (trial_id TEXT NOT NULL, key TEXT NOT NULL,"
                         " PRIMARY KEY (trial_id, key))")
            conn.execute("CREATE INDEX link_keys_key ON link_keys (key)")
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name='link_keys'").fetchone()[0]
    conn.close()
    assert ("WITHOUT ROWID" in sql) == (layout == "new")
    with Store(path) as store:
        _linked_pair(store)
        assert refresh_links(store).updated == 2
        assert links.group_id_of(store, "ISRCTN12345678") == "NCT00000001"
        assert [m["trial_id"] for m in group_of(store, "NCT00000001")] == ["ISRCTN12345678"]
        assert "nct:NCT00000001" in store.link_keys_of("ISRCTN12345678")
        assert store.trials_with_link_key("nct:NCT00000001") == ["ISRCTN12345678",
                                                                 "NCT00000001"]
        store.put_record(TrialRecord(trial_id="ISRCTN12345678", registry="isrctn", title="T"),
                         "{}", content_hash="h3")  # no longer quotes the NCT id
        assert refresh_links(store).updated == 1
        assert store.trials_with_link_key("nct:NCT00000001") == ["NCT00000001"]
        assert group_of(store, "NCT00000001") == []


def test_a_store_from_before_gets_its_link_indexes_at_the_next_refresh(
        tmp_path: Path, statements: list[str]) -> None:
    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        _linked_pair(store)
    old = sqlite3.connect(path)  # as a trialscope without link tables wrote it
    with old:
        old.execute("DROP TABLE link_state")
        old.execute("DROP TABLE link_keys")
        old.execute("DROP INDEX trials_link_sources")
    old.close()
    statements.clear()
    with Store(path) as store:
        # Opening it builds nothing (over stored trials that would be O(N))...
        assert [s for s in statements if _DDL.match(s)] == []
        assert not _LINK_OBJECTS & {name for _type, name in _schema(path)}
        assert store.link_group_of("NCT00000001") is None  # ...and reads still work
        # ...the next links refresh (imports, crawls and syncs end with one) builds them.
        assert refresh_links(store).updated == 2
        assert links.group_id_of(store, "ISRCTN12345678") == "NCT00000001"
    assert _LINK_OBJECTS <= {name for _type, name in _schema(path)}
    statements.clear()
    with Store(path) as store:
        assert refresh_links(store).updated == 0
    assert [s for s in statements if _DDL.match(s)] == []
