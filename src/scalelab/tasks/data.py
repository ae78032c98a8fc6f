"""Task tables in, task files out, and the backtest: what ``scalelab tasks`` calls."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scalelab.errors import InputError, suggest
from scalelab.tasks.fit import TaskFit

SKIP_FIRST = 0.1  # with --all-steps: the share of each run's first checkpoints left out (OLMo ladder)
SMOOTH = 5  # with --all-steps: checkpoints averaged (OLMo ladder)


@dataclass(frozen=True)
class TaskPoints:
    """The rows a link is fitted on: task loss x, metric y, the run of each row, and the
    run's size where the table has it."""

    frame: pd.DataFrame  # run_id, x, y, and params, tokens, flops where present
    x_col: str
    y_col: str
    source: str
    where: str | None = None


def read_task_points(path: str | Path, *, x_col: str, y_col: str, where: str | None = None,
                     run_id_col: str = "run_id", params_col: str = "params", tokens_col: str = "tokens",
                     all_steps: bool = False, skip_first: float = SKIP_FIRST, smooth: int = SMOOTH) -> TaskPoints:
    """Rows of a runs table for a task link: each run's last row (largest tokens), or with
    ``all_steps`` its checkpoints, as the OLMo ladder takes them: the first ``skip_first``
    of each run's checkpoints left out (the warm-up, where loss and accuracy are not yet
    linked as later) and the rest averaged over ``smooth`` consecutive checkpoints (an
    evaluation's noise, smoothed). y must lie in [0, 1] and x be > 0; refused otherwise."""
    from scalelab.runs.readers import read_table
    from scalelab.runs.table import counts, resolve_column, row_labels, select_rows, warn_unnamed_runs

    df = read_table(path)
    name = Path(path).name
    df = select_rows(df, where, source=name, example="tokens > 1e9")
    named = {"params": params_col, "tokens": tokens_col}
    x, y = (resolve_column(df, col, role, name, required=True) for col, role in ((x_col, "x"), (y_col, "y")))
    for col, opt in ((named[r], f"--{r}-col") for r in named if named[r] != r):
        if col not in df.columns:
            raise InputError(f"{name} has no column {col!r}{suggest(col, map(str, df.columns))}; name it with {opt}")
    if run_id_col != "run_id" and run_id_col not in df.columns:
        raise InputError(f"{name} has no column {run_id_col!r}{suggest(run_id_col, map(str, df.columns))}; "
                         "name it with --run-id-col")
    if run_id_col not in df.columns:
        warn_unnamed_runs(df, run_id_col, name)
    out = pd.DataFrame({"run_id": df[run_id_col].astype(str) if run_id_col in df else row_labels(df).to_numpy(),
                        "x": pd.to_numeric(x, errors="coerce"), "y": pd.to_numeric(y, errors="coerce")})
    for role, col in (*named.items(), ("flops", "flops")):
        if col in df:
            out[role] = counts(df[col]).to_numpy()
    out = out.reset_index(drop=True)
    rows = out.index.to_numpy() + 1
    missing = out["x"].isna() | out["y"].isna()
    out = out[~missing.to_numpy()]
    bad = out[(out["y"] < 0) | (out["y"] > 1)]
    if len(bad):
        percent = out["y"].between(0, 100).all()
        raise InputError(f"{name}: {y_col} must be an accuracy or error in [0, 1]; row {rows[bad.index[0]]} "
                         f"({run_id_col}={bad['run_id'].iloc[0]}) has {bad['y'].iloc[0]:g} ({len(bad)} such rows)"
                         + (f"; in percent? give --y-col '{y_col} / 100'" if percent else ""))
    bad = out[out["x"] <= 0]
    if len(bad):
        raise InputError(f"{name}: {x_col} must be a loss > 0; row {rows[bad.index[0]]} ({run_id_col}={bad['run_id'].iloc[0]}) "
                         f"has {bad['x'].iloc[0]:g} ({len(bad)} such rows)")
    if not all_steps and "tokens" in out:
        out = out.loc[out.groupby("run_id", sort=False)["tokens"].idxmax()]
    elif not all_steps:
        out = out.groupby("run_id", sort=False).tail(1)
    else:
        out = _checkpoints(out, skip_first, smooth)
    if out.empty:
        raise InputError(f"{name}: no rows with both {x_col} and {y_col}" + (f" where {where}" if where else ""))
    return TaskPoints(out.reset_index(drop=True), x_col, y_col, str(path), where)


def _checkpoints(out: pd.DataFrame, skip_first: float, smooth: int) -> pd.DataFrame:
    """Each run's checkpoints in token order, the first ``skip_first`` of them left out, x
    and y averaged over ``smooth`` consecutive ones (fewer for a short run)."""
    if not 0 <= skip_first < 1:
        raise InputError(f"--skip-first {skip_first:g}: give the share of each run's checkpoints to leave out, in [0, 1)")
    if smooth < 1:
        raise InputError(f"--smooth {smooth}: give a number of checkpoints to average, 1 or more (1: none)")
    parts = []
    for _, run in out.groupby("run_id", sort=False):
        if "tokens" in run:
            run = run.sort_values("tokens", kind="stable")
        run = run.iloc[int(np.ceil(skip_first * len(run))) if len(run) > 1 else 0:]
        w = min(smooth, len(run))
        if w > 1:
            run = run.assign(x=run["x"].rolling(w).mean(), y=run["y"].rolling(w).mean()).iloc[w - 1:]
        parts.append(run)
    return pd.concat(parts)


def fit_points(points: TaskPoints, **settings) -> TaskFit:
    f = TaskFit(**settings).fit(points.frame["x"], points.frame["y"], points.frame["run_id"])
    f.columns_ = {"x": points.x_col, "y": points.y_col, "source": points.source, "where": points.where}
    return f


def save_task(f: TaskFit, path: str | Path) -> None:
    from scalelab.io import atomic_write_text

    atomic_write_text(path, json.dumps(f.to_dict(), indent=1))


def load_task(path: str | Path) -> TaskFit:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"task file {str(p)!r} does not exist; make one with scalelab tasks fit RUNS ... --out {p}")
    try:
        d = json.loads(p.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"task file {str(p)!r} is not valid JSON: {exc}") from None
    return TaskFit.from_dict(d, source=f"task file {str(p)!r}")


def chain_check(task: TaskFit, step1) -> None:
    """A step-1 fit must model the loss the link takes as x: refuse two different columns."""
    if "tokens" not in step1.law_.inputs:
        raise InputError(f"chaining needs a step-1 law of N and D; this fit is a {step1.law_.name} law")
    loss_col = ((getattr(step1, "provenance_", {}) or {}).get("selection") or {}).get("loss_col")
    x_col = task.columns_.get("x")
    if loss_col and x_col and loss_col != x_col:
        raise InputError(f"the step-1 fit models {loss_col!r} but the task link takes {x_col!r} as its loss; fit step 1 "
                         f"with --loss-col {x_col}")


def task_backtest(path: str | Path, *, x_col: str, y_col: str, train_max_flops: float, where: str | None = None,
                  all_steps: bool = False, link: str = "auto", chance: float | None = None, anchor: bool = True,
                  skip_first: float = SKIP_FIRST, smooth: int = SMOOTH, num_bootstrap: int = 200, seed: int = 0, run_id_col: str = "run_id", params_col: str = "params",
                  tokens_col: str = "tokens") -> pd.DataFrame:
    """Both steps fitted on the runs at or below ``train_max_flops`` (step 1: Chinchilla's law
    of the task loss over each run's last row; step 2: the link, on every checkpoint with
    ``all_steps``), the larger runs' metric forecast from their N and D: one row per held-out
    run with the actual value, the forecast and its intervals."""
    from scalelab.fitting import Fit
    from scalelab.runs import read_runs

    cols = dict(run_id_col=run_id_col, params_col=params_col, tokens_col=tokens_col)
    finals = read_task_points(path, x_col=x_col, y_col=y_col, where=where, **cols)
    if not {"params", "tokens"} <= set(finals.frame):
        raise InputError(f"{Path(path).name} needs columns of N and D for a backtest of the chain: name them with "
                         "--params-col and --tokens-col")
    flops = 6 * finals.frame["params"] * finals.frame["tokens"]
    held = finals.frame[flops > train_max_flops]
    if held.empty or (flops <= train_max_flops).sum() < 6:
        raise InputError(f"--train-max-flops {train_max_flops:g} leaves {int((flops <= train_max_flops).sum())} runs to fit "
                         f"and {len(held)} to forecast; a backtest needs at least 6 and 1")
    cut = f"(6 * `{params_col}` * `{tokens_col}`) <= {train_max_flops!r}"
    step1 = Fit(num_bootstrap=num_bootstrap, seed=seed).fit(read_runs(
        path, loss_col=x_col, where=f"({where}) and {cut}" if where else cut, **cols))
    points = read_task_points(path, x_col=x_col, y_col=y_col, where=f"({where}) and {cut}" if where else cut,
                              all_steps=all_steps, skip_first=skip_first, smooth=smooth, **cols)
    task = fit_points(points, link=link, chance=chance, anchor=anchor, num_bootstrap=num_bootstrap, seed=seed)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the extrapolation is what a backtest measures
        for r in held.itertuples():
            f = task.chain(step1, params=r.params, tokens=r.tokens)
            rows.append({"run_id": r.run_id, "params": r.params, "tokens": r.tokens, "actual": r.y,
                         "predicted": f.value, "error": f.value - r.y, "lo80": f.intervals[0.8][0],
                         "hi80": f.intervals[0.8][1], "in80": f.intervals[0.8][0] <= r.y <= f.intervals[0.8][1],
                         "x_actual": r.x, "x_predicted": f.x})
    return pd.DataFrame(rows)


__all__ = ["TaskPoints", "read_task_points", "fit_points", "save_task", "load_task", "chain_check", "task_backtest"]
