"""``trials history`` and ``trials changes``: the store's versions of a trial, and what changed
since a date, as the front ends ask for them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from trialscope.core.errors import TrialsError
from trialscope.parser.registries import check_trial_id
from trialscope.store.access import read_store
from trialscope.store.history import changes_since, history
from trialscope.store.watches import WatchBook, WatchError, has_watch_tables


def trial_history(home: Any, trial_id: str) -> dict[str, Any]:
    """``trials history ID``: raises ``TrialsError`` for a bad or unknown id."""
    tid = check_trial_id(trial_id)
    if not home.store_path.exists():
        raise TrialsError("not_found", f"No trials stored in {home.root} yet.",
                          f"Fetch it with 'trials crawl --id {tid}'.")
    with read_store(home) as store:
        result = history(store, tid)
    if result is None:
        raise TrialsError("not_found", f"{tid} is not in the local store ({home.root}).",
                          f"Fetch it with 'trials crawl --id {tid}'.")
    return result


def check_since(text: str, option: str = "--since") -> str:
    """A ``--since`` value: YYYY-MM-DD, or a full UTC timestamp as the store writes them."""
    value = text.strip()
    try:
        if len(value) == 10:
            date.fromisoformat(value)
        else:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise TrialsError("bad_argument", f"{option} '{text}' is not a date.",
                          f"Give YYYY-MM-DD, e.g. {option} 2025-06-01.") from None
    return value


def changes_feed(home: Any, since: str | None, *, watch: str | None = None,
                 updated_since: str | None = None) -> list[dict[str, Any]]:
    """``trials changes [--since DATE] [--updated-since DATE] [--watch NAME]``: one entry per
    new or changed trial-version fetched since ``since`` and, with ``updated_since``, whose
    registry last-update date is on or after it; oldest fetch first.

    A version cannot be fetched before the registry posted it, so the versions updated since
    a date are among those fetched since it: the fetch-date scan bounds both."""
    since = check_since(since) if since else None
    updated = check_since(updated_since, option="--updated-since") if updated_since else None
    if not home.store_path.exists():
        return []
    with read_store(home) as store:
        members = None
        if watch and not has_watch_tables(home.store_path):
            raise WatchError("unknown_watch", f"No watch named '{watch}'.",
                             "Known watches: none yet. See 'trials watch list'.")
        if watch:
            with WatchBook(home.store_path) as book:
                book.require(watch)
                members = set(book.members(watch))
        bound = max(x for x in (since, updated) if x)
        rows = changes_since(store, bound, trial_ids=members)
        if updated:
            day = updated[:10]
            rows = [r for r in rows if (r.get("last_updated") or "")[:len(day)] >= day
                    and r.get("last_updated")]
        return rows
