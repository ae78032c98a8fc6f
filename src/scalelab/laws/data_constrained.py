"""The data-constrained law (Muennighoff et al. 2023, "Scaling Data-Constrained Language Models").

Chinchilla's L = E + A/N^alpha + B/D^beta with *effective* data and parameters::

    D' = U_D + U_D R_D* (1 - exp(-R_D / R_D*)),   R_D = max(D / U_D - 1, 0)
    N' = U_N + U_N R_N* (1 - exp(-R_N / R_N*)),   U_N = min(N, N_opt(U_D)),  R_N = max(N / U_N - 1, 0)

U_D is the unique tokens a run sees (the corpus, or D when the run sees less than one
epoch), R_D the repetitions beyond the first epoch; the R-th repetition is worth
exp(-R/R_D*) of a fresh token. N_opt(U_D) is the Chinchilla compute-optimal size for a
run of U_D tokens under the same A, B, alpha, beta: parameters beyond it are worth less
in the same way, with R_N*. With R_D* and R_N* large the law is Chinchilla's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from scalelab.laws.base import FLOPS_PER_PARAM_TOKEN, Allocation, Law, PowerTerm, log_predict


@dataclass(frozen=True)
class DataConstrainedLaw(Law):
    """L(N, D, U) = E + A / N'**alpha + B / D'**beta with effective N', D' (see the module).

    Parameters
    ----------
    E, A, B, alpha, beta : Chinchilla's constants.
    R_D : R_D*, the repetitions of the data after which one more is worth 1/e of fresh data.
    R_N : R_N*, the same for parameters beyond the compute-optimal size.

    Examples
    --------
    The authors' constants and their test vector (datablations README):

    >>> law = DataConstrainedLaw(E=np.exp(0.6254804), A=np.exp(6.255414), B=np.exp(7.3049974),
    ...                          alpha=0.3526596, beta=0.3526596, R_D=15.387756, R_N=5.309743)
    >>> float(law.predict(params=6.34e9, tokens=242e9, unique_tokens=25e9))
    2.2256440889984477
    >>> a = law.optimal_allocation(6 * 8.67e9 * 178e9, unique_tokens=25e9)
    >>> f"{float(a.params):.2g} params, {float(a.tokens / 25e9):.1f} epochs"
    '6.8e+09 params, 9.1 epochs'
    """

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    R_D: float
    R_N: float

    name: ClassVar[str] = "data-constrained"
    formula: ClassVar[str] = "L(N, D, U) = E + A/N'^alpha + B/D'^beta, D' and N' discounting repeated data and excess parameters"
    inputs: ClassVar[tuple[str, ...]] = ("params", "tokens", "unique_tokens")
    terms: ClassVar[tuple[PowerTerm, ...]] = (
        PowerTerm("A", "alpha", "params"),
        PowerTerm("B", "beta", "tokens"),
    )
    decays: ClassVar[tuple[str, ...]] = ("R_D", "R_N")

    @classmethod
    def canonical_names(cls) -> tuple[str, ...]:
        return (*super().canonical_names(), *cls.decays)

    @classmethod
    def positive_names(cls) -> tuple[str, ...]:
        return ("E", "A", "B", "R_D", "R_N")

    @classmethod
    def effective_inputs(cls, canon: dict, inputs: dict) -> dict[str, np.ndarray]:
        """N' and D' (as ``params`` and ``tokens``) for canonical values at the inputs."""
        N = np.asarray(inputs["params"], float)
        D = np.asarray(inputs["tokens"], float)
        U = np.minimum(np.asarray(inputs["unique_tokens"], float), D)
        A, B, alpha, beta = canon["A"], canon["B"], canon["alpha"], canon["beta"]
        r_d, r_n = canon["R_D"], canon["R_N"]
        RD = np.maximum(D / U - 1.0, 0.0)
        D_eff = U + U * r_d * -np.expm1(-RD / r_d)
        UN = np.minimum(N, optimal_params_for_tokens(U, A, B, alpha, beta))
        RN = np.maximum(N / UN - 1.0, 0.0)
        N_eff = UN + UN * r_n * -np.expm1(-RN / r_n)
        return {"params": N_eff, "tokens": D_eff}

    @classmethod
    def log_predict(cls, canon: dict, inputs: dict) -> np.ndarray:
        return log_predict(cls, canon, cls.effective_inputs(canon, inputs))

    @classmethod
    def informing_runs(cls, values: dict, inputs: dict) -> dict[str, int]:
        """How many runs inform each extra parameter: runs that repeat their data (R_D) and
        runs larger than compute-optimal for their unique tokens (R_N)."""
        N, D = np.asarray(inputs["params"], float), np.asarray(inputs["tokens"], float)
        U = np.minimum(np.asarray(inputs["unique_tokens"], float), D)
        n_opt = optimal_params_for_tokens(U, values["A"], values["B"], values["alpha"], values["beta"])
        return {"R_D": int(np.sum(D > U * (1 + 1e-9))), "R_N": int(np.sum(N > n_opt))}

    def effective(self, params, tokens, unique_tokens) -> dict[str, np.ndarray]:
        """Effective parameters and tokens of runs (``params``, ``tokens``)."""
        return self.effective_inputs(self.params(), {"params": params, "tokens": tokens, "unique_tokens": unique_tokens})

    def optimal_allocation(self, flops, flops_per_token: float = FLOPS_PER_PARAM_TOKEN, *, unique_tokens) -> Allocation:
        """Compute-optimal N and D for FLOP budgets when only ``unique_tokens`` exist.

        Minimised numerically over log N on a fine grid then refined (the law has kinks at
        one epoch and at N_opt(U)); C = k N D with k = ``flops_per_token``.
        """
        from scipy.optimize import minimize_scalar  # the law's predictions need numpy only

        if callable(flops_per_token):
            raise TypeError("the data-constrained allocation takes a constant FLOPs per parameter-token")
        k = float(flops_per_token)
        C, U = np.broadcast_arrays(np.asarray(flops, float), np.asarray(unique_tokens, float))
        Ns = np.empty(C.shape)
        for i, (c, u) in enumerate(zip(C.ravel(), U.ravel())):
            def loss_at(log_n: float, c=c, u=u) -> float:
                n = np.exp(log_n)
                return float(self.predict(params=n, tokens=c / (k * n), unique_tokens=u))

            grid = np.linspace(np.log(c / k) / 8, np.log(c / k) * 0.75, 400)
            j = int(np.argmin([loss_at(g) for g in grid]))
            lo, hi = grid[max(j - 1, 0)], grid[min(j + 1, grid.size - 1)]
            res = minimize_scalar(loss_at, bounds=(lo, hi), method="bounded", options={"xatol": 1e-9})
            Ns.ravel()[i] = np.exp(res.x)
        D = C / (k * Ns)
        return Allocation(flops=C, params=Ns, tokens=D, loss=self.predict(params=Ns, tokens=D, unique_tokens=U))


def optimal_params_for_tokens(tokens, A, B, alpha, beta):
    """Chinchilla's compute-optimal N for a run of ``tokens`` tokens: N = G (D G)^(beta/alpha),
    G = (alpha A / (beta B))^(1/(alpha+beta))."""
    G = (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))
    return G * (tokens * G) ** (beta / alpha)
