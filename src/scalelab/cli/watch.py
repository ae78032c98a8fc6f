"""``scalelab watch``."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from scalelab.cli.common import Json, app, count, err, num, out, print_json, run


@app.command(epilog="""\b
Examples:
  scalelab watch train.jsonl --once
  scalelab watch train.jsonl --fit fit.json --params 1.3e10 --tokens 5e12 --html run.html --once
  scalelab watch train.jsonl --plan plan.json --fit fit.json --alerts alerts.jsonl --webhook http://host/hook
  scalelab watch tb_logs/ --format tensorboard --loss-name train/loss --once --json
  scalelab watch nanogpt.log --tokens-per-step 491520 --once
""")
def watch(
    log: Annotated[str, typer.Argument(help="A log file (JSONL, CSV, a printed training log, trainer_state.json, W&B export), a TensorBoard folder, or an MLflow store (mlflow.db or a URI).", show_default=False, metavar="LOG")],
    fmt: Annotated[str, typer.Option("--format", help="auto, jsonl, csv, tsv, text (a printed log), megatron, wandb, tensorboard, mlflow.")] = "auto",
    loss_name: Annotated[Optional[str], typer.Option("--loss-name", help="The metric the detectors watch [default: the first of loss, train_loss, train/loss, lm_loss, ...]. A ladder's fit is judged on its own metric (val_bpb) beside it; give that name to watch it alone.")] = None,
    step_col: Annotated[Optional[str], typer.Option("--step-col", help="Column of steps [default: step, _step, iteration, ...].")] = None,
    tokens_col: Annotated[Optional[str], typer.Option("--tokens-col", help="Column of tokens seen [default: tokens, consumed_tokens, ...].")] = None,
    tokens_per_step: Annotated[Optional[float], typer.Option("--tokens-per-step", help="Tokens one optimizer step trains on (global batch x sequence length), for a log that does not count its tokens: tokens = step x this.", show_default=False)] = None,
    time_col: Annotated[Optional[str], typer.Option("--time-col", help="Column of wall-clock times in seconds [default: wall_time, timestamp, ...].")] = None,
    mlflow_run: Annotated[Optional[str], typer.Option("--run", help="MLflow: the run id or name [default: every run; when following, the newest].")] = None,
    fit_path: Annotated[Optional[Path], typer.Option("--fit", help="A fit.json: the forecast the run is compared with.")] = None,
    plan_path: Annotated[Optional[Path], typer.Option("--plan", help="The JSON of `scalelab plan --json`: planned throughput, tokens, GPUs, price, cost.")] = None,
    params: Annotated[Optional[float], typer.Option("--params", parser=count, help="The run's parameters N (for the forecast) [default: the plan's; for a ladder rung's log, the rung's; else the target a ladder's fit was made for].")] = None,
    tokens: Annotated[Optional[float], typer.Option("--tokens", parser=count, help="Tokens the run will train on (for the projection, ETA, cost) [default: the plan's; for a ladder rung's log, the rung's; else the ladder fit's target].")] = None,
    budget_usd: Annotated[Optional[float], typer.Option("--budget-usd", parser=count, help="Alert when the projected cost exceeds this [default: the plan's cost].")] = None,
    num_gpus: Annotated[Optional[float], typer.Option("--num-gpus", help="GPUs the run uses (for the cost burn) [default: the plan's].")] = None,
    price: Annotated[Optional[float], typer.Option("--price", help="USD per GPU-hour [default: the plan's].")] = None,
    once: Annotated[bool, typer.Option("--once", help="Analyse the log as it is and exit: 0 healthy, 1 alerts (for CI jobs).")] = False,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between polls when following a live log.")] = 5.0,
    duration: Annotated[Optional[float], typer.Option("--duration", help="Stop following after this many seconds [default: until Ctrl-C].")] = None,
    stall_minutes: Annotated[Optional[float], typer.Option("--stall-minutes", help="Alert when no new step arrives for this long [default: from the log's cadence: 2x its median step interval, or 1.2x its longest recent one, plus a minute; 30 until ten steps are seen].", show_default=False)] = None,
    spike_z: Annotated[float, typer.Option("--spike-z", help="Spike threshold in robust sigmas of the local curve.")] = 6.0,
    spike_min_jump: Annotated[float, typer.Option("--spike-min-jump", help="Smallest relative jump called a spike.")] = 0.001,
    divergence_evals: Annotated[int, typer.Option("--divergence-evals", help="Rising evaluations in a row that make a divergence.")] = 4,
    burn_in_steps: Annotated[int, typer.Option("--burn-in-steps", help="No spike or divergence alerts before this step (warm-up and the first fall of the loss).")] = 200,
    throughput_drop: Annotated[float, typer.Option("--throughput-drop", help="Relative drop in tokens/s that raises an alert.")] = 0.05,
    alerts_path: Annotated[Optional[Path], typer.Option("--alerts", help="Append alerts to this JSON-lines file (one already in it, same run, kind and step, is not written or posted again).")] = None,
    webhook: Annotated[Optional[str], typer.Option("--webhook", help="POST each alert as JSON to this URL.")] = None,
    html: Annotated[Optional[Path], typer.Option("--html", help="Write a static HTML snapshot (curve, forecast, alerts, throughput).")] = None,
    as_json: Json = False,
) -> None:
    """Watch a training run: spikes, divergence, NaN, stalls, throughput, ETA, cost burn and
    the projected final loss against its forecast; alerts as JSON lines and webhooks."""

    def setup():
        from scalelab.io import load_fit, load_plan
        from scalelab.watch import WatchSettings
        from scalelab.watch.alerts import AlertSinks

        fit = None if fit_path is None else load_fit(fit_path)
        size = dict(params=params, final_tokens=tokens)
        if plan_path is None and params is None and tokens is None:
            from scalelab.ladder.fit import own_size

            own = own_size(log, fit)  # a ladder rung's log: its own length, and the law at its own size
            if own is not None:
                size = own[0]
                if own[1]:
                    err.print(f"note: {own[1]}", markup=False)
        settings = WatchSettings.from_plan(
            None if plan_path is None else load_plan(plan_path), loss_name=loss_name, **size,
            fit=fit, num_gpus=num_gpus,
            price_usd_per_gpu_hour=price, budget_usd=budget_usd, stall_minutes=stall_minutes, spike_z=spike_z,
            spike_min_rel_jump=spike_min_jump, divergence_evals=divergence_evals, throughput_drop=throughput_drop,
            burn_in_steps=burn_in_steps)
        return settings, AlertSinks(jsonl=alerts_path, webhook=webhook)

    settings, sinks = run(setup)
    roles = dict(step_col=step_col, tokens_col=tokens_col, time_col=time_col, tokens_per_step=tokens_per_step)

    def on_alert(alert, run_name):
        sinks(alert, run_name)
        if not as_json and not once:
            err.print(f"[red]alert[/red] {alert.kind}: {escape(alert.message)}", markup=True)

    def go():
        from rich.live import Live

        from scalelab.watch.session import watch_live, watch_once

        try:
            if once:
                if as_json or not sys.stderr.isatty():
                    return watch_once(log, settings, fmt=fmt, run=mlflow_run, roles=roles, on_alert=on_alert)
                with err.status(f"reading and checking {log} ...", spinner="dots"):  # a long log takes seconds
                    return watch_once(log, settings, fmt=fmt, run=mlflow_run, roles=roles, on_alert=on_alert)
            live = dict(fmt=fmt, run=mlflow_run, roles=roles, interval_s=interval, duration_s=duration, on_alert=on_alert)
            waiting = f"waiting for {log} to appear (Ctrl-C to stop){_near(log)}" \
                if "://" not in log and not Path(log).exists() else f"reading {log} ..."
            if as_json or not sys.stdout.isatty():
                if waiting.startswith("waiting"):
                    err.print(waiting, markup=False)
                return [watch_live(log, settings, **live)]
            with Live(Text(waiting), console=out, refresh_per_second=2, transient=False) as view:
                return [watch_live(log, settings, on_tick=lambda mon, rep: view.update(_watch_table(mon, rep)), **live)]
        finally:
            sinks.close()

    outcomes = run(go)
    hook = sinks.webhook
    if hook is not None and hook.failed:
        err.print(f"[yellow]warning:[/yellow] {len(hook.failed)} webhook POSTs failed, e.g. {escape(hook.failed[0])}",
                  markup=True)
    if html is not None:
        from scalelab.io import atomic_write_text
        from scalelab.report.watch import snapshot_html

        run(lambda: atomic_write_text(html, snapshot_html(outcomes[0].monitor)))
    total = sum(len(o.monitor.alerts) for o in outcomes)
    if as_json:
        print_json({"runs": [{**o.monitor.status().to_dict(), "parse": o.report} for o in outcomes], "alerts": total,
                    "webhook": None if hook is None else {"sent": hook.sent, "failed": len(hook.failed)}})
    else:
        for o in outcomes:
            out.print(_watch_table(o.monitor, o.report))
        out.print(f"{total} alert{'s' if total != 1 else ''}" + (f"; snapshot {html}" if html else ""))
    raise typer.Exit(1 if total else 0)


def _watch_table(mon, report) -> Table:
    st = mon.status()
    t = Table(title=mon.name, show_header=False, box=None, padding=(0, 1))
    t.add_column(style="bold")
    t.add_column()
    t.add_row("step", "-" if st.step is None else f"{st.step:,}")
    finite = st.loss is None or math.isfinite(st.loss)
    t.add_row(mon.settings.loss_name or "loss", num(st.loss) if finite else "NaN (not finite)")
    if st.forecast_metric:
        t.add_row(st.forecast_metric, "-" if st.forecast_value is None else num(st.forecast_value))
    p = st.projection
    if p:
        band = "no interval" if p.band is None else f"{num(p.band.lo)}–{num(p.band.hi)}"
        verdict = "NOT FINITE: the run has diverged" if not finite else p.standing()
        spread = f" ± {p.projected_spread:.2g}" if p.projected_spread > 0 else ""
        t.add_row("final loss", f"{'final' if p.finished else 'projected'} {num(p.projected_final)}{spread}, forecast "
                  f"{num(p.forecast.loss)} ({band}): {verdict}")
    elif st.unjudged:
        t.add_row("final loss", st.unjudged)
    if st.tokens_per_s:
        plan = f" (plan {st.planned_tokens_per_s:,.0f})" if st.planned_tokens_per_s else ""
        t.add_row("tokens/s", f"{st.tokens_per_s:,.0f}{plan}")
    if st.eta() is not None:
        t.add_row("ETA", st.eta())
    if st.spent_usd is not None:
        proj = f", projected ${st.projected_cost_usd:,.0f}" if st.projected_cost_usd is not None else ""
        budget = f" of ${st.budget_usd:,.0f}" if st.budget_usd else ""
        t.add_row("cost", f"${st.spent_usd:,.0f} spent{proj}{budget}")
    parse = [f"{report.get('rows', 0):,} row{'s' * (report.get('rows', 0) != 1)}"]
    for key, label in (("junk", "junk line{s}"), ("duplicates", "repeated step{s}"), ("out_of_order", "out of order"),
                       ("superseded", "row{s} of abandoned stretches dropped"), ("rotations", "rotation{s}"),
                       ("truncations", "truncation{s}")):
        if report.get(key):
            parse.append(f"{report[key]:,} {label.format(s='' if report[key] == 1 else 's')}")
    if report.get("partial_last_line") or report.get("pending_partial_line"):
        parse.append("a partial last line")
    if st.rewinds:
        parse.append(f"{st.rewinds} restart{'s' if st.rewinds > 1 else ''}")
    parse += report.get("notes") or []
    t.add_row("log", ", ".join(parse))
    t.add_row("alerts", "none" if not st.alerts else "")
    for a in st.alerts[-8:]:
        t.add_row(f"  {a.kind}", a.message)
    if len(st.alerts) > 8:
        t.add_row("", f"... {len(st.alerts) - 8} earlier (see --alerts / --json)")
    return t


def _near(path: str) -> str:
    """For a log that is not there yet: the closest existing path, in case it is a typo (a
    rung's folder is named by its actual size, 19.9k-2x for --sizes 2e4)."""
    import difflib

    parts = Path(path).parts
    for depth in range(len(parts) - 1, 0, -1):  # the deepest folder that exists
        base = Path(*parts[:depth])
        if base.is_dir():
            pattern = "*/" * (len(parts) - depth - 1) + "*"
            try:
                names = [str(f) for _, f in zip(range(2000), base.glob(pattern))]
            except OSError:
                return ""
            close = difflib.get_close_matches(str(Path(path)), names, n=1, cutoff=0.6)
            return f"; did you mean {close[0]!r}?" if close else ""
    return ""
