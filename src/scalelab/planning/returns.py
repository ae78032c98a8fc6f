"""What the next 10x of compute buys: diminishing returns from a fitted law of N and D.

Along the compute-optimal frontier a Chinchilla law is ``L*(C) = E + G C^-gamma`` with
``gamma = alpha beta / (alpha + beta)``: each decade of compute removes the same fraction
``1 - 10^-gamma`` of the reducible loss ``L - E``, so the absolute gain per decade shrinks
geometrically while the cost of the decade grows tenfold. :func:`returns` tabulates it with
the planner's cost arithmetic; :func:`compute_for_loss` inverts it (the compute that reaches
a target loss, or the statement that the law's floor E puts it out of reach).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from scalelab.errors import AllocationWarning, ExtrapolationWarning, InputError


@dataclass(frozen=True)
class Decade:
    """One compute-optimal run on the ladder of decades, and what its decade bought."""

    flops: float
    params: float
    tokens: float
    loss: float
    lo80: float
    hi80: float
    reducible: float
    removed: float | None  # share of the previous decade's reducible loss this one removed
    gain: float | None  # loss the decade bought (previous loss - this one)
    gpu_hours: float
    days: float | None  # wall-clock days on ``num_gpus`` accelerators, when given
    cost_usd: float | None
    decade_cost_usd: float | None  # this run's cost less the previous one's
    usd_per_centinat: float | None  # the decade's cost per 0.01 of loss it bought
    task: dict | None = None  # with a task link: the metric forecast (value, lo80, hi80, ...)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _check(fit) -> None:
    if "tokens" not in fit.law_.inputs or not hasattr(fit.law_, "optimal_allocation"):
        raise InputError(f"returns follow the compute-optimal frontier of a law of N and D; this fit is a "
                         f"{fit.law_.name} law: refit with scalelab fit RUNS --law chinchilla")


def returns(fit, compute: float, *, decades: int = 3, accelerator=None, mfu: float | None = None,
            goodput: float | None = None, task=None, num_gpus: float | None = None) -> list[Decade]:
    """The compute-optimal run at ``compute`` and at each of ``decades`` tenfold steps beyond
    it: loss with its 80% interval, the reducible loss left, the share of it each decade
    removes and the loss it buys, and (on ``accelerator``, the planner's arithmetic) the
    GPU-hours and dollars of each run and of each decade's step (and its days on
    ``num_gpus`` accelerators, when given). ``task``: a
    :class:`scalelab.tasks.TaskFit` whose task loss is this fit's loss, forecast per decade.

    Examples
    --------
    >>> from scalelab.data import default_fit_path
    >>> from scalelab.io import load_fit
    >>> rows = returns(load_fit(default_fit_path()), 1e24, decades=2)
    >>> [round(r.removed, 4) for r in rows[1:]]
    [0.337, 0.337]
    """
    from scalelab.planning.cost import estimate_run
    from scalelab.planning.hardware import get_accelerator

    _check(fit)
    _check_gpus(num_gpus)
    if not (math.isfinite(compute) and 1e10 <= compute <= 1e32):
        raise InputError(f"--compute {compute:g}: give a FLOP count in [1e10, 1e32]")
    if not 1 <= decades <= 8:
        raise InputError(f"--decades {decades}: give 1 to 8")
    acc = accelerator or get_accelerator("h100-sxm")
    C = compute * 10.0 ** np.arange(decades + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)  # how far out each decade is, the caller says
        warnings.simplefilter("always", AllocationWarning)  # a split no run measured is not
        alloc = fit.optimal_allocation(C)
        lo, hi = alloc.loss.intervals.get(0.8, (np.full(C.shape, np.nan),) * 2)
        tasks = [None] * C.size if task is None else [
            task.chain(fit, params=float(n), tokens=float(d)).to_dict() for n, d in zip(alloc.params, alloc.tokens)]
    E = float(fit.params_["E"])
    out: list[Decade] = []
    for i, c in enumerate(C):
        loss = float(alloc.loss.loss[i])
        run = estimate_run(float(c), acc, num_gpus or 1, mfu=mfu, goodput=goodput)
        prev = out[-1] if out else None
        gain = None if prev is None else prev.loss - loss
        dcost = None if prev is None or run.cost_usd is None else run.cost_usd - prev.cost_usd
        out.append(Decade(
            flops=float(c), params=float(alloc.params[i]), tokens=float(alloc.tokens[i]), loss=loss,
            lo80=float(lo[i]), hi80=float(hi[i]), reducible=loss - E,
            removed=None if prev is None else 1 - (loss - E) / prev.reducible, gain=gain,
            gpu_hours=run.gpu_hours, days=run.days if num_gpus else None, cost_usd=run.cost_usd, decade_cost_usd=dcost,
            usd_per_centinat=None if dcost is None or not gain or gain <= 0 else dcost / (gain / 0.01),
            task=tasks[i]))
    return out


def _check_gpus(num_gpus: float | None) -> None:
    if num_gpus is not None and not (math.isfinite(num_gpus) and num_gpus >= 1):
        raise InputError(f"--num-gpus {num_gpus:g}: give a count of at least 1")


def compute_for_loss(fit, target: float, *, accelerator=None, mfu: float | None = None,
                     goodput: float | None = None, num_gpus: float | None = None) -> dict:
    """The compute-optimal run whose forecast loss is ``target``, and the compute range over
    which the 80% interval crosses it (with its days on ``num_gpus`` accelerators, when
    given); refused when ``target`` is at or below the floor E.

    >>> from scalelab.data import default_fit_path
    >>> from scalelab.io import load_fit
    >>> f = load_fit(default_fit_path())
    >>> r = compute_for_loss(f, 2.0)
    >>> abs(float(f.optimal_allocation(r["flops"]).loss.loss) - 2.0) < 1e-6
    True
    """
    from scipy.optimize import brentq

    from scalelab.planning.cost import estimate_run
    from scalelab.planning.hardware import get_accelerator

    _check(fit)
    _check_gpus(num_gpus)
    E = float(fit.params_["E"])
    if not (math.isfinite(target) and target > E):
        raise InputError(f"--target-loss {target:g} is at or below the law's floor E = {E:.4g} (by {E - target:.3g}): "
                         "no amount of compute reaches it at this data and architecture")
    acc = accelerator or get_accelerator("h100-sxm")

    def loss_at(log_c: float, which: str = "point") -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExtrapolationWarning)
            a = fit.optimal_allocation(np.array([math.exp(log_c)]))
        if which == "point":
            return float(a.loss.loss[0]) - target
        lo, hi = a.loss.intervals[0.8]
        return float((lo if which == "lo" else hi)[0]) - target

    lo_c, hi_c = math.log(1e6), math.log(1e40)
    if loss_at(lo_c) < 0:
        raise InputError(f"--target-loss {target:g}: the law reaches it below 1e6 FLOPs; nothing to plan")
    if loss_at(hi_c) > 0:
        raise InputError(f"--target-loss {target:g} is {target - E:.3g} above the floor E = {E:.4g} but needs more "
                         "than 1e40 FLOPs")
    log_c = brentq(loss_at, lo_c, hi_c, xtol=1e-12)
    span = []
    grid = np.linspace(lo_c, hi_c, 121)
    for which in ("lo", "hi"):  # the optimistic edge reaches the target sooner, the pessimistic later
        vals = [loss_at(x, which) for x in grid]  # an edge may come down and widen again far out: its first crossing
        cross = next((i for i in range(1, grid.size) if vals[i - 1] > 0 >= vals[i]), None)
        span.append(None if cross is None else
                    math.exp(brentq(lambda x: loss_at(x, which), grid[cross - 1], grid[cross], xtol=1e-9)))
    c = math.exp(log_c)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExtrapolationWarning)
        warnings.simplefilter("always", AllocationWarning)
        a = fit.optimal_allocation(np.array([c]))
    run = estimate_run(c, acc, num_gpus or 1, mfu=mfu, goodput=goodput)
    days = {} if not num_gpus else {
        "num_gpus": num_gpus, "days": run.days,
        "days_lo80": None if span[0] is None else estimate_run(span[0], acc, num_gpus, mfu=mfu, goodput=goodput).days,
        "days_hi80": None if span[1] is None else estimate_run(span[1], acc, num_gpus, mfu=mfu, goodput=goodput).days}
    return {"target_loss": target, "floor_E": E, "flops": c, "flops_lo80": span[0], "flops_hi80": span[1],
            "params": float(a.params[0]), "tokens": float(a.tokens[0]), "gpu_hours": run.gpu_hours,
            "cost_usd": run.cost_usd, "accelerator": acc.name, "mfu": run.mfu, "goodput": run.goodput, **days}
