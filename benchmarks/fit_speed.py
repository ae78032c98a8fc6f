"""Fit speed: scalelab against the PyPI `chinchilla` package and a plain scipy L-BFGS-B
multi-start over Hoffmann et al.'s grid of starts (as Epoch AI did), on the same 240
Chinchilla runs, in one run. Prints wall time and the Huber objective (delta=1e-3, summed
over runs, evaluated the same way for every result) and the ratio to scalelab.

Run:  pip install -e '.[bench]' && python benchmarks/fit_speed.py [--stride 1]
--stride K keeps every K-th start of the 4,500-start grid for the peers (1 = all).
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import logsumexp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from scalelab import Fit, __version__  # noqa: E402
from scalelab.data import bundled_path  # noqa: E402
from scalelab.fitting.objective import huber, objective_at  # noqa: E402
from scalelab.laws import ChinchillaLaw  # noqa: E402
from scalelab.runs import read_runs  # noqa: E402

DELTA = 1e-3
# Hoffmann et al. 2022 (Appendix D.2) grid of initialisations, as used by Besiroglu et al.
GRID = list(itertools.product(
    np.arange(0, 2.5, 0.5),  # alpha
    np.arange(0, 2.5, 0.5),  # beta
    np.arange(-1, 1.5, 0.5),  # e = log E
    np.arange(0, 30, 5),  # a = log A
    np.arange(0, 30, 5),  # b = log B
))


def objective(N, D, L, **params) -> float:
    return objective_at(ChinchillaLaw(**{k: float(v) for k, v in params.items()}), {"params": N, "tokens": D}, L, DELTA)


def timed(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def scipy_multistart(N, D, L, starts):
    """Epoch AI's approach: L-BFGS-B (numerical gradient, default tolerances) from every start."""
    lN, lD, lL = np.log(N), np.log(D), np.log(L)

    def f(x):
        e, a, b, alpha, beta = x
        return huber(logsumexp([a - alpha * lN, b - beta * lD, np.full_like(lN, e)], axis=0) - lL, DELTA).sum()

    best = None
    for alpha, beta, e, a, b in starts:
        res = minimize(f, [e, a, b, alpha, beta], method="L-BFGS-B")
        if best is None or res.fun < best.fun:
            best = res
    e, a, b, alpha, beta = best.x
    return dict(E=np.exp(e), A=np.exp(a), B=np.exp(b), alpha=alpha, beta=beta)


def chinchilla_package(N, D, L, starts):
    """kyo-takano/chinchilla 0.2.0: BFGS in 128-bit floats over the grid, on all cores."""
    from chinchilla import Chinchilla
    from chinchilla._metrics import log_huber

    grid = {k: sorted({s[i] for s in starts}) for i, k in enumerate(["alpha", "beta", "e", "a", "b"])}
    work = Path(tempfile.mkdtemp(prefix="chinchilla-bench-"))
    try:
        pd.DataFrame({"C": 6 * N * D, "N": N, "D": D, "loss": L}).to_csv(work / "df.csv", index=False)
        cc = Chinchilla(str(work), param_grid=grid, loss_fn=lambda y, p: log_huber(y, p, delta=DELTA), log_level=40)
        cc.fit(parallel=True)
        return cc.params
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stride", type=int, default=1,
                    help="keep every K-th start of the 4,500 (1 = all); the chinchilla package takes the product "
                         "of the values left on each axis, which a stride barely shrinks")
    ap.add_argument("--repeat", type=int, default=5, help="repeats of the scalelab timings (median reported)")
    args = ap.parse_args()
    warnings.simplefilter("ignore")

    runs = read_runs(bundled_path("chinchilla"), where="epoch_excluded == 0")
    N, D, L = runs.column("params"), runs.column("tokens"), runs.column("loss")
    starts = GRID[:: args.stride]
    print(f"scalelab {__version__}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"{len(runs)} Chinchilla runs, peers from {len(starts)} starts")

    rows = []
    t, fit = timed(lambda: Fit(num_bootstrap=0, calibrate=False).fit(runs), args.repeat)
    rows.append(("scalelab point fit", t, objective(N, D, L, **fit.params_)))
    t_full, full = timed(lambda: Fit(num_bootstrap=200).fit(runs), args.repeat)
    rows.append(("scalelab fit + 200 bootstrap + calibration", t_full, objective(N, D, L, **full.params_)))
    t, p = timed(lambda: scipy_multistart(N, D, L, starts), 1)
    rows.append((f"scipy L-BFGS-B x {len(starts)} starts (Epoch)", t, objective(N, D, L, **p)))
    try:
        t, p = timed(lambda: chinchilla_package(N, D, L, starts), 1)
        rows.append((f"chinchilla 0.2.0 BFGS x {len(starts)} starts", t, objective(N, D, L, **p)))
    except ImportError:
        print("(the chinchilla package is not installed: pip install -e '.[bench]')")

    base = rows[0][1]
    print(f"\n{'method':48s} {'time (s)':>10s} {'x scalelab point fit':>21s} {'objective':>14s}")
    for name, t, obj in rows:
        print(f"{name:48s} {t:10.3f} {t / base:21.1f} {obj:14.9g}")
    slowest = max(rows[2:], key=lambda r: r[1])
    print(f"\nslowest peer / scalelab point fit: {slowest[1] / base:.0f}x; "
          f"slowest peer / scalelab full fit with 200 bootstrap resamples: {slowest[1] / t_full:.0f}x")


if __name__ == "__main__":
    main()
