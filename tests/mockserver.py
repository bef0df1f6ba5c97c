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

Every request's path is counted in ``hits`` (per-path counters drive the "fail once" routes).
"""

from __future__ import annotations

import copy
import json
import sys
import threading
import time
from collections import Counter
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


def study_as(study: dict[str, Any], nct_id: str) -> dict[str, Any]:
    """A copy of ``study`` carrying another NCT id (a stand-in study for a failure route)."""
    clone = copy.deepcopy(study)
    clone["protocolSection"]["identificationModule"]["nctId"] = nct_id
    return clone


class MockHandler(ReplayHandler):
    server: Any  # _MockHTTPServer: the replay server's attributes plus hits/lock/canonical_id

    def route(self, path: str, params: dict[str, str]) -> None:
        with self.server.lock:
            self.server.hits[path] += 1
            hits = self.server.hits[path]
        nct_id = path[len("/studies/"):].upper() if path.startswith("/studies/") else None
        term = params.get("query.term")
        if nct_id in FAILURE_IDS:
            self.failure_route(nct_id, hits)
        elif path.rstrip("/") == "/studies" and term in (TRUNCATED_PAGE, MIXED_PAGE):
            self.failure_page(term)
        else:
            super().route(path, params)

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
    """``with MockServer() as mock:`` ... ``mock.url``, ``mock.hits``, ``mock.canonical_id``."""

    handler_class = MockHandler

    def __init__(self, studies_dir: Path | None = None, page_size_cap: int | None = None) -> None:
        super().__init__(studies_dir, page_size_cap)
        self.hits: Counter[str] = Counter()
        self.canonical_id = min(self.catalogue.studies)
        self.httpd.hits = self.hits  # type: ignore[attr-defined]
        self.httpd.lock = threading.Lock()  # type: ignore[attr-defined]
        self.httpd.canonical_id = self.canonical_id  # type: ignore[attr-defined]


if __name__ == "__main__":
    with MockServer(Path(sys.argv[1]) if len(sys.argv) > 1 else None) as mock:
        print(mock.url, flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
