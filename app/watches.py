"""Watches as the front ends see them: list, remove (adding and refreshing are in
``app.refresh``, which needs the crawler)."""

from __future__ import annotations

from trialscope.store.home import DataHome
from trialscope.store.watches import Watch, WatchBook, WatchError, has_watch_tables

__all__ = ["Watch", "WatchError", "list_watches", "remove_watch"]


def list_watches(home: DataHome) -> list[Watch]:
    if not home.store_path.exists() or not has_watch_tables(home.store_path):
        return []
    with WatchBook(home.store_path) as book:
        return book.list()


def remove_watch(home: DataHome, name: str) -> Watch:
    if not home.store_path.exists():
        raise WatchError("unknown_watch", f"No watch named '{name}'.",
                         "See 'trials watch list'.")
    with WatchBook(home.store_path) as book:
        return book.remove(name)
