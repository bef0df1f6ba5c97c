"""The one record type every part of trialscope speaks: parser -> store -> index -> CLI.

``TrialRecord.to_dict()`` is the ``--json`` contract (DESIGN.md, "The record"): keys may be
added, none renamed.  Nested values are plain dicts and lists so the record round-trips through
JSON unchanged (``TrialRecord.from_dict(r.to_dict()) == r``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrialRecord:
    trial_id: str
    registry: str
    url: str | None = None
    secondary_ids: list[dict[str, Any]] = field(default_factory=list)
    title: str | None = None
    official_title: str | None = None
    acronym: str | None = None
    status: str = "UNKNOWN"
    status_raw: str | None = None  # the registry's own word, kept when it is not in the enum
    why_stopped: str | None = None
    phases: list[str] = field(default_factory=list)
    study_type: str | None = None
    design: dict[str, Any] = field(default_factory=dict)
    enrollment: dict[str, Any] = field(default_factory=lambda: {"count": None, "type": None})
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
    interventions: list[dict[str, Any]] = field(default_factory=list)
    arms: list[dict[str, Any]] = field(default_factory=list)
    eligibility: dict[str, Any] = field(default_factory=dict)
    locations: list[dict[str, Any]] = field(default_factory=list)
    contacts: list[dict[str, Any]] = field(default_factory=list)
    officials: list[dict[str, Any]] = field(default_factory=list)
    summary: str | None = None
    description: str | None = None
    primary_outcomes: list[str] = field(default_factory=list)
    has_results: bool = False
    related_ids: list[str] = field(default_factory=list)
    # Cell-therapy facts: {"modality": ["CAR-T", ...], "targets": ["CD19", "BCMA"],
    # "cell_source": "autologous" | "allogeneic" | None}; empty when not a cell therapy.
    cell_therapy: dict[str, Any] = field(default_factory=dict)
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
        return sorted({loc["country"] for loc in self.locations if loc.get("country")})

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

    def dose_text(arm: dict[str, Any]) -> str:
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
