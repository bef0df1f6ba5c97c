"""What changed between stored versions of a trial: field-level diffs, a trial's history and
the change feed across all trials.

A diff compares two parsed records (the store keeps one per version) field by field:

- scalars (status, title, dates with their actual/estimated type, enrollment, ...):
  ``old -> new``;
- sets (phases, conditions, keywords, collaborators, ...): what was added and removed;
- keyed lists (arms by label, interventions by name, locations by facility and place):
  added, removed, and changed entries;
- criteria: inclusion and exclusion items (nested ones flattened) added and removed;
- long texts (summary, description): "changed", with both texts in the JSON.

``last_updated`` is not a change of its own (every new version moves it): it is shown as the
version's registry date.  Fields derived from others (``cell_therapy``, ``unknown_vocab``,
criteria thresholds) are left out so one edit is reported once.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from trialscope.store.db import Store

# Scalars, in report order.  Dates carry their type ("2025-06 (ESTIMATED)").
_SCALARS = ("status", "title", "official_title", "acronym", "why_stopped", "study_type",
            "sponsor", "has_results", "first_posted")
_DATES = ("start_date", "primary_completion_date", "completion_date")
_SETS = ("phases", "conditions", "keywords", "mesh_terms", "collaborators", "primary_outcomes",
         "related_ids")
_TEXTS = ("summary", "description")
_ELIGIBILITY_SCALARS = ("min_age", "max_age", "sex", "healthy_volunteers", "std_ages",
                        "study_population", "sampling_method")
# Not compared: the version's own date, and values derived from compared fields.
_IGNORED = frozenset({"last_updated", "url", "cell_therapy", "unknown_vocab", "status_raw",
                      "sponsor_class", "trial_id", "registry"})
_HANDLED = frozenset(_SCALARS + _DATES + _SETS + _TEXTS) | {
    "enrollment", "arms", "interventions", "locations", "eligibility", "secondary_ids",
    "design"} | {f"{d}_type" for d in _DATES}


def diff_records(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Field-level changes from ``old`` to ``new`` (two ``TrialRecord.to_dict()``)."""
    changes: list[dict[str, Any]] = []
    for name in ("status",):
        _scalar(changes, name, old.get(name), new.get(name))
    _enrollment(changes, old.get("enrollment"), new.get("enrollment"))
    for name in _DATES:
        _scalar(changes, name, _dated(old, name), _dated(new, name))
    _set(changes, "phases", old.get("phases"), new.get("phases"))
    for name in _SCALARS[1:]:
        _scalar(changes, name, old.get(name), new.get(name))
    _keyed(changes, "arms", old.get("arms"), new.get("arms"), _arm_key)
    _keyed(changes, "interventions", old.get("interventions"), new.get("interventions"),
           _intervention_key)
    _eligibility(changes, _dict(old.get("eligibility")), _dict(new.get("eligibility")))
    _keyed(changes, "locations", old.get("locations"), new.get("locations"), _location_key)
    for name in _SETS[1:]:
        _set(changes, name, old.get(name), new.get(name))
    _set(changes, "secondary_ids", _ids(old.get("secondary_ids")),
         _ids(new.get("secondary_ids")))
    old_design, new_design = _dict(old.get("design")), _dict(new.get("design"))
    for key in sorted(set(old_design) | set(new_design)):
        _scalar(changes, f"design.{key}", old_design.get(key), new_design.get(key))
    for name in _TEXTS:
        if (old.get(name) or None) != (new.get(name) or None):
            changes.append({"field": name, "kind": "text", "old": old.get(name),
                            "new": new.get(name)})
    # Anything else the record grows later is still reported, if only as "changed".
    for name in sorted((set(old) | set(new)) - _HANDLED - _IGNORED):
        if old.get(name) != new.get(name):
            changes.append({"field": name, "kind": "other", "old": old.get(name),
                            "new": new.get(name)})
    return changes


def summarize(changes: list[dict[str, Any]]) -> str:
    """One line: ``status RECRUITING -> COMPLETED; enrollment 12 -> 9; locations +1``."""
    return "; ".join(_describe(c) for c in changes) or "no compared field changed"


# -- the trial's history and the change feed -------------------------------------------------
def history(store: Store, trial_id: str) -> dict[str, Any] | None:
    """Every stored version of one trial, each with its diff from the one before."""
    tid = store.resolve(trial_id)
    if tid is None:
        return None
    out: list[dict[str, Any]] = []
    previous: dict[str, Any] | None = None
    for info in store.versions(tid):
        record = store.record_at(tid, info["version"])
        current = record.to_dict() if record else {}
        # "url" is the registry's page of the trial as this version gives it; where the
        # version was fetched from (an API page, a saved file, the offline demo's replay
        # server on 127.0.0.1) is "fetched_from"
        entry = {**info, "url": current.get("url") or info.get("url"),
                 "fetched_from": info.get("url"), "last_updated": current.get("last_updated"),
                 "status": current.get("status")}
        if previous is None:
            entry["changes"], entry["summary"] = [], "first version"
        else:
            entry["changes"] = diff_records(previous, current)
            entry["summary"] = summarize(entry["changes"])
        out.append(entry)
        previous = current
    return {"trial_id": tid, "versions": out}


def version_change(store: Store, trial_id: str, version: int) -> dict[str, Any]:
    """One version as a change: a new trial (version 1) or its diff from the version before."""
    record = store.record_at(trial_id, version)
    current = record.to_dict() if record else {}
    base = {"trial_id": trial_id, "version": version,
            "last_updated": current.get("last_updated"), "status": current.get("status"),
            "title": current.get("title")}
    if version <= 1:
        return {**base, "kind": "new", "changes": [],
                "summary": f"new trial ({current.get('status') or 'UNKNOWN'})"}
    before = store.record_at(trial_id, version - 1)
    changes = diff_records(before.to_dict() if before else {}, current)
    return {**base, "kind": "changed", "changes": changes, "summary": summarize(changes)}


def changes_since(store: Store, since: str, *, trial_ids: set[str] | None = None
                  ) -> list[dict[str, Any]]:
    """Every version fetched at or after ``since``, oldest first, as changes."""
    out = []
    for row in store.versions_since(since):
        if trial_ids is not None and row["trial_id"] not in trial_ids:
            continue
        change = version_change(store, row["trial_id"], row["version"])
        change["fetched_at"] = row["fetched_at"]
        out.append(change)
    return out


# -- diff helpers ----------------------------------------------------------------------------
def _scalar(out: list[dict[str, Any]], name: str, old: Any, new: Any) -> None:
    if _blank(old) and _blank(new):
        return
    if old != new:
        out.append({"field": name, "kind": "value", "old": old, "new": new})


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _ids(values: Any) -> list[Any]:
    return [v.get("id") if isinstance(v, dict) else v for v in values or []]


def _dated(record: dict[str, Any], name: str) -> str | None:
    value = record.get(name)
    kind = record.get(f"{name}_type")
    if not value and not kind:
        return None
    return f"{value or '?'} ({kind})" if kind else value


def _enrollment(out: list[dict[str, Any]], old: Any, new: Any) -> None:
    old, new = _dict(old), _dict(new)
    if (old.get("count"), old.get("type")) == (new.get("count"), new.get("type")):
        return
    out.append({"field": "enrollment", "kind": "value", "old": old.get("count"),
                "new": new.get("count"), "old_type": old.get("type"),
                "new_type": new.get("type")})


def _set(out: list[dict[str, Any]], name: str, old: Any, new: Any) -> None:
    before = Counter(str(v) for v in old or [] if v not in (None, ""))
    after = Counter(str(v) for v in new or [] if v not in (None, ""))
    added = sorted((after - before).elements())
    removed = sorted((before - after).elements())
    if added or removed:
        out.append({"field": name, "kind": "set", "old": list(old or []),
                    "new": list(new or []), "added": added, "removed": removed})


def _arm_key(arm: dict[str, Any]) -> str:
    return str(arm.get("label") or "")


def _intervention_key(iv: dict[str, Any]) -> str:
    return " ".join(str(iv.get("name") or "").lower().split())


def _location_key(loc: dict[str, Any]) -> str:
    parts = (loc.get("facility"), loc.get("city"), loc.get("state"), loc.get("country"))
    return ", ".join(str(p) for p in parts if p) or "(unnamed site)"


def _keyed(out: list[dict[str, Any]], name: str, old: Any, new: Any, key: Any) -> None:
    before: dict[str, list[dict[str, Any]]] = {}
    after: dict[str, list[dict[str, Any]]] = {}
    for source, target in ((old or [], before), (new or [], after)):
        for entry in source:
            if isinstance(entry, dict):
                target.setdefault(key(entry), []).append(entry)
    added = [k for k in after if k not in before for _ in after[k]]
    removed = [k for k in before if k not in after for _ in before[k]]
    changed = []
    for k in before:
        if k in after and before[k] != after[k]:
            fields = sorted({f for b, a in zip(before[k], after[k]) for f in set(b) | set(a)
                             if b.get(f) != a.get(f)})
            if len(before[k]) != len(after[k]):
                fields.append("count")
            detail: dict[str, Any] = {"key": k, "fields": fields}
            if name == "locations" and fields == ["status"]:
                detail["old"] = before[k][0].get("status")
                detail["new"] = after[k][0].get("status")
            changed.append(detail)
    if added or removed or changed:
        out.append({"field": name, "kind": "items", "added": added, "removed": removed,
                    "changed": changed})


def _criteria_texts(items: Any) -> list[str]:
    texts: list[str] = []
    for item in items or []:
        if isinstance(item, dict):
            text = " ".join(str(item.get("text") or "").split())
            if text:
                texts.append(text)
            texts.extend(_criteria_texts(item.get("children")))
    return texts


def _eligibility(out: list[dict[str, Any]], old: dict[str, Any], new: dict[str, Any]) -> None:
    for part in ("inclusion", "exclusion"):
        before = Counter(_criteria_texts(old.get(part)))
        after = Counter(_criteria_texts(new.get(part)))
        added = list((after - before).elements())
        removed = list((before - after).elements())
        if added or removed:
            out.append({"field": f"{part}_criteria", "kind": "items", "added": added,
                        "removed": removed, "changed": []})
    for name in _ELIGIBILITY_SCALARS:
        _scalar(out, name, old.get(name), new.get(name))
    old_text = " ".join(str(old.get("text") or "").split())
    new_text = " ".join(str(new.get("text") or "").split())
    same_items = all(Counter(_criteria_texts(old.get(p))) == Counter(_criteria_texts(new.get(p)))
                     for p in ("inclusion", "exclusion"))
    if old_text != new_text and same_items:
        out.append({"field": "eligibility_text", "kind": "text", "old": old.get("text"),
                    "new": new.get("text")})


def _describe(change: dict[str, Any]) -> str:
    name, kind = change["field"], change["kind"]
    if name == "enrollment":
        def side(count: Any, typ: Any, other_typ: Any) -> str:
            shown = "(none)" if count is None else str(count)
            return f"{shown} ({typ})" if typ and typ != other_typ else shown
        old = side(change["old"], change.get("old_type"), change.get("new_type"))
        new = side(change["new"], change.get("new_type"), change.get("old_type"))
        if old == new:  # only the type moved
            old = f"{change['old']} ({change.get('old_type')})"
            new = f"{change['new']} ({change.get('new_type')})"
        return f"enrollment {old} -> {new}"
    if kind == "value":
        return f"{name} {_short(change['old'])} -> {_short(change['new'])}"
    if kind == "set":
        if name == "phases":
            return (f"phases {', '.join(change['old']) or '(none)'} -> "
                    f"{', '.join(change['new']) or '(none)'}")
        return f"{name} {_plus_minus(change['added'], change['removed'])}"
    if kind == "items":
        text = f"{name} {_plus_minus(change['added'], change['removed'])}"
        for c in change["changed"]:
            if "old" in c:
                text += f", {c['key']}: {c['old']} -> {c['new']}"
            else:
                text += f", {c['key']} changed ({', '.join(c['fields'])})"
        return text.replace(f"{name} , ", f"{name} ")
    return f"{name} changed"


def _plus_minus(added: list[str], removed: list[str]) -> str:
    parts = [f"+{_short(a, 50)}" for a in added[:3]]
    if len(added) > 3:
        parts.append(f"+{len(added) - 3} more")
    parts += [f"-{_short(r, 50)}" for r in removed[:3]]
    if len(removed) > 3:
        parts.append(f"-{len(removed) - 3} more")
    return ", ".join(parts)


def _short(value: Any, width: int = 60) -> str:
    if value is None or value == "" or value == []:
        return "(none)"
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"
