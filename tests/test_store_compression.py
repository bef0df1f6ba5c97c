"""The store's compressed rows (store/codec.py): round trips, the trained dictionary, stores
written before compression (``fixtures/store/schema1-store.sqlite``, written by the schema 1
code), failures kept as they came."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from trialscope.core.record import TrialRecord
from trialscope.store import codec
from trialscope.store.db import SCHEMA_VERSION, Store

SCHEMA1 = Path(__file__).resolve().parents[1] / "fixtures" / "store" / "schema1-store.sqlite"


def _rec(tid: str, status: str = "RECRUITING", title: str = "Étude CAR-T") -> TrialRecord:
    return TrialRecord(trial_id=tid, registry="ctgov", title=title, status=status,
                       summary="Refractory generalized myasthenia gravis " * 20)


def _raw(tid: str, k: int = 0) -> str:
    return json.dumps({"protocolSection": {"identificationModule": {"nctId": tid},
                       "descriptionModule": {"briefSummary": "Myasthénie grave " * 40 + str(k)}}},
                      indent=2, ensure_ascii=False)


def test_round_trip_and_rows_are_compressed(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        store.put_record(_rec("NCT00000001"), _raw("NCT00000001"), content_hash="h1")
        store.put_record(_rec("NCT00000001", "COMPLETED"), _raw("NCT00000001", 1),
                         content_hash="h2")
        assert store.get("NCT00000001") == _rec("NCT00000001", "COMPLETED")
        assert store.record_at("NCT00000001", 1) == _rec("NCT00000001")
        assert store.raw("NCT00000001", 1) == _raw("NCT00000001")
        assert store.raw("NCT00000001") == _raw("NCT00000001", 1)
        assert [r.trial_id for r in store.iter_records()] == ["NCT00000001"]
        assert [h for _r, h in store.iter_unindexed()] == ["h2"]
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT typeof(raw), length(raw), typeof(record_json) FROM versions")
    for raw_type, size, record_type in rows:
        assert (raw_type, record_type) == ("blob", "blob")
        assert size < len(_raw("NCT00000001").encode()) / 3
    # the current record is kept once: the trial's row points at its current version's
    assert conn.execute("SELECT record_json FROM trials").fetchone() == (codec.CURRENT,)
    assert conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == (
        str(SCHEMA_VERSION),)
    with Store(path, readonly=True) as store:
        assert store.raw("NCT00000001", 1) == _raw("NCT00000001")


def test_same_payload_newer_parser_refreshes_the_compressed_record(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        store.put_record(_rec("NCT00000001"), _raw("NCT00000001"), content_hash="h1")
        store.mark_indexed([("NCT00000001", "h1")])
        newer = _rec("NCT00000001", title="Re-parsed")
        assert store.put_record(newer, _raw("NCT00000001"), content_hash="h1").outcome == \
            "unchanged"
        assert store.get("NCT00000001") == newer
        assert store.record_at("NCT00000001", 1) == newer
        assert [h for _r, h in store.iter_unindexed()] == ["h1"]


def test_dictionary_trained_and_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codec, "DICT_SAMPLES", 30)
    monkeypatch.setattr(codec, "DICT_BYTES", 4096)
    path = tmp_path / "s.sqlite"
    ids = [f"NCT{k:08d}" for k in range(60)]
    with Store(path) as store:
        with store.batch():
            for k, tid in enumerate(ids[:40]):
                if k == 29:  # the record whose put trains the dictionary fails alone
                    with pytest.raises(RuntimeError), store.savepoint():
                        store.put_record(_rec(tid), _raw(tid, k))
                        raise RuntimeError("cannot be stored")
                    continue
                store.put_record(_rec(tid), _raw(tid, k))
        for k, tid in enumerate(ids[40:], 40):
            store.put_record(_rec(tid), _raw(tid, k))
    conn = sqlite3.connect(path)
    [(ident,)] = conn.execute("SELECT dict_id FROM zdicts WHERE kind='raw'").fetchall()
    named = [codec.dict_id(r[0][1:]) for r in conn.execute(
        "SELECT raw FROM versions ORDER BY rowid")]
    assert named[:29] == [0] * 29 and set(named[29:]) == {ident}
    with Store(path, readonly=True) as store:
        for k, tid in enumerate(ids):
            if k != 29:
                assert store.raw(tid) == _raw(tid, k)
                assert store.get(tid) == _rec(tid)
        assert store.get(ids[29]) is None


def test_dictionary_counts_payloads_of_earlier_sessions(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codec, "DICT_SAMPLES", 30)
    monkeypatch.setattr(codec, "DICT_BYTES", 4096)
    path = tmp_path / "s.sqlite"
    ids = [f"NCT{k:08d}" for k in range(40)]
    for part in (ids[:20], ids[20:]):  # two sessions of 20: neither alone reaches 30
        with Store(path) as store:
            for tid in part:
                store.put_record(_rec(tid), _raw(tid, int(tid[3:])))
    conn = sqlite3.connect(path)
    [(ident,)] = conn.execute("SELECT dict_id FROM zdicts").fetchall()
    named = [codec.dict_id(r[0][1:]) for r in conn.execute("SELECT raw FROM versions")]
    assert named.count(ident) == 11  # the 30th payload and the ten after it
    with Store(path, readonly=True) as store:
        assert all(store.raw(tid) == _raw(tid, int(tid[3:])) for tid in ids)


def test_store_written_before_compression(tmp_path: Path) -> None:
    """A store written by the schema 1 code (uncompressed TEXT rows, no ``zdicts``) opens, reads,
    and takes new versions; its old rows stay as they were."""
    path = tmp_path / "old.sqlite"
    shutil.copy(SCHEMA1, path)
    with Store(path, readonly=True) as store:  # read-only: nothing migrated
        assert store.get("NCT00000001").status == "COMPLETED"
        assert store.raw("NCT00000001", 1) == '{"v": 1, "t": "Étude"}'
    with Store(path) as store:
        assert store.get("NCT00000001").title == "Étude un"
        assert store.record_at("NCT00000001", 1).status == "RECRUITING"
        assert [r.trial_id for r in store.iter_records()] == ["NCT00000001", "NCT00000002"]
        res = store.put_record(_rec("NCT00000002", "COMPLETED"), _raw("NCT00000002"),
                               content_hash="h4")
        assert (res.outcome, res.version) == ("changed", 2)
        assert store.record_at("NCT00000002", 1).status == "UNKNOWN"
        assert store.raw("NCT00000002", 1) == '{"v": 1}'
        assert store.get("NCT00000002").status == "COMPLETED"
        assert store.raw("NCT00000002") == _raw("NCT00000002")
        assert store.integrity_problems() == []
        assert store.failures()[0]["reason"] == "invalid_json"
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == (
        str(SCHEMA_VERSION),)
    assert conn.execute("SELECT typeof(raw) FROM versions WHERE trial_id='NCT00000001'"
                        ).fetchall() == [("text",), ("text",)]


def test_failures_keep_their_raw_text(tmp_path: Path) -> None:
    """A payload that could not be parsed stays plain text: readable with sqlite3 alone."""
    with Store(tmp_path / "s.sqlite") as store:
        store.put_failure(registry="ctgov", reason="invalid_json", raw="{trunc É")
    raw = sqlite3.connect(tmp_path / "s.sqlite").execute("SELECT raw FROM failures").fetchone()
    assert raw == ("{trunc É",)


def test_unknown_format_is_an_error() -> None:
    with pytest.raises(codec.CodecError):
        codec.RawDictionary().decompress(b"Q...")
