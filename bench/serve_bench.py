"""`trials serve` latency beside the library call it makes, p50 / p95, warm.

    python bench/serve_bench.py --home DIR [--rounds 20] [--query TEXT ...] [--trial ID]

For each query: ``service.search(home, query, limit=20, facets=True)`` (what `trials search`
calls) timed ``--rounds`` times, then ``GET /search?q=...`` (the HTML page: the same call plus
the template) through the app in-process (Starlette's ASGI test client, no sockets), after one
warm-up call each.  The issue's target: page p95 within 2x the library call's p95.  Then the
trial page (``GET /trial/ID``: show + related + history + template) and its JSON twin; target
< 50 ms warm.  ``DIR`` is a data home (``trials import``, or ``bench/import_bench.py --keep``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from starlette.testclient import TestClient

from trialscope.app import service
from trialscope.core.errors import TrialsError
from trialscope.store.home import DataHome
from trialscope.web.server import create_app

QUERIES = ["refractory myasthenia gravis CAR-T", "breast cancer", "recruiting phase 3 in China"]


def timed(call: Callable[[], Any], rounds: int) -> tuple[float, float]:
    call()  # warm
    runs = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        runs.append((time.perf_counter() - start) * 1000)
    runs.sort()
    return statistics.median(runs), runs[min(len(runs) - 1, int(round(0.95 * len(runs))) - 1)]


DEMO_TRIAL = "NCT06958939"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--home", required=True)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--query", action="append", dest="queries")
    ap.add_argument("--trial", help=f"the trial page's trial (default {DEMO_TRIAL} when the "
                    "home holds it, as the demo does, else the home's first trial)")
    args = ap.parse_args()
    home = DataHome.resolve(args.home)
    client = TestClient(create_app(home))
    try:
        first = service.search(home, "", limit=1).hits
    except TrialsError as e:  # no store or no index: the message says what to run
        raise SystemExit(f"serve_bench: {e}") from None
    if args.trial is None:
        demo = client.get(f"/trial/{DEMO_TRIAL}.json").status_code == 200
        args.trial = DEMO_TRIAL if demo or not first else first[0].trial_id
    if client.get(f"/trial/{args.trial}.json").status_code != 200:
        raise SystemExit(f"serve_bench: no trial page for {args.trial} in the data home "
                         f"{args.home}; give --trial an id it holds, or leave it out")

    def ok(url: str) -> Callable[[], Any]:
        def get() -> Any:
            r = client.get(url)
            assert r.status_code == 200, (url, r.status_code, r.text[:200])
        return get

    print(f"{'what':<48} {'p50 ms':>8} {'p95 ms':>8}")
    for q in args.queries or QUERIES:
        lib = timed(lambda q=q: service.search(home, q, limit=20, facets=True), args.rounds)
        page = timed(ok("/search?" + urlencode({"q": q})), args.rounds)
        print(f"{'library search: ' + q[:30]:<48} {lib[0]:8.1f} {lib[1]:8.1f}")
        print(f"{'  search page':<48} {page[0]:8.1f} {page[1]:8.1f}   "
              f"p95 ratio {page[1] / lib[1]:.2f} (target <= 2)")
    for label, url in (("trial page", f"/trial/{args.trial}"),
                       ("trial JSON twin", f"/trial/{args.trial}.json")):
        t = timed(ok(url), args.rounds)
        print(f"{label + ' ' + args.trial:<48} {t[0]:8.1f} {t[1]:8.1f}   (target p95 < 50)")


if __name__ == "__main__":
    main()
