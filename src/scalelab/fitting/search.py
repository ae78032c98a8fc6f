"""Global search by variable projection.

For fixed exponents an additive power law is linear in its constant and coefficients, so
each point of a grid over the free exponents costs one small non-negative weighted least
squares (weights 1/L^2, i.e. relative error, a close stand-in for log residuals). Each
grid point is then scored with the true Huber objective, and the local minima of that
score over the grid become the starts of the local refinement. This replaces the dense
grid of thousands of L-BFGS starts used by Hoffmann et al. and Besiroglu et al.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.ndimage import minimum_filter

from scalelab.fitting.objective import Problem, huber

EXPONENT_RANGE = (0.01, 3.0)
GRID_POINTS = 2500  # total grid points over the free exponents
MAX_GRID_ROWS = 2000  # rows used to score the grid (an even subsample above this)


def grid_starts(problem: Problem, num_starts: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Starting free vectors (k, p) for the local refinement, best first, and their grid scores."""
    pmap = problem.pmap
    is_exp = pmap.is_exponent()
    exp_free = np.flatnonzero(is_exp)
    scale_free = np.flatnonzero(~is_exp)
    n_exp = exp_free.size
    per_axis = max(4, int(round(GRID_POINTS ** (1.0 / n_exp)))) if n_exp else 1
    axis = np.geomspace(*EXPONENT_RANGE, per_axis)
    grid = np.array(list(itertools.product(axis, repeat=n_exp))) if n_exp else np.zeros((1, 0))
    G = grid.shape[0]

    rows = np.arange(problem.n)
    if problem.n > MAX_GRID_ROWS:
        rows = np.linspace(0, problem.n - 1, MAX_GRID_ROWS).round().astype(int)
    loss = np.exp(problem.log_loss[rows])
    wt = 1.0 / loss**2

    # canonical exponent values at each grid point (fixed ones from b)
    free0 = np.zeros((G, pmap.num_free))
    free0[:, exp_free] = grid
    canon = free0 @ pmap.M.T + pmap.b  # scale coordinates are 0 (free) or fixed logs here

    const_i = problem.const_index
    # log of each canonical scale's column (G, n): constant -> 0, coefficient k -> -e_k log x_k
    log_col = {const_i: np.zeros((G, rows.size))}
    for ci, ei, lx in zip(problem.coef_index, problem.exp_index, problem.log_inputs):
        log_col[ci] = -canon[:, ei, None] * lx[rows]

    offset = np.zeros((G, rows.size))
    fixed_scales = [i for i in log_col if not pmap.M[i].any()]
    for i in fixed_scales:
        with np.errstate(over="ignore"):
            offset += np.exp(pmap.b[i] + log_col[i])
    y = loss - offset

    # one column per free scale group (tied scales add), normalised to unit mean in log
    cols, norms = [], []
    for j in scale_free:
        members = np.flatnonzero(pmap.M[:, j])
        lc = np.logaddexp.reduce([log_col[i] for i in members], axis=0)
        s = lc.mean(1, keepdims=True)
        cols.append(np.exp(lc - s))
        norms.append(s[:, 0])
    coef, ok = _nnls_batched(cols, y, wt) if cols else (np.zeros((G, 0)), np.ones(G, bool))

    pred = offset + sum(c * coef[:, [j]] for j, c in enumerate(cols))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(pred) - problem.log_loss[rows]
    score = np.where(np.isfinite(r).all(1) & ok, huber(r, problem.delta).sum(1), np.inf)
    # put back on the full data's scale so scores compare with the refined objective
    score = score * (problem.n / rows.size)

    floor = 1e-6 * float(loss.mean())
    starts = np.zeros((G, pmap.num_free))
    starts[:, exp_free] = grid
    for j, (col_j, s) in enumerate(zip(scale_free, norms)):
        starts[:, col_j] = np.log(np.maximum(coef[:, j], floor)) - s

    order = _local_minima(score, per_axis, n_exp)
    order = order[np.isfinite(score[order])][:num_starts]
    if order.size == 0:  # nothing finite: start from the middle of the grid
        order = np.array([G // 2])
    return starts[order], score[order]


def _local_minima(score: np.ndarray, per_axis: int, n_exp: int) -> np.ndarray:
    """Indices of grid local minima, best first, then the remaining points by score."""
    if n_exp == 0:
        return np.argsort(score)
    s = np.where(np.isfinite(score), score, np.inf).reshape((per_axis,) * n_exp)
    minima = np.flatnonzero((s == minimum_filter(s, size=3, mode="nearest")).ravel() & np.isfinite(s.ravel()))
    minima = minima[np.argsort(score[minima])]
    rest = np.setdiff1d(np.argsort(score), minima, assume_unique=False)
    rest = rest[np.argsort(score[rest])]
    return np.concatenate([minima, rest[:1]])


def _nnls_batched(cols: list[np.ndarray], y: np.ndarray, wt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative weighted least squares for every grid row at once.

    With p <= 4 columns the active-set solution is found by enumeration: the NNLS optimum
    is the best of the unconstrained solutions on each support that are non-negative.
    """
    G, p = y.shape[0], len(cols)
    Mfull = np.empty((G, p, p))
    v = np.empty((G, p))
    for i in range(p):
        v[:, i] = (cols[i] * y * wt).sum(1)
        for j in range(i, p):
            Mfull[:, i, j] = Mfull[:, j, i] = (cols[i] * cols[j] * wt).sum(1)
    yy = (y * y * wt).sum(1)
    best = np.full(G, np.inf)
    coef = np.zeros((G, p))
    for support in itertools.chain.from_iterable(itertools.combinations(range(p), k) for k in range(1, p + 1)):
        idx = list(support)
        Ms = Mfull[:, idx][:, :, idx]
        vs = v[:, idx]
        ridge = 1e-12 * np.trace(Ms, axis1=1, axis2=2)[:, None, None] * np.eye(len(idx))
        cs = np.linalg.solve(Ms + ridge, vs[..., None])[..., 0]
        feasible = (cs >= 0).all(1)
        val = yy - 2 * (cs * vs).sum(1) + np.einsum("gi,gij,gj->g", cs, Ms, cs)
        better = feasible & (val < best)
        best[better] = val[better]
        full = np.zeros((G, p))
        full[:, idx] = cs
        coef[better] = full[better]
    return coef, np.isfinite(best)
