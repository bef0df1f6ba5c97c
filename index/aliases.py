"""Names a trial gives its own things: vocabulary read from the records, not from a list.

A registry record often says that two spellings name one thing:

- an intervention and its other names: "Pembrolizumab" with ``other_names`` "Keytruda",
  "MK-3475"; "Empagliflozin" with "BI 10773";
- an abbreviation defined in the record's own text: "non-small cell lung cancer (NSCLC)",
  "sphenopalatine ganglion (SPG) stimulation" (the Schwartz & Hearst rule: the short form in
  brackets, its letters found in order in the words before it, the first at a word start).

``record_aliases`` reads these pairs from one record, as lines "key<TAB>value" of analysed
words (query mode), both ways round; the index keeps them in the ``aliases`` field (one value
a line, like the other value fields), so the number of trials that state a pair is its
document frequency.  At query time ``expand_aliases`` (index/search.py) gives a query word,
or a run of adjacent query words, the other names the index's own trials state for it, when
enough of the trials that use the word agree (``accepted``): "Keytruda lung cancer" then
finds the pembrolizumab trials that never write "Keytruda", "SPG stimulation" the trials that
write "sphenopalatine ganglion", and the reverse.  A quoted phrase and ``--literal`` are never
expanded.  The expansion only adds alternatives: every plain word still matches as written.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from typing import Any

FIELD = "aliases"
SEP = "\t"
# (reader, field, prefix) -> [(term, doc frequency)] in term order, or None: not answered
PrefixTerms = Callable[[Any, str, bytes], "list[tuple[bytes, int]] | None"]
# A spelling longer than this (in analysed words) is a description, not a name.
MAX_WORDS = 6
# Other names that are not names of the intervention (arm labels, "placebo", "standard of
# care"): a pair with one of these words on either side is not kept.
_NOT_NAMES = frozenset("""
placebo placebos control controls standard care usual arm arms group groups treatment
treatments therapy therapies observation procedure procedures dose doses drug drugs device
devices intervention interventions other none not specified sham blinded unblinded open
label vehicle saline comparator experimental active best supportive investigator choice
""".split())
# Brackets that hold a short form: 2..10 characters, at most two words, a letter among them.
_SHORT_RE = re.compile(r"\(\s*([A-Za-z0-9][\w\-/.&+]{0,9}(?:\s[\w\-/.&+]{1,9})?)\s*\)")
_WORD_RE = re.compile(r"[\w][\w\-/.&+']*")
_MARKS = re.compile(r"[\u00ae\u2122\u00a9]")


@functools.lru_cache(maxsize=1)
def _analyzer():
    from trialscope.index.analysis import clinical_analyzer

    return clinical_analyzer()


@functools.lru_cache(maxsize=65536)
def words(text: str) -> tuple[str, ...]:
    """``text`` as the query parser analyses it (stop words out, stems, concepts)."""
    return tuple(t.text for t in _analyzer()(_MARKS.sub(" ", text), mode="query"))


def _name_like(toks: tuple[str, ...]) -> bool:
    if not toks or len(toks) > MAX_WORDS:
        return False
    if any(t in _NOT_NAMES for t in toks):
        return False
    joined = "".join(toks)
    return len(joined) >= 3 and any(c.isalpha() for c in joined)


def definitions(text: str) -> list[tuple[str, str]]:
    """(short form, long form) for every "long form (SHORT)" in ``text`` (Schwartz & Hearst,
    2003): the short form has a letter and starts with a letter or digit; its letters are
    found right to left in the words just before the bracket, its first letter at the start
    of a word; the long form has at most min(len + 5, 2 x len) words."""
    out: list[tuple[str, str]] = []
    for m in _SHORT_RE.finditer(text):
        short = m.group(1).strip()
        letters = [c for c in short.lower() if c.isalnum()]
        if len(letters) < 2 or not any(c.isalpha() for c in letters) \
                or not short[0].isalnum() or len(short.split()) > 2:
            continue
        before = text[max(0, m.start() - 200):m.start()]
        # the long form stays in its sentence / clause
        before = re.split(r"[.;:()\[\]\n]\s", before)[-1]
        toks = list(_WORD_RE.finditer(before))
        limit = min(len(letters) + 5, 2 * len(letters))
        toks = toks[-limit:]
        if not toks:
            continue
        long_form = _match_long(letters, before, toks[0].start())
        if long_form is None:
            continue
        if long_form.lower().replace("-", " ").split() == short.lower().split():
            continue
        out.append((short, long_form))
    return out


def _match_long(letters: list[str], before: str, floor: int) -> str | None:
    """The shortest tail of ``before`` (not starting before ``floor``) in which the short
    form's letters occur in order, right to left, the first at a word start."""
    text = before.lower()
    i = len(text) - 1
    k = len(letters) - 1
    while k >= 0:
        c = letters[k]
        while i >= floor and (text[i] != c or (k == 0 and i > 0 and text[i - 1].isalnum())):
            i -= 1
        if i < floor:
            return None
        i -= 1
        k -= 1
    start = text.rfind(" ", 0, i + 1) + 1
    start = max(start, floor)
    long_form = before[start:].strip(" ,-")
    # the long form must span more than its last word when the short form has several
    # letters ("(NSCLC)" after "... lung cancer": all of it; "(SPG)" after "ganglion": no)
    if len(long_form.split()) < 2 and len(letters) > 2:
        return None
    return long_form or None


def _pair_lines(a: str, b: str) -> list[str]:
    ka, kb = words(a), words(b)
    if ka == kb or not _name_like(ka) or not _name_like(kb):
        return []
    sa, sb = " ".join(ka), " ".join(kb)
    return [sa + SEP + sb, sb + SEP + sa]


def record_aliases(record: Any) -> list[str]:
    """The alias lines of one record (each once)."""
    lines: list[str] = []
    for iv in record.interventions or []:
        name = _clean_name(iv.get("name") or "")
        for other in iv.get("other_names") or []:
            lines += _pair_lines(name, _clean_name(other))
    for text in _texts(record):
        for short, long_form in definitions(text):
            lines += _pair_lines(short, long_form)
    return list(dict.fromkeys(lines))


def _clean_name(text: str) -> str:
    """"Keytruda®" -> "Keytruda"; "Drug: X" -> "X"; "(IMFINZI; MEDI4736)" -> left alone
    (not one name)."""
    text = _MARKS.sub("", text).strip()
    text = re.sub(r"^(?:drug|biological|device|procedure|other)\s*:\s*", "", text, flags=re.I)
    if any(c in text for c in ";,()[]") or len(text) > 60:
        return ""
    return text


def _texts(record: Any) -> Iterable[str]:
    yield record.title or ""
    yield record.official_title or ""
    yield from record.conditions or []
    yield record.summary or ""
    yield (record.description or "")[:4000]
    for iv in record.interventions or []:
        yield iv.get("name") or ""
        yield iv.get("description") or ""


# -- query time --------------------------------------------------------------------------------

# A key's other name is used when at least MIN_SHARE of the trials that name the key (in the
# fields that say what a trial is) state the pair, or at least MIN_SUPPORT trials do; and only
# names stated at least a third as often as the key's most stated name (the key's main
# meaning, not a one-off).
MIN_SHARE = 0.2
MIN_SUPPORT = 3
MAX_VALUES = 4
NAME_FIELDS = ("title", "conditions", "interventions", "keywords", "official_title",
               "summary")


def lookup(reader: Any, key: tuple[str, ...], prefix_terms: PrefixTerms | None = None
           ) -> list[tuple[tuple[str, ...], int]]:
    """The other names the index's trials state for ``key``: (value words, trials).
    ``prefix_terms``: the engine's in-memory prefix search (``taat.prefix_terms``: the same
    terms and frequencies), used when it answers."""
    prefix = " ".join(key) + SEP
    found = None
    if prefix_terms is not None:
        try:
            found = prefix_terms(reader, FIELD, prefix.encode("utf-8"))
        except Exception:  # noqa: BLE001 - a reader it cannot read: Whoosh's way below
            found = None
    if found is not None:  # (the same terms and frequencies, from memory)
        return [(tuple(term.decode("utf-8")[len(prefix):].split(" ")), df)
                for term, df in found]
    try:
        terms = list(reader.expand_prefix(FIELD, prefix))
    except Exception:  # noqa: BLE001 - an index without the field
        return []
    out = []
    for term in terms:
        text = term.decode("utf-8") if isinstance(term, bytes) else term
        value = tuple(text[len(prefix):].split(" "))
        out.append((value, reader.doc_frequency(FIELD, text)))
    return out


def key_frequency(reader: Any, key: tuple[str, ...]) -> int:
    """Trials naming ``key`` (all its words) in NAME_FIELDS, as a phrase's rarest word."""
    best = 0
    for f in NAME_FIELDS:
        try:
            best = max(best, min(reader.doc_frequency(f, w) for w in key))
        except Exception:  # noqa: BLE001 - no such field
            continue
    return best


def accepted(reader: Any, key: tuple[str, ...], prefix_terms: PrefixTerms | None = None
             ) -> list[tuple[str, ...]]:
    """The other names of ``key`` the index supports (see MIN_SHARE), the most stated
    first."""
    found = lookup(reader, key, prefix_terms)
    if not found:
        return []
    top = max(n for _, n in found)
    used = max(key_frequency(reader, key), 1)
    keep = [(v, n) for v, n in found
            if n * 3 >= top and (n >= MIN_SUPPORT or n >= MIN_SHARE * used)]
    keep.sort(key=lambda vn: (-vn[1], vn[0]))
    return [v for v, _ in keep[:MAX_VALUES]]
