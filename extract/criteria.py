"""Split free-text eligibility criteria into nested inclusion / exclusion items.

``split_criteria(text)`` returns ``{"inclusion": [item, ...], "exclusion": [item, ...]}``;
an item is ``{"text": str, "children": [item, ...]}``.

Registry text is typed by people, re-flowed by web pages and escaped by APIs, so the rules
below are deliberately tolerant.  They are, in order of precedence:

Sections
  A line that is only a header ("Inclusion Criteria:", "Key Exclusion Criteria", "**Main
  inclusion criteria**", "纳入标准：", "Inclusion criteria / 纳入标准", "Patients will be excluded
  if:") switches section; text after the header's colon on the same line is processed as the
  next line ("Inclusion Criteria:- 1. Age ≥18").  "Eligibility criteria" opens inclusion.  A
  qualifier such as "Inclusion criteria for Part A:" becomes a sub-header item "Part A" whose
  children are the items that follow; "(all must be met)" style qualifiers are dropped.
  Text before any header (or text with no header at all) goes to inclusion: most headerless
  registry entries are a list of requirements, and nothing must be dropped.

Items and nesting
  A line starting with a bullet or a number marker (see ``_parse_marker``) starts an item;
  the marker is stripped, the rest of the text is kept as written (whitespace normalised).
  - Deeper indentation (2+ columns; a tab counts 4) nests under the previous item.
  - At the same indentation a different marker style nests under the previous item when that
    item introduces a list (ends with ':' or "the following [N] conditions") or the new style
    restarts at 1 / uses a second-level bullet (○ ◦ o); a style already used by an enclosing
    level closes the inner levels ("- 3." after "1. 2. 3." children of "- 2.").
  - With the same style, numbering that restarts at 1 after an introducing item nests; a
    number that continues an enclosing level (6 after children 1-4 of item 5) closes the
    inner level, as does reaching the count announced by "the following 4 conditions".
Unmarked lines
  - after an item ending with ':' they become its children, one per line, except that a
    line starting in lower case, or following a line that ends in "of", "with", "≥", ...,
    wraps the child before it;
  - after a blank line and unindented, they end the list (as in Markdown) and become a
    top-level item; one ending with ':' ("For cohort 2 only:") or a short title without a
    full stop ("Medical Conditions") collects the items that follow, as does a "Part B:"
    style line right after an item;
  - after an unmarked item that ends a sentence ('.', ';', '。') they start a new item;
  - otherwise they are wrapped lines, joined to the previous item with one space (none
    between two CJK characters); hyphenation is left as is.
  A bullet line that obviously continues a broken line ("... inducers of" / "* CYP3A ...",
  or a stray "* 6 for at least 6 months" inside a numbered list) is joined the same way.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass, field

from trialscope.core.limits import MAX_CRITERIA_DEPTH, clip
from trialscope.core.record import CriterionItem

Item = CriterionItem

# CommonMark lets any ASCII punctuation be backslash-escaped; ClinicalTrials.gov API v2 does
# this for <, >, *, _, [, ] ... in plain criteria text.
_MD_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_BOLD = re.compile(r"(?<!\\)(\*\*|__)")
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)

_HEAD_TOKEN = (
    r"(?:(?:key|main|major|principal|general|basic|additional|other|specific)\s+)?"
    r"(?:inclusion|exclusion|eligibility)(?:\s+criteri(?:a|on))?"
    r"|criteria\s+for\s+(?:inclusion|exclusion)"
    r"|(?:纳入|入选|入组|排除)标准"
)
_HEADER = re.compile(
    rf"^(?:{_HEAD_TOKEN})(?:\s*[/|｜]?\s*[(（]?\s*(?:{_HEAD_TOKEN})\s*[)）]?)?"
    r"(?:\s*\((?P<q1>[^)]*)\)|\s*（(?P<q2>[^）]*)）|\s+for\s+(?P<q3>[^:：]+?)(?=\s*[:：])"
    r"|\s*[-–—]\s*(?P<q4>[^:：]+?)(?=\s*[:：]))?"
    r"\s*(?P<colon>[:：.])?\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
_SENTENCE_HEADER = re.compile(
    r"^(?:patients?|participants?|subjects?|individuals?|volunteers?|candidates?)\s+"
    r"(?:(?:will|shall|may|must|are|is|can)\s+)?(?:(?:not\s+)?be\s+)?"
    r"(?P<kind>excluded|ineligible|not\s+eligible|eligible|included)\b"
    r"(?P<tail>.*)$",
    re.IGNORECASE,
)
_DROP_QUALIFIER = re.compile(
    r"^(?:all|any|each|both|must|required|mandatory|if|see)\b", re.IGNORECASE
)

_BULLET_CHARS = "*-+•·○◦●▪▫■□◆◇►▶➢➤✓✔–—"
_SECONDARY_BULLETS = set("○◦o")  # Word's second-level bullets
_GLUED_BULLETS = set("-•·▪●■◆►➢➤")  # seen without a space: "-Age ≥ 18"
_ROMAN = re.compile(r"^(?=[ivxlc]+$)c?(?:xc|xl|l?x{0,3})(?:ix|iv|v?i{0,3})$", re.IGNORECASE)
_NUMBER_MARK = re.compile(r"(\d{1,3})([.．)）、])")
_PAREN_MARK = re.compile(
    r"[(（]([0-9]{1,3}|[a-zA-Z]|[ivxIVX]{1,4}|[一二三四五六七八九十]{1,3})[)）]"
)
_ALPHA_MARK = re.compile(r"([a-zA-Z]|[ivxIVX]{1,4})([.)）])(?=\s)")
_CJK_NUM_MARK = re.compile(r"([一二三四五六七八九十]{1,3})[、.．]")
_BARE_NUM_CJK = re.compile(r"(\d{1,3})\s+(?=[\u4e00-\u9fff])")  # ChiCTR: "1 经组织学..."

_TERMINAL = (".", ";", "。", "；", "!", "?", "！", "？")
_DANGLING = re.compile(
    # lower case only: "Hepatitis A" ends a criterion, "... inducers of" does not
    r"(?:\b(?:of|the|a|an|to|with|by|in|than|from|for|at|on|as|into|within)|[≥≤<>=/-])$"
)
_INTRO = re.compile(
    r"(?:[:：]|\b(?:following|as\s+follows)(?:\s+[\w()-]+){0,3}[:：]?|(?:以下|下列).{0,12})$",
    re.IGNORECASE,
)
_WORD_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                 "eight": 8, "nine": 9, "ten": 10}
_EXPECTED = re.compile(r"following\s+(\d+|" + "|".join(_WORD_NUMBERS) + r")\b"
                       r"|(?:以下|下列)\s*(\d+|[一二三四五六七八九十])", re.IGNORECASE)
_SUBHEADER_WORD = re.compile(
    r"^(?:part|cohort|arm|group|stage|phase|step|module|sub-?study|population|for|in)\b",
    re.IGNORECASE,
)
_NEST = 2  # extra columns of indentation that make a line a child (Markdown uses 2+)
_HEADING_MAX = 60
_SUBHEADER_MAX = 80  # a "Part B:" line is short; a long line ending in ':' is a criterion


@dataclass
class _Node:
    text: str
    style: str | None = None  # None for paragraphs and sub-headers
    intro: bool = False  # forced "introduces a list" (header qualifiers)
    children: list[_Node] = field(default_factory=list)


@dataclass
class _Level:
    items: list[_Node]
    indent: int | None = None
    styles: set[str] = field(default_factory=set)
    last_num: int | None = None
    expected: int | None = None
    lines: bool = False  # children that are unmarked lines under an item ending with ':'


def unescape_markdown(text: str) -> str:
    """ClinicalTrials.gov escapes Markdown characters ("\\>", "10\\^6"): give the plain text."""
    return _MD_ESCAPE.sub(r"\1", text)


def _cjk_value(s: str) -> int:
    digits = [int(unicodedata.numeric(c)) for c in s]
    if len(digits) == 1:
        return digits[0]
    if digits[0] == 10:  # 十一 .. 十九
        return 10 + digits[1]
    return digits[0] * 10 + (digits[2] if len(digits) > 2 else 0)  # 二十, 二十一


def _roman_value(s: str) -> int:
    vals = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100}
    total = 0
    for i, ch in enumerate(s.lower()):
        v = vals[ch]
        total += -v if i + 1 < len(s) and vals[s[i + 1].lower()] > v else v
    return total


def _parse_marker(line: str, indent: int) -> tuple[str, int | None, int | None, str] | None:
    """Return (style, number, roman-alternative, text) for a marked line, else None.

    The style tells list levels apart: "N." and "N)" are different lists, "- N." is yet
    another.  Letters that are also Roman numerals (i, v, x) carry both readings; the
    builder picks one from context.
    """
    prefix, rest = "", line
    ch = line[:1]
    if ch and ch in _BULLET_CHARS or (ch == "o" and indent >= _NEST):
        after = line[1:2]
        if after.isspace():
            prefix, rest = ch, line[1:].lstrip()
        elif ch in _GLUED_BULLETS and after.isalpha():
            prefix, rest = ch, line[1:]
    m = _NUMBER_MARK.match(rest)
    if m and not (m.group(2) in ".．" and rest[m.end():m.end() + 1].isdigit()):
        punct = {"．": ".", "）": ")"}.get(m.group(2), m.group(2))
        return prefix + "N" + punct, int(m.group(1)), None, rest[m.end():]
    m = _PAREN_MARK.match(rest)
    if m:
        tok = m.group(1)
        if tok.isdigit():
            return prefix + "(N)", int(tok), None, rest[m.end():]
        if "\u4e00" <= tok[0] <= "\u9fff":
            return prefix + "(一)", _cjk_value(tok), None, rest[m.end():]
        return _alpha(prefix, tok, "()", rest[m.end():])
    if rest[:1] and unicodedata.category(rest[0]) == "No" and not rest[0].isascii():
        try:  # ① ⑴ ⒈ ❶ ...: one style per Unicode family
            value = int(unicodedata.numeric(rest[0]))
            family = unicodedata.name(rest[0]).split(" ")[0]
            return prefix + "circ:" + family, value, None, rest[1:]
        except (ValueError, TypeError):
            pass
    m = _CJK_NUM_MARK.match(rest)
    if m:
        return prefix + "一、", _cjk_value(m.group(1)), None, rest[m.end():]
    m = _ALPHA_MARK.match(rest)
    if m:
        return _alpha(prefix, m.group(1), m.group(2).replace("）", ")"), rest[m.end():])
    m = _BARE_NUM_CJK.match(rest)
    if m:
        return prefix + "N ", int(m.group(1)), None, rest[m.end():]
    if prefix:
        return prefix, None, None, rest
    return None


def _alpha(prefix: str, tok: str, punct: str, text: str) -> tuple[str, int | None, int | None, str]:
    case = "A" if tok.isupper() else "a"
    roman = _roman_value(tok) if _ROMAN.match(tok) and (len(tok) > 1 or tok in "ivxIVX") else None
    if len(tok) > 1:  # only a Roman numeral can be more than one letter
        return prefix + ("I" if case == "A" else "i") + punct, roman, None, text
    return prefix + case + punct, ord(tok.lower()) - 96, roman, text


def _ends_colon(text: str) -> bool:
    return text.rstrip().endswith((":", "："))


def _introduces(node: _Node) -> bool:
    return node.intro or bool(_INTRO.search(node.text.rstrip()))


def _heading_like(text: str) -> bool:
    # A short unmarked line without a full stop, followed by a list, titles that list
    # (ClinicalTrials.gov: "Medical Conditions", "Prior/Concomitant Therapy").
    return len(text) <= _HEADING_MAX and not text.endswith((*_TERMINAL, ","))


def _expected_count(text: str) -> int | None:
    m = _EXPECTED.search(text)
    if not m:
        return None
    tok = (m.group(1) or m.group(2)).lower()
    if tok.isdigit():
        return int(tok)
    return _WORD_NUMBERS.get(tok) or _cjk_value(tok)


def _join(a: str, b: str) -> str:
    a, b = a.rstrip(), b.strip()
    if not a or not b:
        return a or b
    cjk = "\u3000" <= a[-1] <= "\u9fff" and "\u3000" <= b[0] <= "\u9fff"
    return a + ("" if cjk else " ") + b


class _Builder:
    def __init__(self) -> None:
        self.sections: dict[str, list[_Node]] = {"inclusion": [], "exclusion": []}
        self.switch("inclusion")

    def switch(self, section: str) -> None:
        self.stack = [_Level(self.sections[section])]
        self.last: _Node | None = None
        self.indent = 0  # indentation of the last marked line

    def _push(self, owner: _Node, indent: int | None, lines: bool = False) -> _Level:
        if len(self.stack) > MAX_CRITERIA_DEPTH:
            return self.stack[-1]  # deeper items stay siblings here (see core/limits.py)
        level = _Level(owner.children, indent, expected=_expected_count(owner.text), lines=lines)
        self.stack.append(level)
        return level

    def _pop_to(self, level: _Level) -> None:
        while self.stack[-1] is not level:
            self.stack.pop()

    def _add(self, level: _Level, text: str, style: str | None = None,
             num: int | None = None, intro: bool = False) -> None:
        node = _Node(text, style, intro)
        level.items.append(node)
        if style is not None:
            level.styles.add(style)
            level.last_num = num
        self.last = node

    @staticmethod
    def _fits(level: _Level, num: int | None) -> bool:
        if level.expected is not None and len(level.items) >= level.expected:
            return False
        return num is None or level.last_num is None or num == level.last_num + 1

    def subheader(self, text: str) -> None:
        self._pop_to(self.stack[0])
        self._add(self.stack[0], text, intro=True)

    def marked(self, indent: int, after_blank: bool, style: str, num: int | None,
               alt: int | None, text: str) -> None:
        last = self.last
        if (last is not None and num is None and not after_blank and indent <= self.indent + 1
                and last.text and not last.text.endswith(_TERMINAL) and not _ends_colon(last.text)):
            # A broken line re-flowed into a bullet: "... inducers of" / "* CYP3A ...", or a
            # stray "* 6 for at least 6 months" inside a numbered list (a lost "≥").
            stray_digit = text[:1].isdigit() and self.stack[-1].last_num is not None
            if _DANGLING.search(last.text) or stray_digit:
                last.text = _join(last.text, text)
                return
        self.indent = indent
        while self.stack[-1].lines:
            self.stack.pop()
        while len(self.stack) > 1 and indent < (self.stack[-1].indent or 0) - 1:
            self.stack.pop()
        cur = self.stack[-1]
        if alt is not None and num is not None:  # "i." is the letter after "h." or Roman one
            after_h = any(style in lv.styles and lv.last_num == num - 1 for lv in self.stack)
            if not after_h:
                style, num = style.replace("a", "i").replace("A", "I"), alt
        if cur.indent is None:
            cur.indent = indent
        elif indent >= cur.indent + _NEST and cur.items:
            self._add(self._push(cur.items[-1], indent), text, style, num)
            return
        prev = cur.items[-1] if cur.items else None
        if prev is not None and prev.style is None and not prev.children and (
                _introduces(prev) or _heading_like(prev.text)):
            cur = self._push(prev, indent)  # "For cohort 2:", "Medical Conditions"
        elif style in cur.styles and self._fits(cur, num):
            pass
        elif style in cur.styles and num == 1 and prev is not None and _introduces(prev):
            cur = self._push(prev, indent)
        else:
            ancestors = [lv for lv in reversed(self.stack[:-1]) if style in lv.styles]
            fitting = [lv for lv in ancestors if self._fits(lv, num)]
            target = fitting[0] if fitting else None
            if target is None and ancestors and (style not in cur.styles
                                                 or not self._fits(cur, None)):
                target = ancestors[0]
            if target is not None:
                self._pop_to(target)
                cur = target
            elif style not in cur.styles and prev is not None and (
                _introduces(prev)
                or (prev.style is not None and (num == 1 or style[-1] in _SECONDARY_BULLETS))
            ):
                cur = self._push(prev, indent)
        self._add(cur, text, style, num)

    def unmarked(self, indent: int, text: str, after_blank: bool) -> None:
        last = self.last
        top = self.stack[-1]
        if last is None:
            self._add(self.stack[0], text)
        elif _ends_colon(last.text) or (last.intro and not last.children):
            self._add(self._push(last, indent, lines=True), text)
        elif after_blank and indent < _NEST:
            self._pop_to(self.stack[0])
            self._add(self.stack[0], text)
        elif top.lines and (last.text.endswith(_TERMINAL) or not (
                text[:1].islower() or _DANGLING.search(last.text))):
            self._add(top, text)  # one child per line under "...:"
        elif last.style is None and not last.intro and last.text.endswith(_TERMINAL):
            self._add(self.stack[-1], text)  # unmarked lines, each a finished sentence
        elif _ends_colon(text) and len(text) <= _SUBHEADER_MAX and (
            last.text.endswith(_TERMINAL) or (text[:1].isupper() and _SUBHEADER_WORD.match(text))
        ):
            self.subheader(text)
        else:
            last.text = _join(last.text, text)


def _header(line: str) -> tuple[str, str | None, str] | None:
    """(section, qualifier, rest of line) when the line is a section header."""
    probe = line.lstrip("#").strip()
    if probe[:1] in _BULLET_CHARS and probe[1:2] == " ":  # "* Exclusion criteria:"
        bare = _header(probe[2:])
        return bare if bare and not bare[2] else None
    m = _HEADER.match(probe)
    if m:
        head = probe[: m.start("rest")].lower()
        rest = m.group("rest").strip()
        if rest and not m.group("colon") and not _parse_marker(rest, 0):
            return None
        if m.group("colon") == "." and rest:
            return None
        section = "exclusion" if "exclu" in head or "排除" in head else "inclusion"
        qual = next((q for q in m.group("q1", "q2", "q3", "q4") if q), None)
        if qual and _DROP_QUALIFIER.match(qual.strip()):
            qual = None
        return section, qual.strip() if qual else None, rest
    m = _SENTENCE_HEADER.match(probe)
    if m:
        tail = m.group("tail").strip()
        if tail and not _ends_colon(tail) and tail.lower() not in ("if", "when"):
            return None
        kind = m.group("kind").lower()
        return ("inclusion" if kind in ("eligible", "included") else "exclusion"), None, ""
    return None


def _clean(line: str) -> str:
    line = line.replace("\xa0", " ").replace("\u3000", "  ")
    if "**" in line or "__" in line:  # (most lines have no bold and no escape: skip the subs)
        line = _BOLD.sub("", line)
    if "\\" in line:
        line = _MD_ESCAPE.sub(r"\1", line)
    return line.expandtabs(4).rstrip()


# ClinicalTrials.gov's boilerplate after "Key ... Criteria" lists is a note, not a criterion.
_DISCLAIMER = re.compile(
    r"^[ \t]*The information listed above is not intended to contain all considerations.*$",
    re.IGNORECASE | re.MULTILINE,
)


def split_criteria(text: str | None) -> dict[str, list[Item]]:
    """Split eligibility text into ``{"inclusion": [...], "exclusion": [...]}`` item trees."""
    if not text or not text.strip():
        return {"inclusion": [], "exclusion": []}
    text = clip(text)  # the items of a text beyond any registry's limit (core/limits.py)
    if "&" in text:
        text = html.unescape(text)
    text = _DISCLAIMER.sub("", text)
    builder = _Builder()
    pending = [_clean(raw) for raw in _BR.sub("\n", text).splitlines()]
    pending.reverse()
    after_blank = True
    while pending:
        line = pending.pop()
        stripped = line.strip()
        if not stripped:
            after_blank = True
            continue
        indent = len(line) - len(line.lstrip())
        head = _header(stripped)
        if head:
            section, qualifier, rest = head
            builder.switch(section)
            if qualifier:
                builder.subheader(qualifier)
            if rest:
                pending.append(rest)
            after_blank = True
            continue
        marker = _parse_marker(stripped, indent)
        if marker:
            builder.marked(indent, after_blank, *marker)
        else:
            builder.unmarked(indent, stripped, after_blank)
        after_blank = False
    return {name: _export(nodes) for name, nodes in builder.sections.items()}


def _export(nodes: list[_Node]) -> list[Item]:
    return [{"text": " ".join(n.text.split()), "children": _export(n.children)} for n in nodes]


def count_items(items: list[Item]) -> int:
    """Number of items in a tree, children included."""
    return sum(1 + count_items(item["children"]) for item in items)
