"""The library functions the CLI calls: one call per command, errors as ``TrialsError``.

Everything here works on a data home (``DataHome``): the store is the system of record, the
index a projection kept in step with it by ``sync_index`` after every write.
"""

from __future__ import annotations

import contextlib
import importlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from trialscope.app.summary import ImportSummary, TrialInfo
from trialscope.core.errors import TrialsError
from trialscope.core.record import TrialRecord
from trialscope.parser.registries import check_trial_id, crawlable, watchable
from trialscope.store.access import (
    check_home,
    home_write_error,
    open_store,
    read_store,
    writing,
)
from trialscope.store.db import Store
from trialscope.store.home import DataHome, resolve_home

# What the front ends (cli/, web/) take from here rather than from the rooms below.
__all__ = ["DataHome", "TrialsError", "check_home", "check_trial_id", "crawlable",
           "home_write_error", "open_store", "read_store", "resolve_home", "watchable",
           "writing"]


class _Lazy:
    """A module imported on first use.  `trials show` needs neither Whoosh nor the parsers
    (bs4, lxml, the criteria engine): importing them up front cost a cold `show` ~0.5 s."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self._name, __package__)
        self.__dict__.update(vars(module))  # later lookups are plain attribute hits
        return getattr(module, attr)


if TYPE_CHECKING:  # the checker sees the modules themselves
    from trialscope.index import indexer
    from trialscope.index import related as related_mod
    from trialscope.index import search as search_mod
    from trialscope.parser import files as _files
    from trialscope.parser.files import Failure
else:
    indexer = _Lazy("trialscope.index.indexer")
    related_mod = _Lazy("trialscope.index.related")
    search_mod = _Lazy("trialscope.index.search")
    _files = _Lazy("trialscope.parser.files")


def _no_data(home: DataHome) -> TrialsError:
    """Nothing to search: no trials stored yet, or trials stored but no usable index."""
    stored = 0
    if home.store_path.is_file():
        try:
            with read_store(home) as store:
                stored = store.counts()["trials"]
        except TrialsError:
            stored = 0
    if stored:
        return TrialsError(
            "no_index",
            f"The search index in {home.root} is missing or unusable, though the store holds "
            f"{stored} trial(s).",
            "Run 'trials reindex' (or 'trials check --repair') to rebuild it from the store.")
    return TrialsError(
        "no_index",
        f"No trials stored in {home.root} yet.",
        "Run 'trials crawl --offline' for the bundled demo, or 'trials crawl --id NCT06958939'.",
    )




# A folder with more payload files than this goes through the bulk importer (all cores).
BULK_MIN_FILES = 500


def _wants_bulk(paths: list[Path]) -> bool:
    from trialscope.app.bulk import is_bulk_source

    if any(is_bulk_source(p) for p in paths):
        return True
    count = 0
    for _ in _files.iter_payload_files([p for p in paths if p.is_dir()]):
        count += 1
        if count > BULK_MIN_FILES:
            return True
    return False


def import_paths(
    home: DataHome, paths: list[Path], *,
    on_file: Callable[[Path, int, int], None] | None = None,
    trial_id: str | None = None,
    on_progress: Callable[[Any], None] | None = None,
) -> ImportSummary:
    """Parse saved payload files into the store (every version kept), then update the index.

    A file or record that cannot be parsed is kept in the store's failures with its raw text,
    counted, and the import goes on.  Zips (the registry's ``ctg-studies.json.zip``) and large
    folders go through ``index.bulk`` (parsed on all cores, resumable); ``on_progress`` then
    receives its ``BulkProgress`` reports, and ``on_file`` is not called.
    """
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise TrialsError("bad_input", f"No such file or folder: {', '.join(missing)}.",
                          "Check the path.")
    _require_payloads(paths)
    ignored = _files.ignored_files(paths)
    try:
        with writing(home, "import"), _stopped_by_sigterm():
            summary = _import_paths(home, paths, on_file=on_file, trial_id=trial_id,
                                    on_progress=on_progress)
            summary.ignored = [str(p) for p in ignored]
            return summary
    except Stopped as exc:
        # The parse workers are gone and the lock is released (the blocks above unwound);
        # what was committed is kept and a rerun resumes.
        raise TrialsError("interrupted", f"The import was stopped by {exc.name}; what it "
                          "stored so far is kept.",
                          "Run the same import again: it resumes where it stopped.") from None


def _require_payloads(paths: list[Path]) -> None:
    """A folder (or folders) holding nothing trialscope reads is an error that says what it
    reads, not a silent "0 files"."""
    from trialscope.app.bulk import is_bulk_source

    if any(not p.is_dir() or is_bulk_source(p) for p in paths):
        return
    if next(_files.iter_payload_files(paths), None) is None:
        where = ", ".join(str(p) for p in paths)
        ignored = _files.ignored_files(paths)
        found = (f" (it holds {len(ignored)} other file(s), e.g. {ignored[0].name})"
                 if ignored else "")
        raise TrialsError("bad_input", f"No registry files in {where}{found}.",
                          "trialscope reads files ending in " + ", ".join(
                              sorted(_files.PAYLOAD_SUFFIXES)) + " and zips of JSON studies.")


class Stopped(BaseException):
    """SIGTERM asked a writing command to stop (a BaseException, like KeyboardInterrupt, so
    no per-record ``except Exception`` takes it for one record's failure)."""

    def __init__(self, signum: int) -> None:
        import signal

        self.name = signal.Signals(signum).name
        super().__init__(self.name)


@contextlib.contextmanager
def _stopped_by_sigterm() -> Iterator[None]:
    """SIGTERM (systemd stopping a unit, ``kill``) raises ``Stopped`` in the main thread, so
    the import unwinds: its workers are ended, its batch rolled back, the lock released."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    def stop(signum: int, _frame: Any) -> None:
        raise Stopped(signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _import_paths(
    home: DataHome, paths: list[Path], *,
    on_file: Callable[[Path, int, int], None] | None,
    trial_id: str | None,
    on_progress: Callable[[Any], None] | None,
) -> ImportSummary:
    if _wants_bulk(paths):
        from trialscope.app.bulk import bulk_import

        with open_store(home) as store:
            return bulk_import(store, home.index_dir, paths, trial_id=trial_id,
                               on_progress=on_progress)
    summary = ImportSummary()
    with open_store(home) as store:
        with store.batch():
            files = list(_files.iter_payload_files(paths))
            for path in files:
                summary.files += 1
                if on_file:
                    on_file(path, summary.files, len(files))
                for item in _file_items(path, trial_id):
                    if isinstance(item, _files.Failure):
                        _fail(store, summary, item, str(path))
                        continue
                    try:
                        with store.savepoint():  # one record that cannot be stored fails alone
                            result = store.put_record(item.record, item.raw,
                                                      content_hash=item.content_hash,
                                                      source_url=path.resolve().as_uri(),
                                                      secondary=item.secondary)
                    except (sqlite3.Error, UnicodeError, ValueError, OverflowError,
                            RecursionError) as exc:
                        where = f"{path} [{item.record.trial_id}]"
                        _fail(store, summary, _files.Failure(
                            where, _files.failure_reason(exc),
                            f"{where}: could not be stored ({_files.describe(exc)})",
                            item.raw, item.record.registry), str(path))
                        continue
                    setattr(summary, result.outcome, getattr(summary, result.outcome) + 1)
        summary.indexed = _after_write(store, home)
    return summary


def _file_items(path: Path, trial_id: str | None) -> Iterator[Any]:
    """The records and failures of one payload file (``parse_payload`` never raises for what
    a payload holds; a file too large or unreadable is one failure)."""
    from trialscope.core.limits import TooLarge

    try:
        text = _files.read_text(path)
    except TooLarge as exc:
        yield _files.Failure(str(path), "too_large", f"{path}: {exc}",
                             _files.raw_prefix(exc.head))
        return
    except (OSError, UnicodeDecodeError) as exc:
        yield _files.Failure(str(path), "unreadable", _files.describe_unreadable(path, exc),
                             None)
        return
    yield from _files.parse_payload(text, source=str(path), trial_id=trial_id)


def _fail(store: Store, summary: ImportSummary, item: Failure, url: str) -> None:
    summary.failures.append({"source": item.source, "reason": item.reason,
                             "message": item.message})
    store.put_failure(registry=item.registry, reason=item.reason, raw=item.raw, url=url,
                      detail=item.message)


def parse_paths(paths: list[Path], *,
                trial_id: str | None = None) -> Iterator[TrialRecord | Failure]:
    """Parse files and yield records or failures; touches no store.  ``trial_id`` names the
    trial of a page that carries no id of its own."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise TrialsError("bad_input", f"No such file or folder: {', '.join(missing)}.",
                          "Check the path.")
    for path in _files.iter_payload_files(paths):
        for item in _file_items(path, trial_id):
            yield item if isinstance(item, _files.Failure) else item.record


def _after_write(store: Store, home: DataHome) -> int:
    """What every write (import, crawl, refresh) ends with: the index and the cross-registry
    links brought up to date with the store.  Both are incremental and resumable."""
    from trialscope.store import links

    written = indexer.sync_index(store, home.index_dir)
    links.refresh_links(store)
    return written


def sync(home: DataHome) -> int:
    """Bring the index (and links) up to date with the store; returns docs written."""
    with open_store(home) as store:
        return _after_write(store, home)


def reindex(home: DataHome) -> int:
    """Rebuild the index from the store, under the writer lock (a reindex beside an import or
    a refresh would swap an index out from under it).  Folders left by a killed rebuild are
    cleaned up first (``indexer.clean_leftovers``)."""
    from trialscope.store import links

    check_home(home)
    if not home.store_path.exists():
        raise _no_data(home)
    with writing(home, "reindex"):
        indexer.clean_leftovers(home.index_dir)
        with open_store(home) as store:
            if not store.counts()["trials"]:
                raise _no_data(home)
            written = indexer.rebuild_index(store, home.index_dir)
            links.refresh_links(store, full=True)
            return written


# -- reads ----------------------------------------------------------------------------------
def show(home: DataHome, trial_id: str) -> tuple[TrialRecord, TrialInfo]:
    tid = check_trial_id(trial_id)
    check_home(home)
    if not home.store_path.exists():
        raise _no_data(home)
    from trialscope.store import (
        links,  # cross-registry links: the other registrations of this trial
    )

    with read_store(home) as store:
        record = store.get(tid)
        found_as = None
        if record is None:  # an id this trial carries in another registry ("2015-000590-12")
            other = links.find_by_id(store, tid)
            record = store.get(other) if other else None
            found_as, tid = (tid, other) if record is not None and other else (None, tid)
        if record is None:
            raise TrialsError(
                "not_found",
                f"{tid} is not in the local store ({home.root}).",
                f"Fetch it with 'trials crawl --id {tid}' or 'trials show {tid} --fetch'.",
            )
        # (the store's row, as TrialInfo declares it: tests/test_types.py)
        info = cast(TrialInfo, store.info(tid) or {})
        info["version_list"] = store.versions(tid)
        info["links"] = links.group_of(store, record.trial_id)
        if found_as:
            info["found_as"] = found_as
        return record, info


_PATIENT_KEYS = ("patient_age", "where", "washout")


def _patient_filter(store: Store, options: dict[str, Any]) -> Callable[[str], bool] | None:
    """A predicate on trial ids for the patient-fit filters (extract/fit.py), or None.

    ``patient_age``, ``where`` ("MG-ADL=7") and ``washout`` ("rituximab:4m") describe one
    patient; ``sex`` joins them when any is given.  A trial is kept when its extracted limits
    admit the patient; missing limits admit.
    """
    age = options.pop("patient_age", None)
    where = tuple(options.pop("where", ()) or ())
    washout = tuple(options.pop("washout", ()) or ())
    if age is None and not where and not washout:
        return None
    from trialscope.extract import (
        fit,  # the eligibility engine; imported only when a patient is described
    )

    try:
        patient = fit.parse_patient(age=age, sex=options.get("sex"), where=where,
                                    washout=washout)
    except ValueError as exc:
        raise TrialsError("bad_argument", f"{exc}.".replace("..", "."),
                          "See 'trials search --help' for the patient options.") from exc

    def admits(trial_id: str) -> bool:
        record = store.get(trial_id)
        return record is not None and fit.assess(record, patient).admits

    return admits


def kept_searcher(home: DataHome) -> search_mod.KeptSearcher:
    """A searcher of ``home``'s index kept open across ``search`` calls (``kept=``): for a
    long-running process such as ``trials serve``; it follows the index when it changes."""
    return search_mod.KeptSearcher(home.index_dir)


def search(home: DataHome, query: str, **options: Any) -> search_mod.SearchResults:
    """Ranked search (``search_mod.search``'s options and ``Filters``) plus the patient-fit
    filters: ``patient_age``, ``where``, ``washout`` (with ``sex``)."""
    from trialscope.store.links import GroupCollapser

    check_home(home)
    if not home.index_dir.exists():
        raise _no_data(home)
    store = read_store(home) if home.store_path.exists() else None
    try:
        fit = _patient_filter(store, options) if store is not None else None
        for key in _PATIENT_KEYS:
            options.pop(key, None)
        # One trial registered in several registries is listed once (its best-ranked
        # registration), with the others as "also registered as".  The fit check comes first
        # so the registration shown is one that admits the patient.
        group = GroupCollapser(store, refresh=False) if store is not None else None
        groups = {tid: gid for tid, (gid, _registry) in store.linked_groups().items()} \
            if store is not None else None
        results = search_mod.search(home.index_dir, query, keep=fit, groups=groups, **options)
        if group is not None:
            for hit in results.hits:
                hit.also = group.also(hit.trial_id)
        return results
    except search_mod.QueryError as exc:
        raise TrialsError("bad_query", exc.message,
                          exc.hint or "See 'trials search --help' for the query syntax.") from exc
    except indexer.NoIndexError as exc:
        raise _no_data(home) from exc
    finally:
        if store is not None:
            store.close()


def records(home: DataHome, query: str = "", **filters: Any) -> Iterator[TrialRecord]:
    """Stored records, all or those a search (query, filters, patient) returns, best first.

    Not a generator itself: the query, the filters and the data home are checked (and the
    search run) when this is called, so a caller can validate before it creates any output;
    the records are then read one by one."""
    check_home(home)
    if not home.store_path.exists():
        raise _no_data(home)
    if not query and not any(v not in (None, (), []) for v in filters.values()):
        read_store(home).close()  # a store that cannot be opened fails here, not midway
        return _all_records(home)
    results = search(home, query, limit=None, **filters)
    return _hit_records(home, [hit.trial_id for hit in results.hits])


def _all_records(home: DataHome) -> Iterator[TrialRecord]:
    with read_store(home) as store:
        yield from store.iter_records()


def _hit_records(home: DataHome, ids: list[str]) -> Iterator[TrialRecord]:
    with read_store(home) as store:
        for trial_id in ids:
            record = store.get(trial_id)
            if record is not None:
                yield record


def related(home: DataHome, trial_id: str, *, limit: int = 10) -> related_mod.RelatedResults:
    """Trials most like ``trial_id`` (index/related.py), itself excluded."""
    record, _ = show(home, trial_id)
    if not home.index_dir.exists():
        raise _no_data(home)
    try:
        return related_mod.related(home.index_dir, record, limit=limit)
    except indexer.NoIndexError as exc:
        raise _no_data(home) from exc


def status(home: DataHome) -> dict[str, Any]:
    out: dict[str, Any] = {"home": str(home.root), "store": str(home.store_path),
                           "index": str(home.index_dir)}
    check_home(home)
    if home.store_path.exists():
        with read_store(home) as store:
            out.update(store.counts())
    try:
        out["indexed"] = indexer.doc_count(home.index_dir) if home.index_dir.exists() else 0
    except indexer.NoIndexError:
        out["indexed"] = 0  # absent or built by another version: 'trials reindex' rebuilds it
    out.update(disk_sizes(home, out.get("trials", 0)))
    return out


def disk_sizes(home: DataHome, trials: int) -> dict[str, Any]:
    """Bytes on disk of the store (its file, WAL and shared-memory file) and of the index
    folder, and per trial where there are trials."""
    store = sum(p.stat().st_size for p in home.store_path.parent.glob(home.store_path.name + "*")
                if p.is_file())
    index = sum(p.stat().st_size for p in home.index_dir.rglob("*") if p.is_file()) \
        if home.index_dir.exists() else 0
    out: dict[str, Any] = {"store_bytes": store, "index_bytes": index}
    if trials:
        out["store_bytes_per_trial"] = round(store / trials)
        out["index_bytes_per_trial"] = round(index / trials)
    return out


def records_by_id(home: DataHome, trial_ids: list[str]) -> dict[str, TrialRecord]:
    """The stored records of ``trial_ids`` (those the store has), for listings that show
    more of each result than the index stores (search --csv: sponsor, start date, url)."""
    if not trial_ids or not home.store_path.exists():
        return {}
    out: dict[str, TrialRecord] = {}
    with read_store(home) as store:
        for tid in trial_ids:
            record = store.get(tid)
            if record is not None:
                out[tid] = record
    return out
