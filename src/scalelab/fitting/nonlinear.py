"""Fitting laws that are not plain additive power laws (the data-constrained law).

Such a law is an additive power law in *effective* inputs that depend on its own extra
parameters (R_D*, R_N*) and on its coefficients. :class:`EffectiveProblem` offers the
interface of :class:`~scalelab.fitting.objective.Problem` (objective, residuals,
Jacobian for many parameter vectors at once), so the same batched robust solver and
bootstrap run on it; the Jacobian is by central differences. :func:`effective_starts`
replaces the variable-projection grid: stage one fits the additive core on the raw
inputs (repeated data worth as much as fresh), stage two spreads starts over a grid of
the extra parameters; the solver then refines all of them jointly.
"""

from __future__ import annotations

import numpy as np

from scalelab.fitting.objective import Problem, free_bounds, huber
from scalelab.fitting.params import ParamMap

# bounds of the log of the extra positive parameters: R* from 0.007 to 22,000 repetitions
LOG_DECAY_BOUNDS = (-5.0, 10.0)
STEP = 1e-6  # central-difference step in free coordinates


def is_effective(law) -> bool:
    return hasattr(law, "effective_inputs")


class EffectiveProblem:
    """Data and parameter map of a fit of a law with effective inputs (see the module)."""

    def __init__(self, pmap: ParamMap, inputs: dict[str, np.ndarray], loss: np.ndarray, delta: float):
        law = pmap.law
        self.pmap = pmap
        self.delta = float(delta)
        self.log_loss = np.log(np.asarray(loss, float))
        self.n = self.log_loss.size
        self.inputs = {k: np.asarray(inputs[k], float)[None, :] for k in law.inputs}
        self.log_inputs = [np.log(np.asarray(inputs[k], float)) for k in law.inputs]
        canonical = pmap.canonical
        self.const_index = canonical.index(law.constant)
        self.exps = {t.exponent for t in law.terms}
        self.lower, self.upper = free_bounds(pmap, self.log_loss, {d: LOG_DECAY_BOUNDS for d in law.decays})

    def log_prediction(self, free: np.ndarray) -> np.ndarray:
        """log Lhat (B, n) for free vectors (B, p)."""
        th = np.atleast_2d(free) @ self.pmap.M.T + self.pmap.b
        canon = {c: (th[:, i, None] if c in self.exps else np.exp(th[:, i, None]))
                 for i, c in enumerate(self.pmap.canonical)}
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            return self.pmap.law.log_predict(canon, self.inputs)

    def evaluate(self, free: np.ndarray, weights: np.ndarray | None = None):
        """Objective (B,), log residuals (B, n), and the state the Jacobian needs."""
        free = np.atleast_2d(np.asarray(free, float))
        r = self.log_prediction(free) - self.log_loss
        h = np.where(np.isfinite(r), huber(r, self.delta), np.inf)
        obj = h.sum(1) if weights is None else (np.where(weights > 0, h, 0.0) * weights).sum(1)
        return obj, r, [free]

    def jacobian(self, state: list[np.ndarray]) -> np.ndarray:
        """d log Lhat / d free: (B, n, p), by central differences."""
        free = state[0]
        B, p = free.shape
        J = np.empty((B, self.n, p))
        for j in range(p):
            step = np.zeros(p)
            step[j] = STEP
            J[:, :, j] = (self.log_prediction(free + step) - self.log_prediction(free - step)) / (2 * STEP)
        return np.where(np.isfinite(J), J, 0.0)


def make_problem(pmap: ParamMap, inputs: dict[str, np.ndarray], loss: np.ndarray, delta: float):
    """The fitting problem for a law: the additive one, or the effective-inputs one."""
    cls = EffectiveProblem if is_effective(pmap.law) else Problem
    return cls(pmap, inputs, loss, delta)


def effective_starts(problem: EffectiveProblem, num_starts: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Starting free vectors for an effective-inputs law, best first, and their objectives."""
    from scalelab.fitting.search import grid_starts
    from scalelab.fitting.solver import refine
    from scalelab.laws import ChinchillaLaw

    pmap = problem.pmap
    core_names = set(ChinchillaLaw.param_names())
    core_fix = {k: v for k, v in pmap.fixed.items() if k in core_names}
    core_ties = [(a, b) for a, b in pmap.ties if a in core_names and b in core_names]
    core_pmap = ParamMap.build(ChinchillaLaw, core_fix, core_ties)
    raw = {"params": np.exp(problem.log_inputs[0]), "tokens": np.exp(problem.log_inputs[1])}
    core = Problem(core_pmap, raw, np.exp(problem.log_loss), problem.delta)
    if core_pmap.num_free:
        s, _ = grid_starts(core, 4)
        res = refine(core, s)
        core_canon = core_pmap.to_canonical(res.x[np.argmin(res.fun)])
    else:
        core_canon = core_pmap.b
    base = np.zeros(len(pmap.canonical))
    for i, c in enumerate(core_pmap.canonical):
        base[pmap.canonical.index(c)] = core_canon[i]
    cands = []
    for log_rd in np.log(np.geomspace(1.0, 300.0, 7)):
        for log_rn in np.log(np.geomspace(0.5, 100.0, 5)):
            v = base.copy()
            v[pmap.canonical.index("R_D")] = log_rd
            v[pmap.canonical.index("R_N")] = log_rn
            cands.append(pmap.to_free(v))
    cands = np.clip(np.unique(np.array(cands), axis=0), problem.lower, problem.upper)
    obj, _, _ = problem.evaluate(cands)
    order = np.argsort(np.where(np.isfinite(obj), obj, np.inf))[:num_starts]
    return cands[order], obj[order]
