"""How far open models trail closed ones: the horizontal distance, in months, between the
two groups' frontiers (the best score, or the largest training compute, reached by each
date).

For each level between what both frontiers reach, the lag is the date the open frontier
first reaches it minus the date the closed one did; the answer is the median over levels,
with a percentile interval from resampling the models of each group (Epoch AI, "How far
behind are open models?", Cottier et al. 2024, measure the same gap on the same data).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scalelab.errors import InputError, suggest
from scalelab.trends.benchmark import BENCHMARKS
from scalelab.trends.common import benchmark_table

MEASURES = (*BENCHMARKS, "compute")
LEVELS = 25
DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class Lag:
    measure: str
    months: float  # median over levels
    lo80: float
    hi80: float
    lo95: float
    hi95: float
    n_open: int
    n_closed: int
    levels: list  # per level: value, closed date, open date, months
    points: tuple = field(default=(), repr=False, compare=False)  # (open days, open values, closed days, closed values)

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d.pop("points")
        return d


def _first_reach(days: np.ndarray, values: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """The first day the running maximum of ``values`` (by ``days``) reaches each level (nan: never)."""
    order = np.argsort(days, kind="stable")
    d, run = days[order], np.maximum.accumulate(values[order])
    idx = np.searchsorted(run, levels, side="left")
    out = np.full(levels.size, np.nan)
    ok = idx < run.size
    out[ok] = d[idx[ok]]
    return out


def _lag(days_o, v_o, days_c, v_c, levels) -> np.ndarray:
    return (_first_reach(days_o, v_o, levels) - _first_reach(days_c, v_c, levels)) / DAYS_PER_MONTH


def lag_from(dates_open, values_open, dates_closed, values_closed, *, measure: str = "value",
             num_bootstrap: int = 1000, seed: int = 0) -> Lag:
    """The lag (see the module) from two groups' release dates (numpy datetime64) and values.

    >>> d = np.array(["2020-01-01", "2021-01-01", "2022-01-01", "2023-01-01"], "datetime64[D]")
    >>> v = np.array([0.3, 0.5, 0.7, 0.9])
    >>> round(lag_from(d + 365, v, d, v, num_bootstrap=0).months, 1)
    12.0
    """
    to_days = lambda x: np.asarray(x, "datetime64[D]").astype(np.int64).astype(float)  # noqa: E731
    do, dc = to_days(dates_open), to_days(dates_closed)
    vo, vc = np.asarray(values_open, float), np.asarray(values_closed, float)
    for name, v in (("open", vo), ("closed", vc)):
        if v.size < 3:
            raise InputError(f"the lag needs at least 3 {name} models with a {measure}; there are {v.size}")
    lo = max(np.maximum.accumulate(vo[np.argsort(do)])[0], np.maximum.accumulate(vc[np.argsort(dc)])[0])
    hi = min(vo.max(), vc.max())
    if not hi > lo:
        raise InputError(f"the open and closed frontiers of {measure} do not overlap: no level both reach")
    levels = np.linspace(lo, hi, LEVELS)
    per = _lag(do, vo, dc, vc, levels)
    months = float(np.nanmedian(per))
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(num_bootstrap):
        io = rng.integers(0, vo.size, vo.size)
        ic = rng.integers(0, vc.size, vc.size)
        lag = _lag(do[io], vo[io], dc[ic], vc[ic], levels)
        if np.isfinite(lag).any():
            boots.append(np.nanmedian(lag))
    q = np.quantile(boots, [0.1, 0.9, 0.025, 0.975]) if boots else [np.nan] * 4
    closed_day = _first_reach(dc, vc, levels)
    table = [{"level": float(lv), "months": float(m), "closed_date": _date(c), "open_date": _date(c + m * DAYS_PER_MONTH)}
             for lv, m, c in zip(levels, per, closed_day)]
    return Lag(measure, months, *map(float, q), int(vo.size), int(vc.size), table, (do, vo, dc, vc))


def _date(day: float) -> str | None:
    return None if not np.isfinite(day) else str(np.datetime64(int(round(day)), "D"))


def open_closed_lag(measure: str = "MMLU", *, min_trust: int = 0, where: str | None = None, num_bootstrap: int = 1000,
                    seed: int = 0) -> Lag:
    """The open-closed lag on the shipped Epoch snapshot, for a benchmark score or training compute.

    >>> lag = open_closed_lag("MMLU", num_bootstrap=200)
    >>> lag.n_open, lag.n_closed, lag.lo80 <= lag.months <= lag.hi80
    (49, 37, True)
    """
    import pandas as pd

    key = {m.lower(): m for m in MEASURES}.get(str(measure).lower())
    if key is None:
        raise InputError(f"--benchmark {measure!r} is not known{suggest(str(measure), MEASURES)}; choose one of "
                         f"{', '.join(MEASURES)}")
    df = benchmark_table(where)
    df = df[df["Trust in benchmark results"].fillna(0) >= min_trust] if key != "compute" else df
    col = "Training compute (FLOP)" if key == "compute" else key
    df = df.dropna(subset=[col, "Date"])
    values = np.log10(df[col].astype(float)) if key == "compute" else df[col].astype(float)
    dates = pd.to_datetime(df["Date"]).to_numpy().astype("datetime64[D]")
    is_open = (df["Open/Closed"].str.lower() == "open").to_numpy()
    return lag_from(dates[is_open], values[is_open].to_numpy(), dates[~is_open], values[~is_open].to_numpy(),
                    measure=key if key != "compute" else "log10 training compute", num_bootstrap=num_bootstrap,
                    seed=seed)
