"""Issue 13, the import part: "nothing lost, nothing silent".

- a bulk import killed (``kill -9``, SIGTERM) leaves no worker alive holding the writer lock;
- one hostile record (deep nesting, ``1e999``, a lone surrogate, a number for an id) costs
  that record alone, in every import path;
- a zip bomb or a huge study fails as ``too_large`` with bounded memory.

Kill tests start a real ``trials import`` and clean up every process they start (by pid).
No timing assertions: waits are bounded polls.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from trialscope.app import bulk, service
from trialscope.store.db import Store
from trialscope.store.home import DataHome

from .conftest import CTGOV_FIXTURES

STUDIES = sorted(CTGOV_FIXTURES.glob("*.json"))
BASE = json.loads((CTGOV_FIXTURES / "NCT06958939.json").read_text(encoding="utf-8"))


def study(n: int, **desc: Any) -> dict[str, Any]:
    """A copy of a bundled study under the id NCT9xxxxxxx (n), with description fields set."""
    s = json.loads(json.dumps(BASE))
    s["protocolSection"]["identificationModule"]["nctId"] = f"NCT9{n:07d}"
    s["protocolSection"].setdefault("descriptionModule", {}).update(desc)
    return s


def study_text(n: int, **desc: Any) -> str:
    return json.dumps(study(n, **desc))


# The hostile shapes of issue 13 (each one a whole study file's text) and the reason each
# must be counted with.
def hostile_texts() -> dict[str, tuple[str, str]]:
    nested = study_text(9001, detailedDescription="@@").replace(
        '"@@"', '{"a": ' * 5000 + "1" + "}" * 5000)
    shallow_nest = study_text(9002, detailedDescription="@@").replace(
        '"@@"', '{"a": ' * 990 + "1" + "}" * 990)
    inf = study(9003)
    inf["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = "@@"
    inf_text = json.dumps(inf).replace('"@@"', "1e999")
    surrogate = study_text(9004, briefSummary="@@").replace('"@@"', '"bad \\ud800 text"')
    int_id = study(9005)
    int_id["protocolSection"]["identificationModule"]["nctId"] = 95000005
    huge_count = study(9006)
    huge_count["protocolSection"]["designModule"]["enrollmentInfo"]["count"] = 2 ** 40
    return {
        "nested.json": (nested, "invalid_json"),
        "shallow_nest.json": (shallow_nest, "*"),  # parses, or fails on its own
        "inf.json": (inf_text, "bad_field"),
        "surrogate.json": (surrogate, "bad_text"),
        "int_id.json": (json.dumps(int_id), "missing_id"),
        "huge_count.json": (json.dumps(huge_count), "bad_field"),
    }


def _failures(home: DataHome) -> list[dict[str, Any]]:
    with Store(home.store_path) as store:
        return [dict(zip(("url", "reason", "raw"), row)) for row in store._conn.execute(
            "SELECT url, reason, raw FROM failures")]


def _stored_ids(home: DataHome) -> set[str]:
    with Store(home.store_path) as store:
        return set(store.trial_ids())


def _run_cli(home: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRIALS_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "trialscope.cli", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def _check_hostile_outcome(home: DataHome, summary: Any, good: set[str]) -> None:
    expected = hostile_texts()
    by_name = {Path(f["source"].split("!")[-1].split(" [")[0]).name: f
               for f in summary.failures}
    strict = {name: reason for name, (_, reason) in expected.items() if reason != "*"}
    for name, reason in strict.items():
        assert name in by_name, (name, summary.failures)
        assert by_name[name]["reason"] == reason, by_name[name]
    assert set(by_name) <= set(expected)
    stored = _stored_ids(home)
    assert good <= stored  # every good record stored
    kept = _failures(home)
    assert len(kept) == summary.failed
    assert all(f["raw"] for f in kept)  # the raw payload of each bad record kept
    # ... and searchable
    hits = service.search(home, "myasthenia gravis", limit=None).hits
    assert good <= {h.trial_id for h in hits}


# -- 5: one hostile record costs that record alone ----------------------------------------------

def test_hostile_records_in_a_bulk_zip_cost_only_themselves(tmp_path: Path) -> None:
    good = {f"NCT9{n:07d}" for n in range(40)}
    members = {f"s{n}.json": study_text(n) for n in range(40)}
    members.update({name: text for name, (text, _) in hostile_texts().items()})
    archive = tmp_path / "bulk.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in members.items():
            zf.writestr(name, text.encode("utf-8", "surrogatepass"))
    home = DataHome(tmp_path / "home")
    summary = service.import_paths(home, [archive])
    _check_hostile_outcome(home, summary, good)
    # A rerun does the same: the good are unchanged, the bad fail again, nothing is lost.
    again = service.import_paths(home, [archive])
    assert again.unchanged >= len(good) and again.failed == summary.failed
    result = _run_cli(home.root, "import", str(archive))
    assert result.returncode == 1, result.stderr  # partial
    assert "Traceback" not in result.stderr and "[bad_text]" in result.stderr


def test_hostile_files_in_a_folder_cost_only_themselves(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    good = {f"NCT9{n:07d}" for n in range(5)}
    for n in range(5):
        (folder / f"s{n}.json").write_text(study_text(n), encoding="utf-8")
    for name, (text, _) in hostile_texts().items():
        (folder / name).write_bytes(text.encode("utf-8", "surrogatepass"))
    home = DataHome(tmp_path / "home")
    summary = service.import_paths(home, [folder])  # below BULK_MIN_FILES: one file at a time
    _check_hostile_outcome(home, summary, good)
    result = _run_cli(home.root, "import", str(folder))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr


def test_hostile_studies_in_an_api_page_cost_only_themselves(tmp_path: Path) -> None:
    """A search page holding many studies: the bad ones fail one by one."""
    texts = [study_text(n) for n in range(5)]
    # (a 5000-deep study would make the whole page invalid JSON: the nested.json case is the
    # page's own failure, covered by the file tests)
    texts += [text for name, (text, _) in hostile_texts().items() if name != "nested.json"]
    page = tmp_path / "page.json"
    page.write_text('{"studies": [' + ",".join(texts) + "]}", encoding="utf-8")
    home = DataHome(tmp_path / "home")
    summary = service.import_paths(home, [page])
    good = {f"NCT9{n:07d}" for n in range(5)}
    assert good <= _stored_ids(home)
    reasons = sorted(f["reason"] for f in summary.failures)
    assert {"bad_field", "bad_text", "missing_id"} <= set(reasons), summary.failures
    assert all(f["raw"] for f in _failures(home))


def test_a_parse_worker_that_dies_costs_only_its_records(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker killed on one member (here: the OOM killer stand-in, SIGKILL to itself):
    the other members are stored, the member it died on is counted, the import completes."""
    members = {f"s{n:03d}.json": study_text(n) for n in range(100)}
    members["s050.json"] = study_text(50, briefSummary="KILL-THE-WORKER")
    archive = tmp_path / "bulk.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    real_run = bulk._Parser.run

    def run(self: Any, container: str, name: str, *args: Any) -> Any:
        if name == "s050.json":
            os.kill(os.getpid(), signal.SIGKILL)
        return real_run(self, container, name, *args)

    monkeypatch.setattr(bulk._Parser, "run", run)
    home = DataHome(tmp_path / "home")
    summary = service.import_paths(home, [archive])
    assert [f["reason"] for f in summary.failures] == ["worker_died"]
    assert "s050.json" in summary.failures[0]["source"]
    assert _stored_ids(home) == {f"NCT9{n:07d}" for n in range(100) if n != 50}
    hits = service.search(home, "myasthenia gravis", limit=None).hits
    assert len({h.trial_id for h in hits}) == 99


# -- 4: a killed bulk import leaves no worker and no lock behind --------------------------------

def _children(pid: int) -> set[int]:
    out = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.add(int(entry))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _big_zip(path: Path, n: int) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for k in range(n):
            zf.writestr(f"s{k}.json", study_text(k))
    return path


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_bulk_import_leaves_no_worker_and_no_lock(tmp_path: Path, sig: int) -> None:
    archive = _big_zip(tmp_path / "big.zip", 6000)
    home = tmp_path / "home"
    env = {**os.environ, "TRIALS_HOME": str(home)}
    # Output to files, not pipes: a leftover worker would hold a pipe open for ever.
    err_path = tmp_path / "stderr.txt"
    with open(tmp_path / "stdout.txt", "w") as out, open(err_path, "w") as err_file:
        proc = subprocess.Popen([sys.executable, "-m", "trialscope.cli", "import",
                                 str(archive)], env=env, stdout=out, stderr=err_file)
    workers: set[int] = set()
    try:
        # Wait (bounded) until the parse workers are running, then kill the import.
        for _ in range(600):
            workers |= _children(proc.pid)
            if len(workers) >= 1 and proc.poll() is None:
                time.sleep(0.3)  # let them get into the work
                workers |= _children(proc.pid)
                break
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        assert workers and proc.poll() is None, "the import ended before it could be killed"
        os.kill(proc.pid, sig)
        proc.wait(timeout=120)
        err = err_path.read_text()
        if sig == signal.SIGTERM:
            assert proc.returncode == 1, err
            assert err.startswith("Error: ") and "Traceback" not in err, err
        # Every worker ends with its parent (bounded wait, not a timing assertion).
        for _ in range(200):
            if not any(_alive(w) for w in workers):
                break
            time.sleep(0.05)
        assert not [w for w in workers if _alive(w)], "parse workers outlived the import"
        # A new import runs at once and succeeds (resuming what the killed one stored).
        small = tmp_path / "one.json"
        small.write_text(study_text(99_999), encoding="utf-8")
        result = subprocess.run([sys.executable, "-m", "trialscope.cli", "import", str(small)],
                                env=env, capture_output=True, text=True, timeout=240)
        assert result.returncode == 0, result.stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for w in workers:
            if _alive(w):
                try:
                    os.kill(w, signal.SIGKILL)
                except ProcessLookupError:
                    pass


# -- 8: memory: a zip bomb, a huge study ------------------------------------------------------

def _peak_rss_of(code: str, timeout: float = 600) -> tuple[int, str]:
    """Run ``code`` in a fresh interpreter; the peak RSS in bytes of it (VmHWM) and of its
    worker processes (its RUSAGE_CHILDREN: the largest waited-for child), whichever is
    larger, and its stdout.  Measured inside the fresh interpreter: this test process's own
    children (and its size at fork time) do not count."""
    wrapper = code + (
        "\nimport re, resource\n"
        "own = int(re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1))\n"
        "kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print('PEAK', max(own, kids))\n")
    result = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[-1].startswith("PEAK ")
    return int(lines[-1].split()[1]) * 1024, "\n".join(lines[:-1])


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
def test_zip_bomb_and_huge_study_fail_as_too_large_with_bounded_memory(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for n in range(20):
            zf.writestr(f"s{n}.json", study_text(n))
        # 1 GiB of spaces inside a study: ~1 MB compressed.  Written in pieces.
        with zf.open("bomb.json", "w", force_zip64=True) as out:
            head = study_text(777, detailedDescription="@@").split('"@@"')
            out.write(head[0].encode() + b'"')
            chunk = b" " * (1 << 24)
            for _ in range(64):
                out.write(chunk)
            out.write(b'"' + head[1].encode())
        # A study with a 200 MB description (real text shape: words, not one repeated byte).
        words = ("myasthenia gravis refractory patients CAR-T cells dose 1.0 x 10^6/kg "
                 "MG-ADL >= 6 at screening; ")
        with zf.open("huge.json", "w", force_zip64=True) as out:
            head = study_text(888, detailedDescription="@@").split('"@@"')
            out.write(head[0].encode() + b'"')
            piece = (words * ((1 << 20) // len(words) + 1)).encode()[: 1 << 20]
            for _ in range(200):
                out.write(piece)
            out.write(b'"' + head[1].encode())
    assert archive.stat().st_size < 5 * 2**20  # a small zip...
    home = tmp_path / "home"
    code = (
        "import json\n"
        "from pathlib import Path\n"
        "from trialscope.app import service\n"
        "from trialscope.store.home import DataHome\n"
        f"s = service.import_paths(DataHome(Path({str(home)!r})), [Path({str(archive)!r})])\n"
        "print(json.dumps(s.as_dict()))\n")
    hwm, out = _peak_rss_of(code)
    summary = json.loads(out)
    reasons = {f["source"].split("!")[-1]: f["reason"] for f in summary["failures"]}
    assert reasons == {"bomb.json": "too_large", "huge.json": "too_large"}
    assert summary["new"] == 20
    assert hwm < 2**30, hwm


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
def test_huge_study_file_fails_as_too_large_with_bounded_memory(tmp_path: Path) -> None:
    """The single-file path: a 200 MB study file next to good ones."""
    folder = tmp_path / "in"
    folder.mkdir()
    for n in range(3):
        (folder / f"s{n}.json").write_text(study_text(n), encoding="utf-8")
    head = study_text(888, detailedDescription="@@").split('"@@"')
    with open(folder / "huge.json", "wb") as out:
        out.write(head[0].encode() + b'"')
        piece = b"refractory myasthenia gravis " * (1 << 15)
        for _ in range((200 << 20) // len(piece)):
            out.write(piece)
        out.write(b'"' + head[1].encode())
    home = tmp_path / "home"
    code = (
        "import json\n"
        "from pathlib import Path\n"
        "from trialscope.app import service\n"
        "from trialscope.store.home import DataHome\n"
        f"s = service.import_paths(DataHome(Path({str(home)!r})), [Path({str(folder)!r})])\n"
        "print(json.dumps(s.as_dict()))\n")
    hwm, out = _peak_rss_of(code)
    summary = json.loads(out)
    assert [(Path(f["source"]).name, f["reason"]) for f in summary["failures"]] == [
        ("huge.json", "too_large")]
    assert summary["new"] == 3
    assert hwm < 2**30, hwm


def test_criteria_cost_is_bounded_per_megabyte(tmp_path: Path) -> None:
    """A study whose eligibility text is 3 MB (within the record limit; the registry caps it
    at 20,000 characters) imports (parse, store, index) in bounded memory: the extractors
    read no more than MAX_EXTRACT_CHARS of it.  Before, each MB cost ~65 MB more (items,
    thresholds and their index terms) and quadratic time."""
    text = ("Inclusion Criteria:\n\n" + "".join(
        f"* Age >= {18 + k % 50} years, MG-ADL score >= {k % 9} and QMG >= {k % 7} at "
        f"screening (visit {k}); eGFR > 30 mL/min\n" for k in range(34_000)))
    assert len(text) > 3 * 2**20
    big = study(5)
    big["protocolSection"]["eligibilityModule"]["eligibilityCriteria"] = text
    small = study(6)
    peaks = []
    for name, payload in (("small", small), ("big", big)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(payload), encoding="utf-8")
        code = ("import json\n"
                "from pathlib import Path\n"
                "from trialscope.app import service\n"
                "from trialscope.store.home import DataHome\n"
                f"s = service.import_paths(DataHome(Path({str(tmp_path / name)!r})), "
                f"[Path({str(path)!r})])\n"
                "print(s.new)\n")
        peak, out = _peak_rss_of(code)
        assert out.strip() == "1"
        peaks.append(peak)
    assert peaks[1] - peaks[0] < 100 * 2**20, peaks


# -- 4: the writer lock is not inherited, and a dead holder is noticed -----------------------

@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_hold_the_writer_lock(tmp_path: Path) -> None:
    from trialscope.store.lock import RefreshLock

    path = tmp_path / "refresh.lock"
    lock = RefreshLock(path, command="import").acquire()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a worker that outlives its parent's hold on the lock
        os.write(ready_w, b"1")  # (fork's hooks have run by the time the child runs code)
        time.sleep(30)
        os._exit(0)
    os.close(ready_w)
    try:
        assert os.read(ready_r, 1) == b"1"
        os.close(ready_r)
        lock.release()
        again = RefreshLock(path, command="import").acquire()  # not blocked by the child
        again.release()
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="needs /proc/locks (Linux)")
def test_a_lock_left_to_a_leftover_process_names_it(tmp_path: Path) -> None:
    from trialscope.store.lock import LockHeld, RefreshLock

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    path = tmp_path / "refresh.lock"
    path.write_text(json.dumps({"pid": gone.pid, "host": os.uname().nodename,
                                "started_at": "2026-01-01T00:00:00Z", "command": "import"}))
    # A process that inherited the dead writer's lock (as an old parse worker did).
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(path)!r}, os.O_RDWR)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockHeld) as info:
            RefreshLock(path, command="import").acquire()
        assert info.value.leftovers == [holder.pid]
        assert f"kill {holder.pid}" in str(info.value) and "no longer running" in str(info.value)
        home = DataHome(tmp_path)
        with pytest.raises(service.TrialsError) as err:
            service.import_paths(home, [STUDIES[0]])
        assert err.value.code == "locked" and str(holder.pid) in err.value.message
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def test_an_out_of_range_number_does_not_stop_indexing(tmp_path: Path) -> None:
    """Any registry's parser may read a sample size no registry could mean (a ChiCTR page
    saying 10^12): the index leaves it out rather than failing the import's indexing."""
    from trialscope.parser import ctgov

    home = DataHome(tmp_path / "home")
    record = ctgov.parse_study(study(1))
    record.enrollment = {"count": 10**12, "type": None}
    record.eligibility["min_age_years"] = float("inf")
    with Store(home.store_path) as store:
        store.put_record(record, json.dumps(study(1)))
    assert service.sync(home) == 1
    assert [h.trial_id for h in service.search(home, "myasthenia").hits] == ["NCT90000001"]


def test_parse_reports_a_file_too_large_without_a_traceback(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """``trials parse`` reads files through the same bounded reader (the limit is lowered
    here so the test writes 2 kB, not 32 MB: the property is the same)."""
    from click.testing import CliRunner

    from trialscope.cli.main import cli
    from trialscope.parser import files

    monkeypatch.setattr(files, "MAX_RECORD_BYTES", 2048)
    (tmp_path / "big.json").write_text(study_text(1, detailedDescription="x" * 4096))
    (tmp_path / "ok.json").write_text(json.dumps(json.loads(STUDIES[0].read_text())))
    result = CliRunner().invoke(cli, ["parse", "--json", str(tmp_path)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "[too_large]" in result.stderr and "Traceback" not in result.output
