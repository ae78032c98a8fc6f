"""A ladder's results: the finished rungs as runs, the law fitted to them, and the forecast
of the target (compared with the target itself when it was trained). No torch needed.

The loss is validation bits per byte (comparable across tokenizers); N is the rungs'
total parameter count by default (embedding included: Pearce & Song 2024, "Reconciling
Kaplan and Chinchilla Scaling Laws", traced Kaplan's biased exponents to counting
non-embedding parameters at small scale and recommend total parameters), or their
non-embedding count; D is their training tokens, and C = 6·N·D the fit's compute axis.
The ladder's cost is the plan's (model FLOPs of the rungs over the target's), the figure
``ladder design`` prints.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from scalelab.errors import InputError
from scalelab.fitting import Fit, Forecast
from scalelab.ladder.design import LadderPlan, Rung
from scalelab.ladder.run import check_stale, load_result, runs_folder
from scalelab.laws.base import FLOPS_PER_PARAM_TOKEN


@dataclass(frozen=True)
class RungResult:
    """One finished rung (or the target)."""

    run_id: str
    role: str
    """"rung" or "target"."""
    params: int
    """Non-embedding parameters, the count the plan sizes the rungs by."""
    total_params: int
    """Every parameter, the embedding (tied to the output head) included."""
    tokens: int
    flops: float
    """6·N·D with N as the fit counts it, the fit's compute axis."""
    bits_per_byte: float
    """Final validation loss in bits per byte."""
    val_loss_nats: float
    seconds: float


@dataclass(frozen=True)
class LadderForecast:
    """The law fitted to a ladder's rungs and its forecast of the target."""

    fit: Fit
    rungs: tuple[RungResult, ...]
    """Every finished rung and, when trained, the target."""
    forecast: Forecast | None
    """The target's bits per byte (None without a target in the plan)."""
    cost_fraction: float | None
    """The ladder's training FLOPs as a share of the target's."""
    count: str = "total"
    """Which parameters the fit's N counts: "total" or "non_embedding"."""

    @property
    def actual(self) -> float | None:
        """The target's own bits per byte, when it was trained."""
        return next((r.bits_per_byte for r in self.rungs if r.role == "target"), None)

    @property
    def rel_error(self) -> float | None:
        """forecast / actual - 1."""
        return None if self.forecast is None or self.actual is None else self.forecast.loss / self.actual - 1

    def to_dict(self) -> dict:
        return {"law": self.fit.law_.name, "params": self.fit.params_, "objective": self.fit.result_.fun,
                "rungs": [dataclasses.asdict(r) for r in self.rungs],
                "forecast": None if self.forecast is None else self.forecast.to_dict(),
                "actual_bits_per_byte": self.actual, "rel_error": self.rel_error,
                "actual_in80": None if self.actual is None or self.forecast is None
                else self.actual in self.forecast.interval(0.8), "cost_fraction": self.cost_fraction,
                "params_count": self.count, "warnings": [w["message"] for w in self.fit.warnings_]}


COUNTS = ("total", "non_embedding")


def ladder_results(plan_path: str | Path, count: str = "total") -> list[RungResult]:
    """The finished rungs of a plan (and its target, when trained), in the plan's order;
    ``count`` says which parameters their FLOPs count."""
    plan = LadderPlan.from_toml(plan_path)
    folder = runs_folder(plan_path)
    rungs = plan.all_rungs
    check_stale(plan_path, plan, rungs)
    out = []
    for r in rungs:
        d = folder / r.name
        if not (d / "result.json").is_file():
            continue
        res = load_result(d)
        total = r.model.num_params()["total"]
        out.append(RungResult(run_id=r.name, role=r.role, params=r.params, total_params=total, tokens=res["tokens"],
                              flops=FLOPS_PER_PARAM_TOKEN * (total if count == "total" else r.params) * res["tokens"],
                              bits_per_byte=res["val_bpb"], val_loss_nats=res["val_loss"], seconds=res["seconds"]))
    return out


def fit_ladder(plan_path: str | Path, *, num_bootstrap: int = 200, fix: dict | None = None,
               tie: list[str] | None = None, seed: int = 0, count: str = "total") -> LadderForecast:
    """Fit Chinchilla's law to the finished rungs and forecast the plan's target; ``fix``
    holds parameters at values (e.g. ``{"E": 0.9}``, in bits per byte), ``tie`` forces pairs
    equal (``["alpha=beta"]``); ``count`` is the N the law is fitted in, "total" parameters
    or "non_embedding" (the forecast and a saved fit use the same count).

    Needs at least five finished rungs (five parameters). Warnings about the fit (a loosely
    identified law, extrapolation) are raised and kept in the fit.
    """
    count = count.replace("-", "_")
    if count not in COUNTS:
        raise InputError(f"parameter count {count!r}: give 'total' or 'non-embedding'")
    plan = LadderPlan.from_toml(plan_path)
    results = ladder_results(plan_path, count)
    runs = ladder_runs(plan_path, count, results)
    if len(runs) < 5:
        fixed = len(fix or {}) + len(tie or [])
        if len(plan.rungs) < 5 - fixed:
            raise InputError(f"the plan has {len(plan.rungs)} rung{'s' * (len(plan.rungs) != 1)}; a five-parameter law "
                             "needs at least 5 runs: design a ladder with more --sizes or --multiples")
        if len(runs) < 5 - fixed:
            raise InputError(f"{len(runs)} of the plan's {len(plan.rungs)} rungs have finished; a five-parameter law "
                             f"needs at least 5: run scalelab ladder run {plan_path}")
    fit = Fit(fix=fix or {}, tie=tie or [], num_bootstrap=num_bootstrap, seed=seed).fit(runs)
    # what a saved fit must say for a run to be watched against it: the metric of the
    # rungs' logs it was fitted to (the trainer logs val_bpb beside the loss in nats per
    # token) and the target it was made for, its N counted as the fit counts it
    fit.provenance_.update(metric="val_bpb", unit="bits per byte", params_count=count)
    cooldown = _cooldown(plan, plan_path, fit)
    if cooldown is not None:  # what the ladder's own cooldowns took off: a watch of the target allows that much
        fit.provenance_["cooldown"] = cooldown
    forecast = None
    if plan.target is not None:
        n = plan.target.model.num_params()["total"] if count == "total" else plan.target.params
        fit.provenance_["target"] = {"params": float(n), "tokens": float(plan.target.tokens)}
        forecast = fit.forecast(params=n, tokens=plan.target.tokens,
                                law=f"fit of {len(runs)} rungs of {plan_path} (bits per byte)")
    return LadderForecast(fit, tuple(results), forecast, plan.cost_fraction, count)


def _cooldown(plan: LadderPlan, plan_path: str | Path, fit: Fit) -> dict | None:
    """How far above its final loss each whole WSD rung's projection stood before its
    cooldown (:func:`scalelab.watch.forecast.cooldown_allowance`), from the rungs' logs."""
    from scalelab.watch.forecast import cooldown_allowance

    if plan.schedule != "wsd":
        return None
    runs = [(t, y, lr, float(r.tokens)) for r, t, y, lr in whole_run_evaluations(plan, plan_path).values()
            if r.role == "rung"]
    return cooldown_allowance(runs, float(fit.params_["beta"])) if runs else None


def whole_run_evaluations(plan: LadderPlan, plan_path: str | Path) -> dict:
    """The evaluations logged by each run of the plan trained whole (every rung that is no
    branch of another, and the target), by name: ``(rung, tokens, val_bpb, lr)``, arrays
    (lr NaN where a row has none)."""
    import json

    import numpy as np

    out = {}
    for r in plan.all_rungs:
        log = runs_folder(plan_path) / r.name / "log.jsonl"
        if r.trunk or not log.is_file():
            continue
        evals = [x for x in map(json.loads, log.read_text().splitlines()) if "val_bpb" in x]
        if evals:
            out[r.name] = (r, *(np.array([x.get(k, np.nan) for x in evals], float) for k in ("tokens", "val_bpb", "lr")))
    return out


def ladder_runs(plan_path: str | Path, count: str = "total", results: list[RungResult] | None = None):
    """The finished rungs of a plan as a runs table (loss in bits per byte, N as ``count``
    says): what :func:`fit_ladder` fits, and what a report of its fit draws."""
    import pandas as pd

    from scalelab.runs import Runs

    count = count.replace("-", "_")
    rungs = [r for r in (results if results is not None else ladder_results(plan_path, count)) if r.role == "rung"]
    if not rungs:
        raise InputError(f"no rung of {plan_path} has finished: run scalelab ladder run {plan_path}")
    frame = pd.DataFrame([dataclasses.asdict(r) | {"loss": r.bits_per_byte, "params": fit_params(r, count)}
                          for r in rungs])
    return Runs.from_frame(frame, source=str(plan_path))


def fit_params(rung: RungResult, count: str) -> int:
    """A rung's N as a fit counts it."""
    return rung.total_params if count == "total" else rung.params


def rung_of_log(log: str | Path) -> tuple[Path, Rung] | None:
    """The plan and rung a ladder run's log belongs to (``PLAN.runs/NAME/log.jsonl``, or the
    folder ``PLAN.runs/NAME``, beside ``PLAN.toml``); None for any other log."""
    p = Path(log)
    d = p if p.is_dir() else p.parent
    if not d.parent.name.endswith(".runs"):
        return None
    plan_path = d.parent.with_name(d.parent.name.removesuffix(".runs") + ".toml")
    if not plan_path.is_file():
        return None
    try:
        plan = LadderPlan.from_toml(plan_path)
    except InputError:
        return None
    rung = next((r for r in plan.all_rungs if r.name == d.name), None)
    return None if rung is None else (plan_path, rung)


def own_size(log: str | Path, fit) -> tuple[dict, str | None] | None:
    """A ladder rung's own N and D where its log is watched against a fit made for another
    run (a ladder's fit is made for the target; a rung judged against the target's forecast
    would read as a fraction of a run far off course): ``({"params": N, "final_tokens": D},
    note)``, N counted as the fit counts it. Without a fit, ``({"final_tokens": D}, None)``:
    the run's length, for its ETA and its end. A fit that names no target (one made with
    ``scalelab fit``) is read at the rung's size too, N counted as total parameters. None for
    a log that is no rung, or is the run the fit was made for."""
    found = rung_of_log(log)
    if found is None:
        return None
    plan_path, rung = found
    if fit is None:
        return {"final_tokens": float(rung.tokens)}, None
    prov = getattr(fit, "provenance_", None) or {}
    count = prov.get("params_count", "total")
    n = float(rung.model.num_params()["total"] if count == "total" else rung.params)
    target = prov.get("target")
    if target and math.isclose(n, target.get("params", 0.0), rel_tol=1e-6) \
            and math.isclose(rung.tokens, target.get("tokens", 0.0), rel_tol=1e-6):
        return None
    other = (f"not at the fit's target ({target['params']:.3g} params, {target['tokens']:.3g} tokens)" if target
             else "(the fit names no run of its own)")
    note = (f"{log} is {rung.role} {rung.name} of {plan_path}: judged against the law at its own "
            f"{n:.3g} {count.replace('_', '-')} params and {rung.tokens:.3g} tokens, {other}; give --params and "
            "--tokens to choose")
    return {"params": n, "final_tokens": float(rung.tokens)}, note
