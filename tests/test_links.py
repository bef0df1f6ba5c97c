"""Cross-registry links: keys, groups, the persisted form, `trials show`, the ICTRP export.

Synthetic records (built here) and the project's synthetic fixtures always run; the real ICTRP
export and ctrdata's records in ../shared/data are skipped cleanly when absent.
"""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from trialscope.cli.main import cli
from trialscope.core.record import TrialRecord
from trialscope.parser.files import Parsed, parse_payload
from trialscope.store import links
from trialscope.store.db import Store
from trialscope.store.links import (
    GroupCollapser,
    build_groups,
    collapse,
    find_by_id,
    group_of,
    link_keys,
    normalise_sponsor,
    own_key,
    protocol_key,
    refresh_links,
    registry_key,
)

from .conftest import FIXTURES, shared_path

ICTRP = ("data", "who-ictrp", "ictrp_export_2024-06-09_part_shared.xml")  # in ../shared
SYNTHETIC_FILES = [FIXTURES / "ctis" / "synthetic_2024-500002-22-00_current.json",
                   FIXTURES / "isrctn" / "synthetic_api_allTrials.xml",
                   FIXTURES / "euctr" / "synthetic_fulltext.txt"]


def run(home: Path, *args: str):  # noqa: ANN201
    return CliRunner().invoke(cli, ["--home", str(home), *args], catch_exceptions=False)


def rec(trial_id: str, registry: str, *ids: str | tuple[str, str, str | None],
        sponsor: str | None = None, related: list[str] | None = None) -> TrialRecord:
    """A record with secondary ids: a plain string is a registry id, a tuple (id, type,
    domain) anything else."""
    secondary = [{"id": i, "type": "REGISTRY", "domain": None} if isinstance(i, str)
                 else {"id": i[0], "type": i[1], "domain": i[2]} for i in ids]
    return TrialRecord(trial_id=trial_id, registry=registry, secondary_ids=secondary,
                       sponsor=sponsor, title=f"Trial {trial_id}", related_ids=related or [])


# --- keys ------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, key", [
    ("NCT01234567", "nct:NCT01234567"), ("nct01234567", "nct:NCT01234567"),
    ("ClinicalTrials.gov: NCT01234567", "nct:NCT01234567"),
    ("EUCTR2015-000590-12-DE", "eudract:2015-000590-12"),
    ("EudraCT 2015-000590-12", "eudract:2015-000590-12"),
    ("2015-000590-12-3RD", "eudract:2015-000590-12"),
    ("2022-500244-37-00", "ctis:2022-500244-37-00"),
    ("CTIS2022-500244-37-00", "ctis:2022-500244-37-00"),
    ("ISRCTN12345678", "isrctn:ISRCTN12345678"), ("isrctn 12345678", "isrctn:ISRCTN12345678"),
    ("chictr2400084905", "chictr:ChiCTR2400084905"),
    ("ChiCTR-TRC-12002345", "chictr:ChiCTR-TRC-12002345"),
    ("JPRN-jRCT2080224769", "jprn:jRCT2080224769"), ("jrcts031210288", "jprn:jRCTs031210288"),
    ("JapicCTI-194846", "jprn:JapicCTI-194846"), ("JPRN-UMIN000001825", "jprn:UMIN000001825"),
    ("DRKS00031084", "drks:DRKS00031084"), ("KCT0000379", "cris:KCT0000379"),
    ("u1111-1234-5678", "utn:U1111-1234-5678"),
    # not registry ids: protocol codes, sentences, wrong shapes, other types
    ("ALN-TTR02-011", None), ("extension of NCT01234567", None), ("NCT0123456", None),
    ("2015-000590-1", None), ("12345678", None), ("", None), (None, None), (12345678, None),
])
def test_registry_key(raw: object, key: str | None) -> None:
    assert registry_key(raw) == key


def test_own_key() -> None:
    assert own_key(rec("2015-000590-12", "euctr")) == "eudract:2015-000590-12"
    assert own_key(rec("ISRCTN12345678", "isrctn")) == "isrctn:ISRCTN12345678"
    assert own_key(rec("jRCT2080224769", "jprn")) == "jprn:jRCT2080224769"
    assert own_key(rec("XYZ-0001", "xyz")) == "xyz:XYZ-0001"


@pytest.mark.parametrize("a, b", [
    ("Prothena Therapeutics Limited", "Prothena Therapeutics Ltd."),
    ("Alnylam Pharmaceuticals", "Alnylam Pharmaceuticals, Inc."),
    ("Example Cell Therapies B.V.", "EXAMPLE CELL THERAPIES BV"),
    ("Universitätsklinikum Köln", "Universitatsklinikum Koln"),
])
def test_sponsor_names_normalise_alike(a: str, b: str) -> None:
    assert normalise_sponsor(a) == normalise_sponsor(b) is not None


def test_protocol_keys_need_a_sponsor_and_a_real_id() -> None:
    assert protocol_key("NEOD001-CL002", "Prothena Therapeutics Ltd.") == \
        "protocol:prothena therapeutics|NEOD001CL002"
    assert protocol_key("NEOD001-CL002", None) is None
    assert protocol_key("001", "Pfizer") is None          # too short
    assert protocol_key("PROTOCOL", "Pfizer") is None     # no digit
    assert protocol_key("X1", "Inc.") is None             # nothing but a legal form


def test_link_keys_of_a_record() -> None:
    r = rec("NCT00000001", "ctgov", "EUCTR2015-000590-12-DE", "ISRCTN12345678",
            ("ALN-TTR02-011", "ORG_STUDY_ID", None), ("R01-CA-123456", "NIH", "NIH"),
            ("GRANT-2020-1", "OTHER_GRANT", "Wellcome"), ("P-0042", "OTHER", "Some CRO"),
            ("see NCT00000009 for the parent study", "OTHER", None),
            sponsor="Alnylam Pharmaceuticals", related=["NCT00000009"])
    assert link_keys(r) == {"nct:NCT00000001", "eudract:2015-000590-12",
                            "isrctn:ISRCTN12345678",
                            "protocol:alnylam pharmaceuticals|ALNTTR02011"}


# --- groups (in memory) ----------------------------------------------------------------------

CHAIN = [
    rec("NCT09990001", "ctgov", "2019-000001-11"),
    rec("2019-000001-11", "euctr", "2024-500001-11-00"),
    rec("2024-500001-11-00", "ctis", "ISRCTN09990001"),
    rec("ISRCTN09990001", "isrctn", "ChiCTR2400099991"),
    rec("ChiCTR2400099991", "chictr"),
    rec("NCT09990002", "ctgov"),  # unrelated
]


def test_chain_across_five_registries_is_one_group() -> None:
    groups = build_groups(CHAIN)
    assert {t for t, g in groups.items() if g == "NCT09990001"} == {
        "NCT09990001", "2019-000001-11", "2024-500001-11-00", "ISRCTN09990001",
        "ChiCTR2400099991"}
    assert groups["NCT09990002"] == "NCT09990002"


def test_groups_do_not_depend_on_input_order() -> None:
    expected = build_groups(CHAIN)
    for seed in range(5):
        shuffled = CHAIN[:]
        random.Random(seed).shuffle(shuffled)
        assert build_groups(shuffled) == expected


def test_group_id_precedence() -> None:
    # No ctgov record: euctr and ctis rank alike, the smaller trial id wins.
    groups = build_groups([rec("2024-500001-11-00", "ctis", "2023-000001-11"),
                           rec("2023-000001-11", "euctr"), rec("ISRCTN09990001", "isrctn",
                                                                "2023-000001-11")])
    assert set(groups.values()) == {"2023-000001-11"}
    groups = build_groups([rec("ISRCTN09990001", "isrctn", "ChiCTR2400099991"),
                           rec("ChiCTR2400099991", "chictr")])
    assert set(groups.values()) == {"ISRCTN09990001"}


def test_two_records_quoting_the_same_third_id_link() -> None:
    groups = build_groups([rec("NCT09990001", "ctgov", "2019-000001-11"),
                           rec("ISRCTN09990001", "isrctn", "EudraCT 2019-000001-11")])
    assert groups["ISRCTN09990001"] == groups["NCT09990001"] == "NCT09990001"


def test_protocol_id_collision_between_two_sponsors_does_not_link() -> None:
    a = rec("NCT09990001", "ctgov", ("PROT-001", "ORG_STUDY_ID", None), sponsor="Pfizer")
    b = rec("2019-000001-11", "euctr", ("PROT-001", "ORG_STUDY_ID", "FoldRx"),
            sponsor="FoldRx Pharmaceuticals, Inc.")
    groups = build_groups([a, b])
    assert groups == {"NCT09990001": "NCT09990001", "2019-000001-11": "2019-000001-11"}


def test_same_protocol_id_and_same_sponsor_links() -> None:
    a = rec("NCT09990001", "ctgov", ("PROT-001", "ORG_STUDY_ID", None),
            sponsor="Example Pharma Inc.")
    b = rec("2019-000001-11", "euctr", ("prot 001", "ORG_STUDY_ID", None),
            sponsor="EXAMPLE PHARMA, INC")
    assert build_groups([a, b])["2019-000001-11"] == "NCT09990001"


def test_a_group_never_holds_two_records_of_one_registry() -> None:
    # A main study and its extension both quote the EU trial's number.
    main = rec("NCT09990001", "ctgov", "2019-000001-11")
    ext = rec("NCT09990002", "ctgov", "2019-000001-11")
    eu = rec("2019-000001-11", "euctr")
    groups = build_groups([ext, eu, main])
    assert groups["2019-000001-11"] == groups["NCT09990001"] == "NCT09990001"
    assert groups["NCT09990002"] == "NCT09990002"
    assert build_groups([main, ext]) == {"NCT09990001": "NCT09990001",
                                         "NCT09990002": "NCT09990002"}


def test_related_ids_never_link() -> None:
    a = rec("2024-500001-11-00", "ctis", related=["2020-000003-33"])
    b = rec("2020-000003-33", "euctr")
    assert build_groups([a, b]) == {"2024-500001-11-00": "2024-500001-11-00",
                                    "2020-000003-33": "2020-000003-33"}


# --- the persisted form ----------------------------------------------------------------------

@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "store.sqlite")
    for r in CHAIN:
        s.put_record(r, json.dumps(r.to_dict()))
    yield s
    s.close()


def test_refresh_and_group_of(store: Store) -> None:
    first = refresh_links(store)
    assert first.updated == len(CHAIN) and not first.skipped
    assert refresh_links(store).updated == 0  # nothing written since: nothing read
    members = group_of(store, "ISRCTN09990001")
    assert [(m["trial_id"], m["registry"], m["primary"]) for m in members] == [
        ("NCT09990001", "ctgov", True), ("2019-000001-11", "euctr", False),
        ("2024-500001-11-00", "ctis", False), ("ChiCTR2400099991", "chictr", False)]
    by_id = {m["trial_id"]: m for m in members}
    assert by_id["2024-500001-11-00"]["shared_keys"] == ["isrctn:ISRCTN09990001"]
    # NCT09990001 shares nothing with the ISRCTN record itself: linked through the chain.
    assert by_id["NCT09990001"]["shared_keys"] == ["eudract:2019-000001-11"]
    assert by_id["NCT09990001"]["title"] == "Trial NCT09990001"
    assert group_of(store, "NCT09990002") == []


def test_refresh_follows_new_versions(store: Store) -> None:
    refresh_links(store)
    lone = rec("NCT09990002", "ctgov", "ChiCTR2400099992")
    store.put_record(lone, "v2")
    store.put_record(rec("ChiCTR2400099992", "chictr"), "new")
    result = refresh_links(store)
    assert result.updated == 2 and "ChiCTR2400099992" in result.changed
    assert [m["trial_id"] for m in group_of(store, "NCT09990002")] == ["ChiCTR2400099992"]
    # The chain loses its middle link: the group splits.
    store.put_record(rec("2019-000001-11", "euctr"), "v2")
    result = refresh_links(store)
    assert "2024-500001-11-00" in result.changed
    assert [m["trial_id"] for m in group_of(store, "NCT09990001")] == ["2019-000001-11"]


def test_refresh_is_skipped_while_another_process_writes(store: Store, tmp_path: Path) -> None:
    other = sqlite3.connect(tmp_path / "store.sqlite", timeout=0.1, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        assert refresh_links(store, wait=0.1).skipped is True
        assert group_of(store, "NCT09990001", wait=0.1) == []  # nothing computed yet
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert len(group_of(store, "NCT09990001")) == 4


def test_find_by_id(store: Store) -> None:
    # Ids a stored trial carries find its group's primary record.
    assert find_by_id(store, "EUCTR2019-000001-11-DE") == "NCT09990001"
    assert find_by_id(store, "ChiCTR2400099991") == "NCT09990001"
    assert find_by_id(store, "NCT09999999") is None
    assert find_by_id(store, "PROT-001") is None


def test_collapse_for_search(store: Store) -> None:
    ranked = ["2024-500001-11-00", "NCT09990002", "NCT09990001", "ChiCTR2400099991"]
    out = collapse(store, ranked)
    assert [e["trial_id"] for e in out] == ["2024-500001-11-00", "NCT09990002"]
    assert out[0]["group_id"] == "NCT09990001"
    assert [a["trial_id"] for a in out[0]["also"]] == [
        "NCT09990001", "2019-000001-11", "ISRCTN09990001", "ChiCTR2400099991"]
    assert out[1]["also"] == []
    keep = GroupCollapser(store)
    assert [t for t in ranked if keep(t)] == ["2024-500001-11-00", "NCT09990002"]


def test_rule_version_change_recomputes_everything(store: Store,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    refresh_links(store)
    monkeypatch.setattr(links, "LINK_RULE_VERSION", "test-next")
    assert refresh_links(store).updated == len(CHAIN)
    assert refresh_links(store).updated == 0
    assert refresh_links(store, full=True).updated == len(CHAIN)


# --- `trials show` ---------------------------------------------------------------------------

def test_show_lists_the_linked_group(tmp_path: Path) -> None:
    home = tmp_path / "home"
    res = run(home, "import", *map(str, SYNTHETIC_FILES), "--json")
    assert json.loads(res.stdout)["new"] == 4  # 1 CTIS, 1 ISRCTN (+1 failed), 2 EU CTR
    card = run(home, "show", "2024-500002-22-00").stdout
    assert "Also registered as: 2023-000001-11 (euctr), ISRCTN00000002 (isrctn)" in card
    data = json.loads(run(home, "show", "ISRCTN00000002", "--json").stdout)
    assert [(m["trial_id"], m["registry"], m["primary"]) for m in data["_store"]["links"]] == [
        ("2023-000001-11", "euctr", True), ("2024-500002-22-00", "ctis", False)]
    assert "ctis:2024-500002-22-00" in data["_store"]["links"][1]["shared_keys"]
    # The anti-FcRn trial of the same sponsor family is not part of it.
    lone = json.loads(run(home, "show", "2020-000003-33", "--json").stdout)
    assert lone["_store"]["links"] == []
    # An id of the trial in a registry not stored (its NCT number) finds the group.
    res = run(home, "show", "NCT09999902")
    assert res.exit_code == 0 and res.stdout.startswith("2023-000001-11")
    assert "Found as:" in res.stdout and "NCT09999902" in res.stdout
    assert run(home, "show", "NCT09999999").exit_code == 1


def test_ictrp_export_cross_registrations_are_grouped(tmp_path: Path) -> None:
    export = shared_path(*ICTRP)
    home = tmp_path / "home"
    res = run(home, "import", str(export), "--json")
    assert res.exit_code == 0, res.stderr
    records = [item.record for item in parse_payload(export.read_text(encoding="utf-8"),
                                                     source="x") if isinstance(item, Parsed)]
    own = {own_key(r): r.trial_id for r in records}
    expected_pairs = set()
    for r in records:  # Secondary_ID naming another registration present in the export
        for s in r.secondary_ids:
            other = own.get(registry_key(s["id"]) or "")
            if other and other != r.trial_id:
                expected_pairs.add(tuple(sorted((r.trial_id, other))))
    assert expected_pairs == {("2014-003865-11", "NCT02312206"),
                              ("2019-001698-10", "jRCT2071210009"),
                              ("NCT03759379", "jRCT2080224769")}
    with Store(home / "store.sqlite") as store:
        refresh_links(store)
        for a, b in expected_pairs:
            assert links.group_id_of(store, a) == links.group_id_of(store, b), (a, b)
        groups = {}
        for r in records:
            groups.setdefault(links.group_id_of(store, r.trial_id), []).append(r.trial_id)
        linked = sorted(sorted(m) for m in groups.values() if len(m) > 1)
        # The same trial under FoldRx's and Pfizer's names ("Fx-005" / "FX-005") stays apart:
        # protocol ids link only with the same sponsor.
        assert links.group_id_of(store, "NCT00409175") != links.group_id_of(
            store, "2006-002792-41")
    assert linked == [sorted(p) for p in sorted(expected_pairs)]
    card = run(home, "show", "NCT02312206").stdout
    assert "Also registered as: 2014-003865-11 (euctr)" in card
    data = json.loads(run(home, "show", "2014-003865-11", "--json").stdout)
    [member] = data["_store"]["links"]
    assert member["trial_id"] == "NCT02312206" and member["primary"] is True
    assert member["shared_keys"] == ["nct:NCT02312206",
                                     "protocol:prothena therapeutics|NEOD001CL002"]


def test_ctrdata_isrctn_record_found_by_its_eudract_number(tmp_path: Path) -> None:
    folder = shared_path("data", "ctrdata-demo", "isrctn")
    home = tmp_path / "home"
    assert run(home, "import", str(folder)).exit_code == 0
    res = run(home, "show", "2014-002988-16")
    assert res.stdout.startswith("ISRCTN12949496")
    data = json.loads(run(home, "show", "2014-002988-16", "--json").stdout)
    assert data["trial_id"] == "ISRCTN12949496" and data["_store"]["found_as"] == \
        "2014-002988-16"
