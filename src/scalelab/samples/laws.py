"""Coverage laws: pass@k for k far beyond the samples drawn, with intervals.

* ``power`` (Brown et al. 2024): coverage(k) = exp(-a k^-b), i.e. log(-log coverage) is
  linear in log k; fitted by least squares to the observed mean pass@k at log-spaced k.
* ``beta`` (Schaeffer et al. 2025): each problem's single-sample success p follows a Beta(alpha,
  beta) law; the counts are beta-binomial and the law is fitted by maximum likelihood;
  coverage(k) = 1 - E[(1-p)^k] = 1 - B(alpha, beta+k) / B(alpha, beta). The heavy left tail
  of p (alpha < 1) is what makes coverage a power law in k.

Intervals come from a bootstrap over problems: each resample is refitted and predicts.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from scalelab.errors import InputError
from scalelab.samples.estimator import check_counts, pass_at_k

LAWS = ("power", "beta")
LEVELS = (0.8, 0.95)


def _grid(m: int) -> np.ndarray:
    return np.unique(np.round(np.geomspace(1, m, 40)).astype(np.int64))


def fit_power(n: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(log a, b) of coverage(k) = exp(-a k^-b) from the mean pass@k at log-spaced k <= min(n)."""
    k = _grid(int(n.min()))
    cov = pass_at_k(n, c, k).mean(0)
    ok = (cov > 0) & (cov < 1)
    if ok.sum() < 2:
        return np.array([np.nan, np.nan])
    slope, intercept = np.polyfit(np.log(k[ok]), np.log(-np.log(cov[ok])), 1)
    return np.array([intercept, -slope])


def predict_power(theta: np.ndarray, k: np.ndarray) -> np.ndarray:
    log_a, b = np.asarray(theta)[..., 0:1], np.asarray(theta)[..., 1:2]
    return np.exp(-np.exp(log_a) * np.asarray(k, float) ** -b)


def fit_beta(n: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(log alpha, log beta) of the beta-binomial law by maximum likelihood."""
    from scipy.optimize import minimize
    from scipy.special import betaln

    def nll(t):
        a, b = np.exp(t)
        return -float(np.sum(betaln(c + a, n - c + b) - betaln(a, b)))

    p = np.clip(c / n, 1e-6, 1 - 1e-6)
    m, v = p.mean(), max(p.var(), 1e-8)
    s = max(m * (1 - m) / v - 1, 1e-3)
    starts = [np.log([max(m * s, 1e-3), max((1 - m) * s, 1e-3)]), np.log([0.1, 10.0]), np.log([0.05, 1.0])]
    best = None
    for t0 in starts:
        r = minimize(nll, t0, method="L-BFGS-B", bounds=[(-12, 8), (-12, 12)])
        if best is None or r.fun < best.fun:
            best = r
    return best.x


def predict_beta(theta: np.ndarray, k: np.ndarray) -> np.ndarray:
    from scipy.special import betaln

    a, b = np.exp(np.asarray(theta)[..., 0:1]), np.exp(np.asarray(theta)[..., 1:2])
    return -np.expm1(betaln(a, b + np.asarray(k, float)) - betaln(a, b))


FITTERS = {"power": (fit_power, predict_power), "beta": (fit_beta, predict_beta)}


NO_LAW = ("none", "solved")  # what fit_coverage returns when the counts leave nothing to fit


@dataclass
class CoverageFit:
    """A coverage law fitted to one model's per-problem counts, with its bootstrap ensemble."""

    law: str
    theta: np.ndarray
    ensemble: np.ndarray  # (B, 2)
    n_problems: int
    samples: int  # the fewest samples of a problem (the largest k observed)
    chosen_by: str = ""
    warnings: list[str] = field(default_factory=list)

    def predict(self, k, levels=LEVELS) -> dict:
        """Coverage at ``k`` with percentile intervals over the bootstrap. Without a law
        (``solved``: every problem solved at least once, so 100% from the samples drawn on;
        ``none``: nothing solved, nothing to extrapolate) the value is exact or NaN."""
        k = np.atleast_1d(np.asarray(k, float))
        if self.law in NO_LAW:
            value = np.where(k >= self.samples, 1.0, np.nan) if self.law == "solved" else np.full(k.size, np.nan)
            out = {"k": k.astype(np.int64), "value": value}
            for lv in levels:
                out[f"lo{100 * lv:g}"], out[f"hi{100 * lv:g}"] = value, value
            return out
        _, pred = FITTERS[self.law]
        out = {"k": k.astype(np.int64), "value": np.ravel(pred(self.theta[None], k))}
        if len(self.ensemble):
            draws = pred(self.ensemble, k)
            draws = draws[np.isfinite(draws).all(1)]
            for lv in levels:
                tag = f"{100 * lv:g}"
                out[f"lo{tag}"], out[f"hi{tag}"] = np.quantile(draws, [(1 - lv) / 2, (1 + lv) / 2], axis=0)
        return out

    def params(self) -> dict:
        if self.law in NO_LAW:
            return {}
        if self.law == "power":
            return {"a": float(np.exp(self.theta[0])), "b": float(self.theta[1])}
        return {"alpha": float(np.exp(self.theta[0])), "beta": float(np.exp(self.theta[1]))}


def fit_coverage(n, c, *, law: str = "power", num_bootstrap: int = 200, seed: int = 0) -> CoverageFit:
    """Fit a coverage law to per-problem counts (see the module docstring).

    ``law="auto"`` backtests both inside the data (fit on a tenth of the samples, drawn
    without replacement, and predict the observed pass@k at all of them) and keeps the
    closer one. The default is ``power``: over 50 draws of the Large Language Monkeys counts
    it forecast pass@10,000 closer than ``beta`` and ``auto`` from 100 samples (mean error
    2.8 points against 6.2 and 4.0) and from 1,000 (2.6 against 2.8 and 2.7;
    benchmarks/samples.py).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.beta(0.3, 3.0, 200)
    >>> c = rng.binomial(1000, p)
    >>> f = fit_coverage(np.full(200, 1000), c, law="beta", num_bootstrap=0)
    >>> round(f.params()["alpha"], 2)
    0.29
    """
    n, c = check_counts(n, c)
    if n.size < 2:
        raise InputError(f"a coverage law needs at least two problems; got {n.size}")
    if law not in (*LAWS, "auto"):
        raise InputError(f"--law {law!r}: choose power, beta or auto")
    m = int(n.min())
    if c.sum() == 0:
        return CoverageFit("none", np.full(2, np.nan), np.empty((0, 2)), int(n.size), m, "", [
            f"no problem was solved in {m:,} samples: no law extrapolates from nothing; draw more samples"])
    if (c > 0).all():
        return CoverageFit("solved", np.full(2, np.nan), np.empty((0, 2)), int(n.size), int(n.max()), "", [
            f"every problem was solved at least once in {int(n.max()):,} samples: coverage is 100% from there on, "
            "no law needed"])
    chosen_by = ""
    if law == "auto":
        law, chosen_by = _choose(n, c, seed)
    fitter, _ = FITTERS[law]
    notes = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theta = fitter(n, c)
        ensemble = np.empty((0, 2))
        if num_bootstrap:
            rng = np.random.default_rng(seed)
            idx = rng.integers(0, n.size, size=(num_bootstrap, n.size))
            ensemble = np.array([fitter(n[i], c[i]) for i in idx])
            ensemble = ensemble[np.isfinite(ensemble).all(1)]
    if (c > 0).sum() < 5:
        notes.append(f"only {(c > 0).sum()} of {n.size} problems were ever solved: the forecast rests on very few")
    return CoverageFit(law, theta, ensemble, int(n.size), int(n.min()), chosen_by, notes)


def _choose(n: np.ndarray, c: np.ndarray, seed: int) -> tuple[str, str]:
    from scalelab.samples.estimator import subsample

    m = int(n.min())
    small = max(m // 10, 1)
    if small < 2:
        return "beta", "auto: too few samples to compare the laws; beta"
    ns, cs = subsample(n, c, small, seed)
    actual = pass_at_k(n, c, [m]).mean()
    errors = {}
    for name, (fitter, pred) in FITTERS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if cs.sum() == 0:
                continue
            errors[name] = abs(float(pred(fitter(ns, cs)[None], [m])[0, 0]) - actual)
    if not errors:
        return "beta", "auto: nothing solved in a tenth of the samples; beta"
    best = min(errors, key=errors.get)
    detail = ", ".join(f"{k} {100 * v:.1f} pts" for k, v in errors.items())
    return best, f"auto: fitted on {small} samples, predicting pass@{m} (error {detail})"
