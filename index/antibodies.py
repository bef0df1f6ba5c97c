"""Antibody facts of a record, as the index keeps them.

The criteria extractor (extract/thresholds.py) reads antibody limits ("AChR antibody
positive", "MuSK+", "seronegative") into record.eligibility["thresholds"].  The index keeps
them in the ``antibodies`` field (schema.py): "req:achr+" (an inclusion limit: the trial
takes patients with it), "only:achr+" (the only antibody the inclusion limits admit), and
"not:musk+" (an exclusion limit).  An antibody subtype intent ("AChR-positive",
"seronegative") is satisfied by a trial restricted to that antibody, satisfied in part by
one that admits it without restricting to it, and not at all by a trial whose limits
admit only other antibodies or exclude this one.
"""

from __future__ import annotations

from typing import Any

ANTIBODY_FIELD = "antibodies"
ANTIBODIES = {"achr": "achr+", "musk": "musk+", "lrp4": "lrp4+",
              "seronegative": "seronegative"}


def record_antibodies(record: Any) -> list[str]:
    """The ``antibodies`` values of one record (see above)."""
    required: list[str] = []
    excluded: list[str] = []
    for t in (record.eligibility or {}).get("thresholds") or []:
        if t.get("kind") != "antibody":
            continue
        value = str(t.get("value") or "").lower()
        if value not in ANTIBODIES.values():
            continue  # "seropositive": a viral serology as often as an antibody status
        if value == "seronegative" and "sero" not in str(t.get("text") or "").lower():
            continue  # "triple-negative" breast cancer is no serostatus
        (excluded if t.get("section") == "exclusion" else required).append(value)
    out = [f"req:{v}" for v in dict.fromkeys(required)]
    if len(set(required)) == 1:
        out.append(f"only:{required[0]}")
    out += [f"not:{v}" for v in dict.fromkeys(excluded) if v not in required]
    return out
