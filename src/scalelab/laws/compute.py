"""Compute law L(C) = E + (C0/C)^gamma: loss of the best run at each FLOP budget C.

Kaplan et al. 2020 fit L(C) = (C_c/C)^alpha_C to compute-efficient runs; the constant E
adds the irreducible loss. Fit it to runs on the compute-optimal frontier (one per budget),
not to over- or under-trained runs. There is no allocation: the law does not know N or D.
In canonical coordinates the term is K·C^-gamma with K = C0^gamma.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from scalelab.errors import FitError
from scalelab.laws.base import Law, PowerTerm


@dataclass(frozen=True)
class ComputeLaw(Law):
    """L(C) = E + (C0 / C)**gamma.

    Parameters
    ----------
    E : irreducible loss (nats/token).
    C0 : the compute (FLOPs) at which the reducible loss equals 1.
    gamma : exponent of compute.

    Examples
    --------
    >>> law = ComputeLaw(E=1.7, C0=1e14, gamma=0.2)
    >>> round(float(law.predict(flops=1e22)), 4)
    1.7251
    """

    E: float
    C0: float
    gamma: float

    name: ClassVar[str] = "compute"
    formula: ClassVar[str] = "L(C) = E + (C0/C)^gamma"
    inputs: ClassVar[tuple[str, ...]] = ("flops",)
    terms: ClassVar[tuple[PowerTerm, ...]] = (PowerTerm("K", "gamma", "flops"),)

    @classmethod
    def positive_names(cls) -> tuple[str, ...]:
        return ("E", "C0")

    @classmethod
    def to_canonical(cls, values: dict[str, float]) -> dict[str, float]:
        return {"E": values["E"], "K": np.exp(values["gamma"] * np.log(values["C0"])), "gamma": values["gamma"]}

    @classmethod
    def from_canonical(cls, values: dict[str, float]) -> dict[str, float]:
        gamma = values["gamma"]
        # K = C0^gamma; with gamma -> 0 C0 is not identified: keep it finite for JSON
        with np.errstate(divide="ignore"):
            log_c0 = np.where(gamma > 0, np.log(values["K"]) / np.maximum(gamma, 1e-300), np.inf)
        c0 = np.exp(np.minimum(log_c0, 700.0))
        return {"E": values["E"], "C0": c0 if np.ndim(c0) else float(c0), "gamma": gamma}

    @classmethod
    def canonical_fixes(cls, fix: dict[str, float]) -> dict[str, float]:
        out = {k: v for k, v in fix.items() if k in ("E", "gamma")}
        if "C0" in fix:
            if "gamma" not in fix:
                raise FitError("--fix C0 alone cannot be fitted in the compute law (K = C0^gamma); also fix gamma")
            out["K"] = float(np.exp(fix["gamma"] * np.log(fix["C0"])))
        return out
