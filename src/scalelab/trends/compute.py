"""Training compute of notable (or frontier) models against their publication date: the
growth per year as Epoch AI measures it (least squares of log10 compute on the date), with
an interval from a bootstrap over models, and the doubling time.

Data: Epoch AI, "Data on AI Models" (epoch.ai/data), CC BY 4.0, the snapshot of November
2024 (`epoch_ml_systems_2024-11.csv`, the 782 models with a training-compute estimate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from scalelab.errors import InputError
from scalelab.trends.common import resample_fits, select

SNAPSHOT = "2024-11"
ATTRIBUTION = "Epoch AI, Data on AI Models (epoch.ai/data), CC BY 4.0, snapshot 2024-11"
MIN_MODELS = 10


@dataclass(frozen=True)
class ComputeTrend:
    selection: str
    n_models: int
    first_year: float
    last_year: float
    growth_per_year: float  # the factor compute grows by each year
    interval80: tuple[float, float]
    interval95: tuple[float, float]
    doubling_months: float
    snapshot: str = SNAPSHOT
    attribution: str = ATTRIBUTION
    intercept: float = 0.0  # log10 FLOPs at year 0 of the fitted line
    points: tuple = field(default=(), repr=False, compare=False)  # (years, log10 compute, names), for plots

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d.pop("points")
        d["interval80"], d["interval95"] = list(self.interval80), list(self.interval95)
        return d


def _models():
    import pandas as pd

    from scalelab.data import bundled_path

    d = pd.read_csv(bundled_path("epoch_models"), dtype=str, keep_default_na=False)
    date = pd.to_datetime(d["Publication date"], errors="coerce")
    d["year"] = date.dt.year + (date.dt.day_of_year - 1) / 365.25
    d["compute"] = pd.to_numeric(d["Training compute (FLOP)"], errors="coerce")
    d["params"] = pd.to_numeric(d["Parameters"], errors="coerce")
    d = d.assign(system=d["System"], organization=d["Organization"], domain=d["Domain"],
                 access=d["Model accessibility"].str.lower())
    return d[d["year"].notna() & (d["compute"] > 0)]


def compute_trend(*, frontier: bool = False, since: float = 2010, domain: str | None = None,
                  where: str | None = None, num_bootstrap: int = 1000, seed: int = 0) -> ComputeTrend:
    """Growth of training compute per year: notable models (the database's notability
    criteria) or ``frontier`` ones, published from ``since``; ``domain`` (e.g. "Language")
    keeps the models whose domains include it, ``where`` those matching a pandas query
    (columns ``system``, ``organization``, ``domain``, ``access``, e.g. "open weights
    (unrestricted)" or "api access", ``year``, ``compute``, ``params``).

    >>> t = compute_trend()
    >>> round(t.growth_per_year, 1), t.n_models
    (4.0, 395)
    """
    if not 1950 <= since <= 2100:
        raise InputError(f"--since {since:g}: give a year")
    d = _models()
    keep = d["year"] >= since
    keep &= (d["Frontier model"].str.strip() != "") if frontier else (d["Notability criteria"].str.strip() != "")
    if domain:
        keep &= d["Domain"].str.contains(domain, case=False, regex=False)
    d = select(d[keep], where)
    what = (f"{'frontier' if frontier else 'notable'} models since {since:g}" + (f", domain {domain}" if domain else "")
            + (f", where {where}" if where else ""))
    if len(d) < MIN_MODELS:
        last = _models()["year"].max()
        raise InputError(f"{len(d)} {what} with a compute estimate: a trend needs at least {MIN_MODELS}"
                         + (f" (the snapshot's models run to {last:.1f}; give an earlier --since)" if since > last - 1 else ""))
    x, y = d["year"].to_numpy(float), np.log10(d["compute"].to_numpy(float))
    slope, intercept = map(float, np.polyfit(x, y, 1))
    rng = np.random.default_rng(seed)
    boot = np.array(resample_fits(x, y, lambda a, b: np.polyfit(a, b, 1)[0], num_bootstrap, rng) or [slope])
    g = lambda s: float(10 ** s)  # noqa: E731
    q = np.quantile(boot, [0.1, 0.9, 0.025, 0.975])
    return ComputeTrend(what, int(len(d)), float(x.min()), float(x.max()), g(slope), (g(q[0]), g(q[1])),
                        (g(q[2]), g(q[3])), 12 * math.log10(2) / slope if slope > 0 else math.inf,
                        intercept=intercept, points=(x, y, d["System"].to_numpy()))
