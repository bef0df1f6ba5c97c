"""URL parameters -> the keyword arguments of the library calls, validated as the CLI validates
its options, with the CLI's messages.  Parameter names are the CLI's option names without the
dashes in front (``start-from``, ``min-enrollment``, ``has-results``, ``patient-age``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trialscope.core.errors import TrialsError

# param -> library keyword; repeatable, as the CLI's options are
MULTI = {"status": "status", "phase": "phase", "type": "study_type", "registry": "registry",
         "country": "country", "city": "city", "sponsor": "sponsor", "target": "target",
         "modality": "modality", "where": "where", "washout": "washout"}
TEXT = {"start-from": "start_from", "start-to": "start_to", "updated-since": "updated_since",
        "updated-to": "updated_to"}
UPPER = ("status", "phase", "study_type")  # the CLI upper-cases these before the library call
FLAGS = ("literal", "show-query", "explain")
KNOWN = {"q", "sex", "min-enrollment", "max-enrollment", "has-results", "patient-age", "limit",
         "offset", *MULTI, *TEXT, *FLAGS}
HINT = "See 'trials search --help' for the options."


@dataclass
class SearchParams:
    query: str = ""
    limit: int = 20
    offset: int = 0
    literal: bool = False
    show_query: bool = False
    explain: bool = False
    filters: dict[str, Any] = field(default_factory=dict)

    def call_options(self) -> dict[str, Any]:
        """The keyword arguments of ``service.search`` (as `trials search` passes them)."""
        return {"limit": self.limit, "offset": self.offset, "facets": True,
                "explain_hits": self.explain, "literal": self.literal, **self.filters}


def _bad(option: str, value: str, why: str) -> TrialsError:
    return TrialsError("bad_argument", f"Invalid value for '--{option}': '{value}' {why}.", HINT)


def _int(option: str, value: str, low: int, high: int | None = None) -> int:
    try:
        n = int(value.strip())
    except ValueError:
        raise _bad(option, value, "is not a valid integer") from None
    if n < low or (high is not None and n > high):
        span = f"{low}<=x<={high}" if high is not None else f"x>={low}"
        raise _bad(option, value, f"is not in the range {span}")
    return n


def _float(option: str, value: str, low: float, high: float) -> float:
    try:
        x = float(value.strip())
    except ValueError:
        raise _bad(option, value, "is not a valid float") from None
    if not low <= x <= high:
        raise _bad(option, value, f"is not in the range {low:g}<=x<={high:g}")
    return x


def _flag(value: str) -> bool:
    return value.strip().lower() not in ("", "0", "no", "false", "off")


def search_params(items: list[tuple[str, str]]) -> SearchParams:
    """Parse a query string's items (repeated keys kept); raises ``TrialsError``."""
    p = SearchParams()
    filters: dict[str, Any] = {}
    multi: dict[str, list[str]] = {}
    for key, value in items:
        if key not in KNOWN:
            raise TrialsError("bad_argument", f"Unknown parameter '{key}'.",
                              "The search page takes the options of 'trials search' "
                              "(see 'trials search --help'), without the leading dashes.")
        if key == "q":
            p.query = value
        elif key in MULTI:
            if value.strip():
                multi.setdefault(MULTI[key], []).append(value.strip())
        elif not value.strip():
            continue  # an empty form field is no filter
        elif key in TEXT:
            filters[TEXT[key]] = value.strip()
        elif key == "sex":
            if value.strip().lower() not in ("female", "male"):
                raise _bad("sex", value, "is not one of 'female', 'male'")
            filters["sex"] = value.strip().lower()
        elif key in ("min-enrollment", "max-enrollment"):
            filters[key.replace("-", "_")] = _int(key, value, 0)
        elif key == "has-results":
            v = value.strip().lower()
            if v not in ("yes", "no"):
                raise _bad("has-results", value, "is not one of 'yes', 'no'")
            filters["has_results"] = v == "yes"
        elif key == "patient-age":
            filters["patient_age"] = _float(key, value, 0, 130)
        elif key == "limit":
            p.limit = _int("limit", value, 1, 10000)
        elif key == "offset":
            p.offset = _int("offset", value, 0)
        elif key in FLAGS:
            setattr(p, key.replace("-", "_"), _flag(value))
    for key, values in multi.items():
        filters[key] = tuple(v.upper() for v in values) if key in UPPER else tuple(values)
    p.filters = filters
    return p
