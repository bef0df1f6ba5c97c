"""The TypedDicts the type checker reads (core/record.py, app/summary.py) against what the code
builds at run time: a key a parser writes that its TypedDict does not declare, or a crawl
summary field missing from ``CrawlReport``, fails here (mypy sees only the literals it can
follow)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from trialscope.app.summary import CrawlReport
from trialscope.core import record as rec_types
from trialscope.crawler.run import CrawlSummary
from trialscope.parser.files import Parsed, parse_payload

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# Registry payloads (not the golden outputs, evaluation sets or criteria expectations).
PAYLOAD_DIRS = ["aggregator", "chictr", "ctgov", "ctis", "euctr", "ictrp", "isrctn"]


def _keys(td: Any) -> set[str]:
    return set(td.__required_keys__) | set(td.__optional_keys__)


def _records() -> list[rec_types.TrialRecord]:
    out = []
    for folder in PAYLOAD_DIRS:
        for path in sorted((FIXTURES / folder).rglob("*")):
            if path.suffix not in (".json", ".xml", ".html", ".txt") or not path.is_file():
                continue
            for item in parse_payload(path.read_text(encoding="utf-8"), source=str(path)):
                if isinstance(item, Parsed):
                    out.append(item.record)
    return out


RECORDS = _records()


def _undeclared(td: Any, value: Any, where: str) -> list[str]:
    """Keys of ``value`` (a dict the record holds) that ``td`` does not declare, with those
    of the TypedDicts nested in it."""
    if not isinstance(value, dict):
        return []
    out = [f"{where}.{k}" for k in value if k not in _keys(td)]
    nested = {
        rec_types.Eligibility: {"inclusion": rec_types.CriterionItem,
                                "exclusion": rec_types.CriterionItem,
                                "thresholds": rec_types.Threshold},
        rec_types.CriterionItem: {"children": rec_types.CriterionItem},
        rec_types.Threshold: {"window": rec_types.Window},
        rec_types.Arm: {"doses": rec_types.Dose},
        rec_types.Intervention: {"doses": rec_types.Dose},
    }.get(td, {})
    for key, inner in nested.items():
        part = value.get(key)
        for i, item in enumerate(part if isinstance(part, list) else [part]):
            out += _undeclared(inner, item, f"{where}.{key}[{i}]")
    return out


def test_the_fixtures_give_records_of_every_registry():
    assert len(RECORDS) > 30
    assert {"ctgov", "chictr", "euctr", "ctis", "isrctn", "aggregator"} <= {
        r.registry for r in RECORDS}


@pytest.mark.parametrize("field, td", [
    ("eligibility", rec_types.Eligibility), ("enrollment", rec_types.Enrollment),
    ("cell_therapy", rec_types.CellTherapy), ("arms", rec_types.Arm),
    ("interventions", rec_types.Intervention), ("locations", rec_types.Location),
    ("contacts", rec_types.Contact), ("officials", rec_types.Official),
    ("secondary_ids", rec_types.SecondaryId),
])
def test_every_key_a_parser_writes_is_declared(field, td):
    undeclared = []
    for record in RECORDS:
        value = getattr(record, field)
        for i, part in enumerate(value if isinstance(value, list) else [value]):
            undeclared += _undeclared(td, part, f"{record.trial_id}.{field}[{i}]")
    assert not undeclared, "keys missing from core/record.py:\n" + "\n".join(undeclared[:20])


def test_the_checker_meets_the_same_parts_as_the_json():
    """The record's annotations name the TypedDicts (what mypy checks), and the JSON document
    is still the plain dicts (``to_dict`` is ``dataclasses.asdict``)."""
    hints = {f.name: str(f.type) for f in dataclasses.fields(rec_types.TrialRecord)}
    assert hints["eligibility"] == "Eligibility"
    assert hints["arms"] == "list[Arm]"
    assert hints["cell_therapy"] == "CellTherapy"
    record = rec_types.TrialRecord(trial_id="NCT00000001", registry="ctgov")
    assert record.to_dict()["enrollment"] == {"count": None, "type": None}
    assert type(record.eligibility) is dict and record.eligibility == {}


def test_the_crawl_report_starts_with_the_crawl_summary_fields():
    fields = [f.name for f in dataclasses.fields(CrawlSummary)]
    declared = list(CrawlReport.__annotations__)
    assert declared[:len(fields)] == fields
    summary = CrawlSummary.from_stats({"finish_reason": "finished"})
    assert list(summary.as_dict()) == fields
    assert set(declared[len(fields):]) == {"registry", "indexed", "error", "watch"}


def test_what_show_returns_is_what_trial_info_declares(tmp_path):
    from trialscope.app import service
    from trialscope.app.summary import TrialInfo

    home = service.DataHome(tmp_path / "home")
    study = sorted((FIXTURES / "ctgov" / "studies").glob("*.json"))[0]
    service.import_paths(home, [study])
    record, info = service.show(home, study.stem)
    assert record.trial_id == study.stem
    assert set(info) - _keys(TrialInfo) == set()
    assert {"versions", "first_seen", "last_fetched", "version_list", "links"} <= set(info)
