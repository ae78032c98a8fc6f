"""Backtests: fit on the cheap runs, predict the expensive ones, score errors and interval coverage."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from scalelab.errors import ExtrapolationWarning, FitError
from scalelab.fitting.fit import LEVELS, Fit
from scalelab.runs import Runs


@dataclass(frozen=True)
class Split:
    """How a backtest divided the runs: fit on ``flops <= train_max_flops``, forecast the rest."""

    rule: str
    """In words, e.g. ``"flops <= 1e+21"`` or ``"all but the 3 largest-compute runs"``."""
    train_max_flops: float

    def to_dict(self) -> dict:
        return {"rule": self.rule, "train_max_flops": self.train_max_flops}


@dataclass(frozen=True)
class Backtest:
    """Per-run predictions for held-out runs and their summary.

    Attributes
    ----------
    table : one row per held-out row: inputs, ``actual``, ``predicted``, ``rel_error``
        (predicted/actual - 1), interval bounds, ``in80``/``in95``, ``extrapolation``.
    fit : the fit trained on the training split.
    split : how the runs were split.
    train : the runs it was trained on.
    """

    table: pd.DataFrame
    fit: Fit
    split: Split
    train: Runs

    @property
    def n_train(self) -> int:
        return self.fit.n_rows_

    @property
    def n_test(self) -> int:
        return len(self.table)

    def summary(self) -> dict:
        t = self.table
        err = t["rel_error"].abs()
        out = {
            "n_train": self.n_train,
            "n_test": self.n_test,
            "train_max_flops": self.split.train_max_flops,
            "test_max_flops": float(t["flops"].max()) if "flops" in t else None,
            "median_abs_rel_error": float(err.median()),
            "mean_abs_rel_error": float(err.mean()),
            "max_abs_rel_error": float(err.max()),
            "median_rel_error": float(t["rel_error"].median()),
        }
        for lv in LEVELS:
            col = f"in{100 * lv:g}"
            out[f"coverage{100 * lv:g}"] = float(t[col].mean()) if t[col].notna().all() else None
        out["max_extrapolation"] = float(t["extrapolation"].max())
        return out


def backtest(
    runs: Runs,
    fit: Fit | None = None,
    *,
    train_max_flops: float | None = None,
    holdout_largest: int | None = None,
    train_where: str | None = None,
    test_where: str | None = None,
) -> Backtest:
    """Fit on runs with ``flops <= train_max_flops`` (or all but the ``holdout_largest`` runs
    of largest compute, or the rows matching the condition ``train_where``) and predict the
    rest (or the rest that match ``test_where``).

    Parameters
    ----------
    runs : the runs (a ``flops`` column, given or 6ND, decides the split).
    fit : an unfitted :class:`Fit` carrying the settings (law, fixes, bootstrap); default
        ``Fit()``. It is copied, not modified.
    train_where, test_where : pandas conditions over the runs' columns, e.g. fit on
        ``"epochs <= 4"`` and predict ``"epochs >= 10"`` (a data-constrained backtest).

    Examples
    --------
    >>> from scalelab.data import bundled_path
    >>> from scalelab.runs import read_runs
    >>> runs = read_runs(bundled_path("chinchilla"), where="epoch_excluded == 0")
    >>> bt = backtest(runs, Fit(num_bootstrap=50), train_max_flops=1e21)
    >>> bt.n_test, round(bt.summary()["median_abs_rel_error"], 3)
    (23, 0.009)
    """
    if sum(x is not None for x in (train_max_flops, holdout_largest, train_where)) != 1:
        raise FitError("a backtest needs exactly one split: --train-max-flops FLOPS, --holdout-largest K or --train-where COND")
    template = Fit(**(fit or Fit()).get_params())
    flops = runs.column("flops")
    test_only = np.ones(len(runs), bool)
    if test_where is not None:
        test_only = _condition(runs, test_where, "--test-where")
    if train_where is not None:
        train = _condition(runs, train_where, "--train-where")
        train_max_flops = float(flops[train].max()) if train.any() else 0.0
        what = f"fit on {train_where}"
    elif train_max_flops is not None:
        if not train_max_flops > 0:
            raise FitError(f"--train-max-flops {train_max_flops}: give a positive FLOP count, e.g. 1e20")
        train = flops <= train_max_flops
        what = f"flops <= {train_max_flops:.3g}"
    else:
        per_run = runs.frame.assign(_f=flops).groupby("run_id")["_f"].max().sort_values()
        if not 0 < holdout_largest < len(per_run):
            raise FitError(
                f"--holdout-largest {holdout_largest}: give 1 to {len(per_run) - 1} (the runs number {len(per_run)})"
            )
        held = set(per_run.index[-holdout_largest:])
        train = ~runs.frame["run_id"].isin(held).to_numpy()
        train_max_flops = float(flops[train].max())
        what = f"all but the {holdout_largest} largest-compute runs"
    if train.all() or not (~train & test_only).any():
        raise FitError(f"backtest split {what}{f', predict {test_where}' if test_where else ''} leaves no run to predict; "
                       f"lower the cut or loosen the condition (largest run: {flops.max():.3g} FLOPs)")
    if test_where is not None:
        what += f", predict {test_where}"
    if not train.any():
        raise FitError(f"backtest split {what} leaves no run to fit on; raise the cut (smallest run: {flops.min():.3g} FLOPs)")

    fitted = template.fit(runs.select(train))
    test = runs.select(~train & test_only)
    law = type(fitted.law_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)  # reported per row instead
        pred = fitted.predict(**test.inputs(law.inputs))
    actual = test.column("loss")
    table = pd.DataFrame({"run_id": test.frame["run_id"].to_numpy()})
    for k in ("params", "tokens", "unique_tokens", "flops"):
        if k in test.frame:
            table[k] = test.column(k)
    table["actual"] = actual
    table["predicted"] = pred.loss
    table["rel_error"] = pred.loss / actual - 1
    for lv, (lo, hi) in sorted(pred.intervals.items()):
        tag = f"{100 * lv:g}"
        table[f"lo{tag}"] = lo
        table[f"hi{tag}"] = hi
        table[f"in{tag}"] = ((actual >= lo) & (actual <= hi)) if np.isfinite(lo).all() else np.nan
    table["extrapolation"] = pred.extrapolation
    return Backtest(table, fitted, Split(what, float(train_max_flops)), runs.select(train))


def _condition(runs: Runs, cond: str, option: str) -> np.ndarray:
    from scalelab.runs.table import row_condition

    return row_condition(runs.frame, cond, option=option, example="epochs <= 4", error=FitError)
