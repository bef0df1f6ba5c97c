"""Docs come from the code: the command reference is --help, and the README names each command."""

from __future__ import annotations

from trialscope.cli.docs import render
from trialscope.cli.main import cli

from .conftest import REPO


def test_command_reference_is_current() -> None:
    reference = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    assert reference == render(), (
        "docs/cli.md is out of date: run  python -m trialscope.cli.docs > docs/cli.md")


def test_readme_mentions_every_command() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in cli.list_commands(None):  # type: ignore[arg-type]
        assert f"trials {name}" in readme, f"README does not mention 'trials {name}'"
    assert "docs/cli.md" in readme


def test_reference_does_not_depend_on_earlier_invocations() -> None:
    """click caches help options per command; the reference must render the same either way."""
    from click.testing import CliRunner

    before = render()
    for args in (["--help"], ["search", "--help"], ["watch", "add", "--help"], ["show", "-h"]):
        CliRunner().invoke(cli, args)
    assert render() == before
