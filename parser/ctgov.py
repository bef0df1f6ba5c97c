"""ClinicalTrials.gov API v2 study JSON -> TrialRecord.  Pure: no scrapy, whoosh or HTTP.

One study object is what ``GET /api/v2/studies/{nctId}`` returns, and what each element of a
search page's ``studies`` list is.  Every protocol module is read; unknown vocabulary values are
kept raw in the record (and listed in ``record.unknown_vocab``) rather than coerced.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator
from typing import Any

from trialscope.core.record import Dose, Intervention, TrialRecord
from trialscope.core.vocab import normalise_phases, normalise_status, normalise_study_type
from trialscope.extract.criteria import split_criteria, unescape_markdown
from trialscope.extract.doses import parse_doses as _parse_doses
from trialscope.extract.enrich import enrich
from trialscope.parser.errors import ParseError
from trialscope.parser.ids import NCT_ID_RE, normalise_nct_id  # noqa: F401 (re-exported for the crawler)

REGISTRY = "ctgov"
STUDY_URL = "https://clinicaltrials.gov/study/{}"

# Keys that change without the trial changing (the API's data-version date): left out of the
# content hash so a daily re-fetch of an unchanged study writes no new version.
_VOLATILE_PATHS = (("derivedSection", "miscInfoModule", "versionHolder"),)

_AGE_UNITS = {
    "year": 1.0, "years": 1.0, "month": 1 / 12, "months": 1 / 12,
    "week": 7 / 365.25, "weeks": 7 / 365.25, "day": 1 / 365.25, "days": 1 / 365.25,
    "hour": 1 / 8766, "hours": 1 / 8766, "minute": 1 / 525960, "minutes": 1 / 525960,
}


# The prefixes of armGroups[].interventionNames ("Biological: Dose 1").
_INTERVENTION_TYPES = {
    "DRUG", "DEVICE", "BIOLOGICAL", "PROCEDURE", "PROCEDURE/SURGERY", "RADIATION", "BEHAVIORAL",
    "GENETIC", "DIETARY SUPPLEMENT", "COMBINATION PRODUCT", "DIAGNOSTIC TEST", "OTHER",
}


def content_hash(study: dict[str, Any]) -> str:
    """A hash of the study's content, stable across key order and volatile keys."""
    trimmed = study
    for path in _VOLATILE_PATHS:
        trimmed = _without(trimmed, path)
    canonical = json.dumps(trimmed, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _without(node: Any, path: tuple[str, ...]) -> Any:
    """``node`` without the key at ``path``: copies only the dicts on the path (a deep copy of
    a whole study cost more than hashing it), and returns ``node`` itself if the key is absent."""
    if not isinstance(node, dict) or path[0] not in node:
        return node
    if len(path) == 1:
        return {k: v for k, v in node.items() if k != path[0]}
    child = _without(node[path[0]], path[1:])
    return node if child is node[path[0]] else {**node, path[0]: child}


def parse_doses(text: str | None) -> list[Dose]:
    """Doses in API text, which escapes Markdown ("2 x 10\\^6 cells/kg")."""
    return _parse_doses(unescape_markdown(text)) if text else []


def age_in_years(text: str | None) -> float | None:
    """'18 Years' -> 18.0, '6 Months' -> 0.5, 'N/A' or None -> None."""
    if not text:
        return None
    m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*$", text)
    if not m or m.group(2).lower() not in _AGE_UNITS:
        return None
    return round(float(m.group(1)) * _AGE_UNITS[m.group(2).lower()], 4)


def looks_like_ctgov_json(text: str) -> bool:
    """For the dispatcher: any JSON (a study, a search page, a list of studies).  Tried after
    the other registries' JSON formats (``parser/registries.py``): what they do not claim is
    read as ClinicalTrials.gov's."""
    return isinstance(text, str) and text.lstrip()[:1] in ("{", "[")


def load_json(text: str | bytes, *, source: str | None = None) -> Any:
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: hostile nesting ("[[[[..." x 100k) exhausts the decoder's stack.
        raise ParseError("invalid_json", f"not valid JSON ({exc})", source=source) from exc


def iter_studies(payload: Any, *, source: str | None = None) -> Iterator[dict[str, Any]]:
    """The study objects in a payload: one study, a search page, or a list of studies."""
    if isinstance(payload, dict) and "protocolSection" in payload:
        yield payload
    elif isinstance(payload, dict) and isinstance(payload.get("studies"), list):
        yield from payload["studies"]
    elif isinstance(payload, list):
        yield from payload
    else:
        raise ParseError(
            "not_a_study",
            "no ClinicalTrials.gov study here (expected 'protocolSection' or a 'studies' list)",
            source=source,
        )


def parse_study_json(text: str | bytes, *, url: str | None = None) -> TrialRecord:
    return parse_study(load_json(text, source=url), url=url)


def parse_study(study: Any, *, url: str | None = None) -> TrialRecord:
    """Parse one API v2 study object.  Raises ParseError (only) for unusable input.

    ``url`` is where the payload came from; it names the source in error messages.
    """
    if not isinstance(study, dict) or not isinstance(study.get("protocolSection"), dict):
        raise ParseError("not_a_study", "study object has no 'protocolSection'", source=url)
    try:
        return _parse(study, url)
    except ParseError as exc:
        if exc.source is None and url:
            raise ParseError(exc.reason, str(exc), source=url) from exc
        raise
    except (TypeError, AttributeError, ValueError, KeyError, OverflowError) as exc:
        # A module of an unexpected shape (a list where an object belongs, ...).
        raise ParseError("bad_field", f"unexpected structure ({exc!r})", source=url) from exc
    except RecursionError as exc:  # values nested deeper than any parser step can walk
        raise ParseError("too_deep", "values nested too deeply", source=url) from exc


def _obj(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParseError("bad_field", f"'{key}' should be an object, got {type(value).__name__}")
    return value


def _list(parent: dict[str, Any], key: str) -> list[Any]:
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ParseError("bad_field", f"'{key}' should be a list, got {type(value).__name__}")
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _texts(parent: dict[str, Any], key: str) -> list[str]:
    """A list of plain values (enums, names) as texts; a nested value in it is a bad field (the
    record fails alone: nothing of unknown shape reaches the record)."""
    out = []
    for item in _list(parent, key):
        if isinstance(item, (dict, list)):
            raise ParseError("bad_field",
                             f"'{key}' should hold plain values, got a {type(item).__name__}")
        text = _text(item)
        if text:
            out.append(text)
    return out


def _flag(parent: dict[str, Any], key: str) -> bool | None:
    value = parent.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise ParseError("bad_field", f"'{key}' should be true or false, got {type(value).__name__}")


def _geo(loc: dict[str, Any]) -> dict[str, Any] | None:
    """``geoPoint`` as given when it is two finite numbers, else None (no map position)."""
    if not loc.get("geoPoint"):
        return None
    point = _obj(loc, "geoPoint")
    lat, lon = point.get("lat"), point.get("lon")
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
           for v in (lat, lon)):
        return {"lat": lat, "lon": lon}
    return None


def _date(struct: Any) -> tuple[str | None, str | None]:
    if isinstance(struct, dict):
        return _text(struct.get("date")), _text(struct.get("type"))
    return _text(struct), None


def _parse(study: dict[str, Any], url: str | None) -> TrialRecord:
    ps = study["protocolSection"]
    ident = _obj(ps, "identificationModule")
    nct_id = normalise_nct_id(ident.get("nctId"))
    if nct_id is None:
        raise ParseError("missing_id", f"no valid nctId (got {ident.get('nctId')!r})", source=url)

    # The record's url is the registry's public page a researcher can open; where the payload
    # was fetched from (an API URL, a mirror, a file) is kept with the stored version instead.
    rec = TrialRecord(trial_id=nct_id, registry=REGISTRY, url=STUDY_URL.format(nct_id))
    rec.title = _text(ident.get("briefTitle"))
    rec.official_title = _text(ident.get("officialTitle"))
    rec.acronym = _text(ident.get("acronym"))
    org_id = _text(_obj(ident, "orgStudyIdInfo").get("id"))
    if org_id:
        rec.secondary_ids.append({"id": org_id, "type": "ORG_STUDY_ID", "domain": None})
    for info in _list(ident, "secondaryIdInfos"):
        if secondary_id := _text(info.get("id")):
            rec.secondary_ids.append({
                "id": secondary_id,
                "type": _text(info.get("type")) or "OTHER",
                "domain": _text(info.get("domain")),
            })
    rec.related_ids = [a for a in _list(ident, "nctIdAliases") if isinstance(a, str)]

    _status(rec, _obj(ps, "statusModule"))
    _sponsors(rec, _obj(ps, "sponsorCollaboratorsModule"))
    desc = _obj(ps, "descriptionModule")
    rec.summary = _text(desc.get("briefSummary"))
    rec.description = _text(desc.get("detailedDescription"))
    cond = _obj(ps, "conditionsModule")
    rec.conditions = [c for c in (_text(x) for x in _list(cond, "conditions")) if c]
    rec.keywords = [k for k in (_text(x) for x in _list(cond, "keywords")) if k]
    _design(rec, _obj(ps, "designModule"))
    _arms(rec, _obj(ps, "armsInterventionsModule"))
    outcomes = _obj(ps, "outcomesModule")
    rec.primary_outcomes = [
        o["measure"].strip() for o in _list(outcomes, "primaryOutcomes") if _text(o.get("measure"))
    ]
    _eligibility(rec, _obj(ps, "eligibilityModule"))
    _contacts(rec, _obj(ps, "contactsLocationsModule"))

    derived = _obj(study, "derivedSection")
    mesh: list[str] = []
    for module in ("conditionBrowseModule", "interventionBrowseModule"):
        for m in _list(_obj(derived, module), "meshes"):
            term = _text(m.get("term"))
            if term and term not in mesh:
                mesh.append(term)
    rec.mesh_terms = mesh
    rec.has_results = bool(study.get("hasResults"))
    return enrich(rec)


def _status(rec: TrialRecord, sm: dict[str, Any]) -> None:
    raw = _text(sm.get("overallStatus"))
    rec.status, known = normalise_status(raw)
    if not known:
        rec.status_raw = raw
        rec.unknown_vocab.setdefault("status", []).append(raw or "")
    rec.why_stopped = _text(sm.get("whyStopped"))
    rec.start_date, rec.start_date_type = _date(sm.get("startDateStruct"))
    rec.primary_completion_date, rec.primary_completion_date_type = _date(
        sm.get("primaryCompletionDateStruct"))
    rec.completion_date, rec.completion_date_type = _date(sm.get("completionDateStruct"))
    rec.first_posted = _date(sm.get("studyFirstPostDateStruct"))[0] or _text(
        sm.get("studyFirstSubmitDate"))
    rec.last_updated = _date(sm.get("lastUpdatePostDateStruct"))[0] or _text(
        sm.get("lastUpdateSubmitDate"))


def _sponsors(rec: TrialRecord, sc: dict[str, Any]) -> None:
    lead = _obj(sc, "leadSponsor")
    rec.sponsor = _text(lead.get("name"))
    rec.sponsor_class = _text(lead.get("class"))
    rec.collaborators = [c for c in (_text(x.get("name")) for x in _list(sc, "collaborators")) if c]


def _design(rec: TrialRecord, dm: dict[str, Any]) -> None:
    rec.study_type, known = normalise_study_type(dm.get("studyType"))
    if not known:
        rec.unknown_vocab.setdefault("study_type", []).append(str(dm.get("studyType")))
    rec.phases, unknown = normalise_phases(_list(dm, "phases"))
    if unknown:
        rec.unknown_vocab.setdefault("phase", []).extend(unknown)
    info = _obj(dm, "designInfo")
    masking = _obj(info, "maskingInfo")
    rec.design = {
        k: v for k, v in {
            "allocation": _text(info.get("allocation")),
            "intervention_model": _text(info.get("interventionModel")),
            "observational_model": _text(info.get("observationalModel")),
            "time_perspective": _text(info.get("timePerspective")),
            "primary_purpose": _text(info.get("primaryPurpose")),
            "masking": _text(masking.get("masking")),
            "who_masked": _texts(masking, "whoMasked") or None,
            "patient_registry": _flag(dm, "patientRegistry"),
        }.items() if v is not None
    }
    enrol = _obj(dm, "enrollmentInfo")
    count = enrol.get("count")
    if isinstance(count, (int, float)) and not (
            math.isfinite(count) and 0 <= count <= _MAX_ENROLLMENT):
        # 1e999 reads as inf; a count beyond any population cannot be stored or indexed
        raise ParseError("bad_field", f"enrollment count out of range ({count!r})")
    rec.enrollment = {
        "count": int(count) if isinstance(count, (int, float)) else None,
        "type": _text(enrol.get("type")),
    }


# More than the world's population: the index keeps enrollment as a 32-bit number.
_MAX_ENROLLMENT = 2**31 - 1


_SPACES = re.compile(r"\s+")


def _intervention_key(name: str) -> str:
    return _SPACES.sub(" ", name).strip().lower()


def _arms(rec: TrialRecord, am: dict[str, Any]) -> None:
    by_name: dict[str, Intervention] = {}
    for iv in _list(am, "interventions"):
        name = _text(iv.get("name")) or ""
        entry: Intervention = {
            "type": _text(iv.get("type")),
            "name": name,
            "description": _text(iv.get("description")),
            "other_names": [n for n in (_text(x) for x in _list(iv, "otherNames")) if n],
            "arm_labels": [a for a in (_text(x) for x in _list(iv, "armGroupLabels")) if a],
            "doses": parse_doses(iv.get("description")),
        }
        rec.interventions.append(entry)
        by_name[_intervention_key(name)] = entry
    for arm in _list(am, "armGroups"):
        label = _text(arm.get("label")) or ""
        names = []
        for ref in _list(arm, "interventionNames"):
            # "Biological: Dose 1" -> "Dose 1": the prefix is the intervention type.
            typ, sep, rest = str(ref).partition(": ")
            typed = sep and typ.upper() in _INTERVENTION_TYPES
            names.append(rest.strip() if typed else str(ref).strip())
        # Interventions that name this arm but that the arm does not list back.
        for iv in rec.interventions:
            if label in iv["arm_labels"] and iv["name"] not in names:
                names.append(iv["name"])
        description = _text(arm.get("description"))
        doses = parse_doses(description)
        if not doses:
            # Dose-escalation designs often register one arm whose interventions are the dose
            # levels ("Dose level 1 group: 1.0 × 10e6/kg"): the arm's doses are theirs.
            for n in names:
                named = by_name.get(_intervention_key(n))
                if named is None:
                    continue
                for dose in named.get("doses", []):
                    doses.append({**dose, "intervention": named["name"]})
        rec.arms.append({
            "label": label,
            "type": _text(arm.get("type")),
            "description": description,
            "interventions": names,
            "doses": doses,
        })


def _eligibility(rec: TrialRecord, em: dict[str, Any]) -> None:
    text = _text(em.get("eligibilityCriteria"))
    split = split_criteria(text)
    rec.eligibility = {
        "text": text,
        "inclusion": split["inclusion"],
        "exclusion": split["exclusion"],
        "min_age": _text(em.get("minimumAge")),
        "max_age": _text(em.get("maximumAge")),
        "min_age_years": age_in_years(em.get("minimumAge")),
        "max_age_years": age_in_years(em.get("maximumAge")),
        "sex": _text(em.get("sex")),
        "healthy_volunteers": _flag(em, "healthyVolunteers"),
        "std_ages": _texts(em, "stdAges"),
        "study_population": _text(em.get("studyPopulation")),
        "sampling_method": _text(em.get("samplingMethod")),
        # Filled by enrich() at the end of _parse: extracting them here too made every study
        # without thresholds pay for the extraction twice (enrich redoes an empty list).
        "thresholds": [],
    }


def _contacts(rec: TrialRecord, cl: dict[str, Any]) -> None:
    for loc in _list(cl, "locations"):
        rec.locations.append({
            "facility": _text(loc.get("facility")),
            "city": _text(loc.get("city")),
            "state": _text(loc.get("state")),
            "zip": _text(loc.get("zip")),
            "country": _text(loc.get("country")),
            "status": _text(loc.get("status")),
            "geo": _geo(loc),
        })
    for c in _list(cl, "centralContacts"):
        rec.contacts.append({
            "name": _text(c.get("name")),
            "role": _text(c.get("role")),
            "phone": _text(c.get("phone")),
            "email": _text(c.get("email")),
        })
    for o in _list(cl, "overallOfficials"):
        rec.officials.append({
            "name": _text(o.get("name")),
            "affiliation": _text(o.get("affiliation")),
            "role": _text(o.get("role")),
        })
