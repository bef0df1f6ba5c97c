"""The one error contract: every error a user can act on is a ``TrialsError``.

A ``TrialsError`` carries a stable ``code`` (one of ``CODES``: scripts read it in the
``{"error": {"code", "message", "hint"}}`` document of ``--json`` and of the web page's JSON),
a ``message`` (what happened), a ``hint`` (what to do) and an ``exit_code`` (what the `trials`
command exits with).  The CLI prints it in one place (``cli/output.py``, ``handles_errors``), the
web page maps it to an HTTP answer in one place (``web/server.py``).

Every library error derives from it, keeping its older base where callers catch that
(``ParseError`` is still a ``ValueError``, ``StoreError`` still a ``RuntimeError``).  The
library's lower rooms raise their own subclasses with their own codes (``QueryError`` with
``bad_filter``, ``NoIndexError`` with ``no_index``, ...); ``app/`` turns some of them into the
code a front end shows (a ``QueryError`` is ``bad_query`` to the user).

Exit codes: 1 by default.  ``RefreshLocked`` exits 75 (EX_TEMPFAIL, `trials refresh` and
`trials check --repair`).  The refresh family of commands (`trials watch add|list|remove`,
`refresh`, `history`, `changes`, `check`) exits 2 on a usage error (``bad_argument``,
``bad_name``, ``unknown_watch``, ``no_watches``), as `trials refresh --help` documents; the
other commands exit 1 on those, as they always did (click's own usage errors exit 2).

Exceptions that are not ``TrialsError``, on purpose (control flow that never reaches a user):

* ``app.service.Stopped`` (a ``BaseException``, like ``KeyboardInterrupt``): SIGTERM unwinding
  an import; no ``except Exception`` may take it for one record's failure.  The import turns
  it into ``interrupted``.
* ``crawler.replay.BadRequest``: the offline mock API's internal signal for an HTTP 400 answer;
  it never leaves the replay server's request handler.
"""

from __future__ import annotations

# Every code an error (or an ``{"error": ...}`` document) carries, with what it means.  The
# README's "Error codes" table lists exactly these; tests/test_errors.py checks both, and that
# every code written in the source is one of them.
CODES: dict[str, str] = {
    # the command line and the web page
    "invalid_id": "A trial id that no registry's id pattern accepts.",
    "not_found": "The trial (or page) is not in the local store, or the registry does not "
                 "know it.",
    "no_index": "Nothing stored yet, or the search index is missing or unusable (the hint "
                "says which).",
    "index_busy": "Another process is writing the search index.",
    "bad_query": "A search query or filter that cannot be run as written, or one past the "
                 "query limits.",
    "bad_argument": "An option or parameter with a value that cannot be used.",
    "bad_input": "Input paths that do not exist or hold no registry files.",
    "store_error": "The store file cannot be used (not a trialscope store, newer schema, "
                   "corrupt) or written.",
    "locked": "Another command is writing the data home (the writer lock is held).",
    "read_only": "A write to a data home that cannot be written.",
    "bad_home": "The data home (--home, TRIALS_HOME) is, or lies under, a file.",
    "output_error": "An export file that cannot be written where asked.",
    "io_error": "The file system refused a read or write outside the data home.",
    "interrupted": "An import stopped by SIGTERM or Ctrl-C; what was stored is kept.",
    "partial": "A crawl that missed something (each cause is listed).",
    "blocked": "A registry's bot check stopped the crawl.",
    "crawl_failed": "The crawl could not run at all.",
    "fetch_failed": "`trials show --fetch` could not fetch the trial.",
    "port_in_use": "`trials serve` cannot listen on the address and port.",
    "bad_request": "The web page got a request it cannot answer (HTTP 4xx).",
    "internal_error": "The web page failed answering a request (HTTP 500).",
    # watches
    "bad_name": "A watch name that cannot be used.",
    "bad_watch": "A watch that cannot be saved or crawled as given.",
    "exists": "A watch of that name exists already.",
    "unknown_watch": "No watch has that name.",
    "no_watches": "Nothing to refresh: no watches yet.",
    # the query language's own codes (index/query.py, index/facets.py); app/ reports a
    # QueryError to the user as bad_query
    "query_syntax": "A query that does not parse.",
    "unknown_field": "A query names a field the index does not have.",
    "bad_range": "A range bound in a query that is not a finite number.",
    "bad_wildcard": "A wildcard with fewer than 2 letters before * or ?.",
    "too_deep": "Groups and NOTs nested over 32 levels deep in a query.",
    "empty_query": "A query of stop words only.",
    "bad_filter": "A filter value (status, phase, sex, date, enrollment, ...) that cannot be "
                  "used.",
    "too_large": "An input past a size limit: a query over its term or wildcard limits, a "
                 "payload over 32 MiB (core/limits.py).",
    # parsing
    "parse_error": "A registry payload that cannot be parsed; its reason (invalid_json, "
                   "bad_field, ...) is kept with the failure.",
}


class TrialsError(Exception):
    """An error the user can act on.

    ``code`` is stable (one of ``CODES``; scripts read it under --json), ``message`` says what
    happened and ``hint`` what to do; ``exit_code`` is what `trials` exits with (1 unless the
    class or the raise says otherwise).  ``str()`` is the message and the hint, unless a
    subclass keeps its own wording (``text``).
    """

    exit_code: int = 1

    def __init__(self, code: str, message: str, hint: str = "", *,
                 exit_code: int | None = None, text: str | None = None) -> None:
        self.code = code
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code
        super().__init__(f"{message} {hint}".strip() if text is None else text)

    def as_dict(self) -> dict[str, str]:
        """The ``{"code", "message", "hint"}`` object of the ``{"error": ...}`` document."""
        return {"code": self.code, "message": self.message, "hint": self.hint}
