"""Schema vs record, record -> document, and index maintenance against a real Store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from whoosh.filedb.filestore import RamStorage

from trialscope.core.record import RECORD_FIELDS, TrialRecord
from trialscope.index import indexer
from trialscope.index.indexer import (
    NoIndexError,
    doc_count,
    index_records,
    open_index,
    rebuild_index,
    sync_index,
)
from trialscope.index.schema import (
    FIELD_MAP,
    NOT_INDEXED,
    build_schema,
    date_key,
    facet_key,
    record_to_doc,
)
from trialscope.store.db import Store

from .conftest import indexed_ids

# The searchable fields of DESIGN.md's record ("The record"): each must reach the index.
DESIGN_SEARCHABLE = [
    "trial_id", "registry", "secondary_ids", "title", "official_title", "acronym", "status",
    "phases", "study_type", "enrollment", "start_date", "completion_date", "last_updated",
    "sponsor", "collaborators", "conditions", "keywords", "interventions", "arms", "eligibility",
    "locations", "summary", "description", "has_results",
]


def make_record(trial_id: str = "NCT06958939", **overrides: object) -> TrialRecord:
    data: dict[str, object] = {
        "trial_id": trial_id,
        "registry": "ctgov",
        "title": "The Safety and Efficacy of S103 in the Treatment of Refractory Generalized "
                 "Myasthenia Gravis",
        "official_title": "A Phase I Study of S103 CAR-T Cells in Refractory gMG",
        "acronym": None,
        "status": "NOT_YET_RECRUITING",
        "phases": ["PHASE1"],
        "study_type": "INTERVENTIONAL",
        "enrollment": {"count": 24, "type": "ESTIMATED"},
        "start_date": "2025-05",
        "primary_completion_date": "2026-02",
        "completion_date": "2026-08-30",
        "last_updated": "2025-05-06",
        "sponsor": "Shanghai Changzheng Hospital",
        "collaborators": ["Shanghai Cell Therapy Group"],
        "conditions": ["Myasthenia Gravis, Generalized"],
        "keywords": ["CAR-T"],
        "mesh_terms": ["Myasthenia Gravis"],
        "interventions": [{"type": "BIOLOGICAL", "name": "S103 CAR-T cells",
                           "description": "anti-CD19 CAR-T", "other_names": ["S103"],
                           "arm_labels": ["S103 CAR-T"]}],
        "arms": [{"label": "Dose level 1 group", "type": "EXPERIMENTAL",
                  "description": "1.0 × 10e6/kg S103 CAR-T cells", "interventions": ["S103"],
                  "doses": [{"value": 1.0e6, "unit": "cells", "per": "kg",
                             "text": "1.0 × 10e6/kg"}]}],
        "eligibility": {
            "text": None,
            "inclusion": [{"text": "Confirmed refractory MG, one of:", "children": [
                {"text": "MG-ADL score ≥ 6", "children": []}]},
                {"text": "AChR antibody positive", "children": []}],
            "exclusion": [{"text": "Prior gene therapy", "children": []}],
            "min_age_years": 18, "max_age_years": 70, "sex": "ALL",
            "healthy_volunteers": False,
            "thresholds": [{"measure": "antibody", "op": "=", "value": "AChR+", "unit": None,
                            "text": "AChR antibody positive", "section": "inclusion",
                            "kind": "antibody"}],
        },
        "locations": [{"facility": "Changzheng Hospital", "city": "Shanghai", "state": None,
                       "country": "China", "status": None},
                      {"facility": None, "city": "Seoul", "state": None,
                       "country": "Korea, Republic of", "status": None}],
        "summary": "A dose-escalation study of S103 CAR-T cells in refractory gMG.",
        "description": "Detailed description.",
        "secondary_ids": [{"id": "S103-MG-01", "type": "ORG"}],
        "primary_outcomes": ["Dose-limiting toxicity"],
        "has_results": False,
        "cell_therapy": {"modality": ["CAR-T"], "targets": ["CD19"], "cell_source": "autologous"},
    }
    data.update(overrides)
    return TrialRecord.from_dict(data)


# -- schema vs record ------------------------------------------------------------------------

def test_every_record_field_is_indexed_or_excluded_with_a_reason() -> None:
    assert set(FIELD_MAP) | set(NOT_INDEXED) == set(RECORD_FIELDS)
    assert not set(FIELD_MAP) & set(NOT_INDEXED)
    assert all(reason.strip() for reason in NOT_INDEXED.values())


def test_design_searchable_fields_map_to_schema_fields() -> None:
    schema = build_schema()
    for name in DESIGN_SEARCHABLE:
        assert name in FIELD_MAP, f"record field {name!r} does not reach the index"
    for name, targets in FIELD_MAP.items():
        for target in targets:
            assert target in schema, f"{name} -> {target}: not a schema field"


def test_every_schema_field_is_fed_by_the_record() -> None:
    fed = {t for targets in FIELD_MAP.values() for t in targets}
    # index/pairs.py's word pairs come from the text fields, added by the writers
    assert set(build_schema().names()) - {"pairs"} == fed


def test_record_to_doc_fills_every_schema_field_for_a_full_record() -> None:
    doc = record_to_doc(make_record())
    # no acronym, and no marker named only as absent (index/negation.py); the word pairs
    # (index/pairs.py) are added by the writers
    assert set(doc) == set(build_schema().names()) - {"acronym", "negated", "pairs"}
    assert doc["trial_id"] == "NCT06958939"
    assert doc["status"] == "not_yet_recruiting"
    assert doc["phases"] == "phase1"
    assert doc["countries"] == "China\nKorea, Republic of"  # one value per line, as written
    assert doc["cities"] == "Shanghai\nSeoul" and doc["start_year"] == "2025"
    assert doc["targets"] == "CD19" and doc["modality"] == "CAR-T"
    assert doc["sponsor_name"] == "Shanghai Changzheng Hospital"
    assert 950 <= doc["prior"] <= 1000
    assert doc["start_date"] == 20250501 and doc["completion_date"] == 20260830
    assert doc["enrollment"] == 24 and doc["min_age"] == 18.0 and doc["has_results"] is False
    assert "MG-ADL score ≥ 6" in doc["criteria"]  # nested items flattened
    assert "Prior gene therapy" in doc["exclusion"] and "gene" not in doc["criteria"]
    assert "S103-MG-01" in doc["ids"]
    assert "Shanghai Cell Therapy Group" in doc["sponsor"]
    assert doc["antibodies"] == "req:achr+,only:achr+"  # the criteria's antibody limits


def test_an_mrna_car_t_is_indexed_under_car_t_too() -> None:
    # "mRNA CAR-T" is a kind of "CAR-T": --modality CAR-T finds it, --modality "mRNA CAR-T"
    # finds only those.
    mrna = {"modality": ["mRNA CAR-T"], "targets": ["BCMA"], "cell_source": "autologous"}
    assert record_to_doc(make_record(cell_therapy=mrna))["modality"] == "mRNA CAR-T\nCAR-T"
    assert record_to_doc(make_record())["modality"] == "CAR-T"


def test_record_to_doc_leaves_out_empty_values() -> None:
    doc = record_to_doc(TrialRecord(trial_id="X1", registry="ctgov"))
    assert doc["trial_id"] == "X1" and doc["status"] == "unknown"
    assert "enrollment" not in doc and "start_date" not in doc and "summary" not in doc


@pytest.mark.parametrize("value, key", [
    ("2025-05-01", 20250501), ("2025-05", 20250501), ("2025", 20250101),
    ("2025-5-7", 20250507), ("2025-05-01T10:00:00Z", 20250501), (None, None), ("", None),
    ("May 2025", None), ("2025-13", None),
])
def test_date_key(value: str | None, key: int | None) -> None:
    assert date_key(value) == key


def test_facet_key() -> None:
    assert facet_key("Korea, Republic of") == "korea republic of"
    assert facet_key("RECRUITING") == "recruiting"


# -- index maintenance -----------------------------------------------------------------------

def test_unique_id_makes_updates_idempotent_in_memory() -> None:
    ix = RamStorage().create_index(build_schema())
    for _ in range(2):
        with ix.writer() as w:
            w.update_document(**record_to_doc(make_record()))
    assert ix.doc_count() == 1


def test_the_same_id_twice_in_one_call_gives_one_document(tmp_path: Path) -> None:
    old, new = make_record(status="RECRUITING"), make_record(status="COMPLETED")
    assert index_records(tmp_path, [old, new]) == 1
    with open_index(tmp_path).searcher() as searcher:
        assert [d["status"] for d in searcher.documents()] == ["completed"]


def test_open_missing_index_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(NoIndexError) as err:
        open_index(tmp_path / "index")
    assert "trials crawl --offline" in str(err.value) and "trials reindex" in str(err.value)
    assert err.value.code == "no_index"


def test_index_from_another_version_asks_for_reindex(tmp_path: Path) -> None:
    index_records(tmp_path / "index", [make_record()])
    (tmp_path / "index" / indexer.VERSION_FILE).write_text('{"schema_version": 0}')
    with pytest.raises(NoIndexError, match="trials reindex"):
        open_index(tmp_path / "index")


def test_a_commit_while_the_index_opens_is_read_again(tmp_path: Path, monkeypatch) -> None:
    """A writer's commit replaces the table of contents between a reader listing it and
    opening it (seen as FileNotFoundError '_MAIN_1.toc' while pages answer during an
    import): the reader reads the folder again."""
    index_records(tmp_path, [make_record()])
    real = indexer.whoosh_index.open_dir
    gone = {"n": 2}

    def racing(*args, **kwargs):
        if gone["n"]:
            gone["n"] -= 1
            raise FileNotFoundError("_MAIN_1.toc")
        return real(*args, **kwargs)

    monkeypatch.setattr(indexer.whoosh_index, "open_dir", racing)
    with open_index(tmp_path).searcher() as searcher:
        assert searcher.doc_count() == 1
    gone["n"] = indexer.OPEN_ATTEMPTS  # a file that stays missing is still an error
    with pytest.raises(FileNotFoundError):
        open_index(tmp_path)


def test_index_records_is_idempotent(tmp_path: Path) -> None:
    records = [make_record("NCT00000001"), make_record("NCT00000002")]
    assert index_records(tmp_path, records) == 2
    assert index_records(tmp_path, records) == 2
    assert doc_count(tmp_path) == 2
    assert indexed_ids(tmp_path) == ["NCT00000001", "NCT00000002"]


def test_update_replaces_the_document(tmp_path: Path) -> None:
    index_records(tmp_path, [make_record(status="RECRUITING")])
    index_records(tmp_path, [make_record(status="COMPLETED")])
    with open_index(tmp_path).searcher() as searcher:
        assert [d["status"] for d in searcher.documents()] == ["completed"]


def test_segments_are_not_compound_files(tmp_path: Path) -> None:
    index_records(tmp_path, [make_record("NCT00000001")])
    index_records(tmp_path, [make_record("NCT00000002")])
    assert not list(tmp_path.glob("*.seg"))  # compound segments are slow to open


def _store_with(tmp_path: Path, records: list[TrialRecord]) -> Store:
    store = Store(tmp_path / "store.sqlite")
    for record in records:
        store.put_record(record, json.dumps(record.to_dict(), sort_keys=True))
    return store


def _unindexed(store: Store) -> list[str]:
    return [r.trial_id for r, _ in store.iter_unindexed()]


def test_sync_indexes_what_is_new_and_is_idempotent(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    with _store_with(tmp_path, [make_record(f"NCT0000000{i}") for i in range(3)]) as store:
        assert sync_index(store, index_dir) == 3
        assert _unindexed(store) == []
        assert sync_index(store, index_dir) == 0
        # a changed record is re-indexed, alone
        changed = make_record("NCT00000001", title="A new title")
        store.put_record(changed, json.dumps(changed.to_dict(), sort_keys=True))
        assert sync_index(store, index_dir) == 1
    assert doc_count(index_dir) == 3


def test_sync_resumes_after_an_interruption(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    index_dir = tmp_path / "index"
    index_records(index_dir, [])  # an existing, empty index
    real_write = indexer._write
    calls = {"n": 0}

    def failing_write(ix, records, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # the user pressed Ctrl-C during the second chunk
        return real_write(ix, records, **kw)

    with _store_with(tmp_path, [make_record(f"NCT0000000{i}") for i in range(3)]) as store:
        monkeypatch.setattr(indexer, "_write", failing_write)
        with pytest.raises(KeyboardInterrupt):
            sync_index(store, index_dir, chunk=1)
        assert _unindexed(store) == ["NCT00000001", "NCT00000002"]  # first chunk kept
        monkeypatch.setattr(indexer, "_write", real_write)
        assert sync_index(store, index_dir, chunk=1) == 2
    assert doc_count(index_dir) == 3


def test_sync_without_an_index_rebuilds_from_the_store(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    with _store_with(tmp_path, [make_record("NCT00000001")]) as store:
        assert sync_index(store, index_dir) == 1
        # the index is deleted; the store still says "indexed": sync must not trust that
        for f in index_dir.iterdir():
            f.unlink()
        index_dir.rmdir()
        assert sync_index(store, index_dir) == 1
    assert doc_count(index_dir) == 1


def test_rebuild_swaps_in_a_fresh_index(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    index_records(index_dir, [make_record("NCT09999999")])  # stale: not in the store
    with _store_with(tmp_path, [make_record("NCT00000001"), make_record("NCT00000002")]) as s:
        assert rebuild_index(s, index_dir) == 2
        assert _unindexed(s) == []
    assert indexed_ids(index_dir) == ["NCT00000001", "NCT00000002"]
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".index.")]
    assert leftovers == []  # neither the temp build nor the old index is left behind


def test_failed_rebuild_keeps_the_old_index(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    index_dir = tmp_path / "index"
    index_records(index_dir, [make_record("NCT09999999")])

    def broken(record: TrialRecord) -> dict[str, object]:
        raise ValueError("disk full")

    with _store_with(tmp_path, [make_record("NCT00000001")]) as store:
        monkeypatch.setattr(indexer, "record_to_doc", broken)
        with pytest.raises(ValueError):
            rebuild_index(store, index_dir)
    assert indexed_ids(index_dir) == ["NCT09999999"]
    assert not [p for p in tmp_path.iterdir() if ".rebuild-" in p.name]


def test_rebuild_with_several_processes(tmp_path: Path) -> None:
    # procs > 1 forks; run it in a fresh process, as the CLI does, never beside test threads.
    records = [make_record(f"NCT000000{i:02d}") for i in range(12)]
    _store_with(tmp_path, records).close()
    script = (
        "import sys; from trialscope.store.db import Store; "
        "from trialscope.index.indexer import rebuild_index; "
        "s = Store(sys.argv[1]); print(rebuild_index(s, sys.argv[2], procs=2)); s.close()"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "store.sqlite"), str(tmp_path / "index")],
        capture_output=True, text=True, timeout=120, check=True,
    )
    assert out.stdout.strip() == "12"
    assert doc_count(tmp_path / "index") == 12
