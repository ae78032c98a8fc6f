"""Benchmark score against training compute across the field: Owen's (Epoch, 2024) sigmoid
in log compute, ``score = chance + (1 - chance) / (1 + exp(-k (log10 C - c0)))``, fitted on
the models below a compute cut and judged on those above it (mean absolute error, and how
often the 80% interval holds them).

Data: Epoch AI, "How far behind are open models?" (Cottier, You, Martemianova, Owen; Nov
2024), CC BY 4.0, snapshot 2024-11 (`epoch_benchmarks_2024-11.csv`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scalelab.errors import InputError, suggest
from scalelab.trends.common import benchmark_models, resample_fits

BENCHMARKS = {"MMLU": 0.25, "BBH": 0.25, "GPQA": 0.25}  # the score of guessing
MIN_MODELS = 6


@dataclass(frozen=True)
class BenchmarkBacktest:
    benchmark: str
    fit_max_flops: float
    n_fit: int
    n_test: int
    k: float  # per decade of compute
    c0: float  # log10 FLOPs at the midpoint
    mae: float | None  # points, on the held-out models
    coverage80: float | None
    table: list  # per held-out model: system, compute, actual, predicted, lo80, hi80
    split: str = ""  # in words: "compute < 1e+24" or "released before 2024-01-01"
    fit_points: tuple = field(default=(), repr=False, compare=False)  # (log10 compute, score) of the fitted models
    chance: float = 0.25

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d.pop("fit_points")
        return d


def _curve(logc, k, c0, chance):
    return chance + (1 - chance) / (1 + np.exp(-k * (logc - c0)))


def _fit(logc, y, chance):
    from scipy.optimize import least_squares

    r = least_squares(lambda p: _curve(logc, p[0], p[1], chance) - y, [1.0, float(np.median(logc))],
                      bounds=([1e-3, 15.0], [10.0, 35.0]))
    return r.x


def benchmark_backtest(benchmark: str = "MMLU", *, fit_max_flops: float = 1e24, fit_before: str | None = None,
                       min_trust: int = 0, num_bootstrap: int = 500, seed: int = 0) -> BenchmarkBacktest:
    """Fit the sigmoid on the models with compute below ``fit_max_flops`` (and a trust flag
    of at least ``min_trust``: -1 marks doubtful self-reports), predict those above; or, with
    ``fit_before`` (a date), fit the models released before it and predict those after.

    >>> b = benchmark_backtest("MMLU")
    >>> b.n_fit, b.n_test, round(b.mae, 1)
    (48, 24, 6.1)
    """
    import pandas as pd

    if benchmark not in BENCHMARKS:
        raise InputError(f"--benchmark {benchmark!r}{suggest(benchmark, BENCHMARKS)}; known: {', '.join(BENCHMARKS)}")
    d = benchmark_models(benchmark, min_trust)
    if fit_before is not None:
        try:
            cut = pd.Timestamp(fit_before)
        except (ValueError, TypeError):
            raise InputError(f"--fit-before {fit_before!r}: give a date, e.g. 2024-01-01") from None
        released = pd.to_datetime(d["Date"])
        fit, test = d[released < cut], d[released >= cut]
        split = f"released before {cut.date()}"
    else:
        fit, test = d[d["C"] < fit_max_flops], d[d["C"] >= fit_max_flops]
        split = f"compute < {fit_max_flops:.3g}"
    if len(fit) < MIN_MODELS:
        raise InputError(f"{len(fit)} models with {benchmark} and {split}: a fit needs at least {MIN_MODELS}")
    chance = BENCHMARKS[benchmark]
    x, y = np.log10(fit["C"].to_numpy()), fit[benchmark].to_numpy(float)
    k, c0 = _fit(x, y, chance)
    resid = y - _curve(x, k, c0, chance)
    rng = np.random.default_rng(seed)
    members = np.array(resample_fits(x, y, lambda a, b: _fit(a, b, chance), num_bootstrap, rng))
    rows = []
    for r in test.itertuples():
        lc = np.log10(r.C)
        draws = _curve(lc, members[:, 0], members[:, 1], chance) + rng.choice(resid, len(members))
        lo, hi = np.quantile(np.clip(draws, 0, 1), [0.1, 0.9])
        actual = float(getattr(r, benchmark))
        rows.append({"system": r.System, "compute": float(r.C), "actual": actual,
                     "predicted": float(_curve(lc, k, c0, chance)), "lo80": float(lo), "hi80": float(hi)})
    mae = None if not rows else float(np.mean([100 * abs(r["predicted"] - r["actual"]) for r in rows]))
    cov = None if not rows else float(np.mean([r["lo80"] <= r["actual"] <= r["hi80"] for r in rows]))
    return BenchmarkBacktest(benchmark, fit_max_flops, int(len(fit)), int(len(test)), float(k), float(c0), mae, cov, rows,
                             split, (x, y), chance)
