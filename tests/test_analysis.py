"""The clinical analyzer: pinned token streams (index and query mode) and the concept table."""

from __future__ import annotations

import pickle

import pytest

from trialscope.index.analysis import (
    CONCEPTS,
    ClinicalTokenizer,
    clinical_analyzer,
    light_stem,
    tokens,
)

# text -> (index-time stream, query-time stream)
PINNED = {
    "CAR-T": (["cart"], ["cart"]),
    "CAR T cells": (["cart", "cell"], ["cart"]),
    "CART cells": (["cart", "cell"], ["cart"]),
    "chimeric antigen receptor T cells": (
        ["cart", "chimeric", "antigen", "receptor", "cell"], ["cart"]),
    "chimeric antigen receptor (CAR) T cells": (
        ["cart", "chimeric", "antigen", "receptor", "cell"], ["cart"]),
    "anti-CD19 CAR-T": (["anti-cd19", "anti", "cd19", "cart"], ["anti-cd19", "cart"]),
    "MG-ADL score ≥ 6": (["mg-adl", "mg", "adl", "score", "6"], ["mg-adl", "score", "6"]),
    "10 mg/kg": (["10", "mg", "kg"], ["10", "mg", "kg"]),
    "generalized MG": (
        ["generalized", "myasthenia_gravis", "myasthenia", "gravis"],
        ["generalized", "myasthenia_gravis"]),
    "car accident": (["car", "accident"], ["car", "accident"]),
    "IMVT-1402": (["imvt-1402", "imvt", "1402"], ["imvt-1402"]),
}


@pytest.mark.parametrize("text", list(PINNED))
def test_pinned_index_stream(text: str) -> None:
    assert tokens(text, mode="index") == PINNED[text][0]


@pytest.mark.parametrize("text", list(PINNED))
def test_pinned_query_stream(text: str) -> None:
    assert tokens(text, mode="query") == PINNED[text][1]


@pytest.mark.parametrize("text", [
    "CAR-T", "car-t", "CAR T", "CART", "CAR-Ts", "CAR-T cell", "CAR-T cells", "CAR T-cell",
    "CAR-T-cells", "chimeric antigen receptor", "chimeric antigen receptor T-cell",
    "Chimeric Antigen Receptor T Cell", "chimeric antigen receptor-modified T cells",
])
def test_cart_family_is_one_token(text: str) -> None:
    assert tokens(text, mode="query") == ["cart"]


@pytest.mark.parametrize("text", [
    "car accident", "car transport", "a car", "Cartilage repair", "car tires", "CAR construct",
])
def test_plain_car_is_never_cart(text: str) -> None:
    assert "cart" not in tokens(text, mode="index")


@pytest.mark.parametrize("text, concept", [
    ("CAR-NK cells", "carnk"),
    ("chimeric antigen receptor NK cells", "carnk"),
    ("CAR NK", "carnk"),
    ("CAAR-T", "caart"),
    ("chimeric autoantibody receptor T cells", "caart"),
])
def test_car_nk_and_caar_t_are_their_own_concepts(text: str, concept: str) -> None:
    assert tokens(text, mode="query") == [concept]


@pytest.mark.parametrize("text", [
    "MG", "gMG", "myasthenia gravis", "Myasthenia Gravis", "MYASTHENIA GRAVIS",
    "ocular MG", "(MG)", "MG.",
])
def test_myasthenia_gravis_spellings(text: str) -> None:
    assert "myasthenia_gravis" in tokens(text, mode="query")


@pytest.mark.parametrize("text", [
    "10 mg/kg", "10 MG", "5 MG/KG", "20mg", "MG-132", "Mg supplementation", "2.5 mg/dl",
])
def test_doses_and_magnesium_are_not_myasthenia(text: str) -> None:
    assert "myasthenia_gravis" not in tokens(text, mode="index")


def test_gmg_means_generalized_myasthenia_gravis() -> None:
    assert tokens("gMG", mode="query") == ["generalized", "myasthenia_gravis"]


def test_compound_with_concept_inside_is_found_by_the_concept() -> None:
    assert tokens("BCMA-CAR-T cells", mode="index") == ["bcma-car-t", "bcma", "cart", "cell"]
    assert tokens("gravis-related", mode="index") == ["gravis-related", "gravis", "related"]
    assert tokens("gravis-related", mode="query") == ["gravis-related"]


def test_stemming_only_for_ordinary_words() -> None:
    assert tokens("cells therapies antibodies diseases Cells") == [
        "cell", "therapy", "antibody", "disease", "cell"]
    # acronyms, codes, ALL-CAPS and short words keep their s
    assert tokens("CELLS AChRs KYV-101s gMGs bus") == [
        "cells", "achrs", "kyv-101s", "kyv", "101s", "gmgs", "bus"]
    assert tokens("gravis arthritis status") == ["gravis", "arthritis", "status"]


def test_light_stem_is_plural_only() -> None:
    assert [light_stem(w) for w in ("generalized", "treatment", "therapies", "doses")] == [
        "generalized", "treatment", "therapy", "dose"]


def test_stop_words_are_few_and_renumber_positions() -> None:
    assert tokens("the safety and efficacy of CAR-T in MG") == [
        "safety", "efficacy", "cart", "myasthenia_gravis", "myasthenia", "gravis"]
    stream = [(t.text, t.pos) for t in clinical_analyzer()(
        "Safety and Efficacy of CAR-T", positions=True, mode="index")]
    assert stream == [("safety", 0), ("efficacy", 1), ("cart", 2)]
    # "t" on its own is kept ("T cells"), and so is "no"
    assert tokens("T cells with no prior therapy") == ["t", "cell", "no", "prior", "therapy"]


def test_char_offsets_point_at_the_original_text() -> None:
    text = "Anti-CD19 CAR T cells for generalized MG"
    spans = {t.text: text[t.startchar:t.endchar]
             for t in clinical_analyzer()(text, chars=True, mode="index")}
    assert spans["cart"] == "CAR T cells"
    assert spans["anti-cd19"] == "Anti-CD19"
    assert spans["myasthenia_gravis"] == "MG"
    assert spans["myasthenia"] == "MG"  # extras share their concept's span (highlighting)


def test_concept_extras_share_the_concept_position() -> None:
    stream = [(t.text, t.pos) for t in clinical_analyzer()(
        "refractory myasthenia gravis trial", positions=True, mode="index")]
    assert stream == [("refractory", 0), ("myasthenia_gravis", 1), ("myasthenia", 1),
                      ("gravis", 1), ("trial", 2)]


def test_concept_table_is_well_formed() -> None:
    names = [c.name for c in CONCEPTS]
    assert len(names) == len(set(names))
    for concept in CONCEPTS:
        assert concept.tokens and all(t == t.lower() for t in concept.tokens)


def test_analyzer_pickles_as_its_class_only() -> None:
    # Whoosh pickles the schema into the index; the current table must be used on load.
    restored = pickle.loads(pickle.dumps(clinical_analyzer()))
    assert [t.text for t in restored("CAR-T", mode="query")] == ["cart"]
    assert len(pickle.dumps(ClinicalTokenizer())) < 200


def test_untokenized_values_are_only_lower_cased() -> None:
    # Whoosh passes wildcard text ("Myasth*") untokenized.
    assert [t.text for t in clinical_analyzer()("Myasth", tokenize=False)] == ["myasth"]


# -- the synonym file --------------------------------------------------------------------------

def test_concept_lines_of_the_synonym_file_collapse_to_the_analyzer_token() -> None:
    from trialscope.index.analysis import synonyms

    table = synonyms()
    for group in table.groups:
        texts = {s.text for s in group.spellings}
        if texts & {"CAR-NK", "CAAR-T", "MG"} and len(group.alternatives) == 1:
            assert {s.tokens for s in group.spellings} == {group.alternatives[0][0]}
    cart = next(g for g in table.groups if "CART cells" in {s.text for s in g.spellings})
    assert {s.tokens for s in cart.spellings} == {("cart",)}


def test_synonym_file_format() -> None:
    from trialscope.index.analysis import MEMBER_WEIGHT, parse_synonyms

    table = parse_synonyms("# comment\nfoo = Foo-1 = foo one\nbar class | bars > foo, baz\nMM = "
                           "multiple myeloma\n")
    foo, cls, mm = table.groups
    assert [a for a, _ in foo.alternatives] == [("foo",), ("foo-1",), ("foo", "one")]
    assert dict(cls.alternatives)[("foo-1",)] == MEMBER_WEIGHT  # a member brings its equivalents
    assert dict(cls.alternatives)[("bar", "class")] == 1.0
    assert ("mm",) not in dict(mm.alternatives)  # two-letter capitals: never searched itself
    words = [("MM", ("mm",))]
    assert table.match(words, 0) is not None and table.match([("mm", ("mm",))], 0) is None
    assert table.match([("Foo", ("foo",)), ("one", ("one",))], 0)[0] == 2  # longest wins
