"""Docs match the code: the CLI reference is generated from --help, README examples run."""

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scalelab.cli import app
from scalelab.cli.reference import command_names, render

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def test_cli_reference_is_up_to_date():
    committed = (REPO / "docs" / "cli.md").read_text()
    assert committed == render(), "docs/cli.md is stale: run python -m scalelab.cli.reference > docs/cli.md"


@pytest.mark.parametrize("name", command_names())
def test_every_command_is_documented_in_the_readme_with_examples(name):
    assert f"scalelab {name}" in README
    assert re.search(rf"^## scalelab {name}$", render(), re.M)


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
        if args[0] in ("fit", "backtest", "demo") and "--bootstrap" not in args:
            args += ["--bootstrap", "30"]  # same commands, fewer resamples to keep the suite fast
        result = runner.invoke(app, args)
        allowed = (0, 1) if args[0] == "watch" else (0,)  # watch exits 1 when it raised alerts
        assert result.exit_code in allowed, f"{line}\n{result.output}"
    assert (tmp_path / "fit.json").is_file() and (tmp_path / "scalelab-report" / "report.html").is_file()
