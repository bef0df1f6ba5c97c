"""Registry id patterns, cheap to import (the CLI validates ids before loading any parser)."""

from __future__ import annotations

import re

NCT_ID_RE = re.compile(r"^NCT\d{8}$")


def normalise_nct_id(text: str | None) -> str | None:
    """'nct06958939 ' -> 'NCT06958939'; anything not shaped like an NCT id -> None."""
    if not text or not isinstance(text, str):  # a number where the id belongs is no id
        return None
    candidate = text.strip().upper()
    return candidate if NCT_ID_RE.match(candidate) else None
