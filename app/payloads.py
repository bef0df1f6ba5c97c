"""The JSON documents `--json` prints, built in one place so every front end (the CLI, the
web page's JSON twins) gives the same document for the same call."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trialscope.app.summary import TrialInfo
from trialscope.core.record import TrialRecord

if TYPE_CHECKING:  # (not imported at run time: the CLI starts without the index modules)
    from trialscope.index.related import RelatedResults
    from trialscope.index.search import SearchResults


def search_rows(results: SearchResults, *, explain: bool = False) -> list[dict[str, Any]]:
    """One row per hit of ``service.search`` (also what --nl and --csv start from)."""
    return [{"trial_id": h.trial_id, "score": round(h.score, 4), "title": h.title,
             "status": h.status, "phases": h.phases, "conditions": h.conditions,
             "snippet": h.snippet, "also_registered_as": h.also,
             **({"understood": h.intents} if h.intents else {}),
             **({"explain": h.explanation} if explain else {})}
            for h in results.hits]


def search_document(query: str, results: SearchResults, *, offset: int = 0,
                    explain: bool = False) -> dict[str, Any]:
    """`trials search QUERY --json`."""
    return {"query": query, "parsed_query": results.query_repr,
            "understood": results.understood,
            "total": results.total, "offset": offset,
            "results": search_rows(results, explain=explain),
            **({"facets": results.facets} if results.facets is not None else {})}


def related_rows(results: RelatedResults) -> list[dict[str, Any]]:
    return [{"trial_id": h.trial_id, "score": round(h.score, 4), "title": h.title,
             "status": h.status, "phases": h.phases, "conditions": h.conditions,
             "shared": h.shared} for h in results.hits]


def related_document(results: RelatedResults) -> dict[str, Any]:
    """`trials related ID --json`."""
    return {"trial_id": results.trial_id, "title": results.title,
            "query": results.query_repr, "results": related_rows(results)}


def show_document(record: TrialRecord, info: TrialInfo) -> dict[str, Any]:
    """`trials show ID --json`: the record, and what the store knows of it under ``_store``."""
    data = record.to_dict()
    data["_store"] = {k: v for k, v in info.items() if k != "version_list"}
    return data
