"""Search: ranking on trials modelled on real registry entries, filters, query errors, snippets.

Ranking relies on idf: in a corpus of a dozen MG and CAR-T trials both words would be common, so
the corpus also holds background trials (other diseases, "therapy" everywhere), as a registry does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from trialscope.core.record import TrialRecord
from trialscope.index.indexer import NoIndexError, index_records
from trialscope.index.search import QueryError, describe, parse_query, search

from .conftest import block_postings, hit_ids, index_of, whoosh_postings


def rec(trial_id: str, title: str, conditions: list[str], interventions: list[tuple[str, str]],
        summary: str, *, status: str = "RECRUITING", phases: tuple[str, ...] = ("PHASE1",),
        countries: tuple[str, ...] = ("China",), exclusion: tuple[str, ...] = (),
        study_type: str | None = "INTERVENTIONAL", arms: tuple[tuple[str, str], ...] = (),
        registry: str = "ctgov", **extra: object) -> TrialRecord:
    return TrialRecord(
        trial_id=trial_id, registry=registry, title=title, status=status, phases=list(phases),
        study_type=study_type, conditions=conditions, summary=summary,
        interventions=[{"type": "BIOLOGICAL", "name": n, "description": d, "other_names": [],
                        "arm_labels": []} for n, d in interventions],
        arms=[{"label": label, "type": "EXPERIMENTAL", "description": d, "interventions": [],
               "doses": []} for label, d in arms],
        eligibility={"text": None, "inclusion": [], "sex": "ALL",
                     "exclusion": [{"text": t, "children": []} for t in exclusion]},
        locations=[{"facility": None, "city": None, "state": None, "country": c,
                    "status": None} for c in countries],
        **extra,
    )


MG_CART = [
    rec("NCT06958939",
        "The Safety and Efficacy of S103 in the Treatment of Refractory Generalized "
        "Myasthenia Gravis",
        ["Myasthenia Gravis, Generalized"],
        [("S103 CAR-T cells", "Autologous anti-CD19 CAR-T cells, one infusion")],
        "A phase I, single-arm, dose-escalation study of S103 in patients with refractory "
        "generalized myasthenia gravis.",
        arms=(("S103 CAR-T", "Sequential administration of different doses of S103 CAR-T"),),
        status="NOT_YET_RECRUITING", last_updated="2025-05-06", start_date="2025-05"),
    rec("NCT05828225",
        "Evaluate the Safety and Efficacy of CAR-T Cells in the Treatment of Refractory "
        "Myasthenia Gravis",
        ["Myasthenia Gravis"], [("CD19 CAR-T", "CD19-targeted CAR-T cells")],
        "The primary objective is to evaluate the safety of CD19 CAR-T therapy for patients "
        "with refractory myasthenia gravis, and the pharmacokinetics of CD19 CAR-T.",
        last_updated="2024-02-01"),
    rec("NCT06759948",
        "An Early Exploratory Clinical Study of GC012F Injection in the Treatment of "
        "Refractory Generalized Myasthenia Gravis",
        ["Generalized Myasthenia Gravis"],
        [("GC012F injection", "BCMA/CD19 dual-targeting chimeric antigen receptor T cells")],
        "An open-label study of GC012F in adults with refractory gMG.",
        last_updated="2025-01-10"),
    rec("NCT06193889",
        "A Phase 2 Study of KYV-101, an Autologous Fully Human Anti-CD19 Chimeric Antigen "
        "Receptor T Cell (CAR T) Therapy, in Subjects With Refractory Generalized Myasthenia "
        "Gravis",
        ["Myasthenia Gravis, Generalized"],
        [("KYV-101", "Autologous fully human anti-CD19 CAR T cell therapy")],
        "KYSA-6 evaluates KYV-101 in patients with refractory gMG.",
        phases=("PHASE2",), countries=("United States", "Germany"), acronym="KYSA-6",
        sponsor="Kyverna Therapeutics", last_updated="2025-03-01"),
]
OTHERS = [
    rec("NCT05332587",
        "Efficacy and Safety of Low-dose Rituximab in the Treatment of Refractory Myasthenia "
        "Gravis",
        ["Myasthenia Gravis"], [("Rituximab", "600 mg every 6 months")],
        "Rituximab for refractory MG; outcomes include the MG-ADL score.",
        phases=("PHASE2",), status="COMPLETED", last_updated="2023-01-01"),
    rec("NCT03669588",
        "An Efficacy and Safety Study of Efgartigimod (ARGX-113) in Patients With Generalized "
        "Myasthenia Gravis",
        ["Myasthenia Gravis, Generalized"],
        [("Efgartigimod", "10 mg/kg intravenous infusion"), ("Placebo", "")],
        "ADAPT evaluates efgartigimod in adults with gMG, including patients refractory to "
        "standard therapy.",
        phases=("PHASE3",), status="COMPLETED", countries=("United States", "Belgium")),
    rec("NCT07039916",
        "Study to Assess the Efficacy and Safety of IMVT-1402 in Participants With Mild to "
        "Severe Generalized Myasthenia Gravis",
        ["Generalized Myasthenia Gravis"], [("IMVT-1402", "Subcutaneous FcRn inhibitor")],
        "A phase 3 study of IMVT-1402 in gMG.", phases=("PHASE3",),
        countries=("United States",)),
    rec("NCT03548207",
        "A Study of JNJ-68284528, a Chimeric Antigen Receptor T Cell (CAR-T) Therapy Directed "
        "Against BCMA in Participants With Relapsed or Refractory Multiple Myeloma",
        ["Multiple Myeloma"],
        [("JNJ-68284528 (ciltacabtagene autoleucel)", "BCMA-directed CAR-T cells")],
        "CARTITUDE-1: CAR-T therapy for relapsed or refractory multiple myeloma. Refractory "
        "myeloma patients receive CAR-T cells.",
        exclusion=("Active autoimmune disease such as myasthenia gravis or lupus",),
        phases=("PHASE1", "PHASE2"), status="ACTIVE_NOT_RECRUITING",
        countries=("United States",)),
    rec("NCT04000002", "CD19 CAR T Cells for Relapsed or Refractory B-cell Lymphoma",
        ["Lymphoma, B-Cell"], [("CD19 CAR-T cells", "autologous CAR T cells")],
        "CAR-T cell therapy for refractory lymphoma."),
    rec("NCT04000003", "CD19 CAR-T Cells in Refractory Systemic Lupus Erythematosus",
        ["Systemic Lupus Erythematosus"], [("CD19 CAR-T", "")],
        "Anti-CD19 CAR-T cells for refractory SLE, an autoimmune disease."),
    rec("NCT04000004", "Rehabilitation After Car Accident Injuries", ["Whiplash Injuries"],
        [("Physiotherapy", "exercise program")],
        "Patients injured in a car accident receive physiotherapy. Car crash survivors.",
        phases=("NA",), countries=("Sweden",), status="COMPLETED"),
    rec("NCT04000005", "Ocular Myasthenia Gravis Natural History", ["Ocular Myasthenia Gravis"],
        [], "Observational study of ocular MG.", phases=(), status="UNKNOWN",
        study_type="OBSERVATIONAL", registry="chictr"),
]
_DISEASES = ["Type 2 Diabetes", "Asthma", "Heart Failure", "Psoriasis", "Migraine",
             "Depression", "COPD", "Rheumatoid Arthritis", "Parkinson Disease", "Obesity",
             "Chronic Kidney Disease", "Atopic Dermatitis", "Hepatitis B", "Glaucoma"]
_TEMPLATES = [
    ("Safety and Efficacy of Drug-{i} in {d}", "A randomized study of drug-{i} therapy in {d}."),
    ("A Study of Drug-{i} in Adults With {d}", "Drug-{i} compared with standard therapy in {d}."),
    ("Long-term Extension Study in {d}", "Open-label extension for participants with {d}."),
    ("Physical Therapy Program for {d}", "Supervised exercise therapy for people with {d}."),
]
BACKGROUND = [
    rec(f"NCT08{k:06d}", t.format(d=d, i=k), [d], [(f"Drug-{k}", "")], s.format(d=d, i=k),
        phases=("PHASE3",), countries=("France",), status="COMPLETED")
    for k, (d, (t, s)) in enumerate((d, tp) for d in _DISEASES for tp in _TEMPLATES)
]
ALL = MG_CART + OTHERS + BACKGROUND
MG_CART_IDS = {r.trial_id for r in MG_CART}


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return index_of(tmp_path_factory, "search", ALL)


def ids(index_dir: Path, query: str, **filters: object) -> list[str]:
    return hit_ids(index_dir, query, 100, **filters)


# -- ranking ---------------------------------------------------------------------------------

@pytest.mark.parametrize("query", [
    "refractory myasthenia gravis CAR-T",
    "CAR T myasthenia",
    "CART cell therapy myasthenia gravis",
    "chimeric antigen receptor myasthenia",
])
def test_mg_cart_trials_rank_first(index_dir: Path, query: str) -> None:
    ranked = ids(index_dir, query)
    top = ranked[:len(MG_CART_IDS)]
    assert set(top) == MG_CART_IDS, f"{query!r} ranked {ranked[:8]}"
    # and in particular above the MG biologics and the CAR-T myeloma trial
    for other in ("NCT03669588", "NCT05332587", "NCT03548207"):
        if other in ranked:
            assert ranked.index(other) >= len(MG_CART_IDS)


@pytest.mark.parametrize("query", ["CAR-T", "CAR T", "CART", "chimeric antigen receptor",
                                   "CAR-T cells", "car-t"])
def test_car_accident_never_matches_cart(index_dir: Path, query: str) -> None:
    found = ids(index_dir, query)
    assert "NCT04000004" not in found
    assert MG_CART_IDS <= set(found)


def test_car_accident_finds_only_the_accident(index_dir: Path) -> None:
    assert ids(index_dir, "car accident") == ["NCT04000004"]


def test_exclusion_criteria_do_not_count_as_topic(index_dir: Path) -> None:
    # The myeloma trial excludes MG patients: it is not an MG trial.
    assert "NCT03548207" not in ids(index_dir, "myasthenia gravis")
    assert ids(index_dir, 'exclusion:"myasthenia gravis"') == ["NCT03548207"]


def test_a_word_found_in_one_field_still_scores(index_dir: Path) -> None:
    # Regression: Whoosh's OrGroup.factory coordination scored this 0.0
    hits = search(index_dir, "MG-ADL").hits
    assert [h.trial_id for h in hits] == ["NCT05332587"] and hits[0].score > 0


# -- query features --------------------------------------------------------------------------

# "CAR-T" also searches the CAR-T products the synonym file lists (GC012F, KYV-101, ...)
CART = "(cart | gc012f | azd0120 | s103 | … 46 more)"


@pytest.mark.parametrize("query, form", [
    ("refractory myasthenia gravis CAR-T", f"(refractory OR myasthenia_gravis OR {CART})"),
    ("CAR T myasthenia", f"({CART} OR myasthenia)"),
    ("chimeric antigen receptor (CAR) T cells", CART),
    ("title:CAR-T", f"title:{CART}"),
    ('title:"CAR-T"', "title:cart"),
    ("condition:MG", "conditions:myasthenia_gravis"),
    ("id:nct06958939", "ids:nct06958939"),
    ('"myasthenia gravis" AND intervention:"KYV-101"',
     "(myasthenia_gravis AND interventions:kyv-101)"),
    ('"refractory generalized"', '"refractory generalized"'),
    ("myasth*", "myasth*"),
    ("gMG", "(generalized OR myasthenia_gravis)"),
    ("MG NOT CAR-T", f"(myasthenia_gravis ANDNOT {CART})"),
    ("Title:efgartigimod", "title:(efgartigimod | argx-113 | vyvgart)"),
    # a several-word concept spelling also searches its words apart (issue 16: recall)
    ("FcRn inhibitors", '(("fcrn inhibitor" | "fcrn antagonist" | "fcrn blocker" | anti-fcrn '
     '| … 16 more) OR fcrn OR inhibitor)'),
    ('"FcRn inhibitors"', '"fcrn inhibitor"'),
    ("MM", '"multiple myeloma"'),
    ("mm", "mm"),
    ("enrollment:[10 TO 50]", "enrollment:[10 TO 50]"),
    ("status:recruiting", "status:recruiting"),
    ("the AND MG", "myasthenia_gravis"),
    ("", "<all>"),
])
def test_parsed_query_forms(query: str, form: str) -> None:
    assert describe(parse_query(query)) == form


def test_field_weights_apply_to_phrases_and_fields() -> None:
    assert [str(leaf) for leaf in parse_query('title:"CAR-T"').leaves()] == ["title:cart^4.0"]
    # synonym alternatives: the field weight times the synonym weight (class members: 0.8)
    assert "title:gc012f^3.2" in [str(leaf) for leaf in parse_query("title:CAR-T").leaves()]
    leaves = [str(leaf) for leaf in parse_query('"myasthenia gravis"').leaves()]
    assert "title:myasthenia_gravis^4.0" in leaves and "criteria:myasthenia_gravis^0.3" in leaves


@pytest.mark.parametrize("query, expected", [
    ("condition:MG", MG_CART_IDS | {"NCT05332587", "NCT03669588", "NCT07039916", "NCT04000005"}),
    ("id:nct06958939", {"NCT06958939"}),
    ('intervention:"KYV-101"', {"NCT06193889"}),
    ("sponsor:kyverna", {"NCT06193889"}),
    ("KYSA-6", {"NCT06193889"}),
    ('"refractory generalized myasthenia gravis"', {"NCT06958939", "NCT06759948",
                                                     "NCT06193889"}),
    ("gMG AND efgartigimod", {"NCT03669588"}),
    ("myasthenia gravis NOT CAR-T", {"NCT05332587", "NCT03669588", "NCT07039916",
                                     "NCT04000005"}),
    ("imvt*", {"NCT07039916"}),
    ("gravis", MG_CART_IDS | {"NCT05332587", "NCT03669588", "NCT07039916", "NCT04000005"}),
])
def test_query_matches(index_dir: Path, query: str, expected: set[str]) -> None:
    assert set(ids(index_dir, query)) == expected


@pytest.mark.parametrize("query, code, words", [
    ("title:(foo", "query_syntax", "Unclosed '('"),
    ('"unclosed', "query_syntax", "Unclosed quote"),
    ("foo:bar", "unknown_field", "Unknown field 'foo'"),
    ("tittle:CAR-T", "unknown_field", "Did you mean title:"),
    ("AND", "query_syntax", "needs a term on both sides"),
    ("CAR-T AND", "query_syntax", "needs a term on both sides"),
    ("CAR-T OR OR MG", "query_syntax", "needs a term on both sides"),
    ("MG NOT", "query_syntax", "needs a term after it"),
    ("MG)", "query_syntax", "Unmatched ')'"),
    ("()", "query_syntax", "Empty parentheses"),
    ("title: CAR-T", "query_syntax", "has nothing after it"),
    ("the of and", "empty_query", "only very common words"),
])
def test_query_errors_name_the_problem(index_dir: Path, query: str, code: str,
                                       words: str) -> None:
    with pytest.raises(QueryError) as err:
        search(index_dir, query)
    assert err.value.code == code
    assert words in str(err.value)


def test_search_without_an_index(tmp_path: Path) -> None:
    with pytest.raises(NoIndexError, match="trials crawl --offline"):
        search(tmp_path / "nothing", "CAR-T")


# -- filters ---------------------------------------------------------------------------------

def test_status_open_group(index_dir: Path) -> None:
    found = ids(index_dir, "myasthenia gravis", status=["open"])
    assert set(found) == MG_CART_IDS | {"NCT07039916"}  # not yet recruiting + recruiting


def test_status_accepts_registry_spellings(index_dir: Path) -> None:
    assert ids(index_dir, "", status=["Not yet recruiting"]) == ["NCT06958939"]
    assert set(ids(index_dir, "myasthenia", status=["COMPLETED"])) == {
        "NCT05332587", "NCT03669588"}


@pytest.mark.parametrize("phase", ["2", "PHASE2", "Phase 2", "phase2"])
def test_phase_filter(index_dir: Path, phase: str) -> None:
    assert set(ids(index_dir, "CAR-T", phase=[phase])) == {"NCT06193889", "NCT03548207"}


def test_country_registry_and_type_filters(index_dir: Path) -> None:
    assert set(ids(index_dir, "CAR-T", country=["germany"])) == {"NCT06193889"}
    assert set(ids(index_dir, "CAR-T", country=["Germany", "China"])) == (
        MG_CART_IDS - {"NCT06193889"} | {"NCT06193889", "NCT04000002", "NCT04000003"})
    assert ids(index_dir, "", registry=["chictr"]) == ["NCT04000005"]
    assert ids(index_dir, "myasthenia", study_type=["observational"]) == ["NCT04000005"]


def test_filters_combine_with_and(index_dir: Path) -> None:
    found = set(ids(index_dir, "", status=["open"], phase=["1"], country=["China"]))
    assert found == {"NCT06958939", "NCT05828225", "NCT06759948", "NCT04000002",
                     "NCT04000003"}


def test_empty_query_lists_everything_filtered_newest_first(index_dir: Path) -> None:
    results = search(index_dir, "", status=["open"], phase=["1"], country=["China"])
    assert results.total == 5 and results.query_repr == "<all>"
    # last_updated descending; trials without a date come last
    assert [h.trial_id for h in results.hits][:3] == [
        "NCT06958939", "NCT06759948", "NCT05828225"]
    assert search(index_dir, "").total == len(ALL)


@pytest.mark.parametrize("filters, words", [
    ({"status": ["recruting"]}, "Unknown status 'recruting'"),
    ({"phase": ["7"]}, "Unknown phase '7'"),
    ({"study_type": ["interventionl"]}, "Unknown study type"),
    ({"country": ["Chinaa"]}, "Did you mean 'China'"),
    ({"registry": ["euctr"]}, "No indexed trial has registry 'euctr'"),
])
def test_bad_filter_values_are_errors_not_empty_results(index_dir: Path, filters: dict,
                                                        words: str) -> None:
    with pytest.raises(QueryError) as err:
        search(index_dir, "CAR-T", **filters)
    assert err.value.code == "bad_filter" and words in str(err.value)


# -- results ---------------------------------------------------------------------------------

def test_hits_carry_what_the_result_list_shows(index_dir: Path) -> None:
    hit = search(index_dir, "KYV-101").hits[0]
    assert hit.trial_id == "NCT06193889" and hit.score > 0
    assert hit.status == "RECRUITING" and hit.phases == ["PHASE2"]
    assert hit.conditions == ["Myasthenia Gravis, Generalized"]
    assert hit.title.startswith("A Phase 2 Study of KYV-101")


def test_snippets_mark_matched_terms(index_dir: Path) -> None:
    hits = search(index_dir, "refractory myasthenia gravis CAR-T").hits
    assert all("«" in h.snippet and "»" in h.snippet for h in hits[:4])
    top = next(h for h in hits if h.trial_id == "NCT05828225")
    assert "«CAR-T" in top.snippet and "«myasthenia gravis»" in top.snippet.lower()
    # a compound's part and a prefix expansion are highlighted too
    assert "«MG-ADL»" in search(index_dir, "MG-ADL").hits[0].snippet
    assert "«" in search(index_dir, "imvt*").hits[0].snippet


def test_paging(index_dir: Path) -> None:
    everything = ids(index_dir, "myasthenia gravis")
    page2 = search(index_dir, "myasthenia gravis", limit=3, offset=3)
    assert [h.trial_id for h in page2.hits] == everything[3:6]
    assert page2.total == len(everything)
    assert len(search(index_dir, "therapy", limit=None).hits) == search(index_dir,
                                                                        "therapy").total
    with pytest.raises(QueryError):
        search(index_dir, "CAR-T", limit=0)


# -- the term-at-a-time engine (index/engine/taat.py) agrees with Whoosh --------------------------

ENGINE_QUERIES = [
    "refractory myasthenia gravis CAR-T", "CAR T myasthenia", "CART cell therapy myasthenia gravis",
    "chimeric antigen receptor myasthenia", "CAR-T", "therapy", "study", "myasthenia",
    "FcRn inhibitors", "KYV-101", "MG-ADL", "lupus CD19", '"refractory generalized"',
    "car accident", "title:CAR-T", "condition:MG", "myasth*", "imvt*", "status:recruiting",
    "gMG", "drug-3 asthma", "exercise therapy", "Efgartigimod",
    '"refractory generalized myasthenia gravis"', '"car accident"', '"cell therapy"',
    '"safety and efficacy"', '"CAR-T cells" myasthenia', 'title:"safety and efficacy of"',
    '"standard therapy" "heart failure"', '"rehabilitation after car"',
]


@pytest.fixture(scope="module")
def bulk_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same records written as a bulk import writes them: a ``FastSegmentWriter``
    segment, with short posting lists inlined in the term table.  (One segment: across
    segments the engine's coordination weights differ from Whoosh's on purpose, see taat.)"""
    from trialscope.index.engine.fastwriter import FastSegmentWriter
    from trialscope.index.indexer import add_segments, open_index
    from trialscope.index.schema import record_to_doc

    path = tmp_path_factory.mktemp("bulk") / "index"
    open_index(path, create=True).close()
    segments = []
    for part in (ALL,):  # noqa: B007  (one worker's segment)
        writer = FastSegmentWriter(open_index(path), _lk=False, compound=False)
        for record in part:
            writer.add_document(**record_to_doc(record))
        segments.append(writer.finish_segment())
    add_segments(path, segments)
    return path


def test_engine_scores_as_whoosh_does_on_a_bulk_written_index(bulk_index_dir: Path) -> None:
    test_engine_scores_every_match_as_whoosh_does(bulk_index_dir)


def test_engine_scores_every_match_as_whoosh_does(index_dir: Path) -> None:
    from trialscope.index.engine import taat
    from trialscope.index.indexer import open_index
    from trialscope.index.ranking import Prior
    from trialscope.index.search import _drop_absent

    ix = open_index(index_dir)
    with ix.searcher() as searcher:
        for text in ENGINE_QUERIES:
            q = parse_query(text)
            _drop_absent(q, searcher.reader())
            matches = taat.evaluate(searcher, Prior(q))
            assert matches is not None, text
            mine = matches.ranked(None)
            theirs = [(h.docnum, h.score) for h in searcher.search(Prior(q), limit=None)]
            assert [d for d, _ in mine] == [d for d, _ in theirs], text
            assert all(abs(a - b) <= 1e-9 * max(1.0, abs(b))
                       for (_, a), (_, b) in zip(mine, theirs)), text
            assert matches.total == len(theirs) == len(set(searcher.docs_for_query(q)))
            for k in (1, 3, 10):  # a page is the head of the full ranking
                assert matches.ranked(k) == mine[:k], (text, k)
    ix.close()


@pytest.mark.parametrize("text", [
    "gMG AND efgartigimod", "MG NOT CAR-T", "myasthenia gravis NOT CAR-T",
    "CAR-T ANDNOT lupus", "CAR-T ANDMAYBE refractory", "(CAR-T OR rituximab) AND myasthenia",
    "NOT therapy", "myasthenia AND NOT ocular", "CAR-T AND (lupus OR myeloma) NOT ocular",
    "refractory AND title:myasthenia", "status:recruiting AND CAR-T"])
def test_engine_combines_and_or_not_as_whoosh_does(index_dir: Path, text: str) -> None:
    from trialscope.index.engine import taat
    from trialscope.index.indexer import open_index
    from trialscope.index.ranking import Prior
    from trialscope.index.search import _drop_absent

    ix = open_index(index_dir)
    with ix.searcher() as searcher:
        q = parse_query(text)
        _drop_absent(q, searcher.reader())
        matches = taat.evaluate(searcher, Prior(q))
        assert matches is not None
        mine = matches.ranked(None)
        theirs = [(h.docnum, h.score) for h in searcher.search(Prior(q), limit=None)]
        assert [d for d, _ in mine] == [d for d, _ in theirs]
        assert all(abs(a - b) <= 1e-9 * max(1.0, abs(b)) for (_, a), (_, b) in zip(mine, theirs))
        assert matches.total == len(theirs)
    ix.close()


def test_not_excludes_every_match_of_its_term(index_dir: Path) -> None:
    # Whoosh 2.7.5's own collector keeps NCT04000002 here (its ANDNOT matcher skips past it
    # in the preloaded union of "cd19" over 13 fields); the engine combines sets.
    found = ids(index_dir, "CAR-T AND (lupus OR lymphoma) NOT cd19")
    assert found == [] and "NCT04000002" in ids(index_dir, "cd19")


def test_engine_leaves_ranges_at_the_top_to_whoosh(index_dir: Path) -> None:
    from trialscope.index.engine import taat
    from trialscope.index.indexer import open_index

    ix = open_index(index_dir)
    with ix.searcher() as searcher:
        assert taat.evaluate(searcher, parse_query("enrollment:[10 TO 50]")) is None
    ix.close()


def test_filters_give_the_same_hits_as_whoosh_filtering(index_dir: Path) -> None:
    from trialscope.index.facets import Filters, build_filter
    from trialscope.index.indexer import open_index
    from trialscope.index.ranking import Prior

    ix = open_index(index_dir)
    with ix.searcher() as searcher:
        for text, filters in (("myasthenia gravis", {"status": ["open"]}),
                              ("CAR-T", {"phase": ["2"], "country": ["United States"]}),
                              ("therapy", {"status": ["completed"], "phase": ["3"]}),
                              ("lupus", {"registry": ["chictr"]})):
            flt = build_filter(searcher, Filters.of(filters))
            expected = [searcher.stored_fields(h.docnum)["trial_id"]
                        for h in searcher.search(Prior(parse_query(text)), limit=None,
                                                 filter=flt)]
            results = search(index_dir, text, limit=100, **filters)
            assert [h.trial_id for h in results.hits] == expected, text
            assert results.total == len(expected)
    ix.close()


def test_posting_blocks_are_read_as_whoosh_reads_them(index_dir: Path) -> None:
    """``taat.term_blocks`` reads ids and weights from the block bytes itself."""
    from trialscope.index.engine import taat
    from trialscope.index.indexer import open_index

    ix = open_index(index_dir)
    with ix.searcher() as searcher:
        for sub, _ in searcher.leaf_searchers():
            seg = sub.reader()
            assert taat.native(seg) and taat.scannable(seg)
            for field in seg.indexed_field_names():
                listed = list(taat.field_terms(seg, field))
                assert [t for t, *_ in listed] == list(seg.lexicon(field))
                for tbytes, df, first, last in listed:
                    ids, weights = whoosh_postings(seg, field, tbytes)
                    got_ids, got_weights = block_postings(seg, field, tbytes)
                    assert (got_ids, got_weights) == (ids, weights), (field, tbytes)
                    assert (df, first, last) == (len(ids), ids[0], ids[-1])
    ix.close()


@pytest.mark.parametrize("query", ["refractory myasthenia gravis CAR-T", "MG-ADL", "therapy",
                                   "gMG", "imvt*", "chimeric antigen receptor", "studies",
                                   "generalised", "drug-7", "2 mg"])
def test_snippets_equal_whole_text_highlighting(index_dir: Path, query: str) -> None:
    """Only the text around possible matches is analysed; the passage must not change."""
    from whoosh import highlight as wh

    from trialscope.index import search as search_mod
    from trialscope.index.indexer import open_index

    ix = open_index(index_dir)
    with ix.searcher() as searcher:
        q = parse_query(query)
        search_mod._drop_absent(q, searcher.reader())
        terms = search_mod._query_terms(q, searcher)
        for docnum in range(searcher.doc_count_all()):
            text = searcher.stored_fields(docnum).get("snippet", "")
            text += " · filler words " * 60 + text  # far apart: two windows
            joined = " · ".join(line.strip() for line in text.splitlines() if line.strip())
            whole = wh.highlight(joined, terms, search_mod._ANALYZER,
                                 search_mod._FRAGMENTER, search_mod._MarkFormatter(), top=1,
                                 mode="index")
            if whole:
                assert search_mod.make_snippet(text, terms) == whole.strip(), (query, docnum)
    ix.close()


LINKED_FILES = ["ctis/synthetic_2024-500002-22-00_current.json",
                "isrctn/synthetic_api_allTrials.xml", "euctr/synthetic_fulltext.txt"]


@pytest.fixture(scope="module")
def linked_home(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from trialscope.app import service
    from trialscope.store.home import DataHome

    from .conftest import CTGOV_FIXTURES, FIXTURES

    home = DataHome.resolve(str(tmp_path_factory.mktemp("linked") / "home"))
    service.import_paths(home, [FIXTURES / f for f in LINKED_FILES] + [CTGOV_FIXTURES])
    return home


@pytest.mark.parametrize("query, filters", [
    ("myasthenia gravis", {}), ("CAR-T myasthenia", {}), ("myasthenia", {"status": ["open"]}),
    ("CAR T cells", {"phase": ["1"]}), ("", {}), ("gMG AND CAR-T", {}),
])
def test_a_trial_registered_twice_is_listed_and_counted_once(linked_home, query: str,
                                                             filters: dict) -> None:
    """``groups`` (what the service passes) pages and counts as the rank-order
    ``GroupCollapser`` predicate does, without ranking every match."""
    from trialscope.app import service
    from trialscope.store.db import Store
    from trialscope.store.links import GroupCollapser

    with Store(linked_home.store_path) as store:
        assert len(store.linked_groups()) == 3
        everything = search(linked_home.index_dir, query, limit=None, facets=True,
                            keep=GroupCollapser(store, refresh=False), **filters)
    assert everything.total == len(everything.hits)
    for offset, limit in ((0, 20), (0, 1), (1, 2), (2, 100)):
        page = service.search(linked_home, query, limit=limit, offset=offset, facets=True,
                              **filters)
        assert [h.trial_id for h in page.hits] == [
            h.trial_id for h in everything.hits[offset:offset + limit]]
        assert page.total == everything.total and page.facets == everything.facets
    if query.startswith("myasthenia") and not filters:
        shown = [h for h in page.hits if h.also]
        assert len(shown) == 1 and {m["trial_id"] for m in shown[0].also} | {
            shown[0].trial_id} == {"2023-000001-11", "2024-500002-22-00", "ISRCTN00000002"}


def test_ranking_does_not_depend_on_how_the_index_is_segmented(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    index_records(one, ALL)
    index_records(two, ALL[:20])
    index_records(two, ALL[20:])
    from trialscope.index.indexer import open_index

    ix = open_index(two)
    assert len(ix._segments()) == 2
    ix.close()
    for text in ("refractory myasthenia gravis CAR-T", "CAR T lupus", "therapy asthma"):
        a = search(one, text, limit=None)
        b = search(two, text, limit=None)
        assert [(h.trial_id, round(h.score, 9)) for h in a.hits] == [
            (h.trial_id, round(h.score, 9)) for h in b.hits], text


@pytest.mark.parametrize("filters", [{}, {"status": ["open"]}, {"phase": ["3"]},
                                     {"country": ["China", "Sweden"]}])
def test_the_empty_query_is_sorted_as_whoosh_sorts_it(index_dir: Path, filters: dict) -> None:
    from whoosh import query as wq

    from trialscope.index.facets import Filters, build_filter
    from trialscope.index.indexer import open_index
    from trialscope.index.search import _NEWEST_FIRST

    ix = open_index(index_dir)
    with ix.searcher() as searcher:
        flt = build_filter(searcher, Filters.of(filters))
        expected = [searcher.stored_fields(h.docnum)["trial_id"] for h in searcher.search(
            wq.Every(), limit=None, filter=flt, sortedby=_NEWEST_FIRST)]
    ix.close()
    assert [h.trial_id for h in search(index_dir, "", limit=None, **filters).hits] == expected
    for offset, limit in ((0, 1), (2, 3), (5, 100)):
        page = search(index_dir, "", limit=limit, offset=offset, **filters)
        assert [h.trial_id for h in page.hits] == expected[offset:offset + limit]
        assert page.total == len(expected)


@pytest.mark.parametrize("text", [
    "study " + "a" * 400 + " study",
    "word " * 30 + "myasthenia" + "-x" * 200 + " gravis " + "filler " * 80 + "MG and more",
    "CAR T cells " * 3 + ". " * 300 + "CAR-T cells for refractory MG",
    "Phase 2 study; " * 40 + "studies of " + "generalised MG " * 3,
])
def test_snippets_of_awkward_texts_equal_whole_text_highlighting(text: str) -> None:
    from whoosh import highlight as wh

    from trialscope.index import search as search_mod

    for terms in ({"study"}, {"myasthenia_gravis", "gravis"}, {"cart", "cell"},
                  {"generalized", "study"}, {"refractory"}):
        whole = wh.highlight(text, frozenset(terms), search_mod._ANALYZER,
                             search_mod._FRAGMENTER, search_mod._MarkFormatter(), top=1,
                             mode="index")
        if whole:
            assert search_mod.make_snippet(text, frozenset(terms)) == whole.strip(), terms
