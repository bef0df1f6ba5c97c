"""Parse untrusted XML (registry exports) without entity expansion, DTD loading or network access.

Registry exports are fetched from the internet or handed to ``trials import`` by users, so the
parser must not be a way to read local files (external entities: ``<!ENTITY x SYSTEM
"file:///etc/passwd">``), reach the network, or exhaust memory (the "billion laughs" chain of
nested internal entities).  With ``resolve_entities=False`` an entity reference stays an
unexpanded node in the tree: ``element_text`` below skips such nodes, so their replacement text
never reaches a record.
"""

from __future__ import annotations

import re

from lxml import etree

from trialscope.parser.errors import ParseError

# lxml refuses a ``str`` that still carries an encoding declaration; the text is already decoded.
_DECLARATION = re.compile(r"^\ufeff?\s*<\?xml[^>]*\?>", re.IGNORECASE)


def _parser() -> etree.XMLParser:
    # A new parser per document: lxml parsers keep state and are not shared across threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_xml(data: str | bytes, *, source: str | None = None) -> etree._Element:
    """The root element of ``data``; malformed, empty or non-text input raises
    ParseError("invalid_xml")."""
    if isinstance(data, str):
        payload: str | bytes = _DECLARATION.sub("", data.lstrip("\ufeff"), count=1)
    elif isinstance(data, (bytes, bytearray)):
        payload = bytes(data)
    else:
        raise ParseError("invalid_xml", f"expected XML text, got {type(data).__name__}",
                         source=source)
    if not payload.strip():
        raise ParseError("invalid_xml", "empty document", source=source)
    try:
        root = etree.fromstring(payload, parser=_parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise ParseError("invalid_xml", f"not well-formed XML ({exc})", source=source) from exc
    if root is None:  # pragma: no cover - lxml returns None only in recover mode
        raise ParseError("invalid_xml", "no root element", source=source)
    return root


def element_text(element: etree._Element | None) -> str | None:
    """The character data of ``element`` and its descendants, without unexpanded entity nodes
    (and so without anything a hostile DTD defined).  None for a missing element."""
    if element is None:
        return None
    parts: list[str] = []

    def walk(node: etree._Element) -> None:
        if node.text and isinstance(node.tag, str):
            parts.append(node.text)
        for child in node:
            if isinstance(child.tag, str):  # elements only: entities, comments, PIs are skipped
                walk(child)
            if child.tail:
                parts.append(child.tail)

    walk(element)
    return "".join(parts)
