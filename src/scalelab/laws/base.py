"""What every scaling law shares, and the additive power-law structure the fitter exploits.

A law is an immutable object with named parameters. Most laws used for language models
are *additive power laws*::

    L = E + sum_k  K_k * x_k ** (-e_k)

with a constant ``E`` (the irreducible loss), positive coefficients ``K_k`` and exponents
``e_k`` on inputs ``x_k`` (parameters, tokens, FLOPs). The fitter works in *canonical
coordinates* ``(log E, log K_1, ..., e_1, ...)``: there the log-prediction is a
log-sum-exp of affine functions, fixing or tying parameters is an affine map, and for
fixed exponents the loss is linear in the coefficients (variable projection).
A law whose published parameterisation differs (``(C0/C)**gamma`` instead of
``K * C**-gamma``) converts in :meth:`Law.to_canonical` / :meth:`Law.from_canonical`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

# C = 6·N·D: training FLOPs per parameter per token, 2 for the forward pass and 4 for the
# backward (Kaplan et al. 2020, eq. 2.1). The one constant every room uses for it.
FLOPS_PER_PARAM_TOKEN = 6.0


@dataclass(frozen=True)
class PowerTerm:
    """One term ``coef * input ** (-exponent)`` of an additive power law (canonical names)."""

    coef: str
    exponent: str
    input: str


@dataclass(frozen=True)
class Allocation:
    """Compute-optimal split of a FLOP budget.

    Attributes
    ----------
    flops : training FLOPs C.
    params : parameter count N*.
    tokens : training tokens D*.
    loss : the law's loss at (N*, D*).
    """

    flops: np.ndarray
    params: np.ndarray
    tokens: np.ndarray
    loss: np.ndarray


@dataclass(frozen=True)
class Law:
    """Base class: subclasses are frozen dataclasses whose fields are the parameters."""

    name: ClassVar[str]
    formula: ClassVar[str]
    inputs: ClassVar[tuple[str, ...]]
    # canonical coordinates, see the module docstring
    constant: ClassVar[str] = "E"
    terms: ClassVar[tuple[PowerTerm, ...]]

    @classmethod
    def param_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def canonical_names(cls) -> tuple[str, ...]:
        """Constant, coefficients, then exponents (each exponent listed once)."""
        coefs = [t.coef for t in cls.terms]
        exps = list(dict.fromkeys(t.exponent for t in cls.terms))
        return (cls.constant, *coefs, *exps)

    @classmethod
    def positive_names(cls) -> tuple[str, ...]:
        """Published parameters that are positive scales (summarised on a log axis)."""
        return cls.param_names()

    @classmethod
    def to_canonical(cls, values: dict[str, float]) -> dict[str, float]:
        """Published parameters -> canonical (constant and coefficients as values, not logs)."""
        return dict(values)

    @classmethod
    def from_canonical(cls, values: dict[str, float]) -> dict[str, float]:
        return dict(values)

    @classmethod
    def canonical_fixes(cls, fix: dict[str, float]) -> dict[str, float]:
        """Fixed published parameters -> fixed canonical values (identity by default)."""
        return dict(fix)

    @classmethod
    def from_params(cls, values: dict[str, float]) -> Law:
        return cls(**{k: float(values[k]) for k in cls.param_names()})

    def params(self) -> dict[str, float]:
        return {k: float(getattr(self, k)) for k in self.param_names()}

    @classmethod
    def log_predict(cls, canon: dict, inputs: dict) -> np.ndarray:
        """log L for canonical values (scalars or arrays that broadcast with the inputs)."""
        return log_predict(cls, canon, inputs)

    def predict(self, **inputs: np.ndarray) -> np.ndarray:
        """Loss at the given inputs (broadcast), evaluated in log space for stability."""
        missing = [k for k in self.inputs if k not in inputs]
        if missing:
            raise TypeError(f"{self.name} law needs inputs {self.inputs}; missing {missing}")
        canon = self.to_canonical(self.params())
        return np.exp(self.log_predict(canon, {k: np.asarray(inputs[k], float) for k in self.inputs}))


def log_predict(law: type[Law], canon: dict[str, float], inputs: dict[str, np.ndarray]) -> np.ndarray:
    """log L for canonical parameter values (coefficients as values) at the inputs."""
    parts = []
    with np.errstate(divide="ignore"):
        for term in law.terms:
            parts.append(np.log(canon[term.coef]) - canon[term.exponent] * np.log(inputs[term.input]))
        shape = np.broadcast_shapes(*(p.shape for p in parts))
        parts.append(np.full(shape, np.log(canon[law.constant])))
    return np.logaddexp.reduce(np.broadcast_arrays(*parts), axis=0)
