"""The terminal as a researcher meets it: one vocabulary for phases and statuses, suggestions
for every filter, results that keep the words that matter (issue 14)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from trialscope.app import service
from trialscope.cli import render
from trialscope.cli.main import cli
from trialscope.core.vocab import PHASE_LABELS, Phase, phase_label
from trialscope.store.home import DataHome

from .conftest import CTGOV_FIXTURES


@pytest.fixture(scope="module")
def home_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("terminal") / "home"
    assert not service.import_paths(DataHome.resolve(str(root)), [CTGOV_FIXTURES]).failed
    return root


def run(home: Path, *args: str, columns: int = 80):  # noqa: ANN201
    return CliRunner().invoke(cli, ["--home", str(home), *args], catch_exceptions=False,
                              env={"COLUMNS": str(columns)})


# -- one vocabulary -------------------------------------------------------------------------
def test_phase_shows_one_way_and_that_way_is_accepted(home_dir: Path) -> None:
    """The table, the card and the facets show a phase the same way, and --phase takes it."""
    out = run(home_dir, "search", "CAR-T", "--limit", "50").stdout
    assert "Ph 0" not in out and "EARLY_PHASE1" not in out
    facet_line = next(line for line in out.splitlines() if line.startswith("Phase:"))
    shown = [part.rsplit(" (", 1)[0].strip() for part in facet_line[12:].split("), ")]
    assert "early 1" in shown and "1" in shown
    for label in shown:
        res = run(home_dir, "search", "CAR-T", "--phase", label, "--json")
        assert res.exit_code == 0, res.stderr
        assert json.loads(res.stdout)["total"] > 0


@pytest.mark.parametrize("spelling", ["1", "I", "phase1", "phase 1", "Phase I", "PHASE1",
                                      "phase_1"])
def test_common_phase_spellings_are_the_same_filter(home_dir: Path, spelling: str) -> None:
    want = json.loads(run(home_dir, "search", "", "--phase", "1", "--json",
                          "--limit", "100").stdout)
    got = json.loads(run(home_dir, "search", "", "--phase", spelling, "--json",
                         "--limit", "100").stdout)
    assert got["total"] == want["total"] > 0


@pytest.mark.parametrize("spelling", ["early1", "early 1", "early phase 1", "0",
                                      "EARLY_PHASE1"])
def test_early_phase_spellings(home_dir: Path, spelling: str) -> None:
    res = json.loads(run(home_dir, "search", "", "--phase", spelling, "--json").stdout)
    assert res["total"] > 0
    assert all("EARLY_PHASE1" in r["phases"] for r in res["results"])


def test_every_status_of_the_enum_is_accepted(home_dir: Path) -> None:
    from trialscope.core.vocab import Status

    for status in Status:
        res = run(home_dir, "search", "", "--status", status.value.lower().replace("_", " "))
        assert res.exit_code == 0, (status, res.stderr)


def test_phase_labels_cover_the_enum() -> None:
    assert set(PHASE_LABELS) == {p.value for p in Phase}
    assert phase_label(["PHASE1", "PHASE2"]) == "1/2" and phase_label([]) == "-"


def test_unknown_phase_lists_the_valid_ones(home_dir: Path) -> None:
    res = run(home_dir, "search", "", "--phase", "7")
    assert res.exit_code == 1
    assert "early 1, 1, 2, 3, 4, n/a" in res.stderr and "Traceback" not in res.stderr


# -- suggestions everywhere -----------------------------------------------------------------
def test_sponsor_matches_part_of_a_name_in_any_case(home_dir: Path) -> None:
    res = json.loads(run(home_dir, "search", "", "--sponsor", "zhejiang", "--json").stdout)
    assert res["total"] >= 1
    exact = json.loads(run(home_dir, "search", "", "--sponsor", "Zhejiang University",
                           "--json").stdout)
    assert res["total"] == exact["total"]


@pytest.mark.parametrize("option, value, listed", [
    ("--target", "CD20x", "CD19"),
    ("--modality", "TCR-X", "CAR-T"),
    ("--registry", "nowhere", "ctgov"),
    ("--sponsor", "cabaleta bio", "Cabaletta Bio"),
])
def test_unknown_filter_value_names_valid_ones(home_dir: Path, option: str, value: str,
                                               listed: str) -> None:
    res = run(home_dir, "search", "", option, value)
    assert res.exit_code == 1 and listed in res.stderr, res.stderr


# -- readable results -----------------------------------------------------------------------
def test_titles_keep_their_end_at_80_columns(home_dir: Path) -> None:
    """The disease usually ends a title: a row never silently drops it."""
    res = run(home_dir, "search", "refractory myasthenia gravis CAR-T", "--limit", "10",
              "--no-facets")
    text = " ".join(res.stdout.split())
    hits = json.loads(run(home_dir, "search", "refractory myasthenia gravis CAR-T", "--limit",
                          "10", "--json").stdout)["results"]
    for hit in hits:
        last_words = " ".join(hit["title"].split()[-3:])
        assert last_words in text, (hit["title"], res.stdout)
    assert all(len(line) <= 80 for line in res.stdout.splitlines() if not line.startswith(" "))


def test_fit_lines_shortens_the_middle() -> None:
    title = " ".join(f"w{i}" for i in range(60)) + " myasthenia gravis"
    lines = render.fit_lines(title, 30, 2)
    assert len(lines) == 2 and all(len(line) <= 30 for line in lines)
    joined = " ".join(lines)
    assert joined.startswith("w0 w1") and joined.endswith("myasthenia gravis") and "…" in joined


def test_explain_labels_are_cut_between_words_with_parentheses_balanced(home_dir: Path) -> None:
    out = run(home_dir, "search", "CAR-T", "--limit", "3", "--explain", "--no-facets").stdout
    unit_lines = [line for line in out.splitlines() if "; unit " in line]
    assert unit_lines
    for line in unit_lines:
        label = line.split("; unit ", 1)[1][:-1]
        assert label.count("(") == label.count(")"), line
    assert render.short_label("(cart | gc012f | azd0120 | s103 | … 46 more)", 30) == \
        "(cart | gc012f | … 48 more)"


def test_card_has_the_cell_therapy_line_and_limits_labelled_as_the_card_numbers(
        home_dir: Path) -> None:
    out = run(home_dir, "show", "NCT06958939").stdout
    assert "Cell therapy:" in out and "CAR-T" in out and "BCMA" in out
    assert "Inclusion 5b: MG-ADL ≥ 6" in out  # item 5, its second lettered sub-item
    assert "inc 5.2" not in out
    assert render.item_label("exclusion", "10") == "Exclusion 10"


# -- listings -------------------------------------------------------------------------------
def test_history_as_nl_and_csv_with_the_registry_url(home_dir: Path) -> None:
    import csv
    import io

    nl = [json.loads(line) for line in run(home_dir, "history", "NCT06958939", "--nl")
          .stdout.splitlines()]
    assert len(nl) == 1 and nl[0]["version"] == 1 and nl[0]["trial_id"] == "NCT06958939"
    rows = list(csv.DictReader(io.StringIO(run(home_dir, "history", "NCT06958939", "--csv")
                                           .stdout)))
    assert rows[0]["status"] == "NOT_YET_RECRUITING" and rows[0]["last_updated"]
    # the registry's page of the trial, not where the copy was read from
    assert rows[0]["url"] == "https://clinicaltrials.gov/study/NCT06958939"
    hist = json.loads(run(home_dir, "history", "NCT06958939", "--json").stdout)
    assert hist["versions"][0]["url"].startswith("https://clinicaltrials.gov/")
    assert hist["versions"][0]["fetched_from"]


def test_search_csv_has_the_columns_a_researcher_needs(home_dir: Path) -> None:
    import csv
    import io

    out = run(home_dir, "search", "myasthenia gravis CAR-T", "--csv", "--limit", "5").stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows and {"url", "conditions", "sponsor", "start_date", "snippet"} <= set(rows[0])
    assert all(r["url"].startswith("https://") for r in rows) and any(r["sponsor"] for r in rows)
    assert not any("«" in r["snippet"] for r in rows)


def test_changes_by_fetch_date_or_by_registry_update_date(home_dir: Path) -> None:
    fetched = json.loads(run(home_dir, "changes", "--since", "2000-01-01", "--json").stdout)
    assert len(fetched) == len(list(CTGOV_FIXTURES.glob("*.json")))
    dates = sorted(r["last_updated"] for r in fetched if r["last_updated"])
    cut = dates[len(dates) // 2]
    updated = json.loads(run(home_dir, "changes", "--updated-since", cut, "--json").stdout)
    assert updated and len(updated) < len(fetched)
    assert all(r["last_updated"] >= cut for r in updated)
    assert {r["trial_id"] for r in fetched if (r["last_updated"] or "") >= cut} == \
        {r["trial_id"] for r in updated}
    res = run(home_dir, "changes")
    assert res.exit_code != 0 and "--updated-since" in res.stderr


# -- errors in the user's words -------------------------------------------------------------
@pytest.mark.parametrize("query, quoted", [
    ("foo:bar", "'foo:bar'"),
    ('titel:"car t"', "'titel:\"car t\"'"),
    ("myasthenia AND titel:(car OR bus)", "'titel:(car OR bus)'"),
])
def test_unknown_field_quotes_what_the_user_typed(home_dir: Path, query: str,
                                                  quoted: str) -> None:
    res = run(home_dir, "search", query)
    assert res.exit_code == 1 and f"in {quoted}" in res.stderr, res.stderr


@pytest.mark.parametrize("args, words", [
    (["crawl"], "give --id, or a query (--condition, --intervention, --query"),
    (["crawl", "--registry", "chictr", "--condition", "x"], "--condition 'x' is not supported"),
    (["crawl", "--since", "2025-13-01", "--condition", "x"], "--since '2025-13-01'"),
    (["crawl", "--id", "NCT06958939", "--condition", "x"], "--id 'NCT06958939' cannot be"),
])
def test_crawl_errors_name_the_options_not_the_keywords(home_dir: Path, args: list[str],
                                                       words: str) -> None:
    res = run(home_dir, *args)
    assert res.exit_code == 1 and words in res.stderr, res.stderr
    for internal in ("cond=", "intr=", "ids=", "since=", "cond, intr, term", "invalid "):
        assert internal not in res.stderr, res.stderr


def test_a_page_without_an_id_says_to_give_one() -> None:
    import re

    from trialscope.parser.aggregator import ParseError, parse_aggregator_html

    html = (CTGOV_FIXTURES.parents[1] / "aggregator" / "overview_zju_cart_mg.html").read_text(
        encoding="utf-8")
    with pytest.raises(ParseError) as err:
        parse_aggregator_html(re.sub(r"NCT\d{8}", "", html))
    assert "--id" in str(err.value) and "trial_id" not in str(err.value), str(err.value)


# -- import summaries -----------------------------------------------------------------------
def test_an_empty_folder_is_an_error_that_says_what_is_read(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.docx").write_bytes(b"PK\x03\x04 not a payload")
    res = run(tmp_path / "home", "import", str(empty))
    assert res.exit_code == 1
    assert "No registry files in" in res.stderr and "notes.docx" in res.stderr
    assert ".json" in res.stderr


def test_files_not_read_are_counted_and_a_binary_file_is_named_as_such(tmp_path: Path) -> None:
    folder = tmp_path / "saved"
    (folder / "sub").mkdir(parents=True)
    (folder / "NCT06958939.json").write_bytes(
        (CTGOV_FIXTURES / "NCT06958939.json").read_bytes())
    (folder / "protocol.pdf").write_bytes(b"%PDF-1.4 \xff\xfe")
    (folder / ".DS_Store").write_bytes(b"\x00\x01")  # hidden files are not counted
    (folder / "sub" / "broken.json").write_bytes(bytes(range(128, 256)))
    res = run(tmp_path / "home", "import", str(folder))
    assert res.exit_code == 1  # a file failed: partial
    assert res.stdout.startswith("2 file(s): 1 new, 1 failed, 1 not read")
    assert "skipped" not in res.stdout  # nothing was skipped: no '0 skipped (...)'
    assert "not read: " in res.stderr and "protocol.pdf" in res.stderr
    assert "not UTF-8 text (a binary file?)" in res.stderr and "codec" not in res.stderr
    data = json.loads(run(tmp_path / "home", "import", str(folder), "--json").stdout)
    assert data["ignored"] == 1 and data["ignored_files"][0].endswith("protocol.pdf")


def test_an_unknown_watch_gets_a_did_you_mean_and_the_list(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run(home, "watch", "add", "mg-cart", "--condition", "myasthenia gravis").exit_code == 0
    assert run(home, "watch", "add", "lupus", "--condition", "lupus").exit_code == 0
    res = run(home, "watch", "remove", "mg-crat")
    assert res.exit_code != 0
    assert "Did you mean 'mg-cart'?" in res.stderr and "Known watches: " in res.stderr


def test_an_unknown_field_lists_the_known_ones(home_dir: Path) -> None:
    res = run(home_dir, "search", "titel:myasthenia")
    assert "Did you mean title:?" in res.stderr and "Known fields: " in res.stderr
    assert "condition" in res.stderr.split("Known fields: ", 1)[1]


def test_starting_the_cli_imports_no_parser_or_crawler() -> None:
    """Every command pays for what the CLI imports at start: the parsers (all of them, via
    parser.files), Scrapy and Whoosh's writers load only when a command needs them."""
    import subprocess
    import sys

    code = ("import sys, trialscope.cli.main; "
            "print(sorted(m for m in sys.modules if m.startswith(('trialscope.parser.files', "
            "'trialscope.extract.thresholds', 'scrapy', 'trialscope.crawler'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]", out
