"""A mock ClinicalTrials.gov API for the crawler tests: the replay server plus failure routes.

In the manner of Scrapy's own test suite: it binds 127.0.0.1 on a free port, disables Nagle,
runs in a daemon thread (``with MockServer() as mock: mock.url``) or on its own
(``python tests/mockserver.py`` prints its URL), and has one named route per failure mode.

Study routes, chosen by NCT id (``/studies/{id}``):

==============  ======================================================================
RATE_LIMITED    429 with ``Retry-After: 1`` on the first request, then the study
ALWAYS_500      500 on every request
UNAVAILABLE     503 (no Retry-After: exponential backoff) on the first request, then the study
SLOW            the study after ``SLOW_SECONDS``
TRUNCATED       the first half of the study JSON (Content-Length matches: a cut payload)
DATA_LOSS       Content-Length promises more than is sent, then the connection closes
MALFORMED       a body that is not JSON at all
NOT_A_STUDY     valid JSON that is not a study (``parse_study`` rejects it)
ALIAS           301 to ``/studies/{canonical_id}`` (the API's answer for an alias id)
anything else   the replay server: a saved study, or 404
==============  ======================================================================

Search routes, chosen by ``query.term`` (``/studies?query.term=...``):
``mock:truncated-page`` (a page cut in half) and ``mock:mixed-page`` (a good study and a
non-study in one page).  Any other search is the replay server's, so ``pageSize=2`` gives a
multi-page search over the bundled studies.

Every request's path is counted in ``hits`` (per-path counters drive the "fail once" routes)
and logged, with its parameters, in ``log`` (what a refresh fetched, in order).

Programmable faults (``mock.add_fault(Fault(...))``) answer the next matching requests of any
route, so a refresh can meet trouble on the very search pages it depends on:

============  ===========================================================================
429           429 with ``Retry-After`` (``retry_after``, default 1 second)
500 .. 504    that status
timeout       no answer for ``seconds`` (bounded by ``MAX_HOLD_SECONDS``), then the answer
reset         the connection is reset (TCP RST) before any response
truncated     the normal answer cut in half (Content-Length matches the cut body)
invalid_json  200 with a body that is not JSON
hold          the request waits until ``mock.release`` is set (bounded), then is answered;
              ``mock.held`` is set when it arrives (to kill a crawl at a known point)
403           403 Forbidden with an HTML body, as a registry refusing a client answers
hostile       the normal search page with ``HOSTILE_STUDIES`` added among its studies (each
              breaks a parser or a store differently); the page itself stays valid JSON
deep          the normal search page wrapped so deep that no JSON decoder reads it (its
              ``nextPageToken`` is still in the text)
============  ===========================================================================

``Fault.match`` picks the requests: ``"search"`` (``/studies?...``), ``"study"``
(``/studies/{id}``), ``"any"``, or one NCT id; ``page`` narrows searches to the ``"first"``
page or ``"later"`` pages (those sent with a ``pageToken``), ``params`` to requests carrying
given parameters (``{"query.cond": "lupus"}``: one watch's crawl); ``skip`` lets that many
matching requests through first.  A fault answers ``times`` requests and is then spent.
The catalogue itself can change between requests (``mock.catalogue.put(study)`` /
``remove(id)``): a registry whose data moves.
"""

from __future__ import annotations

import atexit
import copy
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trialscope.crawler.replay import ReplayHandler, ReplayServer

RATE_LIMITED = "NCT90000429"
ALWAYS_500 = "NCT90000500"
UNAVAILABLE = "NCT90000503"
SLOW = "NCT90000408"
TRUNCATED = "NCT90000206"
DATA_LOSS = "NCT90000207"
MALFORMED = "NCT90000400"
NOT_A_STUDY = "NCT90000422"
ALIAS = "NCT90000301"
UNKNOWN = "NCT99999999"
FAILURE_IDS = (RATE_LIMITED, ALWAYS_500, UNAVAILABLE, SLOW, TRUNCATED, DATA_LOSS, MALFORMED,
               NOT_A_STUDY, ALIAS)

SLOW_SECONDS = 2.0
TRUNCATED_PAGE = "mock:truncated-page"
MIXED_PAGE = "mock:mixed-page"
MAX_HOLD_SECONDS = 30.0  # no fault keeps a server thread longer than this
FAULT_KINDS = frozenset({"403", "429", "500", "502", "503", "504", "timeout", "reset",
                         "truncated", "invalid_json", "hold", "hostile", "deep"})
DEEP_NESTING = 100_000  # levels of nesting in a "deep" page: past any JSON decoder's limit
# Studies that each broke a whole page once: enrollment 1e999 (a float overflowing int), a
# lone surrogate in a title (not storable as UTF-8), a field nested deeper than the pure-Python
# JSON encoder goes, and an int where the NCT id string belongs.  (nct id, how it is broken)
HOSTILE_STUDIES = (("NCT91000001", "enrollment_1e999"), ("NCT91000002", "lone_surrogate"),
                   ("NCT91000003", "deep_nesting"), ("NCT91000004", "int_id"))
_BIG_NUMBER_MARK = 918273645546372819  # replaced by 1e999 in the page's text
_DEEP_MARK = "mock:deep-nesting-goes-here"  # replaced by STUDY_NESTING nested lists
STUDY_NESTING = 600  # deep enough to break recursive code, shallow enough for json.loads


@dataclass
class Fault:
    """One programmed misbehaviour; see the module docstring."""

    kind: str
    match: str = "search"
    page: str | None = None  # "first" | "later" | None (any page)
    times: int = 1
    retry_after: str = "1"
    seconds: float = 2.0  # for "timeout"
    params: dict[str, str] | None = None  # only requests carrying all these parameters
    skip: int = 0  # let this many matching requests through first

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}")
        self.match = self.match if self.match in ("search", "study", "any") else \
            self.match.upper()

    def applies(self, path: str, params: dict[str, str]) -> bool:
        is_search = path.rstrip("/") == "/studies"
        nct_id = path[len("/studies/"):].upper() if path.startswith("/studies/") else None
        if self.match == "search" and not is_search:
            return False
        if self.match == "study" and nct_id is None:
            return False
        if self.match not in ("search", "study", "any") and nct_id != self.match:
            return False
        if self.page == "first" and "pageToken" in params:
            return False
        if self.params and any(params.get(k) != v for k, v in self.params.items()):
            return False
        return not (self.page == "later" and "pageToken" not in params)


def study_as(study: dict[str, Any], nct_id: str) -> dict[str, Any]:
    """A copy of ``study`` carrying another NCT id (a stand-in study for a failure route)."""
    clone = copy.deepcopy(study)
    clone["protocolSection"]["identificationModule"]["nctId"] = nct_id
    return clone


def hostile_page(body: bytes, stand_in: Any) -> bytes:
    """A search page (JSON bytes) with the ``HOSTILE_STUDIES`` put among its studies."""
    page = json.loads(body)
    studies = page["studies"]
    for n, (nct_id, how) in enumerate(HOSTILE_STUDIES):
        study = stand_in(nct_id)
        ps = study["protocolSection"]
        if how == "enrollment_1e999":
            ps.setdefault("designModule", {})["enrollmentInfo"] = {
                "count": _BIG_NUMBER_MARK, "type": "ESTIMATED"}
        elif how == "lone_surrogate":
            ps["identificationModule"]["briefTitle"] = "CAR-T \ud800 trial"
        elif how == "deep_nesting":
            ps["identificationModule"]["briefTitle"] = _DEEP_MARK
        elif how == "int_id":
            ps["identificationModule"]["nctId"] = 91000004
        studies.insert(min(len(studies), 1 + 2 * n), study)
    # ensure_ascii: the lone surrogate goes out as the escape "\ud800", as a server would send
    # it; the marker becomes the literal 1e999 (json.dumps cannot write one).
    text = json.dumps(page, ensure_ascii=True)
    deep = "[" * STUDY_NESTING + '"bottom"' + "]" * STUDY_NESTING
    text = text.replace(json.dumps(_DEEP_MARK), deep)
    return text.replace(str(_BIG_NUMBER_MARK), "1e999").encode("ascii")


class MockHandler(ReplayHandler):
    server: Any  # _MockHTTPServer: the replay server's attributes plus hits/lock/canonical_id

    _capture: list[tuple[int, bytes, str, dict[str, str] | None]] | None = None

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionError, TimeoutError):
            pass  # the client gave up first (a "timeout" fault, a killed crawl)

    def route(self, path: str, params: dict[str, str]) -> None:
        with self.server.lock:
            self.server.hits[path] += 1
            hits = self.server.hits[path]
            self.server.log.append((path, dict(params)))
            fault = None
            for candidate in self.server.faults:
                if candidate.times > 0 and candidate.applies(path, params):
                    if candidate.skip > 0:
                        candidate.skip -= 1
                        continue
                    fault = candidate
                    fault.times -= 1
                    break
        if fault is not None:
            self.fault_route(fault, path, params)
        else:
            self.normal_route(path, params, hits)

    def normal_route(self, path: str, params: dict[str, str], hits: int) -> None:
        nct_id = path[len("/studies/"):].upper() if path.startswith("/studies/") else None
        term = params.get("query.term")
        if nct_id in FAILURE_IDS:
            self.failure_route(nct_id, hits)
        elif path.rstrip("/") == "/studies" and term in (TRUNCATED_PAGE, MIXED_PAGE):
            self.failure_page(term)
        else:
            super().route(path, params)

    def fault_route(self, fault: Fault, path: str, params: dict[str, str]) -> None:
        kind = fault.kind
        if kind == "429":
            self.send_text(429, "Too Many Requests", {"Retry-After": fault.retry_after})
        elif kind == "403":
            self.send_body(403, b"<html><body><h1>Access denied</h1></body></html>",
                           "text/html; charset=utf-8")
        elif kind.isdigit():
            self.send_text(int(kind), f"HTTP {kind} (mock fault)")
        elif kind == "hostile":
            status, body, ctype, headers = self.captured(path, params)
            self.send_body(status, hostile_page(body, self.stand_in_study), ctype, headers)
        elif kind == "deep":
            status, body, ctype, headers = self.captured(path, params)
            page = json.loads(body)
            token = json.dumps(page.get("nextPageToken"))
            deep = ('{"studies": [' + "[" * DEEP_NESTING + "]" * DEEP_NESTING
                    + f'], "nextPageToken": {token}}}')
            self.send_body(status, deep.encode(), ctype, headers)
        elif kind == "reset":
            # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
        elif kind == "invalid_json":
            self.send_json(200, b"<html><body>Service temporarily unavailable</body></html>")
        elif kind == "truncated":
            status, body, ctype, headers = self.captured(path, params)
            self.send_body(status, body[: len(body) // 2], ctype, headers)
        elif kind == "timeout":
            time.sleep(min(fault.seconds, MAX_HOLD_SECONDS))
            self.normal_route(path, params, 0)
        elif kind == "hold":
            self.server.held.set()
            self.server.release.wait(MAX_HOLD_SECONDS)
            self.normal_route(path, params, 0)

    def captured(self, path: str, params: dict[str, str]
                 ) -> tuple[int, bytes, str, dict[str, str] | None]:
        """The answer the normal route would give, without sending it."""
        self._capture = []
        try:
            self.normal_route(path, params, 0)
        finally:
            captured, self._capture = self._capture, None
        return captured[0]

    def send_body(self, status: int, body: bytes, content_type: str,
                  headers: dict[str, str] | None = None) -> None:
        if self._capture is not None:
            self._capture.append((status, body, content_type, headers))
        else:
            super().send_body(status, body, content_type, headers)

    def stand_in_study(self, nct_id: str) -> dict[str, Any]:
        return study_as(self.server.catalogue.studies[self.server.canonical_id], nct_id)

    def stand_in(self, nct_id: str) -> bytes:
        base = self.server.catalogue.studies[self.server.canonical_id]
        return json.dumps(study_as(base, nct_id), indent=2).encode("utf-8")

    def failure_route(self, nct_id: str, hits: int) -> None:
        if nct_id == RATE_LIMITED and hits == 1:
            self.send_text(429, "Too Many Requests", {"Retry-After": "1"})
        elif nct_id == ALWAYS_500:
            self.send_text(500, "Internal Server Error")
        elif nct_id == UNAVAILABLE and hits == 1:
            self.send_text(503, "Service Unavailable")
        elif nct_id == SLOW:
            time.sleep(SLOW_SECONDS)
            self.send_json(200, self.stand_in(nct_id))
        elif nct_id == TRUNCATED:
            body = self.stand_in(nct_id)
            self.send_json(200, body[: len(body) // 2])
        elif nct_id == DATA_LOSS:
            body = self.stand_in(nct_id)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
        elif nct_id == MALFORMED:
            self.send_json(200, b'{"protocolSection": {"identificationModule": <html>oops')
        elif nct_id == NOT_A_STUDY:
            self.send_json(200, json.dumps({"message": "this is not a study"}).encode())
        elif nct_id == ALIAS:
            self.send_redirect(f"/studies/{self.server.canonical_id}?format=json")
        else:  # the "then success" half of the fail-once routes
            self.send_json(200, self.stand_in(nct_id))

    def failure_page(self, term: str) -> None:
        base = self.server.catalogue.studies[self.server.canonical_id]
        if term == TRUNCATED_PAGE:
            body = json.dumps({"studies": [base], "totalCount": 1}).encode()
            self.send_json(200, body[: len(body) // 2])
        else:
            page = {"studies": [base, {"protocolSection": "not a module"}], "totalCount": 2}
            self.send_json(200, json.dumps(page).encode())


class MockServer(ReplayServer):
    """``with MockServer() as mock:`` ... ``mock.url``, ``mock.hits``, ``mock.log``,
    ``mock.canonical_id``, ``mock.add_fault(...)``, ``mock.held`` / ``mock.release``."""

    handler_class = MockHandler

    def __init__(self, studies_dir: Path | None = None, page_size_cap: int | None = None) -> None:
        super().__init__(studies_dir, page_size_cap)
        self.hits: Counter[str] = Counter()
        self.log: list[tuple[str, dict[str, str]]] = []
        self.faults: list[Fault] = []
        self.held = threading.Event()
        self.release = threading.Event()
        self.canonical_id = min(self.catalogue.studies)
        self.httpd.hits = self.hits  # type: ignore[attr-defined]
        self.httpd.log = self.log  # type: ignore[attr-defined]
        self.httpd.faults = self.faults  # type: ignore[attr-defined]
        self.httpd.held = self.held  # type: ignore[attr-defined]
        self.httpd.release = self.release  # type: ignore[attr-defined]
        self.httpd.lock = threading.Lock()  # type: ignore[attr-defined]
        self.httpd.canonical_id = self.canonical_id  # type: ignore[attr-defined]

    def add_fault(self, fault: Fault) -> Fault:
        with self.httpd.lock:  # type: ignore[attr-defined]
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        """Forget faults and the request log (between refresh cycles)."""
        with self.httpd.lock:  # type: ignore[attr-defined]
            self.faults.clear()
            self.log.clear()
        self.held.clear()
        self.release.clear()

    def stop(self) -> None:
        self.release.set()  # no held request outlives the server
        super().stop()


# -- driving the real CLI against the mock, in a subprocess ----------------------------------
# Twisted's reactor runs once per process: every crawl or refresh gets its own.  Retry waits
# shrink to milliseconds (Retry-After is still read, and capped); no politeness delay on
# 127.0.0.1.
FAST_SETTINGS: dict[str, Any] = {
    "AUTOTHROTTLE_ENABLED": False,
    "DOWNLOAD_DELAY": 0,
    "RETRY_TIMES": 2,
    "TRIALS_RETRY_BACKOFF_BASE": 0.01,
    "TRIALS_RETRY_BACKOFF_MAX": 0.05,
    "TRIALS_RETRY_AFTER_MAX": 0.05,
}


def cli_env(api: str | None, settings: dict[str, Any] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("TRIALS_CTGOV_API", "TRIALS_HOME", "TRIALS_CRAWL_SETTINGS")}
    if api:
        env["TRIALS_CTGOV_API"] = api
    env["TRIALS_CRAWL_SETTINGS"] = json.dumps({**FAST_SETTINGS, **(settings or {})})
    return env


def cli_args(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "trialscope.cli", "--home", str(home), *args]


def run_trials(home: Path, *args: str, api: str | None = None,
               settings: dict[str, Any] | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``trials --home HOME ARGS...`` in a fresh process, against the mock API at ``api``.

    The process is forked from a warm one (``ForkingCli``) where the platform allows: the
    same isolation as a new interpreter (each refresh gets its own reactor), without paying
    for the imports every time."""
    if hasattr(os, "fork"):
        return _forking_cli().run(cli_args(home, *args)[3:], cli_env(api, settings), timeout)
    return subprocess.run(cli_args(home, *args), env=cli_env(api, settings),
                          capture_output=True, text=True, timeout=timeout, check=False)


_RUNNER = r"""
import json, os, sys, traceback
# Warm up: everything a command imports, but nothing that starts a thread or a reactor.
import scrapy.crawler, trialscope.cli.main, trialscope.app.refresh
import trialscope.crawler.run, trialscope.crawler.spiders.ctgov, trialscope.index.check
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.environ.clear()
        os.environ.update(job["env"])
        for fd, path in ((1, job["out"]), (2, job["err"])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
        code = 0
        try:
            trialscope.cli.main.cli.main(args=job["argv"], prog_name="trials")
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"code": os.waitstatus_to_exitcode(status)}), flush=True)
"""


class ForkingCli:
    """A warm Python that forks one child per ``trials`` command (see ``run_trials``)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", _RUNNER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.lock = threading.Lock()

    def run(self, argv: list[str], env: dict[str, str],
            timeout: float) -> subprocess.CompletedProcess[str]:
        import select
        import tempfile

        with self.lock, tempfile.TemporaryDirectory() as tmp:
            out, err = Path(tmp) / "out", Path(tmp) / "err"
            job = {"argv": argv, "env": env, "out": str(out), "err": str(err)}
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
            if not ready:
                self.close()
                raise subprocess.TimeoutExpired(argv, timeout)
            code = json.loads(self.proc.stdout.readline())["code"]
            return subprocess.CompletedProcess(
                argv, code, out.read_text(encoding="utf-8", errors="replace"),
                err.read_text(encoding="utf-8", errors="replace"))

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


_FORKING: ForkingCli | None = None


def _forking_cli() -> ForkingCli:
    global _FORKING
    if _FORKING is None or _FORKING.proc.poll() is not None:
        _FORKING = ForkingCli()
        atexit.register(_FORKING.close)
    return _FORKING


def start_trials(home: Path, *args: str, api: str | None = None,
                 settings: dict[str, Any] | None = None) -> subprocess.Popen[str]:
    """The same, not waited for (to kill it, or to run a second one beside it)."""
    return subprocess.Popen(cli_args(home, *args), env=cli_env(api, settings),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


if __name__ == "__main__":
    with MockServer(Path(sys.argv[1]) if len(sys.argv) > 1 else None) as mock:
        print(mock.url, flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
