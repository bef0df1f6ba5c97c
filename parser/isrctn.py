"""ISRCTN registry records -> TrialRecord.  Pure: no HTTP; XML goes through ``safexml``.

Two payloads:

* the ISRCTN API's XML (``/api/query/format/default`` or ``internal``): ``<allTrials>`` of
  ``<fullTrial>`` elements, each a ``<trial>`` plus the ``<sponsor>``, ``<funder>`` and
  ``<contact>`` parties it refers to by id; ``iter_records`` yields one record per trial;
* the same record as the R package ctrdata stores it: the ``<trial>`` element converted to JSON
  (attributes dropped, a list of one element stored as the element itself), with ``ctrname``,
  ``record_last_import`` and ``_id`` added.  The XML is converted to the same shape here
  (``xml_to_obj``), so one reader serves both.

What the real samples let us verify, and what not:

* Verified on ctrdata's 6 demo records (neonatal phase III trials, imported 2026-03-08):
  ``isrctn`` (8 digits -> "ISRCTN12949496"); titles and acronym; ``externalRefs``
  (``eudraCTNumber``, ``clinicalTrialsGovNumber``, ``irasNumber``, ``protocolSerialNumber``,
  ``secondaryNumbers``, with "Nil known" placeholders); study design texts; recruitment
  countries and trial centres (one or many); free-text inclusion / exclusion; ``ageRange``,
  ``lowerAgeLimit`` / ``upperAgeLimit`` ("2 Days"); ``gender``; target and final enrolment;
  recruitment start / end and overall end dates; status overrides ("Stopped" with
  ``reasonAbandoned``); conditions; interventions (type, phase "Phase III", drug names,
  description); ``publicationStage`` "Results".
* Verified on the API's XML layout as other projects capture it (not shipped here): the
  ``trial@lastUpdated`` and ``isrctn@dateAssigned`` attributes, the sponsor / funder parties
  with ``organisation`` / ``name`` and ``commercialStatus``, structured ``primaryOutcomes``,
  ``interventionalTrialDesign``, ``healthyVolunteersAllowed``, ``secondaryNumber@numberType``.
* Not available in ctrdata's form: registration date (``first_posted``), last update, sponsor
  and funder names (ctrdata keeps only the parties' ids), so a ctrdata ISRCTN record can link
  to other registrations through registry ids but never through a sponsor protocol id.
* Status: ISRCTN shows a status computed from dates unless an override is set.  Overrides map
  through ``_OVERRIDES`` ("Stopped" -> TERMINATED, seen; "Suspended", "Completed" not seen);
  otherwise, as of ``as_of`` (default: today): before the recruitment start NOT_YET_RECRUITING,
  up to the recruitment end RECRUITING, up to the overall end ACTIVE_NOT_RECRUITING, after it
  COMPLETED (``design["status_source"]`` says "override" or "dates").  A re-parse on a later
  day may therefore move a trial on, as the registry's own page would.
* Phases: "Phase III", "Phase II/III", "Phase I/II", "Not Applicable" ("Not Specified" -> none).
  Only "Phase III" occurs in the samples.  Other spellings are kept in ``unknown_vocab``.
* ``start_date`` is the recruitment start and ``completion_date`` the overall end date (type
  ESTIMATED while in the future as of ``as_of``, else ACTUAL); the recruitment end is kept in
  ``design["recruitment_end"]``.  Enrollment is the final enrolment when one above zero is
  given (ACTUAL), else the target (ESTIMATED).  ``has_results``: publication stage "Results"
  or a basic results report posted on ISRCTN.
* England / Scotland / Wales / Northern Ireland are reported as the country "United Kingdom"
  (the nation goes to ``state``), so country filters work across registries.
* Every id taken from the payload is checked against its registry's pattern before use; a
  payload of the wrong shape (wrong types, huge or deeply nested JSON or XML) raises
  ``ParseError`` and nothing else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import textwrap
from collections.abc import Iterator
from typing import Any

from lxml import etree

from trialscope.core.record import TrialRecord
from trialscope.extract.criteria import split_criteria
from trialscope.extract.doses import parse_doses
from trialscope.extract.enrich import enrich
from trialscope.parser.ctgov import age_in_years
from trialscope.parser.ctis import (
    CTRDATA_KEYS,
    get,
    items,
    load_json_payload,
    normalise_ctis_id,
    obj,
    text,
)
from trialscope.parser.ctis import (
    content_hash as json_content_hash,
)
from trialscope.parser.errors import ParseError
from trialscope.parser.euctr import normalise_eudract
from trialscope.parser.ids import (  # noqa: F401 (re-exported)
    ISRCTN_ID_RE,
    normalise_isrctn_id,
    normalise_nct_id,
)
from trialscope.parser.safexml import parse_xml

REGISTRY = "isrctn"
TRIAL_URL = "https://www.isrctn.com/{}"
_FREE_ID = re.compile(r"^[^\x00-\x1f]{1,80}$")
_PLACEHOLDERS = {"", "nilknown", "na", "none", "notapplicable", "notprovided", "notavailable",
                 "notprovidedattimeofregistration", "notspecified", "0"}
_UK_NATIONS = {"england", "scotland", "wales", "northernireland"}




def _k(value: str | None) -> str:
    return re.sub(r"[^a-z0-9]+", "", (value or "").lower())


def _value(value: Any) -> str | None:
    """Text, with ISRCTN's placeholders ("Nil known", "N/A", ...) as missing."""
    raw = text(value)
    return None if raw is None or _k(raw) in _PLACEHOLDERS else raw


# --- detection and entry points ------------------------------------------------------------

_JSON_ID = re.compile(r'"isrctn"\s*:\s*"?(?:ISRCTN)?\d{8}')


def looks_like_isrctn(payload: str) -> bool:
    """Cheap check for the dispatcher: ISRCTN API XML, or ctrdata's JSON of one trial."""
    if not isinstance(payload, str):
        return False
    head = payload.lstrip()[:1]
    if head in ("{", "["):
        return _JSON_ID.search(payload) is not None and '"trialDescription"' in payload
    return head == "<" and ("67bricks.com/isrctn" in payload[:4096]
                            or re.search(r"<(?:\w+:)?(?:allTrials|fullTrial)\b",
                                         payload[:4096]) is not None)


def looks_like_isrctn_json(payload: str) -> bool:
    return looks_like_isrctn(payload) and payload.lstrip()[:1] in ("{", "[")


def looks_like_isrctn_xml(payload: str) -> bool:
    return looks_like_isrctn(payload) and payload.lstrip()[:1] not in ("{", "[")


def read_payload(text: str, *, source: str, trial_id: str | None = None
                 ) -> Iterator[tuple[TrialRecord | ParseError, str]]:
    """The dispatcher's entry point (``parser/registries.py``): ``iter_records``."""
    return iter_records(text, source=source)


def content_hash(raw: str) -> str:
    """Hash of one trial's raw payload: JSON without ctrdata's import stamps, or the XML."""
    if raw.lstrip()[:1] in ("{", "["):
        return json_content_hash(raw)
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def iter_records(payload: str | bytes | bytearray, *, source: str | None = None,
                 as_of: dt.date | None = None) -> Iterator[tuple[TrialRecord | ParseError, str]]:
    """(record or ParseError, raw fragment) per trial of an XML response or a JSON payload
    (one ctrdata record or a list of them).  A payload that is neither raises ParseError."""
    if isinstance(payload, (bytes, bytearray)):
        payload = bytes(payload).decode("utf-8-sig", errors="replace")
    if not isinstance(payload, str):
        raise ParseError("not_isrctn", "expected ISRCTN XML or JSON text", source=source)
    if payload.lstrip()[:1] == "<":
        for i, (trial, raw) in enumerate(_xml_trials(payload, source), 1):
            where = f"{source or 'payload'} [trial {i}]"
            yield _safe(trial, where, as_of), raw
        return
    data = load_json_payload(payload, source=source)
    trials = data if isinstance(data, list) else [data]
    for i, trial in enumerate(trials, 1):
        raw = payload if len(trials) == 1 else _json_dump(trial)
        yield _safe(trial, source if len(trials) == 1 else f"{source} [trial {i}]", as_of), raw


def parse_isrctn(payload: Any, *, source: str | None = None,
                 as_of: dt.date | None = None) -> TrialRecord:
    """One ISRCTN trial (ctrdata's JSON object, its text, or API XML holding one trial) ->
    TrialRecord.  Raises ParseError only."""
    if isinstance(payload, (str, bytes, bytearray)):
        results = list(iter_records(payload, source=source, as_of=as_of))
        if len(results) != 1:
            raise ParseError("not_one_trial", f"{len(results)} trials in the payload; use "
                             "iter_records for several", source=source)
        record = results[0][0]
        if isinstance(record, ParseError):
            raise record
        return record
    return _parse(payload, source, as_of)


def _json_dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _safe(trial: Any, source: str | None, as_of: dt.date | None) -> TrialRecord | ParseError:
    try:
        return _parse(trial, source, as_of)
    except ParseError as exc:
        return exc


def _parse(trial: Any, source: str | None, as_of: dt.date | None) -> TrialRecord:
    if not isinstance(trial, dict) or not isinstance(trial.get("trialDescription"), (dict, str)):
        raise ParseError("not_a_study", "no ISRCTN trial here (expected 'isrctn' and "
                         "'trialDescription')", source=source)
    trial_id = normalise_isrctn_id(trial.get("isrctn"), bare_digits=True)
    if trial_id is None:
        raise ParseError("missing_id", f"no valid ISRCTN number (isrctn "
                         f"{(text(trial.get('isrctn')) or '')[:40]!r})", source=source)
    try:
        return _build(trial, trial_id, as_of or dt.date.today())
    except ParseError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, RecursionError) as exc:
        raise ParseError("bad_field", f"unexpected structure ({exc!r})", source=source) from exc


# --- XML -> ctrdata's JSON shape -----------------------------------------------------------

def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def xml_to_obj(el: etree._Element) -> Any:
    """An element as ctrdata stores it: a leaf is its text ({"#text", "@attr"...} when it has
    attributes), an element is a dict of its children, repeated children become a list."""
    children = [c for c in el if isinstance(c.tag, str)]
    if not children:
        value = (el.text or "").strip()
        if el.attrib:
            return {"#text": value, **{f"@{_local_attr(k)}": v for k, v in el.attrib.items()}}
        return value
    out: dict[str, Any] = {}
    for child in children:
        name, value = _local(child), xml_to_obj(child)
        if name in out:
            out[name] = (out[name] if isinstance(out[name], list) else [out[name]]) + [value]
        else:
            out[name] = value
    return out


def _local_attr(name: str) -> str:
    return name.rsplit("}", 1)[-1]


def _xml_trials(payload: str, source: str | None) -> Iterator[tuple[dict[str, Any], str]]:
    root = parse_xml(payload, source=source)
    if _local(root) == "fullTrial":
        fulls = [root]
    elif _local(root) == "allTrials":
        fulls = [c for c in root if isinstance(c.tag, str) and _local(c) == "fullTrial"]
    else:
        raise ParseError("not_isrctn", f"root element <{_local(root)}> is not an ISRCTN API "
                         "response", source=source)
    for full in fulls:
        raw = etree.tostring(full, encoding="unicode", with_tail=False)
        parts = [c for c in full if isinstance(c.tag, str)]
        trial_el = next((c for c in parts if _local(c) == "trial"), None)
        trial = xml_to_obj(trial_el) if trial_el is not None else {}
        if not isinstance(trial, dict):
            trial = {}
        if trial_el is not None:
            trial["_lastUpdated"] = trial_el.get("lastUpdated")
            isrctn_el = next((c for c in trial_el if isinstance(c.tag, str)
                              and _local(c) == "isrctn"), None)
            if isrctn_el is not None:
                trial["_dateAssigned"] = isrctn_el.get("dateAssigned")
        for kind in ("sponsor", "funder"):
            trial[f"_{kind}s"] = [{"id": c.get("id"), **obj(xml_to_obj(c))}
                                  for c in parts if _local(c) == kind]
        yield trial, raw


# --- building the record -------------------------------------------------------------------

_OVERRIDES = {"stopped": "TERMINATED", "suspended": "SUSPENDED", "completed": "COMPLETED",
              "notyetrecruiting": "NOT_YET_RECRUITING", "recruiting": "RECRUITING",
              "nolongerrecruiting": "ACTIVE_NOT_RECRUITING", "withdrawn": "WITHDRAWN"}
_ROMAN = {"0": "EARLY_PHASE1", "I": "PHASE1", "1": "PHASE1", "II": "PHASE2", "2": "PHASE2",
          "III": "PHASE3", "3": "PHASE3", "IV": "PHASE4", "4": "PHASE4"}
_TYPES = {"drug": "DRUG", "device": "DEVICE", "biological": "BIOLOGICAL",
          "vaccine": "BIOLOGICAL", "biologicalvaccine": "BIOLOGICAL", "procedure": "PROCEDURE",
          "surgery": "PROCEDURE", "proceduresurgery": "PROCEDURE",
          "behavioural": "BEHAVIORAL", "behavioral": "BEHAVIORAL", "genetic": "GENETIC",
          "supplement": "DIETARY_SUPPLEMENT", "radiotherapy": "RADIATION", "other": "OTHER",
          "mixed": "OTHER"}
_STUDY_TYPES = {"interventional": "INTERVENTIONAL", "observational": "OBSERVATIONAL"}
_SEX = {"all": "ALL", "both": "ALL", "female": "FEMALE", "male": "MALE"}
_STD_AGES = {"neonate": ["CHILD"], "child": ["CHILD"], "adult": ["ADULT"],
             "senior": ["OLDER_ADULT"], "mixed": [], "all": ["CHILD", "ADULT", "OLDER_ADULT"]}


def _date(value: Any) -> str | None:
    raw = text(value)
    m = re.match(r"^(\d{4})-(\d{2})-(\d{2})", raw or "")
    if not m:
        return None
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
    except ValueError:
        return None


def _build(trial: dict[str, Any], trial_id: str, as_of: dt.date) -> TrialRecord:
    desc = obj(trial.get("trialDescription"))
    design = obj(trial.get("trialDesign"))
    people = obj(trial.get("participants"))
    rec = TrialRecord(trial_id=trial_id, registry=REGISTRY, url=TRIAL_URL.format(trial_id))
    rec.title = _value(desc.get("title"))
    rec.official_title = _value(desc.get("scientificTitle"))
    rec.title = rec.title or rec.official_title
    rec.acronym = _value(desc.get("acronym"))
    _parties(rec, trial)
    _identifiers(rec, obj(trial.get("externalRefs")))
    lay = _value(desc.get("plainEnglishSummary"))
    hypothesis = _value(desc.get("studyHypothesis"))
    rec.summary, rec.description = (lay, hypothesis) if lay else (hypothesis, None)
    measures = [_value(obj(m).get("variable")) for m in items(get(desc, "primaryOutcomes",
                                                                 "outcomeMeasure"))]
    rec.primary_outcomes = [m for m in measures if m] or [
        p for p in [_value(desc.get("primaryOutcome"))] if p]
    raw_type = _value(design.get("primaryStudyDesign"))
    rec.study_type = _STUDY_TYPES.get(_k(raw_type)) or raw_type
    if raw_type and _k(raw_type) not in _STUDY_TYPES:
        rec.unknown_vocab.setdefault("study_type", []).append(raw_type)
    rec.first_posted = _date(trial.get("_dateAssigned"))
    rec.last_updated = _date(trial.get("_lastUpdated"))
    rec.start_date = _date(people.get("recruitmentStart"))
    rec.completion_date = _date(design.get("overallEndDate"))
    for name in ("start_date", "completion_date"):
        value = getattr(rec, name)
        if value:
            setattr(rec, f"{name}_type", "ACTUAL" if value <= as_of.isoformat() else "ESTIMATED")
    _status(rec, design, people, as_of)
    rec.why_stopped = _value(design.get("reasonAbandoned"))
    trial_design = obj(design.get("interventionalTrialDesign"))
    rec.design = {k: v for k, v in {
        "text": _value(design.get("studyDesign")),
        "secondary_design": _value(design.get("secondaryStudyDesign")),
        "settings": _value(design.get("trialSettings")) if isinstance(
            design.get("trialSettings"), str) else None,
        "trial_types": [t for t in (_value(x) for x in items(get(design, "trialTypes",
                                                                   "trialType"))) if t] or None,
        "allocation": _value(trial_design.get("allocation")),
        "masking": _value(trial_design.get("masking")),
        "recruitment_end": _date(people.get("recruitmentEnd")),
        **rec.design,
    }.items() if v is not None}
    conditions = [obj(c) for c in items(get(trial, "conditions", "condition"))]
    rec.conditions = list(dict.fromkeys(d for d in (_value(c.get("description"))
                                                    for c in conditions) if d))
    classes = [_value(c.get(k)) for c in conditions for k in ("diseaseClass1", "diseaseClass2")]
    rec.keywords = [k for k in dict.fromkeys(c for c in classes if c) if k not in rec.conditions]
    _interventions(rec, [obj(i) for i in items(get(trial, "interventions", "intervention"))])
    _eligibility(rec, people)
    _places(rec, people)
    target, final = _count(people.get("targetEnrolment")), _count(people.get("totalFinalEnrolment"))
    rec.enrollment = {"count": final if final else target,
                      "type": "ACTUAL" if final else "ESTIMATED" if target is not None else None,
                      "target": target, "final": final}
    results = obj(trial.get("results"))
    rec.has_results = _k(text(results.get("publicationStage"))) == "results" or bool(
        _value(results.get("basicReport")))
    return enrich(rec)


def _count(value: Any) -> int | None:
    raw = text(value)
    return int(raw) if raw and raw.isdigit() and len(raw) < 10 else None


def _parties(rec: TrialRecord, trial: dict[str, Any]) -> None:
    """Sponsor and funder names (API XML only: ctrdata keeps the parties' ids, not names)."""
    sponsors = [obj(s) for s in items(trial.get("_sponsors"))]
    names = [n for n in dict.fromkeys(_value(s.get("organisation")) for s in sponsors) if n]
    funders = [_value(obj(f).get("name")) for f in items(trial.get("_funders"))]
    rec.sponsor = names[0] if names else None
    rec.collaborators = [n for n in dict.fromkeys(names[1:] + [f for f in funders if f])
                         if n != rec.sponsor]
    status = _k(text(sponsors[0].get("commercialStatus"))) if sponsors else ""
    rec.sponsor_class = {"commercial": "INDUSTRY", "noncommercial": "OTHER"}.get(status)


def _identifiers(rec: TrialRecord, refs: dict[str, Any]) -> None:
    seen = {rec.trial_id}

    def add(value: str | None, typ: str, domain: str | None) -> None:
        if value and value not in seen:
            seen.add(value)
            rec.secondary_ids.append({"id": value, "type": typ, "domain": domain})

    add(normalise_eudract(_value(refs.get("eudraCTNumber"))), "EUDRACT_NUMBER", "EudraCT")
    add(normalise_nct_id(_value(refs.get("clinicalTrialsGovNumber"))), "REGISTRY",
        "ClinicalTrials.gov")
    iras = _value(refs.get("irasNumber"))
    add(iras if iras and re.fullmatch(r"\d{4,8}", iras) else None, "IRAS", "IRAS")
    for number in items(get(refs, "secondaryNumbers", "secondaryNumber")):
        value, kind = _value(number), _k(text(obj(number).get("@numberType")))
        if not value or not _FREE_ID.match(value):
            continue
        nct, eudract, ctis = normalise_nct_id(value), normalise_eudract(value), \
            normalise_ctis_id(value)
        if nct:
            add(nct, "REGISTRY", "ClinicalTrials.gov")
        elif ctis:
            add(ctis, "CTIS", "CTIS")
        elif eudract:
            add(eudract, "EUDRACT_NUMBER", "EudraCT")
        elif kind == "iras" or value == iras:
            add(value if re.fullmatch(r"\d{4,8}", value) else None, "IRAS", "IRAS")
        elif kind in ("", "protocol", "protocolserialnumber", "sponsorprotocol"):
            add(value, "ORG_STUDY_ID", rec.sponsor)
        else:
            add(value, "OTHER", (text(obj(number).get("@numberType")) or "")[:80] or None)
    for protocol in re.split(r"\s*[,;]\s*", _value(refs.get("protocolSerialNumber")) or ""):
        if protocol and _FREE_ID.match(protocol) and _k(protocol) not in _PLACEHOLDERS:
            add(protocol, "ORG_STUDY_ID", rec.sponsor)


def _status(rec: TrialRecord, design: dict[str, Any], people: dict[str, Any],
            as_of: dt.date) -> None:
    override = _value(design.get("overallStatusOverride")) or _value(
        people.get("recruitmentStatusOverride"))
    if override:
        rec.design["status_source"] = "override"
        status = _OVERRIDES.get(_k(override))
        if status:
            rec.status = status
        else:
            rec.status_raw = override
            rec.unknown_vocab.setdefault("status", []).append(override)
        return
    today = as_of.isoformat()
    start, end = _date(people.get("recruitmentStart")), _date(people.get("recruitmentEnd"))
    overall = _date(design.get("overallEndDate"))
    if not (start or end or overall):
        return
    rec.design["status_source"] = "dates"
    if start and today < start:
        rec.status = "NOT_YET_RECRUITING"
    elif end and today <= end or (not end and not overall):
        rec.status = "RECRUITING"
    elif overall and today <= overall:
        rec.status = "ACTIVE_NOT_RECRUITING"
    else:
        rec.status = "COMPLETED"


def _phases(rec: TrialRecord, raw: str | None) -> list[str]:
    if not raw or _k(raw) in ("notspecified", ""):
        return []
    if _k(raw) in ("notapplicable", "na"):
        return ["NA"]
    m = re.fullmatch(r"\s*phase\s*(0|IV|I{1,3}|[1-4])(?:\s*/\s*(?:phase\s*)?(IV|I{1,3}|[1-4]))?\s*",
                     raw, flags=re.IGNORECASE)
    if not m:
        rec.unknown_vocab.setdefault("phase", []).append(raw)
        return []
    return [_ROMAN[g.upper()] for g in m.groups() if g]


def _interventions(rec: TrialRecord, entries: list[dict[str, Any]]) -> None:
    phases: list[str] = []
    for entry in entries:
        phases += [p for p in _phases(rec, text(entry.get("phase"))) if p not in phases]
        raw_type = _value(entry.get("interventionType"))
        typ = _TYPES.get(_k(raw_type))
        if raw_type and typ is None:
            rec.unknown_vocab.setdefault("intervention_type", []).append(raw_type)
        description = _value(entry.get("description"))
        drugs = _value(entry.get("drugNames"))
        first_line = re.split(r"(?<=[.:])\s|\n", description or "", maxsplit=1)[0].strip()
        name = drugs or (textwrap.shorten(first_line, 100, placeholder="…") if first_line
                         else None) or raw_type
        if not name:
            continue
        rec.interventions.append({
            "type": typ or raw_type, "name": name, "description": description,
            "other_names": [d for d in re.split(r"\s*,\s*", drugs or "") if d and d != name],
            "arm_labels": [], "doses": parse_doses(description) if description else []})
    order = ["EARLY_PHASE1", "PHASE1", "PHASE2", "PHASE3", "PHASE4", "NA"]
    rec.phases = sorted(phases, key=order.index)


def _eligibility(rec: TrialRecord, people: dict[str, Any]) -> None:
    inc_text, exc_text = _value(people.get("inclusion")), _value(people.get("exclusion"))
    inc, exc = split_criteria(inc_text), split_criteria(exc_text)
    low, high = _value(people.get("lowerAgeLimit")), _value(people.get("upperAgeLimit"))
    age_range = _value(people.get("ageRange"))
    sex = _value(people.get("gender"))
    types = [_k(_value(t)) for t in items(get(people, "participantTypes", "participantType"))]
    healthy = text(people.get("healthyVolunteersAllowed"))
    rec.eligibility = {
        "text": "\n\n".join(t for t in (inc_text, exc_text) if t) or None,
        "inclusion": inc["inclusion"],
        "exclusion": inc["exclusion"] + exc["inclusion"] + exc["exclusion"],
        "min_age": low, "max_age": high,
        "min_age_years": age_in_years(low), "max_age_years": age_in_years(high),
        "std_ages": list(_STD_AGES.get(_k(age_range), [])),
        "age_groups": [age_range] if age_range else [],
        "sex": _SEX.get(_k(sex), sex),
        "healthy_volunteers": {"true": True, "false": False}.get((healthy or "").lower(),
                                                              True if "healthyvolunteer" in types
                                                              else None),
        "thresholds": [],
    }
    if sex and _k(sex) not in _SEX:
        rec.unknown_vocab.setdefault("sex", []).append(sex)


def _country(name: str | None) -> tuple[str | None, str | None]:
    """(country, nation): UK nations report as the United Kingdom."""
    if name and _k(name) in _UK_NATIONS:
        return "United Kingdom", name
    return name, None


def _places(rec: TrialRecord, people: dict[str, Any]) -> None:
    seen: set[str] = set()
    for centre in map(obj, items(get(people, "trialCentres", "trialCentre"))):
        country, nation = _country(_value(centre.get("country")))
        name = _value(centre.get("name"))
        if not (name or country):
            continue
        rec.locations.append({"facility": name, "city": _value(centre.get("city")),
                              "state": _value(centre.get("state")) or nation,
                              "zip": _value(centre.get("zip")) if _k(text(centre.get("zip")))
                              else None, "country": country, "status": None})
        seen.add((country or "").lower())
    for raw in items(get(people, "recruitmentCountries", "country")):
        country, _nation = _country(_value(raw))
        if country and country.lower() not in seen:
            seen.add(country.lower())
            rec.locations.append({"facility": None, "city": None, "state": None,
                                  "country": country, "status": None})


__all__ = ["CTRDATA_KEYS", "REGISTRY", "content_hash", "iter_records", "looks_like_isrctn",
           "normalise_isrctn_id", "parse_isrctn", "xml_to_obj"]
