"""Every `trials ...` line the README shows runs as written (issue 14).

Each code block of the README runs in order in a fresh data home that holds the offline demo
(`trials crawl --offline`), from a working folder where the repository's `fixtures/` is at
hand (the README's paths are relative to a checkout).  Lines that talk to the registry go to
the mock API on 127.0.0.1 through ``TRIALS_CTGOV_API``: the mock stands in for the registry,
nothing else does.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO
from .mockserver import MockServer, cli_env

README = REPO / "README.md"


def readme_blocks() -> list[list[str]]:
    """The `trials` lines of each code block (fenced, or indented by four spaces)."""
    blocks: list[list[str]] = []
    fenced = in_indented = False
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
            if fenced:
                blocks.append([])
        elif fenced:
            if line.startswith("trials "):
                blocks[-1].append(line)
        elif line.startswith("    trials "):
            if not in_indented:
                blocks.append([])
            blocks[-1].append(line.strip())
        in_indented = not fenced and line.startswith("    ")
    return [b for b in blocks if b]


BLOCKS = readme_blocks()


def test_the_readme_shows_commands() -> None:
    assert sum(len(b) for b in BLOCKS) >= 30


@pytest.fixture(scope="module")
def mock() -> MockServer:
    with MockServer() as server:
        yield server


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_block_runs_as_written(block: list[str], tmp_path: Path, mock: MockServer
                                      ) -> None:
    home = tmp_path / "home"
    work = tmp_path / "work"
    work.mkdir()
    (work / "fixtures").symlink_to(REPO / "fixtures")
    env = cli_env(mock.url)
    env["TRIALS_HOME"] = str(home)
    env["COLUMNS"] = "100"

    def trials(argv: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "trialscope.cli", *argv], cwd=work,
                              env=env, capture_output=True, text=True, timeout=300,
                              check=False)

    setup = trials(["crawl", "--offline", "--no-progress"])
    assert setup.returncode == 0, setup.stderr
    for line in block:
        argv = shlex.split(line, comments=True)
        assert argv[0] == "trials"
        res = trials(argv[1:])
        assert res.returncode == 0, f"README line failed: {line}\n{res.stdout}\n{res.stderr}"
        assert "Traceback" not in res.stderr, line


def test_readme_and_fixture_notes_agree_on_where_the_demo_data_came_from() -> None:
    readme = " ".join(README.read_text(encoding="utf-8").split())
    notes = " ".join((REPO / "fixtures" / "ctgov" / "README.md").read_text(encoding="utf-8")
                     .split())
    assert "written by hand in the API's shape" in notes
    assert "written by hand in the API v2's shape" in readme
    for text in (readme, notes):
        assert "captured API responses" not in text
    # every demo trial has its row of sources in the fixture notes
    for study in sorted((REPO / "fixtures" / "ctgov" / "studies").glob("*.json")):
        assert f"| {study.stem} |" in notes, study.stem
