"""The store: every version kept, a new one only on changed content, failures kept raw."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from trialscope.index.store import Store, StoreError
from trialscope.parser.record import TrialRecord


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
