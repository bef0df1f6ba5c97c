"""The one error contract: every error a user can act on is a ``TrialsError``."""

from __future__ import annotations


class TrialsError(Exception):
    """An error the user can act on.  ``code`` is stable (scripts read it under --json)."""

    def __init__(self, code: str, message: str, hint: str = "") -> None:
        self.code = code
        self.message = message
        self.hint = hint
        super().__init__(f"{message} {hint}".strip())
