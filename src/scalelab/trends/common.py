"""What the trend commands share: the shipped benchmark table, read and filtered, and the
bootstrap over models that gives their intervals."""

from __future__ import annotations

from typing import Callable

import numpy as np


def benchmark_models(benchmark: str, min_trust: float = 0):
    """The models of Epoch's benchmark snapshot with a training compute estimate (column
    ``C``) and a ``benchmark`` score, whose results are trusted at least ``min_trust``."""
    import pandas as pd

    from scalelab.data import bundled_path

    d = pd.read_csv(bundled_path("epoch_benchmarks"))
    d["C"] = pd.to_numeric(d["Training compute (FLOP)"], errors="coerce")
    return d[d["C"].notna() & d[benchmark].notna() & (d["Trust in benchmark results"] >= min_trust)]


def resample_fits(x: np.ndarray, y: np.ndarray, fit: Callable, num_bootstrap: int, rng) -> list:
    """``fit(x[i], y[i])`` for ``num_bootstrap`` resamples of the models, drawn with
    replacement; a resample whose x has no spread is skipped."""
    out = []
    for _ in range(num_bootstrap):
        i = rng.integers(0, x.size, x.size)
        if np.ptp(x[i]) > 0:
            out.append(fit(x[i], y[i]))
    return out
