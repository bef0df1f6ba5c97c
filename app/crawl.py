"""The crawl as one library call for the CLI: run the spider, then bring the index up to date.

The spider only writes the store; the index is updated here, after the Scrapy process is done,
because Whoosh's writer should not run inside the crawl (see DESIGN.md, dependency notes).
"""

from __future__ import annotations

from typing import cast

from trialscope.app import service as index_service
from trialscope.app.summary import CrawlProblem, CrawlReport
from trialscope.core.errors import TrialsError
from trialscope.core.vocab import OPEN_STATUSES
from trialscope.store.home import DataHome


def _statuses(values: list[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        group = [s.value for s in OPEN_STATUSES] if value.lower() == "open" else [value.upper()]
        out.extend(s for s in group if s not in out)
    return out


def crawl_problem(summary: CrawlReport, registry: str = "ctgov") -> CrawlProblem | None:
    """What the crawl missed, as the error contract's object plus ``lines`` (one per cause,
    for ``Error:`` lines on stderr) and ``causes``; None when it missed nothing."""
    causes = list(summary.get("causes") or [])
    lines = [c["message"] for c in causes]
    reason = summary.get("finish_reason")
    code = "partial"
    if reason == "blocked":
        code = "blocked"
        lines.insert(0, f"{registry}'s bot check refused the crawl (what was fetched before is "
                        "kept). Try again later, or save the pages in a browser and "
                        "'trials import' them.")
    elif reason == "unreachable":
        stop = (summary.get("stats") or {}).get("trials/stopped_after") or {}
        lines.append(f"The crawl stopped after {stop.get('failures', 'several')} requests in a "
                     f"row to {stop.get('host', 'the registry')} failed the same way: asking "
                     "for the rest would only repeat it.")
    elif reason not in ("finished", None):
        lines.insert(0, f"The crawl was stopped ({reason}) before it finished; what was "
                        "fetched is kept. Run the same command again to complete it.")
    if not lines and summary.get("complete", True):
        return None
    if not lines:  # incomplete without a counted cause: say so rather than nothing
        lines.append("The crawl did not complete; see the log (logs/crawl.log in the data "
                     "folder).")
    missed = summary.get("not_fetched")
    total = summary.get("total_count")
    if missed and total:
        lines.append(f"{missed} of {total} trial(s) were not fetched. "
                     "Run the same command again: what was stored is kept and is not "
                     "written twice.")
    first = causes[0] if causes else None
    if causes:
        message = "The crawl is incomplete: " + ", ".join(
            f"{c['count']} × {c['what']}" for c in causes) + "."
    else:
        message = lines[0]
    return {"code": code, "message": message,
            "hint": first["hint"] if first else "Run the same command again.",
            "lines": lines, "causes": causes}


def crawl(home: DataHome, *, ids: list[str] | None = None, term: str | None = None,
          cond: str | None = None, intr: str | None = None, statuses: list[str] | None = None,
          since: str | None = None, offline: bool = False, page_size: int = 1000,
          progress: bool = False, registry: str = "ctgov") -> CrawlReport:
    from trialscope.app.refresh import settings_from_env
    from trialscope.crawler.run import CrawlArgumentError, CrawlError, run_crawl

    # A crawl writes the same store as a scheduled refresh: one writer per data home.
    with index_service.writing(home, "crawl"):
        try:
            result = run_crawl(
                home.store_path, ids=ids or (), cond=cond, intr=intr, term=term,
                status=_statuses(statuses or []), since=since, page_size=page_size,
                offline=offline, progress=progress, log_file=home.log_dir / "crawl.log",
                registry=registry, settings_overrides=settings_from_env() or None,
            )
        except CrawlArgumentError as exc:
            raise TrialsError("bad_argument", exc.for_user().rstrip(".") + ".",
                              "See 'trials crawl --help'.") from exc
        except CrawlError as exc:  # the crawl could not run at all (not a traceback)
            raise TrialsError("crawl_failed", f"The crawl could not run: {exc}.",
                              f"See the log: {home.log_dir / 'crawl.log'}.") from exc
        # (CrawlSummary's fields are CrawlReport's first keys: tests/test_types.py)
        summary = cast(CrawlReport, result.as_dict())
        summary["registry"] = registry
        summary["indexed"] = index_service.sync(home)
        problem = crawl_problem(summary, registry)
        if problem is not None:
            summary["error"] = problem
        return summary
