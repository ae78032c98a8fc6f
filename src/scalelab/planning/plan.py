"""A whole plan: model -> FLOPs -> time and cost -> memory and layout -> forecast.

Two directions:

- *forward*: a model (preset, shape, or a dense parameter count) and a token count give
  FLOPs, then days, GPU-hours, energy and dollars on the chosen accelerators, the memory
  per device under a layout (the given one, or the cheapest that fits), and, with a fit,
  the forecast loss;
- *budget*: dollars, GPU-hours or FLOPs (or GPUs for a number of days) give the FLOPs, a
  law splits them into the compute-optimal N and D with the forecast loss, and the same
  forward arithmetic gives time, cost and memory for that model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from scalelab.errors import InputError
from scalelab.planning.cost import BudgetPlan, RunEstimate, budget_to_run, estimate_run, plan_budget
from scalelab.planning.hardware import Accelerator
from scalelab.planning.memory import MemoryBreakdown, Parallelism, memory_per_device, smallest_layout
from scalelab.planning.model import ModelConfig, dense_from_params


@dataclass
class Layout:
    """How the run is laid out, and whether it was searched or given."""

    parallel: Parallelism | None
    recompute: str
    memory: MemoryBreakdown | None
    searched: bool
    micro_batch: int
    precision: str


@dataclass
class Plan:
    mode: str  # "forward" or "budget"
    model: ModelConfig
    model_note: str
    params: dict[str, int]
    tokens: float
    flops: dict[str, float]
    run: RunEstimate
    layout: Layout
    budget: BudgetPlan | None = None
    forecast: dict | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        lay = self.layout
        par = lay.parallel
        return {
            "mode": self.mode,
            "model": {"name": self.model.name, "note": self.model_note, **{k: getattr(self.model, k) for k in (
                "d_model", "n_layers", "n_heads", "n_kv_heads", "d_ff", "vocab_size", "seq_len", "n_experts", "top_k")}},
            "params": self.params,
            "tokens": self.tokens,
            "flops": self.flops,
            "run": self.run.to_dict(),
            "layout": None if par is None else {
                "dp": par.dp, "tp": par.tp, "pp": par.pp, "cp": par.cp, "ep": par.ep, "zero": par.zero,
                "sequence_parallel": par.sequence_parallel, "recompute": lay.recompute, "micro_batch": lay.micro_batch,
                "precision": lay.precision, "searched": lay.searched},
            "memory_gib": None if lay.memory is None else {**lay.memory.gib(), "fits": lay.memory.fits,
                                                            "stage": lay.memory.stage},
            "budget": None if self.budget is None else self.budget.to_dict(),
            "forecast": self.forecast,
            "warnings": self.warnings,
        }


def make_plan(accelerator: Accelerator, *, model: ModelConfig | None = None, params: float | None = None,
              tokens: float | None = None, num_gpus: float | None = None, days: float | None = None,
              mfu: float | None = None, goodput: float | None = None, pue: float = 1.0,
              budget_usd: float | None = None, budget_gpu_hours: float | None = None, budget_flops: float | None = None,
              fit=None, law_label: str = "", flops_per_token: float = 6.0, max_unique_tokens: float | None = None,
              causal: bool = True, parallel: Parallelism | None = None, recompute: str | None = None,
              micro_batch: int = 1, precision: str = "bf16", memory_options: dict | None = None) -> Plan:
    """Build a forward or budget plan (see the module docstring)."""
    memory_options = memory_options or {}
    budget_mode = any(v is not None for v in (budget_usd, budget_gpu_hours, budget_flops)) or (
        tokens is None and model is None and params is None and num_gpus is not None and days is not None)
    warnings: list[str] = []
    if budget_mode:
        if model is not None or params is not None or tokens is not None:
            raise InputError("a budget plan chooses the model and tokens itself: drop --preset/--params/--tokens, "
                             "or drop the budget to plan that model")
        if fit is None:
            raise InputError("a budget plan needs a law: give --fit fit.json")
        run = budget_to_run(accelerator, budget_usd=budget_usd, budget_gpu_hours=budget_gpu_hours,
                            budget_flops=budget_flops, num_gpus=num_gpus, days=days, mfu=mfu, goodput=goodput, pue=pue)
        budget = plan_budget(fit, run, flops_per_token=flops_per_token, max_unique_tokens=max_unique_tokens,
                             law_label=law_label)
        warnings += budget.warnings
        model = dense_from_params(budget.params, name=f"dense {budget.params:.3g} (compute-optimal)")
        note = "a Llama-like dense shape with the compute-optimal parameter count"
        flops = {"model": run.flops, "hardware": run.flops, "six_n": 6.0 * budget.params * budget.tokens,
                 "per_token_model": flops_per_token * budget.params}
        tokens_out = budget.tokens
        params_out = {"total": int(round(budget.params)), "active": int(round(budget.params))}
    else:
        if tokens is None:
            raise InputError("give --tokens D with the model (or a budget: --budget-usd, --budget-gpu-hours, "
                             "--budget-flops)")
        if not (math.isfinite(tokens) and 0 < tokens <= 1e16):
            raise InputError(f"--tokens {tokens}: give a token count in (0, 1e16]")
        if model is None and params is None:
            raise InputError("give a model: --preset NAME, --params N, or its shape (--d-model, --layers, --heads, --vocab)")
        budget = None
        if model is None:
            model = dense_from_params(params)
            note = (f"only the parameter count was given: FLOPs are 6·N·D with N = {params:.4g}; memory uses a "
                    f"Llama-like shape ({model.n_layers} layers x {model.d_model})")
            flops = {"model": 6.0 * params * tokens, "six_n": 6.0 * params * tokens}
            flops["hardware"] = flops["model"]
            params_out = {"total": int(round(params)), "active": int(round(params))}
        else:
            note = "shape given" if model.name == "custom" else "preset"
            per_token = model.flops_per_token(causal=causal, recompute=recompute or "none")
            flops = {"model": per_token["model"] * tokens, "hardware": per_token["hardware"] * tokens,
                     "six_n": per_token["six_n"] * tokens, "per_token_model": per_token["model"]}
            params_out = model.params()
        tokens_out = tokens
        if num_gpus is None:
            if days is None:
                raise InputError("give --num-gpus (or --days to find how many GPUs finish in time)")
            probe = estimate_run(flops["model"], accelerator, 1, mfu=mfu, goodput=goodput, pue=pue)
            num_gpus = math.ceil(probe.days / days)
        run = estimate_run(flops["model"], accelerator, num_gpus, mfu=mfu, goodput=goodput, pue=pue)
        if fit is not None and "params" in fit.law_.inputs:
            import warnings as _w

            with _w.catch_warnings(record=True) as caught:
                _w.simplefilter("always")
                p = fit.predict(params=params_out["active"], tokens=tokens)
            warnings += [str(w.message) for w in caught]
            lo80, hi80 = p.intervals[0.8]
            lo95, hi95 = p.intervals[0.95]
            forecast_note = law_label
            if model.n_experts:
                forecast_note += "; a dense law evaluated at the active parameter count"
            forecast = {"loss": float(p.loss), "lo80": float(lo80), "hi80": float(hi80), "lo95": float(lo95),
                        "hi95": float(hi95), "extrapolation": float(p.extrapolation), "law": forecast_note}
        else:
            forecast = None
    layout = _layout(model, run, parallel, recompute, micro_batch, precision, memory_options, accelerator)
    if layout.parallel is None:
        warnings.append(f"no layout up to tp=8 fits {model.name} in {accelerator.memory_gb:g} GB per GPU on "
                        f"{run.num_gpus:g} GPUs: add GPUs, lower --micro-batch or --seq-len, or use --precision fp8")
    elif not layout.memory.fits:
        warnings.append(f"the given layout needs {layout.memory.total / 2**30:.1f} GiB per GPU, more than "
                        f"{accelerator.memory_gb:g} GB: drop --tp/--pp/--zero/--recompute to let scalelab find one")
    if budget_mode:
        forecast = {"loss": budget.loss,
                           "lo80": budget.loss_interval80[0] if budget.loss_interval80 else None,
                           "hi80": budget.loss_interval80[1] if budget.loss_interval80 else None,
                           "lo95": budget.loss_interval95[0] if budget.loss_interval95 else None,
                           "hi95": budget.loss_interval95[1] if budget.loss_interval95 else None,
                           "extrapolation": budget.extrapolation, "law": law_label}
    return Plan(mode="budget" if budget_mode else "forward", model=model, model_note=note, params=params_out,
                tokens=tokens_out, flops=flops, run=run, layout=layout, budget=budget, forecast=forecast,
                warnings=warnings)


def _layout(model, run, parallel, recompute, micro_batch, precision, memory_options, accelerator) -> Layout:
    num = run.num_gpus
    if parallel is not None:
        parallel.check(model, memory_options.get("seq_len") or model.seq_len, num_devices=int(num))
        mem = memory_per_device(model, parallel, micro_batch=micro_batch, precision=precision,
                                recompute=recompute or "none", device_gb=accelerator.memory_gb, **memory_options)
        return Layout(parallel, recompute or "none", mem, False, micro_batch, precision)
    if num != int(num):
        return Layout(None, recompute or "none", None, True, micro_batch, precision)
    options = (recompute,) if recompute else ("none", "selective", "full")
    found = smallest_layout(model, int(num), device_gb=accelerator.memory_gb, micro_batch=micro_batch,
                            precision=precision, recompute_options=options, **memory_options)
    if found is None:
        return Layout(None, "none", None, True, micro_batch, precision)
    par, rc, mem = found
    return Layout(par, rc, mem, True, micro_batch, precision)
