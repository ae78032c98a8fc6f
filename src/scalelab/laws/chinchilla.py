"""Chinchilla's parametric law L(N, D) = E + A/N^alpha + B/D^beta (Hoffmann et al. 2022, Approach 3).

N is the parameter count, D the training tokens, L the loss in nats/token. The
compute-optimal split under C = k·N·D (k = 6 for the usual 6ND rule; Kaplan et al. 2020,
eq. 2.1) is closed-form (Hoffmann et al. 2022, eq. 4, with 6 generalised to k)::

    N*(C) = G (C/k)^a,  D*(C) = G^-1 (C/k)^b,  a = beta/(alpha+beta),  b = alpha/(alpha+beta),
    G = (alpha A / (beta B))^(1/(alpha+beta)).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from scalelab.laws.base import FLOPS_PER_PARAM_TOKEN, Allocation, Law, PowerTerm

FlopsPerToken = float | Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ChinchillaLaw(Law):
    """L(N, D) = E + A / N**alpha + B / D**beta.

    Parameters
    ----------
    E : irreducible loss (nats/token).
    A, B : coefficients of the model-size and data terms.
    alpha, beta : exponents of N (parameters) and D (tokens).

    Examples
    --------
    >>> law = ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
    >>> round(float(law.predict(params=70e9, tokens=1.4e12)), 3)
    1.937
    >>> alloc = law.optimal_allocation(5.76e23)
    >>> f"{float(alloc.params):.2e}"
    '3.22e+10'
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float

    name: ClassVar[str] = "chinchilla"
    formula: ClassVar[str] = "L(N, D) = E + A/N^alpha + B/D^beta"
    inputs: ClassVar[tuple[str, ...]] = ("params", "tokens")
    terms: ClassVar[tuple[PowerTerm, ...]] = (
        PowerTerm("A", "alpha", "params"),
        PowerTerm("B", "beta", "tokens"),
    )

    @classmethod
    def positive_names(cls) -> tuple[str, ...]:
        return ("E", "A", "B")

    def optimal_allocation(self, flops, flops_per_token: FlopsPerToken = FLOPS_PER_PARAM_TOKEN) -> Allocation:
        """Compute-optimal parameters and tokens for a FLOP budget.

        Parameters
        ----------
        flops : training FLOPs C (scalar or array).
        flops_per_token : either a number k, meaning C = k·N·D (6 by default, closed form),
            or a function N -> FLOPs per token (e.g. ``lambda N: 6*N + 1.2e9`` to count
            attention), minimised numerically.

        Examples
        --------
        >>> law = ChinchillaLaw(E=1.8172, A=477.8, B=2143.4, alpha=0.3473, beta=0.3672)
        >>> a = law.optimal_allocation(1e24)
        >>> f"{float(a.params):.3g} params, {float(a.tokens):.3g} tokens"
        '9.73e+10 params, 1.71e+12 tokens'
        """
        C = np.asarray(flops, dtype=float)
        if callable(flops_per_token):
            N = np.vectorize(lambda c: self._optimal_params_numeric(c, flops_per_token))(C)
            D = C / np.asarray(flops_per_token(N), float)
        else:
            k = float(flops_per_token)
            s = self.alpha + self.beta
            G = np.float64(self.alpha * self.A / (self.beta * self.B)) ** (1.0 / s)  # inf, not OverflowError, far out
            N = G * (C / k) ** (self.beta / s)
            D = (C / k) / N
        return Allocation(flops=C, params=N, tokens=D, loss=self.predict(params=N, tokens=D))

    def _optimal_params_numeric(self, C: float, fpt: Callable) -> float:
        from scipy.optimize import minimize_scalar  # imported here: the closed form needs numpy only

        def loss_at(log_n: float) -> float:
            n = np.exp(log_n)
            return float(self.A * n**-self.alpha + self.B * (C / fpt(n)) ** -self.beta)

        # N beyond C (i.e. less than one token per ~6 params) is never optimal
        res = minimize_scalar(loss_at, bounds=(0.0, np.log(C)), method="bounded", options={"xatol": 1e-10})
        return float(np.exp(res.x))
