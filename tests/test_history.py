"""Field-level diffs between stored versions, a trial's history and the change feed."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import CTGOV_FIXTURES
from trialscope.cli.main import cli
from trialscope.core.record import RECORD_FIELDS, TrialRecord
from trialscope.parser.ctgov import parse_study
from trialscope.store.db import Store
from trialscope.store.history import changes_since, diff_records, history, summarize

TRIAL = "NCT05828225"  # criteria with nested items, a location, an arm


def study() -> dict[str, Any]:
    return json.loads((CTGOV_FIXTURES / f"{TRIAL}.json").read_text(encoding="utf-8"))


def record(change: Any = None) -> dict[str, Any]:
    data = study()
    if change:
        change(data["protocolSection"])
    return parse_study(data).to_dict()


def fields(changes: list[dict[str, Any]]) -> list[str]:
    return [c["field"] for c in changes]


def test_the_same_record_has_no_changes_and_last_updated_alone_is_none() -> None:
    assert diff_records(record(), record()) == []

    def touch(ps: dict[str, Any]) -> None:
        ps["statusModule"]["lastUpdatePostDateStruct"] = {"date": "2030-01-01"}
    assert diff_records(record(), record(touch)) == []
    assert summarize([]) == "no compared field changed"


def test_status_dates_and_enrollment() -> None:
    def change(ps: dict[str, Any]) -> None:
        ps["statusModule"]["overallStatus"] = "COMPLETED"
        ps["statusModule"]["primaryCompletionDateStruct"] = {"date": "2025-03-01",
                                                             "type": "ACTUAL"}
        ps["designModule"]["enrollmentInfo"] = {"count": 7, "type": "ACTUAL"}
    changes = diff_records(record(), record(change))
    assert fields(changes)[:2] == ["status", "enrollment"]
    assert "primary_completion_date" in fields(changes)
    text = summarize(changes)
    assert text.startswith("status RECRUITING -> COMPLETED; enrollment 9 (ESTIMATED) -> 7 "
                           "(ACTUAL); primary_completion_date ")
    assert "-> 2025-03-01 (ACTUAL)" in text


def test_phases_title_and_conditions() -> None:
    def change(ps: dict[str, Any]) -> None:
        ps["designModule"]["phases"] = ["PHASE1", "PHASE2"]
        ps["identificationModule"]["briefTitle"] = "A shorter title"
        ps["conditionsModule"]["conditions"].append("Lambert-Eaton Syndrome")
    changes = {c["field"]: c for c in diff_records(record(), record(change))}
    assert changes["phases"]["added"] == ["PHASE2"]
    assert changes["title"]["new"] == "A shorter title"
    assert changes["conditions"]["added"] == ["Lambert-Eaton Syndrome"]
    assert "phases PHASE1 -> PHASE1, PHASE2" in summarize(list(changes.values()))


def test_criteria_items_added_and_removed_nested_ones_included() -> None:
    old = record()
    new = copy.deepcopy(old)
    inclusion = new["eligibility"]["inclusion"]
    removed = inclusion.pop(0)["text"]
    inclusion.append({"text": "Able to give written consent", "children": []})
    nested_parent = next(i for i in old["eligibility"]["inclusion"] if i["children"])
    child = nested_parent["children"][0]["text"]
    for item in new["eligibility"]["inclusion"]:
        if item["children"]:
            item["children"] = item["children"][1:]
    change = next(c for c in diff_records(old, new) if c["field"] == "inclusion_criteria")
    assert change["added"] == ["Able to give written consent"]
    assert set(change["removed"]) == {" ".join(removed.split()), " ".join(child.split())}
    assert summarize([change]).startswith("inclusion_criteria +Able to give written consent, -")


def test_locations_and_arms_added_removed_and_changed() -> None:
    old = record()
    new = copy.deepcopy(old)
    new["locations"].append({"facility": "Huashan Hospital", "city": "Shanghai",
                             "state": None, "zip": None, "country": "China",
                             "status": "RECRUITING", "geo": None})
    new["locations"][0]["status"] = "COMPLETED"
    new["arms"] = []
    changes = {c["field"]: c for c in diff_records(old, new)}
    locations = changes["locations"]
    assert locations["added"] == ["Huashan Hospital, Shanghai, China"]
    assert locations["changed"][0]["fields"] == ["status"]
    assert changes["arms"]["removed"] == [a["label"] for a in old["arms"]]
    text = summarize([locations])
    assert "+Huashan Hospital, Shanghai, China" in text and "-> COMPLETED" in text


def test_long_texts_are_reported_as_changed_without_quoting_them() -> None:
    def change(ps: dict[str, Any]) -> None:
        ps["descriptionModule"]["briefSummary"] += " Updated."
    changes = diff_records(record(), record(change))
    assert fields(changes) == ["summary"] and summarize(changes) == "summary changed"


def test_every_record_field_is_compared_or_deliberately_left_out() -> None:
    """A field the record grows later is still reported (as "changed"), never dropped."""
    rec = TrialRecord(trial_id="NCT00000001", registry="ctgov")
    base = rec.to_dict()
    for name in RECORD_FIELDS:
        other = copy.deepcopy(base)
        other[name] = {"x": 1} if isinstance(base[name], dict) else ["x"] \
            if isinstance(base[name], list) else "changed-value"
        found = fields(diff_records(base, other))
        ignored = {"last_updated", "url", "cell_therapy", "unknown_vocab", "status_raw",
                   "sponsor_class", "trial_id", "registry", "enrollment", "eligibility",
                   "secondary_ids", "arms", "interventions", "locations", "design"}
        if name not in ignored:
            assert found, name
    unknown = {**base, "future_field": 1}
    assert fields(diff_records(base, unknown)) == ["future_field"]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(tmp_path / "store.sqlite") as s:
        data = study()
        s.put_record(parse_study(data), json.dumps(data), fetched_at="2025-01-01T00:00:00Z")
        data["protocolSection"]["statusModule"]["overallStatus"] = "COMPLETED"
        s.put_record(parse_study(data), json.dumps(data), fetched_at="2025-02-01T00:00:00Z")
        s.put_record(parse_study(data), json.dumps(data), fetched_at="2025-02-15T00:00:00Z")
        data["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 12
        s.put_record(parse_study(data), json.dumps(data), fetched_at="2025-03-01T00:00:00Z")
        yield s


def test_history_lists_versions_with_dates_and_diffs(store: Store) -> None:
    result = history(store, TRIAL.lower())
    assert result is not None and result["trial_id"] == TRIAL
    assert [(v["version"], v["fetched_at"][:10], v["summary"]) for v in result["versions"]] == [
        (1, "2025-01-01", "first version"),
        (2, "2025-02-01", "status RECRUITING -> COMPLETED"),  # the same content again: no v3
        (3, "2025-03-01", "enrollment 9 -> 12"),
    ]
    assert history(store, "NCT00000000") is None


def test_the_change_feed_starts_at_the_given_date(store: Store) -> None:
    feed = changes_since(store, "2025-02-01")
    assert [(c["trial_id"], c["version"], c["kind"], c["summary"]) for c in feed] == [
        (TRIAL, 2, "changed", "status RECRUITING -> COMPLETED"),
        (TRIAL, 3, "changed", "enrollment 9 -> 12"),
    ]
    assert changes_since(store, "2025-01-01")[0]["summary"] == "new trial (RECRUITING)"
    assert changes_since(store, "2025-01-01", trial_ids=set()) == []


def test_history_and_changes_on_the_command_line(store: Store, tmp_path: Path) -> None:
    runner = CliRunner()
    home = ["--home", str(tmp_path)]
    result = runner.invoke(cli, [*home, "history", TRIAL])
    assert result.exit_code == 0
    assert "3 version(s)" in result.output and "status RECRUITING -> COMPLETED" in result.output
    result = runner.invoke(cli, [*home, "changes", "--since", "2025-02-10"])
    assert result.exit_code == 0
    words = result.output.split()
    assert words[:3] == [TRIAL, "fetched", "2025-03-01T00:00:00Z"]
    assert words[3:5] == ["registry", "update"]  # the registry's own date, labelled as such
    assert words[-5:] == ["v3", "enrollment", "9", "->", "12"]
    result = runner.invoke(cli, [*home, "changes", "--since", "2025-02-10", "--json"])
    assert json.loads(result.output)[0]["changes"][0]["new"] == 12
    result = runner.invoke(cli, [*home, "history", "NCT00000000"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: NCT00000000 is not in the local store")
    result = runner.invoke(cli, [*home, "changes", "--since", "last week"])
    assert result.exit_code == 2
    assert "Error: --since 'last week' is not a date. Give YYYY-MM-DD" in result.output
    result = runner.invoke(cli, [*home, "changes", "--since", "2025-01-01", "--watch", "x"])
    assert result.exit_code == 2 and "No watch named 'x'" in result.output
