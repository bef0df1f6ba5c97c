"""Filters and facets agree: a facet value's count is the number of results its filter keeps."""

from __future__ import annotations

import pytest

from trialscope.app import service
from trialscope.index.search import QueryError, search
from trialscope.store.home import DataHome

from .conftest import CTGOV_FIXTURES


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> DataHome:
    home = DataHome.resolve(str(tmp_path_factory.mktemp("facets") / "home"))
    assert not service.import_paths(home, [CTGOV_FIXTURES]).failed
    return home


def _filter_for(facet: str, value: str) -> dict[str, object]:
    if facet == "start_year":
        return {"start_from": value, "start_to": value}
    key = {"status": "status", "phase": "phase", "country": "country", "sponsor": "sponsor",
           "target": "target", "modality": "modality"}[facet]
    return {key: [value]}


@pytest.mark.parametrize("query, filters", [
    ("", {}),
    ("myasthenia gravis", {}),
    ("CAR-T", {}),
    ("CAR-T", {"status": ["open"]}),
    ("myasthenia", {"phase": ["3"]}),
])
def test_every_facet_count_equals_the_filtered_result_count(home: DataHome, query: str,
                                                            filters: dict) -> None:
    results = service.search(home, query, limit=1, facets=True, **filters)
    assert results.facets is not None
    checked = 0
    for facet, counts in results.facets.items():
        for value, count in counts.items():
            narrowed = service.search(home, query, limit=1, **{**filters,
                                                               **_filter_for(facet, value)})
            assert narrowed.total == count, (facet, value)
            checked += 1
    assert checked > 0


def test_facets_cover_the_issue_list_and_targets_from_cell_therapy(home: DataHome) -> None:
    facets = service.search(home, "myasthenia gravis", facets=True).facets or {}
    assert set(facets) >= {"status", "phase", "country", "sponsor", "start_year", "target"}
    assert facets["target"]["BCMA"] >= 5 and "CD19" in facets["target"]
    assert "CAR-T" in facets["modality"] and "CAAR-T" in facets["modality"]


def test_facet_counts_follow_the_patient_filter(home: DataHome) -> None:
    everyone = service.search(home, "myasthenia gravis", facets=True, limit=100)
    old = service.search(home, "myasthenia gravis", facets=True, limit=100, patient_age=85)
    assert old.total < everyone.total
    assert sum((old.facets or {})["status"].values()) == old.total
    assert "NCT06958939" not in [h.trial_id for h in old.hits]  # 18-80 years


@pytest.mark.parametrize("filters, expected", [
    ({"city": ["hangzhou"]}, {"NCT05828225"}),
    ({"sponsor": ["kyverna therapeutics"]}, {"NCT05938725"}),
    ({"target": ["musk"]}, {"NCT05451212"}),
    ({"modality": ["car-nk"]}, {"NCT07243366"}),
    ({"has_results": True}, {"NCT03669588", "NCT03971422", "NCT01997229", "NCT02348216"}),
    ({"start_from": "2025-01", "start_to": "2025-12-31", "country": ["China"]}, {"NCT06958939"}),
    ({"min_enrollment": 100, "max_enrollment": 200}, None),
    ({"updated_since": "2025"}, None),
    ({"sex": "female"}, None),
])
def test_filters(home: DataHome, filters: dict, expected: set[str] | None) -> None:
    found = {h.trial_id for h in service.search(home, "", limit=100, **filters).hits}
    if expected is not None:
        assert found == expected
    else:
        assert found  # each of these keeps some of the 20 trials, and not all of them
        assert len(found) < 20 or "sex" in filters


def test_enrollment_and_dates_are_exact_ranges(home: DataHome) -> None:
    store_records = {r.trial_id: r for r in service.records(home)}
    found = {h.trial_id for h in service.search(home, "", limit=100, min_enrollment=100).hits}
    assert found == {t for t, r in store_records.items()
                     if (r.enrollment or {}).get("count") is not None
                     and r.enrollment["count"] >= 100}


@pytest.mark.parametrize("filters, words", [
    ({"start_from": "May 2025"}, "--start-from 'May 2025' is not a date"),
    ({"updated_since": "2025-13"}, "not a valid date"),
    ({"city": ["Hangzou"]}, "Did you mean 'Hangzhou'"),
    ({"target": ["CD99"]}, "No indexed trial has cell-therapy target"),
    ({"min_enrollment": 10, "max_enrollment": 5}, "is above --max-enrollment"),
    ({"sex": "other"}, "Unknown sex"),
])
def test_bad_filters_are_errors(home: DataHome, filters: dict, words: str) -> None:
    with pytest.raises(QueryError) as err:
        search(home.index_dir, "", **filters)
    assert err.value.code == "bad_filter" and words in str(err.value)


def test_bad_patient_facts_are_errors(home: DataHome) -> None:
    with pytest.raises(service.TrialsError) as err:
        service.search(home, "myasthenia", washout=["rituximab"])
    assert err.value.code == "bad_argument" and "--washout" in err.value.message


def test_patient_filter_keeps_order_and_pages(home: DataHome,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from trialscope.extract import fit

    monkeypatch.setattr(fit, "assess", lambda record, patient: type(
        "R", (), {"admits": record.trial_id != "NCT05828225"})())
    full = [h.trial_id for h in service.search(home, "CAR-T", limit=100).hits]
    kept = service.search(home, "CAR-T", limit=3, offset=1, where=["MG-ADL=7"], facets=True)
    expected = [t for t in full if t != "NCT05828225"]
    assert [h.trial_id for h in kept.hits] == expected[1:4]
    assert kept.total == len(expected) == sum((kept.facets or {})["status"].values())


@pytest.mark.parametrize("query", ["", "myasthenia gravis", "CAR-T", "lupus"])
@pytest.mark.parametrize("limit", [None, 1, 2, 15])
def test_facet_counts_equal_a_count_of_every_posting(home: DataHome, query: str,
                                                     limit: int | None) -> None:
    """The term-table shortcuts (a term's first/last document, skipping terms that cannot
    reach the top ``limit``) change nothing: compare with one postings pass per term."""
    from trialscope.index import facets
    from trialscope.index.indexer import open_index
    from trialscope.index.search import parse_query

    ix = open_index(home.index_dir)
    with ix.searcher() as searcher:
        q = parse_query(query)
        docset = set(searcher.docs_for_query(q)) if q is not None else set(
            searcher.reader().all_doc_ids())
        got = facets.count_facets(searcher, docset, limit=limit)
        reader = searcher.reader()
        for name, field in facets.FACETS.items():
            counts = []
            for term in reader.field_terms(field):
                n = sum(1 for d in reader.postings(field, term).all_ids() if d in docset)
                value = term.decode() if isinstance(term, bytes) else term
                if n:
                    counts.append((value.upper() if field in facets._UPPER else value, n))
            counts.sort(key=lambda vc: (-vc[1], vc[0]))
            assert got[name] == dict(counts[:limit] if limit else counts), (name, limit)
    ix.close()
