"""EU Clinical Trials Register (clinicaltrialsregister.eu) -> TrialRecord.  Pure: no HTTP.

Three payloads:

* the protocol page ``/ctr-search/trial/<EudraCT>/<MS>`` (``parse_trial_html``): one member
  state's protocol, sections A-P as ``<table class="section">`` rows of code / label / value;
* the search results page (``parse_search_html``): one dict per hit, not a record;
* the "full text" download (``parse_fulltext``): ``A.1 Member State Concerned: ...`` lines, one
  block per member state (a block starts at ``Summary``).

Rules (why they are as they are):

* ``trial_id`` is the EudraCT number ("2015-000590-12"), as DESIGN.md's example; the member
  state is not part of it.  Blocks of the same number merge into ONE record: countries and
  per-state status, authority and dates in ``locations`` (one entry per member state, the first
  block of a state wins when a state appears twice), title / conditions / criteria / objectives
  from the first block that has the English (untranslated) field: fields suffixed "(es)" etc.
  are translations and are not used.  The raw fragment of a merged record is its blocks' text.
* Overall status: the "most active" member-state status (``_STATUS_ORDER``): a trial ongoing
  in one state is ongoing.  Statuses map to the enum only where the meaning is clear
  (``EU_STATUS``); "Ongoing", "Restarted", "Not Authorised", "Prohibited by CA", ... are kept
  raw and listed in ``unknown_vocab``.
* Dates: ``first_posted`` = earliest "first entered in the EudraCT database"; ``start_date`` =
  the register's own search-page "Start Date" (an EEA trial's date of authorisation to proceed:
  the later of the competent authority's authorisation and the favourable ethics opinion;
  earliest over member states); ``completion_date`` = "Date of the global end of the trial".
* Ages come from the F.1 age-group flags (``AGE_GROUPS``): the lowest lower bound and the
  highest upper bound of the groups ticked; "Elderly (>=65 years)" means no upper limit.
  Sex from F.2.1 / F.2.2; healthy volunteers from F.3.1.
* ``JSON_ERROR_HERE`` (ctrdata's marker for a value it could not read) is a missing value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from lxml import html as lxml_html

from trialscope.core.record import Eligibility, Intervention, Location, TrialRecord
from trialscope.core.vocab import Status, normalise_status
from trialscope.extract.criteria import split_criteria
from trialscope.extract.doses import parse_doses
from trialscope.extract.enrich import enrich
from trialscope.parser.errors import ParseError, utf8
from trialscope.parser.ids import EUDRACT_RE, normalise_eudract  # noqa: F401 (re-exported)

REGISTRY = "euctr"
BASE_URL = "https://www.clinicaltrialsregister.eu"
TRIAL_URL = BASE_URL + "/ctr-search/trial/{}/{}"
SEARCH_URL = BASE_URL + "/ctr-search/search?query=eudract_number:{}"

_MISSING_KEYS = {"", "jsonerrorhere", "notapplicable", "na", "none", "notavailable",
                 "informationnotpresentineudract"}

MEMBER_STATES = {
    "AT": "Austria", "BE": "Belgium", "BG": "Bulgaria", "HR": "Croatia", "CY": "Cyprus",
    "CZ": "Czechia", "DK": "Denmark", "EE": "Estonia", "FI": "Finland", "FR": "France",
    "DE": "Germany", "GR": "Greece", "EL": "Greece", "HU": "Hungary", "IS": "Iceland",
    "IE": "Ireland", "IT": "Italy", "LV": "Latvia", "LI": "Liechtenstein", "LT": "Lithuania",
    "LU": "Luxembourg", "MT": "Malta", "NL": "Netherlands", "NO": "Norway", "PL": "Poland",
    "PT": "Portugal", "RO": "Romania", "SK": "Slovakia", "SI": "Slovenia", "ES": "Spain",
    "SE": "Sweden", "GB": "United Kingdom",
}
_STATE_CODES = {name.lower(): code for code, name in MEMBER_STATES.items() if code != "EL"}
_STATE_CODES["czech republic"] = "CZ"

# The one local status table: EU CTR words vocab.py does not know and whose meaning is clear.
EU_STATUS = {
    "prematurelyended": Status.TERMINATED,
    "temporarilyhalted": Status.SUSPENDED,
    "suspendedbyca": Status.SUSPENDED,
}
# Merging member states: the first status in this order wins (unknown words rank last).
_STATUS_ORDER = ("recruiting", "ongoing", "restarted", "authorised", "temporarilyhalted",
                 "suspendedbyca", "notrecruiting", "completed", "prematurelyended",
                 "notauthorised", "prohibitedbyca", "gbnolongerineueea", "trialnowtransitioned",
                 "notavailable")

# F.1 age groups: code -> (label, ClinicalTrials.gov std age, lower years, upper years or None).
AGE_GROUPS = {
    "F.1.1.1": ("In utero", "CHILD", 0.0, 0.0),
    "F.1.1.2": ("Preterm newborn infants", "CHILD", 0.0, round(27 / 365.25, 4)),
    "F.1.1.3": ("Newborns (0-27 days)", "CHILD", 0.0, round(27 / 365.25, 4)),
    "F.1.1.4": ("Infants and toddlers (28 days-23 months)", "CHILD", round(28 / 365.25, 4),
                round(23 / 12, 4)),
    "F.1.1.5": ("Children (2-11 years)", "CHILD", 2.0, 11.0),
    "F.1.1.6": ("Adolescents (12-17 years)", "CHILD", 12.0, 17.0),
    "F.1.2": ("Adults (18-64 years)", "ADULT", 18.0, 64.0),
    "F.1.3": ("Elderly (>=65 years)", "OLDER_ADULT", 65.0, None),
}

_KEY = re.compile(r"[^a-z0-9]+")


def _key(text: str) -> str:
    return _KEY.sub("", text.lower())




def normalise_eu_status(raw: str | None) -> tuple[str, bool]:
    value, known = normalise_status(raw)
    if known or not raw:
        return value, known
    hit = EU_STATUS.get(_key(raw))
    return (hit.value, True) if hit else (value, False)


def merge_statuses(raws: list[str | None]) -> str | None:
    """The most active of several member states' raw statuses (see ``_STATUS_ORDER``)."""
    present = [r for r in raws if r and r.strip()]
    if not present:
        return None
    rank = {k: i for i, k in enumerate(_STATUS_ORDER)}
    return min(present, key=lambda r: rank.get(_key(r), len(rank) - 1.5))


def ages_from_groups(flags: dict[str, bool]) -> Eligibility:
    """F.1 flags {code: ticked} -> min/max age in years, std ages and group labels."""
    ticked = [AGE_GROUPS[c] for c in AGE_GROUPS if flags.get(c)]
    if not ticked:
        return {"min_age_years": None, "max_age_years": None, "std_ages": [], "age_groups": []}
    uppers = [g[3] for g in ticked]
    return {
        "min_age_years": min(g[2] for g in ticked),
        "max_age_years": None if None in uppers else max(u for u in uppers if u is not None),
        "std_ages": list(dict.fromkeys(g[1] for g in ticked)),
        "age_groups": [g[0] for g in ticked],
    }


def clean_value(text: str | None) -> str | None:
    """Strip, drop ctrdata's marker and placeholders, join soft-hyphenated words ('allo¬graft')."""
    if text is None:
        return None
    text = re.sub(r"(?<=\w)¬\s*(?=\w)", "", text.replace("\r", ""))
    lines = [ln.strip() for ln in text.split("\n")]
    text = "\n".join(lines).strip()
    return None if _key(text) in _MISSING_KEYS else text


# --- the field model shared by the HTML page and the full text -----------------------------

@dataclass
class _Field:
    code: str  # "A.3", "E.8.9.1", "N.", "SUMMARY", or a group marker "IMP" / "SPONSOR" / "PLACEBO"
    label: str
    lang: str | None
    value: str | None


@dataclass
class _Block:
    fields: list[_Field] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def values(self, code: str, label: str | None = None) -> list[str]:
        out = []
        for f in self.fields:
            if f.code == code and f.lang is None and (
                    label is None or _key(f.label).startswith(_key(label))):
                value = clean_value(f.value)
                if value:
                    out.append(value)
        return out

    def first(self, code: str, label: str | None = None) -> str | None:
        found = self.values(code, label)
        return found[0] if found else None

    def yes(self, code: str, label: str | None = None) -> bool | None:
        value = (self.first(code, label) or "").lower()
        return True if value.startswith("yes") else False if value.startswith("no") else None

    def groups(self, marker: str) -> list[list[_Field]]:
        """The fields of each group ("IMP", "PLACEBO": section D; "SPONSOR": section B) in order.
        A group runs from its marker to the next marker or the end of its section."""
        section = "B" if marker == "SPONSOR" else "D"
        out: list[list[_Field]] = []
        current: list[_Field] | None = None
        for f in self.fields:
            if f.code in _MARKERS:
                current = [] if f.code == marker else None
                if current is not None:
                    out.append(current)
            elif current is not None and f.code[:1] == section:
                current.append(f)
            else:
                current = None
        return out


def _first(blocks: list[_Block], code: str, label: str | None = None) -> str | None:
    return next((v for b in blocks if (v := b.first(code, label))), None)


# --- protocol page (HTML) ------------------------------------------------------------------

def _html_root(text: str | bytes, source: str | None) -> etree._Element:
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str) or not text.strip():
        raise ParseError("empty", "empty page", source=source)
    parser = lxml_html.HTMLParser(encoding="utf-8", no_network=True, remove_comments=True,
                                  remove_pis=True)
    try:
        return lxml_html.document_fromstring(utf8(text, source=source), parser=parser)
    except (etree.ParserError, ValueError) as exc:
        raise ParseError("bad_html", f"HTML could not be read ({exc})", source=source) from exc


def cell_text(el: etree._Element) -> str:
    """Visible text of an element: <br> is a line break, other whitespace collapses."""
    parts: list[str] = []

    def walk(node: etree._Element) -> None:
        if not isinstance(node.tag, str) or node.tag in ("script", "style"):
            return
        if node.tag == "br":
            parts.append("\n")
        elif node.text:
            parts.append(re.sub(r"\s+", " ", node.text))
        if node.tag in ("tr", "p", "div") and parts and not parts[-1].endswith("\n"):
            parts.append("\n")
        for child in node:
            walk(child)
            if child.tail:
                parts.append(re.sub(r"\s+", " ", child.tail))

    walk(el)
    return "\n".join(ln.strip() for ln in "".join(parts).split("\n")).strip()


def _classes(el: etree._Element) -> set[str]:
    return set((el.get("class") or "").split())


def _page_block(root: etree._Element) -> _Block:
    block = _Block()
    for tr in root.iter("tr"):
        tds = [c for c in tr if c.tag == "td"]
        if len(tds) == 3 and "first" in _classes(tds[0]) and "third" in _classes(tds[2]):
            block.fields.append(_Field(cell_text(tds[0]), cell_text(tds[1]), None,
                                       cell_text(tds[2])))
        elif len(tds) == 2 and "cellGrey" in _classes(tds[0]):
            label = cell_text(tds[0]).rstrip(":").strip()
            value = cell_text(tds[1])
            if label == "Trial results" and any("result" in (a.get("href") or "")
                                                for a in tds[1].iter("a")):
                value = value or "View results"
            block.fields.append(_Field("SUMMARY", label, None, value))
        elif len(tds) == 1 and "cellBlue" in _classes(tds[0]):
            _marker(block, cell_text(tds[0]))
    return block


_MARKERS = ("IMP", "SPONSOR", "PLACEBO")
_MARKER = re.compile(r"^(?:B\.\s*)?(Sponsor|D\.\s*IMP|D\.8\s+Placebo)\s*:?\s*(\d+)$",
                     re.IGNORECASE)


def _marker(block: _Block, text: str) -> bool:
    m = _MARKER.match(text.strip())
    if not m:
        return False
    kind = _key(m.group(1))
    code = "SPONSOR" if kind == "sponsor" else "IMP" if kind == "dimp" else "PLACEBO"
    block.fields.append(_Field(code, "", None, m.group(2)))
    return True


def parse_trial_html(html: str | bytes, *, url: str | None = None) -> TrialRecord:
    """One member state's protocol page -> TrialRecord.  Raises ParseError only."""
    root = _html_root(html, url)
    block = _page_block(root)
    if not block.fields or not (block.first("A.2") or block.first("SUMMARY", "EudraCT")):
        raise ParseError("not_a_study", "no EU CTR protocol sections (A.2 EudraCT number) here",
                         source=url)
    if url and not block.first("SUMMARY", "Link"):
        block.fields.append(_Field("SUMMARY", "Link", None, url))
    return _safe_build([block], url, url)


# --- full text ----------------------------------------------------------------------------

# Field codes: "A.3", "B.3.1 and B.3.2", "D.3.8 to D.3.10"; "N." and "P." are the only bare
# letters used as field codes.  Other bare letters ("A. Protocol Information") are section titles.
_NUM_CODE = r"[A-P](?:\.\d+)+(?:\s+(?:and|to)\s+[A-P](?:\.\d+)+)?"
_FIELD_LINE = re.compile(
    rf"^(?P<code>{_NUM_CODE}|[NP]\.(?=\s))[ \t]+"
    r"(?P<label>(?:Ethics Committee Opinion: )?[^:?\n]+?\??)"
    r"(?:[ \t]+\((?P<lang>[a-z]{2})\))?[ \t]*(?::|(?<=\?))[ \t]*(?P<value>.*)$")
# A numbered heading has no colon ("E.5 End points", "D.3.10 Strength"); a lettered one is one
# of the form's section titles, so a criterion written "A. Patients ..." stays a criterion.
_HEADING_LINE = re.compile(
    rf"^(?:{_NUM_CODE})[ \t]+[A-Z][^:]*$"
    r"|^[A-P]\. (?:Protocol Information|Sponsor Information|Applicant Identification"
    r"|IMP Identification|General Information on the Trial|Population of Trial Subjects"
    r"|Investigator Networks|Review by the Competent Authority|End of Trial|Information on)"
    r"|^(?:Summary|MedDRA Classification)$")
_SUMMARY_LABELS = ("EudraCT Number", "Sponsor's Protocol Code Number",
                   "National Competent Authority", "Clinical Trial Type", "Trial Status",
                   "Date on which this record was first entered in the EudraCT database",
                   "Link", "Trial results")
_SUMMARY_LINE = re.compile(
    r"^(?P<label>" + "|".join(re.escape(x) for x in _SUMMARY_LABELS) + r"):[ \t]*(?P<value>.*)$")
_FULLTEXT_DETECT = (re.compile(r"^A\.1 Member State Concerned:", re.M),
                    re.compile(r"^A\.2 EudraCT number:", re.M))


def looks_like_euctr_fulltext(text: str) -> bool:
    return isinstance(text, str) and all(p.search(text) for p in _FULLTEXT_DETECT)


def _blocks(text: str) -> list[_Block]:
    """Split the download into member-state blocks of fields.  A block starts at "Summary" (or
    at a second "A.1" line when a file lacks the summaries).  A line that is not a field, a
    heading or a group marker continues the field before it (criteria span many lines)."""
    blocks: list[_Block] = []
    current: _Field | None = None
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        stripped = line.strip()
        field_m = _FIELD_LINE.match(stripped)
        summary_m = _SUMMARY_LINE.match(stripped)
        starts = (stripped == "Summary"
                  or (field_m and field_m.group("code") == "A.1" and blocks
                      and any(f.code == "A.1" for f in blocks[-1].fields))
                  or (not blocks and (field_m or summary_m)))
        if starts:
            blocks.append(_Block())
            current = None
        if not blocks:
            continue  # the download's preamble
        block = blocks[-1]
        block.lines.append(line)
        if _marker(block, stripped):
            current = None
        elif field_m:
            current = _Field(field_m.group("code"), field_m.group("label").rstrip(" ?"),
                             field_m.group("lang"), field_m.group("value"))
            block.fields.append(current)
        elif summary_m and not any(f.code == "A.1" for f in block.fields):
            current = _Field("SUMMARY", summary_m.group("label"), None, summary_m.group("value"))
            block.fields.append(current)
        elif _HEADING_LINE.match(stripped):
            current = None
        elif current is not None:
            current.value = f"{current.value}\n{line.rstrip()}" if current.value else stripped
    return blocks


def parse_fulltext(text: str | bytes, *,
                   source: str | None = None) -> Iterator[tuple[TrialRecord | ParseError, str]]:
    """Full-text download -> one (record or ParseError, raw text) per trial (member-state blocks
    of one EudraCT number merged).  A file with no block at all raises ParseError."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8-sig", errors="replace")
    if not isinstance(text, str) or not looks_like_euctr_fulltext(text):
        raise ParseError("not_euctr", "not an EU CTR full-text download (no 'A.1 Member State "
                         "Concerned' / 'A.2 EudraCT number' lines)", source=source)
    groups: dict[str, list[_Block]] = {}
    for i, block in enumerate(_blocks(text)):
        number = normalise_eudract(block.first("A.2") or block.first("SUMMARY", "EudraCT"))
        groups.setdefault(number or f"#{i}", []).append(block)
    for key, blocks in groups.items():
        raw = "\n".join("\n".join(b.lines).strip("\n") for b in blocks) + "\n"
        where = f"{source} [{key}]" if source else key
        try:
            yield _safe_build(blocks, None, where), raw
        except ParseError as exc:
            yield exc, raw


# --- building the record ---------------------------------------------------------------------

def _safe_build(blocks: list[_Block], url: str | None, source: str | None) -> TrialRecord:
    try:
        return _build(blocks, url, source)
    except ParseError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        raise ParseError("bad_field", f"unexpected structure ({exc!r})", source=source) from exc


def _state(block: _Block) -> tuple[str | None, str | None, str | None]:
    """(member-state code, country, authority) of a block."""
    concerned = block.first("A.1") or block.first("SUMMARY", "National Competent Authority")
    head, _, authority = (concerned or "").partition(" - ")
    country = head.strip() or None
    link = block.first("SUMMARY", "Link") or ""
    m = re.search(r"/trial/[^/]+/([A-Za-z0-9]{2,3})/?$", link)
    code = m.group(1).upper() if m else _STATE_CODES.get((country or "").lower())
    if country and "outside" in country.lower():
        code, country = "3RD", None
    return code, country, authority.strip() or None


def _vocab(rec: TrialRecord, kind: str, raw: str) -> None:
    rec.unknown_vocab.setdefault(kind, []).append(raw)


def _build(blocks: list[_Block], url: str | None, source: str | None) -> TrialRecord:
    number = normalise_eudract(_first(blocks, "A.2") or _first(blocks, "SUMMARY", "EudraCT"))
    if not number:
        raise ParseError("missing_id", "no EudraCT number (A.2)", source=source)
    first_code = _state(blocks[0])[0]
    if url is None:
        url = SEARCH_URL.format(number) if len(blocks) > 1 or not first_code \
            else TRIAL_URL.format(number, first_code)
    rec = TrialRecord(trial_id=number, registry=REGISTRY, url=url)
    rec.official_title = _first(blocks, "A.3")
    rec.title = _first(blocks, "A.3.1") or rec.official_title
    rec.acronym = _first(blocks, "A.3.2")
    sponsors = next((b.values("B.1.1") for b in blocks if b.values("B.1.1")), [])
    rec.sponsor = sponsors[0] if sponsors else None
    rec.collaborators = list(dict.fromkeys(s for s in sponsors[1:] if s != rec.sponsor))
    _identifiers(rec, blocks)
    _status_and_places(rec, blocks)
    sponsor_class = _first(blocks, "B.3.1 and B.3.2")
    rec.sponsor_class = {"commercial": "INDUSTRY", "noncommercial": "OTHER"}.get(
        _key(sponsor_class or ""), sponsor_class)
    primary = next((b for b in blocks if b.first("E.1.1")), blocks[0])
    rec.conditions = primary.values("E.1.1")
    rec.keywords = list(dict.fromkeys(
        primary.values("E.1.1.1") + primary.values("E.1.2", "Term") + primary.values("E.1.1.2")))
    rec.summary = _first(blocks, "E.2.1")
    rec.description = _first(blocks, "E.2.2")
    rec.primary_outcomes = [v for v in [_first(blocks, "E.5.1")] if v]
    rec.study_type = "INTERVENTIONAL"
    _phases_and_design(rec, blocks)
    _interventions(rec, next((b for b in blocks if b.groups("IMP")), blocks[0]))
    _eligibility(rec, blocks)
    planned = (_first(blocks, "F.4.2.2") or _first(blocks, "F.4.2.1")
               or (_first(blocks, "F.4.1") if len(blocks) == 1 else None))
    count = re.sub(r"[^\d]", "", planned or "")
    rec.enrollment = {"count": int(count) if count else None,
                      "type": "ESTIMATED" if count else None}
    rec.has_results = any(_key(b.first("SUMMARY", "Trial results") or "").startswith("view")
                          for b in blocks)
    return enrich(rec)


def _identifiers(rec: TrialRecord, blocks: list[_Block]) -> None:
    seen: set[str] = set()

    def add(value: str | None, typ: str, domain: str | None) -> None:
        if value and value not in seen and value != rec.trial_id:
            seen.add(value)
            rec.secondary_ids.append({"id": value, "type": typ, "domain": domain})

    for b in blocks:
        add(b.first("A.4.1") or b.first("SUMMARY", "Sponsor's Protocol"), "ORG_STUDY_ID",
            rec.sponsor)
        add(b.first("A.5.1"), "REGISTRY", "ISRCTN")
        add(b.first("A.5.2"), "REGISTRY", "ClinicalTrials.gov")
        add(b.first("A.5.3"), "UTN", "WHO")
        for other in b.values("A.5.4"):
            add(other, "OTHER", None)


def _status_and_places(rec: TrialRecord, blocks: list[_Block]) -> None:
    by_state: dict[str, Location] = {}
    raws: list[str | None] = []
    firsts, starts = [], []
    for b in blocks:
        code, country, authority = _state(b)
        raw = b.first("P.", "End of Trial Status") or b.first("SUMMARY", "Trial Status")
        raws.append(raw)
        entered = b.first("SUMMARY", "Date on which")
        ca, ca_date = b.first("N.", "Competent Authority Decision"), b.first(
            "N.", "Date of Competent Authority Decision")
        ec, ec_date = b.first("N.", "Ethics Committee Opinion of"), b.first(
            "N.", "Date of Ethics Committee Opinion")
        firsts += [entered] if entered else []
        if code == "3RD" and entered:
            starts.append(entered)
        elif _key(ca or "") == "authorised" and _key(ec or "") == "favourable" and ca_date \
                and ec_date:
            starts.append(max(ca_date, ec_date))
        rec.completion_date = rec.completion_date or b.first("P.", "Date of the global end")
        state_key = code or country or f"#{len(by_state)}"
        if state_key in by_state:
            continue
        by_state[state_key] = {
            "facility": None, "city": None, "state": None, "country": country, "status": raw,
            "member_state": code, "authority": authority, "first_entered": entered,
            "ca_decision": ca, "ca_decision_date": ca_date, "ethics_opinion": ec,
            "ethics_opinion_date": ec_date,
            "url": TRIAL_URL.format(rec.trial_id, code) if code else None,
        }
    rec.locations = list(by_state.values())
    seen = {(loc["country"] or "").lower() for loc in rec.locations}
    for region in (_first(blocks, "E.8.6.3") or "").split("\n"):
        if region.strip() and region.strip().lower() not in seen:
            seen.add(region.strip().lower())
            rec.locations.append({"facility": None, "city": None, "state": None,
                                  "country": region.strip(), "status": None,
                                  "member_state": None})
    rec.first_posted = min(firsts) if firsts else None
    rec.start_date = min(starts) if starts else None
    overall = merge_statuses(raws)
    rec.status, known = normalise_eu_status(overall)
    if not known:
        rec.status_raw = overall
        _vocab(rec, "status", overall or "")


_PHASE_FLAGS = (("E.7.1", "PHASE1"), ("E.7.2", "PHASE2"), ("E.7.3", "PHASE3"), ("E.7.4", "PHASE4"))


def _phases_and_design(rec: TrialRecord, blocks: list[_Block]) -> None:
    b = next((x for x in blocks if x.first("E.7.1") or x.first("E.8.1")), blocks[0])
    rec.phases = [phase for code, phase in _PHASE_FLAGS if b.yes(code)]
    masking = ("DOUBLE" if b.yes("E.8.1.4") else "SINGLE" if b.yes("E.8.1.3")
               else "NONE" if b.yes("E.8.1.2") else None)
    model = "CROSSOVER" if b.yes("E.8.1.6") else "PARALLEL" if b.yes("E.8.1.5") else None
    arms = re.sub(r"[^\d]", "", b.first("E.8.2.4") or "")
    rec.design = {k: v for k, v in {
        "allocation": "RANDOMIZED" if b.yes("E.8.1.1") else None,
        "intervention_model": model,
        "masking": masking,
        "controlled": b.yes("E.8.1"),
        "placebo": b.yes("E.8.2.2"),
        "arms_count": int(arms) if arms else None,
        "multiple_member_states": b.yes("E.8.5"),
        "trial_type": b.first("SUMMARY", "Clinical Trial Type"),
    }.items() if v is not None}


def _interventions(rec: TrialRecord, b: _Block) -> None:
    for fields in b.groups("IMP"):
        imp = _Block(fields)
        given = [imp.first("D.3.8"), imp.first("D.2.1.1.1"), imp.first("D.3.1"),
                 imp.first("D.3.2"), imp.first("D.3.9.2"), imp.first("D.3.9.3")]
        names = list(dict.fromkeys(n for n in given if n))
        if not names:
            continue
        strength = " ".join(x for x in (imp.first("D.3.10.3"), imp.first("D.3.10.1")) if x)
        description = "; ".join(x for x in (imp.first("D.3.4"), imp.first("D.3.7"), strength)
                                if x) or None
        typ = ("GENETIC" if imp.yes("D.3.11.3.2") else "BIOLOGICAL" if imp.yes("D.3.11.3")
               or imp.yes("D.3.11.2") else "DRUG")
        entry: Intervention = {
            "type": typ, "name": names[0], "description": description,
            "other_names": [n for n in names[1:] if n.lower() != names[0].lower()],
            "arm_labels": [], "role": imp.first("D.1.2 and D.1.3"),
            "doses": parse_doses(strength)}
        same = next((e for e in rec.interventions if e["name"].lower() == names[0].lower()), None)
        if same is None:
            rec.interventions.append(entry)
        else:  # another strength of the same product: one intervention, every dose kept
            same["other_names"] += [n for n in entry["other_names"] if n not in same["other_names"]]
            same["doses"] += [d for d in entry["doses"] if d not in same["doses"]]
            if description and description != same["description"]:
                same["description"] = "\n".join(x for x in (same["description"], description) if x)
    if any(_Block(g).yes("D.8.1") for g in b.groups("PLACEBO")):
        rec.interventions.append({"type": "DRUG", "name": "Placebo", "description": None,
                                  "other_names": [], "arm_labels": [], "role": "Placebo",
                                  "doses": []})


def _eligibility(rec: TrialRecord, blocks: list[_Block]) -> None:
    primary = next((b for b in blocks if b.first("E.3")), blocks[0])
    inc_text, exc_text = primary.first("E.3"), primary.first("E.4")
    inc, exc = split_criteria(inc_text), split_criteria(exc_text)
    b = next((x for x in blocks if x.first("F.1.2")), blocks[0])
    ages = ages_from_groups({code: bool(b.yes(code)) for code in AGE_GROUPS})
    female, male = b.yes("F.2.1"), b.yes("F.2.2")
    sex = "ALL" if female and male else "FEMALE" if female else "MALE" if male else None
    rec.eligibility = {
        "text": "\n\n".join(t for t in (inc_text, exc_text) if t) or None,
        # The inclusion field may carry its own exclusion header; everything in E.4 excludes.
        "inclusion": inc["inclusion"],
        "exclusion": inc["exclusion"] + exc["inclusion"] + exc["exclusion"],
        "min_age": None, "max_age": None, **ages, "sex": sex,
        "healthy_volunteers": b.yes("F.3.1"), "thresholds": [],
    }


# --- search results page --------------------------------------------------------------------

def euctr_html_kind(text: str) -> str | None:
    """'trial' (protocol page), 'search' (results page) or None: a cheap check for dispatch."""
    if not isinstance(text, str) or not re.search(r"EudraCT\s+Number", text):
        return None
    if re.search(r"<table[^>]*\bid=\"section-a\"", text) or re.search(
            r"<table[^>]*class=\"section[^\"]*summary", text):
        return "trial"
    if re.search(r"<table[^>]*class=\"result\"", text):
        return "search"
    return None


def looks_like_euctr_html(text: str) -> bool:
    return euctr_html_kind(text) is not None


def looks_like_euctr_trial(text: str) -> bool:
    return euctr_html_kind(text) == "trial"


def looks_like_euctr_search(text: str) -> bool:
    return euctr_html_kind(text) == "search"


def read_trial_payload(text: str, *, source: str, trial_id: str | None = None
                       ) -> Iterator[tuple[TrialRecord, str]]:
    """The dispatcher's entry point for a trial page (``parser/registries.py``)."""
    yield parse_trial_html(text, url=None), text


def read_fulltext_payload(text: str, *, source: str, trial_id: str | None = None
                          ) -> Iterator[tuple[TrialRecord | ParseError, str]]:
    """The dispatcher's entry point for a full-text download: ``parse_fulltext``."""
    return parse_fulltext(text, source=source)


def parse_search_html(html: str | bytes) -> list[dict[str, Any]]:
    """Search results page -> one dict per hit (no records: a hit is a summary of a trial)."""
    root = _html_root(html, None)
    hits = []
    for table in root.iter("table"):
        if "result" not in _classes(table):
            continue
        hit: dict[str, Any] = {"member_states": [], "has_results": False, "results_url": None}
        for td in table.iter("td"):
            label_el = next((s for s in td if s.tag == "span" and "label" in _classes(s)), None)
            if label_el is None:
                continue
            label = _key(cell_text(label_el))
            full = cell_text(td)
            value = full[len(cell_text(label_el)):].strip() if full.startswith(
                cell_text(label_el)) else full
            _search_cell(hit, label, value, td)
        number = normalise_eudract(hit.get("eudract_number"))
        if not number:
            continue
        hit["eudract_number"] = number
        hit["url"] = (hit["member_states"][0]["url"] if hit["member_states"]
                      else SEARCH_URL.format(number))
        hits.append(hit)
    return hits


_SEARCH_LABELS = {"eudractnumber": "eudract_number",
                  "sponsorprotocolnumber": "sponsor_protocol_number", "startdate": "start_date",
                  "sponsorname": "sponsor", "fulltitle": "title", "medicalcondition": "condition"}


def _search_cell(hit: dict[str, Any], label: str, value: str, td: etree._Element) -> None:
    if label in _SEARCH_LABELS:
        hit[_SEARCH_LABELS[label]] = value or None
        if label == "fulltitle":
            hit["title_truncated"] = value.endswith("...")
    elif label == "populationage":
        hit["population_age"] = [v.strip() for v in value.split(",") if v.strip()]
    elif label == "gender":
        hit["gender"] = [v.strip() for v in value.split(",") if v.strip()]
    elif label == "trialprotocol":
        for a in td.iter("a"):
            href = a.get("href") or ""
            status = a.getnext()
            status_text = cell_text(status).strip("() ") if status is not None and \
                "status" in _classes(status) else None
            code = re.search(r"/trial/[^/]+/([A-Za-z0-9]+)/?$", href)
            hit["member_states"].append({
                "code": code.group(1).upper() if code else None,
                "name": cell_text(a) or None,
                "status": status_text or None,
                "url": BASE_URL + href if href.startswith("/") else href,
            })
    elif label == "trialresults":
        link = next((a.get("href") for a in td.iter("a") if a.get("href")), None)
        hit["has_results"] = link is not None
        hit["results_url"] = (BASE_URL + link if link and link.startswith("/") else link)
