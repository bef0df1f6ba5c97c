"""Size limits: what one payload, one record and one extractor may cost.

A hostile or broken input (a zip bomb, a 200 MB description, a criteria text of many MB) must
fail alone and cheaply, not take the import down with it.  Each limit is far above anything a
registry publishes:

* ``MAX_RECORD_BYTES``: one study / one payload file / one zip member, in bytes of text.  The
  largest ClinicalTrials.gov studies (with results posted) are a few MB of JSON; the largest
  of the 1,136 studies in the development corpus is 0.8 MB and the largest bundled capture
  1.5 MB.  32 MiB leaves a wide margin and bounds what one worker holds (a payload is decoded,
  parsed, serialised and indexed: a few copies of it).  A bigger payload fails with reason
  ``too_large``, before it is read whole: a zip member's declared size is checked first, and
  its bytes are read through a bounded decompressor, so a lying header costs no more.
* ``MAX_EXTRACT_CHARS``: how much of one free-text field the extractors read (criteria items,
  eligibility thresholds, doses, cell-therapy facts).  ClinicalTrials.gov caps its longest
  free-text field (detailed description) at 32,000 characters and eligibility criteria at
  20,000; the development corpus' longest criteria text is 19,020 characters.  The text
  beyond is kept whole in the record and indexed; only the structure drawn from it stops
  there.  Without the cap the criteria splitter and the threshold and cell-therapy
  extractors cost ~65 MB of memory and quadratic time per MB of text.
* ``MAX_ITEM_CHARS``: one eligibility criterion, for the threshold extractor (whose per-item
  passes are quadratic in the item's length).  The corpus' longest criterion line is 2,979
  characters.
* ``MAX_CRITERIA_DEPTH``: nesting of criteria items ("1. one of: a) ... i) ..."); real lists
  nest three or four levels.  Deeper items become siblings at the deepest level, so a hostile
  list cannot exhaust the stack.
"""

from __future__ import annotations

from typing import overload

from trialscope.core.errors import TrialsError

MAX_RECORD_BYTES = 32 * 2**20
MAX_EXTRACT_CHARS = 100_000
MAX_ITEM_CHARS = 10_000
MAX_CRITERIA_DEPTH = 16

# What a failure keeps of a payload too large to keep whole (the rest stays in its source).
RAW_PREFIX_BYTES = 64 * 2**10


class TooLarge(TrialsError, ValueError):
    """A payload over ``MAX_RECORD_BYTES``; ``head`` is its first bytes, when read.  Code
    ``too_large`` (an import keeps it as one failure with that reason)."""

    def __init__(self, size: int | None, head: bytes = b"") -> None:
        self.size = size
        self.head = head
        what = f"{size:,} bytes" if size is not None else "more than the limit"
        super().__init__("too_large", f"payload too large ({what}; the limit is "
                         f"{MAX_RECORD_BYTES:,} bytes per study)")


@overload
def clip(text: str, limit: int = ...) -> str: ...
@overload
def clip(text: None, limit: int = ...) -> None: ...
@overload
def clip(text: str | None, limit: int = ...) -> str | None: ...
def clip(text: str | None, limit: int = MAX_EXTRACT_CHARS) -> str | None:
    """``text`` cut to what an extractor reads."""
    return text[:limit] if text is not None and len(text) > limit else text
