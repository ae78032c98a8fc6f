"""``scalelab fit``, ``predict``, ``backtest`` and ``demo``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from scalelab.cli.common import (
    Bootstrap,
    Fix,
    Json,
    Seed,
    Tie,
    all_of,
    app,
    big,
    count,
    factor,
    num,
    option_group,
    out,
    parse_numbers,
    pct,
    print_json,
    run,
    yes,
)
from scalelab.errors import ScalelabError

RunsArg = Annotated[Path, typer.Argument(help="Table of runs: .csv, .tsv, .jsonl or .parquet.", show_default=False, metavar="RUNS")]


@dataclass
class RunsOptions:
    """How to read a table of runs."""

    params_col: Annotated[str, typer.Option("--params-col", help="Column (or expression) of parameter counts N.")] = "params"
    tokens_col: Annotated[str, typer.Option("--tokens-col", help="Column (or expression) of training tokens D.")] = "tokens"
    loss_col: Annotated[str, typer.Option("--loss-col", help="Column of losses (nats/token).")] = "loss"
    flops_col: Annotated[Optional[str], typer.Option("--flops-col", help="Column of training FLOPs [default: 'flops' if present, else 6*N*D].")] = None
    unique_tokens_col: Annotated[str, typer.Option("--unique-tokens-col", help="Column (or expression) of the unique tokens each run saw (--law data-constrained).")] = "unique_tokens"
    run_id_col: Annotated[str, typer.Option("--run-id-col", help="Column naming the run of each row (curves: several rows per run).")] = "run_id"
    where: Annotated[Optional[list[str]], typer.Option("--where", help="Keep rows matching a pandas query, e.g. \"family == 'x' and flops < 1e20\"; repeated, rows matching all.")] = None
    all_steps: Annotated[bool, typer.Option("--all-steps", help="Keep every row of each run's curve, not only its final row.")] = False
    fmt: Annotated[Optional[str], typer.Option("--format", help="csv, tsv, jsonl or parquet [default: from the extension].")] = None

    def read(self, path: Path, law: str, *, plan_hint: bool = False):
        from scalelab.laws import get_law
        from scalelab.runs import read_runs

        if plan_hint and self.fmt is None and Path(path).suffix.lower() == ".toml":
            from scalelab.errors import InputError

            raise InputError(f"{path} is a ladder's plan: fit it with scalelab ladder fit {path} (which saves its unit, "
                             "bits per byte, and its target with the fit); backtest and report read it as it is")

        return read_runs(path, format=self.fmt, params_col=self.params_col, tokens_col=self.tokens_col,
                         loss_col=self.loss_col, flops_col=self.flops_col, unique_tokens_col=self.unique_tokens_col, run_id_col=self.run_id_col, where=all_of(self.where),
                         all_steps=self.all_steps, require=(*get_law(law).inputs, "loss"))


@dataclass
class FitOptions:
    """Which law, and how to fit it."""

    law: Annotated[str, typer.Option("--law", help="chinchilla: L(N,D) = E + A/N^alpha + B/D^beta; compute: L(C) = E + (C0/C)^gamma; data-constrained: chinchilla with repeated data and excess parameters discounted (parameters R_D, R_N; needs unique tokens).")] = "chinchilla"
    fix: Fix = None
    tie: Tie = None
    delta: Annotated[float, typer.Option("--delta", help="Huber threshold on log residuals.")] = 1e-3
    bootstrap: Bootstrap = 200
    seed: Seed = 0
    calibrate: Annotated[bool, typer.Option("--calibrate/--no-calibrate", help="Widen intervals by the extrapolation error measured with backtests inside the runs.")] = True
    max_extrapolation: Annotated[float, typer.Option("--max-extrapolation", help="Warn when predicting beyond this factor of the fitted range.")] = 100.0

    def estimator(self):
        from scalelab.fitting import Fit
        from scalelab.fitting.params import parse_assignments

        return Fit(self.law, delta=self.delta, fix=parse_assignments(self.fix, "--fix"), tie=self.tie or [],
                   num_bootstrap=self.bootstrap, seed=self.seed, calibrate=self.calibrate,
                   max_extrapolation=self.max_extrapolation)


# ------------------------------------------------------------------------ fit
@app.command(epilog="""\b
Examples:
  scalelab fit runs.csv --out fit.json
  scalelab fit runs.csv --where "family == 'x'" --fix E=1.69 --tie alpha=beta
  scalelab fit curves.jsonl --all-steps --loss-col val_loss --law compute --json
  scalelab fit runs.csv --plot fit.png --params 70B --tokens 1.4T
""")
@option_group(read=RunsOptions, settings=FitOptions)
def fit(
    runs: RunsArg,
    out_path: Annotated[Optional[Path], typer.Option("--out", help="Write the fit (everything needed to predict) to this JSON file.")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Save a figure of the runs, the fit and its interval band (.png, .svg, .pdf).")] = None,
    target_params: Annotated[Optional[float], typer.Option("--params", parser=count, help="With --plot: mark the target run of N parameters (with --tokens) and its forecast.")] = None,
    target_tokens: Annotated[Optional[float], typer.Option("--tokens", parser=count, help="With --plot: the target run's training tokens D.")] = None,
    read: RunsOptions = None,
    settings: FitOptions = None,
    as_json: Json = False,
) -> None:
    """Fit a scaling law to runs, with bootstrap intervals.

    Prints the parameters with 80% and 95% intervals, the objective and the residuals;
    --out writes everything needed to predict (law, parameters, bootstrap ensemble,
    provenance) to a JSON file.
    """

    def go():
        from scalelab.io import check_writable, save_fit
        from scalelab.report.plots import check_figure_path

        check_figure_path(plot)
        check_writable(out_path)
        if (target_params is None) != (target_tokens is None):
            raise ScalelabError("give both --params and --tokens to mark a target run")
        if target_params is not None and plot is None:
            raise ScalelabError("--params/--tokens mark the target on the --plot figure: give --plot FILE "
                                "(scalelab predict forecasts a run)")
        table = read.read(runs, settings.law, plan_hint=True)
        f = settings.estimator().fit(table)
        if plot is not None:
            from scalelab.report.plots import plot_fit, save

            target = None if target_params is None else (target_params, target_tokens)
            save(plot_fit(f, table, target=target), plot)
        if out_path is not None:
            save_fit(f, out_path)
        return f, table

    f, table = run(go)
    d = f.to_dict()
    if as_json:
        for k in ("format", "format_version", "ensemble", "noise_quantiles"):  # a summary, not a fit file (--out)
            d.pop(k)
        print_json(d)
        return
    out.print(f"[bold]{f.law_.name} law[/bold]  {f.law_.formula}  fitted to {f.n_runs_} runs"
              f"{f' ({f.n_rows_} rows)' if f.n_rows_ != f.n_runs_ else ''} from {escape(table.source)}", markup=True)
    t = Table("param", "value", "80% interval", "95% interval")
    iv80, iv95 = f.param_intervals(0.8), f.param_intervals(0.95)
    for k, v in f.params_.items():
        fixed = " (fixed)" if k in f.fixed_ else ""
        t.add_row(k + fixed, num(v), f"{num(iv80[k][0])} .. {num(iv80[k][1])}", f"{num(iv95[k][0])} .. {num(iv95[k][1])}")
    out.print(t)
    if f.tie_choice_:
        out.print(f"--tie {escape(f.tie_choice_)}")
    r = f.result_
    res = d["residuals"]
    out.print(f"objective (Huber, delta={f.delta:g}, summed over rows): {r.fun:.6g}; {r.message} after {r.nit} "
              f"iterations from {r.num_starts} starts; bootstrap {r.bootstrap_converged}/{r.bootstrap_size} converged")
    out.print(f"residuals: median |rel| {pct(res['median_abs_rel'])}, max {pct(res['max_abs_rel'])}")
    cal = f.calibration_
    if cal.per_decade is not None:
        out.print(f"extrapolation error: {pct(cal.per_decade)} per decade beyond the runs "
                  f"(backtests inside the runs, {cal.n_test} predictions)")
    elif cal.status == "skipped":
        from scalelab.fitting.fit import MIN_CALIBRATION_PREDICTIONS

        out.print(f"extrapolation error: not measured ({cal.n_test} backtest predictions inside the runs; it needs "
                  f"{MIN_CALIBRATION_PREDICTIONS}): intervals far beyond the runs are too narrow")
    wide = [k for k in f.params_ if k not in f.fixed_ and _wider(iv80[k], iv95[k])]
    if wide:
        out.print(f"the 95% interval of {', '.join(wide)} is much wider than the 80% one: the bootstrap's tail holds "
                  "fits where a parameter trades off against another (E against A or B, an exponent against its "
                  "coefficient), a sign the runs pin that part of the law loosely")
    for p in (out_path, plot):
        if p is not None:
            out.print(f"wrote {p}")


def _wider(iv80, iv95, ratio: float = 2.5) -> bool:
    """A 95% interval more than ``ratio`` times as wide as the 80% one (a normal's is 1.53x)."""
    w80, w95 = iv80[1] - iv80[0], iv95[1] - iv95[0]
    return w80 > 0 and w95 > ratio * w80


# -------------------------------------------------------------------- predict
@app.command(epilog="""\b
Examples:
  scalelab predict fit.json --params 7e10 --tokens 1.4e12
  scalelab predict fit.json --compute 1e23,1e24,1e25
  scalelab predict fit.json --compute 1e24 --flops-per-token 8 --json
  scalelab predict c4-fit.json --params 6.34e9 --tokens 242e9 --unique-tokens 25e9
""")
def predict(
    fit_path: Annotated[Path, typer.Argument(help="A fit.json written by scalelab fit --out.", show_default=False, metavar="FIT_JSON")],
    params: Annotated[Optional[str], typer.Option("--params", help="Parameter count N (comma-separated for several).")] = None,
    tokens: Annotated[Optional[str], typer.Option("--tokens", help="Training tokens D (comma-separated for several).")] = None,
    compute: Annotated[Optional[str], typer.Option("--compute", "--flops", help="FLOP budget C: the compute-optimal N, D and loss (chinchilla law), or the loss (compute law).")] = None,
    unique_tokens: Annotated[Optional[str], typer.Option("--unique-tokens", help="Unique tokens available (data-constrained fits): the run repeats them D/U times (a corpus larger than D is seen once).")] = None,
    flops_per_token: Annotated[float, typer.Option("--flops-per-token", help="FLOPs per parameter per token k in C = k*N*D, for --compute.")] = 6.0,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Save a figure of the law with the forecasts and their intervals (.png, .svg, .pdf).")] = None,
    as_json: Json = False,
) -> None:
    """Forecast the loss, with 80% and 95% intervals.

    With --params and --tokens: the loss of that run. With --compute: the compute-optimal
    parameters and tokens for each FLOP budget and the loss of a run trained there. With
    neither, a fit that records the run it was made for (a ladder's) forecasts that run.
    """

    seen: dict = {}

    def go():
        from scalelab.fitting import predict_table
        from scalelab.io import load_fit
        from scalelab.report.plots import check_figure_path

        check_figure_path(plot)
        fit = load_fit(fit_path)
        n_, d_ = parse_numbers(params, "--params"), parse_numbers(tokens, "--tokens")
        target = (getattr(fit, "provenance_", None) or {}).get("target")
        if n_ is None and d_ is None and compute is None and target:
            # a ladder's fit says the run it was made for: forecast that one
            n_, d_ = [float(target["params"])], [float(target["tokens"])]
            seen["note"] = (f"the target {fit_path.name} was made for: N = {num(n_[0])}, D = {num(d_[0])} "
                            "(--params and --tokens for another run)")
        seen["unit"] = fit.unit
        kind, frame = predict_table(fit, params=n_, tokens=d_,
                                    flops=parse_numbers(compute, "--compute"), flops_per_token=flops_per_token,
                                    unique_tokens=parse_numbers(unique_tokens, "--unique-tokens"))
        if plot is not None:
            from scalelab.report.plots import plot_fit, save

            from scalelab.laws.base import FLOPS_PER_PARAM_TOKEN  # the compute axis plot_fit draws

            marks = frame if "flops" in frame else frame.assign(flops=FLOPS_PER_PARAM_TOKEN * frame["params"] * frame["tokens"])
            save(plot_fit(fit, None, marks=marks, title=f"{fit.law_.name} law: forecasts from {fit_path.name}"), plot)
        return kind, frame

    kind, frame = run(go)
    if as_json:
        print_json({"kind": kind, "rows": frame.to_dict(orient="records")})
        return
    cols = [c for c in ("flops", "params", "tokens", "unique_tokens") if c in frame]
    t = Table(*cols, f"loss ({seen['unit']})" if seen.get("unit") else "loss", "80% interval", "95% interval",
              "extrapolation")
    for _, row in frame.iterrows():
        t.add_row(*[num(row[c]) if c == "flops" else big(row[c]) for c in cols], num(row["loss"]), f"{num(row['lo80'])} .. {num(row['hi80'])}",
                  f"{num(row['lo95'])} .. {num(row['hi95'])}", factor(row['extrapolation']))
    out.print(t)
    if seen.get("note"):
        out.print(seen["note"], markup=False)
    if kind == "allocation":
        out.print("params/tokens: point estimate; their intervals are in --json (params_lo80 ...). "
                  "The loss interval is for a run trained at the point estimate.")
    if plot is not None:
        out.print(f"wrote {plot}")


# ------------------------------------------------------------------- backtest
@app.command(epilog="""\b
Examples:
  scalelab backtest runs.csv --train-max-flops 1e21
  scalelab backtest runs.csv --holdout-largest 3 --out backtest.csv --plot backtest.png
  scalelab backtest c4.csv --law data-constrained --train-where "epochs <= 4" --test-where "epochs >= 10"
""")
@option_group(read=RunsOptions, settings=FitOptions)
def backtest(
    runs: RunsArg,
    train_max_flops: Annotated[Optional[float], typer.Option("--train-max-flops", parser=count, help="Fit on runs with flops <= this, predict the rest.")] = None,
    holdout_largest: Annotated[Optional[int], typer.Option("--holdout-largest", help="Fit on all but the K runs of largest compute, predict those.")] = None,
    train_where: Annotated[Optional[str], typer.Option("--train-where", help="Fit on the rows matching this condition, e.g. \"epochs <= 4\"; predict the rest.")] = None,
    test_where: Annotated[Optional[str], typer.Option("--test-where", help="Predict only the held-out rows matching this condition, e.g. \"epochs >= 10\".")] = None,
    table_out: Annotated[Optional[Path], typer.Option("--out", help="Write the per-run table to this CSV file.")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Save a figure of the forecasts against the held-out runs.")] = None,
    read: RunsOptions = None,
    settings: FitOptions = None,
    as_json: Json = False,
) -> None:
    """Fit on the cheaper runs, forecast the expensive ones, and score the forecast.

    Prints each held-out run's forecast against its actual loss, the median absolute
    relative error, and the share of actual losses inside the 80% and 95% intervals.
    """

    def go():
        from scalelab.fitting.backtest import backtest as run_backtest
        from scalelab.io import check_writable, write_table
        from scalelab.report.plots import check_figure_path

        check_figure_path(plot)
        check_writable(table_out)
        table = read.read(runs, settings.law)
        bt = run_backtest(table, settings.estimator(), train_max_flops=train_max_flops, holdout_largest=holdout_largest,
                          train_where=train_where, test_where=test_where)
        if plot is not None:
            from scalelab.report.plots import plot_backtest, save

            save(plot_backtest(bt, unit="bits per byte" if Path(runs).suffix.lower() == ".toml" else None), plot)
        if table_out is not None:
            write_table(bt.table, table_out)
        return bt

    bt = run(go)
    s = bt.summary()
    if as_json:
        print_json({"summary": s, "split": bt.split.to_dict(), "fit": {"params": bt.fit.params_, "objective": bt.fit.result_.fun},
                    "rows": bt.table.to_dict(orient="records")})
        return
    t = Table("run_id", "flops", "actual", "predicted", "error", "80% interval", "in 80%", "in 95%", "extrap.")
    rows = bt.table.sort_values("flops")
    shown = rows if len(rows) <= 40 else rows.iloc[np.r_[0:20, len(rows) - 20:len(rows)]]
    for _, r in shown.iterrows():
        t.add_row(str(r["run_id"]), num(r["flops"]), num(r["actual"]), num(r["predicted"]), f"{100 * r['rel_error']:+.2f}%",
                  f"{num(r['lo80'])} .. {num(r['hi80'])}", yes(r["in80"]), yes(r["in95"]), factor(r['extrapolation']))
    out.print(t)
    if len(rows) > 40:
        out.print(f"({len(rows) - 40} middle rows not shown; --out FILE.csv or --json has all)")
    out.print(f"{bt.split.rule}: fitted on {s['n_train']} rows, forecast {s['n_test']} "
              f"(up to {s['max_extrapolation']:.1f}x beyond the fitted range)")
    out.print(f"median |error| {pct(s['median_abs_rel_error'])}, mean {pct(s['mean_abs_rel_error'])}, "
              f"max {pct(s['max_abs_rel_error'])}; median signed error {100 * s['median_rel_error']:+.2f}%")
    if s["coverage80"] is not None:
        out.print(f"interval coverage: 80% interval holds {pct(s['coverage80'])}, 95% interval holds {pct(s['coverage95'])}")
    for p in (table_out, plot):
        if p is not None:
            out.print(f"wrote {p}")


# ----------------------------------------------------------------------- demo
@app.command(epilog="""\b
Example:
  scalelab demo --out-dir scalelab-report
""")
def demo(
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Folder for report.html, fit.json, backtest.csv, forecast.csv.")] = Path("scalelab-report"),
    bootstrap: Bootstrap = 200,
    seed: Seed = 0,
    as_json: Json = False,
) -> None:
    """Run the whole job on bundled public data: fit, backtest, forecast, report.

    Fits Chinchilla's law to 240 published runs, backtests it, forecasts compute-optimal
    runs for four budgets, predicts two real held-out runs from five small ones, and
    writes report.html with figures.
    """
    import sys

    from scalelab.cli.common import err
    from scalelab.report.demo import EPOCH_PUBLISHED, forecast_table, param_table, run_demo, write_demo_report

    def go():
        if as_json or not sys.stderr.isatty():
            result = run_demo(bootstrap, seed)
        else:
            with err.status("") as status:
                result = run_demo(bootstrap, seed, step=lambda m: status.update(m + " ..."))
        return result, write_demo_report(result, out_dir)

    result, paths = run(go)
    s = result.backtest.summary()
    fc = forecast_table(result.forecast)
    if as_json:
        print_json({
            "fit": {"params": result.fit.params_, "intervals95": result.fit.param_intervals(0.95),
                    "objective": result.fit.result_.fun, "n_runs": result.fit.n_runs_},
            "backtest": s,
            "forecast": fc.to_dict(orient="records"),
            "gadre_targets": result.gadre_targets.to_dict(orient="records"),
            "warnings": result.warnings,
            "files": {k: str(v) for k, v in paths.items()},
        })
        return
    f = result.fit
    out.print(f"[bold]1. Chinchilla's law fitted to {f.n_runs_} runs[/bold] (Epoch AI's digitisation of Hoffmann et al. 2022)", markup=True)
    t = Table("param", "value", "95% interval", "Epoch 2024")
    for _, r in param_table(f, EPOCH_PUBLISHED).iterrows():
        t.add_row(r["param"], num(r["value"]), f"{num(r['lo95'])} .. {num(r['hi95'])}", num(r["published"]))
    out.print(t)
    out.print(f"\n[bold]2. Backtest[/bold]: fit below 1e21 FLOPs ({s['n_train']} runs), forecast {s['n_test']} larger runs "
              f"(up to {s['test_max_flops'] / 1e21:.0f}x): median |error| {pct(s['median_abs_rel_error'])}, "
              f"80% interval holds {pct(s['coverage80'])}, 95% holds {pct(s['coverage95'])}", markup=True)
    out.print("\n[bold]3. Compute-optimal runs[/bold]", markup=True)
    t = Table("FLOPs", "params", "tokens", "loss", "80% interval", "95% interval")
    for _, r in fc.iterrows():
        t.add_row(num(r["flops"]), big(r["params"]), big(r["tokens"]), num(r["loss"]),
                  f"{num(r['lo80'])} .. {num(r['hi80'])}", f"{num(r['lo95'])} .. {num(r['hi95'])}")
    out.print(t)
    out.print("\n[bold]4. Real held-out runs[/bold] (Gadre et al. 2024): 5 runs of <= 411M params predict", markup=True)
    t = Table("run", "params", "tokens", "actual", "predicted", "error", "80% interval")
    for _, r in result.gadre_targets.iterrows():
        t.add_row(r["run_id"], big(r["params"]), big(r["tokens"]), num(r["actual"]), num(r["loss"]),
                  f"{100 * r['rel_error']:+.2f}%", f"{num(r['lo80'])} .. {num(r['hi80'])}")
    out.print(t)
    out.print(f"\nreport: {paths['report']}  (also {paths['fit'].name}, {paths['backtest'].name}, {paths['forecast'].name})")

