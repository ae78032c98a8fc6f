"""``scalelab report``: one page for the user's own run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from scalelab.cli.common import Json, app, count, out, print_json, run


@app.command("report", epilog="""\b
Examples:
  scalelab report fit.json --params 70B --tokens 1.4T --out report.html
  scalelab report fit.json --plan plan.json --log train.jsonl --out report.html
  scalelab report fit.json --runs pilots.csv --plan plan.json --json
  scalelab report fit.json --plan plan.json --task hellaswag.json:hellaswag-bpb.json --out report.html
  scalelab report fit.json --params 70B --tokens 1.4T --context --out report.html
""")
def report(
    fit_path: Annotated[Path, typer.Argument(help="A fit.json (scalelab fit --out).", show_default=False, metavar="FIT")],
    out_path: Annotated[Optional[Path], typer.Option("--out", help="Write the page (self-contained HTML).")] = None,
    runs_path: Annotated[Optional[Path], typer.Option("--runs", help="The runs the fit was made from, to draw and backtest [default: the file the fit names, when it is unchanged].")] = None,
    params: Annotated[Optional[float], typer.Option("--params", parser=count, help="The target run's parameters N (with --tokens) [default: the plan's; with --log of a ladder rung, the rung's; else the target a ladder's fit was made for].")] = None,
    tokens: Annotated[Optional[float], typer.Option("--tokens", parser=count, help="The target run's training tokens D.")] = None,
    plan_path: Annotated[Optional[Path], typer.Option("--plan", help="A plan.json (scalelab plan --json): cost, time, memory, layout.")] = None,
    log: Annotated[Optional[str], typer.Option("--log", help="The run's log (any format scalelab watch reads), checked against the forecast and the plan.")] = None,
    log_format: Annotated[str, typer.Option("--format", help="The log's format: auto, jsonl, csv, tsv, text (a printed log), megatron, wandb, tensorboard, mlflow.")] = "auto",
    tokens_per_step: Annotated[Optional[float], typer.Option("--tokens-per-step", help="Tokens one optimizer step trains on, for a log that does not count its tokens: tokens = step x this.", show_default=False)] = None,
    task: Annotated[Optional[list[str]], typer.Option("--task", help="A task to forecast for the target: LINK.json:STEP1.json (scalelab tasks fit --out, and scalelab fit --loss-col of its task loss); repeatable.")] = None,
    context: Annotated[bool, typer.Option("--context", help="Add what the next decades of compute buy under the fit (loss, share of the reducible loss, cost) and the target's place in the public record: the frontier compute trend with the run marked, the field's MMLU against compute with its backtest (Epoch AI's snapshot).")] = False,
    no_backtest: Annotated[bool, typer.Option("--no-backtest", help="Skip the held-out backtest (a refit below a tenth of the largest compute).")] = False,
    as_json: Json = False,
) -> None:
    """One page: what the run will deliver (the fit with the target marked, the forecast and
    its intervals, how far it extrapolates, the backtest), what it will cost (the plan),
    and whether it is on track (the log against its forecast), with a one-line verdict."""

    def go():
        from scalelab.io import atomic_write_text, check_writable
        from scalelab.report.run import build

        check_writable(out_path)
        rep = build(fit_path, runs_path=runs_path, params=params, tokens=tokens, plan_path=plan_path, log=log,
                    log_format=log_format, backtest=not no_backtest, tasks=task, context=context,
                    tokens_per_step=tokens_per_step)
        if out_path is not None:
            atomic_write_text(out_path, rep.html())
        return rep

    rep = run(go)
    if as_json:
        print_json(rep.to_dict())
        return
    out.print(rep.verdict(), markup=False)  # the warnings were printed as they arose; the page puts each by its section
    if out_path is not None:
        out.print(f"wrote {out_path}")
    else:
        out.print("(give --out report.html for the page)")
