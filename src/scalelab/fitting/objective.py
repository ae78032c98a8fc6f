"""The robust objective: Huber loss on log residuals (Hoffmann et al. 2022; Besiroglu et al. 2024).

``objective(theta) = sum_i w_i * huber_delta(log Lhat_i(theta) - log L_i)`` with
``huber_delta(r) = r^2/2`` for ``|r| <= delta`` and ``delta (|r| - delta/2)`` beyond.
``delta = inf`` gives least squares on log loss.

The model is evaluated as a log-sum-exp, so its Jacobian is the softmax weight of each
term times the derivative of that term. Inputs are centred in log space inside (each
term's coefficient absorbs ``exponent * centre``), which keeps the normal equations
well conditioned; the free coordinates seen by callers stay uncentred canonical ones.
"""

from __future__ import annotations

import numpy as np

from scalelab.fitting.params import ParamMap


def huber(r: np.ndarray, delta: float) -> np.ndarray:
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def objective_at(law, inputs: dict[str, np.ndarray], loss: np.ndarray, delta: float = 1e-3) -> float:
    """The objective a given law (e.g. published parameters) reaches on the runs.

    Examples
    --------
    >>> from scalelab.laws import ChinchillaLaw
    >>> law = ChinchillaLaw(E=1.8, A=480.0, B=2100.0, alpha=0.35, beta=0.37)
    >>> x = {"params": np.array([1e8, 1e9]), "tokens": np.array([2e9, 2e10])}
    >>> objective_at(law, x, law.predict(**x))
    0.0
    """
    r = np.log(law.predict(**{k: inputs[k] for k in law.inputs})) - np.log(loss)
    return float(huber(r, delta).sum())


EXPONENT_BOUNDS = (0.0, 10.0)
"""Where the fit looks for an exponent: a fitted exponent at either end is not determined
by the runs (the fit says so)."""


def free_bounds(pmap: ParamMap, log_loss: np.ndarray, scale_bounds: dict[str, tuple[float, float]] | None = None):
    """Bounds on the free coordinates: exponents in [0, 10]; log E above 1e-6 of the
    smallest loss, so that a fit whose best E is 0 stops there instead of crawling; the
    log-scales named in ``scale_bounds`` (canonical name -> (lo, hi)) within theirs."""
    is_exp = pmap.is_exponent()
    lower = np.where(is_exp, EXPONENT_BOUNDS[0], -np.inf)
    upper = np.where(is_exp, EXPONENT_BOUNDS[1], np.inf)
    for j, group in enumerate(pmap.groups):
        if scale_bounds and group[0] in scale_bounds:
            lower[j], upper[j] = scale_bounds[group[0]]
    const_free = pmap.M[pmap.canonical.index(pmap.law.constant)]
    if const_free.any():
        lower[const_free.argmax()] = log_loss.min() + np.log(1e-6)
    return lower, upper


class Problem:
    """Data and parameter map of one fit, evaluated for many parameter vectors at once.

    Parameters
    ----------
    pmap : the law's parameter map (fixes and ties).
    inputs : law input name -> values (n,), all positive.
    loss : observed losses (n,), positive.
    delta : Huber threshold on log residuals.
    """

    def __init__(self, pmap: ParamMap, inputs: dict[str, np.ndarray], loss: np.ndarray, delta: float):
        law = pmap.law
        self.pmap = pmap
        self.delta = float(delta)
        self.log_loss = np.log(np.asarray(loss, float))
        self.n = self.log_loss.size
        canonical = pmap.canonical
        self.const_index = canonical.index(law.constant)
        self.coef_index = [canonical.index(t.coef) for t in law.terms]
        self.exp_index = [canonical.index(t.exponent) for t in law.terms]
        self.log_inputs = [np.log(np.asarray(inputs[t.input], float)) for t in law.terms]
        self.centres = [float(lx.mean()) for lx in self.log_inputs]
        self.centred = [lx - m for lx, m in zip(self.log_inputs, self.centres)]
        # centring: c'_k = c_k - e_k m_k, an affine change applied after the fix/tie map
        T = np.eye(len(canonical))
        for ci, ei, m in zip(self.coef_index, self.exp_index, self.centres):
            T[ci, ei] -= m
        self.Mc = T @ pmap.M
        self.bc = pmap.b.copy()
        for ci, ei, m in zip(self.coef_index, self.exp_index, self.centres):
            self.bc[ci] -= m * pmap.b[ei]
        self.lower, self.upper = free_bounds(pmap, self.log_loss)


    def terms(self, free: np.ndarray) -> list[np.ndarray]:
        """Log of each term (constant first) for free vectors (B, p): list of (B, n)."""
        th = np.atleast_2d(free) @ self.Mc.T + self.bc
        B = th.shape[0]
        parts = [np.broadcast_to(th[:, self.const_index, None], (B, self.n))]
        for ci, ei, x in zip(self.coef_index, self.exp_index, self.centred):
            parts.append(th[:, ci, None] - th[:, ei, None] * x)
        return parts

    def evaluate(self, free: np.ndarray, weights: np.ndarray | None = None):
        """Objective (B,), log residuals (B, n) and softmax term weights (list of (B, n))."""
        parts = self.terms(free)
        m = parts[0]
        for p in parts[1:]:
            m = np.maximum(m, p)
        with np.errstate(invalid="ignore"):
            ex = [np.exp(p - m) for p in parts]
        s = sum(ex)
        r = m + np.log(s) - self.log_loss
        h = huber(r, self.delta)
        obj = h.sum(1) if weights is None else (h * weights).sum(1)
        return obj, r, [e / s for e in ex]

    def jacobian(self, probs: list[np.ndarray]) -> np.ndarray:
        """d log Lhat / d free: (B, n, p_free)."""
        B = probs[0].shape[0]
        Jc = np.zeros((B, self.n, len(self.pmap.canonical)))
        Jc[:, :, self.const_index] = probs[0]
        for k, (ci, ei, x) in enumerate(zip(self.coef_index, self.exp_index, self.centred)):
            Jc[:, :, ci] += probs[k + 1]
            Jc[:, :, ei] -= probs[k + 1] * x
        return Jc @ self.Mc

    def gradient(self, free: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        obj, r, probs = self.evaluate(free, weights)
        psi = np.clip(r, -self.delta, self.delta)
        if weights is not None:
            psi = psi * weights
        J = self.jacobian(probs)
        return obj, (psi[:, None, :] @ J)[:, 0]
