"""What finite data does to a plan: epochs, effective tokens and the loss penalty.

Uses the data-constrained law (Muennighoff et al. 2023): a fit of that law as it is, or a
Chinchilla fit completed with the authors' C4 decay constants (R_D* = 15.39, R_N* = 5.31),
said so in :attr:`DataLimit.law`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from scalelab.errors import InputError
from scalelab.laws import ChinchillaLaw, DataConstrainedLaw
from scalelab.laws.base import FLOPS_PER_PARAM_TOKEN

# Muennighoff et al. 2023, fitted on C4 (datablations README)
C4_DECAYS = {"R_D": 15.387756, "R_N": 5.309743}
EXHAUSTED = 0.25  # 10x the compute buys less than this share of what it buys with fresh data
MORE = 10.0
USEFUL_TOLERANCE = 0.001  # of loss: what the compute past a budget's useful part buys at most
UNLIMITED = 1e30  # unique tokens of a corpus no run repeats


@dataclass(frozen=True)
class DataLimit:
    """A run of ``params`` x ``tokens`` on ``unique_tokens`` unique tokens.

    Attributes
    ----------
    epochs : tokens / unique_tokens.
    effective_tokens, effective_params : D' and N' of the law.
    loss_fresh, loss : the law's loss with fresh data (as many unique tokens as the run trains
        on) and with these unique tokens.
    penalty : loss - loss_fresh (nats/token).
    law : which law and constants.
    more : what ``MORE`` x the compute buys (a budget: the best run at 10x the FLOPs; a
        given model: 10x the tokens): ``flops``, ``loss`` with these unique tokens and
        ``loss_fresh`` with fresh data, both against this run's.
    exhausted : 10x the compute lowers the loss by less than a quarter of what it would with fresh data.
    source : where the unique-token count came from.
    useful_flops : a budget whose data is exhausted: the least compute whose best run comes
        within ``USEFUL_TOLERANCE`` of this budget's loss (the rest of the budget buys less).
    """

    unique_tokens: float
    params: float
    tokens: float
    epochs: float
    effective_tokens: float
    effective_params: float
    loss_fresh: float
    loss: float
    penalty: float
    law: str
    more: dict
    exhausted: bool
    source: str = "--unique-tokens"
    useful_flops: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DataLimit:
        return cls(**d)


def constrained_law(fit) -> tuple[DataConstrainedLaw, str]:
    """The data-constrained law of a fit: its own, or its Chinchilla constants with C4's decays."""
    law = fit.law_
    if isinstance(law, DataConstrainedLaw):
        return law, "the fit's data-constrained law"
    if isinstance(law, ChinchillaLaw):
        return (DataConstrainedLaw(**law.params(), **C4_DECAYS),
                "the fit's law with Muennighoff et al.'s C4 repetition constants (R_D* 15.4, R_N* 5.3); "
                "fit --law data-constrained on your own repeated runs to replace them")
    raise InputError(f"a data limit needs a law of parameters and tokens; this is a {law.name} fit "
                     "(fit --law chinchilla or data-constrained)")


def check_unique_tokens(unique_tokens: float, option: str = "--unique-tokens") -> float:
    if not (isinstance(unique_tokens, (int, float)) and 0 < unique_tokens <= 1e16):
        raise InputError(f"{option} {unique_tokens}: give a token count in (0, 1e16], e.g. {option} 2.5e10")
    return float(unique_tokens)


def data_limit(fit, *, params: float, tokens: float, unique_tokens: float, budget: bool = False,
               flops_per_token: float = FLOPS_PER_PARAM_TOKEN, source: str = "--unique-tokens") -> DataLimit:
    """Epochs, effective tokens and loss penalty of a run on finite data (see :class:`DataLimit`).

    Examples
    --------
    >>> from scalelab.data import default_fit_path
    >>> from scalelab.io import load_fit
    >>> d = data_limit(load_fit(default_fit_path()), params=7e10, tokens=1.4e13, unique_tokens=1e12)
    >>> round(d.epochs), d.effective_tokens < 1.4e13, d.penalty > 0
    (14, True, True)
    """
    unique_tokens = check_unique_tokens(unique_tokens)
    law, label = constrained_law(fit)
    eff = law.effective(params, tokens, unique_tokens)
    loss = float(law.predict(params=params, tokens=tokens, unique_tokens=unique_tokens))
    # fresh data: the same law with a corpus larger than any run (every token seen once)
    loss_fresh = float(law.predict(params=params, tokens=tokens, unique_tokens=UNLIMITED))
    C = flops_per_token * params * tokens
    if budget:
        big = float(law.optimal_allocation(MORE * C, flops_per_token, unique_tokens=unique_tokens).loss)
        big_fresh = float(law.optimal_allocation(MORE * C, flops_per_token, unique_tokens=UNLIMITED).loss)
        base_fresh = float(law.optimal_allocation(C, flops_per_token, unique_tokens=UNLIMITED).loss)
    else:
        big = float(law.predict(params=params, tokens=MORE * tokens, unique_tokens=unique_tokens))
        big_fresh = float(law.predict(params=params, tokens=MORE * tokens, unique_tokens=UNLIMITED))
        base_fresh = loss_fresh
    more = {"flops": MORE * C, "loss": big, "loss_fresh": big_fresh, "gain": loss - big, "gain_fresh": base_fresh - big_fresh}
    exhausted = more["gain"] < EXHAUSTED * more["gain_fresh"]
    useful = _useful_flops(law, C, flops_per_token, unique_tokens) if budget and exhausted else None
    return DataLimit(unique_tokens=unique_tokens, params=float(params), tokens=float(tokens),
                     epochs=float(tokens) / unique_tokens, effective_tokens=float(eff["tokens"]),
                     effective_params=float(eff["params"]), loss_fresh=loss_fresh, loss=loss,
                     penalty=loss - loss_fresh, law=label, more=more, exhausted=bool(exhausted), source=source,
                     useful_flops=useful)


def _useful_flops(law, flops: float, flops_per_token: float, unique_tokens: float) -> float | None:
    """The least compute whose data-constrained best run is within ``USEFUL_TOLERANCE`` of the
    best run of ``flops`` (None when no less compute is: the whole budget is useful)."""
    from scipy.optimize import brentq

    def above(log_c: float) -> float:
        best = law.optimal_allocation(math.exp(log_c), flops_per_token, unique_tokens=unique_tokens)
        return float(best.loss) - goal

    goal = float(law.optimal_allocation(flops, flops_per_token, unique_tokens=unique_tokens).loss) + USEFUL_TOLERANCE
    hi, lo = math.log(flops), math.log(flops) - math.log(1e12)
    if above(lo) <= 0:
        return None  # even a trillionth of the budget is as good: no useful scale to name
    return float(math.exp(brentq(above, lo, hi, xtol=1e-6)))
