"""Markers a record names only as absent: "no EGFR mutation", "without ALK rearrangement",
"wild-type EGFR/ALK", "KRAS wild-type", "negative for HER2".

Immunotherapy trials in lung cancer write "EGFR" and "ALK" into their inclusion criteria
to say the patients must NOT have them; a subtype query ("EGFR-mutant NSCLC") must not take
that for the subtype.  ``negated_markers`` reads a record's title, official title and
inclusion criteria (exclusion criteria are not searched for a subtype anyway) and returns
the markers (analysed as the query parser analyses them) that every mention of which stands
in a negation: a marker also named once without one ("ALK-positive NSCLC; no prior ALK
inhibitor") is not negated.  The index keeps them in the ``negated`` field (schema.py);
``intents._subtype`` does not count a trial whose only mentions of the marker are these.

A negation (in the manner of NegEx): a trigger word ("no", "not", "without", "absence of",
"negative for", "free of", "lack of", "wild-type", "non"), then, within the same clause and
a few words, the marker; or the marker followed by "wild-type" / "negative" / "-negative".
A mention about treatment ("no prior ALK inhibitor", "not received EGFR TKI") is not a
negation of the marker: a treatment word between the trigger and the marker, or right after
the marker, ends it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

FIELD = "negated"
# how many words a negation reaches past its trigger
SCOPE_WORDS = 6
_TRIGGERS = frozenset({"no", "not", "without", "absence", "absent", "negative", "free",
                       "lack", "lacking", "wild-type", "wildtype", "wt", "non", "none"})
_AFTER = frozenset({"wild-type", "wildtype", "wt", "negative", "neg", "null", "-negative",
                    "absent"})
# words that make the mention about a treatment, not about the marker being absent
_TREATMENT = frozenset({"prior", "previous", "previously", "received", "receiving",
                        "treated", "treatment", "therapy", "therapies", "inhibitor",
                        "inhibitors", "tki", "tkis", "targeted", "drug", "drugs", "agent",
                        "agents", "antibody", "antibodies", "directed", "exposure"})
# clause ends: a negation does not reach past them; as in NegEx, a word that opens a new
# phrase about the patient ("with", "harbouring", "who", "that") ends it too ("without brain
# metastases harbouring ALK rearrangement" does not negate ALK)
_CLAUSE_END = frozenset({";", ".", ":", "but", "except", "unless", "however", "positive",
                         "+", "with", "harboring", "harbouring", "having", "has", "have",
                         "who", "whose", "which", "that", "carrying", "bearing"})
# a status word right after the marker that names it present
_PRESENT = frozenset({"positive", "pos", "mutant", "mutated", "rearranged", "amplified",
                      "overexpressing", "expressing", "high"})
_STATUS_SUFFIXES = ("-positive", "-mutant", "-mutated", "-rearranged", "-amplified")
_NOT_SUFFIXES = ("-negative", "-wt", "-null", "-wild-type", "-wildtype", "-neg")
_SUFFIXES = (*_STATUS_SUFFIXES, *_NOT_SUFFIXES)
_TOKEN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-]*\+?|[;.:,()/+]")
_MARKER_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*[A-Z0-9][A-Za-z0-9]*")


def _is_marker(word: str) -> bool:
    """A gene/marker-like word: letters and digits with a capital or a digit past its first
    character, not all digits ("EGFR", "HER2", "ALK", "KRAS", "PD-L1" as "PD")."""
    return bool(_MARKER_RE.fullmatch(word)) and any(c.isupper() for c in word) \
        and not word.isdigit() and len(word) >= 2


def _suffix(word: str) -> str:
    """The status suffix ``word`` ends with ("-positive", "-wt"), or ""."""
    low = word.lower()
    return next((x for x in _SUFFIXES if low.endswith(x)), "")


def mentions(text: str) -> list[tuple[str, bool]]:
    """Each marker mention of ``text`` as (marker as written, negated?)."""
    toks = _TOKEN_RE.findall(text)
    lower = [t.lower() for t in toks]
    out: list[tuple[str, bool]] = []
    for i, tok in enumerate(toks):
        word = tok.rstrip("+")
        if word.islower():  # (most words: no capital letter, so no marker, whatever follows)
            continue
        suffix = _suffix(word) if "-" in word else ""  # (every suffix starts with "-")
        base = word[:len(word) - len(suffix)]
        if not _is_marker(base):
            continue
        if tok.endswith("+") or suffix in _STATUS_SUFFIXES:
            out.append((base, False))
            continue
        negated = suffix in _NOT_SUFFIXES
        nxt = lower[i + 1] if i + 1 < len(toks) else ""
        if nxt in _TREATMENT or nxt in _PRESENT:
            out.append((base, False))
            continue
        if not negated:
            # after the marker (the markers of a "EGFR/ALK" list share it)
            j = i + 1
            while j + 1 < len(toks) and lower[j] == "/" and _is_marker(toks[j + 1]):
                j += 2
            if j < len(toks) and (lower[j] in _AFTER or (
                    lower[j] == "wild" and j + 1 < len(toks) and lower[j + 1] == "type")):
                negated = True
        if not negated:
            # before it, within the clause
            for j in range(i - 1, max(-1, i - 1 - SCOPE_WORDS), -1):
                w = lower[j]
                if w in _CLAUSE_END or w in _TREATMENT:
                    break
                if w in _TRIGGERS:
                    negated = True
                    break
        out.append((base, negated))
    return out


# a text without any of these cannot hold a negation (the fast path: most texts)
_ANY_TRIGGER = re.compile(r"(?i)\b(?:no|not|without|absen\w*|negative|neg|free|lack\w*|"
                          r"wild-?type|wt|non|none|null)\b")


def negated_markers(texts: Iterable[str | None], analyse: Any) -> list[str]:
    """The markers of ``texts`` named only in a negation, each analysed by ``analyse`` (a
    text -> analysed words function) to one word; the others are left out."""
    negated: set[str] = set()
    named: set[str] = set()
    plain: list[str] = []  # texts without a trigger: every mention there is a naming
    for text in texts:
        if not text:
            continue
        if not _ANY_TRIGGER.search(text):
            plain.append(text)
            continue
        for marker, neg in mentions(text):
            (negated if neg else named).add(marker)
    negated -= named
    if not negated:
        return []
    if plain:
        joined = "\n".join(plain)
        negated = {m for m in negated
                   if not re.search(r"(?<![\w-])" + re.escape(m) + r"(?![\w])", joined)}
    out: set[str] = set()
    for marker in negated:
        words = analyse(marker)
        if len(words) == 1:
            out.add(words[0])
    return sorted(out)
