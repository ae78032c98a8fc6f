"""The ``scalelab`` command line: parse, call the API, print. No logic of its own.

User errors (:class:`~scalelab.errors.ScalelabError`) print one line and exit 2;
``scalelab --debug ...`` shows the traceback instead.
"""

from __future__ import annotations

import json
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from scalelab.errors import ScalelabError
from scalelab.version import __version__

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Forecast a large training run from pilot runs: robust scaling-law fits, honest intervals, backtests.",
)
# tables are wider than 80 columns: use the terminal's width, or 140 when writing to a pipe or file
out = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True, highlight=False, soft_wrap=True)
STATE = {"debug": False}

# ----------------------------------------------------------------- shared options
RunsArg = Annotated[Path, typer.Argument(help="Table of runs: .csv, .tsv, .jsonl or .parquet.", show_default=False, metavar="RUNS")]
ParamsCol = Annotated[str, typer.Option("--params-col", help="Column (or expression) of parameter counts N.")]
TokensCol = Annotated[str, typer.Option("--tokens-col", help="Column (or expression) of training tokens D.")]
LossCol = Annotated[str, typer.Option("--loss-col", help="Column of losses (nats/token).")]
FlopsCol = Annotated[Optional[str], typer.Option("--flops-col", help="Column of training FLOPs [default: 'flops' if present, else 6*N*D].")]
RunIdCol = Annotated[str, typer.Option("--run-id-col", help="Column naming the run of each row (curves: several rows per run).")]
Where = Annotated[Optional[str], typer.Option("--where", help="Keep rows matching a pandas query, e.g. \"family == 'x' and flops < 1e20\".")]
AllSteps = Annotated[bool, typer.Option("--all-steps", help="Keep every row of each run's curve, not only its final row.")]
Format = Annotated[Optional[str], typer.Option("--format", help="csv, tsv, jsonl or parquet [default: from the extension].")]
Law = Annotated[str, typer.Option("--law", help="chinchilla: L(N,D) = E + A/N^alpha + B/D^beta; compute: L(C) = E + (C0/C)^gamma.")]
Fix = Annotated[Optional[list[str]], typer.Option("--fix", help="Hold a parameter at a value, e.g. --fix E=1.69 (repeatable).")]
Tie = Annotated[Optional[list[str]], typer.Option("--tie", help="Force two parameters equal, e.g. --tie alpha=beta (repeatable).")]
Delta = Annotated[float, typer.Option("--delta", help="Huber threshold on log residuals.")]
Bootstrap = Annotated[int, typer.Option("--bootstrap", help="Bootstrap resamples over runs (0: no intervals).")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")]
Calibrate = Annotated[bool, typer.Option("--calibrate/--no-calibrate", help="Widen intervals by the extrapolation error measured with backtests inside the runs.")]
MaxExtrap = Annotated[float, typer.Option("--max-extrapolation", help="Warn when predicting beyond this factor of the fitted range.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _version(value: bool) -> None:
    if value:
        print(f"scalelab {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True, callback=_version)] = False,
) -> None:
    """Forecast a large training run from pilot runs: robust scaling-law fits, honest intervals, backtests."""
    STATE["debug"] = debug


def _run(fn):
    """Call fn() turning ScalelabError into one line on stderr and exit code 2; print warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fn()
        except ScalelabError as exc:
            if STATE["debug"]:
                raise
            err.print(f"[red]error:[/red] {escape(str(exc))}", markup=True)
            raise typer.Exit(2) from None
    _print_warnings(caught)
    return result


def _print_warnings(caught) -> list[dict]:
    seen, outl = set(), []
    for w in caught:
        key = (w.category.__name__, str(w.message))
        if key in seen or not issubclass(w.category, UserWarning):
            continue
        seen.add(key)
        outl.append({"category": key[0], "message": key[1]})
        err.print(f"[yellow]warning:[/yellow] {escape(key[1])}", markup=True)
    return outl


def _read(path, params_col, tokens_col, loss_col, flops_col, run_id_col, where, all_steps, fmt, law):
    from scalelab.laws import get_law
    from scalelab.runs import read_runs

    law_cls = get_law(law)
    return read_runs(path, format=fmt, params_col=params_col, tokens_col=tokens_col, loss_col=loss_col,
                     flops_col=flops_col, run_id_col=run_id_col, where=where, all_steps=all_steps,
                     require=(*law_cls.inputs, "loss"))


def _make_fit(law, fix, tie, delta, bootstrap, seed, calibrate, max_extrapolation):
    from scalelab.fitting import Fit
    from scalelab.fitting.params import parse_assignments

    return Fit(law, delta=delta, fix=parse_assignments(fix, "--fix"), tie=tie or [], num_bootstrap=bootstrap,
               seed=seed, calibrate=calibrate, max_extrapolation=max_extrapolation)


def _num(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    a = abs(v)
    return f"{v:.4g}" if 1e-3 <= a < 1e5 or a == 0 else f"{v:.3e}"


def _pct(v: float) -> str:
    return "-" if v is None or math.isnan(v) else f"{100 * v:.2f}%"


def _json_default(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.bool_):
        return bool(o)
    raise TypeError(type(o).__name__)


def _print_json(data) -> None:
    print(json.dumps(data, indent=1, default=_json_default))


def _parse_numbers(text: Optional[str], option: str) -> Optional[np.ndarray]:
    if text is None:
        return None
    try:
        values = np.array([float(t) for t in text.split(",") if t.strip()])
    except ValueError:
        raise ScalelabError(f"{option} {text!r}: give numbers, comma-separated for several, e.g. {option} 1e23,1e24") from None
    if values.size == 0 or not np.all(np.isfinite(values) & (values > 0)):
        raise ScalelabError(f"{option} {text!r}: every value must be a finite number > 0")
    return values


# ------------------------------------------------------------------------ fit
@app.command(epilog="""\b
Examples:
  scalelab fit runs.csv --out fit.json
  scalelab fit runs.csv --where "family == 'x'" --fix E=1.69 --tie alpha=beta
  scalelab fit curves.jsonl --all-steps --loss-col val_loss --law compute --json
""")
def fit(
    runs: RunsArg,
    out_path: Annotated[Optional[Path], typer.Option("--out", help="Write the fit (everything needed to predict) to this JSON file.")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Save a figure of the runs, the fit and its interval band (.png, .svg, .pdf).")] = None,
    law: Law = "chinchilla",
    params_col: ParamsCol = "params",
    tokens_col: TokensCol = "tokens",
    loss_col: LossCol = "loss",
    flops_col: FlopsCol = None,
    run_id_col: RunIdCol = "run_id",
    where: Where = None,
    all_steps: AllSteps = False,
    fmt: Format = None,
    fix: Fix = None,
    tie: Tie = None,
    delta: Delta = 1e-3,
    bootstrap: Bootstrap = 200,
    seed: Seed = 0,
    calibrate: Calibrate = True,
    max_extrapolation: MaxExtrap = 100.0,
    as_json: Json = False,
) -> None:
    """Fit a scaling law to runs, with bootstrap intervals.

    Prints the parameters with 80% and 95% intervals, the objective and the residuals;
    --out writes everything needed to predict (law, parameters, bootstrap ensemble,
    provenance) to a JSON file.
    """

    def go():
        from scalelab.io import save_fit

        table = _read(runs, params_col, tokens_col, loss_col, flops_col, run_id_col, where, all_steps, fmt, law)
        f = _make_fit(law, fix, tie, delta, bootstrap, seed, calibrate, max_extrapolation).fit(table)
        if plot is not None:
            from scalelab.report.plots import plot_fit, save

            save(plot_fit(f, table), plot)
        if out_path is not None:
            save_fit(f, out_path)
        return f, table

    f, table = _run(go)
    d = f.to_dict()
    if as_json:
        d.pop("ensemble")
        d.pop("noise_quantiles")
        _print_json(d)
        return
    out.print(f"[bold]{f.law_.name} law[/bold]  {f.law_.formula}  fitted to {f.n_runs_} runs"
              f"{f' ({f.n_rows_} rows)' if f.n_rows_ != f.n_runs_ else ''} from {table.source}", markup=True)
    t = Table("param", "value", "80% interval", "95% interval")
    iv80, iv95 = f.param_intervals(0.8), f.param_intervals(0.95)
    for k, v in f.params_.items():
        fixed = " (fixed)" if k in f.fixed_ else ""
        t.add_row(k + fixed, _num(v), f"{_num(iv80[k][0])} .. {_num(iv80[k][1])}", f"{_num(iv95[k][0])} .. {_num(iv95[k][1])}")
    out.print(t)
    r = f.result_
    res = d["residuals"]
    out.print(f"objective (Huber, delta={f.delta:g}, summed over rows): {r.fun:.6g}; {r.message} after {r.nit} "
              f"iterations from {r.num_starts} starts; bootstrap {r.bootstrap_converged}/{r.bootstrap_size} converged")
    out.print(f"residuals: median |rel| {_pct(res['median_abs_rel'])}, max {_pct(res['max_abs_rel'])}")
    cal = f.calibration_
    if cal.get("per_decade") is not None:
        out.print(f"extrapolation error: {_pct(cal['per_decade'])} per decade beyond the runs "
                  f"(backtests inside the runs, {cal['n_test']} predictions)")
    if out_path is not None:
        out.print(f"wrote {out_path}")
    if plot is not None:
        out.print(f"wrote {plot}")


# -------------------------------------------------------------------- predict
@app.command(epilog="""\b
Examples:
  scalelab predict fit.json --params 7e10 --tokens 1.4e12
  scalelab predict fit.json --compute 1e23,1e24,1e25
  scalelab predict fit.json --compute 1e24 --flops-per-token 8 --json
""")
def predict(
    fit_path: Annotated[Path, typer.Argument(help="A fit.json written by scalelab fit --out.", show_default=False, metavar="FIT_JSON")],
    params: Annotated[Optional[str], typer.Option("--params", help="Parameter count N (comma-separated for several).")] = None,
    tokens: Annotated[Optional[str], typer.Option("--tokens", help="Training tokens D (comma-separated for several).")] = None,
    compute: Annotated[Optional[str], typer.Option("--compute", help="FLOP budget C: the compute-optimal N, D and loss (chinchilla law), or the loss (compute law).")] = None,
    flops_per_token: Annotated[float, typer.Option("--flops-per-token", help="FLOPs per parameter per token k in C = k*N*D, for --compute.")] = 6.0,
    as_json: Json = False,
) -> None:
    """Forecast the loss, with 80% and 95% intervals.

    With --params and --tokens: the loss of that run. With --compute: the compute-optimal
    parameters and tokens for each FLOP budget and the loss of a run trained there.
    """

    def go():
        from scalelab.io import load_fit

        f = load_fit(fit_path)
        N = _parse_numbers(params, "--params")
        D = _parse_numbers(tokens, "--tokens")
        C = _parse_numbers(compute, "--compute")
        if not flops_per_token > 0:
            raise ScalelabError(f"--flops-per-token {flops_per_token}: give a positive number (6 for C = 6ND)")
        if C is not None and (N is not None or D is not None):
            raise ScalelabError("give either --compute C, or --params N with --tokens D, not both")
        if C is not None:
            if "params" in f.law_.inputs:
                return "allocation", f.optimal_allocation(C, flops_per_token).to_frame()
            return "loss", f.predict(flops=C).to_frame()
        if f.law_.inputs == ("flops",):
            raise ScalelabError("this is a compute-law fit: predict with --compute FLOPS")
        if N is None or D is None:
            raise ScalelabError("give --params N and --tokens D (or --compute C for the compute-optimal run)")
        try:
            N, D = np.broadcast_arrays(N, D)
        except ValueError:
            raise ScalelabError(f"--params has {N.size} values and --tokens {D.size}; give one of each, or equally many") from None
        return "loss", f.predict(params=N, tokens=D).to_frame()

    kind, frame = _run(go)
    if as_json:
        _print_json({"kind": kind, "rows": frame.to_dict(orient="records")})
        return
    cols = [c for c in ("flops", "params", "tokens") if c in frame]
    t = Table(*cols, "loss", "80% interval", "95% interval", "extrapolation")
    for _, row in frame.iterrows():
        t.add_row(*[_num(row[c]) for c in cols], _num(row["loss"]), f"{_num(row['lo80'])} .. {_num(row['hi80'])}",
                  f"{_num(row['lo95'])} .. {_num(row['hi95'])}", f"{row['extrapolation']:.1f}x")
    out.print(t)
    if kind == "allocation":
        out.print("params/tokens: point estimate; their intervals are in --json (params_lo80 ...). "
                  "The loss interval is for a run trained at the point estimate.")


# ------------------------------------------------------------------- backtest
@app.command(epilog="""\b
Examples:
  scalelab backtest runs.csv --train-max-flops 1e21
  scalelab backtest runs.csv --holdout-largest 3 --out backtest.csv --plot backtest.png
""")
def backtest(
    runs: RunsArg,
    train_max_flops: Annotated[Optional[float], typer.Option("--train-max-flops", help="Fit on runs with flops <= this, predict the rest.")] = None,
    holdout_largest: Annotated[Optional[int], typer.Option("--holdout-largest", help="Fit on all but the K runs of largest compute, predict those.")] = None,
    table_out: Annotated[Optional[Path], typer.Option("--out", help="Write the per-run table to this CSV file.")] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Save a figure of the forecasts against the held-out runs.")] = None,
    law: Law = "chinchilla",
    params_col: ParamsCol = "params",
    tokens_col: TokensCol = "tokens",
    loss_col: LossCol = "loss",
    flops_col: FlopsCol = None,
    run_id_col: RunIdCol = "run_id",
    where: Where = None,
    all_steps: AllSteps = False,
    fmt: Format = None,
    fix: Fix = None,
    tie: Tie = None,
    delta: Delta = 1e-3,
    bootstrap: Bootstrap = 200,
    seed: Seed = 0,
    calibrate: Calibrate = True,
    max_extrapolation: MaxExtrap = 100.0,
    as_json: Json = False,
) -> None:
    """Fit on the cheaper runs, forecast the expensive ones, and score the forecast.

    Prints each held-out run's forecast against its actual loss, the median absolute
    relative error, and the share of actual losses inside the 80% and 95% intervals.
    """

    def go():
        from scalelab.fitting.backtest import backtest as run_backtest
        from scalelab.io import atomic_write_text

        table = _read(runs, params_col, tokens_col, loss_col, flops_col, run_id_col, where, all_steps, fmt, law)
        template = _make_fit(law, fix, tie, delta, bootstrap, seed, calibrate, max_extrapolation)
        bt = run_backtest(table, template, train_max_flops=train_max_flops, holdout_largest=holdout_largest)
        if plot is not None:
            from scalelab.report.plots import plot_backtest, save

            save(plot_backtest(bt), plot)
        if table_out is not None:
            atomic_write_text(table_out, bt.table.to_csv(index=False))
        return bt

    bt = _run(go)
    s = bt.summary()
    if as_json:
        _print_json({"summary": s, "split": bt.split, "fit": {"params": bt.fit.params_, "objective": bt.fit.result_.fun},
                     "rows": bt.table.to_dict(orient="records")})
        return
    t = Table("run_id", "flops", "actual", "predicted", "error", "80% interval", "in 80%", "in 95%", "extrap.")
    rows = bt.table.sort_values("flops")
    shown = rows if len(rows) <= 40 else rows.iloc[np.r_[0:20, len(rows) - 20:len(rows)]]
    for _, r in shown.iterrows():
        t.add_row(str(r["run_id"]), _num(r["flops"]), _num(r["actual"]), _num(r["predicted"]), f"{100 * r['rel_error']:+.2f}%",
                  f"{_num(r['lo80'])} .. {_num(r['hi80'])}", _yes(r["in80"]), _yes(r["in95"]), f"{r['extrapolation']:.1f}x")
    out.print(t)
    if len(rows) > 40:
        out.print(f"({len(rows) - 40} middle rows not shown; --out FILE.csv or --json has all)")
    out.print(f"{bt.split['rule']}: fitted on {s['n_train']} rows, forecast {s['n_test']} "
              f"(up to {s['max_extrapolation']:.1f}x beyond the fitted range)")
    out.print(f"median |error| {_pct(s['median_abs_rel_error'])}, mean {_pct(s['mean_abs_rel_error'])}, "
              f"max {_pct(s['max_abs_rel_error'])}; median signed error {100 * s['median_rel_error']:+.2f}%")
    if s["coverage80"] is not None:
        out.print(f"interval coverage: 80% interval holds {_pct(s['coverage80'])}, 95% interval holds {_pct(s['coverage95'])}")
    for p in (table_out, plot):
        if p is not None:
            out.print(f"wrote {p}")


def _yes(v) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else ("yes" if v else "no")


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
    from scalelab.report.demo import EPOCH_PUBLISHED, forecast_table, param_table, run_demo, write_demo_report

    def go():
        if as_json or not sys.stderr.isatty():
            result = run_demo(bootstrap, seed)
        else:
            with err.status("") as status:
                result = run_demo(bootstrap, seed, step=lambda m: status.update(m + " ..."))
        return result, write_demo_report(result, out_dir)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the demo collects its warnings into the report
        result, paths = _run(go)
    s = result.backtest.summary()
    fc = forecast_table(result.forecast)
    if as_json:
        _print_json({
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
        t.add_row(r["param"], _num(r["value"]), f"{_num(r['lo95'])} .. {_num(r['hi95'])}", _num(r["published"]))
    out.print(t)
    out.print(f"\n[bold]2. Backtest[/bold]: fit below 1e21 FLOPs ({s['n_train']} runs), forecast {s['n_test']} larger runs "
              f"(up to {s['test_max_flops'] / 1e21:.0f}x): median |error| {_pct(s['median_abs_rel_error'])}, "
              f"80% interval holds {_pct(s['coverage80'])}, 95% holds {_pct(s['coverage95'])}", markup=True)
    out.print("\n[bold]3. Compute-optimal runs[/bold]", markup=True)
    t = Table("FLOPs", "params", "tokens", "loss", "80% interval", "95% interval")
    for _, r in fc.iterrows():
        t.add_row(_num(r["flops"]), _num(r["params"]), _num(r["tokens"]), _num(r["loss"]),
                  f"{_num(r['lo80'])} .. {_num(r['hi80'])}", f"{_num(r['lo95'])} .. {_num(r['hi95'])}")
    out.print(t)
    out.print("\n[bold]4. Real held-out runs[/bold] (Gadre et al. 2024): 5 runs of <= 411M params predict", markup=True)
    t = Table("run", "params", "tokens", "actual", "predicted", "error", "80% interval")
    for _, r in result.gadre_targets.iterrows():
        t.add_row(r["run_id"], _num(r["params"]), _num(r["tokens"]), _num(r["actual"]), _num(r["loss"]),
                  f"{100 * r['rel_error']:+.2f}%", f"{_num(r['lo80'])} .. {_num(r['hi80'])}")
    out.print(t)
    out.print(f"\nreport: {paths['report']}  (also {paths['fit'].name}, {paths['backtest'].name}, {paths['forecast'].name})")


# ----------------------------------------------------------------------- plan
plan_app = typer.Typer(
    add_completion=False,
    rich_markup_mode=None,
    invoke_without_command=True,
    help="Compute, memory, time, energy and cost of a training run, or the best run for a budget.",
    epilog="""\b
Examples:
  scalelab plan --params 7e10 --tokens 2e12 --gpu a100-80gb --num-gpus 2048
  scalelab plan --preset llama3-405b --tokens 15.6e12 --gpu h100-sxm --num-gpus 16384 --mfu 0.40
  scalelab plan --budget-usd 5e8 --gpu h100-sxm --days 180 --fit fit.json
  scalelab plan validate
""",
)
app.add_typer(plan_app, name="plan")


def _parallel(tp, pp, cp, ep, dp, zero, no_sp, num_gpus):
    from scalelab.planning import Parallelism

    if all(v is None for v in (tp, pp, cp, ep, dp, zero)):
        return None  # let the planner search
    tp, pp, cp, ep, zero = tp or 1, pp or 1, cp or 1, ep or 1, 1 if zero is None else zero
    if dp is None:
        if num_gpus is None:
            raise ScalelabError("give --num-gpus (or --dp) with a layout")
        if num_gpus % (tp * pp * cp):
            raise ScalelabError(f"num_gpus({num_gpus}) is not divisible by tp({tp}) * pp({pp}) * cp({cp}) = {tp * pp * cp}")
        dp = int(num_gpus // (tp * pp * cp))
    return Parallelism(dp=dp, tp=tp, pp=pp, cp=cp, ep=ep, zero=zero, sequence_parallel=not no_sp)


@plan_app.callback()
def plan(
    ctx: typer.Context,
    preset: Annotated[Optional[str], typer.Option("--preset", help="A known architecture: gpt2-small, gpt3-175b, llama2-7b, llama3-8b, llama3-70b, llama3-405b, mixtral-8x7b, deepseek-v3, palm-540b, bloom-176b, pythia-12b.")] = None,
    params: Annotated[Optional[float], typer.Option("--params", help="A dense model's parameter count N (FLOPs = 6*N*D).")] = None,
    tokens: Annotated[Optional[float], typer.Option("--tokens", help="Training tokens D.")] = None,
    d_model: Annotated[Optional[int], typer.Option("--d-model", help="Shape: width.")] = None,
    layers: Annotated[Optional[int], typer.Option("--layers", help="Shape: transformer blocks.")] = None,
    heads: Annotated[Optional[int], typer.Option("--heads", help="Shape: query heads.")] = None,
    kv_heads: Annotated[Optional[int], typer.Option("--kv-heads", help="Shape: key/value heads (GQA/MQA).")] = None,
    ffn_size: Annotated[Optional[int], typer.Option("--ffn-size", help="Shape: MLP hidden width.")] = None,
    ffn: Annotated[Optional[str], typer.Option("--ffn", help="Shape: gelu or swiglu.")] = None,
    vocab: Annotated[Optional[int], typer.Option("--vocab", help="Shape: vocabulary size.")] = None,
    tied: Annotated[Optional[bool], typer.Option("--tied/--untied", help="Shape: tied input/output embeddings.")] = None,
    experts: Annotated[Optional[int], typer.Option("--experts", help="MoE: routed experts per layer.")] = None,
    top_k: Annotated[Optional[int], typer.Option("--top-k", help="MoE: experts per token.")] = None,
    shared_experts: Annotated[Optional[int], typer.Option("--shared-experts", help="MoE: experts every token uses.")] = None,
    expert_ffn_size: Annotated[Optional[int], typer.Option("--expert-ffn-size", help="MoE: one expert's hidden width.")] = None,
    seq_len: Annotated[Optional[int], typer.Option("--seq-len", help="Training sequence length [default: the preset's, else 2048].")] = None,
    gpu: Annotated[str, typer.Option("--gpu", help="Accelerator: h100-sxm, h100-pcie, h200, h800, a100-80gb, a100-40gb, v100, b200, gb200, mi300x, mi250x, tpu-v4, tpu-v5e, tpu-v5p, tpu-v6e, l40s, rtx4090.")] = "h100-sxm",
    num_gpus: Annotated[Optional[int], typer.Option("--num-gpus", help="Number of accelerators.")] = None,
    days: Annotated[Optional[float], typer.Option("--days", help="Deadline: wall-clock days (finds the GPU count, or bounds a budget).")] = None,
    mfu: Annotated[Optional[float], typer.Option("--mfu", help="Model FLOPs utilisation [default: the accelerator's, from documented runs].")] = None,
    goodput: Annotated[Optional[float], typer.Option("--goodput", help="Share of wall-clock time spent training [default: 0.9, Llama 3].")] = None,
    price: Annotated[Optional[float], typer.Option("--price", help="USD per accelerator-hour [default: the catalogue's typical cloud price].")] = None,
    peak_tflops: Annotated[Optional[float], typer.Option("--peak-tflops", help="Dense peak TFLOP/s per accelerator [default: the catalogue's BF16].")] = None,
    gpu_memory_gb: Annotated[Optional[float], typer.Option("--gpu-memory-gb", help="Memory per accelerator, GB.")] = None,
    pue: Annotated[float, typer.Option("--pue", help="Power usage effectiveness of the facility (1: accelerators only).")] = 1.0,
    budget_usd: Annotated[Optional[float], typer.Option("--budget-usd", help="Budget in dollars: plan the compute-optimal run it buys.")] = None,
    budget_gpu_hours: Annotated[Optional[float], typer.Option("--budget-gpu-hours", help="Budget in accelerator-hours.")] = None,
    budget_flops: Annotated[Optional[float], typer.Option("--budget-flops", help="Budget in training FLOPs.")] = None,
    fit_path: Annotated[Optional[Path], typer.Option("--fit", help="A fit.json (scalelab fit) for the forecast and the allocation [default for budgets: Chinchilla's law refit on Chinchilla's runs].")] = None,
    flops_per_token: Annotated[float, typer.Option("--flops-per-token", help="k in C = k*N*D for budget allocation.")] = 6.0,
    max_unique_tokens: Annotated[Optional[float], typer.Option("--max-unique-tokens", help="Unique tokens available: says how many epochs the plan implies.")] = None,
    tp: Annotated[Optional[int], typer.Option("--tp", help="Layout: tensor parallel degree [default: search].")] = None,
    pp: Annotated[Optional[int], typer.Option("--pp", help="Layout: pipeline stages.")] = None,
    cp: Annotated[Optional[int], typer.Option("--cp", help="Layout: context parallel degree.")] = None,
    ep: Annotated[Optional[int], typer.Option("--ep", help="Layout: expert parallel degree (MoE).")] = None,
    dp: Annotated[Optional[int], typer.Option("--dp", help="Layout: data parallel degree [default: num_gpus / (tp*pp*cp)].")] = None,
    zero: Annotated[Optional[int], typer.Option("--zero", help="Layout: ZeRO stage 0-3 (3 = FSDP).")] = None,
    no_sp: Annotated[bool, typer.Option("--no-sequence-parallel", help="Layout: keep norms and dropouts replicated under TP.")] = False,
    recompute: Annotated[Optional[str], typer.Option("--recompute", help="none, selective (attention core), selective-op (torchtitan), full.")] = None,
    micro_batch: Annotated[int, typer.Option("--micro-batch", help="Sequences per micro-batch per data-parallel rank.")] = 1,
    precision: Annotated[str, typer.Option("--precision", help="bf16 (mixed, fp32 master), fp8, fp32.")] = "bf16",
    fused_ce: Annotated[bool, typer.Option("--fused-cross-entropy", help="A fused loss keeps only fp32 logits.")] = False,
    non_causal: Annotated[bool, typer.Option("--non-causal-flops", help="Count attention FLOPs over the whole sequence (PaLM's convention), not the causal half.")] = False,
    as_json: Json = False,
) -> None:
    """Plan a training run: FLOPs, days, GPU-hours, energy, dollars, memory per GPU and
    the layout that fits; or, given a budget, the compute-optimal run it buys and its loss."""
    if ctx.invoked_subcommand is not None:
        return

    def go():
        from scalelab.data import default_fit_path
        from scalelab.io import load_fit
        from scalelab.planning import ModelConfig, get_accelerator, get_preset
        from scalelab.planning.plan import make_plan

        acc = get_accelerator(gpu).with_overrides(peak_tflops=peak_tflops, price_usd_per_hour=price,
                                                  memory_gb=gpu_memory_gb, mfu=mfu)
        shape = {k: v for k, v in dict(d_model=d_model, n_layers=layers, n_heads=heads, n_kv_heads=kv_heads,
                                       d_ff=ffn_size, ffn=ffn, vocab_size=vocab, tied_embeddings=tied,
                                       n_experts=experts, top_k=top_k, n_shared_experts=shared_experts,
                                       d_ff_expert=expert_ffn_size, seq_len=seq_len).items() if v is not None}
        model = None
        if preset is not None:
            if params is not None:
                raise ScalelabError("give --preset or --params, not both")
            model = get_preset(preset).model.replace(**shape) if shape else get_preset(preset).model
        elif set(shape) - {"seq_len"}:
            if params is not None:
                raise ScalelabError("give the shape (--d-model ...) or --params, not both")
            missing = [f"--{n}" for n, k in (("d-model", "d_model"), ("layers", "n_layers"), ("heads", "n_heads"),
                                             ("vocab", "vocab_size")) if k not in shape]
            if missing:
                raise ScalelabError(f"a model shape needs {', '.join(missing)} too (or use --preset / --params)")
            model = ModelConfig(**shape)
        if params is not None and not 0 < params <= 1e15:
            raise ScalelabError(f"--params {params}: give a parameter count in (0, 1e15], e.g. 7e10")
        budget = any(v is not None for v in (budget_usd, budget_gpu_hours, budget_flops))
        fit, label = None, ""
        if fit_path is not None:
            fit, label = load_fit(fit_path), f"fit {fit_path}"
        elif budget or (model is None and params is None and tokens is None):
            fit, label = load_fit(default_fit_path()), "Chinchilla's law refit on Chinchilla's runs (MassiveText loss)"
        parallel = _parallel(tp, pp, cp, ep, dp, zero, no_sp, num_gpus)
        if parallel is not None and num_gpus is None:
            num = parallel.num_devices
        else:
            num = num_gpus
        memory_options = {"fused_cross_entropy": fused_ce}
        if seq_len is not None and model is None:
            memory_options["seq_len"] = seq_len
        return make_plan(acc, model=model, params=params, tokens=tokens, num_gpus=num, days=days, mfu=mfu,
                         goodput=goodput, pue=pue, budget_usd=budget_usd, budget_gpu_hours=budget_gpu_hours,
                         budget_flops=budget_flops, fit=fit, law_label=label, flops_per_token=flops_per_token,
                         max_unique_tokens=max_unique_tokens, causal=not non_causal, parallel=parallel,
                         recompute=recompute, micro_batch=micro_batch, precision=precision,
                         memory_options=memory_options)

    result = _run(go)
    for w in result.warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(w)}", markup=True)
    if as_json:
        _print_json(result.to_dict())
        return
    _print_plan(result)


def _print_plan(p) -> None:
    run, lay = p.run, p.layout
    a = run.accelerator
    t = Table(show_header=False, box=None, padding=(0, 1))
    t.add_column(style="bold")
    t.add_column()
    pm = p.params
    extra = ""
    if pm.get("active") != pm.get("total"):
        extra = f", {_big(pm['active'])} active"
    if "non_embedding" in pm:
        extra += f", {_big(pm['non_embedding'])} non-embedding"
    t.add_row("model", f"{p.model.name}: {_big(pm['total'])} parameters{extra}; {p.model_note}")
    if p.mode == "budget":
        b = p.budget
        iv = f" (80%: {_big(b.params_interval[0])}–{_big(b.params_interval[1])})" if b.params_interval else ""
        t.add_row("budget buys", f"{p.flops['model']:.3e} FLOPs -> compute-optimal N = {_big(b.params)}{iv}, "
                  f"D = {_big(b.tokens)} tokens ({b.tokens / b.params:.1f} tokens/param, C = {b.flops_per_token:g}·N·D)")
        if b.epochs is not None:
            t.add_row("data", f"{b.epochs:.2f} epochs of the unique tokens")
    else:
        t.add_row("tokens", f"{_big(p.tokens)}")
        hw = p.flops.get("hardware", p.flops["model"])
        t.add_row("FLOPs", f"{p.flops['model']:.3e} model (6·N·D: {p.flops['six_n']:.3e})"
                  + (f"; {hw:.3e} with recomputation" if hw > p.flops["model"] * 1.0005 else ""))
    t.add_row("hardware", f"{run.num_gpus:,.0f} x {a.name} ({a.peak_tflops:g} TFLOP/s dense BF16, {a.memory_gb:g} GB) "
              f"at MFU {run.mfu:.2f} ({a.mfu_source}), goodput {run.goodput:.2f}")
    t.add_row("time", f"{run.days:,.1f} days wall-clock ({run.compute_seconds / 86400:,.1f} computing)")
    t.add_row("GPU-hours", f"{run.gpu_hours:,.0f}")
    if run.energy_kwh is not None:
        t.add_row("energy", f"{run.energy_kwh / 1000:,.0f} MWh (TDP {a.tdp_w:g} W x PUE {run.pue:g})")
    cost = run.cost_usd
    t.add_row("cost", "-" if cost is None else f"${cost:,.0f} at ${a.price_usd_per_hour:g}/GPU-hour ({a.price_note})")
    if lay.parallel is not None:
        par, m = lay.parallel, lay.memory
        g = m.gib()
        how = "cheapest layout that fits" if lay.searched else "given layout"
        t.add_row("layout", f"dp={par.dp} tp={par.tp} pp={par.pp} cp={par.cp} ep={par.ep} zero={par.zero} "
                  f"recompute={lay.recompute} micro-batch={lay.micro_batch} {lay.precision} ({how})")
        t.add_row("memory/GPU", f"{g['total']:.1f} of {g['device']:.0f} GiB ({'fits' if m.fits else 'does NOT fit'}): "
                  f"weights {g['weights']:.1f}, grads {g['gradients']:.1f}, optimizer {g['optimizer']:.1f}, "
                  f"activations {g['activations']:.1f}, logits {g['logits']:.1f}, buffers {g['buffers']:.1f} "
                  f"({m.stage} stage)")
    else:
        t.add_row("layout", "none found that fits (see the warning)")
    if p.forecast is not None:
        f = p.forecast
        iv = (f"80% {_num(f['lo80'])}–{_num(f['hi80'])}, 95% {_num(f['lo95'])}–{_num(f['hi95'])}"
              if f.get("lo80") is not None else "no interval")
        t.add_row("forecast", f"loss {_num(f['loss'])} ({iv}); {f['extrapolation']:.0f}x beyond the fitted runs; {f['law']}")
    out.print(t)


def _big(v: float) -> str:
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.3g}"


@plan_app.command("validate")
def plan_validate(
    goodput: Annotated[Optional[float], typer.Option("--goodput", help="Share of wall-clock time spent training [default: 0.9].")] = None,
    as_json: Json = False,
) -> None:
    """Recompute documented runs' FLOPs and accelerator-hours, and the MFU their hours imply.

    Runs that report their MFU get predicted accelerator-hours; every run with hardware
    and hours gets its effective MFU (MFU x goodput over its wall-clock time) next to the
    planner's default. Rows marked claim are figures quoted in news, kept to be checked.
    """

    def go():
        from scalelab.data import rows
        from scalelab.planning import check_runs

        if goodput is not None and not 0 < goodput <= 1:
            raise ScalelabError(f"--goodput {goodput}: give a fraction in (0, 1]")
        return check_runs(rows("known_runs"), goodput)

    checks = _run(go)
    if as_json:
        _print_json([c.to_dict() for c in checks])
        return
    t = Table("run", "hardware", "FLOPs 6·N·D", "vs reported", "GPU-hours reported", "predicted", "error",
              "effective MFU implied", "default")
    for c in checks:
        t.add_row(("(claim) " if c.kind == "claim" else "") + c.model, c.hardware or "-",
                  "-" if c.flops_6nd is None else f"{c.flops_6nd:.3g}",
                  "-" if c.flops_error is None else f"{100 * c.flops_error:+.1f}%",
                  "-" if c.hours_reported is None else f"{c.hours_reported:,.0f}",
                  "-" if c.hours_predicted is None else f"{c.hours_predicted:,.0f}",
                  "-" if c.hours_error is None else f"{100 * c.hours_error:+.1f}%",
                  "-" if c.effective_mfu_implied is None else f"{c.effective_mfu_implied:.3f}",
                  "-" if c.effective_mfu_default is None else f"{c.effective_mfu_default:.3f}")
    out.print(t)
    out.print("predicted = FLOPs / (peak x reported MFU x goodput 0.9); effective MFU = reported FLOPs / "
              "(reported accelerator-hours x peak)")


# ---------------------------------------------------------------------- watch
@app.command(epilog="""\b
Examples:
  scalelab watch train.jsonl --once
  scalelab watch train.jsonl --fit fit.json --params 1.3e10 --tokens 5e12 --html run.html --once
  scalelab watch train.jsonl --plan plan.json --fit fit.json --alerts alerts.jsonl --webhook http://host/hook
  scalelab watch tb_logs/ --format tensorboard --loss-name train/loss --once --json
""")
def watch(
    log: Annotated[str, typer.Argument(help="A log file (JSONL, CSV, Megatron text, W&B export), a TensorBoard folder, or an MLflow store (mlflow.db or a URI).", show_default=False, metavar="LOG")],
    fmt: Annotated[str, typer.Option("--format", help="auto, jsonl, csv, tsv, megatron, wandb, tensorboard, mlflow.")] = "auto",
    loss_name: Annotated[Optional[str], typer.Option("--loss-name", help="The metric to watch [default: the first of loss, train_loss, train/loss, lm_loss, ...].")] = None,
    step_col: Annotated[Optional[str], typer.Option("--step-col", help="Column of steps [default: step, _step, iteration, ...].")] = None,
    tokens_col: Annotated[Optional[str], typer.Option("--tokens-col", help="Column of tokens seen [default: tokens, consumed_tokens, ...].")] = None,
    time_col: Annotated[Optional[str], typer.Option("--time-col", help="Column of wall-clock times in seconds [default: wall_time, timestamp, ...].")] = None,
    run: Annotated[Optional[str], typer.Option("--run", help="MLflow: the run id or name [default: every run].")] = None,
    fit_path: Annotated[Optional[Path], typer.Option("--fit", help="A fit.json: the forecast the run is compared with.")] = None,
    plan_path: Annotated[Optional[Path], typer.Option("--plan", help="The JSON of `scalelab plan --json`: planned throughput, tokens, GPUs, price, cost.")] = None,
    params: Annotated[Optional[float], typer.Option("--params", help="The run's parameters N (for the forecast) [default: the plan's].")] = None,
    tokens: Annotated[Optional[float], typer.Option("--tokens", help="Tokens the run will train on (for the projection, ETA, cost) [default: the plan's].")] = None,
    budget_usd: Annotated[Optional[float], typer.Option("--budget-usd", help="Alert when the projected cost exceeds this [default: the plan's cost].")] = None,
    num_gpus: Annotated[Optional[float], typer.Option("--num-gpus", help="GPUs the run uses (for the cost burn) [default: the plan's].")] = None,
    price: Annotated[Optional[float], typer.Option("--price", help="USD per GPU-hour [default: the plan's].")] = None,
    once: Annotated[bool, typer.Option("--once", help="Analyse the log as it is and exit: 0 healthy, 1 alerts (for CI jobs).")] = False,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between polls when following a live log.")] = 5.0,
    duration: Annotated[Optional[float], typer.Option("--duration", help="Stop following after this many seconds [default: until Ctrl-C].")] = None,
    stall_minutes: Annotated[float, typer.Option("--stall-minutes", help="Alert when no new step arrives for this long.")] = 30.0,
    spike_z: Annotated[float, typer.Option("--spike-z", help="Spike threshold in robust sigmas of the local curve.")] = 6.0,
    spike_min_jump: Annotated[float, typer.Option("--spike-min-jump", help="Smallest relative jump called a spike.")] = 0.001,
    divergence_evals: Annotated[int, typer.Option("--divergence-evals", help="Rising evaluations in a row that make a divergence.")] = 4,
    throughput_drop: Annotated[float, typer.Option("--throughput-drop", help="Relative drop in tokens/s that raises an alert.")] = 0.05,
    alerts_path: Annotated[Optional[Path], typer.Option("--alerts", help="Append alerts to this JSON-lines file.")] = None,
    webhook: Annotated[Optional[str], typer.Option("--webhook", help="POST each alert as JSON to this URL.")] = None,
    html: Annotated[Optional[Path], typer.Option("--html", help="Write a static HTML snapshot (curve, forecast, alerts, throughput).")] = None,
    as_json: Json = False,
) -> None:
    """Watch a training run: spikes, divergence, NaN, stalls, throughput, ETA, cost burn and
    the projected final loss against its forecast; alerts as JSON lines and webhooks."""

    from rich.live import Live

    state = {"alerts": 0}

    def setup():
        from scalelab.io import load_fit, load_json
        from scalelab.watch.alerts import JsonlSink, WebhookSink
        from scalelab.watch.monitor import WatchSettings
        from scalelab.watch.session import plan_facts

        facts = plan_facts(load_json(plan_path, "plan")) if plan_path else {}
        fit = load_fit(fit_path) if fit_path else None
        if fit is not None and "tokens" not in fit.law_.inputs:
            raise ScalelabError(f"--fit {fit_path}: watch compares a run with a law of N and D (chinchilla); this fit is "
                                f"a {fit.law_.name} law; refit with scalelab fit RUNS --law chinchilla")
        for name, value, lo, hi in (("--params", params, 1, 1e15), ("--tokens", tokens, 1, 1e16), ("--budget-usd", budget_usd, 0, 1e13),
                                    ("--num-gpus", num_gpus, 1, 1e8), ("--price", price, 0, 1e4), ("--interval", interval, 0.01, 3600),
                                    ("--stall-minutes", stall_minutes, 0.01, 1e6), ("--spike-z", spike_z, 1, 1e3),
                                    ("--spike-min-jump", spike_min_jump, 0, 10), ("--throughput-drop", throughput_drop, 0.001, 0.99)):
            if value is not None and not (lo <= value <= hi):
                raise ScalelabError(f"{name} {value}: give a value in [{lo:g}, {hi:g}]")
        if fit is not None and not (params or facts.get("params")):
            raise ScalelabError("comparing with a forecast needs the run's size: give --params N (and --tokens D), or --plan plan.json")
        sinks = []
        if alerts_path:
            sinks.append(JsonlSink(alerts_path))
        hook = WebhookSink(webhook) if webhook else None
        if hook:
            sinks.append(hook)

        def settings_for(metric_names):
            from scalelab.runs.logs import MetricLog, ParseReport
            import pandas as pd

            name = MetricLog(pd.DataFrame(columns=["step", *metric_names]), ParseReport(log, fmt)).loss_name(loss_name)
            return WatchSettings(
                loss_name=name, params=params or facts.get("params"), final_tokens=tokens or facts.get("final_tokens"),
                fit=fit, planned_tokens_per_s=facts.get("planned_tokens_per_s"), num_gpus=num_gpus or facts.get("num_gpus"),
                price_usd_per_gpu_hour=price or facts.get("price_usd_per_gpu_hour"),
                budget_usd=budget_usd or facts.get("budget_usd"), stall_minutes=stall_minutes, spike_z=spike_z,
                spike_min_rel_jump=spike_min_jump, divergence_evals=divergence_evals, throughput_drop=throughput_drop)

        return settings_for, sinks, hook

    settings_for, sinks, hook = _run(setup)

    def on_alert(alert, run_name):
        from scalelab.watch.alerts import alert_record

        state["alerts"] += 1
        record = alert_record(alert, run_name)
        for sink in sinks:
            sink(record)
        if not as_json and not once:
            err.print(f"[red]alert[/red] {alert.kind}: {alert.message}", markup=True)

    roles = dict(step_col=step_col, tokens_col=tokens_col, time_col=time_col)

    def go():
        from scalelab.watch.session import watch_live, watch_once

        if once:
            return watch_once(log, fmt=fmt, settings_for=settings_for, run=run, roles=roles, on_alert=on_alert)
        if as_json or not sys.stdout.isatty():
            return [watch_live(log, fmt=fmt, settings_for=settings_for, roles=roles, interval_s=interval,
                               duration_s=duration, on_alert=on_alert)]
        with Live(Table(), console=out, refresh_per_second=2, transient=False) as live:
            return [watch_live(log, fmt=fmt, settings_for=settings_for, roles=roles, interval_s=interval,
                               duration_s=duration, on_alert=on_alert,
                               on_tick=lambda mon, rep: live.update(_watch_table(mon, rep)))]

    outcomes = _run(go)
    for sink in sinks:
        if hasattr(sink, "close"):
            sink.close()
    if hook is not None and hook.failed:
        err.print(f"[yellow]warning:[/yellow] {len(hook.failed)} webhook POSTs failed, e.g. {hook.failed[0]}", markup=True)
    if html is not None:
        from scalelab.io import atomic_write_text
        from scalelab.report.watch import snapshot_html

        _run(lambda: atomic_write_text(html, snapshot_html(outcomes[0].monitor)))
    total = sum(len(o.monitor.alerts) for o in outcomes)
    if as_json:
        _print_json({"runs": [{**o.monitor.status(), "parse": o.report} for o in outcomes], "alerts": total,
                     "webhook": None if hook is None else {"sent": hook.sent, "failed": len(hook.failed)}})
    else:
        for o in outcomes:
            out.print(_watch_table(o.monitor, o.report))
        out.print(f"{total} alert{'s' if total != 1 else ''}" + (f"; snapshot {html}" if html else ""))
    raise typer.Exit(1 if total else 0)


def _watch_table(mon, report) -> Table:
    st = mon.status()
    t = Table(title=f"{mon.name}", show_header=False, box=None, padding=(0, 1))
    t.add_column(style="bold")
    t.add_column()
    t.add_row("step", f"{st['step']:,}" if st["step"] is not None else "-")
    loss = st.get("loss")
    t.add_row(mon.settings.loss_name, "-" if loss is None else _num(loss))
    p = st.get("projection")
    if p:
        band = (f"{_num(p['forecast_lo'])}–{_num(p['forecast_hi'])}" if p["forecast_lo"] is not None else "no interval")
        verdict = "BEHIND" if p["behind"] else "on track"
        t.add_row("final loss", f"projected {_num(p['projected_final'])}, forecast {_num(p['forecast_final'])} "
                  f"({band}): {verdict} at {100 * p['fraction_done']:.0f}% of training")
    if st.get("tokens_per_s"):
        plan = f" (plan {st['planned_tokens_per_s']:,.0f})" if st.get("planned_tokens_per_s") else ""
        t.add_row("tokens/s", f"{st['tokens_per_s']:,.0f}{plan}")
    if st.get("eta_hours") is not None:
        t.add_row("ETA", f"{st['eta_hours']:,.1f} h ({100 * st['fraction_done']:.1f}% done)")
    if st.get("spent_usd") is not None:
        proj = f", projected ${st['projected_cost_usd']:,.0f}" if st.get("projected_cost_usd") is not None else ""
        budget = f" of ${st['budget_usd']:,.0f}" if st.get("budget_usd") else ""
        t.add_row("cost", f"${st['spent_usd']:,.0f} spent{proj}{budget}")
    parse = [f"{report.get('rows', 0)} rows"]
    for key, label in (("junk", "junk lines"), ("duplicates", "repeated steps"), ("out_of_order", "out of order"),
                       ("rotations", "rotations"), ("truncations", "truncations")):
        if report.get(key):
            parse.append(f"{report[key]} {label}")
    if report.get("partial_last_line") or report.get("pending_partial_line"):
        parse.append("a partial last line")
    if st.get("rewinds"):
        parse.append(f"{st['rewinds']} restarts")
    t.add_row("log", ", ".join(parse))
    alerts = mon.alerts
    t.add_row("alerts", "none" if not alerts else "")
    for a in alerts[-8:]:
        t.add_row(f"  {a.kind}", a.message)
    if len(alerts) > 8:
        t.add_row("", f"... {len(alerts) - 8} earlier (see --alerts / --json)")
    return t


# ----------------------------------------------------------------------- runs
runs_app = typer.Typer(add_completion=False, rich_markup_mode=None, no_args_is_help=True,
                       help="The run store: import logs, list, show and export runs.",
                       epilog="""\b
Examples:
  scalelab runs import train.jsonl --name my-run
  scalelab runs list
  scalelab runs show my-run
  scalelab runs export my-run --out my-run.csv
""")
app.add_typer(runs_app, name="runs")
StorePath = Annotated[Optional[Path], typer.Option("--store", help="The run store file [default: $SCALELAB_DB or ./scalelab.db].")]


@runs_app.command("import")
def runs_import(
    path: Annotated[str, typer.Argument(help="A log file, TensorBoard folder or MLflow store.", show_default=False, metavar="PATH")],
    fmt: Annotated[str, typer.Option("--format", help="auto, jsonl, csv, tsv, megatron, wandb, tensorboard, mlflow.")] = "auto",
    name: Annotated[Optional[str], typer.Option("--name", help="Run name [default: from the log].")] = None,
    run: Annotated[Optional[str], typer.Option("--run", help="MLflow: the run id or name [default: every run].")] = None,
    store: StorePath = None,
    as_json: Json = False,
) -> None:
    """Load a training log into the run store (every metric, every step)."""

    def go():
        import hashlib

        from scalelab.runs.logs import read_log
        from scalelab.runs.store import RunStore

        logs = read_log(path, fmt, run=run)
        done = []
        with RunStore(store) as st:
            for log in logs:
                run_name = name if name and len(logs) == 1 else (f"{name}/{log.name}" if name else log.name)
                rid = hashlib.sha1(f"{path}|{log.name}".encode()).hexdigest()[:12]
                st.add_run(run_name, run_id=rid, source=str(path), format=log.report.format,
                           provenance={"parse": log.report.to_dict()})
                f = log.frame
                rows = [(int(s), None if t != t else float(t), m, float(v), None if w != w else float(w))
                        for m in log.metric_names
                        for s, t, v, w in zip(f["step"], f["tokens"], f[m], f["wall_time"]) if v == v]
                res = st.log(rid, rows)
                done.append({"run_id": rid, "name": run_name, "points": len(rows), "inserted": res.inserted,
                             "replaced": res.replaced, "parse": log.report.summary()})
            where = str(st.path)
        return done, where

    done, where = _run(go)
    if as_json:
        _print_json({"store": where, "runs": done})
        return
    for d in done:
        out.print(f"{d['name']} ({d['run_id']}): {d['points']:,} points, {d['inserted']:,} new, {d['replaced']:,} replaced; "
                  f"{d['parse']}")
    out.print(f"store: {where}")


@runs_app.command("list")
def runs_list(store: StorePath = None, as_json: Json = False) -> None:
    """List the runs in the store."""

    def go():
        from scalelab.runs.store import RunStore

        with RunStore(store) as st:
            return st.runs()

    frame = _run(go)
    if as_json:
        _print_json(frame.to_dict(orient="records"))
        return
    t = Table("run_id", "name", "format", "points", "metrics", "last step", "updated")
    for r in frame.itertuples():
        t.add_row(r.run_id, r.name, r.format, f"{r.n_points:,}", str(r.n_metrics), "-" if r.last_step is None else f"{r.last_step:,}",
                  r.updated_utc)
    out.print(t)


@runs_app.command("show")
def runs_show(run: Annotated[str, typer.Argument(help="Run id or name.", show_default=False, metavar="RUN")],
              store: StorePath = None, as_json: Json = False) -> None:
    """Show a run: its source, provenance and metrics."""

    def go():
        from scalelab.runs.store import RunStore

        with RunStore(store) as st:
            return st.run(run)

    d = _run(go)
    if as_json:
        _print_json(d)
        return
    out.print(f"[bold]{d['name']}[/bold] ({d['run_id']}) from {d['source']} [{d['format']}], updated {d['updated_utc']}", markup=True)
    t = Table("metric", "points", "first step", "last step")
    for m, v in d["metrics"].items():
        t.add_row(m, f"{v['points']:,}", f"{v['first_step']:,}", f"{v['last_step']:,}")
    out.print(t)


@runs_app.command("export")
def runs_export(run: Annotated[str, typer.Argument(help="Run id or name.", show_default=False, metavar="RUN")],
                out_path: Annotated[Path, typer.Option("--out", help="File to write: .csv, .jsonl or .parquet (one row per step).")],
                store: StorePath = None) -> None:
    """Export a run's curves, one row per step and one column per metric."""

    def go():
        from scalelab.io import atomic_write_text
        from scalelab.runs.store import RunStore

        with RunStore(store) as st:
            frame = st.curves(run)
        suffix = out_path.suffix.lower()
        if suffix == ".csv":
            atomic_write_text(out_path, frame.to_csv(index=False))
        elif suffix in (".jsonl", ".ndjson"):
            atomic_write_text(out_path, frame.to_json(orient="records", lines=True))
        elif suffix == ".parquet":
            tmp = out_path.with_name(f".{out_path.name}.tmp")
            frame.to_parquet(tmp)
            tmp.replace(out_path)
        else:
            raise ScalelabError(f"--out {str(out_path)!r}: use a .csv, .jsonl or .parquet file")
        return len(frame)

    n = _run(go)
    out.print(f"wrote {n:,} rows to {out_path}")


# --------------------------------------------------------------------- ladder
ladder_app = typer.Typer(add_completion=False, rich_markup_mode=None, no_args_is_help=True,
                         help="Pilot ladders: design, train and fit a series of small GPT models on your corpus.",
                         epilog="""\b
Examples:
  scalelab ladder design --target-flops 1e17 --out ladder.toml
  scalelab ladder design --corpus my_corpus/ --sizes 2e4,4e4,8e4 --multiples 1,3 --dry-run
  scalelab ladder run ladder.toml
  scalelab ladder fit ladder.toml --plot ladder.png
""")
app.add_typer(ladder_app, name="ladder")


def _numbers_list(text, option):
    vals = _parse_numbers(text, option)
    return None if vals is None else [float(v) for v in vals]


@ladder_app.command("design", epilog="""\b
Examples:
  scalelab ladder design --target-flops 1e17 --budget-frac 0.01 --out ladder.toml
  scalelab ladder design --corpus data.jsonl --target-params 3e7 --target-tokens 6e8 --dry-run
  scalelab ladder design --sizes 2e4,4e4,8e4 --multiples 1,3 --out micro.toml
""")
def ladder_design(
    corpus: Annotated[Optional[Path], typer.Option("--corpus", help="Text file (.txt/.xz/.gz), folder of text files, JSONL or Parquet [default: the bundled Jane Austen novels].")] = None,
    target_flops: Annotated[Optional[float], typer.Option("--target-flops", help="The run to forecast, by training FLOPs (compute-optimal, 20 tokens/param).")] = None,
    target_params: Annotated[Optional[float], typer.Option("--target-params", help="The run to forecast: non-embedding parameters (with --target-tokens).")] = None,
    target_tokens: Annotated[Optional[float], typer.Option("--target-tokens", help="The run to forecast: training tokens.")] = None,
    budget_frac: Annotated[float, typer.Option("--budget-frac", help="Share of the target's FLOPs the whole ladder may spend.")] = 0.01,
    sizes: Annotated[Optional[str], typer.Option("--sizes", help="Explicit rung sizes (non-embedding params), comma-separated.")] = None,
    multiples: Annotated[Optional[str], typer.Option("--multiples", help="Token multiples (x 20 tokens per parameter) [default: 1,2,5,10].")] = None,
    tokenizer: Annotated[str, typer.Option("--tokenizer", help="byte (vocabulary 256) or bpe (trained on the corpus).")] = "byte",
    vocab_size: Annotated[int, typer.Option("--vocab-size", help="BPE vocabulary size.")] = 8192,
    seq_len: Annotated[int, typer.Option("--seq-len", help="Context length of the pilot models.")] = 256,
    seed: Seed = 0,
    out_path: Annotated[Optional[Path], typer.Option("--out", help="Write the plan (TOML).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and write nothing.")] = False,
    as_json: Json = False,
) -> None:
    """Design a ladder of pilot runs for a target run: sizes, tokens, learning rate and batch
    per rung, FLOPs, and the estimated time on this machine."""

    def go():
        from scalelab.data import bundled_path
        from scalelab.ladder.design import design, measure_speed

        src = corpus if corpus is not None else bundled_path("austen")
        if not Path(src).exists():
            raise ScalelabError(f"--corpus {str(src)!r} does not exist")
        shards = (out_path.with_name(out_path.stem + ".shards") if out_path else Path("ladder.shards"))
        corpus_ref = str(Path(src).resolve())
        plan = design(corpus_ref, str(shards.resolve() if out_path is None else shards.name), target_flops=target_flops,
                      target_params=target_params, target_tokens=target_tokens, budget_frac=budget_frac,
                      sizes=_numbers_list(sizes, "--sizes"), multiples=_numbers_list(multiples, "--multiples"),
                      tokenizer=tokenizer, vocab_size=vocab_size, seq_len=seq_len, seed=seed)
        plan.hardware = measure_speed(plan)
        if out_path is not None and not dry_run:
            from scalelab.io import atomic_write_text

            atomic_write_text(out_path, plan.to_toml())
        return plan

    plan = _run(go)
    est = plan.hardware
    if as_json:
        d = plan.to_dict()
        d["estimated_seconds"] = {r.name: est.seconds(r.flops) for r in plan.rungs}
        _print_json(d)
        return
    t = Table("rung", "layers x width", "params (non-emb.)", "tokens", "tokens/param", "FLOPs", "lr", "batch", "est. time")
    for r in [*plan.rungs, *([plan.target] if plan.target else [])]:
        secs = est.seconds(r.flops)
        t.add_row(r.name, f"{r.model.n_layers} x {r.model.d_model}", _big(r.params), _big(r.tokens), f"{r.tokens / r.params:.0f}",
                  f"{r.flops:.3g}", f"{r.lr:.2g}", f"{r.batch_tokens:,}", "-" if secs is None else _duration(secs))
    out.print(t)
    total = plan.ladder_flops
    share = f" = {100 * plan.cost_fraction:.2f}% of the target" if plan.target else ""
    out.print(f"ladder: {len(plan.rungs)} rungs, {total:.3g} FLOPs{share}; corpus {plan.corpus} ({plan.tokenizer})")
    if est.flops_per_s:
        out.print(f"estimated time on {est.device}: {_duration(est.seconds(total))} ({est.basis})")
    if out_path is not None and not dry_run:
        out.print(f"wrote {out_path}; next: scalelab ladder run {out_path}")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@ladder_app.command("run", epilog="""\b
Examples:
  scalelab ladder run ladder.toml
  scalelab ladder run ladder.toml --executor torchrun --nproc 8 --with-target
  scalelab ladder run ladder.toml --executor slurm --store runs.db
""")
def ladder_run(
    plan_path: Annotated[Path, typer.Argument(help="A ladder plan (scalelab ladder design --out).", show_default=False, metavar="LADDER_TOML")],
    executor: Annotated[str, typer.Option("--executor", help="local (in this process), gpus (one rung per GPU), torchrun (each rung on all GPUs), slurm (submitit).")] = "local",
    nproc: Annotated[Optional[int], typer.Option("--nproc", help="Processes per rung for torchrun [default: the GPU count, or 2 on CPU].")] = None,
    parallel: Annotated[str, typer.Option("--parallel", help="torchrun: ddp (a replica per GPU), fsdp (weights, gradients and optimizer sharded), or auto (FSDP only when a replica does not fit).")] = "auto",
    with_target: Annotated[bool, typer.Option("--with-target", help="Also train the target run (to check the forecast).")] = False,
    rung: Annotated[Optional[list[str]], typer.Option("--rung", help="Only these rungs (repeatable).")] = None,
    max_epochs: Annotated[float, typer.Option("--max-epochs", help="Refuse rungs that would read the training split more often than this.")] = 4.0,
    force: Annotated[bool, typer.Option("--force", help="Train rungs over --max-epochs anyway.")] = False,
    store: StorePath = None,
    as_json: Json = False,
) -> None:
    """Train the ladder's rungs with a live progress view; finished rungs are skipped and
    interrupted ones resume from their checkpoint. Each rung is recorded in the run store."""
    from rich.live import Live

    progress: dict[str, dict] = {}

    def view() -> Table:
        t = Table("rung", "status", "step", "train loss", "val bits/byte", "tokens/s", "ETA")
        for name, p in progress.items():
            rec = p.get("rec") or {}
            steps = f"{rec.get('step', 0):,}/{rec.get('total_steps', 0):,}" if rec else "-"
            eta = "-"
            if rec.get("tokens_per_s") and rec.get("total_steps"):
                left = (rec["total_steps"] - rec["step"]) * rec["tokens"] / max(rec["step"], 1)
                eta = _duration(left / rec["tokens_per_s"])
            bpb = p.get("result", {}).get("val_bpb") or rec.get("val_bpb")
            t.add_row(name, p["status"], steps, _num(rec.get("loss")) if rec else "-", "-" if bpb is None else f"{bpb:.4f}",
                      f"{rec['tokens_per_s']:,.0f}" if rec.get("tokens_per_s") else "-", eta)
        return t

    def go():
        from scalelab.ladder.run import run_ladder
        from scalelab.runs.store import default_store_path

        st = store if store is not None else default_store_path()

        def on_rung(name, status, result):
            progress.setdefault(name, {})["status"] = status
            if result:
                progress[name]["result"] = result

        def on_step(name, rec):
            progress.setdefault(name, {"status": "running"})["rec"] = rec

        if as_json or not sys.stdout.isatty():
            return run_ladder(plan_path, executor=executor, nproc=nproc, store=st, include_target=with_target,
                              only=rung, on_rung=on_rung, on_step=on_step, max_epochs=max_epochs, force=force,
                              parallel=parallel)
        with Live(view(), console=out, refresh_per_second=2) as live:
            return run_ladder(plan_path, executor=executor, nproc=nproc, store=st, include_target=with_target,
                              only=rung, on_rung=lambda *a: (on_rung(*a), live.update(view())),
                              on_step=lambda *a: (on_step(*a), live.update(view())), max_epochs=max_epochs, force=force,
                              parallel=parallel)

    results = _run(go)
    if as_json:
        _print_json(results)
        return
    out.print(view())
    out.print(f"{len(results)} rungs finished; next: scalelab ladder fit {plan_path}")


@ladder_app.command("fit", epilog="""\b
Examples:
  scalelab ladder fit ladder.toml
  scalelab ladder fit ladder.toml --plot ladder.png --out ladder-fit.json
""")
def ladder_fit(
    plan_path: Annotated[Path, typer.Argument(help="A ladder plan whose rungs have run.", show_default=False, metavar="LADDER_TOML")],
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Save a figure: the rungs, the fitted law, the forecast.")] = None,
    out_path: Annotated[Optional[Path], typer.Option("--out", help="Write the fit (a fit.json).")] = None,
    bootstrap: Bootstrap = 200,
    tie: Tie = None,
    as_json: Json = False,
) -> None:
    """Fit the law to the finished rungs (loss in bits per byte, N non-embedding) and forecast
    the target with its interval; compare with the target when it has been trained."""

    def go():
        import warnings as _w

        import pandas as pd

        from scalelab.fitting import Fit
        from scalelab.io import save_fit
        from scalelab.ladder.design import LadderPlan
        from scalelab.ladder.run import ladder_table
        from scalelab.runs import Runs

        plan = LadderPlan.from_toml(plan_path)
        rows = ladder_table(plan_path)
        rungs = [r for r in rows if r["role"] == "rung"]
        if len(rungs) < 5:
            raise ScalelabError(f"{len(rungs)} rungs have finished; a five-parameter law needs at least 5: "
                                f"run scalelab ladder run {plan_path}")
        runs = Runs.from_frame(pd.DataFrame(rungs), source=str(plan_path))
        fit = Fit(tie=tie or [], num_bootstrap=bootstrap).fit(runs)
        forecast = None
        if plan.target is not None:
            with _w.catch_warnings(record=True):
                _w.simplefilter("always")
                p = fit.predict(params=plan.target.params, tokens=plan.target.tokens)
            forecast = {"params": plan.target.params, "tokens": plan.target.tokens, "bits_per_byte": float(p.loss),
                        "lo80": float(p.intervals[0.8][0]), "hi80": float(p.intervals[0.8][1]),
                        "lo95": float(p.intervals[0.95][0]), "hi95": float(p.intervals[0.95][1]),
                        "extrapolation": float(p.extrapolation)}
            actual = [r for r in rows if r["role"] == "target"]
            if actual:
                forecast["actual_bits_per_byte"] = actual[0]["loss"]
                forecast["rel_error"] = forecast["bits_per_byte"] / actual[0]["loss"] - 1
            forecast["ladder_flops_fraction"] = plan.cost_fraction
        if plot is not None:
            from scalelab.report.plots import plot_ladder, save

            save(plot_ladder(fit, runs, forecast, actual=[r for r in rows if r["role"] == "target"]), plot)
        if out_path is not None:
            save_fit(fit, out_path)
        return fit, rows, forecast

    fit, rows, forecast = _run(go)
    if as_json:
        _print_json({"params": fit.params_, "objective": fit.result_.fun, "rungs": rows, "forecast": forecast,
                     "warnings": fit.warnings_})
        return
    t = Table("rung", "params", "tokens", "bits/byte", "time")
    for r in rows:
        t.add_row(r["run_id"] + (" (target)" if r["role"] == "target" else ""), _big(r["params"]), _big(r["tokens"]),
                  f"{r['loss']:.4f}", _duration(r["seconds"]))
    out.print(t)
    out.print("law: " + ", ".join(f"{k}={_num(v)}" for k, v in fit.params_.items()) + f"; objective {fit.result_.fun:.4g}")
    if forecast:
        line = (f"forecast for the target ({_big(forecast['params'])} params, {_big(forecast['tokens'])} tokens): "
                f"{forecast['bits_per_byte']:.4f} bits/byte (80% {forecast['lo80']:.4f}–{forecast['hi80']:.4f}), "
                f"ladder cost {100 * forecast['ladder_flops_fraction']:.2f}% of the target")
        if "actual_bits_per_byte" in forecast:
            line += f"; actual {forecast['actual_bits_per_byte']:.4f} ({100 * forecast['rel_error']:+.2f}%)"
        out.print(line)
    for p in (plot, out_path):
        if p is not None:
            out.print(f"wrote {p}")
