"""Issue 16: query understanding (intents), concept expansion that never loses recall, and the
named disease first.

Intents (index/intents.py, index/intents.txt) rank the trials that satisfy them first, never
filter, are shown by --show-query and --explain, and are off for quoted words and --literal.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from trialscope.app import service
from trialscope.cli.main import cli
from trialscope.core.record import TrialRecord
from trialscope.index.analysis import synonyms
from trialscope.index.intents import understand
from trialscope.index.query import parse_query
from trialscope.index.search import search
from trialscope.store.home import DataHome

from .conftest import CTGOV_FIXTURES, hit_ids, index_of


def trial(trial_id: str, title: str, conditions: list[str], intervention: str, *,
          status: str = "RECRUITING", phases: tuple[str, ...] = ("PHASE1",),
          country: str = "China", city: str | None = None, min_age: float | None = 18,
          sex: str = "ALL", inclusion: str = "", summary: str = "") -> TrialRecord:
    return TrialRecord(
        trial_id=trial_id, registry="ctgov", title=title, status=status, phases=list(phases),
        study_type="INTERVENTIONAL", conditions=conditions, summary=summary or title,
        interventions=[{"type": "BIOLOGICAL", "name": intervention, "description": None,
                        "other_names": [], "arm_labels": []}],
        eligibility={"text": None, "sex": sex, "min_age_years": min_age,
                     "inclusion": [{"text": inclusion, "children": []}] if inclusion else [],
                     "exclusion": []},
        locations=[{"facility": None, "city": city, "state": None, "country": country,
                    "status": None}],
        last_updated="2025-01-01")


TRIALS = [
    trial("NCT00000001", "CD19 CAR-T cells in refractory myasthenia gravis",
          ["Myasthenia Gravis"], "CD19 CAR-T cells"),
    trial("NCT00000002", "CD19 CAR-T cells for generalized myasthenia gravis",
          ["Myasthenia Gravis"], "CD19 CAR-T cells", status="COMPLETED",
          phases=("PHASE2",), country="Germany"),
    trial("NCT00000003", "Autologous CAR-T cells in myasthenia gravis",
          ["Myasthenia Gravis"], "CAR-T cells", status="NOT_YET_RECRUITING",
          country="United States", city="Boston", min_age=12),
    trial("NCT00000004", "BCMA CAR-T cells in relapsed multiple myeloma",
          ["Multiple Myeloma"], "BCMA CAR-T cells"),
    trial("NCT00000005", "Efgartigimod in generalized myasthenia gravis",
          ["Myasthenia Gravis"], "efgartigimod",
          inclusion="Anti-MuSK antibody positive at screening"),
    trial("NCT00000006", "Trastuzumab in breast cancer", ["Breast Cancer"], "trastuzumab",
          sex="FEMALE", country="France"),
    trial("NCT00000007", "Seat belts and car accident injuries", ["Injuries"], "seat belt"),
    trial("NCT00000008", "Empagliflozin in chronic heart failure", ["Heart Failure"],
          "empagliflozin 10 mg"),
    trial("NCT00000009", "Latanoprost in open angle glaucoma", ["Open Angle Glaucoma"],
          "latanoprost", status="COMPLETED"),
]


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return index_of(tmp_path_factory, "understanding", TRIALS)


def ranked(index_dir: Path, query: str, **options: object) -> list[str]:
    return hit_ids(index_dir, query, 50, **options)


# -- intents -----------------------------------------------------------------------------------

def test_status_and_place_words_are_understood_and_shown(index_dir: Path) -> None:
    res = search(index_dir, "myasthenia gravis CAR-T recruiting in China", limit=50)
    assert any(u.startswith("status: recruiting") for u in res.understood)
    assert any(u.startswith("place: China") for u in res.understood)
    assert "[understood: status: recruiting" in res.query_repr
    assert "recruit" not in res.query_repr.split("[")[0]  # taken out of the free text
    ids = [h.trial_id for h in res.hits]
    assert ids[0] == "NCT00000001"  # recruiting, in China
    # a ranking signal, never a filter: the completed German trial is still there
    assert "NCT00000002" in ids and res.total >= 3


def test_paediatric_words_use_the_age_limits(index_dir: Path) -> None:
    # "children" is written nowhere: the minimum age of 12 admits under-18s
    assert ranked(index_dir, "CAR-T myasthenia gravis children")[0] == "NCT00000003"


def test_every_rule_of_the_intent_table_reads() -> None:
    from trialscope.index.intents import _intent, table

    rules, suffixes = table()
    assert rules and suffixes
    for rule in rules:
        assert _intent(rule, " ".join(rule.spellings[0]) if rule.spellings else rule.exact[0])
    text, intents = understand("asthma adolescents", None)
    assert text == "asthma" and intents[0].kind == "population"


def test_cities_and_phases_are_understood(index_dir: Path) -> None:
    assert ranked(index_dir, "CAR-T myasthenia gravis in Boston")[0] == "NCT00000003"
    assert ranked(index_dir, "CAR-T myasthenia gravis phase II")[0] == "NCT00000002"
    assert ranked(index_dir, "CAR-T myasthenia gravis Europe")[0] == "NCT00000002"


def test_women_prefers_trials_for_women(index_dir: Path) -> None:
    res = search(index_dir, "cancer women", limit=5, explain_hits=True)
    assert res.hits[0].trial_id == "NCT00000006"
    assert res.hits[0].explanation["intents"] == {"population: women (sex female)": "yes"}


def test_explain_says_per_result_which_intents_hold(index_dir: Path) -> None:
    res = search(index_dir, "myasthenia gravis CAR-T completed", limit=5, explain_hits=True)
    by_id = {h.trial_id: h.explanation["intents"] for h in res.hits}
    assert by_id["NCT00000002"] == {"status: completed": "yes"}
    assert by_id["NCT00000001"] == {"status: completed": "no"}


@pytest.mark.parametrize("query", ['myasthenia gravis CAR-T "recruiting"',
                                   'myasthenia gravis CAR-T "in China"'])
def test_quoted_words_are_not_understood(index_dir: Path, query: str) -> None:
    res = search(index_dir, query, limit=5)
    assert res.understood == [] and "understood" not in res.query_repr


def test_literal_turns_understanding_and_synonyms_off(index_dir: Path) -> None:
    res = search(index_dir, "myasthenia gravis recruiting in China", limit=5, literal=True)
    assert res.understood == [] and "recruiting" in res.query_repr
    assert search(index_dir, "FcRn inhibitor", literal=True).total == 0
    assert ranked(index_dir, "FcRn inhibitor") == ["NCT00000005"]  # efgartigimod


def test_a_status_word_that_names_something_stays_text(index_dir: Path) -> None:
    res = search(index_dir, "open angle glaucoma", limit=5)
    assert res.understood == [] and res.hits[0].trial_id == "NCT00000009"
    assert search(index_dir, "open trials of CAR-T", limit=5).understood


def test_expert_queries_mean_what_they_say() -> None:
    assert understand("CAR-T AND recruiting", None) == ("CAR-T AND recruiting", [])
    assert understand("title:recruiting", None)[1] == []


def test_a_query_of_intents_only_keeps_its_words() -> None:
    text, intents = understand("recruiting", None)
    assert text == "recruiting" and [i.kind for i in intents] == ["status"]


def test_subtype_words_keep_the_marker() -> None:
    text, intents = understand("HER2-positive breast cancer", None)
    assert text == "HER2 breast cancer" and [i.kind for i in intents] == ["subtype"]
    assert understand("MuSK+ myasthenia gravis", None)[0] == "MuSK myasthenia gravis"


def test_an_antibody_named_bare_is_its_subtype() -> None:
    # an antibody names the patients who have it; a target ("BCMA CAR-T") is not a subtype
    text, intents = understand("MuSK myasthenia gravis", None)
    assert text == "MuSK myasthenia gravis" and [i.kind for i in intents] == ["subtype"]
    assert [i.kind for i in understand("AChR MG", None)[1]] == ["subtype"]
    assert understand("BCMA CAR-T myasthenia gravis", None)[1] == []
    assert understand("musk myasthenia gravis", None)[1] == []  # not written as the marker


def test_understood_phase_words_still_order_as_text(index_dir: Path) -> None:
    from trialscope.index.ranking import GENERIC_FACTOR, unit_factor
    from trialscope.index.search import with_intent_words
    from trialscope.index.units import units_of

    res = search(index_dir, "first-in-human myasthenia gravis", limit=5)
    assert '"first human"' in res.query_repr and res.understood
    text, intents = understand("first-in-human myasthenia gravis", None)
    units = units_of(with_intent_words(parse_query(text), intents))
    assert [u.label for u in units][-1] == '(first-in-human | "first human")'
    assert unit_factor(units[-1]) <= GENERIC_FACTOR  # nothing in the tiers
    # status words are not put back: as text they mostly say something else
    plain = parse_query("myasthenia gravis")
    assert with_intent_words(plain, understand("completed myasthenia gravis", None)[1]) \
        is plain


def test_markers_named_only_as_absent_are_read() -> None:
    from trialscope.index.aliases import words
    from trialscope.index.negation import mentions, negated_markers

    assert mentions("Wild-type EGFR/ALK;") == [("EGFR", True), ("ALK", True)]
    assert mentions("NSCLC with no driver alterations (EGFR or ALK)")[1:] == \
        [("EGFR", True), ("ALK", True)]
    assert mentions("KRAS wild-type colorectal cancer") == [("KRAS", True)]
    assert mentions("EGFR wild type tumour") == [("EGFR", True)]
    # a phrase about the patient ends the negation's scope (NegEx terminators)
    assert mentions("without brain metastases harbouring ALK rearrangement") == \
        [("ALK", False)]
    assert mentions("not candidates for surgery with KRAS G12C mutation")[0] == \
        ("KRAS", False)
    assert mentions("HER2-negative; HER2 positive") == [("HER2", True), ("HER2", False)]
    # about treatment, not the marker's absence
    assert mentions("No prior ALK inhibitor therapy") == [("ALK", False)]
    # negated in one text, named in another: not negated
    assert negated_markers(["ALK-positive NSCLC", "no EGFR mutation, no prior ALK TKI"],
                           words) == ["egfr"]
    # mentions' shortcuts: a lower-case word is never a marker, and only a word with a "-"
    # can carry a status suffix
    from trialscope.index import negation

    assert all(s.startswith("-") for s in negation._SUFFIXES)
    assert mentions("no egfr-negative or her2-positive disease") == []
    assert mentions("EGFR-Negative, Her2-POSITIVE") == [("EGFR", True), ("Her2", False)]


def test_a_subtype_named_only_as_absent_does_not_hold(tmp_path_factory) -> None:
    trials = [
        trial("NCT00000101", "Osimertinib in advanced NSCLC", ["NSCLC"], "osimertinib",
              inclusion="EGFR mutation positive (exon 19 deletion or L858R)"),
        trial("NCT00000102", "Pembrolizumab in advanced NSCLC", ["NSCLC"], "pembrolizumab",
              inclusion="No EGFR mutation or ALK rearrangement"),
    ]
    res = search(index_of(tmp_path_factory, "negated", trials), "EGFR-mutant NSCLC",
                 limit=5)
    assert [(h.trial_id, list(h.intents.values())) for h in res.hits] == \
        [("NCT00000101", ["yes"]), ("NCT00000102", ["no"])]


def test_elderly_is_held_in_part_by_a_trial_whose_ages_reach_it(tmp_path_factory) -> None:
    children = trial("NCT00000201", "Azacitidine in acute myeloid leukemia",
                     ["Acute Myeloid Leukemia"], "azacitidine", min_age=1)
    children.eligibility["max_age_years"] = 17
    adults = trial("NCT00000202", "Venetoclax in acute myeloid leukemia",
                   ["Acute Myeloid Leukemia"], "venetoclax", min_age=18)
    older = trial("NCT00000203", "Decitabine in acute myeloid leukemia",
                  ["Acute Myeloid Leukemia"], "decitabine", min_age=65)
    res = search(index_of(tmp_path_factory, "elderly", [children, adults, older]),
                 "elderly acute myeloid leukemia", limit=5)
    assert [(h.trial_id, list(h.intents.values())) for h in res.hits] == \
        [("NCT00000203", ["yes"]), ("NCT00000202", ["partly"]), ("NCT00000201", ["no"])]


def test_cli_shows_understanding_and_literal_turns_it_off(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert not service.import_paths(DataHome.resolve(str(home)), [CTGOV_FIXTURES]).failed
    run = CliRunner().invoke
    res = run(cli, ["--home", str(home), "search", "myasthenia gravis recruiting",
                    "--show-query", "--explain", "--no-facets", "--limit", "3"])
    assert res.exit_code == 0, res.output
    assert "[understood: status: recruiting" in res.stdout
    assert "understood status: recruiting" in res.stdout  # per result, under --explain
    for extra in (["--literal"], []):
        query = "myasthenia gravis recruiting" if extra else 'myasthenia gravis "recruiting"'
        res = run(cli, ["--home", str(home), "search", query, "--show-query", "--no-facets",
                        *extra])
        assert res.exit_code == 0 and "understood" not in res.stdout, res.output
    res = run(cli, ["--home", str(home), "search", "myasthenia gravis in China", "--json"])
    data = json.loads(res.stdout)
    assert data["understood"] and data["results"][0]["understood"]


# -- concept expansion never loses recall ----------------------------------------------------

def test_a_concept_spelling_also_matches_its_parts(index_dir: Path) -> None:
    # MuSK only in the inclusion criteria, the disease in the conditions
    assert "NCT00000005" in ranked(index_dir, "MuSK myasthenia gravis")


@pytest.fixture(scope="module")
def fixtures_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = DataHome.resolve(str(tmp_path_factory.mktemp("expansion") / "home"))
    assert not service.import_paths(home, [CTGOV_FIXTURES]).failed
    return home.index_dir


def _spellings() -> list[str]:
    """Every spelling of the synonym file, except the two-letter capitals ("MM", "MS"),
    which by design are never searched for themselves ("mm" is millimetres)."""
    out = {s.text for g in synonyms().groups for s in g.spellings if not s.exact}
    return sorted(out)


def test_expanded_queries_find_what_their_words_find(fixtures_index: Path,
                                                     index_dir: Path) -> None:
    assert len(_spellings()) > 100
    for where in (fixtures_index, index_dir):
        for spelling in _spellings():
            expanded = {h.trial_id for h in search(where, spelling, limit=None).hits}
            plain = {h.trial_id for h in search(where, spelling, limit=None,
                                                literal=True).hits}
            assert plain <= expanded, (spelling, sorted(plain - expanded))


# -- the named disease first -------------------------------------------------------------------

def test_the_named_disease_ranks_above_a_shared_target(index_dir: Path) -> None:
    ids = ranked(index_dir, "BCMA CAR-T myasthenia gravis")
    mg_cart = ["NCT00000001", "NCT00000002", "NCT00000003"]
    assert all(ids.index(t) < ids.index("NCT00000004") for t in mg_cart), ids
    # and the other way round
    assert ranked(index_dir, "BCMA CAR-T multiple myeloma")[0] == "NCT00000004"


def test_a_satisfied_intent_counts_as_sharing_more_than_the_disease() -> None:
    from trialscope.index.ranking import names_the_disease

    # "elderly NSCLC chemotherapy": a trial naming NSCLC, for the elderly, chemotherapy unsaid
    words = ((("nsclc",),), (("chemotherapy",),))
    args = ({"nsclc"}, {"nsclc"}, words, (2.0, 1.0), (True, False))
    assert not names_the_disease(*args)
    assert names_the_disease(*args, intent_held=True)
    # a query of conditions only: the trials of them that satisfy the intent come first
    only = ({"nsclc"}, {"nsclc"}, words[:1], (2.0,), (True,))
    assert not names_the_disease(*only) and names_the_disease(*only, intent_held=True)


def test_what_a_trial_shares_besides_the_disease_is_named_in_its_main_fields() -> None:
    from trialscope.index.ranking import names_the_disease

    # "GLP-1 receptor agonist type 2 diabetes": a diabetes trial naming the class in its
    # title or interventions ranks first; one naming it only in its description does not
    words = ((("diabetes",),), (("glp-1 receptor agonist",),))
    weights, conditions = (2.0, 1.0), (True, False)
    told = {"diabetes", "glp-1 receptor agonist"}
    assert names_the_disease(told, told, words, weights, conditions)
    assert not names_the_disease(told, {"diabetes"}, words, weights, conditions)


def test_an_intervention_query_puts_the_intervention_first(index_dir: Path) -> None:
    ids = ranked(index_dir, "efgartigimod myasthenia gravis")
    assert ids[0] == "NCT00000005"


# -- classes by INN stem, and typos ----------------------------------------------------------

def test_a_class_named_by_its_stem_finds_the_drugs_the_index_holds(index_dir: Path) -> None:
    res = search(index_dir, "SGLT2 inhibitor heart failure", limit=5)
    assert res.hits[0].trial_id == "NCT00000008"
    assert search(index_dir, "SGLT2 inhibitor", literal=True).total == 0


def test_a_drug_named_by_its_stem_also_finds_its_class(index_dir: Path) -> None:
    # no trial names dapagliflozin; its stem (-gliflozin) names the SGLT2 inhibitors, and
    # the index's empagliflozin trial is one: found, after any trial naming the drug itself
    res = search(index_dir, "dapagliflozin", limit=5)
    assert [h.trial_id for h in res.hits] == ["NCT00000008"] and "sglt2" in res.query_repr
    assert search(index_dir, "dapagliflozin", literal=True).total == 0
    ids = ranked(index_dir, "empagliflozin heart failure")
    assert ids[0] == "NCT00000008"


def test_a_misspelt_word_finds_the_word_meant(index_dir: Path) -> None:
    res = search(index_dir, "efgartigimd myasthenia gravis", limit=5)
    assert res.hits[0].trial_id == "NCT00000005" and "efgartigimod" in res.query_repr
    assert search(index_dir, "efgartigimd", literal=True).total == 0
    # a word the index holds is left as it is
    assert search(index_dir, "efgartigimod", limit=5).query_repr.startswith("(efgartigimod")


def test_an_open_searcher_keeps_an_intents_trials_and_answers_the_same(index_dir: Path
                                                                        ) -> None:
    """Intent.resolve keeps the trial sets per open searcher: the second search through the
    same searcher (a server's) gives what a fresh one gives, and another searcher (another
    index) never sees them."""
    import trialscope.index.search as search_mod
    from trialscope.index.indexer import open_index
    from trialscope.index.intents import _RESOLVED

    queries = ("CAR-T myasthenia gravis children", "cancer women",
               "myasthenia gravis CAR-T recruiting in China")
    fresh = {q: search(index_dir, q, limit=50) for q in queries}

    ix = open_index(index_dir)
    searcher = ix.searcher()

    class _Open:  # hands search() the one searcher, as a long-running server would
        def searcher(self, **_kw):
            return self

        def __enter__(self):
            return searcher

        def __exit__(self, *exc):
            return None

        def close(self):
            return None

    real = search_mod.open_index
    search_mod.open_index = lambda *_a, **_k: _Open()
    try:
        for _round in range(2):
            for q in queries:
                res = search(index_dir, q, limit=50)
                assert [(h.trial_id, h.score, h.intents) for h in res.hits] == \
                    [(h.trial_id, h.score, h.intents) for h in fresh[q].hits], q
        assert _RESOLVED.get(searcher)  # kept for this searcher
        other = ix.searcher()
        assert other not in _RESOLVED
        other.close()
    finally:
        search_mod.open_index = real
        searcher.close()
        ix.close()
