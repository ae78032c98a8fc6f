"""Unbiased pass@k (Chen et al. 2021) for every k up to n, per problem and averaged.

pass@k of a problem with c correct of n samples is 1 - C(n-c, k) / C(n, k): the chance that
k samples drawn without replacement from the n include a correct one. The ratio is the
running product prod_{j<k} (n-c-j)/(n-j) of factors in [0, 1], computed for all k at once
with a cumulative product (stable: no factorials, no cancellation); it is 0 once k > n-c.
Known bugs elsewhere are refused or handled: c = 0 gives 0 for every k (never 1), k > n
is an error (it needs a law), and counts are checked to be whole numbers with 0 <= c <= n.
"""

from __future__ import annotations

import numpy as np

from scalelab.errors import InputError


def check_counts(n, c) -> tuple[np.ndarray, np.ndarray]:
    """Sample and correct counts as int arrays, refused with a one-line message when wrong."""
    n = np.atleast_1d(np.asarray(n, float))
    c = np.atleast_1d(np.asarray(c, float))
    if n.shape != c.shape:
        raise InputError(f"{n.size} sample counts but {c.size} correct counts; give one of each per problem")
    if n.size == 0:
        raise InputError("no problems: give at least one (n, c) pair")
    for name, v in (("n", n), ("c", c)):
        bad = ~np.isfinite(v) | (v != np.round(v)) | (v < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"{name} must be a whole number >= 0; problem {i + 1} has {name} = {v[i]:g}")
    if (n < 1).any():
        i = int(np.flatnonzero(n < 1)[0])
        raise InputError(f"problem {i + 1} has n = 0 samples; drop it or give its samples")
    if (c > n).any():
        i = int(np.flatnonzero(c > n)[0])
        raise InputError(f"problem {i + 1} has c = {c[i]:g} correct of n = {n[i]:g} samples: c cannot exceed n")
    return n.astype(np.int64), c.astype(np.int64)


def pass_at_k(n, c, k) -> np.ndarray:
    """pass@k per problem (rows) for each k (columns).

    Examples
    --------
    >>> pass_at_k([10, 10, 10], [0, 1, 10], [1, 5, 10]).round(3).tolist()
    [[0.0, 0.0, 0.0], [0.1, 0.5, 1.0], [1.0, 1.0, 1.0]]
    """
    n, c = check_counts(n, c)
    k = np.atleast_1d(np.asarray(k))
    if k.size == 0 or (k != np.round(k)).any() or (k < 1).any():
        raise InputError(f"k must be whole numbers >= 1; got {k.tolist()[:5]}")
    k = k.astype(np.int64)
    if k.max() > n.min():
        i = int(np.argmin(n))
        raise InputError(f"pass@{k.max()} needs at least {k.max()} samples per problem; problem {i + 1} has "
                         f"{n[i]}: beyond the samples drawn, pass@k needs a law (scalelab samples fit --predict-k)")
    kmax = int(k.max())
    j = np.arange(kmax)
    with np.errstate(divide="ignore", invalid="ignore"):
        factors = np.clip((n[:, None] - c[:, None] - j) / (n[:, None] - j), 0.0, 1.0)
    ratio = np.cumprod(factors, axis=1)  # ratio[:, k-1] = C(n-c, k) / C(n, k)
    return 1.0 - ratio[:, k - 1]


def mean_pass_at_k(n, c, k, *, num_bootstrap: int = 0, levels=(0.8, 0.95), seed: int = 0) -> dict:
    """pass@k averaged over problems, and (with ``num_bootstrap``) percentile intervals from
    resampling problems: ``{"k", "value", "lo80", "hi80", ...}`` arrays."""
    per = pass_at_k(n, c, k)
    out = {"k": np.atleast_1d(np.asarray(k)).astype(np.int64), "value": per.mean(0)}
    if num_bootstrap:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, per.shape[0], size=(num_bootstrap, per.shape[0]))
        draws = per[idx].mean(1)
        for lv in levels:
            tag = f"{100 * lv:g}"
            out[f"lo{tag}"], out[f"hi{tag}"] = np.quantile(draws, [(1 - lv) / 2, (1 + lv) / 2], axis=0)
    return out


def subsample(n, c, m: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The counts of the first ``m`` samples of each problem, when only totals are known: a
    draw without replacement (hypergeometric), which is what the first m of n exchangeable
    samples are."""
    n, c = check_counts(n, c)
    if not 1 <= m <= n.min():
        raise InputError(f"--max-samples {m}: give 1 to {n.min()} (the fewest samples of a problem)")
    rng = np.random.default_rng(seed)
    return np.full_like(n, m), rng.hypergeometric(c, n - c, m)
