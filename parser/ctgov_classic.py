"""Classic ClinicalTrials.gov XML (``<clinical_study>``, the pre-2024 download format) ->
``TrialRecord``.

The classic record is rewritten into the API v2 shape (``protocolSection`` and
``derivedSection``, the fields trialscope reads) and parsed by ``ctgov.parse_study``, so
both formats give the same record and one place extracts criteria, doses and thresholds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from lxml import etree

from trialscope.core.record import TrialRecord
from trialscope.parser import ctgov
from trialscope.parser.errors import ParseError
from trialscope.parser.safexml import parse_xml

_MONTHS = {m: i for i, m in enumerate(
    ("january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december"), 1)}


def looks_like_classic(text: str) -> bool:
    return "<clinical_study" in text[:2000]


def _t(node: etree._Element | None, path: str) -> str | None:
    if node is None:
        return None
    found = node.find(path)
    if found is None:
        return None
    text = " ".join("".join(found.itertext()).split()) if path.endswith("textblock") \
        else "".join(found.itertext()).strip()
    return text or None


def _block(node: etree._Element, path: str) -> str | None:
    """A textblock, its line breaks kept (criteria are read line by line)."""
    found = node.find(path)
    if found is None:
        return None
    lines = [" ".join(line.split()) for line in "".join(found.itertext()).splitlines()]
    text = "\n".join(line for line in lines if line)
    return text or None


def _date(text: str | None) -> dict[str, str] | None:
    """'May 2022' -> '2022-05'; 'May 9, 2022' -> '2022-05-09'."""
    if not text:
        return None
    m = re.fullmatch(r"([A-Za-z]+)\s+(?:(\d{1,2}),\s*)?(\d{4})", text.strip())
    if m is None or m.group(1).lower() not in _MONTHS:
        return {"date": text.strip()}
    month = _MONTHS[m.group(1).lower()]
    day = f"-{int(m.group(2)):02d}" if m.group(2) else ""
    return {"date": f"{m.group(3)}-{month:02d}{day}"}


def _dated(node: etree._Element, path: str) -> dict[str, str] | None:
    found = node.find(path)
    out = _date(_t(node, path))
    if out is not None and found is not None and found.get("type"):
        out["type"] = found.get("type", "").upper()
    return out


def _enum(text: str | None) -> str | None:
    """'Active, not recruiting' -> 'ACTIVE_NOT_RECRUITING'."""
    if not text:
        return None
    return re.sub(r"[^A-Z0-9]+", "_", text.upper()).strip("_")


def _phases(text: str | None) -> list[str]:
    if not text or text.strip().upper() in ("N/A", "NA"):
        return ["NA"] if text else []
    return [_enum(p) or "" for p in text.split("/") if p.strip()]


def to_v2(root: etree._Element) -> dict[str, Any]:
    """The API v2 study dict for a ``<clinical_study>`` element."""
    ident = {
        "nctId": _t(root, "id_info/nct_id"),
        "briefTitle": _t(root, "brief_title"),
        "officialTitle": _t(root, "official_title"),
        "acronym": _t(root, "acronym"),
        "orgStudyIdInfo": {"id": _t(root, "id_info/org_study_id")},
        "secondaryIdInfos": [{"id": "".join(e.itertext()).strip()}
                             for e in root.findall("id_info/secondary_id")],
        "nctIdAliases": ["".join(e.itertext()).strip() for e in root.findall("id_info/nct_alias")],
    }
    status = {
        "overallStatus": _enum(_t(root, "overall_status")),
        "whyStopped": _t(root, "why_stopped"),
        "startDateStruct": _dated(root, "start_date"),
        "primaryCompletionDateStruct": _dated(root, "primary_completion_date"),
        "completionDateStruct": _dated(root, "completion_date"),
        "studyFirstPostDateStruct": _dated(root, "study_first_posted"),
        "lastUpdatePostDateStruct": _dated(root, "last_update_posted"),
    }
    sponsors = {
        "leadSponsor": {"name": _t(root, "sponsors/lead_sponsor/agency"),
                        "class": _enum(_t(root, "sponsors/lead_sponsor/agency_class"))},
        "collaborators": [{"name": _t(c, "agency")} for c in root.findall("sponsors/collaborator")],
    }
    enrollment = root.find("enrollment")
    count = _t(root, "enrollment")
    design = {
        "studyType": _enum(_t(root, "study_type")),
        "phases": _phases(_t(root, "phase")),
        "enrollmentInfo": {"count": int(count) if count and count.isdigit() else None,
                           "type": (enrollment.get("type") or "").upper() or None
                           if enrollment is not None else None},
        "designInfo": {"allocation": _enum(_t(root, "study_design_info/allocation")),
                       "interventionModel": _enum(_t(root,
                                                     "study_design_info/intervention_model")),
                       "primaryPurpose": _enum(_t(root, "study_design_info/primary_purpose")),
                       "maskingInfo": {"masking": _t(root, "study_design_info/masking")}},
    }
    arms: list[dict[str, Any]] = [  # the API's armGroups
        {"label": _t(a, "arm_group_label"), "type": _enum(_t(a, "arm_group_type")),
         "description": _t(a, "description"), "interventionNames": []}
        for a in root.findall("arm_group")]
    interventions = []
    for iv in root.findall("intervention"):
        name = _t(iv, "intervention_name")
        kind = _enum(_t(iv, "intervention_type"))
        labels = ["".join(e.itertext()).strip() for e in iv.findall("arm_group_label")]
        interventions.append({"type": kind, "name": name, "description": _t(iv, "description"),
                              "otherNames": ["".join(e.itertext()).strip()
                                             for e in iv.findall("other_name")],
                              "armGroupLabels": labels})
        for arm in arms:
            if arm["label"] in labels and name:
                arm["interventionNames"].append(f"{(kind or '').title()}: {name}")
    elig = root.find("eligibility")
    eligibility: dict[str, Any] = {}
    if elig is not None:
        eligibility = {
            "eligibilityCriteria": _block(elig, "criteria/textblock"),
            "sex": _enum(_t(elig, "gender")),
            "minimumAge": _t(elig, "minimum_age"),
            "maximumAge": _t(elig, "maximum_age"),
            "healthyVolunteers": (_t(elig, "healthy_volunteers") or "").lower()
            .startswith("accepts"),
        }
        eligibility = {k: v for k, v in eligibility.items() if v not in (None, "N/A")}
    locations = []
    for loc in root.findall("location"):
        locations.append({"facility": _t(loc, "facility/name"),
                          "city": _t(loc, "facility/address/city"),
                          "state": _t(loc, "facility/address/state"),
                          "country": _t(loc, "facility/address/country"),
                          "status": _enum(_t(loc, "status"))})
    protocol = {
        "identificationModule": ident,
        "statusModule": status,
        "sponsorCollaboratorsModule": sponsors,
        "descriptionModule": {"briefSummary": _block(root, "brief_summary/textblock"),
                              "detailedDescription": _block(root,
                                                            "detailed_description/textblock")},
        "conditionsModule": {"conditions": ["".join(e.itertext()).strip()
                                            for e in root.findall("condition")],
                             "keywords": ["".join(e.itertext()).strip()
                                          for e in root.findall("keyword")]},
        "designModule": design,
        "armsInterventionsModule": {"armGroups": arms, "interventions": interventions},
        "outcomesModule": {"primaryOutcomes": [
            {"measure": _t(o, "measure"), "timeFrame": _t(o, "time_frame")}
            for o in root.findall("primary_outcome")]},
        "eligibilityModule": eligibility,
        "contactsLocationsModule": {"locations": locations},
    }
    derived = {
        "conditionBrowseModule": {"meshes": [{"term": "".join(e.itertext()).strip()}
                                             for e in root.findall("condition_browse/mesh_term")]},
        "interventionBrowseModule": {"meshes": [
            {"term": "".join(e.itertext()).strip()}
            for e in root.findall("intervention_browse/mesh_term")]},
    }
    return {"protocolSection": protocol, "derivedSection": derived,
            "hasResults": root.find("clinical_results") is not None}


def read_payload(text: str, *, source: str,
                 trial_id: str | None = None) -> Iterator[tuple[TrialRecord, str]]:
    """The dispatcher's entry point (``parser/registries.py``): the one study of a classic
    XML file, with the file as its raw text."""
    yield parse_classic_xml(text, source=source), text


def parse_classic_xml(text: str, *, source: str | None = None) -> TrialRecord:
    root = parse_xml(text, source=source)
    if root.tag != "clinical_study":
        raise ParseError("not_classic", f"expected <clinical_study>, found <{root.tag!s}>",
                         source=source)
    return ctgov.parse_study(to_v2(root), url=None)
