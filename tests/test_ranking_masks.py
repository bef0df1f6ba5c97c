"""ranking.MaskForm (coverage, tiers and the named disease on a bit mask of matched words,
what index/engine/taat.py ranks with) against the same formulas on sets of words."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from trialscope.index import ranking
from trialscope.index.ranking import MaskForm

from .test_search import index_dir  # noqa: F401  (the module fixture)

WORDS = [f"w{i}" for i in range(14)]


def _random_units(rng: random.Random) -> tuple[tuple[tuple[str, ...], ...], ...]:
    units = []
    for _ in range(rng.randint(1, 5)):
        alts = []
        for _ in range(rng.randint(1, 6)):
            # one-word alternatives mostly, some of several words, now and then a repeat
            n = rng.choice((1, 1, 1, 2, 3))
            alts.append(tuple(rng.choice(WORDS) for _ in range(n)))
        units.append(tuple(alts))
    return tuple(units)


def test_mask_form_is_the_set_form() -> None:
    """Random units, bits for some of their words only (a word without a bit never matched),
    every kind of mask: the same coverage, tier coverage and named disease, to the bit."""
    rng = random.Random(18)
    checked = 0
    for _ in range(300):
        words = _random_units(rng)
        present = [w for w in WORDS if rng.random() < 0.85]
        bit_of = {w: 1 << i for i, w in enumerate(present)}
        in_main = [w for w in present if rng.random() < 0.6]
        main_bit_of = {w: 1 << (len(present) + i) for i, w in enumerate(in_main)}
        weights = tuple(rng.choice((0.0, 0.7, 1.3, 2.9, 4.25)) for _ in words)
        conditions = tuple(rng.random() < 0.4 for _ in words)
        form = MaskForm(words, bit_of, main_bit_of)
        for _ in range(40):
            mask = rng.getrandbits(len(present) + len(in_main))
            matched = {w for w, b in bit_of.items() if mask & b}
            main = {w for w, b in main_bit_of.items() if mask & b}
            for power in (1.0, ranking.COORD_POWER):
                assert form.coverage(mask, weights, power) == \
                    ranking.coverage(matched, words, weights, power)
            assert form.tier_coverage(mask, weights) == \
                ranking.tier_coverage(matched, main, words, weights)
            for held in (False, True):
                assert form.names_the_disease(mask, weights, conditions, held) == \
                    ranking.names_the_disease(matched, main, words, weights, conditions,
                                              held)
            checked += 1
    assert checked == 300 * 40


def _reference_coverage(matched: set[str], words, weights, power) -> float:
    """ranking.coverage as written before the mask form (the brute force)."""
    total = sum(weights) or 1.0
    covered = sum(w for alts, w in zip(words, weights, strict=True)
                  if any(all(t in matched for t in texts) for texts in alts))
    return (covered / total) ** power


def _reference_tier(matched: set[str], main: set[str], words, weights) -> float:
    total = sum(weights) or 1.0
    covered = 0.0
    for alts, w in zip(words, weights, strict=True):
        if any(all(t in main for t in texts) for texts in alts):
            covered += w
        elif any(all(t in matched for t in texts) for texts in alts):
            covered += w * ranking.SECONDARY_CREDIT
    return covered / total


def test_set_forms_are_the_formulas_as_written() -> None:
    rng = random.Random(7)
    for _ in range(500):
        words = _random_units(rng)
        matched = {w for w in WORDS if rng.random() < 0.5}
        main = {w for w in matched if rng.random() < 0.5}
        weights = tuple(rng.choice((0.0, 0.7, 1.3, 2.9)) for _ in words)
        assert ranking.coverage(matched, words, weights, 3.0) == \
            _reference_coverage(matched, words, weights, 3.0)
        assert ranking.tier_coverage(matched, main, words, weights) == \
            _reference_tier(matched, main, words, weights)


@pytest.mark.parametrize("text", [
    "refractory myasthenia gravis CAR-T", "CART cell therapy myasthenia gravis",
    "lupus nephritis CD19", "myeloma BCMA therapy", "elderly myasthenia rituximab"])
def test_engine_tier_keys_are_the_set_forms(index_dir: Path, text: str) -> None:  # noqa: F811
    """Every matched document's ranking key (taat.Matches, through the plan's MaskForm) is
    the one the set forms give for the words its mask holds."""
    from trialscope.index.engine import taat
    from trialscope.index.indexer import open_index
    from trialscope.index.search import _drop_absent, class_units, parse_query

    ix = open_index(index_dir)
    with ix.searcher() as searcher:
        q = class_units(parse_query(text))
        _drop_absent(q, searcher.reader())
        matches = taat.evaluate(searcher, ranking.Prior(q), tiered=True)
        assert matches is not None and matches.tiers is not None and matches.plan.coordinated
        p, tiers = matches.plan, matches.tiers
        assert tiers.weights is not None
        seen = 0
        for s in matches.segments:
            for d in s.docs:
                mask = s.mask[d]
                matched = {w for w, b in p.bit_of.items() if mask & b}
                main = {w for w, b in p.main_bit_of.items() if mask & b}
                assert matches._coverage(mask) == _reference_coverage(
                    matched, p.words, p.weights, p.power)
                weights = tiers.weights
                total = sum(weights) or 1.0
                covered = _reference_tier(matched, main, p.words, weights) * total
                first = ranking.names_the_disease(matched, main, p.words, weights,
                                                  tiers.conditions)
                key = ranking.rank(covered / total, first) * tiers.span
                assert matches._tier_key(mask, s.offset + d) == key
                seen += 1
        assert seen == matches.total > 0
    ix.close()
