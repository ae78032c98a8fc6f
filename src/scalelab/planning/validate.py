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


@dataclass(frozen=True)
class StepCheck:
    """A published step time (or throughput) with its layout, against the performance model."""

    source: str
    model: str
    hardware: str
    num_gpus: int
    layout: str
    metric: str
    measured: float
    step_measured_s: float
    step_predicted_s: float
    mfu_measured: float
    mfu_predicted: float
    why: str
    url: str

    @property
    def error(self) -> float:
        """Predicted over measured step time, minus one."""
        return self.step_predicted_s / self.step_measured_s - 1

    def to_dict(self) -> dict:
        return dict(self.__dict__) | {"error": self.error}


METRICS = ("hw_tflops_per_gpu", "model_tflops_per_gpu", "tokens_per_s_per_gpu")


def check_steps(rows) -> list[StepCheck]:
    """One :class:`StepCheck` per row of a step-measurements table (dicts of strings).

    TFLOP/s figures are converted to a step time with the FLOPs their authors counted:
    Megatron-LM's formula (recomputation included, attention over the full sequence) for
    ``hw_tflops_per_gpu``, PaLM's model FLOPs (full attention) for ``model_tflops_per_gpu``.
    """
    from scalelab.planning.memory import Parallelism
    from scalelab.planning.performance import step_time, system_for

    out = []
    for r in rows:
        model = _row_model(r)
        n, tp, pp, cp = (int(r[k]) for k in ("num_gpus", "tp", "pp", "cp"))
        par = Parallelism(dp=n // (tp * pp * cp), tp=tp, pp=pp, cp=cp, zero=int(r["zero"]))
        acc = get_accelerator(r["hardware"])
        t = step_time(model, par, system_for(acc), global_batch=int(r["global_batch"]),
                      micro_batch=int(r["micro_batch"]), recompute=r["recompute"],
                      flash_attention=r["flash_attention"] == "true", interleave=int(r["interleave"]),
                      dp_overlap=float(r["dp_overlap"]))
        metric, value = r["metric"], float(r["measured"])
        if metric not in METRICS:
            raise InputError(f"step measurements: unknown metric {metric!r}; known: {', '.join(METRICS)}")
        tokens = t.tokens_per_step
        if metric == "tokens_per_s_per_gpu":
            measured_s = tokens / (value * n)
        else:
            f = model.flops_per_token(causal=False, recompute=r["recompute"])
            per_token = f["hardware"] if metric == "hw_tflops_per_gpu" else f["model"]
            measured_s = per_token * tokens / (value * 1e12 * n)
        model_flops = model.flops_per_token(causal=True)["model"] * tokens
        layout = f"dp{par.dp} tp{tp} pp{pp}" + (f" cp{cp}" if cp > 1 else "") + f" zero{par.zero} mb{r['micro_batch']}" \
            + f" {r['recompute']}"
        out.append(StepCheck(source=r["source"], model=r["model"], hardware=acc.key, num_gpus=n, layout=layout,
                             metric=metric, measured=value, step_measured_s=measured_s, step_predicted_s=t.step_s,
                             mfu_measured=model_flops / (measured_s * n * acc.peak_flops), mfu_predicted=t.mfu,
                             why=t.why(), url=r["url"]))
    return out


@dataclass(frozen=True)
class HoursCheck:
    """A documented run's accelerator-hours against the planner's, from its size, tokens,
    accelerator and GPU count alone (the layout found by the speed search)."""

    model: str
    hardware: str
    num_gpus: int
    hours_reported: float
    hours_predicted: float
    mfu_predicted: float
    goodput_predicted: float
    hours_flat: float
    """6·N·D at a flat 40% MFU, no goodput: the baseline to beat."""
    layout: str
    why: str

    @property
    def error(self) -> float:
        return self.hours_predicted / self.hours_reported - 1

    @property
    def flat_error(self) -> float:
        return self.hours_flat / self.hours_reported - 1

    def to_dict(self) -> dict:
        return dict(self.__dict__) | {"error": self.error, "flat_error": self.flat_error}


FLAT_MFU = 0.40


def check_documented_hours(rows) -> list[HoursCheck]:
    """One :class:`HoursCheck` per row of a documented-hours table (dicts of strings)."""
    from scalelab.planning.goodput import goodput_model
    from scalelab.planning.performance import fastest_layouts, system_for
    from scalelab.planning.presets import get_preset

    out = []
    for r in rows:
        model = get_preset(r["preset"]).model if r["preset"] else _row_model(r)
        acc = get_accelerator(r["hardware"])
        n, params, tokens = int(r["n_accelerators"]), float(r["params"]), float(r["tokens"])
        ranked = fastest_layouts(model, n, system_for(acc), batch_tokens=float(r["batch_tokens"]))
        if not ranked:
            raise InputError(f"documented hours: no layout fits {r['model']} on {n} {acc.name}")
        best = ranked[0]
        g = goodput_model(n, params).goodput
        hours = model.flops_per_token()["model"] * tokens / (acc.peak_flops * best.step.mfu * g) / 3600
        flat = FLOPS_PER_PARAM_TOKEN * params * tokens / (acc.peak_flops * FLAT_MFU) / 3600
        out.append(HoursCheck(model=r["model"], hardware=acc.key, num_gpus=n, hours_reported=float(r["accelerator_hours"]),
                              hours_predicted=hours, mfu_predicted=best.step.mfu, goodput_predicted=g, hours_flat=flat,
                              layout=best.describe(), why=best.step.why()))
    return out


@functools.lru_cache(maxsize=1)
def predicted_hours_spread() -> tuple[float, float, int]:
    """How far documented runs' effective MFU lies from the performance and failure models'
    prediction: the lowest and highest ratio (predicted hours over reported), and over how
    many runs. What a plan's time and cost can be off by when its speed is predicted."""
    from scalelab.data import rows

    ratios = [c.hours_predicted / c.hours_reported for c in check_documented_hours(rows("documented_hours"))]
    return min(ratios), max(ratios), len(ratios)


def _row_model(r: dict):
    """The model of a table row given by its shape (GELU rows are GPT-style: learned
    positions, LayerNorm, biases; SwiGLU rows Llama-style)."""
    from scalelab.planning.model import ModelConfig

    ffn = r["ffn"]
    return ModelConfig(d_model=int(r["d_model"]), n_layers=int(r["n_layers"]), n_heads=int(r["n_heads"]),
                       n_kv_heads=int(r["n_kv_heads"]), d_ff=int(r["d_ff"]), ffn=ffn, vocab_size=int(r["vocab_size"]),
                       seq_len=int(r["seq_len"]), name=r["model"],
                       **({"position": "learned", "norm": "layernorm", "bias": True} if ffn == "gelu" else {}))


def speed_summary(steps: list[StepCheck], hours: list[HoursCheck]) -> dict:
    """Median and worst absolute errors of the speed model's two checks."""
    import statistics

    se, he, fe = ([abs(c.error) for c in steps], [abs(c.error) for c in hours], [abs(c.flat_error) for c in hours])
    return {"steps": len(se), "steps_median": statistics.median(se), "steps_max": max(se),
            "hours": len(he), "hours_median": statistics.median(he), "flat_median": statistics.median(fe)}
