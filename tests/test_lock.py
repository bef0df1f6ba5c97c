"""One refresh at a time: the lock refuses a second one (exit 75) and recovers a stale one."""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.mockserver import Fault, MockServer, run_trials, start_trials
from trialscope.store import lock as lock_mod
from trialscope.store.db import utcnow
from trialscope.store.lock import LockHeld, LockInfo, RefreshLock


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def write_lock(path: Path, *, pid: int, host: str | None = None,
               started_at: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(),
                                "started_at": started_at or utcnow(),
                                "command": "refresh"}))


# -- the lock itself -------------------------------------------------------------------------
def test_a_second_holder_is_refused_at_once_and_told_who_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "refresh.lock"
    with RefreshLock(path) as first:
        assert first.taken_over is None
        with pytest.raises(LockHeld) as refused:
            RefreshLock(path).acquire()  # another open file description: flock refuses
        assert refused.value.holder is not None
        assert refused.value.holder.pid == os.getpid()
        assert RefreshLock(path).holder() == first.info
    assert path.read_text() == ""  # released: emptied, never deleted
    assert RefreshLock(path).holder() is None
    with RefreshLock(path) as again:
        assert again.taken_over is None  # a clean release leaves nothing stale


def test_a_lock_left_by_a_dead_process_is_taken_over_and_logged(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "refresh.lock"
    pid = dead_pid()
    write_lock(path, pid=pid)
    with RefreshLock(path) as lock:
        assert lock.taken_over is not None and lock.taken_over.pid == pid
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert "taking over a stale refresh lock" in caplog.text


@pytest.fixture
def no_flock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A filesystem without flock (some network mounts answer ENOLCK)."""
    def flock(fd: int, op: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")
    monkeypatch.setattr(lock_mod.fcntl, "flock", flock)


def test_without_flock_a_live_recent_holder_still_refuses(no_flock, tmp_path: Path) -> None:
    path = tmp_path / "refresh.lock"
    write_lock(path, pid=os.getppid())  # alive, on this host, just started
    with pytest.raises(LockHeld):
        RefreshLock(path).acquire()


def test_without_flock_a_dead_or_too_old_holder_is_taken_over(no_flock, tmp_path: Path) -> None:
    path = tmp_path / "refresh.lock"
    write_lock(path, pid=dead_pid())
    with RefreshLock(path) as lock:
        assert lock.taken_over is not None
    write_lock(path, pid=os.getppid(), started_at="2020-01-01T00:00:00Z")  # alive but old
    with RefreshLock(path, max_age=3600) as lock:
        assert lock.taken_over is not None
    write_lock(path, pid=1, host="another-host", started_at="2020-01-01T00:00:00Z")
    with RefreshLock(path, max_age=3600) as lock:
        assert lock.taken_over is not None and lock.taken_over.host == "another-host"
    write_lock(path, pid=1, host="another-host")  # recent, and its pid cannot be checked
    with pytest.raises(LockHeld):
        RefreshLock(path).acquire()


def test_lock_info_reads_what_it_writes() -> None:
    info = LockInfo.mine("refresh")
    assert LockInfo.parse(json.dumps(info.to_dict())) == info
    assert LockInfo.parse("not json") is None and LockInfo.parse("") is None
    assert 0 <= (info.age_seconds() or 0) < 60


# -- through the CLI -------------------------------------------------------------------------
@pytest.fixture
def mock(tmp_path: Path):
    studies = tmp_path / "studies"
    shutil.copytree(str(Path(__file__).resolve().parents[1] / "fixtures" / "ctgov" / "studies"),
                    studies)
    with MockServer(studies) as server:
        yield server


def test_a_second_concurrent_refresh_is_refused_with_exit_75(tmp_path: Path,
                                                             mock: MockServer) -> None:
    home = tmp_path / "home"
    assert run_trials(home, "watch", "add", "mg", "--condition", "myasthenia gravis",
                      api=mock.url).returncode == 0
    mock.add_fault(Fault("hold"))
    first = start_trials(home, "refresh", "--json", api=mock.url)
    try:
        assert mock.held.wait(60), "the first refresh never reached the registry"
        second = run_trials(home, "refresh", api=mock.url)
        assert second.returncode == 75
        assert second.stderr.startswith(f"Error: Another refresh is running (pid {first.pid} ")
        as_json = run_trials(home, "refresh", "--json", api=mock.url)
        assert as_json.returncode == 75
        assert json.loads(as_json.stdout)["error"]["code"] == "locked"
        repair = run_trials(home, "check", "--repair", api=mock.url)
        assert repair.returncode == 75  # a repair must not write the index under a refresh
        plain = run_trials(home, "check", "--json", api=mock.url)
        assert json.loads(plain.stdout)["refresh_running"]["pid"] == first.pid
    finally:
        mock.release.set()
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err[-2000:]
    assert json.loads(out)["status"] == "ok"
    # Only the first one crawled: one search request in all.
    assert [path for path, _ in mock.log] == ["/studies"]


def test_a_stale_lock_is_recovered_by_the_next_refresh(tmp_path: Path,
                                                       mock: MockServer) -> None:
    home = tmp_path / "home"
    assert run_trials(home, "watch", "add", "one", "--id", "NCT06958939",
                      api=mock.url).returncode == 0
    pid = dead_pid()
    write_lock(home / "refresh.lock", pid=pid, started_at="2025-01-01T00:00:00Z")
    proc = run_trials(home, "refresh", api=mock.url)
    assert proc.returncode == 0, proc.stderr
    assert f"took over the lock of a refresh that is no longer running (pid {pid}" \
        in proc.stderr
    assert f"took over the lock of a refresh that is no longer running (pid {pid}" \
        in (home / "logs" / "refresh.log").read_text()  # logged, for the scheduler's log
    proc = run_trials(home, "refresh", "--json", api=mock.url)
    assert proc.returncode == 0 and json.loads(proc.stdout)["stale_lock"] is None
