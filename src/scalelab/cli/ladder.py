"""``scalelab ladder design | run | fit``: pilot ladders."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from scalelab.errors import ScalelabError
from scalelab.cli.common import (
    Bootstrap,
    Fix,
    Json,
    StorePath,
    Tie,
    app,
    big,
    count,
    duration,
    err,
    interval,
    num,
    out,
    parse_numbers,
    print_json,
    run,
)

PROGRESS_EVERY_S = 60.0  # a progress line per running rung when the output is a log, not a terminal
PREP_SAID_SECONDS = 10.0  # design mentions preparing the tokens when it takes longer than this

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
PlanArg = Annotated[Path, typer.Argument(help="A ladder plan (scalelab ladder design --out).", show_default=False, metavar="LADDER_TOML")]


@ladder_app.command("design", epilog="""\b
Examples:
  scalelab ladder design --target-flops 1e17 --budget-frac 0.01 --out ladder.toml
  scalelab ladder design --corpus data.jsonl --target-params 3e7 --target-tokens 6e8 --dry-run
  scalelab ladder design --sizes 2e4,4e4,8e4 --multiples 1,3 --out micro.toml
""")
def ladder_design(
    corpus: Annotated[Optional[Path], typer.Option("--corpus", help="Text file (.txt/.xz/.gz), folder of text files, JSONL, CSV, Parquet or Arrow [default: the bundled Jane Austen novels].")] = None,
    target_flops: Annotated[Optional[float], typer.Option("--target-flops", parser=count, help="The run to forecast, by training FLOPs (compute-optimal, 20 tokens/param).")] = None,
    target_params: Annotated[Optional[float], typer.Option("--target-params", parser=count, help="The run to forecast: non-embedding parameters (with --target-tokens).")] = None,
    target_tokens: Annotated[Optional[float], typer.Option("--target-tokens", parser=count, help="The run to forecast: training tokens.")] = None,
    budget_frac: Annotated[float, typer.Option("--budget-frac", help="Share of the target's FLOPs the whole ladder may spend.")] = 0.01,
    sizes: Annotated[Optional[str], typer.Option("--sizes", help="Explicit rung sizes (non-embedding params), comma-separated.")] = None,
    multiples: Annotated[Optional[str], typer.Option("--multiples", help="Token multiples (x 20 tokens per parameter) [default: 1,2,5,10; in a ladder chosen from the budget, the largest size at half of each].")] = None,
    tokenizer: Annotated[str, typer.Option("--tokenizer", help="byte (vocabulary 256) or bpe (trained on the corpus).")] = "byte",
    vocab_size: Annotated[int, typer.Option("--vocab-size", help="BPE vocabulary size.")] = 8192,
    seq_len: Annotated[int, typer.Option("--seq-len", help="Context length of the pilot models.")] = 256,
    text_col: Annotated[str, typer.Option("--text-col", help="The field holding the text in a JSONL, CSV, Parquet or Arrow corpus (a nested one by its path: doc.text).")] = "text",
    schedule: Annotated[str, typer.Option("--schedule", help="wsd: one run per size, cooled down at each length from its checkpoints (Hägele et al. 2024); cosine: every rung from scratch.")] = "wsd",
    rung_layers: Annotated[Optional[str], typer.Option("--rung-layers", help="Depth of every rung: a number of layers, or 'target' for the target's depth [default: each rung's depth follows its size].")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the rungs: the corpus's train/validation split, the models' initialisation and the data order.")] = 0,
    out_path: Annotated[Optional[Path], typer.Option("--out", help="Write the plan (TOML).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and write nothing.")] = False,
    as_json: Json = False,
) -> None:
    """Design a ladder of pilot runs for a target run: sizes, tokens, learning rate and batch
    per rung, FLOPs, and the estimated time on this machine."""

    def go():
        from scalelab.io import check_writable
        from scalelab.ladder.design import design, measure_speed, resolve_corpus, shards_for

        if not dry_run:
            check_writable(out_path)
        plan = design(resolve_corpus(corpus, text_col), shards_for(out_path), target_flops=target_flops,
                      target_params=target_params, target_tokens=target_tokens, budget_frac=budget_frac,
                      sizes=parse_numbers(sizes, "--sizes"), multiples=parse_numbers(multiples, "--multiples"),
                      tokenizer=tokenizer, vocab_size=vocab_size, seq_len=seq_len, seed=seed, schedule=schedule,
                      rung_layers=_layers(rung_layers), text_col=text_col)
        if out_path is not None and not dry_run:
            from scalelab.ladder.run import check_replace

            check_replace(out_path, plan)
        plan.hardware = measure_speed(plan)
        if out_path is not None and not dry_run:
            from scalelab.io import atomic_write_text

            atomic_write_text(out_path, plan.to_toml())
        return plan

    plan = run(go)
    from scalelab.ladder.design import MAX_RUNG_FRACTION, preparation_seconds

    prep = preparation_seconds(plan)
    speed = plan.hardware
    if as_json:
        print_json(plan.to_dict() | {"estimated_seconds": {r.name: speed.seconds(r.cost, r.params)
                                                           for r in plan.all_rungs},
                                     "estimated_preparation_seconds": prep})
        return
    t = Table("rung", "layers x width / ffn", "params (non-emb.)", "tokens", "tokens/param", "FLOPs", "branch of", "lr",
              "batch", "est. time")
    for r in plan.all_rungs:
        secs = speed.seconds(r.cost, r.params)
        t.add_row(r.name, f"{r.model.n_layers} x {r.model.d_model} / {r.model.d_ff}", big(r.params), big(r.tokens), f"{r.tokens / r.params:.0f}",
                  f"{r.cost:.3g}", r.trunk or "-", f"{r.lr:.2g}", f"{r.batch_tokens:,}",
                  "-" if secs is None else duration(secs))
    out.print(t)
    share = f" = {100 * plan.cost_fraction:.2f}% of the target" if plan.target else ""
    out.print(f"ladder: {len(plan.rungs)} rung{'s' * (len(plan.rungs) != 1)}, {plan.ladder_flops:.3g} FLOPs{share}; corpus {plan.corpus} ({plan.tokenizer})")
    if plan.target and plan.budget_frac and sizes is None and plan.cost_fraction < 0.8 * plan.budget_frac:
        out.print(f"--budget-frac {plan.budget_frac:g} is not all spent: no rung may use more than a "
                  f"{round(1 / MAX_RUNG_FRACTION)}th of the target's FLOPs")
    if plan.target:
        out.print(f"the forecast extrapolates {plan.params_extrapolation:.1f}x in parameters and "
                  f"{plan.flops_extrapolation:.0f}x in FLOPs beyond the largest rung")
    if speed.flops_per_s:
        total = sum(speed.seconds(r.cost, r.params) for r in plan.rungs)
        out.print(f"estimated time on {speed.device}: {duration(total)} for the ladder ({speed.basis})")
    else:
        out.print(f"no time estimate: {speed.device}")
    if prep is not None and prep >= PREP_SAID_SECONDS:
        out.print(f"preparing its tokens ({plan.tokenizer}): about {duration(prep)}, once, before the first rung "
                  "(measured on the corpus's first MB)")
    if out_path is not None and not dry_run:
        out.print(f"wrote {out_path}; next: scalelab ladder run {out_path}")


@ladder_app.command("run", epilog="""\b
Examples:
  scalelab ladder run ladder.toml
  scalelab ladder run ladder.toml --executor torchrun --nproc 8 --with-target
  scalelab ladder run ladder.toml --executor slurm --store runs.db
""")
def ladder_run(
    plan_path: PlanArg,
    executor: Annotated[str, typer.Option("--executor", help="local (in this process), gpus (one rung per GPU), torchrun (each rung on all GPUs), slurm (submitit).")] = "local",
    nproc: Annotated[Optional[int], typer.Option("--nproc", help="Processes per rung for torchrun [default: the GPU count, or 2 on CPU].")] = None,
    parallel: Annotated[str, typer.Option("--parallel", help="torchrun: ddp (a replica per GPU), fsdp (weights, gradients and optimizer sharded), or auto (FSDP only when a replica does not fit).")] = "auto",
    with_target: Annotated[bool, typer.Option("--with-target", help="Also train the target run, after the rungs (to check the forecast).")] = False,
    rung: Annotated[Optional[list[str]], typer.Option("--rung", help="Only these rungs (repeatable).")] = None,
    max_epochs: Annotated[float, typer.Option("--max-epochs", help="Refuse rungs that would read the training split more often than this.")] = 4.0,
    force: Annotated[bool, typer.Option("--force", help="Train rungs over --max-epochs anyway.")] = False,
    stop_on: Annotated[Optional[str], typer.Option("--stop-on", help="A rung stops itself on these watch alerts, comma-separated (nonfinite, divergence, spike); none by default.")] = None,
    store: StorePath = None,
    as_json: Json = False,
) -> None:
    """Train the ladder's rungs with a live progress view; finished rungs are skipped and
    interrupted ones resume from their checkpoint. Each rung is recorded in the run store."""
    progress: dict[str, dict] = {}

    def view() -> Table:
        t = Table("rung", "status", "step", "train loss", "val bits/byte", "tokens/s", "ETA")
        for name, p in progress.items():
            rec = p.get("rec") or {}
            steps = f"{rec.get('step', 0):,}/{rec.get('total_steps', 0):,}" if rec else "-"
            bpb = p.get("result", {}).get("val_bpb") or rec.get("val_bpb")
            t.add_row(name, p["status"], steps, num(rec.get("loss")) if rec else "-", "-" if bpb is None else f"{bpb:.4f}",
                      f"{rec['tokens_per_s']:,.0f}" if rec.get("tokens_per_s") else "-",
                      "-" if rec.get("eta_s") is None else duration(rec["eta_s"]))
        return t

    def on_rung(name, status, result):
        progress.setdefault(name, {})["status"] = status
        if result:
            progress[name]["result"] = result

    def on_step(name, rec):
        progress.setdefault(name, {"status": "running"})["rec"] = rec

    shown: dict = {}  # the live views on a terminal: the preparation's bar, then the table

    def go():
        from rich.live import Live

        from scalelab.ladder.run import run_ladder
        from scalelab.runs.store import default_store_path

        options = dict(executor=executor, nproc=nproc, store=store or default_store_path(), include_target=with_target,
                       only=rung, max_epochs=max_epochs, force=force, parallel=parallel,
                       stop_on=tuple(k.strip() for k in (stop_on or "").split(",") if k.strip()))
        if as_json or not sys.stdout.isatty():  # a log, not a live view: a line per rung event and every minute
            last = {}

            def line(name, rec=None, status=None):
                rec = rec or progress.get(name, {}).get("rec") or {}
                bpb = progress.get(name, {}).get("result", {}).get("val_bpb")
                parts = [f"rung {name}: {status or 'running'}"]
                if rec.get("total_steps"):
                    parts.append(f"step {rec.get('step', 0):,}/{rec['total_steps']:,}")
                if rec.get("loss") is not None and status is None:
                    parts.append(f"train loss {num(rec['loss'])}")
                if bpb is not None:
                    parts.append(f"val {bpb:.4f} bits/byte")
                if rec.get("eta_s") is not None and status is None:
                    parts.append(f"ETA {duration(rec['eta_s'])}")
                err.print(", ".join(parts), markup=False, highlight=False)

            def rung_line(name, status, result):
                on_rung(name, status, result)
                line(name, status=status)

            def step_line(name, rec):
                on_step(name, rec)
                now = time.monotonic()
                if now - last.setdefault(name, now) >= PROGRESS_EVERY_S:
                    last[name] = now
                    line(name, rec)

            said = {}

            def prepare_line(what, share):  # a line per stage, and every minute within one
                now = time.monotonic()
                if what is not None and (said.get("what") != what or now - said["at"] >= PROGRESS_EVERY_S):
                    said.update(what=what, at=now)
                    err.print(f"tokens: {what}, {100 * share:.0f}%", markup=False, highlight=False)

            return run_ladder(plan_path, on_rung=rung_line, on_step=step_line, on_prepare=prepare_line, **options)
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

        # a bar while the tokens are prepared, then the live table (one live display at a time)
        bar = Progress(TextColumn("tokens: {task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                       console=out, transient=True)

        def prepare_bar(what, share):
            if what is None:
                if "task" in shown:
                    bar.stop()
                return
            if "task" not in shown:
                bar.start()
                shown["task"] = bar.add_task(what, total=1.0)
            bar.update(shown["task"], description=what, completed=share)

        def table():
            if "live" not in shown:
                shown["live"] = Live(view(), console=out, refresh_per_second=2)
                shown["live"].start()
            shown["live"].update(view())

        try:
            return run_ladder(plan_path, on_rung=lambda *a: (on_rung(*a), table()),
                              on_step=lambda *a: (on_step(*a), table()), on_prepare=prepare_bar, **options)
        finally:
            if "live" in shown:
                shown["live"].stop()
            elif "task" in shown:
                bar.stop()

    results = run(go)
    if as_json:
        print_json(results)
        return
    if "live" not in shown:  # a live table leaves its last frame on the terminal
        out.print(view())
    out.print(f"{len(results)} rung{'s' * (len(results) != 1)} finished; next: scalelab ladder fit {plan_path}")


@ladder_app.command("fit", epilog="""\b
Examples:
  scalelab ladder fit ladder.toml
  scalelab ladder fit ladder.toml --plot ladder.png --out ladder-fit.json
  scalelab ladder fit ladder.toml --fix E=0.9 --tie alpha=beta
""")
def ladder_fit(
    plan_path: Annotated[Path, typer.Argument(help="A ladder plan whose rungs have run.", show_default=False, metavar="LADDER_TOML")],
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Save a figure: the rungs, the fitted law, the forecast.")] = None,
    out_path: Annotated[Optional[Path], typer.Option("--out", help="Write the fit (a fit.json).")] = None,
    bootstrap: Bootstrap = 200,
    fix: Fix = None,
    tie: Tie = None,
    count: Annotated[str, typer.Option("--params-count", help="The N of the law: 'total' parameters (embedding included; Pearce & Song 2024) or 'non-embedding'.")] = "total",
    as_json: Json = False,
) -> None:
    """Fit the law to the finished rungs (loss in bits per byte, N their total parameters)
    and forecast the target with its interval; compare with the target when it has been trained."""

    def go():
        from scalelab.fitting.params import parse_assignments
        from scalelab.io import check_writable, save_fit
        from scalelab.ladder.fit import fit_ladder
        from scalelab.report.plots import check_figure_path

        check_figure_path(plot)
        check_writable(out_path)
        result = fit_ladder(plan_path, num_bootstrap=bootstrap, fix=parse_assignments(fix, "--fix"), tie=tie,
                            count=count)
        if plot is not None:
            from scalelab.report.plots import plot_ladder, save

            save(plot_ladder(result), plot)
        if out_path is not None:
            save_fit(result.fit, out_path)
        return result

    result = run(go)
    if as_json:
        print_json(result.to_dict())
        return
    t = Table("rung", "params", "total params", "tokens", "bits/byte", "time")
    for r in result.rungs:
        name = r.run_id + (" (target)" if r.role == "target" and r.run_id != "target" else "")
        t.add_row(name, big(r.params), big(r.total_params), big(r.tokens), f"{r.bits_per_byte:.4f}", duration(r.seconds))
    out.print(t)
    fit = result.fit
    out.print("law: " + ", ".join(f"{k}={num(v)}" for k, v in fit.params_.items()) + f"; objective {fit.result_.fun:.4g}")
    f = result.forecast
    if f is not None:
        counted = result.count.replace("_", "-")
        line = (f"forecast for the target ({big(f.params)} {counted} params, {big(f.tokens)} tokens): {f.loss:.4f} bits/byte "
                f"(80% {interval(f.interval(0.8))}), ladder cost {100 * result.cost_fraction:.2f}% of the target")
        if result.actual is not None:
            band = f.interval(0.8)
            where = "inside" if result.actual in band else "below" if result.actual < band.lo else "above"
            line += f"; actual {result.actual:.4f} ({100 * result.rel_error:+.2f}%, {where} the 80% interval)"
        out.print(line)
    for p in (plot, out_path):
        if p is not None:
            out.print(f"wrote {p}")


def _layers(text: str | None) -> int | str | None:
    """--rung-layers: a whole number, or 'target'."""
    if text is None or text == "target":
        return text
    try:
        return int(text)
    except ValueError:
        raise ScalelabError(f"--rung-layers {text!r}: give a number of layers or 'target'") from None
