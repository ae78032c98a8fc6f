"""Docs match the code: the CLI reference is generated from --help, README examples run."""

import re
import shlex
from importlib.util import find_spec
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scalelab.cli import app
from scalelab.cli.reference import command_names, help_text, render

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def test_cli_reference_is_up_to_date():
    committed = (REPO / "docs" / "cli.md").read_text()
    assert committed == render(), "docs/cli.md is stale: run python -m scalelab.cli.reference > docs/cli.md"


def _click(name: str):
    """The click command of ``name`` ("fit", "plan", "plan validate"); groups have ``commands``."""
    import typer

    cmd = typer.main.get_command(app)
    for part in name.split():
        cmd = cmd.commands[part]
    return cmd


def _runs_by_itself(name: str) -> bool:
    """A command, or a group that does something without a subcommand (plan)."""
    cmd = _click(name)
    return not hasattr(cmd, "commands") or cmd.invoke_without_command


def _invokes(line: str, name: str) -> bool:
    """Whether an example line runs exactly ``scalelab NAME`` (not one of its subcommands)."""
    words, target = shlex.split(line)[1:], name.split()
    if words[:len(target)] != target:
        return False
    cmd, rest = _click(name), words[len(target):]
    return not (hasattr(cmd, "commands") and rest and rest[0] in cmd.commands)


@pytest.mark.parametrize("name", [n for n in command_names() if _runs_by_itself(n)])
def test_every_command_has_a_readme_example(name):
    assert any(_invokes(line, name) for line in _readme_examples()), f"the README shows no `scalelab {name} ...` example"


@pytest.mark.parametrize("name", command_names())
def test_every_help_ends_with_examples_that_parse(name):
    """Each --help ends with examples of that very command, and their options exist."""
    text = help_text(name.split())
    tail = text[text.rindex("Example"):]
    examples = [ln.strip() for ln in tail.splitlines()[1:] if ln.strip().startswith("scalelab ")]
    assert examples, f"scalelab {name} --help has no examples"
    for line in examples:
        words = shlex.split(line)[1:]
        assert any(_invokes(line, n) for n in command_names()), line
        target = next(n for n in sorted(command_names(), key=len, reverse=True) if _invokes(line, n))
        assert target == name or target.startswith(name + " "), f"scalelab {name} --help shows {line}"
        _click(target).make_context(f"scalelab {target}", words[len(target.split()):])  # raises on a bad option


def test_ci_runs_the_readme_test_command():
    blocks = re.findall(r"```bash\n(.*?)```", README, re.S)
    test_command = blocks[1].strip()
    assert "pytest" in test_command
    assert test_command in (REPO / ".ci" / "run").read_text()
    assert "scalelab demo" in blocks[0]


def _readme_examples() -> list[str]:
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        lines += [ln.strip() for ln in block.splitlines() if ln.strip().startswith("scalelab ")]
    return lines


@pytest.mark.slow
def test_readme_examples_run(tmp_path, monkeypatch):
    """Run every `scalelab ...` line of the README, in order, in a scratch folder."""
    (tmp_path / "src").symlink_to(REPO / "src")
    (tmp_path / "tests").symlink_to(REPO / "tests")
    monkeypatch.chdir(tmp_path)
    examples = _readme_examples()
    assert len(examples) >= 8
    runner = CliRunner()
    for line in examples:
        args = shlex.split(line)[1:]
        if args[:2] in (["ladder", "run"], ["ladder", "fit"]) and find_spec("torch") is None:
            continue  # training needs the train extra (tests/test_cli_ladder.py checks the message without it)
        if args[0] in ("fit", "backtest", "demo") and "--bootstrap" not in args:
            args += ["--bootstrap", "30"]  # same commands, fewer resamples to keep the suite fast
        result = runner.invoke(app, args)
        allowed = (0, 1) if args[0] == "watch" else (0,)  # watch exits 1 when it raised alerts
        assert result.exit_code in allowed, f"{line}\n{result.output}"
    assert (tmp_path / "fit.json").is_file() and (tmp_path / "scalelab-report" / "report.html").is_file()
