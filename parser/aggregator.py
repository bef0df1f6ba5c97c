"""Registry-aggregator trial pages (visible text or HTML) -> TrialRecord.

Two layouts (the seeds in ../shared/seeds/): "overview" (``Overview`` / title / ``Status:`` ...
``Criteria``; values rendered twice, labels glued to the text before them: "NoDetails") and
"sectioned" (title / ``NCT ID:``, then fixed headings such as ``Basic Information``, each with
a one-sentence boilerplate line, then bare values in a fixed order).  HTML is flattened to the
same lines (``html_to_text``).  Every failure is a ``ParseError``; nothing else escapes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from trialscope.core.record import Location, TrialRecord
from trialscope.core.vocab import normalise_phases, normalise_status, normalise_study_type
from trialscope.extract.criteria import split_criteria
from trialscope.extract.doses import parse_doses
from trialscope.extract.enrich import enrich
from trialscope.extract.thresholds import extract_thresholds
from trialscope.parser.ctgov import age_in_years, normalise_nct_id
from trialscope.parser.errors import ParseError

REGISTRY = "aggregator"
_I, _M = re.IGNORECASE, re.MULTILINE
# Registry ids a page may carry: NCT, ChiCTR (new and old style), EudraCT.
_REGISTRY_ID = re.compile(r"\b(NCT\d{8}|ChiCTR(?:-[A-Z]{2,5}-)?\d{8,10}|\d{4}-\d{6}-\d{2})\b", _I)
_ID_LABEL = re.compile(r"^(?:NCT|Trial|Registry|Registration|Study)\s+(?:ID|number)\s*:(.*)$", _I)

# Overview labels.  The page glues them to neighbouring text, so they are found anywhere in a
# line; only the first occurrence of each counts (a summary may quote one).
_LABELS = ("Status:", "Trial end date:", "Target enrollment:", "Participant gender:", "Phase:",
           "Accepts Healthy Volunteers?", "Lead Sponsor:")
_LABEL_SPLIT = re.compile("(" + "|".join(re.escape(label) for label in _LABELS) + ")")
# Bare headings are split off only when glued to a non-space ("NoDetails"); after a space
# ("Inclusion Criteria") they are ordinary words.
_HEADINGS = ("Overview", "Summary", "Details", "Criteria")
_GLUED_HEADING = re.compile(r"^(.*\S)(" + "|".join(_HEADINGS) + r")$")

_SECTIONS = frozenset((
    "Study Results", "Basic Information", "Brief Summary", "Related Clinical Trials",
    "Detailed Description", "Conditions", "Study Design", "Study Groups", "Interventions",
    "Eligibility Criteria", "Sponsors", "Responsible Party", "Principal Investigators",
    "Locations", "Countries", "Central Contacts", "Facility Contacts", "Other Identifiers",
    "More Related Trials"))
# The sentence under each heading ("Get a concise snapshot of ...").  Dropped only as the first
# line of a section, so a real value starting "Review ..." further down survives.
_BOILERPLATE = re.compile(r"^(?:Get|Review|Explore|Dive|See|Understand|Learn|Check|Meet|"
                          r"Identify|Reach|Find|Additional|The study team has not)\b.{30,}\.$")
_AGE = re.compile(r"^\d+(?:\.\d+)?\s+(?:year|month|week|day|hour|minute)s?$", _I)
_ENROLLMENT = re.compile(r"^(\d[\d,]*)(?:\s+(?:participants?|patients?|subjects?))?$", _I)
_DATE = re.compile(r"^\d{4}-\d{2}(?:-\d{2})?$")
# html_to_text marks list items ("- "); outside the criteria a bullet is not part of a value.
_BULLET = re.compile(r"^[-•*·]\s+")
# ClinicalTrials.gov design enums, in the order the page lists them.
_DESIGN_VOCAB = {
    "allocation": {"RANDOMIZED", "NON_RANDOMIZED", "NA"},
    "intervention_model": {"SINGLE_GROUP", "PARALLEL", "CROSSOVER", "FACTORIAL", "SEQUENTIAL"},
    "observational_model": {"COHORT", "CASE_CONTROL", "CASE_ONLY", "CASE_CROSSOVER",
                            "ECOLOGIC_OR_COMMUNITY", "FAMILY_BASED", "DEFINED_POPULATION"},
    "time_perspective": {"PROSPECTIVE", "RETROSPECTIVE", "CROSS_SECTIONAL"},
    "primary_purpose": {"TREATMENT", "PREVENTION", "DIAGNOSTIC", "SUPPORTIVE_CARE", "SCREENING",
                        "HEALTH_SERVICES_RESEARCH", "BASIC_SCIENCE", "DEVICE_FEASIBILITY", "OTHER"},
    "masking": {"NONE", "SINGLE", "DOUBLE", "TRIPLE", "QUADRUPLE"},
}
_SPONSOR_CLASSES = {"NIH", "FED", "OTHER_GOV", "INDIV", "INDUSTRY", "NETWORK", "OTHER", "UNKNOWN"}
_SEX = {"all": "ALL", "both": "ALL", "female": "FEMALE", "females": "FEMALE", "male": "MALE",
        "males": "MALE"}

# Detection works on text and on HTML: a heading is alone on its line or inside its tag.
_START, _END = r"(?:^|>)\s*", r"\s*(?:$|<)"
_DETECT = (
    [re.compile(_START + "Basic Information" + _END, _M),
     re.compile(_START + "Eligibility Criteria" + _END, _M)],
    [re.compile(_START + "Overview" + _END, _M), re.compile("Status:"),
     re.compile(r"(?:^|>|\S)Criteria" + _END, _M)],
)


def looks_like_aggregator(text: str) -> bool:
    """Cheap check (text or HTML) for either aggregator layout, for the payload dispatcher."""
    return isinstance(text, str) and any(all(p.search(text) for p in ps) for ps in _DETECT)


def looks_like_aggregator_html(text: str) -> bool:
    return looks_like_aggregator(text) and text.lstrip()[:1] == "<"


def looks_like_aggregator_text(text: str) -> bool:
    return looks_like_aggregator(text) and text.lstrip()[:1] != "<"


def read_html_payload(text: str, *, source: str, trial_id: str | None = None
                      ) -> Iterator[tuple[TrialRecord, str]]:
    """The dispatcher's entry point for a page's HTML (``parser/registries.py``)."""
    yield parse_aggregator_html(text, source=source, trial_id=trial_id), text


def read_text_payload(text: str, *, source: str, trial_id: str | None = None
                      ) -> Iterator[tuple[TrialRecord, str]]:
    """The dispatcher's entry point for a page's visible text."""
    yield parse_aggregator_text(text, source=source, trial_id=trial_id), text


def parse_aggregator_html(html: str, *, source: str | None = None,
                          trial_id: str | None = None) -> TrialRecord:
    """Parse an aggregator page's HTML: flatten it to visible lines, then parse the text."""
    try:
        text = html_to_text(html) if isinstance(html, str) else ""
    except (ValueError, TypeError, AttributeError, RecursionError) as exc:
        raise ParseError("bad_html", f"HTML could not be read ({exc!r})", source=source) from exc
    return parse_aggregator_text(text, source=source, trial_id=trial_id)


def parse_aggregator_text(text: str, *, source: str | None = None,
                          trial_id: str | None = None) -> TrialRecord:
    """Parse the visible text of an aggregator page (either layout).  Raises ParseError only."""
    if not isinstance(text, str) or not text.strip():
        raise ParseError("empty", "empty page", source=source)
    lines = [ln.rstrip() for ln in text.replace("\xa0", " ").splitlines()]
    stripped = {ln.strip() for ln in lines}
    try:
        if {"Basic Information", "Eligibility Criteria"} <= stripped:
            return _parse_sectioned(lines, source, trial_id)
        if "Overview" in stripped and "Status:" in text:
            return _parse_overview(lines, source, trial_id)
    except ParseError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        raise ParseError("bad_field", f"unexpected page structure ({exc!r})",
                         source=source) from exc
    if stripped & {"Basic Information", "Overview"} or "NCT ID:" in text:
        # Starts like an aggregator page but its anchors are missing: a cut-off capture, worth
        # its own stats key rather than "not this format at all".
        raise ParseError("truncated", "aggregator page without its sections", source=source)
    raise ParseError("not_a_study", "not an aggregator trial page", source=source)


# --- shared helpers ----------------------------------------------------------------------

def _norm_id(raw: str) -> str:
    raw = raw.strip()
    return normalise_nct_id(raw) or ("ChiCTR" + raw[6:] if raw[:6].lower() == "chictr" else raw)


def _resolve_id(lines: list[str], trial_id: str | None, source: str | None) -> tuple[str, str]:
    """(trial_id, registry).  A labelled page id ("NCT ID: ...") is the page's own: it must agree
    with the caller's.  Otherwise the caller's id, or the one registry id the text mentions (two
    or more are ambiguous: a summary may name a parent trial).  The registry is always
    "aggregator": the record is a third party's copy, and the store keeps the registry's own
    record in preference to it.  No id is an error: a hash of the title would change whenever
    the aggregator edits the title."""
    labelled, found = None, []
    for ln in lines:
        ids = [_norm_id(x) for x in _REGISTRY_ID.findall(ln)]
        labelled = labelled or (ids[0] if ids and _ID_LABEL.match(ln) else None)
        found += [x for x in ids if x not in found]
    given = _norm_id(trial_id) if trial_id and trial_id.strip() else None
    if labelled and given and given != labelled:
        raise ParseError("id_mismatch", f"the page is {labelled}, but --id says {given}",
                         source=source)
    chosen = labelled or given or (found[0] if len(found) == 1 else None)
    if not chosen:
        raise ParseError("missing_id", "the page shows no registry id; give the trial's id "
                         "with --id" + (f" (ambiguous: {', '.join(found)})" if found else ""),
                         source=source)
    return chosen, REGISTRY


def _vocab(rec: TrialRecord, kind: str, raw: str | None, known: bool) -> None:
    if not known:
        rec.unknown_vocab.setdefault(kind, []).append(raw or "")


def _set_vocab(rec: TrialRecord, status: str | None, phases: list[str],
               study_type: str | None) -> None:
    """Normalised values; unknown ones are kept raw and listed in unknown_vocab."""
    rec.status, known = normalise_status(status)
    rec.status_raw = None if known else status
    _vocab(rec, "status", status, known)
    parts = [p.strip() for raw in phases for p in re.split(r"[,;|]", raw) if p.strip()]
    rec.phases, unknown = normalise_phases(parts)
    for raw in unknown:
        _vocab(rec, "phase", raw, False)
    rec.study_type, known = normalise_study_type(study_type)
    _vocab(rec, "study_type", study_type, known)


def _eligibility(rec: TrialRecord, criteria: str | None, min_age: str | None,
                 max_age: str | None, sex: str | None, healthy: str | None) -> None:
    split = split_criteria(criteria)
    sex_value = _SEX.get((sex or "").strip().lower())
    if sex:
        _vocab(rec, "sex", sex, sex_value is not None)
    rec.eligibility = {
        "text": criteria, "inclusion": split["inclusion"], "exclusion": split["exclusion"],
        "min_age": min_age, "max_age": max_age,
        "min_age_years": age_in_years(min_age), "max_age_years": age_in_years(max_age),
        "sex": sex_value or sex,
        "healthy_volunteers": {"yes": True, "no": False}.get((healthy or "").strip().lower()),
        "thresholds": extract_thresholds(split),
    }


# --- overview layout ---------------------------------------------------------------------

def _unglue(line: str) -> list[str]:
    """'...patients.Phase:' -> ['...patients.', 'Phase:'];  'NoDetails' -> ['No', 'Details']."""
    out: list[str] = []
    for part in _LABEL_SPLIT.split(line):
        m = _GLUED_HEADING.match(part.strip())
        out.extend([m.group(1).strip(), m.group(2)] if m else [part.strip()])
    return [_BULLET.sub("", p) for p in out if p]


def _collapse(values: list[str]) -> list[str]:
    """Drop the page's second rendering: a repeated line, or 'RecruitingRecruiting' on one
    line (only halves of 3+ characters that are not all digits: '1010' stays a number)."""
    out: list[str] = []
    for v in values:
        half = v[: len(v) // 2]
        if len(v) % 2 == 0 and len(half) >= 3 and not half.isdigit() and v == half * 2:
            v = half
        if not out or out[-1] != v:
            out.append(v)
    return out


def _parse_overview(lines: list[str], source: str | None, trial_id: str | None) -> TrialRecord:
    head: list[str] = []
    for i, line in enumerate(lines):
        parts = _unglue(line)
        if "Criteria" in parts:
            # Everything after the heading is criteria text, kept with its own layout.
            at = parts.index("Criteria")
            head.extend(parts[:at])
            criteria = "\n".join(parts[at + 1:] + lines[i + 1:]).strip("\n") or None
            break
        head.extend(parts)
    else:
        # Criteria is the page's last block: without its heading the capture was cut short,
        # and a partial record would look like criteria removed from the trial.
        raise ParseError("truncated", "overview page without its Criteria block", source=source)
    fields: dict[str, list[str]] = {}
    current: list[str] | None = None
    for part in head:
        if part in _LABELS or part in _HEADINGS:
            current = fields.setdefault(part, []) if part not in fields else None
        elif current is not None:
            current.append(part)
    fields = {k: _collapse(v) for k, v in fields.items()}

    def value(label: str) -> str | None:
        given = fields.get(label)
        return given[0] if given else None

    rec = TrialRecord(*_resolve_id(head, trial_id, source))
    rec.title = value("Overview")
    rec.summary = "\n".join(fields.get("Summary", [])) or None
    _set_vocab(rec, value("Status:"), fields.get("Phase:", []), None)
    rec.completion_date, rec.sponsor = value("Trial end date:"), value("Lead Sponsor:")
    m = _ENROLLMENT.match(value("Target enrollment:") or "")
    count = int(m.group(1).replace(",", "")) if m else None
    rec.enrollment = {"count": count, "type": None}
    if count == 0:
        # The page shows 0 when no target was registered: kept as given, and flagged.
        rec.enrollment["note"] = "0 as shown by the page; usually means not reported"
    _eligibility(rec, criteria, None, None, value("Participant gender:"),
                 value("Accepts Healthy Volunteers?"))
    return enrich(rec)


# --- sectioned layout --------------------------------------------------------------------

def _sections(lines: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """(preamble lines, heading -> raw lines of its body without the boilerplate sentence)."""
    preamble: list[str] = []
    sections: dict[str, list[str]] = {}
    body = preamble
    for line in lines:
        key = line.strip()
        if key in _SECTIONS and key not in sections:
            body = sections[key] = []
        elif key and not (not body and body is not preamble and _BOILERPLATE.match(key)):
            body.append(line)
    return preamble, sections


def _pairs(values: list[str]) -> list[tuple[str, str | None]]:
    """Label / description pairs, as the page lists study groups and interventions."""
    return [(values[i], values[i + 1] if i + 1 < len(values) else None)
            for i in range(0, len(values), 2)]


def _basic(rec: TrialRecord, values: list[str]) -> None:
    """Status, phase, 'N participants', study type, start, completion: each recognised by its
    shape; the page's order decides for a value no vocabulary knows (kept raw, flagged)."""
    slots = ("status", "phase", "enrollment", "study_type", "start", "completion")
    seen: dict[str, str] = {}
    for pos, v in enumerate(values):
        kind = ("status" if normalise_status(v)[1] else
                "phase" if not normalise_phases([v])[1] else
                "enrollment" if _ENROLLMENT.match(v) else
                "study_type" if normalise_study_type(v)[1] else
                ("completion" if "start" in seen else "start") if _DATE.match(v) else
                slots[pos] if pos < len(slots) else None)
        if kind and kind not in seen:
            seen[kind] = v
    _set_vocab(rec, seen.get("status"), [seen["phase"]] if "phase" in seen else [],
               seen.get("study_type"))
    m = _ENROLLMENT.match(seen.get("enrollment", ""))
    rec.enrollment = {"count": int(m.group(1).replace(",", "")) if m else None, "type": None}
    rec.start_date, rec.completion_date = seen.get("start"), seen.get("completion")


def _design(values: list[str]) -> dict[str, Any]:
    """Enum values go to their slot; other lines are the free-text model description."""
    design: dict[str, Any] = {}
    for v in values:
        slot = next((k for k, vocab in _DESIGN_VOCAB.items() if v in vocab and k not in design),
                    "intervention_model_description")
        design[slot] = f"{design[slot]}\n{v}" if slot in design else v
    return design


def _split_eligibility(lines: list[str]) -> tuple[str | None, dict[str, str]]:
    """Criteria text, and the min age / max age / sex / healthy-volunteers values the page
    puts after it.  A sex value the vocabulary does not know still counts when an age line
    precedes it, so it reaches unknown_vocab instead of the criteria text."""
    vals = [ln.strip() for ln in lines]
    is_age = [bool(_AGE.match(v)) or v.upper() == "N/A" for v in vals]
    tail: dict[str, str] = {}
    end = len(vals)
    if end and vals[end - 1].lower() in ("yes", "no"):
        tail["healthy"], end = vals[end - 1], end - 1
    if end and (vals[end - 1].lower() in _SEX or (end > 1 and is_age[end - 2]
                                                   and not is_age[end - 1])):
        tail["sex"], end = vals[end - 1], end - 1
    ages: list[str] = []
    while end and len(ages) < 2 and is_age[end - 1]:
        ages.insert(0, vals[end - 1])
        end -= 1
    tail.update((k, v) for k, v in zip(("min_age", "max_age"), ages) if v.upper() != "N/A")
    return "\n".join(lines[:end]).strip("\n") or None, tail


def _parse_sectioned(lines: list[str], source: str | None, trial_id: str | None) -> TrialRecord:
    preamble, sec = _sections(lines)
    pre = [_BULLET.sub("", ln.strip()) for ln in preamble]
    vals = {k: [_BULLET.sub("", ln.strip()) for ln in v] for k, v in sec.items()}
    rec = TrialRecord(*_resolve_id(pre, trial_id, source))
    # The title is the line just above "NCT ID:" (navigation text may come before it).
    id_at = next((i for i, ln in enumerate(pre) if _ID_LABEL.match(ln)), 1 if pre else 0)
    rec.title = pre[id_at - 1] if id_at else None
    for ln in pre:
        if ln.lower().startswith("last updated:"):
            rec.last_updated = ln.split(":", 1)[1].strip() or None
    results = vals.get("Study Results", [])
    rec.has_results = bool(results) and not any("not published" in v for v in results)
    _basic(rec, vals.get("Basic Information", []))
    rec.summary = "\n".join(vals.get("Brief Summary", [])) or None
    rec.description = "\n".join(vals.get("Detailed Description", [])) or None
    rec.conditions = vals.get("Conditions", [])
    rec.design = _design(vals.get("Study Design", []))
    for v in vals.get("Related Clinical Trials", []) + vals.get("More Related Trials", []):
        if _REGISTRY_ID.fullmatch(v) and _norm_id(v) not in [*rec.related_ids, rec.trial_id]:
            rec.related_ids.append(_norm_id(v))

    for name, desc in _pairs(vals.get("Interventions", [])):
        rec.interventions.append({"type": None, "name": name, "description": desc,
                                  "other_names": [], "arm_labels": [],
                                  "doses": parse_doses(desc)})
    by_name = {iv["name"].lower(): iv for iv in rec.interventions}
    for label, desc in _pairs(vals.get("Study Groups", [])):
        # The page lists the interventions among the groups too ("Dose level 1 group"): such a
        # group is linked to its namesake intervention.
        iv = by_name.get(label.lower())
        rec.arms.append({"label": label, "type": None, "description": desc,
                         "interventions": [iv["name"]] if iv else [],
                         "doses": parse_doses(desc) or (iv["doses"] if iv else [])})

    criteria, tail = _split_eligibility(sec.get("Eligibility Criteria", []))
    _eligibility(rec, criteria, tail.get("min_age"), tail.get("max_age"), tail.get("sex"),
                 tail.get("healthy"))
    responsible = vals.get("Responsible Party")
    _sponsors(rec, vals.get("Sponsors", []), responsible[0] if responsible else None)
    _people(rec, vals)
    _identifiers(rec, vals.get("Other Identifiers", []))
    return enrich(rec)


def _sponsors(rec: TrialRecord, values: list[str], responsible: str | None = None) -> None:
    """Name lines, each optionally followed by its class.  The page does not mark the lead: a
    sponsor who is also the responsible party is the lead (a sponsor-investigator, as on
    ClinicalTrials.gov for NCT06958939), else the first listed."""
    named: list[list[str | None]] = []
    for v in values:
        if v in _SPONSOR_CLASSES and named and named[-1][1] is None:
            named[-1][1] = v
        else:
            named.append([v, None])
    lead = next((n for n in named if responsible and n[0] == responsible), None)
    if named:
        lead = lead or named[0]
        rec.sponsor, rec.sponsor_class = lead
        rec.collaborators = [str(n[0]) for n in named if n is not lead]


def _location(facility: str | None, country: str | None = None) -> Location:
    return {"facility": facility, "city": None, "state": None, "zip": None, "country": country,
            "status": None, "geo": None}


def _people(rec: TrialRecord, vals: dict[str, list[str]]) -> None:
    """Officials (name / Role: / affiliation) and sites (facility / "City, State, Country")."""
    for v in vals.get("Principal Investigators", []):
        last = rec.officials[-1] if rec.officials else None
        if last is not None and v.startswith("Role:"):
            last["role"] = v[5:].strip() or None
        elif last is not None and last["role"] and not last["affiliation"]:
            last["affiliation"] = v
        else:
            rec.officials.append({"name": v, "affiliation": None, "role": None})
    for v in vals.get("Locations", []):
        site = rec.locations[-1] if rec.locations else None
        if site is not None and v.isupper() and normalise_status(v)[1]:
            site["status"] = v
        elif site is not None and site["country"] is None:
            # "City, State, Country" / "City, Country" / "Country": the last part is the
            # country, the first (of two or more) the city.
            parts = [p.strip() for p in v.split(",")]
            site["country"], site["state"] = parts[-1], ", ".join(parts[1:-1]) or None
            site["city"] = parts[0] if len(parts) > 1 else None
        else:
            rec.locations.append(_location(v))
    for v in vals.get("Countries", []):
        if v not in rec.countries:  # a country with no listed site is still searchable
            rec.locations.append(_location(None, v))
    # Contacts are not read: the captured pages show only "Role: primary" without a name,
    # phone or e-mail, so there is no layout to follow yet.


def _identifiers(rec: TrialRecord, values: list[str]) -> None:
    """'ID' then 'Identifier Type: -' / 'Identifier Source: org_study_id' lines."""
    for v in values:
        key, sep, rest = (s.strip() for s in v.partition(":"))
        last = rec.secondary_ids[-1] if rec.secondary_ids else None
        if not (sep and key.startswith("Identifier ") and last is not None):
            rec.secondary_ids.append({"id": v, "type": None, "domain": None})
        elif key == "Identifier Source" and rest.lower() == "org_study_id":
            last["type"] = "ORG_STUDY_ID"
        elif key == "Identifier Type" and rest not in ("", "-"):
            last["type"] = last["type"] or rest
        elif key == "Identifier Domain" and rest not in ("", "-"):
            last["domain"] = rest
    for s in rec.secondary_ids:
        s["type"] = s["type"] or "OTHER"


# --- HTML -> lines -----------------------------------------------------------------------

_BLOCK = {"address", "article", "aside", "blockquote", "body", "dd", "details", "div", "dl",
          "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4",
          "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section",
          "summary", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul"}
# Site chrome never carries trial data; a footer would otherwise end up in the last criterion.
_SKIP = {"script", "style", "noscript", "template", "head", "svg", "button", "nav", "footer"}
_HAS_MARKER = re.compile(r"^(?:[-*•·▪◦○]\s|\(?\d{1,3}[.)]|[a-zA-Z][.)]\s)")


def html_to_text(html: str) -> str:
    """The page's visible text, broken into lines where a browser breaks them.  Inline
    elements join without a space (labels glue as in the text captures); a list item starts a
    line with its marker ("- ", "3. ", unless its text has one), indented two spaces per
    nesting level, so split_criteria sees the nesting the HTML had."""
    # bs4 is imported here, not at module level: it costs ~0.1 s, and `trials show` / the
    # text-layout parser never need it.
    from bs4 import BeautifulSoup, NavigableString

    lines: list[str] = []
    buf: list[str] = []
    marker = [""]  # waiting for the first text of the current list item

    def flush() -> None:
        text = " ".join("".join(buf).split())
        buf.clear()
        if text:
            lead = marker[0]
            if _HAS_MARKER.match(text):
                lead = lead[: len(lead) - len(lead.lstrip())]  # keep only the indent
            lines.append(lead + text)
            marker[0] = ""

    def walk(node: Any, depth: int) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
                if type(child) is NavigableString:  # not a comment, doctype or CDATA
                    buf.append(str(child))
            elif child.name in _SKIP:
                continue
            elif child.name == "br":
                flush()
            elif child.name in _BLOCK:
                flush()
                if child.name == "li":
                    marker[0] = "  " * max(depth - 1, 0) + _li_marker(child)
                walk(child, depth + (child.name in ("ul", "ol")))
                flush()
            else:
                walk(child, depth)

    walk(BeautifulSoup(html, "lxml"), 0)
    flush()
    return "\n".join(lines)


def _li_marker(li: Any) -> str:
    if li.parent is None or li.parent.name != "ol":
        return "- "
    start = str(li.parent.get("start") or "1")
    return f"{(int(start) if start.isdigit() else 1) + len(li.find_previous_siblings('li'))}. "
