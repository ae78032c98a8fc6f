"""Local refinement: a batched iteratively-reweighted Levenberg-Marquardt for the Huber objective.

Each step minimises the Huber majoriser ``psi(r)/(2r) * r'^2`` (the IRLS weights
``min(1, delta/|r|)``) of the linearised model, damped by ``lambda * diag(H)``; a step is
kept only if the true objective falls. Many problems are solved at once (all bootstrap
resamples, or all starts), each with its own damping and stopping: scipy's optimisers
solve one problem per call, which is what makes 200 resamples cost seconds instead of
a tenth of a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalelab.fitting.objective import Problem


STEP_SCALES = np.array([1.0, 3.0, 10.0, 30.0])


@dataclass
class SolverResult:
    x: np.ndarray  # (B, p) free vectors
    fun: np.ndarray  # (B,) objective
    nit: np.ndarray  # (B,) iterations used
    converged: np.ndarray  # (B,) met the tolerance before maxiter


def refine(
    problem: Problem,
    starts: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    rtol: float = 1e-12,
    maxiter: int = 1000,
) -> SolverResult:
    """Minimise the objective from each start (B, p); ``weights`` (B, n) per problem or None."""
    x = np.array(starts, dtype=float, copy=True)
    B, p = x.shape
    if weights is None:
        weights = np.ones((B, problem.n))
    lo, hi = problem.lower, problem.upper
    x = np.clip(x, lo, hi)
    delta = problem.delta

    obj, r, probs = problem.evaluate(x, weights)
    lam = np.full(B, 1e-4)
    nit = np.zeros(B, int)
    converged = np.zeros(B, bool)
    active = np.flatnonzero(np.isfinite(obj)) if p else np.array([], int)
    eye = np.eye(p)
    while active.size:
        w = weights[active]
        ra = r[active]
        J = problem.jacobian([q[active] for q in probs])
        psi = np.clip(ra, -delta, delta) * w
        with np.errstate(divide="ignore"):
            omega = w * np.minimum(1.0, delta / np.abs(ra))
        g = (psi[:, None, :] @ J)[:, 0]
        H = np.swapaxes(J * omega[..., None], 1, 2) @ J
        # coordinates at a bound with the descent direction pointing out are held this step
        held = ((x[active] <= lo) & (g > 0)) | ((x[active] >= hi) & (g < 0))
        if held.any():
            g = np.where(held, 0.0, g)
            keep = ~held
            H = H * keep[:, :, None] * keep[:, None, :] + held[:, :, None] * eye
        d = np.diagonal(H, axis1=1, axis2=2)
        damp = (lam[active, None] * d + 1e-12 * (d.max(1, keepdims=True) + 1e-300))[:, :, None] * eye
        step = np.linalg.solve(H + damp, -g[..., None])[..., 0]
        # the majoriser is cautious (IRLS crawls along curved valleys): also try longer steps
        # along the same direction and keep the best of them
        m = active.size
        k = STEP_SCALES.size
        trials = np.clip(x[active][None] + STEP_SCALES[:, None, None] * step[None], lo, hi).reshape(-1, p)
        o_all, r_all, p_all = problem.evaluate(trials, np.tile(w, (k, 1)))
        pick = np.argmin(np.where(np.isfinite(o_all), o_all, np.inf).reshape(k, m), axis=0)
        rows = pick * m + np.arange(m)
        trial, o_new, r_new = trials[rows], o_all[rows], r_all[rows]
        p_new = [q[rows] for q in p_all]
        accept = o_new <= obj[active]
        # converged when the objective falls by less than rtol of itself, or by less than
        # moving every log residual by 1e-12 could change it (noise-free data drive it to 0)
        decrease = obj[active] - o_new
        small = (decrease < rtol * obj[active]) | (decrease < 1e-12 * min(delta, 1.0) * w.sum(1))
        idx = active[accept]
        x[idx] = trial[accept]
        r[idx] = r_new[accept]
        for q, qn in zip(probs, p_new):
            q[idx] = qn[accept]
        obj[idx] = o_new[accept]
        lam[active] = np.where(accept, np.maximum(lam[active] / 3.0, 1e-10), lam[active] * 4.0)
        nit[active] += 1
        done = (accept & small) | (lam[active] > 1e10)
        converged[active[done]] = True
        active = active[~done & (nit[active] < maxiter)]
    return SolverResult(x=x, fun=obj, nit=nit, converged=converged)
