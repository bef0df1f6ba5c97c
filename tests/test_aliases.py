"""Issue 16: vocabulary the records themselves state (index/aliases.py), used by search.

An intervention's other names and the abbreviations a record defines ("non-small cell lung
cancer (NSCLC)") are indexed as pairs; a query word, or a run of query words, also finds the
trials that use the other name, when enough of the trials agree; quoted phrases and --literal
are never expanded; every plain word still matches as written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from trialscope.core.record import TrialRecord
from trialscope.index.aliases import definitions, record_aliases
from trialscope.index.schema import record_to_doc
from trialscope.index.search import search

from .conftest import hit_ids, index_of


def trial(trial_id: str, title: str, conditions: list[str], intervention: str, *,
          other_names: tuple[str, ...] = (), summary: str = "", min_age: float = 18,
          status: str = "RECRUITING") -> TrialRecord:
    return TrialRecord(
        trial_id=trial_id, registry="ctgov", title=title, status=status, phases=["PHASE2"],
        study_type="INTERVENTIONAL", conditions=conditions, summary=summary or title,
        interventions=[{"type": "DRUG", "name": intervention, "description": None,
                        "other_names": list(other_names), "arm_labels": []}],
        eligibility={"text": None, "sex": "ALL", "min_age_years": min_age,
                     "inclusion": [], "exclusion": []},
        locations=[{"facility": None, "city": None, "state": None, "country": "France",
                    "status": None}],
        last_updated="2025-01-01")


TRIALS = [
    # the brand is stated by two records; a third names only the generic
    trial("NCT10000001", "Pembrolizumab plus chemotherapy in lung cancer", ["Lung Cancer"],
          "Pembrolizumab", other_names=("Keytruda", "MK-3475")),
    trial("NCT10000002", "Pembrolizumab after surgery in lung cancer", ["Lung Cancer"],
          "Pembrolizumab", other_names=("KEYTRUDA®",)),
    trial("NCT10000003", "First-line pembrolizumab in squamous lung cancer", ["Lung Cancer"],
          "pembrolizumab"),
    trial("NCT10000004", "Nivolumab in lung cancer", ["Lung Cancer"], "nivolumab"),
    # an abbreviation defined in the record's own text, and a trial using only the short form
    trial("NCT10000005", "Sphenopalatine ganglion stimulation for cluster headache",
          ["Cluster Headache"], "Pulsante system",
          summary="Sphenopalatine ganglion (SPG) stimulation with an implanted device."),
    trial("NCT10000006", "SPG neurostimulation in chronic cluster patients",
          ["Cluster Headache"], "ATI neurostimulator"),
    trial("NCT10000007", "Occipital nerve stimulation in cluster headache",
          ["Cluster Headache"], "occipital nerve stimulator"),
    # population words (intents) must not outweigh the named disease
    trial("NCT10000008", "Frailty after acute illness in older adults", ["Older Adults"],
          "exercise", min_age=65),
    trial("NCT10000009", "Venetoclax in acute myeloid leukemia",
          ["Acute Myeloid Leukemia"], "venetoclax",
          summary="Adults with acute myeloid leukemia (AML) after induction."),
    trial("NCT10000010", "Azacitidine in AML", ["AML"], "azacitidine",
          summary="Patients with acute myeloid leukemia (AML)."),
]


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return index_of(tmp_path_factory, "aliases", TRIALS)


def test_definitions_follow_the_short_forms_letters() -> None:
    found = definitions("Adults with non-small cell lung cancer (NSCLC) and brain "
                        "metastases (BM) treated with stereotactic radiotherapy (n = 40) "
                        "or the sphenopalatine ganglion (SPG).")
    assert ("NSCLC", "non-small cell lung cancer") in found
    assert ("BM", "brain metastases") in found
    assert ("SPG", "sphenopalatine ganglion") in found
    assert not [s for s, _ in found if s.startswith("n")]  # "(n = 40)" is no abbreviation
    # letters that are not in the words before: no definition
    assert definitions("treated with chemotherapy (XYZ) today") == []


def test_a_record_states_its_other_names_both_ways() -> None:
    lines = record_aliases(TRIALS[1])
    assert "keytruda\tpembrolizumab" in lines and "pembrolizumab\tkeytruda" in lines
    # "placebo", arm labels and the like are not names of the intervention
    placebo = trial("NCT1", "t", ["c"], "Placebo", other_names=("Sugar pill",))
    assert record_aliases(placebo) == []
    doc = record_to_doc(TRIALS[4])
    assert "spg\tsphenopalatine ganglion" in doc["aliases"].split("\n")


def test_a_brand_finds_the_trials_that_name_only_the_generic(index_dir: Path) -> None:
    found = hit_ids(index_dir, "Keytruda lung cancer", 10)
    assert {"NCT10000001", "NCT10000002", "NCT10000003"} <= set(found[:3])
    assert found.index("NCT10000004") > 2  # nivolumab: the words "lung cancer" only


def test_an_abbreviation_finds_its_long_form_and_the_reverse(index_dir: Path) -> None:
    assert set(hit_ids(index_dir, "SPG stimulation", 2)) == {"NCT10000005", "NCT10000006"}
    # a run of words is one concept: the trial writing only "SPG" ranks above the trial
    # sharing "stimulation" with the query
    found = hit_ids(index_dir, "sphenopalatine ganglion stimulation", 10)
    assert found.index("NCT10000006") < found.index("NCT10000007")


def test_plain_words_still_match_as_written(index_dir: Path) -> None:
    # the alias concept keeps its words as units of their own (recall is never lost)
    found = hit_ids(index_dir, "ganglion", 10)
    assert found == ["NCT10000005"]
    assert "NCT10000007" in hit_ids(index_dir, "sphenopalatine ganglion stimulation", 10)


def test_quoted_and_literal_queries_are_not_expanded(index_dir: Path) -> None:
    assert set(hit_ids(index_dir, '"Keytruda"', 10)) == {"NCT10000001", "NCT10000002"}
    assert set(hit_ids(index_dir, "Keytruda", 10, literal=True)) == {"NCT10000001",
                                                                      "NCT10000002"}
    assert "NCT10000003" in hit_ids(index_dir, "Keytruda", 10)


def test_show_query_lists_the_other_names(index_dir: Path) -> None:
    shown = search(index_dir, "Keytruda", limit=5).query_repr
    assert "pembrolizumab" in shown


def test_an_intent_does_not_outweigh_a_disease_that_is_one_concept(index_dir: Path) -> None:
    # "acute myeloid leukemia" is one concept here (the records define AML): a trial for
    # older adults of another condition stays below the AML trials
    found = hit_ids(index_dir, "older adults with acute myeloid leukemia", 10)
    assert found.index("NCT10000008") > max(found.index("NCT10000009"),
                                            found.index("NCT10000010"))


# -- subtypes: a contrary status, and the antibody limits of the criteria ---------------------

def mg_trial(trial_id: str, title: str, antibodies: list[tuple[str, str]],
             inclusion: str = "") -> TrialRecord:
    rec = trial(trial_id, title, ["Myasthenia Gravis"], "study drug")
    rec.eligibility = {"text": None, "sex": "ALL", "min_age_years": 18,
                       "inclusion": [{"text": inclusion, "children": []}] if inclusion else [],
                       "exclusion": [],
                       "thresholds": [{"kind": "antibody", "measure": "antibody", "op": "=",
                                       "value": value, "section": section,
                                       "text": value} for value, section in antibodies]}
    return rec


SUBTYPES = [
    mg_trial("NCT20000001", "Drug A in generalized myasthenia gravis",
             [("AChR+", "inclusion")], inclusion="Anti-AChR antibody positive"),
    mg_trial("NCT20000002", "Drug B in generalized myasthenia gravis",
             [("MuSK+", "inclusion")],
             inclusion="MuSK antibody positive; AChR antibody negative"),
    mg_trial("NCT20000003", "Drug C in generalized myasthenia gravis", []),
    mg_trial("NCT20000004", "Drug D in generalized myasthenia gravis",
             [("seronegative", "inclusion")], inclusion="Seronegative disease"),
    trial("NCT20000005", "Trastuzumab in HER2-low breast cancer", ["Breast Cancer"],
          "trastuzumab deruxtecan"),
    trial("NCT20000006", "Trastuzumab in HER2-positive breast cancer", ["Breast Cancer"],
          "trastuzumab"),
]


@pytest.fixture(scope="module")
def subtype_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return index_of(tmp_path_factory, "subtypes", SUBTYPES)


def test_antibody_limits_are_indexed() -> None:
    from trialscope.index.antibodies import record_antibodies

    assert record_antibodies(SUBTYPES[0]) == ["req:achr+", "only:achr+"]
    assert record_antibodies(SUBTYPES[2]) == []
    both = mg_trial("NCT1", "t", [("AChR+", "inclusion"), ("MuSK+", "inclusion"),
                                  ("LRP4+", "exclusion")])
    assert record_antibodies(both) == ["req:achr+", "req:musk+", "not:lrp4+"]
    # "triple-negative" read as seronegative is no serostatus
    tnbc = mg_trial("NCT2", "t", [("seronegative", "inclusion")])
    tnbc.eligibility["thresholds"][0]["text"] = "triple-negative"
    assert record_antibodies(tnbc) == []


def test_an_antibody_subtype_uses_the_antibody_limits(subtype_index: Path) -> None:
    res = search(subtype_index, "AChR-positive myasthenia gravis", limit=10)
    levels = {h.trial_id: next(iter(h.intents.values())) for h in res.hits}
    assert levels["NCT20000001"] == "yes"  # restricted to AChR+
    assert levels["NCT20000003"] == "partly"  # no antibody limit: admits AChR+
    # restricted to MuSK+ (it names AChR only to exclude it), or to seronegative: no
    assert levels["NCT20000002"] == "no" and levels["NCT20000004"] == "no"
    ids = [h.trial_id for h in res.hits]
    assert ids[0] == "NCT20000001"


def test_seronegative_is_understood_as_an_antibody_status(subtype_index: Path) -> None:
    res = search(subtype_index, "seronegative myasthenia gravis", limit=10)
    assert any("seronegative" in u for u in res.understood)
    assert res.hits[0].trial_id == "NCT20000004"
    levels = {h.trial_id: next(iter(h.intents.values())) for h in res.hits}
    assert levels["NCT20000001"] == "no" and levels["NCT20000003"] == "partly"


def test_a_marker_named_with_a_contrary_status_is_not_the_subtype(subtype_index: Path
                                                                  ) -> None:
    res = search(subtype_index, "HER2-positive breast cancer", limit=10)
    levels = {h.trial_id: next(iter(h.intents.values())) for h in res.hits}
    assert levels["NCT20000006"] == "yes" and levels["NCT20000005"] == "no"
    assert [h.trial_id for h in res.hits][:2] == ["NCT20000006", "NCT20000005"]


@pytest.mark.parametrize("text", ["Keytruda lung cancer", "SPG stimulation",
                                  "sphenopalatine ganglion stimulation", "AML azacitidine",
                                  "acute myeloid leukemia", "pembrolizumab"])
def test_expansion_with_the_term_tables_frequencies_is_the_readers(index_dir: Path,
                                                                   text: str) -> None:
    """search() expands aliases with the searcher's term table answering doc_frequency
    (search._TableFrequencies): the same query as with the reader itself, on a searcher
    whose table is fresh and on one that has answered before."""
    from whoosh.reading import TermNotFound

    from trialscope.index import search as search_mod
    from trialscope.index.indexer import open_index

    ix = open_index(index_dir)
    with ix.searcher() as searcher:
        for _ in range(2):
            by_reader = search_mod.parse_query(text)
            search_mod.expand_aliases(by_reader, searcher.reader())
            by_table = search_mod.parse_query(text)
            table = search_mod._TableFrequencies(searcher)
            for field, word in (("interventions", "pembrolizumab"), ("title", "aml"),
                                ("title", "nosuchword")):
                assert table.doc_frequency(field, word) == \
                    searcher.reader().doc_frequency(field, word)
            with pytest.raises(TermNotFound):  # as the reader's
                table.doc_frequency("no_such_field", "x")
            search_mod.expand_aliases(by_table, table)
            assert by_table == by_reader
            assert search_mod.describe(by_table) == search_mod.describe(by_reader)
    ix.close()
