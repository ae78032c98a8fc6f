"""Where a planned run sits in the public record: the year the frontier trend reaches its
compute, its rank among the shipped models, and what the field's benchmark curves give at
that compute (Epoch AI's 2024-11 snapshot, CC BY 4.0)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalelab.errors import InputError
from scalelab.trends.benchmark import BENCHMARKS, sigmoid_forecast
from scalelab.trends.common import benchmark_models, resample_fits
from scalelab.trends.compute import ATTRIBUTION, _models


@dataclass(frozen=True)
class RunContext:
    flops: float
    frontier_year: float  # when the frontier trend (frontier models since 2018) reaches this compute
    frontier_year80: tuple[float, float]
    share_below: float  # of notable models with a compute estimate
    largest_below: str  # the largest notable model at or below this compute
    largest_below_flops: float | None
    benchmarks: dict  # name -> {"value", "lo80", "hi80", "n_models"} from the field's sigmoid
    frontier_range: tuple[float, float] = (float("nan"), float("nan"))  # the trend's smallest and largest model, FLOPs
    attribution: str = ATTRIBUTION

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["frontier_year80"] = list(self.frontier_year80)
        d["frontier_range"] = list(self.frontier_range)
        return d

    def frontier_text(self) -> str:
        """The year in words, or why the trend cannot date a run this small.

        >>> run_context(1e14, num_bootstrap=0).frontier_text().startswith("below every frontier model since 2018")
        True
        >>> run_context(1e28, num_bootstrap=0).frontier_text().endswith("an extrapolation")
        True
        """
        lo, hi = self.frontier_range
        if self.flops < lo:
            return (f"below every frontier model since 2018 (the smallest: {lo:.3g} FLOPs): the trend does not date a run "
                    "this small")
        text = (f"frontier models' compute reaches {self.flops:.3g} FLOPs in {self.frontier_year:.1f} "
                f"(80%: {self.frontier_year80[0]:.1f}–{self.frontier_year80[1]:.1f})")
        return text + (f"; beyond the largest so far ({hi:.3g} FLOPs): an extrapolation" if self.flops > hi else "")


def run_context(flops: float, *, num_bootstrap: int = 200, seed: int = 0) -> RunContext:
    """The planned run's place in the public record (see the module).

    >>> c = run_context(3.8e25, num_bootstrap=100)
    >>> 2023 < c.frontier_year < 2026, c.share_below > 0.9
    (True, True)
    """
    if not (np.isfinite(flops) and flops > 0):
        raise InputError(f"compute {flops}: give a positive FLOP count")
    d = _models()
    front = d[(d["year"] >= 2018) & (d["Frontier model"].str.strip() != "")]
    x, y = front["year"].to_numpy(float), np.log10(front["compute"].to_numpy(float))
    slope, icpt = np.polyfit(x, y, 1)
    rng = np.random.default_rng(seed)
    fits = resample_fits(x, y, lambda a, b: np.polyfit(a, b, 1), num_bootstrap, rng)
    years = [(np.log10(flops) - b) / s for s, b in fits if s > 0]
    lo, hi = np.quantile(years, [0.1, 0.9]) if years else (np.nan, np.nan)
    notable = d[d["Notability criteria"].str.strip() != ""]
    below = notable[notable["compute"] <= flops]
    top = below.loc[below["compute"].idxmax()] if len(below) else None
    bench = {}
    lc = np.log10(flops)
    for name in BENCHMARKS:
        m = benchmark_models(name)
        if len(m) < 6:
            continue
        _, _, value, lo80, hi80 = sigmoid_forecast(np.log10(m["C"].to_numpy()), m[name].to_numpy(float), lc,
                                                   *BENCHMARKS[name], num_bootstrap, rng)
        bench[name] = {"value": float(value[0]), "lo80": float(lo80[0]), "hi80": float(hi80[0]), "n_models": int(len(m))}
    return RunContext(float(flops), float((np.log10(flops) - icpt) / slope), (float(lo), float(hi)),
                      float(len(below) / len(notable)), "" if top is None else str(top["System"]),
                      None if top is None else float(top["compute"]), bench, (float(10 ** y.min()), float(10 ** y.max())))
