"""One model's coverage: observed pass@k up to the samples used, and the law's forecast beyond."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from scalelab.samples.data import Counts
from scalelab.samples.estimator import mean_pass_at_k
from scalelab.samples.laws import CoverageFit, fit_coverage


@dataclass
class CoverageForecast:
    model: str
    problems: int
    samples_used: int
    samples_available: int
    fit: CoverageFit
    observed: dict  # k, value, lo80 ... (k <= samples_used)
    forecast: dict  # k, value, lo80 ... and actual (NaN where k > samples_available)
    warnings: list[str] = field(default_factory=list)
    compute: dict = field(default_factory=dict)  # flops_per_sample, against, exchange (with --params)
    selection: dict = field(default_factory=dict)  # k, majority (with answers), best (with scores), pass
    samples_most: int = 0  # the most samples of a problem used (problems may have different counts)



    def to_dict(self) -> dict:
        def rows(d):
            keys = list(d)
            return [{k: (int(d[k][i]) if k == "k" else _num(d[k][i])) for k in keys} for i in range(len(d["k"]))]

        return {"model": self.model, "problems": self.problems, "samples_used": self.samples_used,
                "samples_available": self.samples_available,
                "samples_most": self.samples_most, "law": self.fit.law, "chosen_by": self.fit.chosen_by,
                "params": self.fit.params(), "pass_at_k": rows(self.observed), "forecast": rows(self.forecast),
                "warnings": self.warnings, **({"compute": self.compute} if self.compute else {}),
                **({"selection": rows(self.selection)} if self.selection else {})}


def forecast_coverage(counts: Counts, predict_k, *, law: str = "power", max_samples: int | None = None,
                      num_bootstrap: int = 200, seed: int = 0) -> CoverageForecast:
    """Fit a coverage law to a model's counts (the first ``max_samples`` of each problem, when
    given) and forecast pass@k at ``predict_k``; where the full counts reach k, the actual
    pass@k is given beside the forecast (a backtest)."""
    used = counts.first(max_samples, seed) if max_samples else counts
    m = int(used.n.min())
    grid = np.unique(np.round(np.geomspace(1, m, min(m, 30))).astype(np.int64))
    observed = mean_pass_at_k(used.n, used.c, grid, num_bootstrap=num_bootstrap, seed=seed)
    fit = fit_coverage(used.n, used.c, law=law, num_bootstrap=num_bootstrap, seed=seed)
    k = np.atleast_1d(np.asarray(predict_k, dtype=np.int64))
    fc = fit.predict(k)
    full = int(counts.n.min())
    reach = k <= full
    actual = np.full(k.size, np.nan)
    if reach.any():
        actual[reach] = mean_pass_at_k(counts.n, counts.c, k[reach])["value"]
    fc["actual"] = actual
    selection = {}
    if used.answers is not None or used.scores is not None:
        from scalelab.samples.voting import best_at_k, majority_at_k

        ks = np.unique(np.round(np.geomspace(1, m, min(m, 12))).astype(np.int64))
        selection = {"k": ks, "pass": mean_pass_at_k(used.n, used.c, ks)["value"]}
        if used.answers is not None:
            selection["majority"] = majority_at_k(used.answers, used.samples, ks, seed=seed).mean(0)
        if used.scores is not None:
            selection["best"] = best_at_k(used.scores, used.samples, ks).mean(0)
    return CoverageForecast(counts.model, int(counts.n.size), m, full, fit, observed, fc, list(fit.warnings),
                            selection=selection, samples_most=int(used.n.max()))


def _num(x) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None
