"""EU Clinical Trials Information System (CTIS) trial JSON -> TrialRecord.  Pure: no HTTP.

One payload is one trial as the CTIS public API's ``retrieve`` call gives it, merged with the
fields of its search-overview row, as the R package ctrdata stores it (``ctrname``,
``record_last_import`` and ``_id`` added); a JSON list of such trials works too.  Two
generations of the API layout are read:

* older (before the 2024 relaunch): ``authorizedPartI``, ``authorizedPartsII``,
  ``memberStatesConcerned``, ``applications``, ``ctStatus`` as text ("Authorised, not started");
* current: ``authorizedApplication.{authorizedPartI, authorizedPartsII, memberStatesConcerned,
  eudraCt}``, ``events``, ``results``, ``ctPublicStatusCode`` (and ``ctStatus``) as numbers.

What the three real samples (ctrdata's demo database: 2022-500244-37-00 and 2023-508143-51-01
in the older layout, 2024-510663-34-00 in the current one) let us verify, and what not:

* Verified on the samples: the CT number; public / full titles; sponsor names (``primarySponsor``
  in the older layout, the ``primary`` entry of ``authorizedPartI.sponsors`` in the current);
  conditions and MedDRA terms; products (test / placebo roles, active substance, form, route,
  maximum daily dose); principal inclusion / exclusion criteria (numbered items, some holding
  "•" bullet lists); sex flags; age groups ("18-64 years", "65+ years", "0-17 years"); member
  states, trial sites and the rest-of-world countries; planned participants (the overview's
  ``totalNumberEnrolled`` equals the sum of the member states' ``recruitmentSubjectCount`` in
  all three samples; ``rowSubjectCount`` adds the rest of the world); the NCT number and the
  EudraCT number of a trial transitioned from EudraCT; ``START_OF_TRIAL`` events (== the
  overview's ``startDateEU``); dates written "2022-08-03", "2024-04-24T15:14:59.077" and
  "24/04/2024" (day first: 24 and 29 cannot be months).
* Phase: ``trialCategory.trialPhase`` is a code.  ctrdata's table (1-3 Phase I, 4 Phase II,
  5 Phase III, 6 Phase IV, 7-9 Phase I/II, 10 Phase II/III, 11 Phase III/IV) is used; the
  samples confirm 4 and 6 against the overview's text ("Therapeutic exploratory (Phase II)",
  "Therapeutic use (Phase IV)"), which is read when the code is missing or unknown.
* Status: the current layout's ``ctPublicStatusCode`` 1-12 uses ctrdata's labels ("Under
  evaluation" ... "Cancelled"); the samples confirm only code 4 ("Ongoing, recruiting": the
  trial has START_OF_TRIAL and START_OF_RECRUITMENT events).  The older layout's text
  ("Authorised, not started" in both samples) maps by the same table (``_STATUS``).  Labels
  without a clear enum value (under evaluation, expired, revoked, not authorised, cancelled)
  are kept raw in ``status_raw`` and ``unknown_vocab``.  "Ended" is COMPLETED unless every
  member state notified an early termination (TERMINATED), as ctrdata counts it.
* Not verified (no sample has them): ISRCTN / WHO UTN / "additional registries" numbers
  (read from ``secondaryIdentifyingNumbers`` by the key names other CTIS clients use), end of
  trial events (an ``END_OF_TRIAL`` style event gives the actual completion date), results
  (``has_results`` is true when ``results`` holds anything or ``resultsFirstReceived`` is
  "Yes"), product role code 2 (comparator), age-range codes other than 2-4.
* ``shortTitle`` held a sponsor's protocol code in all three samples ("KIN001-204",
  "NL 68837.091.21", "200925"): it is kept as an ``ORG_STUDY_ID`` secondary id, or as the
  acronym when it is a single word without digits.  ``associatedClinicalTrials`` are other
  trials (an earlier study of the same product): they go to ``related_ids``, never to
  ``secondary_ids``, so they never link records together.
* Dates: ``first_posted`` is the first authorisation decision (CTIS makes a trial public at its
  decision); ``start_date`` the earliest start-of-trial notification (ACTUAL), else the planned
  recruitment start (ESTIMATED); ``completion_date`` the estimated (global) end of trial.
* Every id taken from the payload is checked against its registry's pattern before use; a
  payload of the wrong shape (wrong types, huge or deeply nested JSON) raises ``ParseError``
  and nothing else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

from trialscope.core.record import Intervention, TrialRecord
from trialscope.core.vocab import Status
from trialscope.extract.criteria import split_criteria
from trialscope.extract.doses import parse_doses
from trialscope.extract.enrich import enrich
from trialscope.parser.errors import ParseError
from trialscope.parser.euctr import normalise_eudract
from trialscope.parser.ids import (  # noqa: F401 (re-exported)
    CTIS_ID_RE,
    normalise_ctis_id,
    normalise_isrctn_id,
    normalise_nct_id,
)

REGISTRY = "ctis"
TRIAL_URL = "https://euclinicaltrials.eu/search-for-clinical-trials/?lang=en&EUCT={}"
UTN_RE = re.compile(r"^U1111-\d{4}-\d{4}$")
# Keys ctrdata adds to every record it stores: they change with each import, not with the trial.
CTRDATA_KEYS = ("ctrname", "record_last_import", "_id")
MAX_JSON_CHARS = 32_000_000  # one CTIS trial is 50-500 kB; far more is not a trial payload
_FREE_ID = re.compile(r"^[^\x00-\x1f]{1,80}$")  # a printable one-line id of sane length




# --- JSON helpers (shared with isrctn.py): tolerant of wrong types -------------------------

def load_json_payload(payload: Any, *, source: str | None = None) -> Any:
    """Parsed JSON from text / bytes (size-capped; deep nesting is a ParseError, not a crash);
    an already parsed object is returned as is."""
    if isinstance(payload, (bytes, bytearray)):
        try:
            payload = bytes(payload).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ParseError("invalid_json", f"not UTF-8 text ({exc})", source=source) from exc
    if not isinstance(payload, str):
        return payload
    if len(payload) > MAX_JSON_CHARS:
        raise ParseError("too_large", f"payload of {len(payload):,} characters is larger than "
                         f"any trial record ({MAX_JSON_CHARS:,})", source=source)
    try:
        return json.loads(payload)
    except RecursionError as exc:
        raise ParseError("invalid_json", "JSON nested too deeply", source=source) from exc
    except ValueError as exc:
        raise ParseError("invalid_json", f"not valid JSON ({exc})", source=source) from exc


def obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def items(value: Any) -> list[Any]:
    """A list; a single object or string (XML converted to JSON drops the list of one) -> [it]."""
    if isinstance(value, list):
        return value
    return [] if value is None or value == "" else [value]


def get(value: Any, *path: str) -> Any:
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def text(value: Any) -> str | None:
    """A stripped string from a string or number (bools and containers are not text)."""
    if isinstance(value, dict) and "#text" in value:  # an XML leaf that had attributes
        value = value["#text"]
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return str(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def iso_date(value: Any) -> str | None:
    """'2022-08-03', '2024-04-24T15:14:59.077', '24/04/2024' (day first) -> ISO date."""
    raw = text(value)
    if not raw:
        return None
    m = re.match(r"^(\d{4})-(\d{2})-(\d{2})(?:$|[T ])", raw)
    parts = (m.group(1), m.group(2), m.group(3)) if m else None
    if parts is None and (m := re.match(r"^(\d{1,2})/(\d{1,2})/(\d{4})$", raw)):
        parts = (m.group(3), m.group(2), m.group(1))
    if parts is None:
        return None
    try:
        return dt.date(int(parts[0]), int(parts[1]), int(parts[2])).isoformat()
    except ValueError:
        return None


def content_hash(record_obj: Any) -> str:
    """Hash of one stored trial without ctrdata's import stamps (raw text or parsed object)."""
    data = load_json_payload(record_obj)
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in CTRDATA_KEYS}
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


# --- detection and entry points ------------------------------------------------------------

_CT_NUMBER = re.compile(r'"ctNumber"\s*:\s*"\d{4}-5\d{5}-\d{2}-\d{2}"')


def looks_like_ctis(payload: str) -> bool:
    """Cheap check for the dispatcher: JSON carrying a CT number and a CTIS part I / status."""
    if not isinstance(payload, str) or payload.lstrip()[:1] not in ("{", "["):
        return False
    return _CT_NUMBER.search(payload) is not None and any(
        marker in payload for marker in ('"authorizedPartI"', '"authorizedApplication"',
                                         '"ctStatus"', '"ctPublicStatusCode"'))


def iter_trials(payload: Any, *, source: str | None = None
                ) -> Iterator[tuple[TrialRecord | ParseError, str]]:
    """(record or ParseError, raw JSON) per trial of a payload holding one trial or a list."""
    data = load_json_payload(payload, source=source)
    trials = data if isinstance(data, list) else [data]
    for i, trial in enumerate(trials):
        raw = payload if len(trials) == 1 and isinstance(payload, str) else json.dumps(
            trial, ensure_ascii=False)
        where = source if len(trials) == 1 else f"{source or 'payload'} [trial {i + 1}]"
        try:
            yield parse_ctis(trial, source=where), raw
        except ParseError as exc:
            yield exc, raw


def read_payload(text: str, *, source: str, trial_id: str | None = None
                 ) -> Iterator[tuple[TrialRecord | ParseError, str]]:
    """The dispatcher's entry point (``parser/registries.py``): ``iter_trials``."""
    return iter_trials(text, source=source)


def parse_ctis(payload: Any, *, source: str | None = None) -> TrialRecord:
    """One CTIS trial (parsed JSON object or its text) -> TrialRecord.  Raises ParseError only."""
    data = load_json_payload(payload, source=source)
    if not isinstance(data, dict):
        raise ParseError("not_a_study", f"a CTIS trial is a JSON object, not "
                         f"{type(data).__name__}", source=source)
    trial_id = normalise_ctis_id(data.get("ctNumber"))
    if trial_id is None:
        raise ParseError("missing_id", f"no valid CTIS number (ctNumber "
                         f"{str(data.get('ctNumber'))[:40]!r})", source=source)
    try:
        return _build(data, trial_id)
    except ParseError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, RecursionError) as exc:
        raise ParseError("bad_field", f"unexpected structure ({exc!r})", source=source) from exc


# --- vocabulary: one table each ------------------------------------------------------------

def _k(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", value.lower())


_STATUS_CODES = {1: "Under evaluation", 2: "Authorised, recruitment pending",
                 3: "Authorised, recruiting", 4: "Ongoing, recruiting",
                 5: "Ongoing, recruitment ended", 6: "Temporarily halted", 7: "Suspended",
                 8: "Ended", 9: "Expired", 10: "Revoked", 11: "Not authorised", 12: "Cancelled"}
_STATUS = {_k(word): status for word, status in (
    ("Authorised, recruitment pending", Status.NOT_YET_RECRUITING),
    ("Authorised, not started", Status.NOT_YET_RECRUITING),
    ("Ongoing, not yet recruiting", Status.NOT_YET_RECRUITING),
    ("Authorised, recruiting", Status.RECRUITING),
    ("Ongoing, recruiting", Status.RECRUITING),
    ("Ongoing, recruitment ended", Status.ACTIVE_NOT_RECRUITING),
    ("Temporarily halted", Status.SUSPENDED),
    ("Suspended", Status.SUSPENDED),
    ("Ended", Status.COMPLETED),
)}
_PHASE_CODES = {"1": ["PHASE1"], "2": ["PHASE1"], "3": ["PHASE1"], "4": ["PHASE2"],
                "5": ["PHASE3"], "6": ["PHASE4"], "7": ["PHASE1", "PHASE2"],
                "8": ["PHASE1", "PHASE2"], "9": ["PHASE1", "PHASE2"], "10": ["PHASE2", "PHASE3"],
                "11": ["PHASE3", "PHASE4"]}
_ROMAN = {"I": "PHASE1", "II": "PHASE2", "III": "PHASE3", "IV": "PHASE4"}
_ROLES = {"1": "Test", "2": "Comparator", "3": "Placebo"}
# Overview age groups ("0-17 years", "18-64 years", "65+ years") and part I age-range codes.
_AGE_CODES = {"2": "0-17 years", "3": "18-64 years", "4": "65+ years"}
_STD_AGES = {(0.0, 17.0): "CHILD", (18.0, 64.0): "ADULT", (65.0, None): "OLDER_ADULT"}


def _vocab(rec: TrialRecord, kind: str, raw: str) -> None:
    rec.unknown_vocab.setdefault(kind, []).append(raw)


# --- building the record -------------------------------------------------------------------

def _build(data: dict[str, Any], trial_id: str) -> TrialRecord:
    app = obj(data.get("authorizedApplication"))
    current = bool(app)
    part1 = obj(app.get("authorizedPartI") if current else data.get("authorizedPartI"))
    if not part1:  # not authorised yet: the latest application's part I is all there is
        apps = [obj(a) for a in items(data.get("applications"))]
        part1 = next((obj(a.get("partI")) for a in reversed(apps) if obj(a.get("partI"))), {})
    parts2 = [obj(p) for p in items(app.get("authorizedPartsII") if current
                                     else data.get("authorizedPartsII"))]
    mscs = [obj(m) for m in items(app.get("memberStatesConcerned") if current
                                  else data.get("memberStatesConcerned"))]
    details = obj(part1.get("trialDetails"))
    ident = obj(details.get("clinicalTrialIdentifiers"))
    info = obj(details.get("trialInformation"))

    rec = TrialRecord(trial_id=trial_id, registry=REGISTRY, url=TRIAL_URL.format(trial_id))
    rec.official_title = text(ident.get("fullTitle")) or text(data.get("title"))
    rec.title = text(ident.get("publicTitle")) or rec.official_title
    rec.study_type = "INTERVENTIONAL"  # CTIS holds clinical trials of medicinal products only
    _sponsors(rec, data, part1, current)
    _identifiers(rec, data, app, ident)
    _status(rec, data, parts2)
    _phases(rec, data, info)
    _dates(rec, data, info, parts2, mscs)
    conditions = [text(c.get("medicalCondition")) for c in map(obj, items(
        part1.get("medicalConditions") or get(info, "medicalCondition", "partIMedicalConditions")))]
    rec.conditions = list(dict.fromkeys(c for c in conditions if c))
    terms = [text(obj(t).get("termName")) for t in items(get(info, "medicalCondition",
                                                             "meddraConditionTerms"))]
    areas = [text(obj(a).get("name")) for a in items(part1.get("therapeuticAreas"))]
    rec.keywords = [k for k in dict.fromkeys(terms + areas) if k and k not in rec.conditions]
    rec.summary = text(get(info, "trialObjective", "mainObjective"))
    rec.primary_outcomes = [e for e in (text(obj(x).get("endPoint")) for x in _numbered(
        get(info, "endPoint", "primaryEndPoints"))) if e]
    _interventions(rec, part1)
    _eligibility(rec, data, info)
    _places(rec, part1, parts2, mscs)
    _enrollment(rec, data, part1, parts2, mscs)
    rec.has_results = bool(obj(data.get("results")) and any(obj(data.get("results")).values())) \
        or _k(text(data.get("resultsFirstReceived")) or "") == "yes"
    related = (text(obj(t).get("ctNumber"))
               for t in items(details.get("associatedClinicalTrials")))
    rec.related_ids = list(dict.fromkeys(
        r for r in ((normalise_ctis_id(x) or normalise_eudract(x)) for x in related if x)
        if r and r != trial_id))
    category = obj(info.get("trialCategory"))
    rec.design = {k: v for k, v in {
        "trial_category": text(category.get("trialCategory")),
        "low_intervention": category.get("isLowIntervention")
        if isinstance(category.get("isLowIntervention"), bool) else None,
        "ctis_status": rec.design.get("ctis_status"),
        "layout": "current" if current else "older",
    }.items() if v is not None}
    return enrich(rec)


def _known(value: str | None) -> str | None:
    """None for the "na" / "N/A" placeholders CTIS forms are filled with."""
    return None if value is None or _k(value) in ("", "na", "none", "notapplicable") else value


def _numbered(value: Any) -> list[dict[str, Any]]:
    """Items of a CTIS numbered list in their own order (the API does not sort them)."""
    entries = [obj(x) for x in items(value)]

    def number(entry: dict[str, Any]) -> int:
        n = entry.get("number")
        return n if isinstance(n, int) and not isinstance(n, bool) else 10**9

    return sorted(entries, key=number)


def _sponsors(rec: TrialRecord, data: dict[str, Any], part1: dict[str, Any],
              current: bool) -> None:
    sponsors = [obj(s) for s in items(part1.get("sponsors"))]
    if not current and obj(data.get("primarySponsor")):
        sponsors = [obj(data["primarySponsor"])] + [obj(s) for s in items(data.get("coSponsors"))]
    sponsors.sort(key=lambda s: s.get("primary") is not True)  # the primary sponsor first
    given = [text(get(s, "organisation", "name")) for s in sponsors]
    names = list(dict.fromkeys(n for n in given if n))
    rec.sponsor = names[0] if names else None
    funders = [text(obj(f).get("organisationName")) for f in items(
        get(part1, "trialDetails", "trialInformation", "sourceOfMonetarySupport"))]
    rec.collaborators = [n for n in dict.fromkeys(names[1:] + [f for f in funders if f])
                         if n != rec.sponsor]
    lead = sponsors[0] if sponsors else {}
    kind = text(get(lead, "organisation", "type")) or text(data.get("sponsorType")) or ""
    commercial = _k(text(lead.get("commercial")) or "")
    rec.sponsor_class = ("INDUSTRY" if _k(kind) == "pharmaceuticalcompany"
                         or commercial == "commercial" else "OTHER" if rec.sponsor else None)


def _identifiers(rec: TrialRecord, data: dict[str, Any], app: dict[str, Any],
                 ident: dict[str, Any]) -> None:
    seen = {rec.trial_id}

    def add(value: str | None, typ: str, domain: str | None) -> None:
        if value and value not in seen:
            seen.add(value)
            rec.secondary_ids.append({"id": value, "type": typ, "domain": domain})

    for code in (get(app, "eudraCt", "eudraCtCode"), get(data, "eudraCtInfo", "eudraCtCode")):
        add(normalise_eudract(text(code)), "EUDRACT_NUMBER", "EudraCT")
    numbers = obj(ident.get("secondaryIdentifyingNumbers"))
    add(normalise_nct_id(text(get(numbers, "nctNumber", "number"))), "REGISTRY",
        "ClinicalTrials.gov")
    add(normalise_isrctn_id(text(get(numbers, "isrctnNumber", "number"))), "REGISTRY", "ISRCTN")
    utn = (text(get(numbers, "whoUniversalTrialNumber", "number")) or "").upper()
    add(utn if UTN_RE.match(utn) else None, "UTN", "WHO")
    for entry in map(obj, items(numbers.get("additionalRegistries"))):
        value = text(entry.get("number")) or text(entry.get("registryNumber"))
        name = text(entry.get("registryName")) or text(entry.get("name"))
        nct, eudract = normalise_nct_id(value), normalise_eudract(value)
        if nct or eudract:
            add(nct or eudract, "REGISTRY" if nct else "EUDRACT_NUMBER",
                "ClinicalTrials.gov" if nct else "EudraCT")
        elif value and _FREE_ID.match(value):
            add(value, "REGISTRY", name[:80] if name else None)
    short = text(ident.get("shortTitle") or data.get("shortTitle"))
    if short and re.fullmatch(r"[A-Za-z][A-Za-z-]{1,19}", short):
        rec.acronym = short
    elif short and _FREE_ID.match(short):
        add(short, "ORG_STUDY_ID", rec.sponsor)


def _status(rec: TrialRecord, data: dict[str, Any], parts2: list[dict[str, Any]]) -> None:
    code = data.get("ctPublicStatusCode", data.get("ctStatus"))
    label = _STATUS_CODES.get(code) if isinstance(code, int) and not isinstance(code, bool) \
        else text(data.get("ctStatus"))
    if isinstance(code, int) and not isinstance(code, bool) and label is None:
        label = f"code {code}"
    if not label:
        return
    rec.design["ctis_status"] = label
    status = _STATUS.get(_k(label))
    if status is Status.COMPLETED and _ended_early(data, parts2):
        status = Status.TERMINATED
    if status is None:
        rec.status_raw = label
        _vocab(rec, "status", label)
    else:
        rec.status = status.value


def _ended_early(data: dict[str, Any], parts2: list[dict[str, Any]]) -> bool:
    """Every member state notified an early termination (ctrdata's rule for "Ended")."""
    per_state = [[text(obj(e).get("notificationType")) or "" for e in items(obj(t).get("events"))]
                 for t in items(get(data, "events", "trialEvents"))]
    per_state += [[text(obj(n).get("notificationType")) or "" for n in items(
        obj(m).get("mscNotificationsListInfo"))] for m in items(
        data.get("mscTrialNotificationsInfoList"))]
    per_state = [kinds for kinds in per_state if kinds]
    return bool(per_state) and all(any("earlytermination" in _k(k) for k in kinds)
                                   for kinds in per_state)


def _phases(rec: TrialRecord, data: dict[str, Any], info: dict[str, Any]) -> None:
    code = text(get(info, "trialCategory", "trialPhase"))
    if code in _PHASE_CODES:
        rec.phases = list(_PHASE_CODES[code])
        return
    label = text(data.get("trialPhase")) or ""
    found = re.findall(r"\bphase\s+(IV|I{1,3})\b", label, flags=re.IGNORECASE)
    rec.phases = [p for p in dict.fromkeys(_ROMAN[x.upper()] for x in found)]
    if not rec.phases and (code or label):
        _vocab(rec, "phase", label or f"code {code}")


def _dates(rec: TrialRecord, data: dict[str, Any], info: dict[str, Any],
           parts2: list[dict[str, Any]], mscs: list[dict[str, Any]]) -> None:
    decided = [iso_date(m.get("firstDecisionDate")) for m in mscs]
    decided += [iso_date(obj(p.get("mscInfo")).get("firstDecisionDate")) for p in parts2]
    decided += [iso_date(data.get(k)) for k in ("authorizationDate", "decisionDateOverall")]
    decisions = [d for d in decided if d]
    rec.first_posted = min(decisions) if decisions else None
    events = [obj(e) for t in items(get(data, "events", "trialEvents"))
              for e in items(obj(t).get("events"))]
    started = [iso_date(e.get("date")) for e in events
               if _k(text(e.get("notificationType")) or "") == "startoftrial"]
    for p in parts2:
        msc = obj(p.get("mscInfo"))
        started.append(iso_date(get(msc, "activeTrialPeriod", "trialStartDate")))
        started += [iso_date(obj(t).get("trialStartDate")) for t in items(msc.get("trialPeriod"))]
    starts = [d for d in started + [iso_date(data.get("startDateEU"))] if d]
    duration = obj(info.get("trialDuration"))
    if starts:
        rec.start_date, rec.start_date_type = min(starts), "ACTUAL"
    elif iso_date(duration.get("estimatedRecruitmentStartDate")):
        rec.start_date = iso_date(duration.get("estimatedRecruitmentStartDate"))
        rec.start_date_type = "ESTIMATED"
    ended = [iso_date(e.get("date")) for e in events
             if "endoftrial" in _k(text(e.get("notificationType")) or "")]
    ends = [d for d in ended if d]
    if ends:
        rec.completion_date, rec.completion_date_type = max(ends), "ACTUAL"
    else:
        end = iso_date(duration.get("estimatedGlobalEndDate")) or iso_date(
            duration.get("estimatedEndDate"))
        rec.completion_date, rec.completion_date_type = end, "ESTIMATED" if end else None
    rec.last_updated = iso_date(data.get("lastUpdated"))


def _interventions(rec: TrialRecord, part1: dict[str, Any]) -> None:
    roles = {}
    for group in map(obj, items(part1.get("productRoleGroupInfos"))):
        for product in map(obj, items(group.get("products"))):
            if product.get("id") is not None:
                roles[product["id"]] = text(group.get("productRoleName"))
    for product in map(obj, items(part1.get("products"))):
        pdi = obj(product.get("productDictionaryInfo"))
        substance = _known(text(product.get("jsonActiveSubstanceNames")))
        given = [text(product.get("productName")), text(product.get("nameDisplay")),
                 text(pdi.get("prodName"))]
        names = [n for n in dict.fromkeys(map(_known, given)) if n]
        name = substance or (names[0] if names else None)
        if not name:
            continue
        role = roles.get(product.get("id")) or _ROLES.get(text(product.get("mpRoleInTrial")) or "")
        dose = " ".join(x for x in (text(product.get("maxDailyDoseAmount")),
                                    (text(product.get("doseUom")) or "").split(" ")[0]) if x)
        form = text(product.get("pharmaceuticalFormDisplay"))
        routes = [r for r in (text(x) for x in items(product.get("routes"))) if r]
        description = "; ".join(x for x in (
            _known(form), ", ".join(routes) or None,
            f"max daily dose {dose}" if dose else None) if x) or None
        atmp = product.get("anAdvancedTherapyMedicinalProduct") is True
        entry: Intervention = {"type": "BIOLOGICAL" if atmp else "DRUG", "name": name,
                 "description": description, "other_names": [n for n in names if n != name],
                 "arm_labels": [], "role": role, "atmp": atmp,
                 "doses": parse_doses(dose) if dose else []}
        same = next((e for e in rec.interventions if e["name"].lower() == name.lower()), None)
        if same is None:
            rec.interventions.append(entry)
        else:
            same["other_names"] += [n for n in entry["other_names"]
                                    if n not in same["other_names"]]


def _criteria_text(entries: list[dict[str, Any]], key: str) -> str | None:
    """Numbered items -> "1. text" lines; inline "•" bullets become indented sub-items, so
    ``split_criteria`` nests them under their item."""
    lines = []
    for i, entry in enumerate(entries, 1):
        body = text(entry.get(key))
        if not body:
            continue
        head, *bullets = re.split(r"\s*[•\uf0b7]\s*", body)
        n = entry.get("number") if isinstance(entry.get("number"), int) else i
        lines.append(f"{n}. {head.strip() or (bullets.pop(0) if bullets else '')}")
        lines.extend(f"    - {b.strip()}" for b in bullets if b.strip())
    return "\n".join(lines) or None


def _eligibility(rec: TrialRecord, data: dict[str, Any], info: dict[str, Any]) -> None:
    crit = obj(info.get("eligibilityCriteria"))
    inc_text = _criteria_text(_numbered(crit.get("principalInclusionCriteria")),
                              "principalInclusionCriteria")
    exc_text = _criteria_text(_numbered(crit.get("principalExclusionCriteria")),
                              "principalExclusionCriteria")
    inc, exc = split_criteria(inc_text), split_criteria(exc_text)
    population = obj(info.get("populationOfTrialSubjects"))
    named = [text(g) for g in re.split(r"\s*,\s*", text(data.get("ageGroup")) or "")]
    codes = [text(obj(a).get("ageRangeCategory")) for a in items(population.get("ageRanges"))]
    groups = [g for g in dict.fromkeys(named + [_AGE_CODES.get(c or "") for c in codes]) if g]
    bounds = []
    for group in groups:
        m = re.fullmatch(r"(\d+)\s*(?:-\s*(\d+)|\+)\s*years?", group)
        if m:
            bounds.append((float(m.group(1)), float(m.group(2)) if m.group(2) else None))
        else:
            _vocab(rec, "age_group", group)
    female, male = population.get("isFemaleSubjects"), population.get("isMaleSubjects")
    if not isinstance(female, bool) and not isinstance(male, bool):
        words = _k(text(data.get("gender")) or "")
        female, male = ("female" in words), ("male" in words.replace("female", ""))
    sex = "ALL" if female and male else "FEMALE" if female else "MALE" if male else None
    kinds = [_k(text(obj(g).get("name")) or "")
             for g in items(population.get("clinicalTrialGroups"))]
    low = min(b[0] for b in bounds) if bounds else None
    high = None if not bounds or any(b[1] is None for b in bounds) \
        else max(b[1] for b in bounds if b[1] is not None)
    rec.eligibility = {
        "text": "\n\n".join(t for t in (inc_text, exc_text) if t) or None,
        "inclusion": inc["inclusion"],
        "exclusion": inc["exclusion"] + exc["inclusion"] + exc["exclusion"],
        "min_age": None if low is None else f"{low:g} Years",
        "max_age": None if high is None else f"{high:g} Years",
        "min_age_years": low, "max_age_years": high,
        "std_ages": [s for b, s in _STD_AGES.items() if b in bounds],
        "age_groups": [g for g in groups if g],
        "sex": sex,
        "healthy_volunteers": any("healthy" in k for k in kinds) if kinds else None,
        "thresholds": [],
    }


def _places(rec: TrialRecord, part1: dict[str, Any], parts2: list[dict[str, Any]],
            mscs: list[dict[str, Any]]) -> None:
    seen_countries: set[str] = set()
    for part in parts2:
        msc = obj(part.get("mscInfo"))
        country = text(msc.get("countryName")) or text(msc.get("mscName"))
        for site in map(obj, items(part.get("trialSites"))):
            org = obj(site.get("organisationAddressInfo"))
            address = obj(org.get("address"))
            site_country = text(address.get("countryName")) or country
            rec.locations.append({
                "facility": text(get(org, "organisation", "name")),
                "city": text(address.get("city")), "state": None,
                "zip": text(address.get("postcode")), "country": site_country,
                "status": text(msc.get("trialStatus")),
                "department": _known(text(site.get("departmentName"))),
            })
            seen_countries.add((site_country or "").lower())
    countries = [text(obj(p.get("mscInfo")).get("countryName")) for p in parts2]
    countries += [text(m.get("mscName")) or text(m.get("countryName")) for m in mscs]
    countries += [text(obj(c).get("name")) for c in items(part1.get("rowCountriesInfo"))]
    for country in dict.fromkeys(c for c in countries if c):
        if country.lower() not in seen_countries:
            seen_countries.add(country.lower())
            rec.locations.append({"facility": None, "city": None, "state": None,
                                  "country": country, "status": None})


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    raw = text(value)
    return int(raw) if raw and raw.isdigit() and len(raw) < 10 else None


def _enrollment(rec: TrialRecord, data: dict[str, Any], part1: dict[str, Any],
                parts2: list[dict[str, Any]], mscs: list[dict[str, Any]]) -> None:
    per_state: dict[str, int] = {}
    for entry in parts2 + mscs:  # a member state once, from its part II first
        state = text(obj(entry.get("mscInfo")).get("mscName")) or text(entry.get("mscName"))
        count = _count(entry.get("recruitmentSubjectCount"))
        if state and count is not None:
            per_state.setdefault(state, count)
    eea = sum(per_state.values()) if per_state else _count(data.get("totalNumberEnrolled"))
    world = _count(part1.get("rowSubjectCount"))
    total = None if eea is None and world is None else (eea or 0) + (world or 0)
    rec.enrollment = {"count": total, "type": "ESTIMATED" if total is not None else None,
                      "eea": eea, "rest_of_world": world}
