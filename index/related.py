"""Related trials: the trials most like a given one (``trials related ID``).

The job of the "Related Clinical Trials" list on registry mirror pages, done from the local
index.  A trial is described by what a researcher compares trials on, each an OR-ed unit
with its own weight:

- its conditions' terms, matched in titles and conditions (STRUCTURED weight);
- its domain concepts (CAR-T, CAR-NK, CAAR-T, myasthenia gravis) wherever they occur in the
  title, conditions, interventions or arms (CONCEPT weight): a CAR-T trial for MG is first of
  all a CAR-T trial for MG; another engineered cell therapy (CAR-NK for a CAR-T trial)
  counts SIBLING as much;
- its cell-therapy targets and modality (``record.cell_therapy``) as exact facet terms;
- a more-like-this over its text: the KEY_TERMS most distinctive words of its title,
  conditions, interventions, arms and summary (Whoosh's Bo1 expansion model, which weighs a
  word by how much more often it occurs here than in the whole index), searched in every
  default field with the usual field weights.

The structured units are coordinated like a search (ranking.Coord): a trial sharing the
condition AND the therapy ranks above one sharing only one of them; the text units add to that
(TEXT_WEIGHT), uncoordinated, and mostly order trials within a tier.  The trial itself is
masked out.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from whoosh import query as wq
from whoosh.searching import Searcher

from trialscope.core.record import TrialRecord
from trialscope.index.analysis import CONCEPTS, TOKEN_WORDS, synonyms, tokens
from trialscope.index.indexer import open_index
from trialscope.index.query import Unit, text_unit
from trialscope.index.ranking import Prior, coordinate, explain
from trialscope.index.schema import cell_facts, value_key

KEY_TERMS = 20
TEXT_WEIGHT = 0.15
STRUCTURED = 3.0
CONCEPT = 4.0
FACET = 2.0
COORD_POWER = 2.0  # gentler than search's: a related trial may differ in one respect
SIBLING = 0.6
_CONCEPT_TOKENS = frozenset(t for c in CONCEPTS for t in c.tokens if t != "generalized")
_CELL_THERAPIES = frozenset({"cart", "carnk", "caart"})
# index-time words of concepts: already counted by the concept's own unit
_CONCEPT_PARTS = frozenset({"myasthenia", "gravis", "chimeric", "antigen", "receptor",
                            "autoantibody"})
_NOISE = frozenset({"study", "trial", "patient", "participant", "subject", "treatment",
                    "safety", "efficacy", "phase", "group", "level", "dose", "evaluate",
                    "car"})  # "(CAR)" alone is the receptor in one trial, a vehicle in another


@dataclass
class RelatedHit:
    trial_id: str
    score: float
    title: str
    status: str
    phases: list[str]
    conditions: list[str]
    shared: list[str] = field(default_factory=list)  # the units it scored most on


@dataclass
class RelatedResults:
    trial_id: str
    title: str
    hits: list[RelatedHit] = field(default_factory=list)
    query_repr: str = ""


def _record_text(record: TrialRecord) -> str:
    parts: list[Any] = [record.title, record.official_title, *record.conditions,
                        *record.keywords]
    for iv in record.interventions:
        parts += [iv.get("name"), *(iv.get("other_names") or []), iv.get("description")]
    for arm in record.arms:
        parts += [arm.get("label"), arm.get("description")]
    parts.append(record.summary)
    return "\n".join(str(p) for p in parts if p)


def related_query(searcher: Searcher, record: TrialRecord) -> wq.Query | None:
    units: dict[str, Unit] = {}

    def add(key: str, unit: Unit) -> None:
        units.setdefault(key, unit)

    # what it is about: its conditions, in titles and conditions
    for cond in record.conditions:
        for tok in tokens(cond, mode="query"):
            if tok not in _NOISE:
                add(f"c:{tok}", _fielded(((tok,),), (STRUCTURED,), ("conditions", "title")))
    # its domain concepts, wherever the record names them
    core = "\n".join([record.title or "", record.official_title or "", *record.conditions,
                      *(iv.get("name") or "" for iv in record.interventions),
                      *(iv.get("description") or "" for iv in record.interventions),
                      *(arm.get("label") or "" for arm in record.arms)])
    core_tokens = set(tokens(core + "\n" + (record.summary or ""), mode="query"))
    found = [t for t in sorted(_CONCEPT_TOKENS) if t in core_tokens
             or synonyms().implied(t) & core_tokens]
    for tok in found:
        if tok in _CELL_THERAPIES:
            # another engineered cell therapy is a close second to the same one
            alts = ((tok,), *((t,) for t in sorted(_CELL_THERAPIES - {tok})))
            weights = (CONCEPT,) + (CONCEPT * SIBLING,) * (len(alts) - 1)
        else:
            alts, weights = ((tok,),), (CONCEPT,)
        implied = tuple((t,) for t in sorted(synonyms().implied(tok)))
        alts, weights = alts + implied, weights + (CONCEPT,) * len(implied)
        add(f"c:{tok}", _fielded(alts, weights, ("title", "conditions", "interventions",
                                                 "arms", "keywords", "summary")))
    # its cell-therapy facts: the targets (a shared target matters less than a shared
    # disease), and the modality where no concept unit above already stands for it
    cell = cell_facts(record)
    for value in cell.get("targets") or []:
        term = wq.ConstantScoreQuery(wq.Term("targets", value_key(value)), score=FACET)
        add(f"f:targets:{value}", Unit(term, f"target:{value}", "targets",
                                       (((value_key(value),), FACET),)))
    if not any(t in _CELL_THERAPIES for t in found):
        for value in cell.get("modality") or []:
            term = wq.ConstantScoreQuery(wq.Term("modality", value_key(value)), score=CONCEPT)
            add(f"f:modality:{value}", Unit(term, f"modality:{value}", "modality",
                                            (((value_key(value),), CONCEPT),), concept=True))
    structured = list(units.values())
    # and the words that make its text distinctive: added to the score, not coordinated
    # (a trial need not share all twenty words; it must share the condition and the therapy)
    words: list[wq.Query] = []
    for term, weight in searcher.key_terms_from_text("summary", _record_text(record),
                                                     numterms=KEY_TERMS):
        if (term not in _NOISE and not term.isdigit() and f"c:{term}" not in units
                and term not in _CONCEPT_PARTS):
            words.append(text_unit((((term,), TEXT_WEIGHT * float(weight)),), None))
    parts: list[wq.Query] = []
    if structured:
        parts.append(structured[0] if len(structured) == 1
                     else coordinate(wq.Or(structured), power=COORD_POWER))
    if words:
        parts.append(wq.Or(words))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else wq.Or(parts)


def _fielded(alts: tuple[tuple[str, ...], ...], weights: tuple[float, ...],
             fields: tuple[str, ...]) -> Unit:
    """A structured unit: ``weight`` when the trial has the term in any of ``fields``,
    however often (an overlap, not a text score); the best alternative counts."""
    leaves = [wq.ConstantScoreQuery(wq.Or([wq.Term(f, texts[0]) for f in fields]), score=w)
              for texts, w in zip(alts, weights, strict=True)]
    label = alts[0][0]  # "cart" stands for the CAR-T family and its products
    child = leaves[0] if len(leaves) == 1 else wq.DisjunctionMax(leaves)
    return Unit(child, label, None, tuple(zip(alts, weights, strict=True)), concept=True)


_SURFACE_RE = re.compile(r"[^\W_][\w\u2010\u2011-]*")
SHARED_SHOWN = 5


def _surfaces(text: str) -> dict[str, str]:
    """Each one-token word of ``text`` by its index token: 'bcma' -> 'BCMA', 'cell' -> 'cells'
    (the first spelling the trial uses)."""
    out: dict[str, str] = {}
    for m in _SURFACE_RE.finditer(text):
        word = m.group()
        for part in (word, *re.split(r"[\u2010\u2011-]", word)):  # "CD19-CAR-NK": CD19 too
            toks = tokens(part, mode="query")
            if len(toks) == 1:
                out.setdefault(toks[0], part)
    return out


def shared_words(why: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    """What a related trial shares with the one asked about, in a researcher's words: the
    best-scoring matched term of each unit, strongest unit first, as the trial writes it
    ('BCMA', 'myasthenia gravis', 'CAR-T'), never an index token ('myasthenia_gravis') and
    never twice ('target:BCMA' and the word 'bcma' are one thing).  A sibling match says so:
    a CAR-NK trial related to a CAR-T one shares 'CAR-NK (like CAR-T)', not 'cart'."""
    surfaces = _surfaces("\n".join(str(stored.get(f) or "") for f in
                                   ("title", "conditions", "interventions", "keywords")))

    def words(term: str) -> str:
        if term in TOKEN_WORDS:
            return TOKEN_WORDS[term]
        surface = surfaces.get(term, term)
        # a capitalised plain word ("Refractory" in a title) is the word; "BCMA" stays
        return surface.lower() if surface[1:].islower() and surface.isalpha() else surface

    # explain() lists terms best first, so a unit's first term is its best-scoring one
    best: dict[str, tuple[float, str, str]] = {}  # unit label -> (unit score, term, field)
    for t in why.get("terms", []):
        unit = str(t["unit"])
        best.setdefault(unit, (float(why.get("units", {}).get(unit, t["score"])),
                               str(t["term"]), str(t["field"])))
    out: list[str] = []
    seen: set[str] = set()
    for unit, (_, term, field_name) in sorted(best.items(), key=lambda kv: -kv[1][0]):
        text = term if field_name in ("targets", "modality") else words(term)
        label = unit.split(":", 1)[1] if unit.startswith(("target:", "modality:")) else unit
        if field_name not in ("targets", "modality") and label in TOKEN_WORDS and label != term:
            # matched through the unit's sibling concept or one of its products
            text = f"{text} ({'like ' if term in TOKEN_WORDS else ''}{TOKEN_WORDS[label]})"
        if text.lower() not in seen:
            seen.add(text.lower())
            out.append(text)
        if len(out) == SHARED_SHOWN:
            break
    return out


def related(index_dir: str | os.PathLike[str], record: TrialRecord, *,
            limit: int = 10) -> RelatedResults:
    out = RelatedResults(record.trial_id, record.title or "")
    ix = open_index(index_dir)
    try:
        with ix.searcher() as searcher:
            q = related_query(searcher, record)
            if q is None:
                return out
            from trialscope.index.query import describe

            out.query_repr = describe(q)
            results = searcher.search(Prior(q), limit=limit,
                                      mask=wq.Term("trial_id", record.trial_id))
            for h in results:
                stored = h.fields()
                shared = shared_words(explain(searcher, q, h.docnum), stored)
                out.hits.append(RelatedHit(
                    trial_id=stored["trial_id"], score=float(h.score or 0.0),
                    title=stored.get("title", ""), status=stored.get("status", "unknown").upper(),
                    phases=[p.upper() for p in stored.get("phases", "").split(",") if p],
                    conditions=[c for c in stored.get("conditions", "").split("\n") if c],
                    shared=shared))
    finally:
        ix.close()
    return out
