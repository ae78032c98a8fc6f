"""A whole plan: model -> FLOPs -> time and cost -> memory and layout -> forecast.

Two directions:

- *forward*: a model (preset, shape, or a dense parameter count) and a token count give
  FLOPs, then days, GPU-hours, energy and dollars on the chosen accelerators, the memory
  per device under a layout (the given one, or the cheapest that fits), and, with a fit,
  the forecast loss;
- *budget*: dollars, GPU-hours or FLOPs (or GPUs for a number of days) give the FLOPs, a
  law splits them into the compute-optimal N and D with the forecast loss, and the same
  forward arithmetic gives time, cost and memory for that model.

A :class:`Plan` round-trips through JSON (``scalelab plan --json > plan.json``, then
:meth:`Plan.from_dict`): ``watch`` reads its throughput, size, length and cost from it.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field

from scalelab.errors import InputError, PlanWarning, recording_warnings

MIN_GOODPUT = 0.05  # below this share of wall-clock time training, a plan is refused rather than priced
LOW_GOODPUT = 0.5  # below this, priced with a warning


class NoTrainingTime(InputError):
    """So many GPUs that, at the failure model's rate, restarts, checkpoints and redone work
    leave (almost) no time for training."""

    def __init__(self, num_gpus: int, mtbf_hours: float, goodput: float, hint: str = "give fewer GPUs"):
        self.num_gpus, self.mtbf_hours, self.goodput = num_gpus, mtbf_hours, goodput
        super().__init__(f"on {num_gpus:,} GPUs the job would fail every {60 * mtbf_hours:.1f} min (Llama 3's failure "
                         f"rate), and restarts, checkpoints and redone work would leave {100 * goodput:.2g}% of the time "
                         f"for training; {hint}, or --goodput if your cluster fails less or restarts faster (scalelab "
                         "plan goodput shows the model)")
from scalelab.fitting.forecast import Forecast
from scalelab.laws.base import FLOPS_PER_PARAM_TOKEN
from scalelab.planning.data_limit import MORE, USEFUL_TOLERANCE, DataLimit
from scalelab.planning.cost import NODE_SIZE, BudgetPlan, RunEstimate, budget_to_run, estimate_run, plan_budget
from scalelab.planning.hardware import Accelerator
from scalelab.planning.memory import MemoryBreakdown, Parallelism, memory_per_device, smallest_layout
from scalelab.planning.model import ModelConfig, dense_from_params
from scalelab.planning.presets import get_preset

FORMAT = "scalelab-plan"
FORMAT_VERSION = 1
DEFAULT_LAW_LABEL = "Chinchilla's law refit on Chinchilla's runs (MassiveText loss)"
SHAPE_FLAGS = {"d_model": "--d-model", "n_layers": "--layers", "n_heads": "--heads", "vocab_size": "--vocab"}


@dataclass(frozen=True)
class ParamCount:
    """Parameters under the conventions of :mod:`scalelab.planning.model`."""

    total: int
    active: int
    non_embedding: int | None = None
    """None when only a parameter count was given (no shape to split it)."""


@dataclass(frozen=True)
class FlopCount:
    """Training FLOPs of the run, and per token."""

    model: float
    """What MFU counts: 6·matmul weights + attention (PaLM), or 6·N·D for a bare count."""
    hardware: float
    """``model`` plus recomputation: the work the accelerators do."""
    six_n: float
    """The plain 6·N·D rule, for comparison."""
    per_token: float
    """``model`` per training token."""


@dataclass(frozen=True)
class Layout:
    """How the run is laid out on the accelerators, and whether it was searched or given."""

    parallel: Parallelism | None
    """None: no layout fits (see the plan's warnings)."""
    recompute: str
    memory: MemoryBreakdown | None
    searched: bool
    micro_batch: int
    precision: str

    @property
    def fits(self) -> bool:
        """A layout was found, or the given one fits in memory: the run can be launched as planned."""
        return self.parallel is not None and (self.memory is None or self.memory.fits)

    def to_dict(self) -> dict:
        return {"parallel": None if self.parallel is None else self.parallel.to_dict(), "recompute": self.recompute,
                "memory": None if self.memory is None else self.memory.to_dict(), "searched": self.searched,
                "micro_batch": self.micro_batch, "precision": self.precision}

    @classmethod
    def from_dict(cls, d: dict) -> Layout:
        return cls(parallel=None if d["parallel"] is None else Parallelism.from_dict(d["parallel"]),
                   recompute=d["recompute"], memory=None if d["memory"] is None else MemoryBreakdown.from_dict(d["memory"]),
                   searched=d["searched"], micro_batch=d["micro_batch"], precision=d["precision"])


@dataclass(frozen=True)
class Plan:
    """What a run costs and, with a law, what it delivers (see the module docstring)."""

    mode: str
    """"forward" (a model and tokens) or "budget" (the best run a budget buys)."""
    model: ModelConfig
    model_note: str
    params: ParamCount
    tokens: float
    flops: FlopCount
    run: RunEstimate
    layout: Layout
    budget: BudgetPlan | None = None
    forecast: Forecast | None = None
    warnings: tuple[str, ...] = field(default=(), compare=False)
    data: DataLimit | None = None
    """With the unique tokens available: epochs, effective tokens and the loss penalty."""
    spread: tuple[float, float, int] | None = None
    """With the default MFU and goodput: the lowest and highest ratio of documented runs'
    effective MFU to the default (and how many runs), which the time and cost ranges follow
    (:func:`scalelab.planning.validate.effective_mfu_spread`); None when MFU or goodput was given."""
    speed: dict | None = None
    """With the performance model: the fastest layouts with their predicted steps, the goodput
    estimate, and how the MFU and goodput were found (:func:`_predict_speed`)."""

    def ranges(self) -> dict | None:
        """Days, GPU-hours and dollars at the documented runs' lowest and highest effective MFU."""
        if self.spread is None:
            return None
        lo, hi, n = self.spread
        r = self.run
        out = {"effective_mfu_ratio": [lo, hi], "runs": n, "days": [r.days / hi, r.days / lo],
               "gpu_hours": [r.gpu_hours / hi, r.gpu_hours / lo]}
        out["cost_usd"] = None if r.cost_usd is None else [r.cost_usd / hi, r.cost_usd / lo]
        return out

    @property
    def tokens_per_s(self) -> float:
        """Planned throughput while computing: GPUs x peak x MFU over the FLOPs per token."""
        return self.run.num_gpus * self.run.accelerator.peak_flops * self.run.mfu / self.flops.per_token

    def to_dict(self) -> dict:
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION, "mode": self.mode,
            "model": dataclasses.asdict(self.model), "model_note": self.model_note,
            "params": dataclasses.asdict(self.params), "tokens": self.tokens, "flops": dataclasses.asdict(self.flops),
            "tokens_per_s": self.tokens_per_s, "run": self.run.to_dict(), "layout": self.layout.to_dict(),
            "budget": None if self.budget is None else self.budget.to_dict(),
            "forecast": None if self.forecast is None else self.forecast.to_dict(), "warnings": list(self.warnings),
            "spread": None if self.spread is None else list(self.spread), "ranges": self.ranges(),
            "data": None if self.data is None else self.data.to_dict(), "speed": self.speed,
        }

    @classmethod
    def from_dict(cls, d: dict, source: str = "plan") -> Plan:
        """Rebuild a plan from :meth:`to_dict` output; errors name the file and the fix."""
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise InputError(f"{source} is not the JSON of `scalelab plan --json`; make one with "
                             "scalelab plan ... --json > plan.json")
        if d.get("format_version") != FORMAT_VERSION:
            raise InputError(f"{source} has plan format version {d.get('format_version')!r}; this scalelab reads "
                             f"version {FORMAT_VERSION}; make it again with scalelab plan ... --json")
        try:
            return cls(mode=d["mode"], model=ModelConfig(**d["model"]), model_note=d["model_note"],
                       params=ParamCount(**d["params"]), tokens=d["tokens"], flops=FlopCount(**d["flops"]),
                       run=RunEstimate.from_dict(d["run"]), layout=Layout.from_dict(d["layout"]),
                       budget=None if d["budget"] is None else BudgetPlan.from_dict(d["budget"]),
                       forecast=None if d["forecast"] is None else Forecast.from_dict(d["forecast"]),
                       warnings=tuple(d.get("warnings", ())),
                       spread=None if d.get("spread") is None else tuple(d["spread"]),
                       data=None if d.get("data") is None else DataLimit.from_dict(d["data"]),
                       speed=d.get("speed"))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{source} is missing or has a bad field ({exc}); make it again with "
                             "scalelab plan ... --json") from None


def resolve_model(*, preset: str | None = None, params: float | None = None,
                  shape: dict | None = None) -> ModelConfig | None:
    """The model a user named: a preset (with ``shape`` overriding some of its fields), a
    shape (``d_model``, ``n_layers``, ``n_heads``, ``vocab_size`` at least), or None when
    only a dense parameter count (or nothing: a budget) is given.

    >>> resolve_model(preset="llama3-8b", shape={"seq_len": 4096}).seq_len
    4096
    """
    shape = {k: v for k, v in (shape or {}).items() if v is not None}
    if params is not None and not 0 < params <= 1e15:
        raise InputError(f"--params {params}: give a parameter count in (0, 1e15], e.g. 7e10")
    if preset is not None:
        if params is not None:
            raise InputError("give --preset or --params, not both")
        from scalelab.planning.hf_config import is_hf_config, model_from_hf_config

        model = (model_from_hf_config(preset, seq_len=shape.get("seq_len")) if is_hf_config(preset)
                 else get_preset(preset).model)
        return model.replace(**shape) if shape else model
    if set(shape) - {"seq_len"}:
        if params is not None:
            raise InputError("give the shape (--d-model ...) or --params, not both")
        missing = [flag for key, flag in SHAPE_FLAGS.items() if key not in shape]
        if missing:
            raise InputError(f"a model shape needs {', '.join(missing)} too (or use --preset / --params)")
        return ModelConfig(**shape)
    return None


def make_plan(accelerator: Accelerator, *, model: ModelConfig | None = None, params: float | None = None,
              tokens: float | None = None, num_gpus: float | None = None, days: float | None = None,
              mfu: float | None = None, goodput: float | None = None, pue: float = 1.0,
              budget_usd: float | None = None, budget_gpu_hours: float | None = None, budget_flops: float | None = None,
              fit=None, law_label: str = "", flops_per_token: float = FLOPS_PER_PARAM_TOKEN,
              unique_tokens: float | None = None, data_source: str = "--unique-tokens", causal: bool = True, parallel: Parallelism | None = None,
              recompute: str | None = None, micro_batch: int = 1, precision: str = "bf16",
              seq_len: int | None = None, fused_cross_entropy: bool = False, predict_speed: bool = True,
              batch_tokens: float | None = None, system: dict | None = None) -> Plan:
    """Build a forward or budget plan (see the module docstring).

    A budget plan without ``fit`` uses the bundled law (Chinchilla's, refit on its runs).
    Without ``num_gpus``, a given ``parallel`` layout says how many.
    ``unique_tokens`` (the corpus's unique tokens; ``data_source`` says where the count
    came from) adds the data limit (:class:`~scalelab.planning.data_limit.DataLimit`),
    and makes a budget's optimum the one under that constraint.
    ``seq_len`` sets the sequence length of a model given by its parameter count only.
    With ``predict_speed`` (the default) a forward plan on GPUs whose interconnect the
    catalogue knows predicts its MFU from the fastest layout that fits
    (:mod:`scalelab.planning.performance`; ``batch_tokens`` the global batch, ``system``
    overrides such as ``inter_gbs``) and its goodput from the GPU count
    (:mod:`scalelab.planning.goodput`), unless ``mfu``, ``goodput`` or a layout are given.
    The doubts found on the way (no layout fits, data repeated too often, extrapolation)
    are raised as warnings and kept in :attr:`Plan.warnings`.

    Examples
    --------
    >>> from scalelab.planning import get_accelerator
    >>> p = make_plan(get_accelerator("h100"), params=7e10, tokens=2e12, num_gpus=1024, predict_speed=False)
    >>> round(p.run.days, 1), p.layout.parallel is not None
    (26.7, True)
    >>> p = make_plan(get_accelerator("h100"), params=7e10, tokens=2e12, num_gpus=1024)
    >>> p.speed["mfu_source"], 15 < p.run.days < 26.7
    ('performance model', True)
    """
    kw = dict(model=model, params=params, tokens=tokens, num_gpus=num_gpus, days=days, pue=pue, budget_usd=budget_usd,
              budget_gpu_hours=budget_gpu_hours, budget_flops=budget_flops, fit=fit, law_label=law_label,
              flops_per_token=flops_per_token, unique_tokens=unique_tokens, data_source=data_source, causal=causal,
              parallel=parallel, recompute=recompute, micro_batch=micro_batch, precision=precision, seq_len=seq_len,
              fused_cross_entropy=fused_cross_entropy)
    speed_kw = dict(parallel=parallel, recompute=recompute, micro_batch=micro_batch, precision=precision,
                    batch_tokens=batch_tokens, system=system or {}, fused_cross_entropy=fused_cross_entropy)
    budget_speed = None
    if days is not None:
        from scalelab.planning.cost import check_positive

        check_positive("--days", days, 36500)  # before a deadline's GPU count divides by it
    budgeted = any(v is not None for v in (budget_usd, budget_gpu_hours, budget_flops))
    if predict_speed and mfu is None and budgeted:
        budget_speed = _budget_speed(accelerator, kw, speed_kw, goodput)
    if predict_speed and mfu is None and days is not None and num_gpus is None and parallel is None and not budgeted:
        # the search's plans are made again below for the count it finds, so that their warnings are recorded
        found = _deadline_gpus(accelerator, kw, speed_kw | {"seq_len": seq_len if model is None else None}, goodput, days)
        if found is not None:
            kw["num_gpus"] = found
    with recording_warnings() as seen:
        if budget_speed is None:
            plan = _make_plan(accelerator, mfu=mfu, goodput=goodput, **kw)
        else:
            m, g, speed = budget_speed
            plan = dataclasses.replace(_make_plan(accelerator, mfu=m, goodput=g, **kw), speed=speed)
            modelled = (speed or {}).get("goodput") if (speed or {}).get("goodput_source") == "failure model" else None
            if modelled and modelled["goodput"] < LOW_GOODPUT:  # raised while its speed was sought, silenced there
                _warn_low_goodput(int(plan.run.num_gpus), modelled, stacklevel=3)
        if predict_speed and plan.mode == "forward":
            plan = _predict_speed(plan, accelerator, mfu=mfu, goodput=goodput, seq_len=seq_len if model is None else None,
                                  **speed_kw)
        if days is not None and plan.mode == "forward" and plan.run.days > days * (1 + 1e-9):
            from scalelab.planning.goodput import goodput_model

            n = plan.run.num_gpus
            need = _gpus_for(plan.run.days * n, days)
            modelled = goodput is None and plan.speed is not None and plan.speed.get("goodput_source") == "failure model"
            trained = plan.run.days * n * plan.run.goodput  # GPU-days of training the run needs
            g_need = plan.run.goodput
            if modelled:  # more GPUs fail more often: count again at their own goodput
                for _ in range(30):
                    g_need = goodput_model(need, float(plan.params.total)).goodput
                    if need * g_need <= n * plan.run.goodput:
                        break  # these many train no faster than the GPUs planned
                    again = _gpus_for(trained / g_need, days)
                    if again == need:
                        break
                    need = again
            days_need = trained / (need * g_need) if g_need > 0 else math.inf
            if days_need > days * (1 + 1e-9):
                tail = (f"more GPUs do not meet it: the failure model leaves {need:,} GPUs {100 * g_need:.2g}% of the "
                        f"time for training ({days_need:.1f} days)")
            else:
                tail = f"{need:,} would finish in {days:g} (at the same MFU{', and their goodput' if modelled else ' and goodput'})"
            warnings.warn(f"--days {days:g} cannot be met on {n:,.0f} GPUs: the run takes {plan.run.days:.1f} days; {tail}",
                          PlanWarning, stacklevel=2)
    spread = None
    if plan.speed is not None and plan.speed.get("mfu_source") == "performance model":
        from scalelab.planning.validate import predicted_hours_spread

        spread = predicted_hours_spread()
    elif plan.mode == "forward" and mfu is None and goodput is None:
        from scalelab.planning.validate import effective_mfu_spread

        spread = effective_mfu_spread()
    return dataclasses.replace(plan, warnings=tuple(dict.fromkeys(seen)), spread=spread)


def _gpus_for(days_on_one: float, days: float) -> int:
    """GPUs that finish in ``days`` a run that takes ``days_on_one`` on one: whole 8-GPU
    nodes from a node up (ideal scaling, as the time estimate assumes)."""
    n = math.ceil(days_on_one / days - 1e-9)
    return n if n <= NODE_SIZE else math.ceil(n / NODE_SIZE) * NODE_SIZE


def _deadline_gpus(accelerator, kw: dict, speed_kw: dict, goodput: float | None, days: float) -> int | None:
    """The GPU count that meets ``days`` at the predicted speed: counted first at the
    catalogue's MFU, then recounted at each count's predicted MFU and goodput (a larger
    count runs less efficiently) for a few rounds; the fewest GPUs seen that meet the
    deadline, or the fastest seen where none does (past a point more GPUs are slower: their
    failures take more time than they add). None where the speed model does not apply."""
    tried: dict[int, float] = {}  # GPUs -> predicted days
    n = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(6):
            plan = _make_plan(accelerator, mfu=None, goodput=goodput, **(kw | {"num_gpus": n}))
            try:
                plan = _predict_speed(plan, accelerator, mfu=None, goodput=goodput, **speed_kw)
            except NoTrainingTime as exc:  # a count so large that failures leave no training time
                if not tried:
                    raise NoTrainingTime(exc.num_gpus, exc.mtbf_hours, exc.goodput,
                                         hint=f"--days {days:g} cannot be met this way: give more days") from None
                break  # the largest count tried that trains stands; the plan says the deadline is missed
            if plan.speed.get("mfu_source") != "performance model":
                break
            gpus = int(plan.run.num_gpus)
            tried[gpus] = plan.run.days
            n = _gpus_for(plan.run.days * gpus, days)  # ideal scaling at this count's speed
            if n in tried:
                break
    if not tried:
        return None
    meeting = [g for g, d in tried.items() if d <= days * (1 + 1e-9)]
    return min(meeting) if meeting else min(tried, key=lambda g: (tried[g], -g))


def _make_plan(accelerator, *, model, params, tokens, num_gpus, days, mfu, goodput, pue, budget_usd, budget_gpu_hours,
               budget_flops, fit, law_label, flops_per_token, unique_tokens, data_source, causal, parallel, recompute,
               micro_batch, precision, seq_len, fused_cross_entropy) -> Plan:
    if num_gpus is None and parallel is not None:
        num_gpus = parallel.num_devices
    budget_mode = any(v is not None for v in (budget_usd, budget_gpu_hours, budget_flops)) or (
        tokens is None and model is None and params is None and num_gpus is not None and days is not None)
    memory_options = {"fused_cross_entropy": fused_cross_entropy}
    if seq_len is not None and model is None:
        memory_options["seq_len"] = seq_len
    budget = forecast = None
    if budget_mode:
        if model is not None or params is not None or tokens is not None:
            raise InputError("a budget plan chooses the model and tokens itself: drop --preset/--params/--tokens, "
                             "or drop the budget to plan that model")
        if fit is None:
            from scalelab.data import default_fit_path
            from scalelab.io import load_fit

            fit, law_label = load_fit(default_fit_path()), DEFAULT_LAW_LABEL
        run = budget_to_run(accelerator, budget_usd=budget_usd, budget_gpu_hours=budget_gpu_hours,
                            budget_flops=budget_flops, num_gpus=num_gpus, days=days, mfu=mfu, goodput=goodput, pue=pue)
        budget = plan_budget(fit, run, flops_per_token=flops_per_token, unique_tokens=unique_tokens,
                             law_label=law_label)
        forecast = budget.forecast
        model = dense_from_params(budget.params, name=f"dense {budget.params:.3g} (compute-optimal)")
        note = "a Llama-like dense shape with the compute-optimal parameter count"
        flops = FlopCount(model=run.flops, hardware=run.flops, six_n=FLOPS_PER_PARAM_TOKEN * budget.params * budget.tokens,
                          per_token=flops_per_token * budget.params)
        tokens = budget.tokens
        count = ParamCount(total=int(round(budget.params)), active=int(round(budget.params)))
    else:
        if tokens is None:
            raise InputError("give --tokens D with the model (or a budget: --budget-usd, --budget-gpu-hours, "
                             "--budget-flops)")
        if not (math.isfinite(tokens) and 0 < tokens <= 1e16):
            raise InputError(f"--tokens {tokens}: give a token count in (0, 1e16]")
        if model is None and params is None:
            raise InputError("give a model: --preset NAME, --params N, or its shape (--d-model, --layers, --heads, --vocab)")
        if model is None:
            model = dense_from_params(params)
            note = (f"only the parameter count was given: FLOPs are 6·N·D with N = {params:.4g}; memory uses a "
                    f"Llama-like shape ({model.n_layers} layers x {model.d_model})")
            shape_total = model.params()["total"]
            if abs(math.log(shape_total / params)) > math.log(1.25):
                warnings.warn(f"no Llama-like shape has {params:.3g} parameters: the nearest, {model.n_layers} layers x "
                              f"{model.d_model} with a {model.vocab_size:,}-token vocabulary, has {shape_total:.3g}, and "
                              "the memory and speed figures are for it; give the shape (--d-model, --layers, --heads, "
                              "--vocab) or a preset", PlanWarning, stacklevel=2)
            per_token = FLOPS_PER_PARAM_TOKEN * params
            flops = FlopCount(model=per_token * tokens, hardware=per_token * tokens, six_n=per_token * tokens,
                              per_token=per_token)
            count = ParamCount(total=int(round(params)), active=int(round(params)))
        else:
            note = ("shape given" if model.name == "custom" else
                    "its Hugging Face config" if model.name.endswith(".json") else "preset")
            f = model.flops_per_token(causal=causal, recompute=recompute or "none")
            flops = FlopCount(model=f["model"] * tokens, hardware=f["hardware"] * tokens, six_n=f["six_n"] * tokens,
                              per_token=f["model"])
            p = model.params()
            count = ParamCount(total=p["total"], active=p["active"], non_embedding=p["non_embedding"])
        probe = estimate_run(flops.model, accelerator, 1, mfu=mfu, goodput=goodput, pue=pue)
        if num_gpus is None:
            if days is None:
                raise InputError("give --num-gpus (or --days to find how many GPUs finish in time)")
            num_gpus = _gpus_for(probe.days, days)
        run = estimate_run(flops.model, accelerator, num_gpus, mfu=mfu, goodput=goodput, pue=pue)
        if fit is not None:
            label = law_label + ("; a dense law evaluated at the active parameter count" if model.n_experts else "")
            if "unique_tokens" in fit.law_.inputs and unique_tokens is None:
                raise InputError("a data-constrained fit forecasts a run on a given corpus: give --unique-tokens U "
                                 "(or --corpus-audit audit.json)")
            extra = {"unique_tokens": unique_tokens} if "unique_tokens" in fit.law_.inputs else {}
            forecast = fit.forecast(params=count.active, tokens=tokens, law=label, **extra)
    data = None
    if unique_tokens is not None:
        from scalelab.planning.data_limit import data_limit

        if fit is None:
            from scalelab.data import default_fit_path
            from scalelab.io import load_fit

            fit = load_fit(default_fit_path())
        data = data_limit(fit, params=count.active, tokens=tokens, unique_tokens=unique_tokens, budget=budget_mode,
                          flops_per_token=flops_per_token if budget_mode else FLOPS_PER_PARAM_TOKEN, source=data_source)
        _warn_data(data, forecast)
    layout = _layout(model, run, parallel, recompute, micro_batch, precision, memory_options, accelerator)
    if layout.parallel is None:
        warnings.warn(f"no layout up to tp=8 fits {model.name} in {accelerator.memory_gb:g} GiB per GPU on "
                      f"{run.num_gpus:g} GPUs: add GPUs, lower --micro-batch or --seq-len, or use --precision fp8",
                      PlanWarning, stacklevel=3)
    elif not layout.memory.fits:
        warnings.warn(f"the given layout needs {layout.memory.total / 2**30:.1f} GiB per GPU, more than "
                      f"{accelerator.memory_gb:g} GiB: drop --tp/--pp/--zero/--recompute to let scalelab find one",
                      PlanWarning, stacklevel=3)
    return Plan(mode="budget" if budget_mode else "forward", model=model, model_note=note, params=count,
                tokens=tokens, flops=flops, run=run, layout=layout, budget=budget, forecast=forecast, data=data)


def _warn_data(data, forecast) -> None:
    fresh_forecast = forecast is not None and "unique_tokens" not in forecast.law and "data-constrained" not in data.law
    if data.exhausted:
        useful = ("" if data.useful_flops is None else
                  f"; {data.useful_flops:.3g} FLOPs ({100 * data.useful_flops / data.more['flops'] * MORE:.2g}% of the budget) "
                  f"come within {USEFUL_TOLERANCE:g} of this loss")
        warnings.warn(f"the data is exhausted: {data.epochs:.1f} epochs of {data.unique_tokens:.3g} unique tokens; 10x "
                      f"the compute would lower the loss by {data.more['gain']:.3g}, against {data.more['gain_fresh']:.3g} "
                      f"with fresh data: find more data before buying more compute{useful}", PlanWarning, stacklevel=3)
    elif data.epochs > 4 and data.penalty > 0.001:
        warnings.warn(f"{data.epochs:.1f} epochs of {data.unique_tokens:.3g} unique tokens: the repeats are worth "
                      f"{data.effective_tokens:.3g} fresh tokens, a loss penalty of {data.penalty:.3g}"
                      + (" (the forecast above assumes fresh data)" if fresh_forecast else ""), PlanWarning, stacklevel=3)


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


MFU_AGREEMENT = 0.01
"""How close a budget's MFU and its model's predicted MFU must come (the model's shape
moves by a layer or two between rounds, which moves the best layout's MFU by ~0.01)."""


def _budget_speed(accelerator, kw: dict, speed_kw: dict, goodput: float | None):
    """A budget plan's MFU and goodput, predicted for the model and GPUs the budget buys:
    the budget at one MFU buys a model whose predicted MFU is another, so iterate until
    they agree (a few steps). None where the speed model does not apply."""
    m, g, speed = None, goodput, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(8):
            plan = _make_plan(accelerator, mfu=m, goodput=g, **kw)
            try:
                sped = _predict_speed(plan, accelerator, mfu=None, goodput=goodput, **speed_kw)
            except NoTrainingTime as exc:
                if kw.get("days") is None or kw.get("num_gpus") is not None:
                    raise
                # the GPU count came from spending the budget in the days given: say which to change
                raise NoTrainingTime(exc.num_gpus, exc.mtbf_hours, exc.goodput, hint=(
                    f"that many is what the budget buys to be spent in {kw['days']:g} days: give more --days, or "
                    "--num-gpus to spend it over longer")) from None
            if sped.speed["mfu_source"] != "performance model":
                return None if m is None else (m, g, speed)
            new_m, g, speed = sped.run.mfu, sped.run.goodput, sped.speed
            if m is not None and abs(new_m - m) < MFU_AGREEMENT:
                break
            # damped: a budget at a higher MFU buys a larger model that may run slower
            m = new_m if m is None else math.sqrt(m * new_m)
    return new_m, g, speed


def _warn_low_goodput(n: int, g: dict, stacklevel: int = 3) -> None:
    """The warning of a plan whose GPU count the failure model leaves under LOW_GOODPUT."""
    warnings.warn(f"on {n:,} GPUs the job would fail every {60 * g['mtbf_hours']:.1f} min (Llama 3's failure rate): "
                  f"restarts and redone work take {100 * (g['lost_restarts'] + g['lost_recompute']):.0f}% of the time, "
                  f"and fewer GPUs would lose less (scalelab plan goodput); give --goodput if your cluster fails less "
                  "or restarts faster", PlanWarning, stacklevel=stacklevel)


def _predict_speed(plan: Plan, accelerator, *, mfu, goodput, parallel, recompute, micro_batch, precision, batch_tokens,
                   system, fused_cross_entropy, seq_len=None) -> Plan:
    """The plan with its MFU from the performance model and its goodput from the failure
    model; the plan unchanged (with the reason in ``speed``) where the model does not apply."""
    from scalelab.planning.goodput import goodput_model
    from scalelab.planning.performance import fastest_layouts, step_time, system_for

    run, model = plan.run, plan.model
    reason = None
    if mfu is not None:
        reason = "--mfu given"
    elif model.n_experts:
        reason = "mixture of experts: the performance model covers dense models"
    elif run.num_gpus != int(run.num_gpus):
        reason = "a fractional GPU count"
    if reason is None:
        try:
            sysm = system_for(accelerator, **system)
        except InputError as exc:
            if system:
                raise
            reason = str(exc)
    if reason is not None:
        return dataclasses.replace(plan, speed={"mfu_source": "default", "reason": reason})
    n = int(run.num_gpus)
    if seq_len is not None:
        model = model.replace(seq_len=seq_len)
    options = {"fused_cross_entropy": fused_cross_entropy}
    if parallel is not None:
        from scalelab.planning.performance import batch_sequences, whole_micro_batches

        gb = whole_micro_batches(batch_sequences(batch_tokens, model.seq_len, n), parallel.dp, micro_batch)
        st = step_time(model, parallel, sysm, global_batch=gb, micro_batch=micro_batch, recompute=recompute or "none")
        layouts = []
        chosen = {"layout": "given", "global_batch": gb, "step": st.to_dict(), "why": st.why()}
        layout = plan.layout
    else:
        opts = (recompute,) if recompute else ("none", "selective", "full")
        ranked = fastest_layouts(model, n, sysm, batch_tokens=batch_tokens, precision=precision,
                                 recompute_options=opts, **options)
        if not ranked:
            return dataclasses.replace(plan, speed={"mfu_source": "default", "reason": "no layout fits in memory"})
        best = ranked[0]
        from scalelab.planning.memory import memory_per_device

        mem = memory_per_device(model, best.parallel, micro_batch=best.micro_batch, precision=precision,
                                recompute=best.recompute, device_gb=accelerator.memory_gb, **options)
        layout = Layout(best.parallel, best.recompute, mem, True, best.micro_batch, precision)
        layouts = [r.to_dict() for r in ranked]
        chosen = layouts[0]
    g = goodput_model(n, float(plan.params.total)) if goodput is None else None
    if g is not None and g.goodput < MIN_GOODPUT:
        raise NoTrainingTime(n, g.mtbf_hours, g.goodput)
    if g is not None and g.goodput < LOW_GOODPUT:
        _warn_low_goodput(n, g.to_dict(), stacklevel=4)
    # the run's time is the tokens over the predicted throughput, whatever FLOP count the plan reports
    tokens_per_s_per_gpu = chosen["step"]["tokens_per_s_per_gpu"]
    run_mfu = min(1.0, plan.flops.per_token * tokens_per_s_per_gpu / accelerator.peak_flops)
    new_run = dataclasses.replace(run, mfu=run_mfu, goodput=goodput if g is None else g.goodput)
    speed = {"mfu_source": "performance model", "system": sysm.to_dict(), "chosen": chosen, "layouts": layouts,
             "goodput_source": "given" if g is None else "failure model", "goodput": None if g is None else g.to_dict()}
    return dataclasses.replace(plan, run=new_run, layout=layout, speed=speed)
