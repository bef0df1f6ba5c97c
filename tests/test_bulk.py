"""Bulk import (app/bulk.py): zips and large folders, parsed in worker processes.

Correctness only: what is stored and indexed, idempotency, resuming after an interruption.
No timing assertions (the benchmarks in bench/ measure speed; they never run here).
"""

from __future__ import annotations

import json
import zipfile
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from trialscope.app import bulk, service
from trialscope.cli.main import cli
from trialscope.index import indexer
from trialscope.parser import ctgov
from trialscope.store.db import Store
from trialscope.store.home import DataHome

from .conftest import CTGOV_FIXTURES, indexed_ids

CTGOV = CTGOV_FIXTURES

STUDIES = sorted(CTGOV_FIXTURES.glob("*.json"))


def _zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _fixture_zip(tmp_path: Path, name: str = "ctg-studies.json.zip") -> Path:
    return _zip(tmp_path / name, {p.name: p.read_bytes() for p in STUDIES})


def _rows(home: DataHome) -> dict[str, tuple[str, str]]:
    with Store(home.store_path) as store:
        return {tid: (h, store.record_json(tid))
                for tid, (h, _) in store.index_marks().items()}


def _check_index_matches_store(home: DataHome) -> None:
    with Store(home.store_path) as store:
        marks = store.index_marks()
        assert all(content == indexed for content, indexed in marks.values())
        ids = indexed_ids(home.index_dir)
    assert ids == sorted(marks)  # every stored trial once, no duplicates


def test_zip_import_stores_what_the_file_import_stores(tmp_path: Path) -> None:
    assert len(STUDIES) >= 10
    bulk_home = DataHome(tmp_path / "bulk")
    summary = service.import_paths(bulk_home, [_fixture_zip(tmp_path)])
    assert (summary.files, summary.new, summary.failed, summary.indexed) == (
        len(STUDIES), len(STUDIES), 0, len(STUDIES))
    file_home = DataHome(tmp_path / "files")
    service.import_paths(file_home, STUDIES)  # the one-file-at-a-time path
    # Same records, same content hashes: a later crawl sees bulk-imported trials as unchanged.
    assert _rows(bulk_home) == _rows(file_home)
    _check_index_matches_store(bulk_home)
    with Store(bulk_home.store_path) as store:
        assert store.raw("NCT06958939") == (CTGOV_FIXTURES / "NCT06958939.json").read_text(
            encoding="utf-8")
        assert store.info("NCT06958939")["versions"] == 1
    hits = service.search(bulk_home, "myasthenia gravis CAR-T").hits
    assert "NCT06958939" in [h.trial_id for h in hits]


def test_reimport_is_idempotent_and_changes_make_versions(tmp_path: Path) -> None:
    home = DataHome(tmp_path / "home")
    archive = _fixture_zip(tmp_path)
    service.import_paths(home, [archive])
    again = service.import_paths(home, [archive])
    assert (again.new, again.changed, again.unchanged, again.indexed) == (0, 0, len(STUDIES), 0)
    with Store(home.store_path) as store:
        assert store.counts()["versions"] == len(STUDIES)

    # A new download in which one study changed and the volatile date moved everywhere.
    members = {}
    for p in STUDIES:
        study = json.loads(p.read_bytes())
        study.setdefault("derivedSection", {}).setdefault("miscInfoModule", {})[
            "versionHolder"] = "2030-01-01"
        if p.stem == "NCT06958939":
            study["protocolSection"]["statusModule"]["overallStatus"] = "RECRUITING"
        members[p.name] = json.dumps(study, indent=2).encode()
    changed = service.import_paths(home, [_zip(tmp_path / "new.zip", members)])
    assert (changed.new, changed.changed, changed.unchanged, changed.indexed) == (
        0, 1, len(STUDIES) - 1, 1)
    with Store(home.store_path) as store:
        assert store.info("NCT06958939")["versions"] == 2
        assert store.get("NCT06958939").status == "RECRUITING"
    assert service.search(home, "NCT06958939").hits[0].status == "RECRUITING"
    _check_index_matches_store(home)


def test_interrupted_import_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "STORE_BATCH", 4)
    monkeypatch.setattr(bulk, "TASK_SIZE", 2)
    home = DataHome(tmp_path / "home")
    archive = _fixture_zip(tmp_path)
    seen: list[int] = []

    def stop_after_first_batch(p: bulk.BulkProgress) -> None:
        seen.append(p.done)
        if p.phase == "store" and p.done >= 4:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the import

    with pytest.raises(KeyboardInterrupt):
        service.import_paths(home, [archive], on_progress=stop_after_first_batch)
    with Store(home.store_path) as store:
        stored = store.counts()["trials"]
    assert 0 < stored < len(STUDIES)

    resumed = service.import_paths(home, [archive])
    assert resumed.unchanged == stored  # skipped by content hash, not parsed again
    assert resumed.new == len(STUDIES) - stored
    _check_index_matches_store(home)


def test_interrupted_indexing_catches_up(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed while adding the workers' segments: the store holds every study and the index
    none; the next import indexes them all from the store (Whoosh's multi-process writer)."""
    home = DataHome(tmp_path / "home")
    archive = _fixture_zip(tmp_path)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(indexer, "add_segments", killed)
    with pytest.raises(KeyboardInterrupt):
        with Store(home.store_path) as store:
            bulk.bulk_import(store, home.index_dir, [archive], workers=2)
    monkeypatch.undo()
    with Store(home.store_path) as store:
        assert store.counts()["trials"] == len(STUDIES)
        assert len(list(store.iter_unindexed())) == len(STUDIES)
        resumed = bulk.bulk_import(store, home.index_dir, [archive], workers=2)
    assert (resumed.new, resumed.unchanged, resumed.indexed) == (0, len(STUDIES), len(STUDIES))
    _check_index_matches_store(home)
    assert "NCT06958939" in [h.trial_id for h in
                             service.search(home, "myasthenia gravis CAR-T").hits]


def test_workers_index_new_studies_in_segments(tmp_path: Path) -> None:
    """A fresh import is indexed by the workers (one segment each), not read back from the
    store; a trial met twice in one import is indexed once, in its stored version."""
    home = DataHome(tmp_path / "home")
    archive = _fixture_zip(tmp_path)
    twice = tmp_path / "twice"
    twice.mkdir()
    study = json.loads((CTGOV / "NCT06958939.json").read_text(encoding="utf-8"))
    study["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
    (twice / "NCT06958939.json").write_text(json.dumps(study), encoding="utf-8")
    with Store(home.store_path) as store:
        result = bulk.bulk_import(store, home.index_dir, [archive, twice], workers=2)
        assert (result.new, result.changed) == (len(STUDIES), 1)
        # the first version too, if the store took the second only after a worker indexed it
        assert result.indexed in (len(STUDIES), len(STUDIES) + 1)
    ix = indexer.open_index(home.index_dir)
    try:
        assert 1 <= len(ix._segments()) <= 3  # a segment per worker (+ the catch-up's)
    finally:
        ix.close()
    _check_index_matches_store(home)
    assert service.search(home, "NCT06958939").hits[0].status == "COMPLETED"


def test_large_folder_goes_through_bulk(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "BULK_MIN_FILES", 5)
    called: list[int] = []
    real = bulk.bulk_import
    monkeypatch.setattr(bulk, "bulk_import", lambda *a, **k: called.append(1) or real(*a, **k))
    home = DataHome(tmp_path / "home")
    summary = service.import_paths(home, [CTGOV_FIXTURES])
    assert called and summary.new == len(STUDIES) and summary.indexed == len(STUDIES)
    _check_index_matches_store(home)


def test_bad_members_are_kept_and_counted(tmp_path: Path) -> None:
    good = STUDIES[0]
    archive = _zip(tmp_path / "mixed.zip", {
        good.name: good.read_bytes(),
        "NCT00000001.json": b'{"protocolSection": {"identificationModule": {',  # truncated
        "NCT00000002.json": b'{"hello": "world"}',  # JSON, not a study
        "NCT00000003.json": b"\xff\xfe not utf-8",
    })
    home = DataHome(tmp_path / "home")
    summary = service.import_paths(home, [archive])
    assert summary.files == 4 and summary.new == 1
    assert sorted(f["reason"] for f in summary.failures) == [
        "invalid_json", "not_a_study", "unreadable"]
    assert all("mixed.zip!NCT0000000" in f["source"] for f in summary.failures)
    with Store(home.store_path) as store:
        assert store.counts()["failures"] == 3
        # the raw payload of a failure is kept (except bytes that are not text)
        raws = [r[0] for r in store._conn.execute("SELECT raw FROM failures ORDER BY id")]
        assert any(r and r.startswith('{"protocolSection"') for r in raws)


def test_workers_read_members_at_the_places_the_parent_found(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stored and deflated members are read with ``read_member``: no worker opens the zip
    with ``zipfile`` (which would parse its whole central directory again)."""
    def no_zipfile(self: object, container: str) -> None:
        raise AssertionError("a worker parsed the zip's directory")

    monkeypatch.setattr(bulk._Parser, "_zip", no_zipfile)  # forked workers inherit it
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        home = DataHome(tmp_path / f"home{method}")
        archive = _zip(tmp_path / f"m{method}.zip", {p.name: p.read_bytes() for p in STUDIES},
                       method)
        summary = service.import_paths(home, [archive])
        assert (summary.new, summary.failures) == (len(STUDIES), [])
        _check_index_matches_store(home)


def test_other_compressions_are_read_by_zipfile(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "bz.zip", {p.name: p.read_bytes() for p in STUDIES},
                   zipfile.ZIP_BZIP2)
    assert all(place is None for place in
               [bulk.sources_for([archive])[0].places.at(k) for k in range(len(STUDIES))])
    summary = service.import_paths(DataHome(tmp_path / "home"), [archive])
    assert (summary.new, summary.failures) == (len(STUDIES), [])


def test_a_corrupt_member_is_counted_and_the_rest_imported(tmp_path: Path) -> None:
    members = {p.name: p.read_bytes() for p in STUDIES[:3]}
    archive = _zip(tmp_path / "bad.zip", members, zipfile.ZIP_STORED)
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo(STUDIES[1].name)
    raw = bytearray(archive.read_bytes())
    data_at = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    raw[data_at + 100] ^= 0x20  # one flipped bit: the CRC no longer matches
    archive.write_bytes(bytes(raw))
    summary = service.import_paths(DataHome(tmp_path / "home"), [archive])
    assert summary.new == 2
    assert [(f["reason"], STUDIES[1].name in f["source"]) for f in summary.failures] == [
        ("unreadable", True)]
    assert "CRC" in summary.failures[0]["message"]


def test_record_json_matches_the_store_serialisation() -> None:
    for path in STUDIES:
        record = ctgov.parse_study(json.loads(path.read_bytes()))
        assert bulk.record_json(record) == json.dumps(record.to_dict(), ensure_ascii=False,
                                                      sort_keys=True)


def test_cli_imports_a_zip(tmp_path: Path) -> None:
    archive = _fixture_zip(tmp_path)
    result = CliRunner().invoke(cli, ["--home", str(tmp_path / "h"), "import", str(archive),
                                      "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["files"], data["new"], data["indexed"], data["failed"]) == (
        len(STUDIES), len(STUDIES), len(STUDIES), 0)


def test_index_batches_during_the_import(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The index is brought up to date every ``index_every`` records (new workers after
    each), not only at the end."""
    # One member per task and at most two tasks queued per worker: after the first store
    # batch (3 records >= index_every) no task is sent, so the first round stores at most
    # 3 + 2 workers x 2 queued = 7 of the 20 studies before the index catches up.
    monkeypatch.setattr(bulk, "STORE_BATCH", 3)
    monkeypatch.setattr(bulk, "TASK_SIZE", 1)
    phases: list[tuple[str, int]] = []
    home = DataHome(tmp_path / "home")
    with Store(home.store_path) as store:
        result = bulk.bulk_import(store, home.index_dir, [_fixture_zip(tmp_path)], workers=2,
                                  index_every=1, on_progress=lambda p: phases.append(
                                      (p.phase, p.indexed)))
    assert result.files == result.new == result.indexed == len(STUDIES)
    # the first index phase (the empty index) and the last (the tail) bracket at least one
    # taken in the middle of the import
    index_phases = [indexed for phase, indexed in phases if phase == "index"]
    assert any(0 < indexed < len(STUDIES) for indexed in index_phases), index_phases
    _check_index_matches_store(home)


def test_an_import_is_refused_while_another_writer_holds_the_home(tmp_path: Path) -> None:
    """An import takes the data home's writer lock, like a crawl or a refresh: while another
    writer holds it, the import is refused with the error contract and stores nothing."""
    from trialscope.store.lock import LOCK_NAME, RefreshLock

    home = DataHome(tmp_path / "home")
    home.root.mkdir(parents=True)
    lock = RefreshLock(home.root / LOCK_NAME, command="refresh")
    lock.acquire()
    try:
        result = CliRunner().invoke(cli, ["--home", str(home.root), "import", "--json",
                                          str(_fixture_zip(tmp_path))])
    finally:
        lock.release()
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "locked"
    assert "Traceback" not in result.output
    assert not home.store_path.exists()
    assert service.import_paths(home, [_fixture_zip(tmp_path)]).new == len(STUDIES)


def test_index_errors_follow_the_error_contract(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def busy(*args, **kwargs):
        raise indexer.IndexBusyError("The search index at X is being written by another "
                                     "trialscope process. Wait for it to finish and try again.")

    monkeypatch.setattr(indexer, "add_segments", busy)
    home = DataHome(tmp_path / "home")
    result = CliRunner().invoke(cli, ["--home", str(home.root), "import", "--json",
                                      str(_fixture_zip(tmp_path))])
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["error"]["code"] == "index_busy"
    with Store(home.store_path) as store:  # what was stored is kept, to be indexed later
        assert store.counts()["trials"] == len(STUDIES)


def _link_tables(store: Store) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    conn = store._conn
    return (conn.execute("SELECT trial_id, key FROM link_keys ORDER BY 1, 2").fetchall(),
            conn.execute("SELECT trial_id, registry, content_hash, own_key, group_id"
                         " FROM link_state ORDER BY 1").fetchall())


def test_workers_write_the_link_keys_a_full_refresh_computes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trialscope.store import links

    home = DataHome(tmp_path / "home")
    members = {p.name: p.read_bytes() for p in STUDIES}
    reads: list[str] = []
    original_get = Store.get

    def counting_get(self: Store, trial_id: str) -> object:
        reads.append(trial_id)
        return original_get(self, trial_id)

    monkeypatch.setattr(Store, "get", counting_get)
    service.import_paths(home, [_zip(tmp_path / "a.zip", members)])
    assert reads == []  # the refresh that ends the import parsed no stored record
    monkeypatch.setattr(Store, "get", original_get)
    with Store(home.store_path) as store:
        written = _link_tables(store)
        assert len(written[1]) == len(STUDIES)
        assert links.refresh_links(store).updated == 0  # nothing stale after the import
        links.refresh_links(store, full=True)  # every record's keys from the stored record
        assert _link_tables(store) == written


def test_a_parsed_record_skips_no_cell_therapy_facts() -> None:
    """``record_to_doc(parsed=True)`` trusts the parser's (possibly empty) cell-therapy facts
    instead of extracting them again: the document must be the same."""
    from trialscope.index.schema import record_to_doc

    for path in STUDIES:
        record = ctgov.parse_study(json.loads(path.read_text(encoding="utf-8")), url=None)
        assert record_to_doc(record, parsed=True) == record_to_doc(record), path.name


@pytest.mark.parametrize("ahead", [1, 16])
def test_the_parent_takes_in_results_while_it_stores(tmp_path: Path, ahead: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Between the records of a store batch the parent takes in what the workers finished
    (``_Workers.pump``) and sends them new tasks; at most ``AHEAD_TASKS`` tasks a worker wait
    in the parent (1: the workers wait for ``map``, and nothing is lost or reordered)."""
    monkeypatch.setattr(bulk, "STORE_BATCH", 4)
    monkeypatch.setattr(bulk, "TASK_SIZE", 1)
    monkeypatch.setattr(bulk._Workers, "AHEAD_TASKS", ahead)
    taken: list[tuple[bool, int]] = []  # (while storing?, results waiting in the parent)
    storing = [False]
    real_take, real_store = bulk._Workers._take, bulk._store

    def take(self: Any, seq: int, out: Any) -> None:
        real_take(self, seq, out)
        taken.append((storing[0], len(self._done)))

    def store(*args: Any, between: Any = None) -> None:
        def pump() -> None:
            # (the workers are given the time to finish a task: until one's result is ready)
            pool = between.__self__
            busy = [c for slot, c in enumerate(pool.conns) if pool._pending[slot]]
            if busy:
                wait(busy, timeout=30)
            between()

        storing[0] = True
        try:
            real_store(*args, between=pump if between else None)
        finally:
            storing[0] = False

    monkeypatch.setattr(bulk._Workers, "_take", take)
    monkeypatch.setattr(bulk, "_store", store)
    home = DataHome(tmp_path / "home")
    with Store(home.store_path) as store_:
        result = bulk.bulk_import(store_, home.index_dir, [_fixture_zip(tmp_path)], workers=2)
    assert result.files == result.new == result.indexed == len(STUDIES)
    assert any(while_storing for while_storing, _ in taken)
    # (then no task is sent: the two queued a worker may still come in)
    assert max(n for _, n in taken) <= (ahead + 2) * 2
    _check_index_matches_store(home)
