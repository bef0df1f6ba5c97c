"""The Starlette app behind `trials serve`.

Every page calls the library functions the CLI calls (``app/service.py``,
``store/history.py``) and nothing else: no second search path.  Every page has a JSON twin
(``.json`` on the path, or ``Accept: application/json``) that carries what the matching
``trials ... --json`` prints (``app/payloads.py`` builds both).  Read-only: the store is
opened through ``service.read_store`` by those calls, never written.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import threading
from collections import OrderedDict
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from trialscope.app import payloads, service
from trialscope.app.service import DataHome
from trialscope.core.errors import TrialsError
from trialscope.core.vocab import PHASE_LABELS, Phase, Status, StudyType, phase_label
from trialscope.web.params import SearchParams, search_params
from trialscope.web.present import eligibility_view, present_trial

HERE = Path(__file__).parent
log = logging.getLogger("trialscope.web")

# HTTP status of a library error, by its stable code
_STATUS = {"not_found": 404, "bad_query": 400, "bad_argument": 400, "invalid_id": 400,
           "unknown_watch": 400, "no_index": 503}
FACET_PARAM = {"status": "status", "phase": "phase", "country": "country",
               "sponsor": "sponsor", "target": "target", "modality": "modality"}
FACET_LABEL = {"status": "Status", "phase": "Phase", "country": "Country", "sponsor": "Sponsor",
               "start_year": "Start year", "target": "Target", "modality": "Modality"}


def _json(obj: Any, status_code: int = 200) -> Response:
    """JSON as the CLI's --json writes it (``default=str``: dates and the like as text)."""
    return Response(json.dumps(obj, ensure_ascii=False, default=str),
                    status_code=status_code, media_type="application/json")


def _marks(text: str | None) -> Markup:
    """The index's «match» markers as <mark>, everything else escaped."""
    safe = str(escape(text or ""))
    return Markup(safe.replace("«", "<mark>").replace("»", "</mark>"))


def create_app(home: DataHome) -> Starlette:
    # Read-only: the page never writes the store (not even the links refresh a read may do).
    home = dataclasses.replace(home, read_only=True)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")),
                             autoescape=True)  # every piece of record text escaped
    templates = Jinja2Templates(env=env)
    env.filters["marks"] = _marks
    env.globals.update(phase_label=phase_label, PHASE_LABELS=PHASE_LABELS)

    def wants_json(request: Request) -> bool:
        accept = request.headers.get("accept", "")
        return accept.split(",")[0].split(";")[0].strip() == "application/json"

    def page(request: Request, name: str, http_status: int = 200, **context: Any) -> Response:
        return templates.TemplateResponse(request, name, context, status_code=http_status)

    def error(request: Request, exc: TrialsError, as_json: bool) -> Response:
        """The one answer to a library error: its HTTP status (by code), the error page or,
        for a JSON request, the ``{"error": {...}}`` document."""
        status = _STATUS.get(exc.code, 400 if exc.code.startswith("bad") else 503)
        body = {"error": exc.as_dict()}
        if as_json:
            return _json(body, status_code=status)
        return page(request, "error.html", status, title="Error" if status != 404
                    else "Not found", error=body["error"], status=status)

    related_cache = RelatedCache(home)
    kept = service.kept_searcher(home)  # one searcher for every request (its caches with it)

    # -- search ---------------------------------------------------------------------------
    def _search(request: Request, fmt: str) -> Response:
        as_json = fmt == "json" or wants_json(request)
        p = search_params(list(request.query_params.multi_items()))
        if fmt == "csv":
            return _csv(p)
        results = service.search(home, p.query, kept=kept, **p.call_options())
        if as_json:
            return _json(payloads.search_document(p.query, results, offset=p.offset,
                                                         explain=p.explain))
        return page(request, "search.html", title=f"{p.query} · search" if p.query
                    else "Search", p=p, results=results, **_search_links(request, p, results))

    def _csv(p: SearchParams) -> Response:
        from trialscope.app.present import write_csv  # the export's CSV rules
        from trialscope.core.record import ROW_COLUMNS, to_row

        rows = [to_row(r) for r in service.records(home, p.query, **p.filters)]
        out = io.StringIO()
        write_csv(rows, list(ROW_COLUMNS), out)
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
            "content-disposition": 'attachment; filename="trials.csv"'})

    def _search_links(request: Request, p: SearchParams, results: Any) -> dict[str, Any]:
        items = [(k, v) for k, v in request.query_params.multi_items() if k != "offset"]

        def url(extra: list[tuple[str, str]], path: str = "/search",
                drop: list[tuple[str, str]] | None = None) -> str:
            kept = [i for i in items if i not in (drop or [])]
            return path + "?" + urlencode(kept + extra)

        facets = []
        for name, counts in (results.facets or {}).items():
            if not counts:
                continue
            links = []
            for value, n in list(counts.items())[:12]:
                if name == "start_year":
                    extra = [("start-from", str(value)), ("start-to", str(value))]
                    label = str(value)
                else:
                    extra = [(FACET_PARAM[name], str(value))]
                    label = (PHASE_LABELS.get(value, value) if name == "phase"
                             else value.replace("_", " ").lower() if name == "status"
                             else value)
                active = extra[0] in items
                links.append({"label": label, "count": n, "active": active,
                              "url": url([], drop=extra) if active else url(extra)})
            facets.append({"name": FACET_LABEL.get(name, name), "links": links,
                           "more": max(0, len(counts) - 12)})
        prev_url = (url([("offset", str(max(0, p.offset - p.limit)))])
                    if p.offset > 0 else None)
        next_url = (url([("offset", str(p.offset + p.limit))])
                    if p.offset + p.limit < results.total else None)
        return {"facets": facets, "prev_url": prev_url, "next_url": next_url,
                "json_url": url([("offset", str(p.offset))] if p.offset else [],
                                "/search.json"),
                "csv_url": url([], "/search.csv"),
                "query_url": url([("show-query", "1")]) if not p.show_query else None,
                "choices": {"status": ["open"] + [s.value for s in Status],
                            "phase": [ph.value for ph in Phase],
                            "type": [t.value for t in StudyType]}}

    async def search_page(request: Request) -> Response:
        return await _threaded(_search, request, "html")

    async def search_json(request: Request) -> Response:
        return await _threaded(_search, request, "json")

    async def search_csv(request: Request) -> Response:
        return await _threaded(_search, request, "csv")

    # -- trial ----------------------------------------------------------------------------
    def _trial(request: Request, path: str) -> Response:
        kind = "html"
        for suffix, what in (("/related.json", "related"), ("/history.json", "history"),
                             (".json", "json")):
            if path.endswith(suffix):
                path, kind = path[: -len(suffix)], what
                break
        if kind == "related":
            return _json(payloads.related_document(related_cache.get(path)))
        if kind == "history":
            from trialscope.app.history import trial_history

            return _json(trial_history(home, path))
        record, info = service.show(home, path)
        if kind == "json" or wants_json(request):
            return _json(payloads.show_document(record, info))
        from trialscope.app.history import trial_history

        history = trial_history(home, record.trial_id)
        try:
            related = related_cache.get(record.trial_id)
        except TrialsError:
            related = None  # no index yet: the card still shows
        return page(request, "trial.html", title=f"{record.trial_id} · {record.title or ''}",
                    r=record, info=info, t=present_trial(record),
                    el=eligibility_view(record), related=related, history=history)

    async def trial_page(request: Request) -> Response:
        return await _threaded(_trial, request, request.path_params["tid"])

    # -- changes --------------------------------------------------------------------------
    def _changes(request: Request, fmt: str) -> Response:
        from trialscope.app.history import changes_feed
        from trialscope.app.watches import list_watches

        as_json = fmt == "json" or wants_json(request)
        q = request.query_params
        since = q.get("since") or ""
        updated = q.get("updated-since") or ""
        watch = q.get("watch") or None
        if not since and not updated:
            since = (date.today() - timedelta(days=30)).isoformat()
        rows = changes_feed(home, since or None, watch=watch, updated_since=updated or None)
        watches = [w.to_dict() for w in list_watches(home)] if not as_json else []
        if as_json:
            return _json(rows)
        return page(request, "changes.html", title="Changes", rows=rows, since=since,
                    updated=updated, watch=watch or "", watches=watches,
                    json_url="/changes.json?" + urlencode(
                        [(k, v) for k, v in (("since", since), ("updated-since", updated),
                                             ("watch", watch or "")) if v]))

    async def changes_page(request: Request) -> Response:
        return await _threaded(_changes, request, "html")

    async def changes_json(request: Request) -> Response:
        return await _threaded(_changes, request, "json")

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        err = TrialsError("not_found" if status == 404 else "bad_request",
                          f"No page at {request.url.path}." if status == 404
                          else f"HTTP {status}.", "Start from the search page: /search")
        return error(request, err, request.url.path.endswith(".json") or wants_json(request))

    async def library_error(request: Request, exc: Exception) -> Response:
        """Every ``TrialsError`` a page's library call raises (the JSON twins' paths end in
        .json)."""
        assert isinstance(exc, TrialsError)
        return error(request, exc, request.url.path.endswith(".json") or wants_json(request))

    async def crashed(request: Request, exc: Exception) -> Response:
        log.exception("error answering %s", request.url.path)
        err = TrialsError("internal_error", "Something went wrong answering this page.",
                          "The server's log has the details; please report it.")
        as_json = request.url.path.endswith(".json") or wants_json(request)
        body = {"error": err.as_dict()}
        if as_json:
            return _json(body, status_code=500)
        try:
            return page(request, "error.html", 500, title="Error", error=body["error"],
                        status=500)
        except Exception:  # the error page itself failed: still no traceback
            return PlainTextResponse(f"Error: {err.message} {err.hint}", status_code=500)

    routes = [
        Route("/", search_page), Route("/search", search_page),
        Route("/search.json", search_json), Route("/search.csv", search_csv),
        Route("/trial/{tid:path}", trial_page),
        Route("/changes", changes_page), Route("/changes.json", changes_json),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: not_found,
                                                       TrialsError: library_error,
                                                       Exception: crashed})
    app.state.home = home
    return app


class RelatedCache:
    """``service.related`` results kept while the index and store are unchanged: the call
    ranks the whole index (~0.3 s), and a trial page is read far more often than the index
    changes.  The key holds the index's table-of-contents files (a writer's commit writes a
    new one) and the store's modification time, so new data shows as soon as it is there."""

    def __init__(self, home: DataHome, size: int = 256) -> None:
        self.home = home
        self.size = size
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

    def _stamp(self) -> tuple[Any, ...]:
        try:
            tocs = tuple(sorted(e.name for e in os.scandir(self.home.index_dir)
                                if e.name.endswith(".toc")))
        except OSError:
            tocs = ()
        stamps: list[tuple[int, int] | None] = []
        for path in (self.home.store_path, Path(f"{self.home.store_path}-wal")):
            try:
                st = path.stat()
                stamps.append((st.st_mtime_ns, st.st_size))
            except OSError:
                stamps.append(None)
        return (tocs, *stamps)

    def get(self, trial_id: str) -> Any:
        key = (trial_id, self._stamp())
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = service.related(self.home, trial_id)
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


async def _threaded(func: Any, *args: Any) -> Any:
    """Library calls block (SQLite, Whoosh): run them off the event loop."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(func, *args)


