"""A local stand-in for the ClinicalTrials.gov API v2, serving saved study files.

``trials crawl --offline`` points the real spider at it, so a new user sees the whole pipeline
(fetch, parse, store, index) work without a network; the tests' mock server extends it with
failure routes.  It answers the two endpoints the spider uses, in the API's shapes:

- ``/studies/{nctId}``: the saved file byte for byte; 301 for an id listed in a study's
  ``nctIdAliases``; 404 (text, like the API) for an unknown id;
- ``/studies``: ``query.cond`` (conditions + keywords), ``query.intr`` (intervention names,
  other names, descriptions), ``query.term`` (all text): every word of the query must occur,
  case-insensitively (a small subset of the API's Essie syntax); ``filter.overallStatus``;
  ``filter.ids`` (comma- or pipe-separated NCT ids, matched against ``nctId`` and
  ``nctIdAliases`` like the API); ``filter.advanced`` (only
  ``AREA[LastUpdatePostDate]RANGE[from,to]``); ``pageSize`` (API default 10, max 1000, further
  capped by ``page_size_cap``); ``pageToken``; ``countTotal``.

The catalogue can change while the server runs (``StudyCatalogue.put`` / ``remove``, or
``ReplayServer.reload()`` after rewriting the files), so a test can stand in for a registry whose
data moves between refreshes.

Like the API, a page token is opaque and only valid with the same query and filters; unknown
or repeated parameters get a 400, so a spider that drops a parameter on page 2 fails loudly.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

if TYPE_CHECKING:
    import sys

    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

    from typing_extensions import Self

SEARCH_PARAMS = frozenset({"query.cond", "query.intr", "query.term", "filter.overallStatus",
                           "filter.ids", "filter.advanced", "pageSize", "pageToken",
                           "countTotal", "format"})
# The API lets these differ between the pages of one query; the token binds the rest.
_UNBOUND_PARAMS = frozenset({"pageSize", "pageToken", "countTotal"})
_DAY = r"\d{4}-\d{2}(?:-\d{2})?"
_RANGE_RE = re.compile(
    rf"^AREA\[LastUpdatePostDate\]RANGE\[(MIN|{_DAY}),\s*(MAX|{_DAY})\]$", re.IGNORECASE
)


class BadRequest(Exception):
    """A request the API would answer with 400; the message becomes the body."""


def bundled_studies_dir() -> Traversable:
    """The study files shipped as package data (they work from a regular install too)."""
    return files("trialscope.fixtures") / "ctgov" / "studies"


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _get(obj: Any, *keys: str) -> Any:
    for key in keys:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


class StudyCatalogue:
    """The saved studies, by NCT id, with the text each search parameter looks at."""

    def __init__(self, studies_dir: Path | Traversable | None = None) -> None:
        self.root = studies_dir if studies_dir is not None else bundled_studies_dir()
        self.raw: dict[str, bytes] = {}  # id -> file bytes, served verbatim
        self.studies: dict[str, dict[str, Any]] = {}  # id -> study (valid JSON only)
        self.aliases: dict[str, str] = {}  # alias id -> current id
        self.reload()

    def reload(self) -> None:
        """Read the studies folder again (a test rewrote, added or deleted files)."""
        raw: dict[str, bytes] = {}
        studies: dict[str, dict[str, Any]] = {}
        aliases: dict[str, str] = {}
        for entry in sorted(self.root.iterdir(), key=lambda e: e.name):
            if not entry.name.endswith(".json"):
                continue
            _add(entry.read_bytes(), entry.name[: -len(".json")], raw, studies, aliases)
        # Swapped whole, so a request in flight sees the old catalogue or the new one.
        self.raw, self.studies, self.aliases = raw, studies, aliases

    def put(self, study: dict[str, Any] | bytes, nct_id: str | None = None) -> str:
        """Add or replace one study (a dict, or bytes served verbatim); returns its id."""
        data = study if isinstance(study, bytes) else json.dumps(
            study, ensure_ascii=False, indent=2).encode("utf-8")
        raw, studies, aliases = dict(self.raw), dict(self.studies), dict(self.aliases)
        key = _add(data, nct_id or "", raw, studies, aliases)
        self.raw, self.studies, self.aliases = raw, studies, aliases
        return key

    def remove(self, nct_id: str) -> None:
        """Forget a study: its id (and its aliases) now answer 404."""
        key = nct_id.upper()
        raw, studies = dict(self.raw), dict(self.studies)
        raw.pop(key, None)
        studies.pop(key, None)
        aliases = {a: t for a, t in self.aliases.items() if t != key}
        self.raw, self.studies, self.aliases = raw, studies, aliases

    def search(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """The studies matching every given parameter, in NCT id order."""
        statuses = _split_list(params.get("filter.overallStatus"))
        wanted = _split_list(params.get("filter.ids"))
        date_range = _parse_range(params.get("filter.advanced"))
        studies, aliases = self.studies, self.aliases
        if wanted:
            wanted |= {aliases[i] for i in wanted if i in aliases}  # the API searches aliases too
        out = []
        for nct_id in sorted(studies):
            study = studies[nct_id]
            ps = study.get("protocolSection") or {}
            if wanted and nct_id not in wanted:
                continue
            if statuses and _get(ps, "statusModule", "overallStatus") not in statuses:
                continue
            if date_range and not _in_range(_get(ps, "statusModule",
                                                 "lastUpdatePostDateStruct", "date"), date_range):
                continue
            if not (_matches(params.get("query.cond"), _cond_text(ps))
                    and _matches(params.get("query.intr"), _intr_text(ps))
                    and _matches(params.get("query.term"), _strings(study))):
                continue
            out.append(study)
        return out


def _add(data: bytes, fallback_id: str, raw: dict[str, bytes],
         studies: dict[str, dict[str, Any]], aliases: dict[str, str]) -> str:
    try:
        study = json.loads(data)
    except ValueError:
        study = None  # served by id as saved (a broken file is a test case too)
    nct_id = _get(study, "protocolSection", "identificationModule", "nctId")
    key = str(nct_id or fallback_id).upper()
    raw[key] = data
    if isinstance(study, dict):
        studies[key] = study
        for alias in _get(study, "protocolSection", "identificationModule",
                          "nctIdAliases") or []:
            aliases[str(alias).upper()] = key
    else:
        studies.pop(key, None)
    return key


def _split_list(value: str | None) -> set[str]:
    return {p.strip().upper() for p in re.split(r"[,|]", value or "") if p.strip()}


def _parse_range(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    m = _RANGE_RE.match(value.strip())
    if not m:
        raise BadRequest(f"filter.advanced: the replay server only understands "
                         f"AREA[LastUpdatePostDate]RANGE[from,to], got {value!r}")
    return m.group(1).upper(), m.group(2).upper()


def _in_range(day: str | None, date_range: tuple[str, str]) -> bool:
    low, high = date_range
    if not day:
        return False
    return (low == "MIN" or day >= low) and (high == "MAX" or day <= high)


def _cond_text(ps: dict[str, Any]) -> Iterator[str]:
    yield from _strings(_get(ps, "conditionsModule", "conditions"))
    yield from _strings(_get(ps, "conditionsModule", "keywords"))


def _intr_text(ps: dict[str, Any]) -> Iterator[str]:
    for intervention in _get(ps, "armsInterventionsModule", "interventions") or []:
        if isinstance(intervention, dict):
            for key in ("name", "description", "otherNames"):
                yield from _strings(intervention.get(key))


def _matches(query: str | None, texts: Iterator[str]) -> bool:
    if not query:
        return True
    haystack = "\n".join(texts).lower()
    return all(word in haystack for word in query.lower().split())


def _token(offset: int, binding: str) -> str:
    raw = json.dumps({"o": offset, "q": binding}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _untoken(token: str, binding: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset, bound = int(data["o"]), data["q"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BadRequest(f"pageToken: not a token this server issued ({token!r})") from exc
    if bound != binding:
        raise BadRequest("pageToken: issued for different query/filter parameters "
                         "(repeat every parameter of the first page)")
    return offset


class ReplayHandler(BaseHTTPRequestHandler):
    """Routes GET requests; subclasses add routes by overriding ``route``."""

    protocol_version = "HTTP/1.1"  # keep-alive, as Scrapy expects from a real server
    disable_nagle_algorithm = True  # else each small response waits ~40 ms for an ACK
    server_version = "trialscope-replay"
    server: _ReplayHTTPServer

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        pairs = parse_qsl(url.query, keep_blank_values=True)
        try:
            params = dict(pairs)
            if len(params) != len(pairs):
                raise BadRequest("a parameter is repeated")
            self.route(unquote(url.path), params)
        except BadRequest as exc:
            self.send_text(400, str(exc))

    def route(self, path: str, params: dict[str, str]) -> None:
        if path.rstrip("/") == "/studies":
            self.search(params)
        elif path.startswith("/studies/"):
            self.study(path[len("/studies/"):], params)
        else:
            self.send_text(404, f"no route {path}")

    def study(self, nct_id: str, params: dict[str, str]) -> None:
        catalogue = self.server.catalogue
        key = nct_id.strip().upper()
        if params.get("format", "json") != "json":
            raise BadRequest("format: the replay server serves json only")
        if key in catalogue.raw:
            self.send_json(200, catalogue.raw[key])
        elif key in catalogue.aliases:
            self.send_redirect(f"/studies/{catalogue.aliases[key]}?format=json")
        else:
            self.send_text(404, f"Study {nct_id} not found")

    def search(self, params: dict[str, str]) -> None:
        unknown = sorted(set(params) - SEARCH_PARAMS)
        if unknown:
            raise BadRequest(f"unknown parameter {unknown[0]}")
        if params.get("format", "json") != "json":
            raise BadRequest("format: the replay server serves json only")
        try:
            size = int(params.get("pageSize", "10"))
        except ValueError:
            raise BadRequest(f"pageSize: not a number ({params['pageSize']!r})") from None
        if not 0 < size <= 1000:
            raise BadRequest("pageSize: must be between 1 and 1000")
        if self.server.page_size_cap:
            size = min(size, self.server.page_size_cap)
        bound = {k: v for k, v in sorted(params.items()) if k not in _UNBOUND_PARAMS}
        binding = hashlib.sha256(json.dumps(bound).encode()).hexdigest()[:16]
        token = params.get("pageToken")
        offset = _untoken(token, binding) if token else 0
        matches = self.server.catalogue.search(params)
        page: dict[str, Any] = {"studies": matches[offset:offset + size]}
        if offset + size < len(matches):
            page["nextPageToken"] = _token(offset + size, binding)
        if not token and params.get("countTotal", "false").lower() == "true":
            page["totalCount"] = len(matches)  # the API reports it with the first page only
        self.send_json(200, json.dumps(page, ensure_ascii=False).encode("utf-8"))

    # -- responses -------------------------------------------------------------------------
    def send_body(self, status: int, body: bytes, content_type: str,
                  headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_body(status, body, "application/json", headers)

    def send_text(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        self.send_body(status, text.encode("utf-8"), "text/plain; charset=utf-8", headers)

    def send_redirect(self, location: str, status: int = 301) -> None:
        self.send_body(status, b"", "text/plain", {"Location": location})

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the crawl's own log says what was fetched


class _ReplayHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    catalogue: StudyCatalogue
    page_size_cap: int | None


class ReplayServer:
    """``with ReplayServer() as server: ... server.url ...``: serves on 127.0.0.1, a free port,
    from a daemon thread."""

    handler_class: type[ReplayHandler] = ReplayHandler

    def __init__(self, studies_dir: Path | Traversable | None = None,
                 page_size_cap: int | None = None, *, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.catalogue = StudyCatalogue(studies_dir)
        self.httpd = _ReplayHTTPServer((host, port), self.handler_class)
        self.httpd.catalogue = self.catalogue
        self.httpd.page_size_cap = page_size_cap
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        assert isinstance(host, str)  # an IPv4 server's address: (host, port)
        return f"http://{host}:{port}"

    def start(self) -> Self:
        self._thread = threading.Thread(target=self.httpd.serve_forever,
                                        name="trialscope-replay", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self.httpd.server_close()

    def reload(self) -> None:
        """Re-read the studies folder (see ``StudyCatalogue.reload``)."""
        self.catalogue.reload()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
