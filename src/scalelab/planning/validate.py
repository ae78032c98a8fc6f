"""Check the planner against documented training runs.

For every documented run: recompute the training FLOPs as 6·N·D (N = active parameters)
and compare with the published FLOPs; where the run reports its MFU, predict its
accelerator-hours from the FLOPs, the accelerator's peak, that MFU and the default
goodput, and compare with the published hours; everywhere, state the *effective* MFU the
published hours imply (MFU x goodput: the share of the peak the run got over its whole
wall-clock time) next to the planner's default.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from scalelab.errors import InputError
from scalelab.laws.base import FLOPS_PER_PARAM_TOKEN
from scalelab.planning.hardware import GOODPUT_DEFAULT, get_accelerator


@dataclass(frozen=True)
class RunCheck:
    model: str
    kind: str  # "run" (documented) or "claim" (quoted in news, unverified)
    hardware: str | None
    params: float | None
    tokens: float | None
    flops_reported: float | None
    flops_6nd: float | None
    hours_reported: float | None
    mfu_reported: float | None
    hours_predicted: float | None
    effective_mfu_implied: float | None
    effective_mfu_default: float | None

    @property
    def flops_error(self) -> float | None:
        return _rel(self.flops_6nd, self.flops_reported)

    @property
    def hours_error(self) -> float | None:
        return _rel(self.hours_predicted, self.hours_reported)

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["flops_error"] = self.flops_error
        d["hours_error"] = self.hours_error
        return d


def check_runs(rows, goodput: float | None = None) -> list[RunCheck]:
    """One :class:`RunCheck` per row of a documented-runs table (dicts of strings)."""
    if goodput is not None and not 0 < goodput <= 1:
        raise InputError(f"--goodput {goodput}: give a fraction in (0, 1]")
    goodput = GOODPUT_DEFAULT[0] if goodput is None else goodput
    out = []
    for r in rows:
        n = _num(r.get("params_active")) or _num(r.get("params_total"))
        d = _num(r.get("tokens"))
        flops = _num(r.get("train_flops"))
        count, days = _num(r.get("n_accelerators")), _num(r.get("days"))
        hours = _num(r.get("accelerator_hours"))
        if hours is None and count and days:
            hours = count * days * 24
        mfu = _num(r.get("reported_mfu"))
        acc = None
        if r.get("hardware"):
            try:
                acc = get_accelerator(r["hardware"])
            except InputError:
                acc = None
        flops_6nd = FLOPS_PER_PARAM_TOKEN * n * d if n and d else None
        basis = flops_6nd or flops
        hours_pred = basis / (acc.peak_flops * mfu * goodput) / 3600 if (acc and mfu and basis) else None
        implied = flops / (hours * 3600 * acc.peak_flops) if (acc and hours and flops) else None
        out.append(RunCheck(
            model=r["model"], kind=r.get("row_type", "run"), hardware=acc.key if acc else (r.get("hardware") or None),
            params=n, tokens=d, flops_reported=flops, flops_6nd=flops_6nd, hours_reported=hours, mfu_reported=mfu,
            hours_predicted=hours_pred, effective_mfu_implied=implied,
            effective_mfu_default=acc.default_mfu * goodput if acc else None,
        ))
    return out


@functools.lru_cache(maxsize=1)
def effective_mfu_spread() -> tuple[float, float, int]:
    """How far the documented runs' effective MFU (the MFU x goodput their reported hours
    imply) lies from the planner's default for their accelerator: the lowest and highest
    ratio, and over how many runs (news claims left out). What a plan's time and cost can
    be off by when its MFU and goodput are the defaults: 0.73-1.09x in the bundled table."""
    from scalelab.data import rows

    ratios = [c.effective_mfu_implied / c.effective_mfu_default for c in check_runs(rows("known_runs"))
              if c.kind != "claim" and c.effective_mfu_implied and c.effective_mfu_default]
    return min(ratios), max(ratios), len(ratios)


def _rel(pred, ref):
    return None if pred is None or ref is None else pred / ref - 1


def _num(text) -> float | None:
    try:
        v = float(text)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None
