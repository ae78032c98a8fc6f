"""Fit speed: scalelab against the PyPI `chinchilla` package and a plain scipy L-BFGS-B
multi-start over Hoffmann et al.'s grid of starts (as Epoch AI did), on the same 240
Chinchilla runs, in one run. Prints wall time and the Huber objective (delta=1e-3, summed
over runs, evaluated the same way for every result) and the ratio to scalelab.

Then the solver's real peer: scipy.optimize.least_squares(loss="huber", f_scale=delta),
whose cost is exactly this objective, with the same analytic Jacobian and bounds, from the
same starts as scalelab's batched IRLS/Levenberg-Marquardt: the grid's local minima for
the point fit, and the fit's optima for each of 200 bootstrap resamples (a resample's
run counts as integer weights; least_squares sees the rows repeated that many times).

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
from scipy.optimize import least_squares, minimize
from scipy.special import logsumexp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from scalelab import Fit, __version__  # noqa: E402
from scalelab.data import bundled_path  # noqa: E402
from scalelab.fitting.fit import RIVAL_OBJECTIVE, _distinct  # noqa: E402
from scalelab.fitting.objective import Problem, huber, objective_at  # noqa: E402
from scalelab.fitting.params import ParamMap  # noqa: E402
from scalelab.fitting.search import grid_starts  # noqa: E402
from scalelab.fitting.solver import refine  # noqa: E402
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


def lsq_fit(problem: Problem, start: np.ndarray, rows: np.ndarray | None = None):
    """scipy's trust-region least squares with the Huber loss from one start; ``rows`` repeats
    rows (a bootstrap resample). Returns the free vector."""
    idx = np.arange(problem.n) if rows is None else rows

    def resid(x):
        return problem.evaluate(x[None])[1][0][idx]

    def jac(x):
        return problem.jacobian(problem.evaluate(x[None])[2])[0][idx]

    x0 = np.clip(start, problem.lower + 1e-12, problem.upper - 1e-12)
    return least_squares(resid, x0, jac=jac, loss="huber", f_scale=problem.delta,
                         bounds=(problem.lower, problem.upper), method="trf").x


def solver_peer(runs, num_resamples: int, repeat: int) -> list[tuple]:
    """scalelab's solver against least_squares from the same starts: point fit and resamples."""
    law = ChinchillaLaw
    pmap = ParamMap.build(law)
    problem = Problem(pmap, runs.inputs(law.inputs), runs.column("loss"), DELTA)

    t_grid, (starts, _) = timed(lambda: grid_starts(problem, 8), repeat)  # shared by both
    t_ours, res = timed(lambda: refine(problem, starts), repeat)
    order = np.argsort(res.fun)
    optima = _distinct(res.x[order], res.fun[order])
    best_x, best_fun = optima[0]

    def theirs_point():
        xs = [lsq_fit(problem, x) for x in starts]
        return min(xs, key=lambda x: problem.evaluate(x[None])[0][0])

    t_theirs, x_lsq = timed(theirs_point, repeat)
    rows = [(f"scalelab solver, point fit from the grid's {len(starts)} starts", t_ours, best_fun),
            (f"least_squares huber, point fit from the same {len(starts)} starts", t_theirs,
             float(problem.evaluate(x_lsq[None])[0][0]))]

    # bootstrap: the same resamples, the same starts (the optima within 10% of the best)
    rng = np.random.default_rng(0)
    draws = rng.integers(0, problem.n, size=(num_resamples, problem.n))
    W = np.stack([np.bincount(d, minlength=problem.n) for d in draws]).astype(float)
    rivals = [x for x, f in optima if f <= best_fun * (1 + RIVAL_OBJECTIVE)][:3]

    def ours_boot():
        best = None
        for start in rivals:
            r = refine(problem, np.repeat(start[None], len(W), 0), W)
            if best is None:
                best = r
            else:
                better = r.fun < best.fun
                best.x[better], best.fun[better] = r.x[better], r.fun[better]
        return best.fun

    def objective_on(x, rows_):
        return float(huber(problem.evaluate(x[None])[1][0][rows_], DELTA).sum())

    def theirs_boot():
        funs = []
        for d in draws:
            rows_ = np.sort(d)
            funs.append(min(objective_on(lsq_fit(problem, start, rows_), rows_) for start in rivals))
        return np.array(funs)

    t_ob, f_ours = timed(ours_boot, repeat)
    t_tb, f_theirs = timed(theirs_boot, 1)
    rel = f_ours / f_theirs - 1
    rows += [(f"scalelab solver, {len(W)} resamples x {len(rivals)} starts", t_ob, float(np.median(f_ours))),
             (f"least_squares huber, {len(W)} resamples x {len(rivals)} starts", t_tb, float(np.median(f_theirs)))]
    note = (f"resamples (median objective shown): scalelab / least_squares objective - 1 from {rel.min():.2g} to "
            f"{rel.max():.2g}; within 1e-6 of each other in {int((np.abs(rel) <= 1e-6).sum())} of {len(W)}")
    return rows, note + f"; the grid search both start from: {t_grid:.3f} s"


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

    peer, note = solver_peer(runs, 200, args.repeat)
    print(f"\n{'the solver against scipy.optimize.least_squares':62s} {'time (s)':>10s} {'x scalelab':>11s} {'objective':>20s}")
    for i, (name, t, obj) in enumerate(peer):
        ref = peer[i - i % 2][1]
        print(f"{name:62s} {t:10.3f} {t / ref:11.1f} {obj:20.14g}")
    print(note)


if __name__ == "__main__":
    main()
