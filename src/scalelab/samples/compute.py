"""What samples cost: FLOPs per sample, and the exchange rate between a small model sampled
many times and a larger one sampled less.

A sample of a model with N active parameters costs about 2·N FLOPs per token it reads or
writes (the forward pass; Kaplan et al. 2020), so ``2 N (prompt + generated tokens)``.
Training costs 6·N·D (:data:`scalelab.laws.base.FLOPS_PER_PARAM_TOKEN`). The exchange rate
at a coverage level: the samples (and FLOPs) model A needs to reach the coverage model B
reaches with k_B samples; with the training FLOPs of both, the number of queries beyond
which the larger training run is the cheaper way to that coverage.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from scalelab.errors import InputError
from scalelab.laws.base import FLOPS_PER_PARAM_TOKEN
from scalelab.samples.laws import NO_LAW, CoverageFit

FORWARD_FLOPS_PER_PARAM_TOKEN = 2.0
MAX_K = 1e12


def flops_per_sample(params: float, tokens: float, prompt_tokens: float = 0.0) -> float:
    """2·N·(prompt + generated tokens).

    >>> flops_per_sample(7e9, 500, 100)
    8400000000000.0
    """
    if not (params > 0 and tokens > 0 and prompt_tokens >= 0):
        raise InputError(f"FLOPs per sample need params > 0 and tokens > 0 (got {params:g}, {tokens:g})")
    return FORWARD_FLOPS_PER_PARAM_TOKEN * params * (tokens + prompt_tokens)


@dataclass(frozen=True)
class Exchange:
    """Model A against model B at the coverage B reaches with ``k_b`` samples."""

    coverage: float
    k_b: float
    k_a: float | None  # None: A never reaches it (its law levels off below)
    samples_ratio: float | None
    flops_a: float | None  # inference FLOPs per problem
    flops_b: float
    break_even_queries: float | None  # problems after which training B is cheaper overall; None if never

    def to_dict(self) -> dict:
        return asdict(self)


def samples_to_reach(fit: CoverageFit, coverage: float) -> float | None:
    """The k at which the law's coverage reaches ``coverage`` (None if it never does below 1e12)."""
    if float(fit.predict([MAX_K])["value"][0]) < coverage:
        return None
    lo, hi = 0.0, np.log(MAX_K)
    for _ in range(100):
        mid = (lo + hi) / 2
        if float(fit.predict([np.exp(mid)])["value"][0]) < coverage:
            lo = mid
        else:
            hi = mid
    return float(np.exp(hi))


def _observed_at(observed: dict | None, k: float) -> float | None:
    """pass@k read off a model's observed curve (its unbiased estimates on a grid of k,
    linear in log k between them); None beyond the samples drawn."""
    if not observed or len(observed["k"]) == 0 or not 1 <= k <= observed["k"][-1]:
        return None
    return float(np.interp(np.log(k), np.log(np.asarray(observed["k"], float)), observed["value"]))


def _observed_reach(observed: dict | None, coverage: float) -> float | None:
    """The k at which the observed curve reaches ``coverage``; None if it does not within the
    samples drawn."""
    if not observed or len(observed["k"]) == 0:
        return None
    k, v = np.log(np.asarray(observed["k"], float)), np.maximum.accumulate(np.asarray(observed["value"], float))
    if v[-1] < coverage:
        return None
    i = int(np.searchsorted(v, coverage))
    if i == 0:
        return float(np.exp(k[0]))
    return float(np.exp(np.interp(coverage, v[i - 1:i + 1], k[i - 1:i + 1])))


def exchange(fit_a: CoverageFit, fit_b: CoverageFit, *, flops_sample_a: float, flops_sample_b: float,
             k_b: float = 1.0, train_flops_a: float | None = None, train_flops_b: float | None = None,
             observed_a: dict | None = None, observed_b: dict | None = None) -> Exchange:
    """How many samples of A match ``k_b`` samples of B, and what that costs (see the module).
    Where a model's observed pass@k (``observed_*``: a forecast's ``observed``) reaches, it is
    read from there, and from the law only beyond: a law fitted to all k can miss pass@1 by
    several points.

    >>> from scalelab.samples import fit_coverage
    >>> rng = np.random.default_rng(0)
    >>> small = fit_coverage(np.full(300, 1000), rng.binomial(1000, rng.beta(0.3, 20, 300)), law="beta", num_bootstrap=0)
    >>> big = fit_coverage(np.full(300, 1000), rng.binomial(1000, rng.beta(0.3, 2, 300)), law="beta", num_bootstrap=0)
    >>> e = exchange(small, big, flops_sample_a=1e12, flops_sample_b=1e13, k_b=10)
    >>> round(e.samples_ratio, 1), e.flops_a < e.flops_b  # 9x the samples of a 10x cheaper model
    (9.2, True)
    """
    cov = _observed_at(observed_b, k_b)
    cov = float(fit_b.predict([k_b])["value"][0]) if cov is None else cov
    k_a = _observed_reach(observed_a, cov)
    k_a = samples_to_reach(fit_a, cov) if k_a is None else k_a
    flops_b = k_b * flops_sample_b
    if k_a is None:
        return Exchange(cov, k_b, None, None, None, flops_b, None)
    flops_a = k_a * flops_sample_a
    queries = None
    if train_flops_a is not None and train_flops_b is not None and flops_a > flops_b:
        queries = max(train_flops_b - train_flops_a, 0.0) / (flops_a - flops_b)
    return Exchange(cov, k_b, k_a, k_a / k_b, flops_a, flops_b, queries)


def train_flops(params: float, tokens: float) -> float:
    return FLOPS_PER_PARAM_TOKEN * params * tokens


def add_compute(results, params: dict[str, float], *, tokens_per_sample: float, prompt_tokens: float = 0.0,
                train_tokens: float | None = None, k_b: float = 1.0) -> None:
    """Put FLOPs per sample, and the exchange rate against the largest model given, into each
    result's ``compute`` (results: :class:`~scalelab.samples.forecast.CoverageForecast`)."""
    known = [r for r in results if r.model in params]
    if not known:
        return
    ref = max(known, key=lambda r: params[r.model])
    f_ref = flops_per_sample(params[ref.model], tokens_per_sample, prompt_tokens)
    for r in known:
        f = flops_per_sample(params[r.model], tokens_per_sample, prompt_tokens)
        r.compute = {"params": params[r.model], "flops_per_sample": f, "against": ref.model}
        if r is ref or r.fit.law in NO_LAW or ref.fit.law in NO_LAW:
            continue  # (without a law on both sides there is no rate to give)
        tf = {} if train_tokens is None else {"train_flops_a": train_flops(params[r.model], train_tokens),
                                               "train_flops_b": train_flops(params[ref.model], train_tokens)}
        tf["observed_a"], tf["observed_b"] = r.observed, ref.observed
        r.compute["exchange"] = exchange(r.fit, ref.fit, flops_sample_a=f, flops_sample_b=f_ref, k_b=k_b, **tf).to_dict()
