"""Render the CLI reference (docs/cli.md) from the commands' own --help.

    python -m scalelab.cli.reference > docs/cli.md

tests/test_docs.py fails when docs/cli.md differs from this output, so the reference
cannot drift from the code.
"""

from __future__ import annotations

from typer.testing import CliRunner

from scalelab.cli import app

WIDTH = 100


def command_names() -> list[str]:
    """Every command, groups first-level and their subcommands as "group sub"."""
    names = [c.name or c.callback.__name__ for c in app.registered_commands]
    for group in app.registered_groups:
        names.append(group.name)
        names += [f"{group.name} {c.name or c.callback.__name__}" for c in group.typer_instance.registered_commands]
    return names


def help_text(args: list[str]) -> str:
    result = CliRunner().invoke(app, [*args, "--help"], prog_name="scalelab", terminal_width=WIDTH,
                                env={"COLUMNS": str(WIDTH)})
    assert result.exit_code == 0, result.output
    return result.stdout.rstrip() + "\n"


def render() -> str:
    parts = [
        "# scalelab command reference\n",
        "Generated from each command's `--help` by `python -m scalelab.cli.reference > docs/cli.md`;",
        "a test fails when this file is out of date.\n",
        "```text\n" + help_text([]) + "```\n",
    ]
    for name in command_names():
        parts.append(f"## scalelab {name}\n")
        parts.append("```text\n" + help_text(name.split()) + "```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(render(), end="")
