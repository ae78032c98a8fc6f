"""``scalelab tasks fit | predict | backtest``: downstream capability forecasts."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer
from rich.table import Table

from scalelab.cli.common import Json, all_of, app, count, out, print_json, run

tasks_app = typer.Typer(add_completion=False, rich_markup_mode=None, no_args_is_help=True,
                        help="Downstream capability: a task metric from a task loss, and from a run's size through a "
                             "fit of that loss.",
                        epilog="""\b
Examples:
  scalelab tasks fit runs.csv --x-col bpb_hellaswag_val --y-col acc_hellaswag_val --chance 0.25 --all-steps --out task.json
  scalelab tasks predict task.json --fit step1.json --params 13B --tokens 5T
  scalelab tasks backtest runs.csv --x-col bpb_hellaswag_val --y-col acc_hellaswag_val --train-max-flops 1e21
  scalelab tasks backtest runs.csv --x-col bpb_hellaswag_val --y-col acc_hellaswag_val --train-max-flops 1e21 --plot bt.png
""")
app.add_typer(tasks_app, name="tasks")

RunsArg = Annotated[Path, typer.Argument(help="Table of runs (a row per run or per checkpoint): .csv, .tsv, .jsonl or .parquet.", show_default=False, metavar="RUNS")]
XCol = Annotated[str, typer.Option("--x-col", help="The task loss column (task bits per byte, or an evaluation loss), or an expression over columns.", show_default=False)]
YCol = Annotated[str, typer.Option("--y-col", help="The task metric column: accuracy or error in [0, 1] (a metric in percent: 'acc / 100').", show_default=False)]
Where = Annotated[Optional[list[str]], typer.Option("--where", help="Keep only rows matching this pandas query; repeated, rows matching all.")]
Link = Annotated[str, typer.Option("--link", help="sigmoid (accuracy), exp (error, Gadre et al.), monotone, or auto (the one that best predicts the runs of lowest task loss when fitted on the rest).")]
Chance = Annotated[Optional[float], typer.Option("--chance", help="The metric of guessing (0.25 for four choices): the level a forecastable task must rise clear of.")]
Anchor = Annotated[bool, typer.Option("--anchor/--no-anchor", help="Fit the sigmoid through the perfect metric at zero task loss (true when x is the bits per byte of the correct answer, as the OLMo ladder assumes); --no-anchor for a general loss.")]
AllSteps = Annotated[bool, typer.Option("--all-steps", help="Fit the link on every row (checkpoints too), not each run's last.")]
SkipFirst = Annotated[float, typer.Option("--skip-first", help="With --all-steps: the share of each run's first checkpoints to leave out.")]
Smooth = Annotated[int, typer.Option("--smooth", help="With --all-steps: checkpoints to average (1: none).")]
BootstrapN = Annotated[int, typer.Option("--bootstrap", help="Bootstrap resamples over runs (a run's checkpoints stay together).")]
RunIdCol = Annotated[str, typer.Option("--run-id-col", help="Column naming the run of each row (checkpoints of a run share it); without it each row is a run.")]


@tasks_app.command("fit", epilog="""\b
Examples:
  scalelab tasks fit runs.csv --x-col bpb_hellaswag_val --y-col acc_hellaswag_val --chance 0.25 --all-steps --out task.json
  scalelab tasks fit runs.csv --x-col loss --y-col err_avg --link exp --json
""")
def tasks_fit(runs: RunsArg, x_col: XCol, y_col: YCol, where: Where = None, link: Link = "auto", chance: Chance = None,
              anchor: Anchor = True, all_steps: AllSteps = False, skip_first: SkipFirst = 0.1, smooth: Smooth = 5, bootstrap: BootstrapN = 200, run_id_col: RunIdCol = "run_id",
              out_path: Annotated[Optional[Path], typer.Option("--out", help="Write the link (a task.json).")] = None,
              plot: Annotated[Optional[Path], typer.Option("--plot", help="Save a figure of the points and the link with its 80% band.")] = None,
              as_json: Json = False) -> None:
    """Fit the link from a task loss to a task metric, with bootstrap intervals, and say
    whether the task can be forecast from these runs."""

    def go():
        from scalelab.io import check_writable
        from scalelab.report.plots import check_figure_path, save
        from scalelab.tasks.data import fit_points, read_task_points, save_task

        check_writable(out_path)
        check_figure_path(plot)
        pts = read_task_points(runs, x_col=x_col, y_col=y_col, where=all_of(where), all_steps=all_steps, run_id_col=run_id_col,
                               skip_first=skip_first, smooth=smooth)
        f = fit_points(pts, link=link, chance=chance, anchor=anchor, num_bootstrap=bootstrap)
        if plot is not None:
            from scalelab.report.plots import plot_task

            save(plot_task(f, pts), plot)
        if out_path is not None:
            save_task(f, out_path)
        return f

    f = run(go)
    d = f.to_dict()
    if as_json:
        print_json({k: v for k, v in d.items() if k not in ("ensemble", "residuals")})
        return
    out.print(f"{f.link_} link from {x_col} to {y_col}, fitted to {f.n_rows_} rows of {f.n_runs_} runs"
              + (f" (auto: mean |error| on the lowest-loss quarter {', '.join(f'{k} {v:.4f}' for k, v in f.scores_.items())})"
                 if f.scores_ else ""), markup=False)
    t = Table("param", "value", "95% interval")
    for k, v in f.params_.items():
        if isinstance(v, list):
            continue
        e = f.ensemble_.get(k)
        iv = "-" if e is None or not e.size else " .. ".join(f"{q:.4g}" for q in np.quantile(e, [0.025, 0.975]))
        t.add_row(k, f"{v:.4g}", iv)
    out.print(t)
    out.print("forecastable: " + ("yes" if f.forecastable_ else "NO: " + "; ".join(f.reasons_)), markup=False)
    for p in (out_path, plot):
        if p is not None:
            out.print(f"wrote {p}")


@tasks_app.command("predict", epilog="""\b
Examples:
  scalelab tasks predict task.json --fit step1.json --params 13B --tokens 5T
  scalelab tasks predict task.json --x 0.66 --json
""")
def tasks_predict(task_path: Annotated[Path, typer.Argument(help="A task.json (scalelab tasks fit --out).", show_default=False, metavar="TASK")],
                  fit_path: Annotated[Optional[Path], typer.Option("--fit", help="The step-1 fit.json of the task loss in N and D (scalelab fit --loss-col X_COL).")] = None,
                  params: Annotated[Optional[float], typer.Option("--params", parser=count, help="The run's parameters N (with --tokens and --fit).")] = None,
                  tokens: Annotated[Optional[float], typer.Option("--tokens", parser=count, help="The run's training tokens D.")] = None,
                  x: Annotated[Optional[float], typer.Option("--x", help="A task loss to read the metric at (instead of --fit/--params/--tokens).")] = None,
                  as_json: Json = False) -> None:
    """The task metric of a run (through the step-1 fit, both steps' uncertainty in the
    interval), or at a given task loss."""

    def go():
        from scalelab.errors import InputError
        from scalelab.io import load_fit
        from scalelab.tasks.data import chain_check, load_task

        task = load_task(task_path)
        if x is not None:
            if fit_path or params or tokens:
                raise InputError("give --x, or --fit with --params and --tokens, not both")
            return task.predict(x)
        if not (fit_path and params and tokens):
            raise InputError("give --fit step1.json with --params N and --tokens D (or --x TASK_LOSS)")
        step1 = load_fit(fit_path)
        chain_check(task, step1)
        return task.chain(step1, params=params, tokens=tokens)

    f = run(go)
    d = f.to_dict()
    if as_json:
        print_json(d)
        return
    t = Table("task loss x", "value", "80% interval", "95% interval", "forecastable")
    t.add_row("-" if f.x is None or not math.isfinite(f.x) else f"{f.x:.4g}", f"{f.value:.4f}",
              f"{d['lo80']:.4f} .. {d['hi80']:.4f}", f"{d['lo95']:.4f} .. {d['hi95']:.4f}",
              "yes" if f.forecastable else "NO")
    out.print(t)


@tasks_app.command("backtest", epilog="""\b
Examples:
  scalelab tasks backtest runs.csv --x-col bpb_hellaswag_val --y-col acc_hellaswag_val --train-max-flops 1e21
  scalelab tasks backtest runs.csv --x-col bpb_hellaswag_val --y-col acc_hellaswag_val --train-max-flops 1e21 --plot bt.png
""")
def tasks_backtest(runs: RunsArg, x_col: XCol, y_col: YCol,
                   train_max_flops: Annotated[float, typer.Option("--train-max-flops", parser=count, help="Fit both steps on the runs up to this compute (6ND); forecast the rest.", show_default=False)],
                   where: Where = None, link: Link = "auto", chance: Chance = None, anchor: Anchor = True,
                   all_steps: AllSteps = False, skip_first: SkipFirst = 0.1, smooth: Smooth = 5,
                   bootstrap: BootstrapN = 200, run_id_col: RunIdCol = "run_id",
                   params_col: Annotated[str, typer.Option("--params-col", help="Column of parameter counts N.")] = "params",
                   tokens_col: Annotated[str, typer.Option("--tokens-col", help="Column of training tokens D.")] = "tokens",
                   out_path: Annotated[Optional[Path], typer.Option("--out", help="Write the per-run table (CSV).")] = None,
                   plot: Annotated[Optional[Path], typer.Option("--plot", help="Save a figure of each held-out run's forecast, with its 80% interval, against its actual value.")] = None,
                   as_json: Json = False) -> None:
    """Both steps fitted on the smaller runs, the larger runs' metric forecast from their
    N and D: actual, forecast, error and whether the 80% interval held it."""

    def go():
        from scalelab.io import check_writable, write_table
        from scalelab.report.plots import check_figure_path
        from scalelab.tasks.data import task_backtest

        check_writable(out_path)
        check_figure_path(plot)
        table = task_backtest(runs, x_col=x_col, y_col=y_col, train_max_flops=train_max_flops, where=all_of(where),
                              all_steps=all_steps, link=link, chance=chance, anchor=anchor, num_bootstrap=bootstrap,
                              skip_first=skip_first, smooth=smooth,
                              run_id_col=run_id_col, params_col=params_col, tokens_col=tokens_col)
        if out_path is not None:
            write_table(table, out_path)
        if plot is not None:
            from scalelab.report.plots import plot_task_backtest, save

            save(plot_task_backtest(table, y_col), plot)
        return table

    table = run(go)
    if as_json:
        print_json(table.to_dict(orient="records"))
        return
    t = Table("run", "actual", "forecast", "error", "80% interval", "inside")
    for r in table.itertuples():
        t.add_row(r.run_id, f"{r.actual:.4f}", f"{r.predicted:.4f}", f"{100 * r.error:+.1f} pts",
                  f"{r.lo80:.4f} .. {r.hi80:.4f}", "yes" if r.in80 else "no")
    out.print(t)
    out.print(f"mean |error| {100 * table['error'].abs().mean():.2f} points over {len(table)} runs; "
              f"{100 * table['in80'].mean():.0f}% inside their 80% interval")
    for p in (out_path, plot):
        if p is not None:
            out.print(f"wrote {p}")
