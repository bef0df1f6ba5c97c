"""The one exception a parser raises for input it cannot turn into a record."""

from __future__ import annotations

from trialscope.core.errors import TrialsError


class ParseError(TrialsError, ValueError):
    """A registry payload could not be parsed.

    ``reason`` is a short slug used in stats keys (``trials/dropped/<reason>``):
    ``invalid_json``, ``not_a_study``, ``missing_id``, ``bad_field``, ...  Its ``code`` is
    ``parse_error`` whatever the reason.
    """

    code = "parse_error"

    def __init__(self, reason: str, message: str, *, source: str | None = None) -> None:
        self.reason = reason
        self.source = source
        super().__init__(self.code, f"{source}: {message}" if source else message)


def utf8(text: str, *, source: str | None = None) -> bytes:
    """``text`` as UTF-8 for a parser that reads bytes; a lone surrogate (text that is not
    valid Unicode) is a ``bad_text`` ParseError, not a UnicodeEncodeError."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ParseError("bad_text", f"text that is not valid Unicode at {exc.start} (a lone "
                         "surrogate)", source=source) from exc
