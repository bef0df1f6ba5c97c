"""Words and cells for people, shared by every front end: how a dose, a limit, a criteria item
and the record's facts read on the terminal card and on the web page, and the CSV rules of
exports (formula cells neutralised)."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Mapping
from typing import IO, Any

from trialscope.core.record import CellTherapy, Dose, Eligibility, Threshold, TrialRecord
from trialscope.core.vocab import phase_label


def format_dose(dose: Dose) -> str:
    value = dose.get("value")
    if value is None:
        return dose.get("text") or ""
    def num(v: float) -> str:
        if v >= 1e4:
            mant, exp = f"{v:.2e}".split("e")
            return f"{float(mant):g} × 10^{int(exp)}"
        return f"{v:g}"
    text = num(value)
    if dose.get("value_max") is not None:
        text += f"–{num(dose['value_max'])}"
    text += f" {dose.get('unit') or ''}".rstrip()
    if dose.get("per"):
        text += f"/{dose['per']}"
    return text


_OPS = {">=": "≥", "<=": "≤", "in": "in", "=": "=", ">": ">", "<": "<"}


def format_threshold(t: Threshold) -> str:
    """'MG-ADL ≥ 6', 'MGFA in IIa–IVa', 'rituximab within 6 months before'."""
    value = t.get("value")
    if t.get("op") == "within":
        win: Mapping[str, Any] = t.get("window") or {}
        text = f"{t.get('measure')} within {win.get('value', value):g} {win.get('unit', '')}"
        return text + (f" {t['direction']}" if t.get("direction") else "")
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    elif isinstance(value, float):
        value = f"{value:g}"
    unit = f" {t['unit']}" if t.get("unit") and t.get("unit") != "years" else ""
    if t.get("unit") == "years":
        unit = " years"
    inferred = " (operator inferred)" if t.get("op_inferred") else ""
    inferred += " (unrecognised measure)" if t.get("recognised") is False else ""
    op = t.get("op")
    shown = _OPS.get(op, op) if op is not None else op
    return f"{t.get('measure')} {shown} {value}{unit}{inferred}"


def record_facts(rec: TrialRecord, blank: str = "-") -> list[tuple[str, str]]:
    """The record's own facts as (label, text), in the card's order: the card and the web
    page's trial view both start from these (``blank`` marks a fact the record lacks)."""
    enrol = rec.enrollment or {}

    def dated(value: str | None, kind: str | None) -> str:
        return (f"{value} ({kind.lower()})" if kind else value) if value else blank

    facts = [
        ("Status", rec.status + (f" (registry: {rec.status_raw})" if rec.status_raw else "")),
        ("Phase", phase_label(rec.phases)),
        ("Type", rec.study_type or blank),
        ("Enrollment", f"{enrol.get('count')} ({(enrol.get('type') or '').lower()})"
         if enrol.get("count") is not None else blank),
        ("Start", dated(rec.start_date, rec.start_date_type)),
        ("Primary completion", dated(rec.primary_completion_date,
                                     rec.primary_completion_date_type)),
        ("Completion", dated(rec.completion_date, rec.completion_date_type)),
        ("First posted", rec.first_posted or blank),
        ("Last updated", rec.last_updated or blank),
        ("Sponsor", rec.sponsor or blank),
    ]
    if rec.collaborators:
        facts.append(("Collaborators", "; ".join(rec.collaborators)))
    if rec.why_stopped:
        facts.append(("Why stopped", rec.why_stopped))
    if rec.acronym:
        facts.append(("Acronym", rec.acronym))
    if rec.secondary_ids:
        facts.append(("Other ids", ", ".join(str(s.get("id")) for s in rec.secondary_ids)))
    return facts


def cell_therapy_line(cell: CellTherapy) -> str:
    """'CAR-T; targets BCMA, CD19; autologous' from the record's cell-therapy facts."""
    parts = []
    if cell.get("modality"):
        parts.append(", ".join(cell["modality"]))
    if cell.get("targets"):
        parts.append("target" + ("s " if len(cell["targets"]) > 1 else " ")
                     + ", ".join(cell["targets"]))
    if cell.get("cell_source"):
        source = cell["cell_source"]
        parts.append(", ".join(source) if isinstance(source, list) else str(source).lower())
    return "; ".join(parts)


def item_label(section: str | None, item: str | None) -> str:
    """Where a limit sits, as the card numbers it: ('inclusion', '5.2') -> 'Inclusion 5b'
    (top-level items are numbered, nested ones lettered)."""
    parts = [p for p in str(item or "").split(".") if p]
    label = parts[0] if parts else ""
    for p in parts[1:]:
        label += (chr(96 + int(p)) if p.isdigit() and 0 < int(p) <= 26 else f"-{p}")
    return f"{(section or '').capitalize()} {label}".strip()


def eligibility_basics(el: Eligibility, refused: str = "no") -> str:
    """Age, sex and healthy volunteers, as one line ('' when the record has none of them);
    ``refused`` words healthy volunteers not accepted (the card: "no")."""
    parts = []
    if el.get("min_age") or el.get("max_age"):
        parts.append(f"age {el.get('min_age') or 'any'} to {el.get('max_age') or 'any'}")
    if el.get("sex"):
        parts.append(f"sex {str(el['sex']).lower()}")
    if el.get("healthy_volunteers") is not None:
        parts.append("healthy volunteers " + ("accepted" if el["healthy_volunteers"]
                                              else refused))
    return "; ".join(parts)


def write_csv(rows: Iterable[dict[str, Any]], columns: list[str], out: IO[str]) -> None:
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in columns})


def _cell(value: Any) -> Any:
    value = _neutralise(_flat(value))
    if isinstance(value, str) and "\r" in value:
        # csv quotes a cell holding the line terminator ("\n") but not a bare CR, which
        # readers then take for a line break: line breaks in a cell are written as "\n".
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return value


def _flat(value: Any) -> Any:
    if isinstance(value, list):
        return "; ".join(str(_flat(v)) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else value


# CSV formula injection (OWASP): a spreadsheet runs a cell that begins with one of these as a
# formula.  Such text cells get a leading apostrophe, which spreadsheets show as text.
# Numbers are left alone, and so is text that is just a number ("-1.5", "+3"): a spreadsheet
# reads those as the number they are, never as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _neutralise(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START) \
            and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value
