"""Facts derived from a parsed record, the same way whatever registry it came from.

Every parser ends with ``enrich(record)``: eligibility thresholds from the criteria items (when
the parser did not extract them itself) and the cell-therapy facts (modality, targets, cell
source).  Idempotent, so calling it twice is harmless.
"""

from __future__ import annotations

from trialscope.core.record import TrialRecord
from trialscope.extract.celltherapy import extract_cell_therapy
from trialscope.extract.thresholds import extract_thresholds


def enrich(record: TrialRecord) -> TrialRecord:
    el = record.eligibility
    if el and not el.get("thresholds") and (el.get("inclusion") or el.get("exclusion")):
        el["thresholds"] = extract_thresholds(
            {"inclusion": el.get("inclusion") or [], "exclusion": el.get("exclusion") or []})
    record.cell_therapy = extract_cell_therapy(record)
    return record
