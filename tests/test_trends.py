"""scalelab trends compute: Epoch AI's growth figures from the shipped snapshot."""

import json

import pytest
from typer.testing import CliRunner

from scalelab.cli import app
from scalelab.trends import compute_trend

runner = CliRunner()


def test_epochs_growth_rates_are_reproduced_with_intervals():
    notable = compute_trend(num_bootstrap=300)
    frontier = compute_trend(frontier=True, since=2018, num_bootstrap=300)
    # Epoch: 4-5x per year; on this snapshot 4.0x (notable since 2010) and 5.0x (frontier since 2018)
    assert notable.growth_per_year == pytest.approx(4.0, abs=0.2) and notable.n_models == 395
    assert frontier.growth_per_year == pytest.approx(5.0, abs=0.2) and frontier.n_models == 61
    for t in (notable, frontier):
        assert t.interval95[0] < t.interval80[0] < t.growth_per_year < t.interval80[1] < t.interval95[1]
    assert notable.doubling_months == pytest.approx(12 * 0.30103 / 0.6055, rel=0.01)  # log10 2 / log10 4.03


def test_cli_and_bad_input():
    d = json.loads(runner.invoke(app, ["trends", "compute", "--frontier", "--since", "2018", "--json"]).stdout)
    assert d["n_models"] == 61 and "CC BY 4.0" in d["attribution"]
    r = runner.invoke(app, ["trends", "compute", "--since", "2030"])
    assert r.exit_code == 2 and "a trend needs at least 10" in r.stderr


def test_the_benchmark_sigmoid_backtest_reproduces_epochs_figures():
    from scalelab.trends import benchmark_backtest

    b = benchmark_backtest("MMLU", num_bootstrap=200)
    # the shared data's reference: k 1.20/decade, c0 23.81, 6.1 points on the 24 held-out models
    assert (b.n_fit, b.n_test) == (48, 24) and b.k == pytest.approx(1.20, abs=0.01) and b.c0 == pytest.approx(23.81, abs=0.01)
    assert b.mae == pytest.approx(6.1, abs=0.1) and all(r["compute"] >= 1e24 for r in b.table)
    assert all(r["lo80"] < r["predicted"] < r["hi80"] for r in b.table)
    assert benchmark_backtest("MMLU", min_trust=-1, num_bootstrap=50).n_test == 32
    r = runner.invoke(app, ["trends", "benchmark", "--benchmark", "MMLUU"])
    assert r.exit_code == 2 and "(did you mean 'MMLU'?); known: MMLU, BBH, GPQA" in r.stderr
