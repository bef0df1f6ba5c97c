"""The one record type every part of trialscope speaks: parser -> store -> index -> CLI.

``TrialRecord.to_dict()`` is the ``--json`` contract (DESIGN.md, "The record"): keys may be
added, none renamed.  Nested values are plain dicts and lists so the record round-trips through
JSON unchanged (``TrialRecord.from_dict(r.to_dict()) == r``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypedDict

# -- the record's nested parts ------------------------------------------------------------------
# They stay plain dicts and lists at run time (the JSON document is ``dataclasses.asdict``);
# these TypedDicts only tell the type checker their keys.  ``total=False``: a registry fills
# the keys it has (``Location.ca_decision`` is EU CTR's), and older stored records lack later
# keys.


class CriterionItem(TypedDict):
    """One eligibility item and its sub-items (``extract.criteria.split_criteria``)."""

    text: str
    children: list[CriterionItem]


class Dose(TypedDict, total=False):
    """A dose read from a text (``extract.doses``): ``value`` [``value_max``] ``unit``
    [/``per``], as written in ``text``; an arm's dose taken from one of its interventions
    names it (``intervention``)."""

    value: float
    value_max: float
    unit: str
    per: str | None
    text: str
    intervention: str


class Window(TypedDict):
    """The time span of a ``within`` threshold: ``value`` ``unit`` (weeks, months...)."""

    value: float
    unit: str


class _ThresholdKeys(TypedDict):
    measure: str
    op: str
    # What ``kind`` says: a number (age, scale, lab, vital, count, duration, window), a word
    # (antibody, one class: "III", "AChR+") or a list of words (a set of classes: "in").
    value: Any
    unit: str | None
    text: str
    kind: str


class Threshold(_ThresholdKeys, total=False):
    """One eligibility limit read from a criterion (``extract.thresholds``): ``measure`` ``op``
    ``value`` [``unit``], the ``section`` (inclusion / exclusion) and ``item`` ("3", "2.1") it
    came from, its ``kind`` (lab, scale, age, class, antibody, window, ...)."""

    section: str
    item: str
    op_inferred: bool  # a lost sign ("=") read as the direction criteria on the measure take
    recognised: bool  # False: a measure outside the shipped table
    cohort: str  # the cohort an age band or a window applies to
    drugs: list[str]  # a window's drugs (its measure joins them)
    window: Window
    direction: str  # a window's: before / after / during
    _at: int  # while extracting only: where its number stood (extract_from_text drops it)
    _span: str  # while extracting only: the words a time since was read from
    _change: int  # while extracting only: where a change of a quantity was read


class Eligibility(TypedDict, total=False):
    text: str | None
    inclusion: list[CriterionItem]
    exclusion: list[CriterionItem]
    min_age: str | None
    max_age: str | None
    min_age_years: float | None
    max_age_years: float | None
    sex: str | None
    healthy_volunteers: bool | None
    std_ages: list[str]
    age_groups: list[str]
    study_population: str | None
    sampling_method: str | None
    thresholds: list[Threshold]


class Arm(TypedDict, total=False):
    label: str
    type: str | None
    description: str | None
    interventions: list[str]
    doses: list[Dose]
    sample_size: int | None


class Intervention(TypedDict, total=False):
    name: str
    type: str | None
    description: str | None
    other_names: list[str]
    arm_labels: list[str]
    doses: list[Dose]
    code: str | None
    role: str | None
    atmp: bool


class Location(TypedDict, total=False):
    facility: str | None
    department: str | None
    city: str | None
    state: str | None
    zip: str | None
    country: str | None
    status: str | None
    geo: dict[str, Any] | None
    level: str | None
    member_state: str | None
    authority: str | None
    url: str | None
    ca_decision: str | None
    ca_decision_date: str | None
    ethics_opinion: str | None
    ethics_opinion_date: str | None
    first_entered: str | None


class Contact(TypedDict, total=False):
    name: str | None
    role: str | None
    phone: str | None
    email: str | None
    affiliation: str | None
    address: str | None


class Official(TypedDict, total=False):
    name: str | None
    affiliation: str | None
    role: str | None


class SecondaryId(TypedDict, total=False):
    id: str
    type: str | None
    domain: str | None


class Enrollment(TypedDict, total=False):
    count: int | None
    type: str | None
    text: str
    target: int | None
    final: int | None
    eea: int | None
    rest_of_world: int | None
    note: str  # how to read ``count`` when the page's figure is not what it seems


class CellTherapy(TypedDict, total=False):
    """A cell therapy's facts (``extract.celltherapy``); ``{}`` when the trial is not one."""

    modality: list[str]
    targets: list[str]
    cell_source: str | None


@dataclass
class TrialRecord:
    trial_id: str
    registry: str
    url: str | None = None
    secondary_ids: list[SecondaryId] = field(default_factory=list)
    title: str | None = None
    official_title: str | None = None
    acronym: str | None = None
    status: str = "UNKNOWN"
    status_raw: str | None = None  # the registry's own word, kept when it is not in the enum
    why_stopped: str | None = None
    phases: list[str] = field(default_factory=list)
    study_type: str | None = None
    design: dict[str, Any] = field(default_factory=dict)
    enrollment: Enrollment = field(default_factory=lambda: Enrollment(count=None, type=None))
    start_date: str | None = None
    start_date_type: str | None = None
    primary_completion_date: str | None = None
    primary_completion_date_type: str | None = None
    completion_date: str | None = None
    completion_date_type: str | None = None
    first_posted: str | None = None
    last_updated: str | None = None
    sponsor: str | None = None
    sponsor_class: str | None = None
    collaborators: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    mesh_terms: list[str] = field(default_factory=list)
    interventions: list[Intervention] = field(default_factory=list)
    arms: list[Arm] = field(default_factory=list)
    eligibility: Eligibility = field(default_factory=Eligibility)
    locations: list[Location] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    officials: list[Official] = field(default_factory=list)
    summary: str | None = None
    description: str | None = None
    primary_outcomes: list[str] = field(default_factory=list)
    has_results: bool = False
    related_ids: list[str] = field(default_factory=list)
    # Cell-therapy facts: {"modality": ["CAR-T", ...], "targets": ["CD19", "BCMA"],
    # "cell_source": "autologous" | "allogeneic" | None}; empty when not a cell therapy.
    cell_therapy: CellTherapy = field(default_factory=CellTherapy)
    # vocabulary values the parser did not recognise: {"status": "Withheld", ...}; they are
    # kept raw here (and in the field itself) so nothing is coerced silently.
    unknown_vocab: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialRecord:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    # Convenience views used by the index and the CLI.
    @property
    def countries(self) -> list[str]:
        return sorted({country for loc in self.locations if (country := loc.get("country"))})

    @property
    def secondary_id_values(self) -> list[str]:
        return [s["id"] for s in self.secondary_ids if s.get("id")]


RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(TrialRecord))


# Columns of the flat (CSV) form, in order; lists are joined with "; " by the writer.
ROW_COLUMNS: tuple[str, ...] = (
    "trial_id", "registry", "title", "status", "phases", "study_type", "enrollment_count",
    "enrollment_type", "start_date", "primary_completion_date", "completion_date",
    "first_posted", "last_updated", "sponsor", "conditions", "interventions", "arms",
    "countries", "min_age_years", "max_age_years", "sex", "inclusion_items", "exclusion_items",
    "has_results", "url",
)


def to_row(rec: TrialRecord) -> dict[str, Any]:
    """The record flattened to one row of scalars and lists (CSV export, --csv listings)."""
    el = rec.eligibility or {}

    def dose_text(arm: Arm) -> str:
        doses = ", ".join(d.get("text") or "" for d in arm.get("doses") or [])
        return f"{arm.get('label')}" + (f" ({doses})" if doses else "")

    return {
        "trial_id": rec.trial_id, "registry": rec.registry, "title": rec.title,
        "status": rec.status, "phases": rec.phases, "study_type": rec.study_type,
        "enrollment_count": (rec.enrollment or {}).get("count"),
        "enrollment_type": (rec.enrollment or {}).get("type"),
        "start_date": rec.start_date, "primary_completion_date": rec.primary_completion_date,
        "completion_date": rec.completion_date, "first_posted": rec.first_posted,
        "last_updated": rec.last_updated, "sponsor": rec.sponsor, "conditions": rec.conditions,
        "interventions": [iv.get("name") for iv in rec.interventions],
        "arms": [dose_text(a) for a in rec.arms], "countries": rec.countries,
        "min_age_years": el.get("min_age_years"), "max_age_years": el.get("max_age_years"),
        "sex": el.get("sex"), "inclusion_items": len(el.get("inclusion") or []),
        "exclusion_items": len(el.get("exclusion") or []), "has_results": rec.has_results,
        "url": rec.url,
    }
