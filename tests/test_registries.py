"""The registry table (parser/registries.py): every registry is one row, the formats are sniffed
in the order they always were, and a registry added as one row (with its parser module) is
sniffed, parsed, linked and id-checked with nothing else touched."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from trialscope.core.errors import TrialsError
from trialscope.core.record import TrialRecord
from trialscope.parser import (
    aggregator,
    chictr,
    ctgov,
    ctis,
    euctr,
    files,
    ictrp,
    isrctn,
    registries,
)
from trialscope.parser.registries import Format, Registry, check_trial_id
from trialscope.store import links

from .conftest import FIXTURES
from .test_ctgov_classic import CLASSIC

# What detect_format said for each sample before the table existed (pinned, not recomputed).
DETECTED = {
    "aggregator/overview_zju_cart_mg.html": "aggregator-html",
    "aggregator/sectioned_NCT06958939.html": "aggregator-html",
    "chictr/ChiCTR2900000001_detail.html": "chictr-html",
    "chictr/blocked_challenge.html": "unknown",
    "chictr/not_found_404.html": "unknown",
    "chictr/search_empty.html": "chictr-search",
    "chictr/search_mg_p1.html": "chictr-search",
    "chictr/search_mg_p2.html": "chictr-search",
    "chictr/search_regno_hit.html": "chictr-search",
    "chictr/unknown_layout.html": "unknown",
    "ctgov/pages/search_mg_cart_p1.json": "ctgov-json",
    "ctgov/studies/NCT06958939.json": "ctgov-json",
    "ctis/synthetic_2023-500001-11-00_older.json": "ctis-json",
    "ctis/synthetic_2024-500002-22-00_current.json": "ctis-json",
    "euctr/synthetic_fulltext.txt": "euctr-text",
    "euctr/synthetic_search_myasthenia.html": "euctr-search",
    "euctr/synthetic_trial_2023-000001-11_NL.html": "euctr-trial",
    "ictrp/synthetic_export.xml": "ictrp-xml",
    "isrctn/synthetic_api_allTrials.xml": "isrctn-xml",
    "isrctn/synthetic_ctrdata_ISRCTN00000001.json": "isrctn-json",
}
CHICTR_XML = ("<trials><Triall><main><trial_id>ChiCTR2000034346</trial_id>"
              "<public_title>T</public_title></main></Triall></trials>")
INLINE = {  # formats no fixture file holds
    "classic": (CLASSIC, "ctgov-classic-xml"),
    "chictr-xml": (CHICTR_XML, "chictr-xml"),
    "aggregator text": (aggregator.html_to_text(
        (FIXTURES / "aggregator" / "sectioned_NCT06958939.html").read_text(encoding="utf-8")),
        "aggregator-text"),
    "json no study": ('  \n{"a": 1}', "ctgov-json"),
    "plain text": ("hello world", "unknown"),
    "empty": ("", "unknown"),
}
SNIFFING_ORDER = ["ctis-json", "isrctn-json", "ctgov-json", "isrctn-xml", "ctgov-classic-xml",
                  "ictrp-xml", "chictr-xml", "euctr-text", "euctr-trial", "euctr-search",
                  "chictr-html", "chictr-search", "aggregator-html", "aggregator-text"]


def _samples() -> list[tuple[str, str]]:
    return ([(str(path.relative_to(FIXTURES)), path.read_text(encoding="utf-8"))
             for path in sorted(FIXTURES.glob("*/**/*"))
             if path.suffix in files.PAYLOAD_SUFFIXES and path.parts[-3] != "golden"
             and path.relative_to(FIXTURES).parts[0] in {
                 "aggregator", "chictr", "ctgov", "ctis", "euctr", "ictrp", "isrctn"}]
            + [(f"inline: {name}", text) for name, (text, _) in INLINE.items()])


# -- (a) every registry has a row, and the rows hold together -------------------------------

def test_every_registry_the_parsers_name_has_a_row() -> None:
    names = {row.name for row in registries.REGISTRIES}
    for module in (aggregator, chictr, ctgov, ctis, euctr, ictrp, isrctn):
        assert module.REGISTRY in names, module.__name__


def test_every_record_parsed_from_a_sample_has_its_registrys_row() -> None:
    """A record's registry is a row; ICTRP's copies of registries trialscope has no parser for
    keep their registry's name (DRKS, jRCT; an unknown register lowercased) and the precedence
    of the others."""
    seen = set()
    for source, text in _samples():
        copies = files.detect_format(text) == "ictrp-xml"
        for item in files.parse_payload(text, source=source):
            registry = item.record.registry if isinstance(item, files.Parsed) else item.registry
            seen.add(registry)
            row = registries.registry(registry)
            if isinstance(item, files.Failure) and registry == "unknown":
                assert item.reason == "unknown_format", source
            elif row is None:
                assert copies, (source, registry)
                assert links.rank(registry) == registries.OTHER_RANK
    assert {"ctgov", "chictr", "euctr", "ctis", "isrctn", "aggregator", "drks"} <= seen


def test_every_name_in_the_table_resolves() -> None:
    """A misspelt "module:function" would fail only when a payload of that format came."""
    names = [fmt.name for _, fmt in registries.formats()]
    assert len(names) == len(set(names))
    for row, fmt in registries.formats():
        for ref in (fmt.sniff, fmt.reader, fmt.content_hash):
            if ref is not None:
                assert callable(registries.resolve(ref)), (row.name, fmt.name, ref)
        assert (fmt.reader is None) == (fmt.refused is not None), fmt.name
        assert not (fmt.refused and (fmt.one_record or fmt.secondary)), fmt.name


def test_the_crawlable_registries_have_their_spiders() -> None:
    from trialscope.crawler.run import CrawlArgumentError, _spider
    from trialscope.crawler.spiders.base import RegistrySpider

    assert registries.crawlable() == ("ctgov", "chictr")
    assert registries.watchable() == ("ctgov",)
    for name in registries.crawlable():
        spider = _spider(name)
        assert spider.name == name and spider.registry == name
        assert "run_args" in vars(spider) and issubclass(spider, RegistrySpider)
    with pytest.raises(CrawlArgumentError, match="has no spider .use ctgov or chictr."):
        _spider("euctr")


def test_the_cli_offers_the_tables_registries() -> None:
    from trialscope.cli.main import cli

    crawl = next(p for p in cli.commands["crawl"].params if p.name == "registry")
    add = next(p for p in cli.commands["watch"].commands["add"].params  # type: ignore[attr-defined]
               if p.name == "registry")
    assert list(crawl.type.choices) == list(registries.crawlable())  # type: ignore[attr-defined]
    assert list(add.type.choices) == list(registries.watchable())  # type: ignore[attr-defined]
    from trialscope.store.watches import REGISTRIES

    assert REGISTRIES == registries.watchable()


def test_formats_help_names_every_registry_that_has_formats() -> None:
    assert files.FORMATS_HELP == (
        "ClinicalTrials.gov API v2 JSON or classic XML, a WHO ICTRP XML export, a ChiCTR "
        "detail page or XML export, an EU CTR trial page or full-text download, a CTIS trial "
        "JSON, an ISRCTN API XML or JSON record, or an aggregator trial page")


def test_link_precedence_is_the_tables() -> None:
    assert [links.rank(r) for r in ("ctgov", "euctr", "ctis", "isrctn", "chictr", "ictrp",
                                    "aggregator", "drks")] == [0, 1, 1, 2, 3, 4, 4, 4]


# -- (b) sniffing is what it was --------------------------------------------------------------

def test_sniffing_order_is_pinned() -> None:
    assert [fmt.name for _, fmt in registries.formats()] == SNIFFING_ORDER


def test_detect_format_of_every_sample_is_pinned() -> None:
    found = {source: files.detect_format(text) for source, text in _samples()}
    for source, fmt in DETECTED.items():
        assert found[source] == fmt, source
    for name, (_, fmt) in INLINE.items():
        assert found[f"inline: {name}"] == fmt, name
    # Every fixture payload of those folders is pinned, bar the ClinicalTrials.gov studies.
    unpinned = {s for s in found if not s.startswith("inline") and s not in DETECTED}
    assert unpinned and all(s.startswith("ctgov/") and found[s] == "ctgov-json"
                            for s in unpinned)


def test_every_format_is_met_by_a_sample() -> None:
    assert {files.detect_format(text) for _, text in _samples()} == {*SNIFFING_ORDER, "unknown"}


# -- ids typed by people ----------------------------------------------------------------------

def test_check_trial_id() -> None:
    assert check_trial_id(" nct06958939 ") == "NCT06958939"
    assert check_trial_id("ChiCTR2400084905") == "ChiCTR2400084905"
    assert check_trial_id("2015-000590-12") == "2015-000590-12"
    # Ids the loose shape refuses (spaces) but a registry's normaliser reads.
    assert check_trial_id("EudraCT 2015-000590-12") == "2015-000590-12"
    assert check_trial_id("EU CT 2022-500244-37-00") == "2022-500244-37-00"
    with pytest.raises(TrialsError) as err:
        check_trial_id("NCT123")
    assert (err.value.code, err.value.message) == (
        "invalid_id", "'NCT123' is not a ClinicalTrials.gov id.")
    assert "8 digits" in (err.value.hint or "")
    with pytest.raises(TrialsError, match="is not a trial id"):
        check_trial_id("not an id at all")


# -- (c) a new registry is one parser module and one row --------------------------------------

FAKE_PARSER = '''
"""A made-up registry: a first line "FAKEREG LIST", then one "ID title" line per trial."""
from trialscope.core.record import TrialRecord
from trialscope.parser.errors import ParseError

REGISTRY = "fakereg"


def looks_like_fakereg(text):
    return text.startswith("FAKEREG LIST\\n")


def read_payload(text, *, source, trial_id=None):
    for line in text.splitlines()[1:]:
        trial, _, title = line.partition(" ")
        if not title:
            yield ParseError("missing_title", f"{trial}: no title", source=source), line
            continue
        yield TrialRecord(trial_id=trial, registry=REGISTRY, title=title,
                          secondary_ids=[{"id": "ISRCTN12345678", "type": "REGISTRY"}]), line
'''


def _normalise_fakereg(text: str) -> str | None:
    candidate = text.strip().upper() if isinstance(text, str) else ""
    return candidate if len(candidate) == 11 and candidate.startswith("FAKE-") \
        and candidate[5:].isdigit() else None


@pytest.fixture
def fakereg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    (tmp_path / "trialscope_fakereg.py").write_text(textwrap.dedent(FAKE_PARSER))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "trialscope_fakereg", raising=False)
    row = Registry(
        name="fakereg", label="Fake Registry", reads="a Fake Registry list",
        formats=(Format("fakereg-list", "trialscope_fakereg:looks_like_fakereg", 150,
                        reader="trialscope_fakereg:read_payload"),),
        normalise=_normalise_fakereg, key="fake", precedence=1, strict_prefix="FAKE-",
        id_hint="Fake Registry ids are 'FAKE-' and 6 digits.")
    monkeypatch.setattr(registries, "REGISTRIES", (*registries.REGISTRIES, row))
    yield row
    sys.modules.pop("trialscope_fakereg", None)


FAKE_LIST = "FAKEREG LIST\nFAKE-000001 A trial of something\nFAKE-000002\n"


def test_a_new_row_is_sniffed_and_parsed(fakereg: Registry) -> None:
    assert files.detect_format(FAKE_LIST) == "fakereg-list"
    items = list(files.parse_payload(FAKE_LIST, source="list.txt"))
    assert [type(i).__name__ for i in items] == ["Parsed", "Failure"]
    parsed, failure = items
    assert isinstance(parsed, files.Parsed) and isinstance(failure, files.Failure)
    assert (parsed.record.trial_id, parsed.record.registry, parsed.raw) == (
        "FAKE-000001", "fakereg", "FAKE-000001 A trial of something")
    assert parsed.content_hash == files._sha256(parsed.raw) and not parsed.secondary
    assert (failure.source, failure.reason, failure.registry, failure.raw) == (
        "list.txt [record 2]", "missing_title", "fakereg", "FAKE-000002")
    # The other formats still read as before.
    assert files.detect_format(CLASSIC) == "ctgov-classic-xml"


def test_a_new_row_gets_its_links_precedence(fakereg: Registry) -> None:
    fake = TrialRecord(trial_id="FAKE-000001", registry="fakereg",
                       secondary_ids=[{"id": "ISRCTN12345678", "type": "REGISTRY"}])
    isrctn_rec = TrialRecord(trial_id="ISRCTN12345678", registry="isrctn")
    ctgov_rec = TrialRecord(trial_id="NCT01234567", registry="ctgov",
                            secondary_ids=[{"id": "fake-000001", "type": "OTHER"}])
    assert links.rank("fakereg") == 1
    assert links.own_key(fake) == "fake:FAKE-000001"
    assert links.registry_key("fake-000001") == "fake:FAKE-000001"
    # Ahead of ISRCTN, behind ClinicalTrials.gov.
    assert set(links.build_groups([fake, isrctn_rec]).values()) == {"FAKE-000001"}
    assert set(links.build_groups([fake, isrctn_rec, ctgov_rec]).values()) == {"NCT01234567"}


def test_a_new_row_is_accepted_by_id_checks(fakereg: Registry) -> None:
    assert check_trial_id(" fake-000001") == "FAKE-000001"
    with pytest.raises(TrialsError) as err:
        check_trial_id("FAKE-12")
    assert err.value.message == "'FAKE-12' is not a Fake Registry id."
    assert err.value.hint == "Fake Registry ids are 'FAKE-' and 6 digits."


def test_without_the_row_nothing_knows_the_registry() -> None:
    assert files.detect_format(FAKE_LIST) == "unknown"
    assert links.rank("fakereg") == registries.OTHER_RANK
    assert links.registry_key("fake-000001") is None
    assert check_trial_id(" fake-000001") == "fake-000001"  # loosely, as typed
