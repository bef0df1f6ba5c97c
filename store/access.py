"""Opening a data home's store: for reading (read-only media still read), for writing (under
the writer lock), and the errors a user gets when the folder cannot serve."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator

from trialscope.core.errors import TrialsError
from trialscope.store.db import Store, StoreError, StoreReadOnly
from trialscope.store.home import DataHome


def check_home(home: DataHome) -> None:
    """Refuse a data home that cannot be a folder: the path, or one of its parents, is a
    file.  A missing folder is fine (writers create it, readers find nothing stored)."""
    for path in (home.root, *home.root.parents):
        if path.exists() or path.is_symlink():
            if not path.is_dir():
                raise TrialsError(
                    "bad_home", f"{home.root} cannot be a data folder: {path} is a file.",
                    "Point --home (or TRIALS_HOME) at a folder, or at a path where one can "
                    "be created.")
            return


_READ_ONLY_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS)


def home_write_error(home: DataHome, exc: BaseException) -> TrialsError:
    """The error for a write in the data home that the file system refused."""
    if isinstance(exc, StoreReadOnly) or (isinstance(exc, OSError)
                                          and exc.errno in _READ_ONLY_ERRNOS):
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return TrialsError(
            "read_only", f"The data home {home.root} is read-only ({why}).",
            "Reading still works (show, search, export, info, check); to write, point --home "
            "at a writable folder or get write access to this one.")
    if isinstance(exc, OSError) and exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return TrialsError("bad_home", f"{home.root} cannot be a data folder "
                           f"({exc.strerror}: {exc.filename}).",
                           "Point --home (or TRIALS_HOME) at a folder.")
    if isinstance(exc, OSError):
        return TrialsError("store_error", f"Cannot write in {home.root} ({exc.strerror}: "
                           f"{exc.filename}).", "Check the folder and the free disk space, "
                           "then run the command again: nothing stored is lost.")
    return TrialsError("store_error", f"Cannot write in {home.root} ({exc}).",
                       "Check the folder, then run the command again.")


@contextlib.contextmanager
def writing(home: DataHome, command: str) -> Iterator[None]:
    """Hold the data home's writer lock (the one scheduled refreshes take) while ``command``
    writes the store and the index: one writer per data home.  A home that cannot be written
    (read-only media, no permission, a file in the way) is a ``TrialsError`` here, before
    anything is written."""
    from trialscope.store.lock import LOCK_NAME, LockHeld, RefreshLock

    check_home(home)
    lock = RefreshLock(home.root / LOCK_NAME, command=command)
    try:
        home.root.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except LockHeld as exc:
        raise TrialsError("locked", f"Another trialscope command is already writing "
                          f"{home.root} ({exc.describe()}).",
                          "End those processes, then run again." if exc.leftovers else
                          "Wait for it to finish, then run again.") from exc
    except OSError as exc:
        raise home_write_error(home, exc) from exc
    try:
        yield
    finally:
        lock.release()


def open_store(home: DataHome) -> Store:
    """The store, for writing (created when absent)."""
    check_home(home)
    try:
        return Store(home.store_path)
    except StoreReadOnly as exc:
        raise home_write_error(home, exc) from exc
    except OSError as exc:
        raise home_write_error(home, exc) from exc
    except StoreError as exc:
        raise TrialsError("store_error", str(exc) + ".",
                          "Point --home at another folder or move the file away.") from exc


def read_store(home: DataHome) -> Store:
    """The store, for reading.  A store that cannot be written (read-only media, a shared
    folder without write permission) is opened read-only instead of being refused."""
    check_home(home)
    if home.read_only and home.store_path.exists():
        try:
            return Store(home.store_path, readonly=True)
        except StoreError as exc:  # the web page's path: a message, not a 500 and a traceback
            raise TrialsError("store_error", str(exc) + ".",
                              "Point --home at another folder or move the file away.") from exc
    try:
        return Store(home.store_path)
    except (StoreReadOnly, PermissionError) as exc:
        first: BaseException = exc
    except OSError as exc:
        if exc.errno not in _READ_ONLY_ERRNOS:
            raise home_write_error(home, exc) from exc
        first = exc
    except StoreError as exc:
        raise TrialsError("store_error", str(exc) + ".",
                          "Point --home at another folder or move the file away.") from exc
    try:
        return Store(home.store_path, readonly=True)
    except StoreError as exc:
        raise TrialsError("store_error", f"{exc} (and it cannot be written: {first}).",
                          "Check the file's permissions, or copy it to a writable folder "
                          "and point --home there.") from exc
