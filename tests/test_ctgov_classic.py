"""Classic ClinicalTrials.gov XML (<clinical_study>) reads as the API v2 JSON of the same trial
does (parser/ctgov_classic.py): the relevance corpus (fixtures/eval/corpus-v2.md) holds 120."""

from __future__ import annotations

import pytest

from trialscope.parser.ctgov_classic import parse_classic_xml
from trialscope.parser.files import Parsed, detect_format, parse_payload

from .conftest import shared_params

CLASSIC = """<clinical_study>
  <required_header><url>https://clinicaltrials.gov/show/NCT09999991</url></required_header>
  <id_info><org_study_id>ABC-1</org_study_id><nct_id>NCT09999991</nct_id></id_info>
  <brief_title>Empagliflozin in Older Adults With Heart Failure</brief_title>
  <sponsors><lead_sponsor><agency>Example University</agency>
    <agency_class>Other</agency_class></lead_sponsor></sponsors>
  <brief_summary><textblock>
    A randomised trial of empagliflozin.
  </textblock></brief_summary>
  <overall_status>Active, not recruiting</overall_status>
  <start_date type="Actual">May 9, 2022</start_date>
  <last_update_posted type="Actual">June 2023</last_update_posted>
  <phase>Phase 2/Phase 3</phase>
  <study_type>Interventional</study_type>
  <enrollment type="Anticipated">120</enrollment>
  <condition>Heart Failure</condition>
  <keyword>SGLT2</keyword>
  <arm_group><arm_group_label>Empagliflozin</arm_group_label>
    <arm_group_type>Experimental</arm_group_type></arm_group>
  <intervention><intervention_type>Drug</intervention_type>
    <intervention_name>Empagliflozin 10 MG</intervention_name>
    <arm_group_label>Empagliflozin</arm_group_label><other_name>Jardiance</other_name>
  </intervention>
  <eligibility><criteria><textblock>
    Inclusion Criteria:
      -  Age 65 years or older
    Exclusion Criteria:
      -  Type 1 diabetes
  </textblock></criteria>
  <gender>All</gender><minimum_age>65 Years</minimum_age><maximum_age>N/A</maximum_age>
  </eligibility>
  <location><facility><name>City Hospital</name>
    <address><city>Lyon</city><country>France</country></address></facility></location>
  <condition_browse><mesh_term>Heart Failure</mesh_term></condition_browse>
</clinical_study>
"""


def test_a_classic_record_reads_as_its_v2_twin() -> None:
    assert detect_format(CLASSIC) == "ctgov-classic-xml"
    rec = parse_classic_xml(CLASSIC)
    assert (rec.trial_id, rec.registry, rec.status) == ("NCT09999991", "ctgov",
                                                        "ACTIVE_NOT_RECRUITING")
    assert rec.phases == ["PHASE2", "PHASE3"] and rec.study_type == "INTERVENTIONAL"
    assert (rec.start_date, rec.last_updated) == ("2022-05-09", "2023-06")
    assert rec.enrollment == {"count": 120, "type": "ANTICIPATED"}
    assert rec.conditions == ["Heart Failure"] and rec.keywords == ["SGLT2"]
    assert rec.interventions[0]["name"] == "Empagliflozin 10 MG"
    assert rec.interventions[0]["other_names"] == ["Jardiance"]
    assert rec.eligibility["min_age_years"] == 65 and rec.eligibility["max_age_years"] is None
    assert [i["text"] for i in rec.eligibility["inclusion"]] == ["Age 65 years or older"]
    assert rec.locations[0]["city"] == "Lyon" and rec.countries == ["France"]
    assert rec.sponsor == "Example University" and rec.mesh_terms == ["Heart Failure"]


@pytest.mark.parametrize("path", shared_params("data/ctgov-more/classic", "*.xml"),
                         ids=lambda p: p.stem)
def test_every_shared_classic_record_parses(path) -> None:
    items = list(parse_payload(path.read_text(encoding="utf-8"), source=str(path)))
    assert len(items) == 1 and isinstance(items[0], Parsed), items
    assert items[0].record.trial_id == path.stem and items[0].record.title
