"""The ClinicalTrials.gov crawl's arguments: validated once, before the first request.

``CtgovArgs.from_raw`` accepts what a person types (``"nct06958939, NCT04523987"``,
``"recruiting,not yet recruiting"``, ``"2025-01-01"``) or what code passes (lists, dates) and
either returns a frozen, normalised value or raises ``CrawlArgumentError`` naming the argument
and the bad value.  The spider and ``run_crawl`` share it, so ``scrapy crawl ctgov -a ...`` and
``trials crawl`` reject the same input with the same words.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

from trialscope.core.errors import TrialsError
from trialscope.parser.ctgov import normalise_nct_id

DEFAULT_API_BASE = "https://clinicaltrials.gov/api/v2"
MAX_PAGE_SIZE = 1000  # the API's own limit for pageSize

# The API's Status enum (OpenAPI spec v2.0.5, components/schemas/Status).
API_STATUSES = frozenset({
    "ACTIVE_NOT_RECRUITING", "COMPLETED", "ENROLLING_BY_INVITATION", "NOT_YET_RECRUITING",
    "RECRUITING", "SUSPENDED", "TERMINATED", "WITHDRAWN", "AVAILABLE", "NO_LONGER_AVAILABLE",
    "TEMPORARILY_NOT_AVAILABLE", "APPROVED_FOR_MARKETING", "WITHHELD", "UNKNOWN",
})

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# How a user names each crawl argument: the command-line option (or the environment variable).
ARGUMENT_OPTIONS: dict[str, str] = {
    "ids": "--id", "cond": "--condition", "intr": "--intervention", "term": "--query",
    "query": "--query", "status": "--status", "since": "--since", "page_size": "--page-size",
    "offline": "--offline", "registry": "--registry", "api_base": "TRIALS_CTGOV_API",
    "base_url": "TRIALS_CHICTR_BASE",
}


class CrawlArgumentError(TrialsError, ValueError):
    """A crawl argument has a value the crawl cannot use.  ``argument`` names it (the library's
    keyword); ``for_user()`` (the ``message``) says the same in the words of the command line,
    ``str()`` in the library's.  Code ``bad_argument``."""

    def __init__(self, argument: str, value: Any, problem: str, *, message: str | None = None):
        self.argument = argument
        self.value = value
        self.problem = problem
        self.custom = message
        super().__init__("bad_argument", self.for_user().rstrip(".") + ".",
                         text=message or f"invalid {argument}={value!r}: {problem}")

    def for_user(self) -> str:
        """'--condition 'x' is not supported for chictr ...', '--since '2025-13-01': not a
        calendar date' (no keyword names such as cond= or intr=)."""
        if self.custom:
            return self.custom
        option = ARGUMENT_OPTIONS.get(self.argument, self.argument.replace("_", "-"))
        shown = "" if self.value is None or isinstance(self.value, bool) else f" {self.value!r}"
        verb = self.problem.split(" ", 1)[0] in ("is", "has", "cannot", "must")
        return f"{option}{shown}{' ' if verb else ': '}{self.problem}"


def since_filter(day: date) -> str:
    """The API's ``filter.advanced`` expression for "last updated on or after ``day``"."""
    return f"AREA[LastUpdatePostDate]RANGE[{day.isoformat()},MAX]"


def _split(value: str | Iterable[str] | None) -> list[str]:
    """'a, b' or ['a', 'b, c'] -> ['a', 'b', 'c'] (blank parts dropped)."""
    if value is None:
        return []
    parts = [value] if isinstance(value, str) else list(value)
    out: list[str] = []
    for part in parts:
        if not isinstance(part, str):
            raise TypeError(part)
        out.extend(p.strip() for p in part.split(",") if p.strip())
    return out


def _text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise CrawlArgumentError(name, value, "expected text")
    value = value.strip()
    if not value:
        raise CrawlArgumentError(name, value, "is empty; leave it out instead")
    return value


def _ids(value: Any) -> tuple[str, ...]:
    try:
        raw = _split(value)
    except TypeError:
        raise CrawlArgumentError("ids", value, "expected NCT ids as text or a list") from None
    ids: list[str] = []
    for item in raw:
        nct = normalise_nct_id(item)
        if nct is None:
            raise CrawlArgumentError("ids", item, "not an NCT id (NCT followed by 8 digits)")
        if nct not in ids:  # keep the caller's order, fetch each id once
            ids.append(nct)
    return tuple(ids)


def _statuses(value: Any) -> tuple[str, ...]:
    try:
        raw = _split(value)
    except TypeError:
        raise CrawlArgumentError("status", value, "expected statuses as text or a list") from None
    out: list[str] = []
    for item in raw:
        # People type "not yet recruiting" or "Not-Yet-Recruiting"; the API wants the enum.
        status = re.sub(r"[\s-]+", "_", item.strip()).upper()
        if status not in API_STATUSES:
            raise CrawlArgumentError(
                "status", item, f"not an API status (one of {', '.join(sorted(API_STATUSES))})"
            )
        if status not in out:
            out.append(status)
    return tuple(out)


def _since(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    if not isinstance(value, str) or not _DATE_RE.match(value.strip()):
        raise CrawlArgumentError("since", value, "expected a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise CrawlArgumentError("since", value, "not a calendar date") from None


def _page_size(value: Any) -> int:
    if value is None:
        return MAX_PAGE_SIZE
    try:
        size = int(value)
    except (TypeError, ValueError):
        raise CrawlArgumentError("page_size", value, "expected a whole number") from None
    if isinstance(value, float) and value != size:
        raise CrawlArgumentError("page_size", value, "expected a whole number")
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise CrawlArgumentError("page_size", value, f"must be between 1 and {MAX_PAGE_SIZE}")
    return size


def _api_base(value: Any) -> str:
    if value is None:
        value = os.environ.get("TRIALS_CTGOV_API") or DEFAULT_API_BASE
    if not isinstance(value, str) or not re.match(r"^https?://[^/\s]+", value.strip()):
        raise CrawlArgumentError("api_base", value, "expected an http(s) URL")
    return value.strip().rstrip("/")


def _flag(name: str, value: Any) -> bool:
    # Spider arguments given with ``-a`` arrive as strings.
    if isinstance(value, str):
        if value.strip().lower() in {"1", "true", "yes"}:
            return True
        if value.strip().lower() in {"0", "false", "no", ""}:
            return False
        raise CrawlArgumentError(name, value, "expected true or false")
    return bool(value)


@dataclass(frozen=True)
class CtgovArgs:
    """What to crawl: either ``ids`` or a query (any of cond/intr/term/status/since)."""

    ids: tuple[str, ...] = ()
    cond: str | None = None
    intr: str | None = None
    term: str | None = None
    status: tuple[str, ...] = ()
    since: date | None = None
    page_size: int = MAX_PAGE_SIZE
    api_base: str = DEFAULT_API_BASE

    @classmethod
    def from_raw(
        cls,
        *,
        ids: str | Iterable[str] | None = None,
        cond: str | None = None,
        intr: str | None = None,
        term: str | None = None,
        status: str | Iterable[str] | None = None,
        since: str | date | None = None,
        page_size: int | str | None = None,
        api_base: str | None = None,
        allow_unfiltered: bool | str = False,
    ) -> CtgovArgs:
        """Validate and normalise; raises ``CrawlArgumentError`` naming the bad argument.

        ``allow_unfiltered`` permits a crawl with neither ids nor a query (every study the API
        has): right for the offline replay, wrong for the live registry (~600k studies, which
        the bulk download serves far better).
        """
        args = cls(
            ids=_ids(ids),
            cond=_text("cond", cond),
            intr=_text("intr", intr),
            term=_text("term", term),
            status=_statuses(status),
            since=_since(since),
            page_size=_page_size(page_size),
            api_base=_api_base(api_base),
        )
        if args.ids and args.has_query:
            raise CrawlArgumentError(
                "ids", ",".join(args.ids),
                "cannot be combined with a query (--condition, --intervention, --query, "
                "--status, --since); run two crawls",
            )
        if not args.ids and not args.has_query and not _flag("allow_unfiltered",
                                                             allow_unfiltered):
            raise CrawlArgumentError(
                "ids", None, "nothing to crawl",
                message="nothing to crawl: give --id, or a query (--condition, --intervention,"
                " --query, --status, --since); a crawl without them would download the whole"
                " registry",
            )
        return args

    @property
    def has_query(self) -> bool:
        return any((self.cond, self.intr, self.term, self.status, self.since))

    def study_url(self, nct_id: str) -> str:
        return f"{self.api_base}/studies/{quote(nct_id)}?format=json"

    def search_params(self, page_token: str | None = None) -> list[tuple[str, str]]:
        """Every parameter of a search page, in a fixed order; the same on every page
        (the API requires the query and filters to be repeated with each ``pageToken``)."""
        params: list[tuple[str, str]] = []
        for key, value in (("query.cond", self.cond), ("query.intr", self.intr),
                           ("query.term", self.term)):
            if value:
                params.append((key, value))
        if self.status:
            params.append(("filter.overallStatus", ",".join(self.status)))
        if self.since:
            params.append(("filter.advanced", since_filter(self.since)))
        params += [("pageSize", str(self.page_size)), ("countTotal", "true"), ("format", "json")]
        if page_token:
            params.append(("pageToken", page_token))
        return params

    def search_url(self, page_token: str | None = None) -> str:
        return f"{self.api_base}/studies?{urlencode(self.search_params(page_token))}"
