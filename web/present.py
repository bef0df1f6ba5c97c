"""What the trial page shows, from the record: the card `trials show` prints, as data a
template lays out (doses, limits and cell-therapy facts formatted as the card formats them)."""

from __future__ import annotations

from typing import Any

from trialscope.app.present import (
    cell_therapy_line,
    eligibility_basics,
    format_dose,
    format_threshold,
    item_label,
    record_facts,
)
from trialscope.core.record import CellTherapy, CriterionItem, TrialRecord


def present_trial(rec: TrialRecord) -> dict[str, Any]:
    facts = record_facts(rec, blank="–")
    cell = cell_therapy_line(getattr(rec, "cell_therapy", None) or CellTherapy())
    if cell:
        facts.append(("Cell therapy", cell))
    facts.append(("Results posted", "yes" if rec.has_results else "no"))
    arms = [{**arm, "dose_text": ", ".join(format_dose(d) for d in arm.get("doses") or [])}
            for arm in rec.arms or []]
    return {"facts": facts, "arms": arms}


def eligibility_view(rec: TrialRecord) -> dict[str, Any]:
    """The inclusion / exclusion trees, each item with its path ("5.2") and the limits read
    from it, so the page marks each limit in place."""
    el = rec.eligibility or {}
    by_item: dict[tuple[str, str], list[str]] = {}
    thresholds = el.get("thresholds") or []
    for t in thresholds:
        key = (str(t.get("section") or ""), str(t.get("item") or ""))
        by_item.setdefault(key, []).append(format_threshold(t))

    def walk(section: str, items: list[CriterionItem], prefix: str) -> list[dict[str, Any]]:
        out = []
        for n, item in enumerate(items, 1):
            path = f"{prefix}{n}"
            out.append({"text": item.get("text") or "", "path": path,
                        "limits": by_item.pop((section, path), []),
                        "children": walk(section, item.get("children") or [], path + ".")})
        return out

    trees = [("Inclusion", walk("inclusion", el.get("inclusion") or [], "")),
             ("Exclusion", walk("exclusion", el.get("exclusion") or [], ""))]
    # limits whose item is not in the tree (criteria the registry gives as one text block)
    loose = [f"{item_label(sec, item)}: {text}" if item else text
             for (sec, item), texts in by_item.items() for text in texts]
    return {"trees": trees, "loose": loose,
            "basics": eligibility_basics(el, refused="not accepted"),
            "count": len(thresholds), "text": el.get("text") or ""}
