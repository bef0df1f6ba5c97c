"""Every `python bench/...` command bench/README.md shows names a script that exists, whose
`--help` runs, and whose options include each option the command uses.

The benchmarks themselves are not run (they take minutes to hours on a registry-sized
corpus); this keeps the reference from drifting away from the scripts.
"""

from __future__ import annotations

import functools
import re
import shlex
import subprocess
import sys

import pytest

from .conftest import REPO

BENCH_README = REPO / "bench" / "README.md"


def bench_commands() -> list[list[str]]:
    """The `python bench/...` lines of bench/README.md's fenced code blocks, split."""
    out, fenced = [], False
    for line in BENCH_README.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif fenced and line.startswith("python bench/"):
            out.append(shlex.split(line, comments=True))
    return out


COMMANDS = bench_commands()


@functools.cache
def help_text(script: str) -> str:
    result = subprocess.run([sys.executable, str(REPO / script), "--help"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{script} --help failed:\n{result.stderr}"
    return result.stdout


def test_the_readme_shows_every_script_that_has_a_command() -> None:
    shown = {argv[1] for argv in COMMANDS}
    scripts = {f"bench/{p.name}" for p in (REPO / "bench").glob("*.py")}
    # relevance_v2.py is relevance.py's library: it has no command of its own.
    assert shown == scripts - {"bench/relevance_v2.py"}


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(a[1:3]) for a in COMMANDS])
def test_each_command_names_a_script_and_options_it_has(argv: list[str]) -> None:
    script = argv[1]
    assert (REPO / script).is_file(), f"{script} does not exist"
    text = help_text(script)
    for token in argv[2:]:
        if token.startswith("--"):
            option = token.split("=")[0]
            assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text), (
                f"{script} has no option {option}")
