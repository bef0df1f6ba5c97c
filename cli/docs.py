"""The command reference (docs/cli.md) generated from the commands' own --help.

    python -m trialscope.cli.docs > docs/cli.md

tests/test_docs.py fails when docs/cli.md no longer matches, so the reference cannot drift
from what the commands do.
"""

from __future__ import annotations

import click

from trialscope.cli.main import cli


def _commands(group: click.Group, ctx: click.Context, prefix: str) -> list[tuple[str, str]]:
    out = []
    for name in sorted(group.list_commands(ctx)):
        cmd = group.get_command(ctx, name)
        if cmd is None or cmd.hidden:
            continue
        path = f"{prefix} {name}"
        # parent=ctx: subcommands inherit the group's settings (-h/--help, widths), exactly as
        # when a user runs them.
        with click.Context(cmd, info_name=name, parent=ctx, terminal_width=100,
                           max_content_width=100) as sub:
            out.append((path, cmd.get_help(sub)))
            if isinstance(cmd, click.Group):
                out.extend(_commands(cmd, sub, path))
    return out


def render() -> str:
    with click.Context(cli, info_name="trials", terminal_width=100, max_content_width=100,
                       **cli.context_settings) as ctx:
        parts = ["# `trials` command reference", "",
                 "Generated from `--help` by `python -m trialscope.cli.docs`; do not edit.", "",
                 "## trials", "", "```", cli.get_help(ctx), "```", ""]
        for path, text in _commands(cli, ctx, "trials"):
            parts += [f"## {path}", "", "```", text, "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":
    click.echo(render(), nl=False)
