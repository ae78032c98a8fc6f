"""``scalelab returns``: what each further decade of compute buys under a fitted law."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from scalelab.cli.common import Goodput, Gpu, Json, Mfu, Price, amount, app, big, count, out, print_json, run


@app.command("returns", epilog="""\b
Examples:
  scalelab returns fit.json --compute 1e24 --decades 3
  scalelab returns fit.json --compute 1e22 --decades 4 --plot returns.png
  scalelab returns fit.json --compute 1e24 --gpu h100-sxm --price 2.5 --task task.json --json
  scalelab returns fit.json --target-loss 1.95 --num-gpus 4096
""")
def returns_cmd(
    fit_path: Annotated[Path, typer.Argument(help="A fit.json of a law of N and D (scalelab fit --out).", show_default=False, metavar="FIT")],
    compute: Annotated[Optional[float], typer.Option("--compute", parser=count, help="The compute to start from, FLOPs (the compute-optimal run there, then each decade beyond).")] = None,
    decades: Annotated[int, typer.Option("--decades", help="Tenfold steps of compute beyond --compute.")] = 3,
    target_loss: Annotated[Optional[float], typer.Option("--target-loss", help="The inverse: the compute, N, D and cost that reach this loss.")] = None,
    gpu: Gpu = "h100-sxm",
    num_gpus: Annotated[Optional[float], typer.Option("--num-gpus", parser=count, help="Accelerators the runs would use: adds each run's wall-clock days.", show_default=False)] = None,
    price: Price = None,
    mfu: Mfu = None,
    goodput: Goodput = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Save a figure of the loss per decade (with its interval and the floor) and the cost of 0.01 of loss.")] = None,
    task_path: Annotated[Optional[Path], typer.Option("--task", help="A task link (scalelab tasks fit --out) whose task loss is this fit's loss: the metric per decade.")] = None,
    as_json: Json = False,
) -> None:
    """Diminishing returns: for each decade of compute beyond --compute, the compute-optimal
    run's loss and interval, the share of the reducible loss the decade removes, the loss it
    buys, and what it costs (per run, per decade, per 0.01 of loss); or, with --target-loss,
    the run that reaches a loss, and whether the law's floor puts it out of reach."""

    seen = {}

    def go():
        from scalelab.errors import InputError
        from scalelab.planning.returns import compute_for_loss, returns
        from scalelab.io import load_fit
        from scalelab.planning import get_accelerator

        from scalelab.report.plots import check_figure_path

        check_figure_path(plot)
        if (compute is None) == (target_loss is None):
            both = "not both: " if compute is not None else ""
            raise InputError(f"give {both}--compute C (returns per decade from C) or --target-loss L (the run that reaches L)")
        if plot is not None and target_loss is not None:
            raise InputError("--plot draws the decades of --compute; --target-loss has none to draw")
        fit = load_fit(fit_path)
        seen["unit"] = fit.unit
        acc = get_accelerator(gpu).with_overrides(price_usd_per_hour=price, mfu=mfu)
        if target_loss is not None:
            return compute_for_loss(fit, target_loss, accelerator=acc, mfu=mfu, goodput=goodput, num_gpus=num_gpus)
        task = None
        if task_path is not None:
            from scalelab.tasks.data import chain_check, load_task

            task = load_task(task_path)
            chain_check(task, fit)
        result = returns(fit, compute, decades=decades, accelerator=acc, mfu=mfu, goodput=goodput, task=task,
                         num_gpus=num_gpus)
        if plot is not None:
            from scalelab.report.plots import plot_returns, save

            save(plot_returns(result, fit.params_.get("E"), unit=fit.unit), plot)
        return result

    result = run(go)
    if as_json:
        print_json(result if isinstance(result, dict) else [d.to_dict() for d in result])
        return
    if isinstance(result, dict):
        r = result
        lo80, hi80 = r["flops_lo80"], r["flops_hi80"]
        span = f" (80%: {lo80:.3g}–{hi80:.3g})" if lo80 and hi80 else \
            f" (80%: from {lo80:.3g}; the interval's upper edge never comes down to it)" if lo80 else ""
        cost = "" if r["cost_usd"] is None else f", ${amount(r['cost_usd'])}"
        days = "" if r.get("days") is None else f"; {r['days']:,.1f} days on {r['num_gpus']:,.0f} GPUs" + (
            f" (80%: {r['days_lo80']:,.1f}–{r['days_hi80']:,.1f})" if r["days_lo80"] and r["days_hi80"] else
            f" (80%: from {r['days_lo80']:,.1f})" if r["days_lo80"] else "")
        out.print(f"loss {r['target_loss']:g} (floor E = {r['floor_E']:.4g}): {r['flops']:.3g} FLOPs{span}, "
                  f"N = {big(r['params'])}, D = {big(r['tokens'])}; {amount(r['gpu_hours'])} GPU-hours on "
                  f"{r['accelerator']}{cost}{days}", markup=False)
        return
    cols = ["compute", "N", "D", "loss (80%)", "reducible", "removed", "gain", "GPU-hours",
            *([f"days on {num_gpus:,.0f}"] if num_gpus else []), "cost", "decade cost", "$ per 0.01"]
    if result[0].task is not None:
        cols.append("task (80%)")
    t = Table(*cols)
    for d in result:
        row = [f"{d.flops:.3g}", big(d.params), big(d.tokens), f"{d.loss:.4f} ({d.lo80:.3f}–{d.hi80:.3f})",
               f"{d.reducible:.4f}", "-" if d.removed is None else f"{100 * d.removed:.1f}%",
               "-" if d.gain is None else f"{d.gain:.4f}", amount(d.gpu_hours),
               *([amount(d.days)] if num_gpus else []),
               "-" if d.cost_usd is None else f"${amount(d.cost_usd)}",
               "-" if d.decade_cost_usd is None else f"${amount(d.decade_cost_usd)}",
               "-" if d.usd_per_centinat is None else f"${amount(d.usd_per_centinat)}"]
        if d.task is not None:
            row.append(f"{100 * d.task['value']:.1f} ({100 * d.task['lo80']:.1f}–{100 * d.task['hi80']:.1f})")
        t.add_row(*row)
    out.print(t)
    unit = f"loss in {seen['unit']}; " if seen.get("unit") else ""
    out.print(f"{unit}'$ per 0.01': the decade's cost per 0.01 of loss it removes", markup=False)
    if plot is not None:
        out.print(f"wrote {plot}")
