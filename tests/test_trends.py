"""scalelab trends compute: Epoch AI's growth figures from the shipped snapshot."""

import json

import pytest
from typer.testing import CliRunner

from scalelab.cli import app
from scalelab.errors import InputError
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
    assert r.exit_code == 2 and "a trend needs at least 10 (the snapshot's models run to 2024.7; give an earlier --since)" in r.stderr
    # a date is a year too: mid-2019 keeps the frontier models from then on
    dated = json.loads(runner.invoke(app, ["trends", "compute", "--frontier", "--since", "2019-07-02", "--json"]).stdout)
    assert 0 < dated["n_models"] < d["n_models"] and dated["selection"] == "frontier models since 2019.5", dated
    r = runner.invoke(app, ["trends", "compute", "--since", "junk"])
    assert r.exit_code == 2 and "--since 'junk': give a year (2018) or a date (2019-06-01)" in r.stderr


def test_where_selects_models_in_every_trend_command():
    """--where on access, trust, organization or date: the counts follow the snapshot's own."""
    import pandas as pd

    from scalelab.data import bundled_path
    from scalelab.trends import benchmark_backtest, open_closed_lag

    bench = pd.read_csv(bundled_path("epoch_benchmarks"))
    has = bench["MMLU"].notna() & pd.to_numeric(bench["Training compute (FLOP)"], errors="coerce").notna()
    opened = has & (bench["Open/Closed"] == "Open") & (bench["Trust in benchmark results"] >= 0)
    b = benchmark_backtest("MMLU", where="access == 'open'", num_bootstrap=0)
    assert b.n_fit + b.n_test == opened.sum() and "where access == 'open'" in b.split
    google = compute_trend(since=2018, where="organization.str.contains('Google')", num_bootstrap=0)
    assert 10 <= google.n_models < compute_trend(since=2018, num_bootstrap=0).n_models
    late = open_closed_lag("MMLU", where="date >= '2023-01-01'", num_bootstrap=0)
    assert late.n_open + late.n_closed < 49 + 37
    for args, message in ((["benchmark", "--where", "trsut > 0"], "name 'trsut' is not defined; columns are system, date, access"),
                          (["benchmark", "--where", "access == 'opn'"], "selects no models of the snapshot (access takes 'closed', 'open')"),
                          (["benchmark", "--where", "system == 'GPT-4 (original)'"], "0 models with MMLU and compute"),
                          (["compute", "--where", "year"], "must be a condition"),
                          (["lag", "--where", "access == 'open'"], "the lag needs at least 3 closed models")):
        r = runner.invoke(app, ["trends", *args])
        assert r.exit_code == 2 and message in r.stderr, r.output


def test_the_benchmark_sigmoid_backtest_reproduces_epochs_figures():
    from scalelab.trends import benchmark_backtest

    owen = benchmark_backtest("MMLU", ceiling=1, num_bootstrap=50)
    # the shared data's reference, a curve up to 100%: k 1.20/decade, c0 23.81, 6.1 points on the 24 held-out models
    assert (owen.n_fit, owen.n_test) == (48, 24) and owen.k == pytest.approx(1.20, abs=0.01)
    assert owen.c0 == pytest.approx(23.81, abs=0.01) and owen.mae == pytest.approx(6.1, abs=0.1)
    # by default the curve stops at the best score MMLU's flawed answer key allows, and the
    # held-out models' error falls below 5 points
    b = benchmark_backtest("MMLU", num_bootstrap=200)
    assert b.ceiling == pytest.approx(1 - 0.0649 * 0.75) and b.mae < 5 < owen.mae
    assert all(r["compute"] >= 1e24 for r in b.table) and all(r["lo80"] < r["predicted"] < r["hi80"] for r in b.table)
    assert max(r["predicted"] for r in b.table) < max(r["predicted"] for r in owen.table)
    assert benchmark_backtest("MMLU", min_trust=-1, num_bootstrap=50).n_test == 32
    plain = benchmark_backtest("mmlu", num_bootstrap=0)  # the name as trends lag takes it
    assert plain.benchmark == "MMLU" and plain.mae == pytest.approx(b.mae)
    assert all(r["lo80"] < r["predicted"] < r["hi80"] for r in plain.table)  # the scatter alone still gives an interval
    r = runner.invoke(app, ["trends", "benchmark", "--benchmark", "MMLUU"])
    assert r.exit_code == 2 and "(did you mean 'MMLU'?); known: MMLU, BBH, GPQA" in r.stderr
    r = runner.invoke(app, ["trends", "benchmark", "--ceiling", "0.2"])
    assert r.exit_code == 2 and "--ceiling 0.2: give a score above chance (0.25) and at most 1" in r.stderr


def test_lag_recovers_a_known_shift_and_measures_the_snapshot():
    import numpy as np

    from scalelab.trends.lag import lag_from, open_closed_lag

    rng = np.random.default_rng(0)
    days = np.sort(rng.integers(0, 2000, 40))
    dates = np.datetime64("2019-01-01") + days
    values = np.maximum.accumulate(0.3 + 0.6 * days / 2000 + rng.normal(0, 0.01, 40))
    lag = lag_from(dates + 182, values, dates, values, num_bootstrap=200)
    assert lag.months == pytest.approx(182 / 30.44, abs=0.1) and lag.lo95 <= lag.months <= lag.hi95
    # each level's dates: the open frontier reaches it 182 days after the closed one
    spans = [np.datetime64(r["open_date"]) - np.datetime64(r["closed_date"]) for r in lag.levels if r["open_date"]]
    assert spans and all(s == np.timedelta64(182, "D") for s in spans)
    mmlu = open_closed_lag("MMLU", num_bootstrap=200)
    assert 6 < mmlu.months < 24 and mmlu.lo80 <= mmlu.months <= mmlu.hi80
    with pytest.raises(InputError, match="choose one of MMLU, BBH, GPQA, compute"):
        open_closed_lag("HellaSwag")


def test_trends_lag_cli(tmp_path):
    r = runner.invoke(app, ["trends", "lag", "--benchmark", "GPQA", "--plot", str(tmp_path / "lag.png")])
    assert r.exit_code == 0 and (tmp_path / "lag.png").read_bytes()[:4] == b"\x89PNG", r.output
    r = runner.invoke(app, ["trends", "lag", "--plot", str(tmp_path / "lag.txt")])
    assert r.exit_code == 2 and not (tmp_path / "lag.txt").exists()
    r = runner.invoke(app, ["trends", "lag", "--benchmark", "compute", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["measure"] == "log10 training compute" and d["n_open"] > 10
    t = runner.invoke(app, ["trends", "lag"])
    assert "open models trail closed ones by" in t.stdout and "MMLU" in t.stdout


def test_benchmark_backtest_by_release_date():
    from scalelab.trends.benchmark import benchmark_backtest

    b = benchmark_backtest("MMLU", fit_before="2024-01-01", num_bootstrap=100)
    assert b.split == "released before 2024-01-01" and b.n_fit > 20 and b.n_test > 5
    assert b.mae is not None and 0 < b.mae < 20
    r = runner.invoke(app, ["trends", "benchmark", "--fit-before", "soon"])
    assert r.exit_code == 2 and "--fit-before 'soon': give a date" in r.output


def test_too_few_models_below_the_cut_says_which_cut_would_do():
    """GPQA has 4 models below 1e24 and 3 released before 2024: the error names a cut that
    leaves six to fit, and that cut works."""
    from scalelab.trends.benchmark import benchmark_backtest

    for flag, value in (("--fit-max-flops", "1e24"), ("--fit-before", "2024-01-01")):
        r = runner.invoke(app, ["trends", "benchmark", "--benchmark", "GPQA", flag, value])
        assert r.exit_code == 2 and "a fit needs at least 6; " + flag in r.stderr, r.stderr
        cut = r.stderr.split(flag + " ")[-1].split(" fits ")[0]
        kw = {"fit_max_flops": float(cut)} if flag == "--fit-max-flops" else {"fit_before": cut}
        b = benchmark_backtest("GPQA", num_bootstrap=20, **kw)
        assert b.n_fit == int(r.stderr.split(" fits ")[-1].split()[0]) >= 6 and b.n_test > 0


def test_plan_context_places_the_run_in_the_public_record(tmp_path):
    from scalelab.trends.context import run_context

    small, big = run_context(1e23, num_bootstrap=50), run_context(3.8e25, num_bootstrap=50)
    assert small.frontier_year < big.frontier_year and small.share_below < big.share_below
    assert big.frontier_year80[0] <= big.frontier_year <= big.frontier_year80[1]
    assert small.benchmarks["MMLU"]["value"] < big.benchmarks["MMLU"]["value"]
    assert big.largest_below_flops <= 3.8e25
    out = tmp_path / "plan.json"
    r = runner.invoke(app, ["plan", "--params", "405B", "--tokens", "15.6T", "--num-gpus", "16384", "--context",
                            "--json", "--out", str(out)])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["context"]["flops"] == pytest.approx(d["flops"]["model"]) and "MMLU" in d["context"]["benchmarks"]
    assert json.loads(out.read_text())["context"] == d["context"]
    from scalelab.planning import Plan

    assert Plan.from_dict(d).params.total == 405e9


def test_trend_and_benchmark_figures(tmp_path):
    trend, bench = tmp_path / "trend.png", tmp_path / "mmlu.svg"
    r = runner.invoke(app, ["trends", "compute", "--frontier", "--since", "2018", "--plot", str(trend), "--mark", "3.8e25"])
    assert r.exit_code == 0, r.output
    assert trend.stat().st_size > 10_000
    r = runner.invoke(app, ["trends", "benchmark", "--plot", str(bench)])
    assert r.exit_code == 0 and "held out (24)" in bench.read_text()
    r = runner.invoke(app, ["trends", "compute", "--mark", "1e25"])
    assert r.exit_code == 2 and "--plot" in r.output
    d = json.loads(runner.invoke(app, ["trends", "compute", "--json"]).stdout)
    assert "points" not in d and "intercept" in d


def test_a_run_below_every_model_is_not_dated_on_the_figure():
    """The frontier line, extended back, would put a 1e14-FLOP run in 2008; below every model
    of the trend the figure draws its level instead, as the text says it cannot date it."""
    from scalelab.report.plots import plot_compute_trend
    from scalelab.trends import compute_trend

    t = compute_trend(frontier=True, since=2018, num_bootstrap=0)
    small = plot_compute_trend(t, mark=1e14).axes[0]
    assert small.get_xlim()[0] > 2017 and small.get_ylim()[0] < 1e14
    assert any("not dated" in h.get_label() for h in small.get_legend().legend_handles)
    large = plot_compute_trend(t, mark=3.8e25).axes[0]
    star = [c for c in large.collections if c.get_label().startswith("planned run")]
    assert star and 2024 < star[0].get_offsets()[0][0] < 2026


def test_the_returns_figure_names_the_fits_unit():
    from scalelab.fitting import Fit
    from scalelab.planning.returns import returns
    from scalelab.report.plots import plot_returns

    import numpy as np
    import pandas as pd

    n, d = np.meshgrid([1e4, 2e4, 4e4, 8e4], [2e5, 5e5, 1e6, 3e6])
    frame = pd.DataFrame({"params": n.ravel(), "tokens": d.ravel()})
    frame["loss"] = 1.0 + 30 * frame.params ** -0.3 + 60 * frame.tokens ** -0.3
    fit = Fit(num_bootstrap=0).fit(frame)
    r = returns(fit, 1e14, decades=2)
    assert plot_returns(r, 1.0).axes[0].get_ylabel() == "loss (nats/token)"
    fit.provenance_["unit"] = "bits per byte"
    assert plot_returns(r, 1.0, unit=fit.unit).axes[0].get_ylabel() == "loss (bits per byte)"
