"""``scalelab runs import | list | show | export``: the run store."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from scalelab.cli.common import Json, StorePath, app, out, print_json, run
from scalelab.errors import InputError, ScalelabError

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
RunArg = Annotated[str, typer.Argument(help="Run id or name.", show_default=False, metavar="RUN")]


def _loss_name(names: list[str]) -> str | None:
    from scalelab.runs.logs import pick_loss_name

    try:
        return pick_loss_name(names, None, "")
    except InputError:
        return None


def _store(path: Path | None, create: bool = False):
    """The run store; only ``runs import`` creates one, reading commands refuse a missing file."""
    from scalelab.runs.store import RunStore

    return RunStore(path, create=create)


@runs_app.command("import", epilog="""\b
Examples:
  scalelab runs import train.jsonl --name my-run --store runs.db
  scalelab runs import runs/*/log.jsonl --store runs.db
  scalelab runs import tb_logs/ --format tensorboard
  scalelab runs import mlflow.db --run baseline --json
""")
def runs_import(
    paths: Annotated[list[str], typer.Argument(help="Log files, TensorBoard folders or MLflow stores (several at once: runs/*/log.jsonl).", show_default=False, metavar="PATH...")],
    fmt: Annotated[str, typer.Option("--format", help="auto, jsonl, csv, tsv, text (a printed log), megatron, wandb, tensorboard, mlflow.")] = "auto",
    name: Annotated[Optional[str], typer.Option("--name", help="Run name [default: from the log].")] = None,
    mlflow_run: Annotated[Optional[str], typer.Option("--run", help="MLflow: the run id or name [default: every run].")] = None,
    store: StorePath = None,
    as_json: Json = False,
) -> None:
    """Load a training log into the run store (every metric, every step)."""

    def go():
        if name is not None and len(paths) > 1:
            raise InputError(f"--name {name!r} names one run; {len(paths)} logs were given: leave --name out "
                                "(each is named after its file, or its folder for a file called log, train, ...)")
        missing = [p for p in paths if not Path(p).exists() and "://" not in p]
        if missing:  # before anything is stored: all the logs or none
            raise InputError(f"log file {missing[0]!r} does not exist" + (f" (and {len(missing) - 1} more)"
                                                                            if len(missing) > 1 else ""))
        with _store(store, create=True) as st:
            return [d for p in paths for d in st.import_log(p, fmt, name=name, run=mlflow_run)], str(st.path)

    done, where = run(go)
    if as_json:
        print_json({"store": where, "runs": [dataclasses.asdict(d) for d in done]})
        return
    for d in done:
        out.print(f"{d.name} ({d.run_id}): {d.points:,} points, {d.inserted:,} new, {d.replaced:,} replaced"
                  + (f", {d.dropped:,} stored past the restart dropped" if d.dropped else "") + f"; {d.parse}")
    out.print(f"store: {where}")


@runs_app.command("list", epilog="""\b
Examples:
  scalelab runs list
  scalelab runs list --store runs.db --json
""")
def runs_list(store: StorePath = None, as_json: Json = False) -> None:
    """List the runs in the store."""

    def go():
        with _store(store) as st:
            return st.runs()

    frame = run(go)
    if as_json:
        print_json(frame.to_dict(orient="records"))
        return
    t = Table("run_id", "name", "format", "points", "metrics", "last step", "updated")
    for r in frame.itertuples():
        t.add_row(r.run_id, r.name, r.format, f"{r.n_points:,}", str(r.n_metrics),
                  "-" if r.last_step is None else f"{r.last_step:,}", r.updated_utc)
    out.print(t)


@runs_app.command("show", epilog="""\b
Examples:
  scalelab runs show my-run
  scalelab runs show my-run --plot my-run.png
  scalelab runs show 3f2a9c01d4e5 --store runs.db --json
""")
def runs_show(run_name: RunArg, store: StorePath = None, as_json: Json = False,
              plot: Annotated[Optional[Path], typer.Option("--plot", help="Save a figure of the run's curves against the step (.png, .svg, .pdf).")] = None) -> None:
    """Show a run: its source, provenance and metrics."""

    def go():
        from scalelab.report.plots import check_figure_path

        check_figure_path(plot)
        with _store(store) as st:
            d = st.run(run_name)
            if plot is not None:
                from scalelab.report.plots import plot_curves, save

                frame = st.curves(d["run_id"])
                if frame.empty:
                    raise ScalelabError(f"run {d['name']!r} has no points to plot")
                save(plot_curves(frame, f"{d['name']} ({d['run_id']})", _loss_name(list(d["metrics"]))), plot)
            return d

    d = run(go)
    if as_json:
        print_json(d)
        return
    out.print(f"[bold]{escape(d['name'])}[/bold] " + escape(f"({d['run_id']}) from {d['source']} [{d['format']}], "
                                                            f"updated {d['updated_utc']}"), markup=True)
    t = Table("metric", "points", "first step", "last step")
    for m, v in d["metrics"].items():
        t.add_row(m, f"{v['points']:,}", f"{v['first_step']:,}", f"{v['last_step']:,}")
    out.print(t)
    if plot is not None:
        out.print(f"wrote {plot}")


@runs_app.command("export", epilog="""\b
Examples:
  scalelab runs export my-run --out my-run.csv
  scalelab runs export my-run --out my-run.parquet --store runs.db
""")
def runs_export(run_name: RunArg,
                out_path: Annotated[Path, typer.Option("--out", help="File to write: .csv, .jsonl or .parquet (one row per step).")],
                store: StorePath = None) -> None:
    """Export a run's curves, one row per step and one column per metric."""

    def go():
        with _store(store) as st:
            return st.export(run_name, out_path)

    n = run(go)
    out.print(f"wrote {n:,} rows to {out_path}")
