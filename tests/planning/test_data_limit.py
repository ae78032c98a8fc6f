"""Plans on finite data: epochs, effective tokens, the loss penalty, exhaustion."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from scalelab.cli import app
from scalelab.data import bundled_path, default_fit_path
from scalelab.errors import InputError, PlanWarning
from scalelab.fitting import Fit
from scalelab.io import load_fit
from scalelab.laws import ChinchillaLaw, DataConstrainedLaw
from scalelab.planning import get_accelerator, make_plan
from scalelab.planning.data_limit import C4_DECAYS, constrained_law, data_limit
from scalelab.runs import read_runs

H100 = get_accelerator("h100")
runner = CliRunner()


def test_data_limit_follows_the_law():
    fit = load_fit(default_fit_path())
    d = data_limit(fit, params=7e10, tokens=1.4e13, unique_tokens=1e12)
    law = DataConstrainedLaw(**fit.params_, **C4_DECAYS)
    assert d.epochs == pytest.approx(14.0)
    assert d.effective_tokens == pytest.approx(float(law.effective(7e10, 1.4e13, 1e12)["tokens"]))
    assert d.loss == pytest.approx(float(law.predict(params=7e10, tokens=1.4e13, unique_tokens=1e12)))
    assert d.loss_fresh == pytest.approx(float(law.predict(params=7e10, tokens=1.4e13, unique_tokens=1.4e13)))
    # at or below the compute-optimal size, fresh data is Chinchilla's law
    small = data_limit(fit, params=1e9, tokens=1e11, unique_tokens=1e10)
    assert small.loss_fresh == pytest.approx(float(ChinchillaLaw(**fit.params_).predict(params=1e9, tokens=1e11)))
    assert d.penalty == pytest.approx(d.loss - d.loss_fresh) and d.penalty > 0
    assert "C4 repetition constants" in d.law
    # one epoch or less: no penalty at all
    assert data_limit(fit, params=7e10, tokens=1e12, unique_tokens=2e12).penalty == pytest.approx(0, abs=1e-12)


def test_exhausted_data_is_said_once_compute_stops_paying():
    fit = load_fit(default_fit_path())
    ok = data_limit(fit, params=1e9, tokens=2e10, unique_tokens=1e10, budget=True)
    dry = data_limit(fit, params=1e9, tokens=2e10, unique_tokens=1e8, budget=True)
    assert not ok.exhausted and dry.exhausted
    assert dry.more["gain"] < 0.25 * dry.more["gain_fresh"]
    with pytest.warns(PlanWarning, match=r"the data is exhausted.*FLOPs \(.*% of the budget\) come within 0\.001"):
        make_plan(H100, budget_flops=1e22, num_gpus=8, unique_tokens=1e8)
    # the part of an exhausted budget that still buys loss: its best run within 0.001 of the budget's, and no less
    assert ok.useful_flops is None and dry.useful_flops < 6 * 1e9 * 2e10
    law = constrained_law(fit)[0]
    best = lambda c: float(law.optimal_allocation(c, unique_tokens=1e8).loss)
    assert best(dry.useful_flops) == pytest.approx(best(6 * 1e9 * 2e10) + 0.001, abs=1e-6)
    assert best(0.9 * dry.useful_flops) > best(6 * 1e9 * 2e10) + 0.001


def test_a_data_constrained_fit_forecasts_with_its_own_law():
    fit = Fit("data-constrained", tie=["alpha=beta"], num_bootstrap=20, calibrate=False).fit(
        read_runs(bundled_path("c4_repeats"), where="in_paper_fit == 1", require=("params", "tokens", "unique_tokens", "loss")))
    p = make_plan(H100, params=2.8e9, tokens=5.6e10, num_gpus=64, fit=fit, unique_tokens=4e9)
    assert p.forecast.loss == pytest.approx(float(fit.law_.predict(params=2.8e9, tokens=5.6e10, unique_tokens=4e9)))
    assert p.data.law == "the fit's data-constrained law" and p.data.loss == pytest.approx(p.forecast.loss)
    with pytest.raises(InputError, match="give --unique-tokens"):
        make_plan(H100, params=2.8e9, tokens=5.6e10, num_gpus=64, fit=fit)


def test_plan_cli_prints_the_data_row_and_round_trips(tmp_path):
    r = runner.invoke(app, ["plan", "--params", "7e10", "--tokens", "15T", "--gpu", "h100", "--num-gpus", "4096",
                            "--unique-tokens", "2T", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)["data"]
    assert d["epochs"] == pytest.approx(7.5) and d["effective_tokens"] < 15e12
    table = runner.invoke(app, ["plan", "--params", "7e10", "--tokens", "15T", "--gpu", "h100", "--num-gpus", "4096",
                                "--unique-tokens", "2T"])
    assert "7.50 epochs of 2T unique tokens" in table.stdout
    from scalelab.planning import Plan

    p = Plan.from_dict(json.loads(r.stdout))
    assert p.data.unique_tokens == 2e12 and np.isfinite(p.data.penalty)
    bad = runner.invoke(app, ["plan", "--params", "7e10", "--tokens", "15T", "--num-gpus", "8", "--unique-tokens", "1e17"])
    assert bad.exit_code == 2 and "--unique-tokens" in bad.output


def test_the_report_shows_the_data_limit_of_a_plan(tmp_path):
    plan_path = tmp_path / "plan.json"
    r = runner.invoke(app, ["plan", "--params", "7e10", "--tokens", "15T", "--gpu", "h100", "--num-gpus", "4096",
                            "--unique-tokens", "2T", "--out", str(plan_path)])
    assert r.exit_code == 0, r.output
    page = tmp_path / "report.html"
    r = runner.invoke(app, ["report", str(default_fit_path()), "--plan", str(plan_path), "--no-backtest", "--out", str(page)])
    assert r.exit_code == 0, r.output
    assert "7.50 epochs of 2T unique tokens" in page.read_text()


def test_a_budget_plan_reproduces_the_authors_allocation_under_their_constants(tmp_path):
    authors = dict(E=np.exp(0.6254804), A=np.exp(6.255414), B=np.exp(7.3049974), alpha=0.3526596, beta=0.3526596,
                   R_D=15.387756, R_N=5.309743)
    fix = ",".join(f"{k}={float(v)!r}" for k, v in authors.items())
    fit_path = tmp_path / "authors.json"
    r = runner.invoke(app, ["fit", str(bundled_path("c4_repeats")), "--law", "data-constrained", "--fix", fix,
                            "--bootstrap", "0", "--no-calibrate", "--out", str(fit_path)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["plan", "--budget-flops", str(6 * 8.67e9 * 178e9), "--num-gpus", "64", "--fit", str(fit_path),
                            "--unique-tokens", "25e9", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["budget"]["params"] == pytest.approx(6.8e9, rel=0.02)
    assert d["budget"]["tokens"] == pytest.approx(227e9, rel=0.02)
    assert d["data"]["epochs"] == pytest.approx(9.1, abs=0.05)
    assert d["data"]["law"] == "the fit's data-constrained law"
