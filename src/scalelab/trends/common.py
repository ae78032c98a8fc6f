"""What the trend commands share: the shipped benchmark table, read and filtered, and the
bootstrap over models that gives their intervals."""

from __future__ import annotations

from typing import Callable

import numpy as np



def benchmark_table(where: str | None = None):
    """Epoch's benchmark snapshot with short names beside its own columns (``system``,
    ``date``, ``access`` "open" or "closed", ``trust``, ``compute``), filtered by ``where``
    (a pandas query over either)."""
    import pandas as pd

    from scalelab.data import bundled_path

    d = pd.read_csv(bundled_path("epoch_benchmarks"))
    d["C"] = pd.to_numeric(d["Training compute (FLOP)"], errors="coerce")
    d = d.assign(system=d["System"], date=d["Date"], access=d["Open/Closed"].str.lower(),
                 trust=d["Trust in benchmark results"].fillna(0), compute=d["C"])
    return select(d, where)


def select(d, where: str | None):
    """Rows of ``d`` matching the pandas query ``where`` (None keeps all); a bad query is
    refused with the short columns it may use."""
    from scalelab.runs.table import select_rows

    short = ", ".join(c for c in d.columns if c == c.lower() and " " not in c)
    return select_rows(d, where, source="the snapshot", noun="models", example="trust >= 0 and access == 'open'",
                       columns=f"{short} (and the snapshot's own, in backticks)")


def benchmark_models(benchmark: str, min_trust: float = 0, where: str | None = None):
    """The models of Epoch's benchmark snapshot with a training compute estimate (column
    ``C``) and a ``benchmark`` score, whose results are trusted at least ``min_trust`` and
    that match ``where``."""
    d = benchmark_table(where)
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
