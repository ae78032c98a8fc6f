"""Time, accelerator-hours, energy and money of a run, and the best run for a budget.

Forward::

    compute time  = FLOPs / (num_gpus x peak x MFU)
    wall-clock    = compute time / goodput        (goodput: share of time spent training)
    GPU-hours     = num_gpus x wall-clock          (what is paid for)
    energy (kWh)  = GPU-hours x TDP x PUE          (accelerators only at PUE 1)
    cost (USD)    = GPU-hours x price per GPU-hour

Inverse: a budget in dollars, GPU-hours or FLOPs, with a GPU count or a deadline, becomes
FLOPs by the same formulas; a law then splits them into parameters N and tokens D
(compute-optimal, C = k·N·D) and predicts the loss with its interval. The forward plan of
that (N, D) on the same hardware costs exactly the budget (a tested round trip).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scalelab.errors import InputError
from scalelab.fitting.forecast import Forecast, Interval
from scalelab.laws.base import FLOPS_PER_PARAM_TOKEN
from scalelab.planning.hardware import GOODPUT_DEFAULT, Accelerator

# Muennighoff et al. 2023 ("Scaling Data-Constrained Language Models"): up to about four
# epochs, repeated tokens are worth almost as much as new ones; beyond, returns fall fast.
NODE_SIZE = 8  # accelerators per node: a budget's GPU count is rounded down to whole nodes


@dataclass(frozen=True)
class RunEstimate:
    """Time, accelerator-hours, energy and cost of ``flops`` on ``num_gpus`` accelerators."""

    flops: float
    accelerator: Accelerator
    num_gpus: float
    mfu: float
    goodput: float
    pue: float = 1.0

    def __post_init__(self) -> None:
        check_positive("FLOPs", self.flops, 1e30 * 1e3)
        check_positive("--num-gpus", self.num_gpus, 1e8)
        if not 0 < self.mfu <= 1:
            raise InputError(f"--mfu {self.mfu}: give a fraction in (0, 1], e.g. 0.4")
        if not 0 < self.goodput <= 1:
            raise InputError(f"--goodput {self.goodput}: give a fraction in (0, 1], e.g. 0.9")
        if not 1 <= self.pue <= 3:
            raise InputError(f"--pue {self.pue}: give a power usage effectiveness in [1, 3] (1 = accelerators only)")

    @property
    def compute_seconds(self) -> float:
        return self.flops / (self.num_gpus * self.accelerator.peak_flops * self.mfu)

    @property
    def wall_seconds(self) -> float:
        return self.compute_seconds / self.goodput

    @property
    def days(self) -> float:
        return self.wall_seconds / 86400

    @property
    def gpu_hours(self) -> float:
        return self.num_gpus * self.wall_seconds / 3600

    @property
    def energy_kwh(self) -> float | None:
        tdp = self.accelerator.tdp_w
        return None if tdp is None else self.gpu_hours * tdp / 1000 * self.pue

    @property
    def cost_usd(self) -> float | None:
        price = self.accelerator.price_usd_per_hour
        return None if price is None else self.gpu_hours * price

    def to_dict(self) -> dict:
        """The inputs (with the whole accelerator) and, for the reader, what follows from them."""
        return {
            "flops": self.flops, "accelerator": self.accelerator.to_dict(), "num_gpus": self.num_gpus,
            "mfu": self.mfu, "goodput": self.goodput, "pue": self.pue,
            "compute_days": self.compute_seconds / 86400, "days": self.days, "gpu_hours": self.gpu_hours,
            "energy_kwh": self.energy_kwh, "cost_usd": self.cost_usd,
        }

    @classmethod
    def from_dict(cls, d: dict) -> RunEstimate:
        return cls(flops=d["flops"], accelerator=Accelerator.from_dict(d["accelerator"]), num_gpus=d["num_gpus"],
                   mfu=d["mfu"], goodput=d["goodput"], pue=d.get("pue", 1.0))


def estimate_run(flops: float, accelerator: Accelerator, num_gpus: float, *, mfu: float | None = None,
                 goodput: float | None = None, pue: float = 1.0) -> RunEstimate:
    """Forward plan: how long and how much.

    Examples
    --------
    Llama 3.1 405B: 3.8e25 FLOPs on 16,384 H100 at 40.5% MFU and 90% goodput.

    >>> from scalelab.planning.hardware import get_accelerator
    >>> r = estimate_run(3.8e25, get_accelerator("h100"), 16384, mfu=0.405)
    >>> round(r.gpu_hours / 1e6, 1), round(r.days)
    (29.3, 74)
    """
    return RunEstimate(flops=flops, accelerator=accelerator, num_gpus=num_gpus,
                       mfu=accelerator.default_mfu if mfu is None else mfu,
                       goodput=GOODPUT_DEFAULT[0] if goodput is None else goodput, pue=pue)


@dataclass(frozen=True)
class BudgetPlan:
    """The compute-optimal run a budget buys, and its forecast.

    Attributes
    ----------
    run : time, hours and cost of the budget's FLOPs.
    params, tokens : the compute-optimal N and D (C = k·N·D).
    params_interval, tokens_interval : their 80% intervals over the fit's bootstrap.
    forecast : the loss of a run trained at (N, D), with its intervals.
    flops_per_token : k.
    epochs : D over the unique tokens available, when given.
    """

    run: RunEstimate
    params: float
    tokens: float
    forecast: Forecast
    flops_per_token: float = FLOPS_PER_PARAM_TOKEN
    params_interval: Interval | None = None
    tokens_interval: Interval | None = None
    epochs: float | None = None

    def to_dict(self) -> dict:
        return {
            "run": self.run.to_dict(), "params": self.params, "tokens": self.tokens, "forecast": self.forecast.to_dict(),
            "flops_per_token": self.flops_per_token,
            "params_interval": None if self.params_interval is None else self.params_interval.to_dict(),
            "tokens_interval": None if self.tokens_interval is None else self.tokens_interval.to_dict(),
            "epochs": self.epochs,
        }

    @classmethod
    def from_dict(cls, d: dict) -> BudgetPlan:
        return cls(run=RunEstimate.from_dict(d["run"]), params=d["params"], tokens=d["tokens"],
                   forecast=Forecast.from_dict(d["forecast"]), flops_per_token=d["flops_per_token"],
                   params_interval=None if d.get("params_interval") is None else Interval.from_dict(d["params_interval"]),
                   tokens_interval=None if d.get("tokens_interval") is None else Interval.from_dict(d["tokens_interval"]),
                   epochs=d.get("epochs"))


def budget_to_run(accelerator: Accelerator, *, budget_usd: float | None = None, budget_gpu_hours: float | None = None,
                  budget_flops: float | None = None, num_gpus: float | None = None, days: float | None = None,
                  mfu: float | None = None, goodput: float | None = None, pue: float = 1.0) -> RunEstimate:
    """Turn a budget and a schedule constraint into the run it pays for.

    Give at most one of ``budget_usd``, ``budget_gpu_hours``, ``budget_flops``; and
    ``num_gpus`` and/or ``days``. With both and no budget, the budget is the GPUs for the
    days. With a budget and ``days`` only, the GPU count is the whole number the budget
    keeps busy for that long, in whole 8-GPU nodes.
    """
    given = [n for n, v in (("--budget-usd", budget_usd), ("--budget-gpu-hours", budget_gpu_hours),
                            ("--budget-flops", budget_flops)) if v is not None]
    if len(given) > 1:
        raise InputError(f"give one budget, not {' and '.join(given)}")
    mfu = accelerator.default_mfu if mfu is None else mfu
    goodput = GOODPUT_DEFAULT[0] if goodput is None else goodput
    flops_per_gpu_hour = 3600 * accelerator.peak_flops * mfu * goodput
    if budget_usd is not None:
        check_positive("--budget-usd", budget_usd, 1e13)
        if not accelerator.price_usd_per_hour:
            raise InputError(f"{accelerator.name} has no price in the catalogue; give --price USD_PER_GPU_HOUR")
        gpu_hours = budget_usd / accelerator.price_usd_per_hour
    elif budget_gpu_hours is not None:
        check_positive("--budget-gpu-hours", budget_gpu_hours, 1e12)
        gpu_hours = budget_gpu_hours
    elif budget_flops is not None:
        check_positive("--budget-flops", budget_flops, 1e33)
        gpu_hours = budget_flops / flops_per_gpu_hour
    elif num_gpus is not None and days is not None:
        gpu_hours = None
    else:
        raise InputError("give a budget (--budget-usd, --budget-gpu-hours or --budget-flops), "
                         "or --num-gpus with --days")
    if days is not None:
        check_positive("--days", days, 36500)
    if num_gpus is not None:
        check_positive("--num-gpus", num_gpus, 1e8)
    if gpu_hours is None:
        gpu_hours = num_gpus * days * 24
    elif num_gpus is None:
        if days is None:
            raise InputError("give --num-gpus or --days to turn the budget into a schedule")
        num_gpus = math.floor(gpu_hours / (days * 24))
        if num_gpus < 1:
            raise InputError(f"the budget buys {gpu_hours:.3g} GPU-hours: less than one GPU for {days:g} days")
        if num_gpus >= NODE_SIZE:
            num_gpus -= num_gpus % NODE_SIZE  # whole nodes
        gpu_hours = num_gpus * days * 24
    elif days is not None:
        gpu_hours = min(gpu_hours, num_gpus * days * 24)  # the tighter of budget and deadline
    return RunEstimate(flops=gpu_hours * flops_per_gpu_hour, accelerator=accelerator, num_gpus=num_gpus,
                       mfu=mfu, goodput=goodput, pue=pue)


def plan_budget(fit, run: RunEstimate, *, flops_per_token: float = FLOPS_PER_PARAM_TOKEN,
                unique_tokens: float | None = None, law_label: str = "") -> BudgetPlan:
    """The compute-optimal (N, D) for ``run.flops`` under a fitted law, with its forecast.

    With ``unique_tokens`` the optimum is the one under that data constraint (the
    data-constrained law: the fit's own, or a Chinchilla fit with C4's repetition
    constants, see :mod:`scalelab.planning.data_limit`); its intervals come from the
    fit's bootstrap only for a data-constrained fit.
    """
    from scalelab.laws import DataConstrainedLaw

    extra = {}
    if unique_tokens is not None:
        from scalelab.planning.data_limit import check_unique_tokens, constrained_law

        unique_tokens = check_unique_tokens(unique_tokens)
        extra = {"unique_tokens": unique_tokens}
    if unique_tokens is not None and not isinstance(fit.law_, DataConstrainedLaw):
        law, _ = constrained_law(fit)
        point = law.optimal_allocation(run.flops, flops_per_token, unique_tokens=unique_tokens)
        N, D = float(point.params), float(point.tokens)
        alloc = None
        forecast = fit.forecast(params=N, tokens=D, law=law_label)
    else:
        alloc = fit.optimal_allocation(run.flops, flops_per_token, **extra)
        N, D = float(alloc.params), float(alloc.tokens)
        forecast = fit.forecast(params=N, tokens=D, law=law_label, **extra)
    epochs = None if unique_tokens is None else D / unique_tokens

    def interval(iv) -> Interval | None:
        lo, hi = float(iv[0.8][0]), float(iv[0.8][1])
        return Interval(0.8, lo, hi) if math.isfinite(lo) and math.isfinite(hi) else None

    return BudgetPlan(run=run, params=N, tokens=D, forecast=forecast, flops_per_token=flops_per_token,
                      params_interval=None if alloc is None else interval(alloc.params_intervals),
                      tokens_interval=None if alloc is None else interval(alloc.tokens_intervals), epochs=epochs)


def check_positive(name: str, value: float, upper: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 < value <= upper):
        raise InputError(f"{name} {value}: give a number in (0, {upper:.3g}]")
