"""Benchmark score against training compute across the field: Owen's (Epoch, 2024) sigmoid
in log compute, ``score = chance + (ceiling - chance) / (1 + exp(-k (log10 C - c0)))``,
fitted on the models below a compute cut and judged on those above it (mean absolute
error, and how often the 80% interval holds them).

The ceiling is not fitted (the models below a cut never show where a benchmark saturates):
it is the best score a benchmark's own answer key allows. Gema et al. 2024 ("Are We Done
with MMLU?") re-annotated 5,700 MMLU questions and found 6.49% of them wrong or
ambiguous; a model that answers every sound question and guesses on the flawed ones scores
1 - 0.0649 * (1 - 1/4) = 0.951. BBH and GPQA have no such audit here: their ceiling is 1.

Data: Epoch AI, "How far behind are open models?" (Cottier, You, Martemianova, Owen; Nov
2024), CC BY 4.0, snapshot 2024-11 (`epoch_benchmarks_2024-11.csv`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scalelab.errors import InputError, suggest
from scalelab.trends.common import benchmark_models, resample_fits

MMLU_FLAWED = 0.0649  # Gema et al. 2024: share of MMLU questions with a wrong or ambiguous key
BENCHMARKS = {  # (the score of guessing, the best score the answer key allows)
    "MMLU": (0.25, 1 - MMLU_FLAWED * (1 - 0.25)),
    "BBH": (0.25, 1.0),
    "GPQA": (0.25, 1.0),
}
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
    ceiling: float = 1.0

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d.pop("fit_points")
        return d


def curve(logc, k, c0, chance, ceiling=1.0):
    """The sigmoid's score at log10 compute ``logc``."""
    return chance + (ceiling - chance) / (1 + np.exp(-k * (logc - c0)))


def _fit(logc, y, chance, ceiling):
    from scipy.optimize import least_squares

    r = least_squares(lambda p: curve(logc, p[0], p[1], chance, ceiling) - y, [1.0, float(np.median(logc))],
                      bounds=([1e-3, 15.0], [10.0, 35.0]))
    return r.x


def sigmoid_forecast(logc, y, at, chance: float, ceiling: float, num_bootstrap: int, rng):
    """Fit the sigmoid to (``logc``, ``y``) and forecast the score at each log10 compute of
    ``at``: (k, c0, forecasts, lo80s, hi80s). The interval draws the curve from a bootstrap
    over the models and adds a residual of one of them (models scatter about the curve)."""
    k, c0 = _fit(logc, y, chance, ceiling)
    resid = y - curve(logc, k, c0, chance, ceiling)
    members = np.array(resample_fits(logc, y, lambda a, b: _fit(a, b, chance, ceiling), num_bootstrap, rng))
    if not len(members):  # no bootstrap: the interval from the models' scatter about the fitted curve alone
        members = np.tile([k, c0], (500, 1))
    at = np.atleast_1d(np.asarray(at, float))
    draws = (curve(at[:, None], members[:, 0], members[:, 1], chance, ceiling)
             + rng.choice(resid, (at.size, len(members))))
    lo, hi = np.quantile(np.clip(draws, 0, 1), [0.1, 0.9], axis=1)
    return float(k), float(c0), curve(at, k, c0, chance, ceiling), lo, hi


def benchmark_backtest(benchmark: str = "MMLU", *, fit_max_flops: float = 1e24, fit_before: str | None = None,
                       min_trust: int = 0, ceiling: float | None = None, where: str | None = None,
                       num_bootstrap: int = 500, seed: int = 0) -> BenchmarkBacktest:
    """Fit the sigmoid on the models with compute below ``fit_max_flops`` (and a trust flag
    of at least ``min_trust``: -1 marks doubtful self-reports), predict those above; or, with
    ``fit_before`` (a date), fit the models released before it and predict those after.
    ``ceiling`` replaces the benchmark's own (1 gives Owen's curve); ``where`` keeps the
    models matching a pandas query (``access == 'open'``, ``trust >= 1``, ``system``, ``date``).

    >>> b = benchmark_backtest("MMLU")
    >>> b.n_fit, b.n_test, round(b.ceiling, 3), round(b.mae, 1)
    (48, 24, 0.951, 4.9)
    >>> round(benchmark_backtest("MMLU", ceiling=1).mae, 1)
    6.1
    """
    import pandas as pd

    benchmark = {b.lower(): b for b in BENCHMARKS}.get(str(benchmark).lower(), benchmark)
    if benchmark not in BENCHMARKS:
        raise InputError(f"--benchmark {benchmark!r}{suggest(benchmark, BENCHMARKS)}; known: {', '.join(BENCHMARKS)}")
    chance = BENCHMARKS[benchmark][0]
    if ceiling is None:
        ceiling = BENCHMARKS[benchmark][1]
    elif not chance < ceiling <= 1:
        raise InputError(f"--ceiling {ceiling}: give a score above chance ({chance}) and at most 1")
    d = benchmark_models(benchmark, min_trust, where)
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
    if where:
        split += f", where {where}"
    if len(fit) < MIN_MODELS:
        hint = ""
        if len(d) > MIN_MODELS:  # the cut that leaves MIN_MODELS to fit and something to hold out
            if fit_before is not None:
                when = pd.to_datetime(d["Date"]).dropna().sort_values()
                day = when.iloc[MIN_MODELS - 1] + pd.Timedelta(days=1)
                if day <= when.iloc[-1]:
                    hint = f"; --fit-before {day.date()} fits {int((when < day).sum())}"
            else:
                c = np.sort(d["C"].to_numpy(float))
                need = 10 ** (np.floor(np.log10(c[MIN_MODELS - 1]) * 2) / 2 + 0.5)  # the next half decade above
                if need <= c[-1]:
                    hint = f"; --fit-max-flops {need:.2g} fits {int((c < need).sum())}"
        raise InputError(f"{len(fit)} models with {benchmark} and {split}: a fit needs at least {MIN_MODELS}{hint}")
    x, y = np.log10(fit["C"].to_numpy()), fit[benchmark].to_numpy(float)
    k, c0, pred, lo, hi = sigmoid_forecast(x, y, np.log10(test["C"].to_numpy(float)), chance, ceiling,
                                           num_bootstrap, np.random.default_rng(seed))
    rows = [{"system": r.System, "compute": float(r.C), "actual": float(getattr(r, benchmark)), "predicted": float(p),
             "lo80": float(a), "hi80": float(b)} for r, p, a, b in zip(test.itertuples(), pred, lo, hi)]
    mae = None if not rows else float(np.mean([100 * abs(r["predicted"] - r["actual"]) for r in rows]))
    cov = None if not rows else float(np.mean([r["lo80"] <= r["actual"] <= r["hi80"] for r in rows]))
    return BenchmarkBacktest(benchmark, fit_max_flops, int(len(fit)), int(len(test)), k, c0, mae, cov, rows,
                             split, (x, y), chance, ceiling)
