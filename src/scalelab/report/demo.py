"""``scalelab demo``: the whole job on bundled public data.

1. Fit Chinchilla's law to the 240 Chinchilla runs Epoch AI kept, with bootstrap intervals,
   and compare with Epoch's published refit.
2. Backtest: fit on runs below 1e21 FLOPs, forecast the 23 larger ones (up to 13x).
3. Forecast the compute-optimal run for a few budgets, with intervals.
4. Predict two real held-out runs (1.4B and 6.9B params) from five small ones (Gadre et al.).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scalelab.data import bundled_path
from scalelab.errors import recording_warnings
from scalelab.fitting import AllocationForecast, Fit
from scalelab.fitting.backtest import Backtest, backtest
from scalelab.fitting.objective import objective_at
from scalelab.io import atomic_write_text, save_fit
from scalelab.runs import Runs, read_runs

BUDGETS = (1e23, 5.76e23, 1e24, 1e25)  # 5.76e23: Chinchilla 70B's own budget
BACKTEST_CUT = 1e21
EPOCH_PUBLISHED = {"E": 1.817, "A": 482.0, "B": 2085.4, "alpha": 0.3478, "beta": 0.3658}


@dataclass
class DemoResult:
    runs: Runs
    fit: Fit
    backtest: Backtest
    forecast: AllocationForecast
    gadre_fit: Fit
    gadre_targets: pd.DataFrame
    warnings: list[str]


def run_demo(num_bootstrap: int = 200, seed: int = 0, step: Callable[[str], None] | None = None) -> DemoResult:
    """Run the demo's computations (no files written); ``step`` is told what runs next."""
    step = step or (lambda _msg: None)
    with recording_warnings() as seen:
        step("fitting Chinchilla's law to 240 runs")
        runs = read_runs(bundled_path("chinchilla"), where="epoch_excluded == 0")
        fit = Fit(num_bootstrap=num_bootstrap, seed=seed).fit(runs)
        step(f"backtest: fitting below {BACKTEST_CUT:.0e} FLOPs, forecasting the rest")
        bt = backtest(runs, Fit(num_bootstrap=num_bootstrap, seed=seed), train_max_flops=BACKTEST_CUT)
        step("forecasting compute-optimal runs")
        forecast = fit.optimal_allocation(np.array(BUDGETS))
        step("Gadre et al.: five small runs -> 1.4B and 6.9B")
        src = bundled_path("gadre")
        small = read_runs(src, where="family == 'gadre2024_redpajama' and paper_role == 'fit_loss'")
        big = read_runs(src, where="family == 'gadre2024_redpajama' and paper_role == 'target'")
        gfit = Fit(tie=["alpha=beta"], num_bootstrap=num_bootstrap, seed=seed).fit(small)
        pred = gfit.predict(params=big.column("params"), tokens=big.column("tokens"))
        targets = pred.to_frame()
        targets.insert(0, "run_id", big.frame["run_id"].to_numpy())
        targets["actual"] = big.column("loss")
        targets["rel_error"] = targets["loss"] / targets["actual"] - 1
    return DemoResult(runs, fit, bt, forecast, gfit, targets, list(dict.fromkeys(seen)))


def param_table(fit: Fit, published: dict | None = None) -> pd.DataFrame:
    iv80, iv95 = fit.param_intervals(0.8), fit.param_intervals(0.95)
    rows = []
    for k, v in fit.params_.items():
        row = {"param": k, "value": v, "lo80": iv80[k][0], "hi80": iv80[k][1], "lo95": iv95[k][0], "hi95": iv95[k][1]}
        if published:
            row["published"] = published.get(k)
        rows.append(row)
    return pd.DataFrame(rows)


def write_demo_report(result: DemoResult, out_dir: str | Path) -> dict[str, Path]:
    """Write report.html (with figures), fit.json, backtest.csv and forecast.csv."""
    from scalelab.report.html import Report
    from scalelab.report.plots import plot_backtest, plot_fit

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fit, bt = result.fit, result.backtest
    s = bt.summary()
    rep = Report("scalelab demo: forecasting big training runs from small ones")
    rep.paragraph(
        "Data: 240 Chinchilla training runs (Hoffmann et al. 2022) as digitised by Epoch AI "
        "(Besiroglu et al. 2024), and 7 OpenLM runs on RedPajama (Gadre et al. 2024). Loss in nats/token."
    )
    epoch = objective_at(type(fit.law_).from_params(EPOCH_PUBLISHED), result.runs.inputs(fit.law_.inputs),
                         result.runs.column("loss"), fit.delta)
    rep.heading("1. Fit")
    rep.paragraph(
        f"{fit.law_.formula}, Huber objective (delta={fit.delta:g}) on log loss: {fit.result_.fun:.6g} "
        f"(Epoch's published parameters give {epoch:.6g} on the same runs). "
        f"Intervals from {fit.result_.bootstrap_size} bootstrap resamples."
    )
    rep.table(_fmt(param_table(fit, EPOCH_PUBLISHED)))
    rep.figure(plot_fit(fit, result.runs, budgets=np.array(BUDGETS),
                        title="Chinchilla runs, fitted frontier and forecasts"))
    cal = fit.calibration_
    if cal.per_decade is not None:
        rep.paragraph(
            f"Interval width: besides parameter uncertainty and run-to-run noise, intervals add an extrapolation "
            f"error of {100 * cal.per_decade:.1f}% per decade of compute beyond the largest run, measured by "
            f"backtests inside the runs ({cal.n_test} predictions).", note=True)
    rep.heading("2. Backtest")
    rep.paragraph(
        f"Fit on the {s['n_train']} runs with C <= {BACKTEST_CUT:.0e} FLOPs, forecast the {s['n_test']} larger ones "
        f"(up to {s['test_max_flops'] / BACKTEST_CUT:.0f}x more compute): median |error| "
        f"{100 * s['median_abs_rel_error']:.2f}%, max {100 * s['max_abs_rel_error']:.2f}%; "
        f"the 80% interval holds {100 * s['coverage80']:.0f}% of them, the 95% interval {100 * s['coverage95']:.0f}%."
    )
    rep.figure(plot_backtest(bt))
    rep.heading("3. Forecast: compute-optimal runs")
    rep.table(_fmt(forecast_table(result.forecast)))
    rep.heading("4. Real held-out runs (Gadre et al. 2024)")
    rep.paragraph("Fit on five runs of 11M-411M parameters (tied exponents, as the paper does), "
                  "predict the 1.4B run trained on 900B tokens and the 6.9B run; the paper reports 0.71% and 0.73% error.")
    rep.table(_fmt(result.gadre_targets))
    if result.warnings:
        rep.heading("Warnings")
        for w in result.warnings:
            rep.paragraph(w, note=True)
    rep.paragraph(f"scalelab {fit.provenance_['scalelab_version']}; input sha256 {fit.provenance_['sha256'][:16]}...",
                  note=True)
    paths = {
        "report": out / "report.html",
        "fit": out / "fit.json",
        "backtest": out / "backtest.csv",
        "forecast": out / "forecast.csv",
    }
    atomic_write_text(paths["report"], rep.render())
    save_fit(fit, paths["fit"])
    atomic_write_text(paths["backtest"], bt.table.to_csv(index=False))
    atomic_write_text(paths["forecast"], result.forecast.to_frame().to_csv(index=False))
    return paths


def forecast_table(f: AllocationForecast) -> pd.DataFrame:
    lo80, hi80 = f.loss.intervals[0.8]
    lo95, hi95 = f.loss.intervals[0.95]
    return pd.DataFrame({
        "flops": f.flops, "params": f.params, "tokens": f.tokens, "loss": f.loss.loss,
        "lo80": lo80, "hi80": hi80, "lo95": lo95, "hi95": hi95, "extrapolation": f.loss.extrapolation,
    })


def _fmt(df: pd.DataFrame) -> pd.DataFrame:
    return df.map(lambda v: f"{v:.4g}" if isinstance(v, (float, np.floating)) else v)
