"""One refresh at a time per data home: ``refresh.lock``, held with ``fcntl.flock``.

The kernel holds the lock for the process and drops it when the process dies, however it dies
(``kill -9`` included), so a crash never leaves a lock that blocks the next run.  The file also
says who holds it (pid, host, start time, command) for the "already running" message; the file
is never deleted (deleting a flock'ed file lets two processes lock two different inodes), it is
emptied on release.

A forked child shares the parent's open file description, and with it the flock: a child
left alive by a killed parent (a parse worker, an index writer) would hold the lock for ever.
So no child keeps it: every fork closes the held lock's descriptor in the child
(``os.register_at_fork``; the descriptor is also close-on-exec, so no exec'd program gets it).
The child only closes its copy (never ``LOCK_UN``, which would unlock the parent's too).  A
lock that is busy while the pid written in it is dead is held by such a leftover (from an
older version, or a program that forked without this module): ``LockHeld`` then names the
processes holding it (``/proc/locks``) so they can be ended.

Where ``flock`` is not available (some network filesystems answer ENOLCK), the holder
information is all there is: a lock is then taken over only if its pid is dead on this host or
it is older than ``max_age``.  A lock held by a live local process is never taken over, however
old: two refreshes writing one store is worse than one late refresh (the message says which
pid to look at instead).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import weakref
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from trialscope.core.errors import TrialsError

try:
    import fcntl
except ImportError:  # Windows: no flock; the holder information alone decides (see above)
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

LOCK_NAME = "refresh.lock"
DEFAULT_MAX_AGE = 6 * 3600.0  # seconds; only used where flock is unavailable (see above)


@dataclass(frozen=True)
class LockInfo:
    pid: int
    host: str
    started_at: str  # ISO 8601, UTC
    command: str = "refresh"

    @classmethod
    def mine(cls, command: str) -> LockInfo:
        now = datetime.now(timezone.utc).replace(microsecond=0)
        return cls(os.getpid(), socket.gethostname(), now.isoformat().replace("+00:00", "Z"),
                   command)

    @classmethod
    def parse(cls, text: str) -> LockInfo | None:
        try:
            data = json.loads(text)
            return cls(int(data["pid"]), str(data["host"]), str(data["started_at"]),
                       str(data.get("command") or "refresh"))
        except (ValueError, KeyError, TypeError):
            return None

    def age_seconds(self, now: datetime | None = None) -> float | None:
        try:
            started = datetime.fromisoformat(self.started_at.replace("Z", "+00:00"))
        except ValueError:
            return None
        if started.tzinfo is None:
            started = started.replace(tzinfo=timezone.utc)
        return ((now or datetime.now(timezone.utc)) - started).total_seconds()

    def is_local(self) -> bool:
        return self.host == socket.gethostname()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, started {self.started_at} ({self.command})"


class LockHeld(TrialsError, RuntimeError):
    """Another live process holds the lock.  ``holder`` says who, when it could be read;
    ``leftovers``: when the holder written in the file is dead, the pids still holding it.
    Code ``locked``."""

    def __init__(self, path: Path, holder: LockInfo | None, *, too_old: bool = False,
                 leftovers: list[int] | None = None) -> None:
        self.path = path
        self.holder = holder
        self.too_old = too_old
        self.leftovers = leftovers or []
        who = holder.describe() if holder else "another process"
        if self.leftovers:
            pids = " ".join(map(str, self.leftovers))
            who = (f"process(es) {pids} left over from {who}, which is no longer running "
                   f"(end them with 'kill {pids}')")
        message = f"{path} is held by {who}"
        super().__init__("locked", message, "End those processes, then run again."
                         if self.leftovers else "Wait for it to finish, then run again.",
                         text=message)

    def describe(self) -> str:
        return str(self).split(" is held by ", 1)[1]


def lock_holders(path: Path) -> list[int]:
    """Pids holding a flock on ``path`` (Linux ``/proc/locks``; [] elsewhere)."""
    try:
        st = os.stat(path)
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    want = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    pids = []
    for line in lines:
        parts = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5] == want:
            try:
                pids.append(int(parts[4]))
            except ValueError:
                continue
    return sorted(set(pids))


# Locks this process holds: a forked child closes their descriptors (see the docstring).
_HELD: weakref.WeakSet[RefreshLock] = weakref.WeakSet()


def _forget_in_child() -> None:
    for lock in list(_HELD):
        fd, lock._fd = lock._fd, None
        if fd is not None:
            try:
                os.close(fd)  # the child's copy only: the parent keeps its lock
            except OSError:
                pass
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if os.name == "nt":
        return True  # os.kill(pid, 0) would not probe there; the lock's age decides instead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


class RefreshLock:
    """``with RefreshLock(home.root / "refresh.lock"):`` ... or ``acquire()`` / ``release()``.

    ``acquire`` raises ``LockHeld`` at once (it never waits); after it, ``taken_over`` is the
    holder a dead or stale lock was taken from (None when the lock was free).
    """

    def __init__(self, path: str | os.PathLike[str], *, command: str = "refresh",
                 max_age: float | None = None) -> None:
        self.path = Path(path)
        self.command = command
        self.max_age = DEFAULT_MAX_AGE if max_age is None else max_age
        self.info: LockInfo | None = None
        self.taken_over: LockInfo | None = None
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> RefreshLock:
        if self._fd is not None:
            raise RuntimeError("this RefreshLock is held already")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            flocked = self._flock(fd)
            previous = LockInfo.parse(_read(fd))
            if previous is not None and previous.pid == os.getpid() and previous.is_local():
                previous = None  # our own leftover (a lock released without emptying)
            if previous is not None and not flocked:
                self._judge_without_flock(previous)
            if previous is not None:
                log.warning("taking over a stale refresh lock (%s): %s", self.path,
                            previous.describe())
            self.info = LockInfo.mine(self.command)
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, (json.dumps(self.info.to_dict()) + "\n").encode())
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        self.taken_over = previous
        self._fd = fd
        _HELD.add(self)
        return self

    def _flock(self, fd: int) -> bool:
        """True if the kernel now holds the lock for us, False where flock is unsupported."""
        if fcntl is None:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = LockInfo.parse(_read(fd))
            age = holder.age_seconds() if holder else None
            leftovers = None
            if holder is not None and holder.is_local() and not pid_alive(holder.pid):
                # The writer is dead but something still holds its lock: a child it forked
                # (the kernel keeps a flock while any inherited descriptor is open).
                leftovers = [p for p in lock_holders(self.path) if p != os.getpid()]
            raise LockHeld(self.path, holder, too_old=age is not None and age > self.max_age,
                           leftovers=leftovers) from None
        except OSError as exc:
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                log.warning("flock is not supported on %s (%s); relying on the pid and age in "
                            "the lock file", self.path, exc)
                return False
            raise
        return True

    def _judge_without_flock(self, holder: LockInfo) -> None:
        age = holder.age_seconds()
        too_old = age is None or age > self.max_age
        if holder.is_local():
            if pid_alive(holder.pid) and not too_old:
                raise LockHeld(self.path, holder)
        elif not too_old:
            raise LockHeld(self.path, holder)  # another host: only its age can tell

    def release(self) -> None:
        fd, self._fd = self._fd, None
        _HELD.discard(self)
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # empty = free; the file stays (see the module docstring)
        finally:
            os.close(fd)  # closing drops the flock

    def holder(self) -> LockInfo | None:
        """Who holds the lock now, if anyone (without taking it)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            if fcntl is None:
                return LockInfo.parse(_read(fd))
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return LockInfo.parse(_read(fd))
            except OSError:
                return LockInfo.parse(_read(fd))
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    def __enter__(self) -> RefreshLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 4096).decode("utf-8", "replace")
    except OSError:
        return ""
