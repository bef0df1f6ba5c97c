"""Keyword pre-checks: skip a costly regex on text that cannot match it.

Most criteria items and free-text fields mention no lab, antibody, drug window or cell-therapy
product, yet a big alternation regex still tries every branch at every position before it
fails.  A *gate* lists literal keywords of which at least one occurs in every possible match of
a pattern (``("bilirubin",)`` for ``(?:direct|conjugated)\\s+bilirubin``); when none occurs in
the text, the pattern cannot match and is not run.  Gates are necessary conditions only: a key
that is present just means the real pattern runs, so a gate never changes what is extracted as
long as each of its keys is a literal that every match of its pattern contains.

Keys are matched in two forms:

* as written (case-sensitive), for the case-sensitive parts of a pattern ("ALT", "MGFA");
* lower-case in ``fold(text)``, for the ``re.IGNORECASE`` parts.  ``fold`` lower-cases the way
  ``re.IGNORECASE`` compares ASCII letters and turns every whitespace character into a space,
  so a case-insensitive match of ``ide[-\\s]?cel`` always leaves "idecel", "ide-cel" or
  "ide cel" in the folded text.

tests/test_prefilter.py checks ``fold`` over all of Unicode, and every gate against its pattern
on the labelled and fixture texts and on generated studies.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any

# The standard library's regex parser (first_chars_of): re._parser from Python 3.11, sre_parse
# before (deprecated since 3.11, so not imported there).
try:
    _sre_parse: Any = importlib.import_module("re._parser")
    _C: Any = importlib.import_module("re._constants")
except ImportError:  # Python 3.10
    _sre_parse = importlib.import_module("sre_parse")
    _C = importlib.import_module("sre_constants")

Gate = tuple[tuple[str, ...], tuple[str, ...]]  # (keys as written, keys in fold(text))

# The only non-ASCII characters that an ASCII letter matches under re.IGNORECASE ("İ".lower()
# is "i̇", two characters, so they are replaced before lower-casing).
_ODD = re.compile("[\u0130\u0131\u017f\u212a]")
_ODD_TABLE = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})
_CATEGORIES = {_C.CATEGORY_DIGIT: r"\d", _C.CATEGORY_WORD: r"\w", _C.CATEGORY_SPACE: r"\s"}
_OTHER_SPACE = re.compile(r"[^\S \n]")  # whitespace but a space or a newline: rare


def fold(text: str) -> str:
    """``text`` lower-cased as ``re.IGNORECASE`` compares ASCII letters, every whitespace
    character a space.  Same length as ``text``, with a word character, whitespace or a digit
    exactly where ``text`` has one; so where a pattern of lower-case ASCII letters, digits,
    CJK, punctuation and ``\\s`` / ``\\w`` / ``\\d`` / ``\\b`` matches ``text`` case-insensitively,
    it matches ``fold(text)`` as it is (case-sensitively)."""
    if not text.isascii() and _ODD.search(text):
        text = text.translate(_ODD_TABLE)
    low = text.lower()
    if "\n" in low:
        low = low.replace("\n", " ")
    return _OTHER_SPACE.sub(" ", low) if _OTHER_SPACE.search(low) else low


def has_key(text: str, keys: Iterable[str]) -> bool:
    """Is one of ``keys`` in ``text``?  (A loop: faster than any() on a generator.)"""
    for k in keys:
        if k in text:
            return True
    return False


def passes(gate: Gate, text: str, low: str) -> bool:
    """Could the gated pattern match ``text`` (``low`` is ``fold(text)``)?"""
    return has_key(text, gate[0]) or has_key(low, gate[1])


# A gate set with more distinct keys of one form than this finds them with one regex search
# (``key_finder``) instead of one substring test a key: the tests cost ~1.4 ns a key and a
# character of text, the search ~50 ns a character whatever the keys (measured on the
# real-text corpus's criteria items: 243 mention keys, 45 -> 16 µs an item; 43 product keys
# over ~950-character fields, 32 µs as tests against 50 as a search).
MANY_KEYS = 64


def gate_set(gates: Sequence[Gate]) -> Callable[[str, str], tuple[int, ...]]:
    """``passing(text, low)``: the indices of the ``gates`` that pass, in order."""
    raw: dict[str, list[int]] = {}
    folded: dict[str, list[int]] = {}
    for i, (raw_keys, folded_keys) in enumerate(gates):
        for k in raw_keys:
            raw.setdefault(k, []).append(i)
        for k in folded_keys:
            folded.setdefault(k, []).append(i)
    raw_items = list(raw.items())
    folded_items = list(folded.items())
    if len(raw) > MANY_KEYS or len(folded) > MANY_KEYS:
        find_raw, find_folded = key_finder(raw), key_finder(folded)

        def searched(text: str, low: str) -> tuple[int, ...]:
            hit = find_raw(text) | find_folded(low)
            return tuple(sorted(hit)) if hit else ()

        return searched

    def passing(text: str, low: str) -> tuple[int, ...]:
        hit = [ix for k, ix in raw_items if k in text] + [ix for k, ix in folded_items
                                                          if k in low]
        return tuple(sorted({i for ix in hit for i in ix})) if hit else ()

    return passing


def key_finder(keys: dict[str, list[int]]) -> Callable[[str], set[int]]:
    """``find(text)``: the union of ``keys[k]`` over the keys ``k`` that occur in ``text``
    (``k in text``), found with one regex: the keys as a trie, so that at a position it
    matches the longest key that starts there; every key that starts there is a prefix of
    that one (``_prefixes``).  A search from each match's start + 1 visits every position
    where a key starts, so every occurring key is found.  tests/test_prefilter.py compares
    it with ``k in text`` for every key."""
    always = set(keys.get("", ()))  # "" is in every text
    keys = {k: ix for k, ix in keys.items() if k}
    if len(keys) <= MANY_KEYS:
        items = list(keys.items())

        def tests(text: str) -> set[int]:
            return always | {i for k, ix in items if k in text for i in ix}

        return tests
    prefixes = {whole: frozenset(i for k, ix in keys.items() if whole.startswith(k)
                                 for i in ix) for whole in keys}
    search = re.compile(_trie(list(keys))).search

    def find(text: str) -> set[int]:
        hit = set(always)
        pos = 0
        while m := search(text, pos):
            hit |= prefixes[m.group()]
            pos = m.start() + 1
        return hit

    return find


def _trie(keys: list[str]) -> str:
    """A regex matching any of ``keys`` (non-empty literals), the longest one where several
    start at the same place: a trie, whose branches each start with another character, and
    a key that ends at a branching point is the branch tried last (``(?:...)?``)."""
    root: dict[str, Any] = {}
    for k in keys:
        node = root
        for ch in k:
            node = node.setdefault(ch, {})
        node[""] = {}

    def rx(node: dict[str, Any]) -> str:
        alts = [re.escape(ch) + rx(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        if "" in node:
            return "(?:" + "|".join(alts) + ")?"
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    return rx(root)


def first_chars_of(pattern: str) -> tuple[frozenset[str], frozenset[str]] | None:
    """The characters a match of ``pattern`` (compiled without flags) can start with, as
    character-class items: (case-sensitive ones, ones under a scoped ``(?i:...)``); None when
    they are not known (a match may be empty, or start with a negated class, ``.`` or a group
    reference).  For the lookahead ``subset_regex`` puts before its branches."""
    try:
        tree = _sre_parse.parse(pattern)
    except re.error:
        return None
    plain: set[str] = set()
    folded: set[str] = set()

    def item(op: Any, av: Any) -> str | None:  # a class item, or None when unknown
        if op is _C.LITERAL:
            return re.escape(chr(av)) if chr(av) in "\\]^-[" else chr(av)
        if op is _C.RANGE:
            return f"{re.escape(chr(av[0]))}-{re.escape(chr(av[1]))}"
        if op is _C.CATEGORY and av in _CATEGORIES:
            return _CATEGORIES[av]
        return None

    def first(seq: Any, ic: bool) -> bool | None:
        """Add seq's first characters; True when seq may match empty, None when unknown."""
        for op, av in seq:
            if op in (_C.AT, _C.ASSERT, _C.ASSERT_NOT):
                continue  # zero-width
            if op is _C.LITERAL or op is _C.IN:
                pairs = [(op, av)] if op is _C.LITERAL else av
                for op2, av2 in pairs:
                    got = item(op2, av2)
                    if got is None:
                        return None
                    (folded if ic else plain).add(got)
                return False
            if op is _C.SUBPATTERN:
                _group, add, remove, sub = av
                inner = bool(add & re.IGNORECASE) or ic and not remove & re.IGNORECASE
                empty = first(sub, inner)
            elif op is _C.BRANCH:
                empties = [first(b, ic) for b in av[1]]
                if None in empties:
                    return None
                empty = any(empties)
            elif op in (_C.MAX_REPEAT, _C.MIN_REPEAT):
                lo, _hi, sub = av
                empty = first(sub, ic)
                if empty is not None and lo == 0:
                    empty = True
            else:
                return None
            if empty is None:
                return None
            if not empty:
                return False
        return True

    if first(tree, bool(tree.state.flags & re.IGNORECASE)) is not False:
        return None
    return frozenset(plain), frozenset(folded)


def subset_regex(branches: Sequence[str], flags: int = 0, prefix: str = "", suffix: str = "",
                 ) -> Callable[[tuple[int, ...]], re.Pattern[str]]:
    """A cached compiler of ``prefix(?:b|b|...)suffix`` for some of ``branches`` (each already
    wrapped in its named group), in their original order.  Branches a gate rules out cannot
    match anywhere in the text, and the others keep their order, so at every position the
    subset regex picks the same branch, with the same span, as the one with every branch."""

    # with no prefix, a lookahead for the branches' first characters (see first_chars)
    firsts = [None if prefix else _firsts(b, flags) for b in branches]

    @lru_cache(maxsize=2048)  # (distinct gate subsets of a large corpus: ~600)
    def compile_subset(indices: tuple[int, ...]) -> re.Pattern[str]:
        look = _lookahead([firsts[i] for i in indices])
        return re.compile(look + prefix + "(?:" + "|".join(branches[i] for i in indices) + ")"
                          + suffix, flags)

    return compile_subset


def first_chars(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """``pattern`` compiled behind a lookahead for the characters its matches can start with
    (``first_chars_of``; compiled as it is when they are not known).  Under ``re.IGNORECASE``
    the regex engine has no fast first-character check for an alternation, so it enters every
    branch at every position; the lookahead rules most positions out with one test, and
    changes no match.  tests/test_prefilter.py compares such regexes with their plain forms."""
    look = _lookahead([_firsts(pattern, flags)])
    return re.compile(f"{look}(?:{pattern})" if look else pattern, flags)


def _firsts(pattern: str, flags: int) -> tuple[frozenset[str], frozenset[str]] | None:
    if flags & ~re.IGNORECASE:
        return None  # (re.X, re.S, re.M ... would change how the pattern reads)
    return first_chars_of(f"(?i:{pattern})" if flags else pattern)


def _lookahead(sets: Sequence[tuple[frozenset[str], frozenset[str]] | None]) -> str:
    """A lookahead for the union of first-character sets; "" when one is unknown."""
    if not sets or any(f is None for f in sets):
        return ""
    plain = "".join(sorted({c for f in sets if f for c in f[0]}))
    folded = "".join(sorted({c for f in sets if f for c in f[1]}))
    look = "|".join(([f"[{plain}]"] if plain else []) + ([f"(?i:[{folded}])"] if folded else []))
    return f"(?=(?:{look}))" if look else ""
