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

EXPONENT_BOUNDS = (0.0, 10.0)


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
    is_exp = problem.pmap.is_exponent()
    lo = np.where(is_exp, EXPONENT_BOUNDS[0], -np.inf)
    hi = np.where(is_exp, EXPONENT_BOUNDS[1], np.inf)
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
        d = np.diagonal(H, axis1=1, axis2=2)
        damp = (lam[active, None] * d + 1e-12 * (d.max(1, keepdims=True) + 1e-300))[:, :, None] * eye
        step = np.linalg.solve(H + damp, -g[..., None])[..., 0]
        trial = np.clip(x[active] + step, lo, hi)
        o_new, r_new, p_new = problem.evaluate(trial, w)
        accept = o_new <= obj[active]
        rel = np.where(accept, (obj[active] - o_new) / np.maximum(obj[active], 1e-300), 0.0)
        idx = active[accept]
        x[idx] = trial[accept]
        r[idx] = r_new[accept]
        for q, qn in zip(probs, p_new):
            q[idx] = qn[accept]
        obj[idx] = o_new[accept]
        lam[active] = np.where(accept, np.maximum(lam[active] / 3.0, 1e-10), lam[active] * 4.0)
        nit[active] += 1
        done = (accept & (rel < rtol)) | (lam[active] > 1e10)
        converged[active[done]] = True
        active = active[~done & (nit[active] < maxiter)]
    return SolverResult(x=x, fun=obj, nit=nit, converged=converged)
