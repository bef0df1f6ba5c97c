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

import re
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache

Gate = tuple[tuple[str, ...], tuple[str, ...]]  # (keys as written, keys in fold(text))

# The only non-ASCII characters that an ASCII letter matches under re.IGNORECASE ("İ".lower()
# is "i̇", two characters, so they are replaced before lower-casing).
_ODD = re.compile("[\u0130\u0131\u017f\u212a]")
_ODD_TABLE = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})
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

    def passing(text: str, low: str) -> tuple[int, ...]:
        hit = [ix for k, ix in raw_items if k in text] + [ix for k, ix in folded_items
                                                          if k in low]
        return tuple(sorted({i for ix in hit for i in ix})) if hit else ()

    return passing


def subset_regex(branches: Sequence[str], flags: int = 0, prefix: str = "", suffix: str = "",
                 ) -> Callable[[tuple[int, ...]], re.Pattern[str]]:
    """A cached compiler of ``prefix(?:b|b|...)suffix`` for some of ``branches`` (each already
    wrapped in its named group), in their original order.  Branches a gate rules out cannot
    match anywhere in the text, and the others keep their order, so at every position the
    subset regex picks the same branch, with the same span, as the one with every branch."""

    @lru_cache(maxsize=512)
    def compile_subset(indices: tuple[int, ...]) -> re.Pattern[str]:
        return re.compile(prefix + "(?:" + "|".join(branches[i] for i in indices) + ")" + suffix,
                          flags)

    return compile_subset


def first_chars(chars: str, pattern: str, flags: int = 0) -> re.Pattern[str]:
    """``pattern`` behind a lookahead for ``chars``, the characters (a character-class body,
    under the same ``flags``) that every match of ``pattern`` starts with.  Under
    ``re.IGNORECASE`` the regex engine has no fast first-character check for an alternation,
    so it enters every branch at every position; the lookahead rules most positions out with
    one test.  The same matches, as long as ``chars`` holds every possible first character:
    tests/test_prefilter.py compares each such regex with its plain form."""
    return re.compile(f"(?=[{chars}])(?:{pattern})", flags)
