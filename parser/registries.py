"""Every registry trialscope reads, one row each: adding a registry is one parser module and one
row in ``REGISTRIES`` (and, if it can be crawled, its spider).

A row (``Registry``) says what the rest of trialscope needs to know about a registry: the
``registry`` value of its records, a label for people, how its ids are written (the normaliser
from ``parser/ids.py``), its precedence as a linked trial's primary registration, whether it
can be crawled or watched, and its payload formats.  A format (``Format``) says how a payload of
it is recognised (``sniff``) and where among all formats it is tried (``order``), how it is read
(``reader``, ``content_hash``, ``one_record``), whether its records are copies of another
registry's (``secondary``), or why it is refused (``refused``: a search-results page).

The readers read::

    sniff(text) -> bool
    reader(text, *, source, trial_id=None) -> Iterable[tuple[TrialRecord | ParseError, str]]
    content_hash(raw) -> str

A reader yields each record of the payload (or the ``ParseError`` of a record that does not
parse) with that record's raw text, and raises ``ParseError`` when the payload as a whole cannot
be read.  A ``one_record`` format's reader yields one pair: the payload is the record's raw
text, and a failure is named by the payload's source.  (A reader that names its records and
failures itself may yield ``parser.files.Parsed`` / ``Failure`` items instead: ClinicalTrials.gov
JSON does, for the studies of a search page.)

Who reads the table: ``parser/files.py`` (``detect_format``, ``parse_payload``,
``FORMATS_HELP``), ``store/links.py`` (precedence, each registry's own id), ``store/watches.py``
and ``app`` (which registries can be watched or crawled; ``trials crawl --registry``),
``crawler/run.py`` (a crawlable registry's spider is the Scrapy spider of the same ``name``),
and ``check_trial_id`` below.

Cheap to import: the CLI checks ids with it before any parser loads, so parser functions are
named as ``"module:function"`` strings and imported on first use (``resolve``).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from trialscope.core.errors import TrialsError
from trialscope.parser.ids import (
    normalise_chictr_id,
    normalise_ctis_id,
    normalise_eudract,
    normalise_isrctn_id,
    normalise_nct_id,
)

# Precedence of a registry not in the table (ICTRP's copies of DRKS, jRCT... records) and of
# rows that do not set one: after every registry that does.
OTHER_RANK = 4

_P = "trialscope.parser."


@dataclass(frozen=True)
class Format:
    """One payload format of a registry."""

    name: str  # what ``parser.files.detect_format`` returns ("ctgov-json")
    sniff: str  # "module:function" (text -> bool): cheap, from the content (not the file name)
    # Where it is tried among all registries' formats, lowest first (equal: table order).  A
    # sniff may rely on an earlier format having claimed its look-alikes: "ctgov-json" (190)
    # takes any JSON no earlier format claimed, and the aggregators' loose page check (900+)
    # comes last.
    order: int
    reader: str | None = None  # "module:function", see the module docstring
    content_hash: str | None = None  # "module:function" (raw -> str); None: SHA-256 of the raw
    one_record: bool = False  # a payload is one record (its raw is the whole text)
    secondary: bool = False  # a copy of another registry's record: never overwrites it
    refused: str | None = None  # why this format is not read (said after "SOURCE: ")
    refused_reason: str = "search_page"


@dataclass(frozen=True)
class Registry:
    """One registry (or source of copies of registry records)."""

    name: str  # the ``registry`` value of its records
    label: str  # for people
    reads: str  # its formats in the "trialscope reads ..." help ("a CTIS trial JSON")
    formats: tuple[Format, ...] = ()
    # Its id as people write it -> the id, or None (from ``parser/ids.py``): ids typed by users
    # are checked and normalised with it, and links read its records' own ids with it.
    normalise: Callable[[str], str | None] | None = None
    normalise_own: Callable[[str], str | None] | None = None  # its records' ids, if looser
    key: str | None = None  # the link-key prefix of its ids ("nct" -> "nct:NCT01234567")
    precedence: int = OTHER_RANK  # lowest first: which registration is a linked trial's primary
    # Ids starting with this prefix (any case) are this registry's: one its normaliser refuses
    # is an error (with ``id_hint``), not a loosely accepted id.
    strict_prefix: str | None = None
    id_hint: str | None = None
    crawlable: bool = False  # a Scrapy spider of the same ``name`` exists (crawler/spiders/)
    watchable: bool = False  # saved watches can refresh it (``trials watch``)

    def own_id(self, value: str) -> str | None:
        normalise = self.normalise_own or self.normalise
        return normalise(value) if normalise else None


_SEARCH_PAGE = ("a search-results page lists trials but holds no trial record; save or crawl the "
                "trial pages instead")

REGISTRIES: tuple[Registry, ...] = (
    Registry(
        name="ctgov", label="ClinicalTrials.gov",
        reads="ClinicalTrials.gov API v2 JSON or classic XML",
        formats=(
            Format("ctgov-json", f"{_P}ctgov:looks_like_ctgov_json", 190,
                   reader=f"{_P}files:read_ctgov_json"),
            Format("ctgov-classic-xml", f"{_P}ctgov_classic:looks_like_classic", 210,
                   reader=f"{_P}ctgov_classic:read_payload", one_record=True),
        ),
        normalise=normalise_nct_id, key="nct", precedence=0,
        strict_prefix="NCT", id_hint="NCT ids are 'NCT' and 8 digits, e.g. NCT06958939.",
        crawlable=True, watchable=True,
    ),
    Registry(
        name="ictrp", label="WHO ICTRP", reads="a WHO ICTRP XML export",
        formats=(
            # WHO's copies of other registries' records: secondary to the registries' own.
            Format("ictrp-xml", f"{_P}ictrp:looks_like_ictrp", 220,
                   reader=f"{_P}ictrp:read_payload", content_hash=f"{_P}ictrp:content_hash",
                   secondary=True),
        ),
    ),
    Registry(
        name="chictr", label="ChiCTR", reads="a ChiCTR detail page or XML export",
        formats=(
            Format("chictr-xml", f"{_P}chictr:looks_like_chictr_xml", 230,
                   reader=f"{_P}chictr:read_xml_payload",
                   content_hash=f"{_P}chictr:content_hash"),
            Format("chictr-html", f"{_P}chictr:looks_like_chictr_detail", 270,
                   reader=f"{_P}chictr:read_detail_payload",
                   content_hash=f"{_P}chictr:content_hash", one_record=True),
            Format("chictr-search", f"{_P}chictr:looks_like_chictr_search", 280,
                   refused=_SEARCH_PAGE),
        ),
        normalise=normalise_chictr_id, key="chictr", precedence=3, crawlable=True,
    ),
    Registry(
        name="euctr", label="EU Clinical Trials Register",
        reads="an EU CTR trial page or full-text download",
        formats=(
            Format("euctr-text", f"{_P}euctr:looks_like_euctr_fulltext", 240,
                   reader=f"{_P}euctr:read_fulltext_payload"),
            Format("euctr-trial", f"{_P}euctr:looks_like_euctr_trial", 250,
                   reader=f"{_P}euctr:read_trial_payload", one_record=True),
            Format("euctr-search", f"{_P}euctr:looks_like_euctr_search", 260,
                   refused=_SEARCH_PAGE),
        ),
        normalise=normalise_eudract, key="eudract", precedence=1,
    ),
    Registry(
        name="ctis", label="CTIS (EU Clinical Trials Information System)",
        reads="a CTIS trial JSON",
        formats=(
            Format("ctis-json", f"{_P}ctis:looks_like_ctis", 100,
                   reader=f"{_P}ctis:read_payload", content_hash=f"{_P}ctis:content_hash"),
        ),
        normalise=normalise_ctis_id, key="ctis", precedence=1,
    ),
    Registry(
        name="isrctn", label="ISRCTN", reads="an ISRCTN API XML or JSON record",
        formats=(
            Format("isrctn-json", f"{_P}isrctn:looks_like_isrctn_json", 110,
                   reader=f"{_P}isrctn:read_payload", content_hash=f"{_P}isrctn:content_hash"),
            Format("isrctn-xml", f"{_P}isrctn:looks_like_isrctn_xml", 200,
                   reader=f"{_P}isrctn:read_payload", content_hash=f"{_P}isrctn:content_hash"),
        ),
        normalise=normalise_isrctn_id,
        # ISRCTN's own ``isrctn`` field may hold the 8 digits alone.
        normalise_own=partial(normalise_isrctn_id, bare_digits=True),
        key="isrctn", precedence=2,
    ),
    Registry(
        name="aggregator", label="aggregator page (a third party's copy)",
        reads="an aggregator trial page",
        formats=(
            # A third party's copy of a registry's record: secondary to the registry's own.
            Format("aggregator-html", f"{_P}aggregator:looks_like_aggregator_html", 900,
                   reader=f"{_P}aggregator:read_html_payload", one_record=True,
                   secondary=True),
            Format("aggregator-text", f"{_P}aggregator:looks_like_aggregator_text", 910,
                   reader=f"{_P}aggregator:read_text_payload", one_record=True,
                   secondary=True),
        ),
    ),
)


# --- looking rows up (each lookup follows the table as it is now: a test may add a row) ------

_cache: dict[str, Any] = {}


def _derived() -> dict[str, Any]:
    rows = REGISTRIES
    if _cache.get("rows") is not rows:
        _cache.clear()
        _cache["rows"] = rows
        _cache["by_name"] = {row.name: row for row in rows}
        _cache["formats"] = [pair for _, pair in sorted(
            ((fmt.order, i), (row, fmt)) for i, (row, fmt) in enumerate(
                (row, fmt) for row in rows for fmt in row.formats))]
    return _cache


def registry(name: str) -> Registry | None:
    """The row of ``name`` (a record's ``registry``), or None."""
    row: Registry | None = _derived()["by_name"].get(name)
    return row


def formats() -> list[tuple[Registry, Format]]:
    """Every registry's formats in sniffing order."""
    found: list[tuple[Registry, Format]] = _derived()["formats"]
    return found


def precedence(name: str) -> int:
    """Lowest first: which registration of a linked trial is its primary."""
    row = registry(name)
    return row.precedence if row else OTHER_RANK


def crawlable() -> tuple[str, ...]:
    return tuple(row.name for row in REGISTRIES if row.crawlable)


def watchable() -> tuple[str, ...]:
    return tuple(row.name for row in REGISTRIES if row.watchable)


def formats_help() -> str:
    """What trialscope reads, for messages: "ClinicalTrials.gov API v2 JSON ..., or ..."."""
    reads = [row.reads for row in REGISTRIES if row.formats]
    return ", ".join(reads[:-1]) + ", or " + reads[-1] if len(reads) > 1 else "".join(reads)


def resolve(ref: str) -> Any:
    """The object a "module:name" string names (the module imported now if it was not)."""
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


# --- ids typed by people -------------------------------------------------------------------

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-/]{3,60}$")


def check_trial_id(text: str) -> str:
    """Validate an id typed by a user.  An id with a registry's strict prefix ("NCT") must be
    that registry's; others are taken loosely, or as a registry's normaliser reads them
    ("EudraCT 2015-000590-12" -> "2015-000590-12")."""
    candidate = text.strip()
    for row in REGISTRIES:
        if row.strict_prefix and candidate.upper().startswith(row.strict_prefix.upper()):
            own = row.normalise(candidate) if row.normalise else None
            if own is None:
                raise TrialsError("invalid_id", f"'{text}' is not a {row.label} id.",
                                  row.id_hint or f"Check the id on {row.label}'s website.")
            return own
    if _ID_RE.match(candidate):
        return candidate
    for row in REGISTRIES:
        own = row.normalise(candidate) if row.normalise else None
        if own:
            return own
    raise TrialsError(
        "invalid_id",
        f"'{text}' is not a trial id.",
        "Give a registry id such as NCT06958939, ChiCTR2400084905 or 2015-000590-12.",
    )
