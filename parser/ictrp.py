"""WHO ICTRP search-portal XML export (``<Trials_downloaded_from_ICTRP>``) -> TrialRecords.

One export holds trials of many registries in one flat format.  Each ``<Trial>`` parses on its
own: ``parse_export`` yields (record or ParseError, raw XML) per trial; only a file that is not
an ICTRP export at all raises.  Pure: no HTTP; XML goes through ``safexml`` (no entities, no DTD,
no network).

Rules (why they are as they are):

* Identity.  ``trial_id`` is the id as the source registry writes it: NCT..., DRKS...,
  ChiCTR..., KCT...; ICTRP's "JPRN-" prefix is dropped (jRCT / UMIN / JapicCTI write
  "jRCTs031210288", "UMIN000001825"), and an EU CTR row ("EUCTR2015-000590-12-DE", one row per
  member state) becomes the EudraCT number "2015-000590-12" with registry "euctr", the same key
  ``euctr.py`` gives the register's own pages.  ICTRP's own id is kept in ``secondary_ids``
  (type "ICTRP") whenever it differs.  ``registry`` is ``Source_Register`` mapped to a short
  name (``_REGISTERS``); an unknown register is kept lowercased.
* Merging.  Rows with the same (registry, trial_id) -- in practice EU CTR member states --
  become one record.  Scalar fields come from the most recently refreshed row
  (``Last_Refreshed_on``; the first in file order on a tie); secondary ids, countries and
  collaborators are unioned; ``first_posted`` / ``start_date`` are the earliest, ``last_updated``
  the latest; status is the most active (``euctr.merge_statuses``); each member state's
  status is kept on its country in ``locations``.  The raw fragment is the rows' XML joined.
* Dates.  ``Date_registration3`` (YYYYMMDD) is preferred.  Slash dates (``08/04/2024``) are
  DAY/MONTH/YEAR: checked against ``Date_registration3`` on every row of the real export
  (only ``Export_date`` is month-first, and it is not used).  "April 25, 2024", "20 May 2024",
  "2009/04/01", "2021-09-20" and partial "January 2022" (-> "2022-01") are read too.
* Vocabulary.  Status, phase and study type go through ``vocab``; the few ICTRP spellings it
  lacks are in ``_LOCAL_VOCAB`` (one table).  "Not recruiting" (which ICTRP uses for completed,
  active and not-yet-recruiting trials alike) and "Authorised" (EU) have no clear enum value:
  they are kept raw and listed in ``unknown_vocab``.
* ``Target_size`` "control group:50;sepsis group:50;" sums to 100 when every part is
  "label: number"; otherwise the count is None.  The text is kept in ``enrollment["text"]``.
* Criteria: escaped ``<br>`` become line breaks (indentation kept: it nests items) and each
  field goes through ``split_criteria`` on its own.  Everything in ``Exclusion_Criteria`` is
  exclusion; ``Inclusion_Criteria`` keeps the sections its own headers give, because
  ClinicalTrials.gov rows carry "Inclusion Criteria: ... Exclusion Criteria: ..." in that one
  field.  EU CTR rows append the F.1 age groups ("Are the trial subjects under 18? no ...
  F.1.2 Adults (18-64 years) yes"): they are cut from the criteria and give the ages
  (``euctr.AGE_GROUPS``), as EU rows have no ``Inclusion_agemin`` / ``agemax``.
* ICTRP-only facts go in ``design``: the Study_design text, the raw Phase text,
  ``other_records``, ``retrospective_registration``, ``source_register`` and region names
  ("Asia except Japan") that are not countries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import textwrap
from collections.abc import Iterator
from typing import Any

from lxml import etree

from trialscope.core.record import (
    Contact,
    Eligibility,
    Intervention,
    Location,
    SecondaryId,
    TrialRecord,
)
from trialscope.core.vocab import normalise_phases, normalise_status, normalise_study_type
from trialscope.extract.criteria import split_criteria
from trialscope.extract.doses import parse_doses
from trialscope.extract.enrich import enrich
from trialscope.parser import euctr
from trialscope.parser.ctgov import normalise_nct_id
from trialscope.parser.errors import ParseError
from trialscope.parser.safexml import element_text, parse_xml

REGISTRY = "ictrp"
_BR = re.compile(r"\s*<br\s*/?>\s*", re.IGNORECASE)

_REGISTERS = {
    "clinicaltrials.gov": "ctgov", "eu clinical trials register": "euctr", "euctr": "euctr",
    "jprn": "jprn", "german clinical trials register": "drks", "drks": "drks",
    "chictr": "chictr", "cris": "cris", "isrctn": "isrctn", "anzctr": "anzctr", "ctri": "ctri",
    "irct": "irct", "pactr": "pactr", "rebec": "rebec", "rpcec": "rpcec", "tctr": "tctr",
    "slctr": "slctr", "lbctr": "lbctr", "ntr": "ntr", "netherlands trial register": "ntr",
    "itmctr": "itmctr", "repec": "repec", "ctis": "ctis", "nl-omon": "ntr",
}
# (registry, secondary-id type, domain) by id shape; the first match wins.
_ID_SHAPES = (
    (re.compile(r"NCT\d{8}", re.I), "ctgov", "REGISTRY", "ClinicalTrials.gov"),
    (re.compile(r"\d{4}-5\d{5}-\d{2}-\d{2}"), "ctis", "CTIS", "CTIS"),
    (re.compile(r"jRCT[a-z]?\d{10}|JapicCTI-\d{6}|UMIN\d{9}|JMA-IIA\d{5}", re.I), "jprn",
     "REGISTRY", "JPRN"),
    (re.compile(r"DRKS\d{8}", re.I), "drks", "REGISTRY", "DRKS"),
    (re.compile(r"ChiCTR(?:-[A-Z]{2,5}-)?\d{8,10}", re.I), "chictr", "REGISTRY", "ChiCTR"),
    (re.compile(r"KCT\d{7}", re.I), "cris", "REGISTRY", "CRIS"),
    (re.compile(r"ISRCTN\d{8}", re.I), "isrctn", "REGISTRY", "ISRCTN"),
    (re.compile(r"ACTRN\d{14}", re.I), "anzctr", "REGISTRY", "ANZCTR"),
    (re.compile(r"CTRI/\d{4}/\d{2,3}/\d{6}", re.I), "ctri", "REGISTRY", "CTRI"),
    (re.compile(r"PACTR\d{15,16}", re.I), "pactr", "REGISTRY", "PACTR"),
    (re.compile(r"TCTR\d{11}", re.I), "tctr", "REGISTRY", "TCTR"),
    (re.compile(r"RBR-\w{6,8}", re.I), "rebec", "REGISTRY", "ReBEC"),
    (re.compile(r"U1111-\d{4}-\d{4}", re.I), None, "UTN", "WHO"),
)
_ID_LABELS = {"", "nct", "eudract", "eudractnumber", "eudractno", "euctr", "jprn", "ctgov",
              "clinicaltrialsgov", "utn", "whoutn", "isrctn", "drks", "ctis"}
_PLACEHOLDERS = {"", "na", "none", "nil", "nilknown", "notapplicable", "notavailable",
                 "notspecified", "inpreparation", "unknown", "0"}
_NO_AGE = {"", "na", "none", "nolimit", "notapplicable", "notstated", "notspecified"}
_REGIONS = {"asia except japan", "asia", "north america", "south america", "europe", "oceania",
            "africa", "middle east", "central america"}
_CTGOV_TYPES = {"drug", "device", "biological", "procedure", "procedure/surgery", "radiation",
                "behavioral", "genetic", "dietary supplement", "combination product",
                "diagnostic test", "other"}
_ARM_TYPES = {"experimental", "active comparator", "placebo comparator", "sham comparator",
              "no intervention"}


def _k(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


# The one local vocabulary table: ICTRP spellings vocab.py does not know (keys go through _k).
_LOCAL_VOCAB: dict[tuple[str, str], Any] = {
    ("status", "notavailable"): "UNKNOWN",
    ("study_type", "interventionalclinicaltrialofmedicinalproduct"): "INTERVENTIONAL",
    ("study_type", "observationalpatientregistry"): "OBSERVATIONAL",
    ("phase", "0"): ["EARLY_PHASE1"], ("phase", "1"): ["PHASE1"], ("phase", "2"): ["PHASE2"],
    ("phase", "3"): ["PHASE3"], ("phase", "4"): ["PHASE4"], ("phase", "12"): ["PHASE1", "PHASE2"],
    ("phase", "23"): ["PHASE2", "PHASE3"], ("phase", "notselected"): [],
}
_SEX = {"all": "ALL", "both": "ALL", "maleandfemale": "ALL", "femaleandmale": "ALL",
        "bothmaleandfemale": "ALL", "male": "MALE", "males": "MALE", "female": "FEMALE",
        "females": "FEMALE"}
_MONTHS = {m: i for i, m in enumerate(
    ("january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december"), 1)}
_MONTHS.update({m[:3]: i for m, i in list(_MONTHS.items())} | {"sept": 9})
_AGE_UNITS = (("y", 1.0), ("age", 1.0), ("mo", 1 / 12), ("mi", 1 / 525960), ("m", 1 / 12),
              ("w", 7 / 365.25), ("d", 1 / 365.25), ("h", 1 / 8766))


def looks_like_ictrp(text: str) -> bool:
    """Cheap check for the dispatcher: an ICTRP export root, or Trial elements with TrialID."""
    if not isinstance(text, str):
        return False
    head = text[:4096]
    return "<Trials_downloaded_from_ICTRP" in head or (
        re.search(r"<Trial>\s*<", head) is not None and "<TrialID>" in head)


def content_hash(raw: str) -> str:
    """Hash of a trial's raw XML without ``Export_date`` (it changes with every export) and
    without the whitespace around tags (the export's indentation)."""
    text = re.sub(r"<Export_date>.*?</Export_date>", "", raw, flags=re.S)
    text = re.sub(r"\s*(<[^>]*>)\s*", r"\1", text)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def parse_date(text: str | None) -> str | None:
    """ICTRP date text -> ISO ("2024-04-08", "2022-01", "2024"); None when not a valid date."""
    if not text:
        return None
    t = re.sub(r"\s+\d{1,2}:\d{2}(?::\d{2})?$", "", text.strip())
    patterns = (
        (r"(\d{4})(\d{2})(\d{2})", "ymd"), (r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", "ymd"),
        (r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", "dmy"), (r"(\d{4})[-/.](\d{1,2})", "ym"),
        (r"(\d{1,2})\s+([A-Za-z]+)\.?,?\s+(\d{4})", "dMy"),
        (r"([A-Za-z]+)\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})", "Mdy"),
        (r"([A-Za-z]+)\.?,?\s+(\d{4})", "My"), (r"(\d{4})", "y"),
    )
    for pattern, order in patterns:
        m = re.fullmatch(pattern, t)
        if not m:
            continue
        parts = dict(zip(order.replace("M", "m"), m.groups()))
        month = parts.get("m")
        if month is not None and not month.isdigit():
            month = _MONTHS.get(month.lower())
            if month is None:
                return None
        try:
            y = int(parts["y"])
            if "d" in parts and month is not None:  # (every order with a day has a month)
                return dt.date(y, int(month), int(parts["d"])).isoformat()
            if month is not None:
                return dt.date(y, int(month), 1).isoformat()[:7]
            return f"{y:04d}" if 1900 <= y <= 2100 else None
        except ValueError:
            return None
    return None


def age_in_years(text: str | None) -> float | None:
    """'18 Years', '18Y', '>= 20age old', '60(Year)', '≥ 18 years', '2 Months', '18' -> years;
    'N/A', 'No limit', 'None', 'Not applicable' -> None.  A bare number is years."""
    if not text:
        return None
    m = re.search(r"(\d+(?:\.\d+)?)\s*\(?\s*([A-Za-z]*)", text)
    if not m:
        return None
    unit = m.group(2).lower()
    factor = 1.0 if not unit else next((f for p, f in _AGE_UNITS if unit.startswith(p)), None)
    return None if factor is None else round(float(m.group(1)) * factor, 4)


# --- reading the export --------------------------------------------------------------------

def read_payload(text: str, *, source: str, trial_id: str | None = None
                 ) -> Iterator[tuple[TrialRecord | ParseError, str]]:
    """The dispatcher's entry point (``parser/registries.py``): ``parse_export``."""
    return parse_export(text, source=source)


def parse_export(xml: str | bytes, *,
                 source: str | None = None) -> Iterator[tuple[TrialRecord | ParseError, str]]:
    """Yield (record or ParseError, raw XML) per trial, member-state rows merged.  Raises
    ParseError when the payload is not well-formed XML or not an ICTRP export."""
    root = parse_xml(xml, source=source)
    if root.tag == "Trial":
        trials = [root]
    elif root.tag == "Trials_downloaded_from_ICTRP" or root.find("Trial") is not None:
        trials = root.findall("Trial")
    else:
        raise ParseError("not_ictrp", f"root element <{root.tag!s}> is not an ICTRP export",
                         source=source)
    groups: dict[tuple[str, str], list[tuple[dict[str, str | None], str]]] = {}
    for i, el in enumerate(trials):
        raw = etree.tostring(el, encoding="unicode", with_tail=False)
        row = {child.tag: _clean(element_text(child)) for child in el
               if isinstance(child.tag, str)}
        identity = _identity(row)
        if identity is None:
            where = f"{source} [trial {i + 1}]" if source else f"trial {i + 1}"
            yield ParseError("missing_id", "trial without a TrialID", source=where), raw
            continue
        groups.setdefault(identity, []).append((row, raw))
    for (registry, trial_id), members in groups.items():
        raw = "\n".join(r for _, r in members)
        where = f"{source} [{trial_id}]" if source else trial_id
        try:
            yield _record(registry, trial_id, [row for row, _ in members]), raw
        except ParseError as exc:
            yield exc, raw
        except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
            yield ParseError("bad_field", f"unexpected structure ({exc!r})", source=where), raw


def _clean(text: str | None) -> str | None:
    """Strip the export's indentation; a line break right before <br> ("&#x0D;&lt;br&gt;") is
    the same break, so "\r<br>" is one line and "\r<br>\r<br>" a blank line."""
    if text is None:
        return None
    text = re.sub(r"\r?\n?(<br\s*/?>)", r"\1", text, flags=re.IGNORECASE)
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    return text or None


def _identity(row: dict[str, str | None]) -> tuple[str, str] | None:
    raw_id = (row.get("TrialID") or "").strip()
    if not raw_id:
        return None
    register = (row.get("Source_Register") or "").strip()
    registry = _REGISTERS.get(register.lower()) or register.lower() or None
    eudract = euctr.normalise_eudract(raw_id) if raw_id.upper().startswith("EUCTR") else None
    if eudract:
        return "euctr", eudract
    trial_id = normalise_nct_id(raw_id) or re.sub(r"^JPRN-", "", raw_id, flags=re.I)
    m = re.fullmatch(r"CTIS(\d{4}-5\d{5}-\d{2}-\d{2})", trial_id, flags=re.I)
    trial_id = m.group(1) if m else trial_id
    if registry is None:
        registry = next((r for shape, r, _, _ in _ID_SHAPES if r and shape.fullmatch(trial_id)),
                        REGISTRY)
    return registry, trial_id


def _lines(text: str | None) -> str | None:
    """<br> -> line breaks, whitespace tidied per line."""
    if not text:
        return None
    lines = [" ".join(ln.split()) for ln in _BR.sub("\n", text).split("\n")]
    return "\n".join(lines).strip() or None


def _one_line(text: str | None) -> str | None:
    text = " ".join(_BR.sub(" ", text or "").split())
    return text or None


def _split(text: str | None, seps: str = r";|<br\s*/?>") -> list[str]:
    parts = (" ".join(p.split()) for p in re.split(seps, text or "", flags=re.I))
    return list(dict.fromkeys(p for p in parts if p))


def _title(text: str | None) -> str | None:
    text = re.sub(r"^English:\s*", "", _one_line(text) or "")
    return None if _k(text) in _PLACEHOLDERS else text


# --- one record from one or more rows --------------------------------------------------------

def _record(registry: str, trial_id: str, rows: list[dict[str, str | None]]) -> TrialRecord:
    dates = [parse_date(r.get("Last_Refreshed_on")) or "" for r in rows]
    main = rows[dates.index(max(dates))]
    rec = TrialRecord(trial_id=trial_id, registry=registry, url=main.get("web_address"))
    rec.official_title = _title(main.get("Scientific_title"))
    rec.title = _title(main.get("Public_title")) or rec.official_title
    rec.acronym = _title(main.get("Acronym"))
    rec.sponsor = _one_line(main.get("Primary_sponsor"))
    rec.collaborators = [c for c in dict.fromkeys(
        c for r in rows for c in _split(r.get("Secondary_Sponsor"))) if c != rec.sponsor]
    _secondary_ids(rec, rows)
    _status(rec, rows)
    firsts = [d for r in rows if (d := _registered(r))]
    starts = [d for r in rows if (d := parse_date(r.get("Date_enrollement")))]
    rec.first_posted = min(firsts) if firsts else None
    rec.start_date = min(starts) if starts else None
    rec.last_updated = max(dates) or None
    rec.completion_date = parse_date(main.get("results_date_completed"))
    rec.has_results = any(_k(r.get("results_yes_no") or "") == "yes"
                          or parse_date(r.get("results_date_posted")) for r in rows)
    _vocabulary(rec, main)
    _enrollment(rec, main.get("Target_size"))
    _places(rec, rows)
    _contacts(rec, main)
    _conditions(rec, main.get("Condition"))
    rec.interventions = _interventions(main.get("Intervention"), registry)
    _outcomes(rec, main.get("Primary_outcome"))
    _eligibility(rec, main)
    return enrich(rec)


def _registered(row: dict[str, str | None]) -> str | None:
    return parse_date(row.get("Date_registration3")) or parse_date(row.get("Date_registration"))


def _secondary_id(token: str) -> SecondaryId | None:
    token = re.sub(r"^JPRN-", "", token.strip(), flags=re.I)
    if _k(token) in _PLACEHOLDERS:
        return None
    eudract = euctr.normalise_eudract(token)
    if eudract:
        return {"id": eudract, "type": "EUDRACT_NUMBER", "domain": "EU CTR"}
    for shape, _registry, typ, domain in _ID_SHAPES:
        m = shape.search(token)
        if m and _k(token[: m.start()] + token[m.end():]) in _ID_LABELS:
            value = normalise_nct_id(m.group(0)) or m.group(0)
            return {"id": value, "type": typ, "domain": domain}
    return {"id": token, "type": "OTHER", "domain": None}


def _secondary_ids(rec: TrialRecord, rows: list[dict[str, str | None]]) -> None:
    seen = {rec.trial_id}
    for row in rows:
        ictrp_id = (row.get("TrialID") or "").strip()
        entries = [_secondary_id(t) for t in _split(row.get("Secondary_ID"))]
        if ictrp_id and ictrp_id != rec.trial_id:
            entries.append({"id": ictrp_id, "type": "ICTRP", "domain": "WHO ICTRP"})
        for entry in entries:
            if entry and entry["id"] not in seen:
                seen.add(entry["id"])
                rec.secondary_ids.append(entry)


def _status(rec: TrialRecord, rows: list[dict[str, str | None]]) -> None:
    raw = euctr.merge_statuses([r.get("Recruitment_Status") for r in rows])
    rec.status, known = normalise_status(raw)
    local = _LOCAL_VOCAB.get(("status", _k(raw or "")))
    if not known and local:
        rec.status, known = local, True
    if not known:
        rec.status_raw = raw
        rec.unknown_vocab.setdefault("status", []).append(raw or "")


def _vocabulary(rec: TrialRecord, main: dict[str, str | None]) -> None:
    raw_type = _one_line(main.get("Study_type"))
    rec.study_type, known = normalise_study_type(raw_type)
    local = _LOCAL_VOCAB.get(("study_type", _k(raw_type or "")))
    if not known and local:
        rec.study_type, known = local, True
    if not known:
        rec.unknown_vocab.setdefault("study_type", []).append(raw_type or "")
    phase_text = main.get("Phase")
    rec.phases = _phases(rec, phase_text)
    rec.design = {k: v for k, v in {
        "text": _lines(main.get("Study_design")),
        "phase_text": _one_line(phase_text),
        "patient_registry": True if "registry" in (raw_type or "").lower() else None,
        "other_records": {"yes": True, "no": False}.get(_k(main.get("other_records") or "")),
        "retrospective_registration": {"yes": True, "no": False}.get(
            _k(main.get("Retrospective_flag") or "")),
        "source_register": main.get("Source_Register"),
    }.items() if v is not None}


def _phases(rec: TrialRecord, text: str | None) -> list[str]:
    if not text or not text.strip():
        return []
    flags = re.findall(r"\(Phase (I{1,3}|IV)\)\s*:\s*(yes|no)", text, flags=re.I)
    if flags:  # EU CTR: "Human pharmacology (Phase I): no\nTherapeutic exploratory ..."
        names = {"I": "PHASE1", "II": "PHASE2", "III": "PHASE3", "IV": "PHASE4"}
        return [names[p.upper()] for p, yes in flags if yes.lower() == "yes"]
    local = _LOCAL_VOCAB.get(("phase", _k(text)))
    if local is not None:
        return list(local)
    phases, unknown = normalise_phases([" ".join(text.split())])
    if unknown:
        rec.unknown_vocab.setdefault("phase", []).extend(unknown)
    return phases


def _enrollment(rec: TrialRecord, text: str | None) -> None:
    text = _one_line(text)
    count = None
    if text and re.fullmatch(r"\d{1,3}(?:,\d{3})+|\d+", text):
        count = int(text.replace(",", ""))
    elif text:
        parts = [p.strip() for p in text.split(";") if p.strip()]
        numbers = [re.fullmatch(r".*?[:：]\s*(\d+)", p) for p in parts]
        if parts and all(numbers):
            count = sum(int(m.group(1)) for m in numbers if m)
    rec.enrollment = {"count": count, "type": None}
    if text and text != str(count):
        rec.enrollment["text"] = text


def _places(rec: TrialRecord, rows: list[dict[str, str | None]]) -> None:
    countries = [c for r in rows for c in _split(r.get("Countries"))]
    regions = [c for c in dict.fromkeys(countries) if c.lower() in _REGIONS]
    by_country: dict[str, Location] = {
        c.lower(): {"facility": None, "city": None, "state": None, "country": c, "status": None}
        for c in dict.fromkeys(countries) if c.lower() not in _REGIONS}
    for row in rows:  # an EU CTR row is one member state: its status goes on its country
        m = re.search(r"-([A-Z]{2}|3RD)$", (row.get("TrialID") or "").strip(), flags=re.I)
        code = m.group(1).upper() if m else None
        country = euctr.MEMBER_STATES.get(code) if code else None
        if rec.registry == "euctr" and country:
            loc = by_country.setdefault(country.lower(), {
                "facility": None, "city": None, "state": None, "country": country})
            if "member_state" not in loc:  # a state listed twice: its first row wins
                loc["status"] = _one_line(row.get("Recruitment_Status"))
                loc["member_state"] = code
    rec.locations = list(by_country.values())
    if regions:
        rec.design["regions"] = regions


def _contacts(rec: TrialRecord, main: dict[str, str | None]) -> None:
    keys = ("Contact_Firstname", "Contact_Lastname", "Contact_Email", "Contact_Tel",
            "Contact_Affiliation", "Contact_Address")
    columns = [(main.get(k) or "").split(";") for k in keys]
    seen: set[tuple[str | None, str | None, str | None]] = set()
    for i in range(max(len(c) for c in columns)):
        first, last, email, tel, affiliation, address = (
            (" ".join(c[i].split()) or None) if i < len(c) else None for c in columns)
        name = " ".join(x for x in (first, last) if x) or None
        entry: Contact = {"name": name, "role": None, "phone": tel, "email": email,
                          "affiliation": affiliation, "address": address}
        key = (name, email, tel)  # ClinicalTrials.gov rows repeat a contact per location
        if any(key) and key not in seen:
            seen.add(key)
            rec.contacts.append(entry)


def _conditions(rec: TrialRecord, text: str | None) -> None:
    for piece in re.split(r";|<br\s*/?>", text or "", flags=re.I):
        piece = piece.strip()
        if not piece:
            continue
        term = re.search(r"^Term:\s*(.+)$", piece, flags=re.M)
        if piece.lower().startswith("meddra") or term:
            extra = [term.group(1).strip()] if term else []
        elif piece.lower().startswith("therapeutic area:"):
            extra = [piece.split(":", 1)[1].strip()]
        elif re.fullmatch(r"[A-Z]\d{2}(?:\.\d{1,2})?", piece):  # ICD-10 code (DRKS)
            extra = [piece]
        else:
            condition = " ".join(piece.split())
            if condition not in rec.conditions:
                rec.conditions.append(condition)
            continue
        rec.keywords.extend(x for x in extra if x and x not in rec.keywords)


def _intervention(name: str, description: str | None = None, typ: str | None = None,
                  other_names: list[str] | None = None) -> Intervention:
    return {"type": typ, "name": name, "description": description,
            "other_names": other_names or [], "arm_labels": [],
            "doses": parse_doses(description or name)}


_GROUP = re.compile(r"^((?:Group|Arm|Cohort)\s*\d+)\s*[:：]\s*(.+)$", re.I)


def _item(line: str, description: str | None = None) -> Intervention:
    """'Drug: Patisiran' -> type DRUG; 'Group 1: Adults with ...' -> arm label 'Group 1'."""
    group = _GROUP.match(line)
    if group:
        entry = _intervention(group.group(2).strip(), description)
        entry["arm_labels"] = [group.group(1)]
        return entry
    typ, sep, name = line.partition(":")
    if sep and typ.strip().lower() in _CTGOV_TYPES and name.strip():
        return _intervention(name.strip(), description, typ.strip().upper())
    if sep and typ.strip().lower() in _ARM_TYPES and name.strip():  # "Experimental: X" is an arm
        entry = _intervention(name.strip(), description)
        entry["arm_labels"] = [line.strip()]
        return entry
    return _intervention(line, description)


_EU_NAME_KEYS = ("inn or proposed inn", "product name", "trade name", "product code",
                 "current sponsor code", "other descriptive name")
_JPRN_NAME_KEYS = ("inn of investigational material", "generic name etc")


def _interventions(text: str | None, registry: str) -> list[Intervention]:
    """Per-registry layouts: ClinicalTrials.gov "Drug: X;Drug: Y"; EU CTR product blocks of
    "Key: value" lines; JPRN / DRKS blocks separated by a blank <br><br>; else ";" items."""
    text = (text or "").strip()
    if not text:
        return []
    out: list[Intervention] = []
    blocks = [b for b in re.split(r"(?:\s*<br\s*/?>\s*){2,}", text, flags=re.I) if b.strip()]
    eu_style = re.search(r"(?:Product Name|Trade Name|INN or Proposed INN|Pharmaceutical Form):",
                         text)
    if registry == "euctr" or eu_style:
        for block in blocks:
            fields: dict[str, str] = {}
            for line in _split(block, r"<br\s*/?>|\n"):
                key, _, value = line.partition(":")
                if value.strip() and _k(value) not in _PLACEHOLDERS:
                    fields.setdefault(key.strip().lower(), value.strip())
            names = list(dict.fromkeys(fields[k] for k in _EU_NAME_KEYS if k in fields))
            if names:
                out.append(_intervention(names[0], _lines(block), "DRUG", names[1:]))
            if "pharmaceutical form of the placebo" in fields:
                out.append(_intervention("Placebo", None, "DRUG"))
    elif len(blocks) > 1 or registry == "jprn":
        for block in blocks:
            lines = _split(block, r"<br\s*/?>|\n")
            fields = {k.strip().lower(): v.strip() for k, _, v in
                      (ln.partition(":") for ln in lines) if v.strip()}
            names = [fields[k] for k in _JPRN_NAME_KEYS if _k(fields.get(k, "")) not in
                     _PLACEHOLDERS]
            if names:
                out.append(_intervention(names[0], _lines(block), None, names[1:]))
            elif fields and all(_k(v) in _PLACEHOLDERS for v in fields.values()):
                continue  # JPRN's empty "control material(s)" block: every value is "-"
            elif lines and _k(lines[0]) not in _PLACEHOLDERS:
                out.append(_item(lines[0], _lines(block)))
    elif registry == "chictr":  # "CAR-T group:BCMA CAR-T cells;control group:standard therapy;"
        for item in _split(text, r";"):
            label, sep, name = item.partition(":")
            if sep and _k(name) in _PLACEHOLDERS | {"no"}:
                continue  # "control group:No" -- that group has no intervention
            entry = _intervention(name.strip() if sep and name.strip() else item)
            entry["arm_labels"] = [label.strip()] if sep and name.strip() else []
            out.append(entry)
    elif registry == "ctgov" or not re.search(r"<br", text, flags=re.I):
        out.extend(_item(item) for item in _split(text, r";"))
    else:  # one block of lines: one intervention, or one per "Group 1:" / "Arm 2:" line
        lines = _split(text, r"<br\s*/?>|\n")
        groups = [i for i, ln in enumerate(lines) if _GROUP.match(ln)]
        if len(groups) > 1:
            out.extend(_item(lines[i]) for i in groups)
        else:
            out.append(_item(lines[0], _lines(text) if len(lines) > 1 else None))
    unique: dict[tuple[str | None, str], Intervention] = {}
    for entry in out:
        unique.setdefault((entry["type"], entry["name"].lower()), entry)
    return list(unique.values())


_EU_OUTCOME = re.compile(r"(?:^|[;\n])\s*(Main Objective|Secondary Objective|Primary end point\(s\)"
                         r"|Timepoint\(s\) of evaluation of this end point)\s*:", re.I)


def _outcomes(rec: TrialRecord, text: str | None) -> None:
    text = _lines(text)
    if not text:
        return
    parts = _EU_OUTCOME.split(text)
    if len(parts) > 1:  # EU CTR: labelled objectives and end points in one field
        labelled = list(zip(parts[1::2], (p.strip(" ;\n") for p in parts[2::2])))
        rec.summary = next((v for k, v in labelled if k.lower() == "main objective" and v), None)
        rec.primary_outcomes = [v for k, v in labelled if k.lower().startswith("primary") and v]
    elif rec.registry in ("jprn", "drks"):
        rec.primary_outcomes = [text]
    else:
        rec.primary_outcomes = _split(text, r";")


_EU_AGES = re.compile(r"\n?Are the trial subjects under 18\?.*$", re.S | re.I)
_EU_AGE_FLAG = re.compile(r"^\s*(F\.1\.\d(?:\.\d)?)\s.*?\b(yes|no)\s*$", re.M | re.I)


def _eligibility(rec: TrialRecord, main: dict[str, str | None]) -> None:
    inc_text = _criteria_text(main.get("Inclusion_Criteria"))
    exc_text = _criteria_text(main.get("Exclusion_Criteria"))
    ages: Eligibility = {}
    if inc_text and (tail := _EU_AGES.search(inc_text)):  # EU CTR appends the F.1 age groups
        flags = {code: yes.lower() == "yes" for code, yes in _EU_AGE_FLAG.findall(tail.group(0))}
        ages = euctr.ages_from_groups(flags)
        inc_text = inc_text[: tail.start()].strip() or None
    inc, exc = split_criteria(inc_text), split_criteria(exc_text)
    min_age, max_age = (a if _k(a or "") not in _NO_AGE else None for a in (
        _one_line(main.get("Inclusion_agemin")), _one_line(main.get("Inclusion_agemax"))))
    raw_sex = _one_line(main.get("Inclusion_gender"))
    sex = _sex(main.get("Inclusion_gender"))
    if raw_sex and sex is None:
        rec.unknown_vocab.setdefault("sex", []).append(raw_sex)
    rec.eligibility = {
        "text": "\n\n".join(t for t in (inc_text, exc_text) if t) or None,
        "inclusion": inc["inclusion"],
        "exclusion": inc["exclusion"] + exc["inclusion"] + exc["exclusion"],
        "min_age": min_age, "max_age": max_age,
        "min_age_years": age_in_years(min_age), "max_age_years": age_in_years(max_age),
        "sex": sex or raw_sex, "healthy_volunteers": None, "std_ages": [], "thresholds": [],
    }
    if ages:  # EU CTR rows give no agemin/agemax: the ticked age groups stand in
        if rec.eligibility["min_age_years"] is None:
            rec.eligibility["min_age_years"] = ages["min_age_years"]
        if rec.eligibility["max_age_years"] is None:
            rec.eligibility["max_age_years"] = ages["max_age_years"]
        rec.eligibility["std_ages"] = ages["std_ages"]
        rec.eligibility["age_groups"] = ages["age_groups"]


def _criteria_text(text: str | None) -> str | None:
    """<br> -> line break, keeping each line's indentation (it nests criteria)."""
    if not text:
        return None
    lines = [ln.rstrip() for ln in re.sub(r"<br\s*/?>", "\n", text, flags=re.I).split("\n")]
    if len(lines) > 1 and lines[0][:1].strip():
        # The export's own indentation was stripped from the first line only: dedent the rest
        # on their own ("Inclusion criteria:<br>                1. Aged = 18 years").
        return (lines[0] + "\n" + textwrap.dedent("\n".join(lines[1:]))).strip("\n") or None
    return textwrap.dedent("\n".join(lines)).strip("\n") or None


def _sex(text: str | None) -> str | None:
    if not text:
        return None
    flags = dict(re.findall(r"(female|male)\s*:\s*(yes|no)", text, flags=re.I))
    flags = {k.lower(): v.lower() == "yes" for k, v in flags.items()}
    if flags:
        female, male = flags.get("female"), flags.get("male")
        return "ALL" if female and male else "FEMALE" if female else "MALE" if male else None
    return _SEX.get(_k(_one_line(text) or ""))
