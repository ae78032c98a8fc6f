"""Ladder design: which (N, D) pilot runs to train for a target, and how to train each.

Default recipe, after OLMo's model ladder (Bhagia et al. 2024: four sizes x several token
multiples at about 1% of the target's compute) and Gadre et al. 2024 (over-trained small
runs extrapolate well): four sizes, each half the next, trained on 1, 2, 5 and 10 times
20 tokens per parameter, the largest size on half of each (0.5, 1, 2.5, 5: the per-rung cap
binds on its longest run, and halving that buys a size 1.4x larger, nearer the target);
the largest size is the biggest one for which the whole ladder spends ``budget_frac`` of
the target's FLOPs and no rung more than a 30th of it.

Every default rung takes at least ``MIN_STEPS`` optimizer steps (of one sequence at the
least): a size too small to have that many tokens at 1x has all its multiples raised
together (a 1.42k-parameter size trains at 9.1x, 18.2x, 45.5x and 91x), so at the small end
the rungs of all sizes share token counts, a grid in N and D. Where the budget cannot pay
for the floor it is lowered, with a warning. A WSD size's multiples are raised the same way
until its warm-up (a token per parameter, embeddings included) ends before its cooldown:
with a large vocabulary the embeddings can outnumber a small rung's other parameters many
times. This one is never lowered.

Per-rung hyper-parameters follow DeepSeek LLM's compute-based rules (Bi et al. 2024,
eq. 1): peak learning rate 0.3118·C^-0.125 and batch 0.2920·C^0.3271 tokens for a run of
C FLOPs. At 1.8e16 FLOPs that gives 2.9e-3, the learning rate a sweep found best for the
small byte-level ladders measured on an H100 beside this project. Warm-up is ~N tokens
(Porian et al. 2024).

Schedule: by default warmup-stable-decay (Hägele et al. 2024), one run per size: the rungs
of a size share the longest one's stable phase (their learning rate and batch are the
rules' at the geometric mean of their FLOPs) and each cools down over its last 20% from a
checkpoint of it, so one size costs about its longest rung plus the cooldowns. With
``schedule="cosine"`` every rung trains from scratch with a cosine to 10% matched to its
own length.

A plan is written as TOML (``scalelab ladder design ... --out ladder.toml``) and read back
by ``scalelab ladder run`` / ``fit``.
"""

from __future__ import annotations

import math
import tomllib
import warnings
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

from scalelab.errors import ExtrapolationWarning, InputError, PlanWarning
from scalelab.ladder.config import (MIN_PILOT_PARAMS, WSD_DECAY_FRAC, GPTConfig, min_params_for_layers, shape_for_params,
                                    wsd_steps)
from scalelab.laws.base import FLOPS_PER_PARAM_TOKEN

MULTIPLES = (1.0, 2.0, 5.0, 10.0)  # x 20 tokens per parameter
NUM_SIZES = 4
MIN_SIZES = 3  # fewer distinct sizes cannot separate the size term from the data term
MAX_RUNG_FRACTION = 1 / 30
TOKENS_PER_PARAM = 20.0
LARGEST_SHIFT = 0.5
"""The default multiples of the largest size are scaled by this: its 10x run is the rung the
per-rung cap binds on, and at 5x the size can be 1.4x larger (a 1e6 target at a 10% budget:
largest rung 14.1x below it instead of 21.6x)."""
MIN_STEPS = 1000
"""Optimizer steps every default rung takes at least. Fewer leave a small model in the
optimisation transient, where its loss follows the step count, not its size or tokens: a
12.5k-parameter rung on 250k bytes of prose ends at 4.19 bits/byte in 196 steps of five
sequences and at 3.76 in 977 steps of one (benchmarks/RESULTS.md, "Ladder, part 2")."""
TOO_SHORT = "rungs this short follow their step count more than their size, which biases the forecast"
SCHEDULES = ("wsd", "cosine")
# Beyond this many times the largest rung's FLOPs a forecast has no published backing: the
# OLMo ladder forecast its 7B and 13B targets from ~200x less compute per run with 2.8%
# error (benchmarks/published.py); a 1% ladder of the default recipe sits near 240x.
MAX_EXTRAPOLATION = 300.0


def lr_for(flops: float) -> float:
    """DeepSeek LLM (Bi et al. 2024) eq. 1: eta_opt = 0.3118 C^-0.125."""
    return 0.3118 * flops ** -0.125


def batch_tokens_for(flops: float) -> float:
    """DeepSeek LLM (Bi et al. 2024) eq. 1: B_opt = 0.2920 C^0.3271 tokens."""
    return 0.2920 * flops ** 0.3271


@dataclass(frozen=True)
class Rung:
    """One pilot run of a ladder (or its target): shape, tokens and how it is trained."""

    name: str
    model: GPTConfig
    tokens: int
    lr: float
    batch_tokens: int
    micro_batch: int
    role: str = "rung"  # "rung" or "target"
    trunk: str | None = None
    """With the WSD schedule: the rung of the same size whose stable phase this one shares
    (it starts from the trunk's checkpoint where its own decay begins); None: from scratch."""

    @property
    def params(self) -> int:
        """Non-embedding parameters (Kaplan et al.'s N, what the ladder fit uses)."""
        return self.model.num_params()["non_embedding"]

    @property
    def flops(self) -> float:
        """Training FLOPs: the model's FLOPs per token (matmuls and attention) x tokens."""
        return self.model.flops_per_token() * self.tokens

    @property
    def cost(self) -> float:
        """FLOPs the rung adds to its ladder: all of them, or a WSD branch's cooldown alone."""
        if self.trunk is None:
            return self.flops
        return self.model.flops_per_token() * (self.tokens - branch_tokens(self, WSD_DECAY_FRAC))


@dataclass(frozen=True)
class SpeedEstimate:
    """How fast this machine trains pilot models, in model FLOPs per second."""

    device: str
    flops_per_s: float | None = None
    """The rate at the largest size measured (and for every size when only one is known)."""
    basis: str = ""
    probes: tuple = ()
    """(non-embedding parameters, FLOP/s) measured on this machine: small models run at a
    lower rate, so a size's rate is interpolated between them (log-log, held at the ends)."""

    def rate(self, params: float | None = None) -> float | None:
        pts = sorted((float(n), float(r)) for n, r in self.probes)
        if params is None or len(pts) < 2:
            return self.flops_per_s
        (n0, r0), (n1, r1) = pts[0], pts[-1]
        t = min(1.0, max(0.0, math.log(params / n0) / math.log(n1 / n0)))
        return math.exp(math.log(r0) + t * (math.log(r1) - math.log(r0)))

    def seconds(self, flops: float, params: float | None = None) -> float | None:
        rate = self.rate(params)
        return None if not rate else flops / rate


@dataclass
class LadderPlan:
    """A designed ladder: where its tokens come from, its rungs, and the target it forecasts.

    Written as TOML (:meth:`to_toml`, the keys are the fields below) and read back by
    :meth:`from_toml`, which refuses unknown keys.
    """

    corpus: str
    shards: str
    tokenizer: str = "byte"
    vocab_size: int = 256
    seq_len: int = 256
    seed: int = 0
    schedule: str = "wsd"
    text_col: str = "text"  # the field of a JSONL, CSV, Parquet or Arrow corpus that holds the text
    rungs: list[Rung] = field(default_factory=list)
    target: Rung | None = None
    budget_frac: float | None = None
    hardware: SpeedEstimate | None = None

    @property
    def ladder_flops(self) -> float:
        """What training the rungs costs: a branch pays only for its tokens after the trunk's."""
        return sum(r.cost for r in self.rungs)

    @property
    def params_extrapolation(self) -> float | None:
        """Target parameters over the largest rung's."""
        return None if self.target is None or not self.rungs else self.target.params / max(r.params for r in self.rungs)

    @property
    def flops_extrapolation(self) -> float | None:
        """Target FLOPs over the largest rung's."""
        return None if self.target is None or not self.rungs else self.target.flops / max(r.flops for r in self.rungs)

    @property
    def cost_fraction(self) -> float | None:
        """The ladder's training FLOPs as a share of the target's (same FLOP count for both)."""
        return None if self.target is None else self.ladder_flops / self.target.flops

    @property
    def all_rungs(self) -> list[Rung]:
        """The rungs, then the target when the plan has one."""
        return [*self.rungs, *([self.target] if self.target else [])]

    def rung(self, name: str) -> Rung:
        for r in self.all_rungs:
            if r.name == name:
                return r
        raise InputError(f"no rung {name!r} in the ladder; rungs: {', '.join(r.name for r in self.rungs)}")

    def to_dict(self) -> dict:
        """Plain types; each rung also carries its (derived) params and FLOPs."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("rungs", "target", "hardware")}
        d["hardware"] = None if self.hardware is None else asdict(self.hardware)
        d["rungs"] = [_rung_dict(r) for r in self.rungs]
        d["target"] = None if self.target is None else _rung_dict(self.target)
        d["ladder_flops"] = self.ladder_flops
        d["cost_fraction"] = self.cost_fraction
        d["params_extrapolation"] = self.params_extrapolation
        d["flops_extrapolation"] = self.flops_extrapolation
        return d

    def to_toml(self) -> str:
        import tomli_w

        d = {f.name: getattr(self, f.name) for f in fields(self)
             if f.name not in ("rungs", "target", "hardware") and getattr(self, f.name) is not None}
        if self.hardware is not None:
            d["hardware"] = {k: v for k, v in asdict(self.hardware).items() if v is not None}
        d["rung"] = [{k: v for k, v in _rung_dict(r).items() if v is not None}  # TOML has no null
                     for r in self.all_rungs]
        return ("# scalelab ladder plan: scalelab ladder run THIS_FILE, then scalelab ladder fit THIS_FILE\n"
                "# (a rung's params are non-embedding; params and flops follow from its model and tokens)\n\n"
                + tomli_w.dumps(d))

    @classmethod
    def from_toml(cls, path: str | Path) -> LadderPlan:
        p = Path(path)
        if p.is_dir():
            raise InputError(f"{str(p)!r} is a folder, not a ladder plan; give the .toml file scalelab ladder design "
                             "--out wrote")
        if not p.is_file():
            raise InputError(f"ladder plan {str(p)!r} does not exist; make one with scalelab ladder design ... --out {p}")
        try:
            d = tomllib.loads(p.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"ladder plan {str(p)!r} is not valid TOML: {exc}") from None
        top = {f.name for f in fields(cls)} - {"rungs", "target"} | {"rung"}
        per_rung = {f.name for f in fields(Rung)} | set(DERIVED_RUNG_KEYS)
        per_model = {f.name for f in fields(GPTConfig)}
        rungs_in = [r for r in d.get("rung", []) if isinstance(r, dict)]
        unknown = (sorted(set(d) - top) + sorted({f"rung.{k}" for r in rungs_in for k in set(r) - per_rung})
                   + sorted({f"rung.model.{k}" for r in rungs_in if isinstance(r.get("model"), dict)
                             for k in set(r["model"]) - per_model}))
        if unknown:
            raise InputError(f"ladder plan {str(p)!r} has unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(top))}, "
                             f"per rung {', '.join(sorted(per_rung))}")
        try:
            missing = [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING
                       and f.name not in d]
            if missing:
                raise KeyError(missing[0])
            rungs, target = [], None
            for r in d.get("rung", []):
                given = {k: v for k, v in r.items() if k not in DERIVED_RUNG_KEYS}
                rung = Rung(**_typed(Rung, given | {"model": GPTConfig(**_typed(GPTConfig, given["model"]))}))
                if rung.role == "target":
                    target = rung
                else:
                    rungs.append(rung)
            settings = _typed(cls, {k: v for k, v in d.items() if k not in ("rung", "hardware")})
            hardware = None
            if "hardware" in d:
                hw = d["hardware"]
                hardware = SpeedEstimate(**(hw | {"probes": tuple(tuple(p) for p in hw.get("probes", ()))}))
            return cls(**settings, rungs=rungs, target=target, hardware=hardware)
        except InputError as exc:
            raise InputError(f"ladder plan {str(p)!r}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"ladder plan {str(p)!r} is missing or has a bad field ({exc}); regenerate it with "
                             "scalelab ladder design") from None


DERIVED_RUNG_KEYS = ("params", "flops")  # non-embedding params and FLOPs, written for the reader, recomputed on reading


def _rung_dict(r: Rung) -> dict:
    return asdict(r) | {"params": r.params, "flops": r.flops}  # a branch's own cost is LadderPlan.cost


def _typed(cls, values: dict) -> dict:
    """Numbers as the dataclass's fields declare them (a plan written by hand may say 1e6 tokens)."""
    kinds = {f.name: f.type for f in fields(cls)}
    return {k: (int(v) if kinds.get(k) == "int" and not isinstance(v, bool) else
                float(v) if kinds.get(k) == "float" else v) for k, v in values.items()}


def resolve_corpus(corpus: str | Path | None, text_col: str = "text") -> str:
    """The corpus a plan names: the given path (absolute), or the bundled Austen novels;
    checked at once (it exists, a folder holds files, they start like text, a JSONL corpus's
    first record has ``text_col``)."""
    from scalelab.data import bundled_path
    from scalelab.corpus.documents import check_corpus

    src = Path(corpus) if corpus is not None else bundled_path("austen")
    if not src.exists():
        raise InputError(f"--corpus {str(src)!r} does not exist")
    check_corpus(src, text_col)
    return str(src.resolve())


def shards_for(plan_path: str | Path | None) -> str:
    """Where a plan keeps its token shards: ``<plan>.shards`` beside the plan file (a path
    relative to it), or ``./ladder.shards`` (absolute) for a plan that is not written."""
    if plan_path is None:
        return str(Path("ladder.shards").resolve())
    return Path(plan_path).stem + ".shards"


def make_rung(name: str | None, params: float, tokens: float | None = None, *, multiple: float | None = None,
              vocab_size: int, seq_len: int, role: str = "rung", micro_batch: int = 16,
              n_layers: int | None = None) -> Rung:
    """A rung of ~``params`` non-embedding parameters, trained on ``tokens`` or on
    ``multiple`` x 20 tokens per (actual) parameter.

    The batch follows DeepSeek's rule but leaves at least ``MIN_STEPS`` optimizer steps (or
    one sequence per step when the rung has fewer sequences): a tiny rung trains on batches
    of a few sequences (micro-batches shrink to fit) rather than on a handful of large
    steps, which would leave it in the optimisation transient.
    """
    model = shape_for_params(params, vocab_size=vocab_size, seq_len=seq_len, n_layers=n_layers)
    n = model.num_params()["non_embedding"]
    if multiple is not None:
        tokens = TOKENS_PER_PARAM * multiple * n
        name = name or f"{_short(n)}-{multiple:.3g}x"
    tokens = int(tokens)
    flops = model.flops_per_token() * tokens
    sequences, micro = _batch(batch_tokens_for(flops), tokens, seq_len, micro_batch)
    return Rung(name=name, model=model, tokens=tokens, lr=round(lr_for(flops), 6), batch_tokens=sequences * seq_len,
                micro_batch=micro, role=role)


def _batch(rule_tokens: float, tokens: int, seq_len: int, micro_batch: int) -> tuple[int, int]:
    """Sequences per step and per micro-batch: the rule's batch, cut so that ``tokens`` last
    at least ``MIN_STEPS`` steps (or one sequence a step), in whole micro-batches."""
    sequences = max(1, math.floor(min(rule_tokens, tokens / MIN_STEPS) / seq_len))
    micro = min(micro_batch, sequences)
    return max(micro, sequences // micro * micro), micro


def branch_tokens(rung: Rung, decay_frac: float) -> int:
    """Tokens a WSD rung has trained when its cooldown starts (whole steps, as the trainer counts)."""
    steps = math.ceil(rung.tokens / rung.batch_tokens)
    return int(steps * (1 - decay_frac)) * rung.batch_tokens


def share_trunks(rungs: list[Rung], seq_len: int) -> list[Rung]:
    """WSD: the rungs of one size become branches of the longest one. They share its learning
    rate and batch (those of the DeepSeek rules at the geometric mean of their FLOPs, with the
    shortest still taking ``MIN_STEPS`` steps), so that each one's stable phase is the
    trunk's (Hägele et al. 2024: one constant-rate run, cooled down at several lengths)."""
    by_model: dict[GPTConfig, list[Rung]] = {}
    for r in rungs:
        by_model.setdefault(r.model, []).append(r)
    shared = {}  # model -> (trunk's name, lr, sequences per step, per micro-batch)
    for model, group in by_model.items():
        flops = math.exp(sum(math.log(r.flops) for r in group) / len(group))
        sequences, micro = _batch(batch_tokens_for(flops), min(r.tokens for r in group), seq_len,
                                  max(r.micro_batch for r in group))
        shared[model] = (max(group, key=lambda r: r.tokens).name, round(lr_for(flops), 6), sequences, micro)
    out = []
    for r in rungs:
        trunk, lr, sequences, micro = shared[r.model]
        out.append(Rung(name=r.name, model=r.model, tokens=r.tokens, lr=lr, batch_tokens=sequences * seq_len,
                        micro_batch=micro, role=r.role, trunk=None if r.name == trunk else trunk))
    return out


def design(corpus: str, shards: str, *, target_flops: float | None = None, target_params: float | None = None,
           target_tokens: float | None = None, budget_frac: float = 0.01, sizes: list[float] | None = None,
           multiples: list[float] | None = None, tokenizer: str = "byte", vocab_size: int = 256, seq_len: int = 256,
           seed: int = 0, micro_batch: int = 16, schedule: str = "wsd", rung_layers: int | str | None = None,
           text_col: str = "text") -> LadderPlan:
    """A ladder for a target given by FLOPs (compute-optimal split, 20 tokens/param) or by
    params and tokens; or explicit ``sizes`` (non-embedding params) and ``multiples``.
    ``rung_layers`` fixes the rungs' depth (a number, or ``"target"``: the target's depth);
    by default each rung's depth follows its size (:func:`shape_for_params`).

    The default sizes are ``NUM_SIZES`` sizes, each half the next, the largest as large as
    the budget (``budget_frac`` of the target's FLOPs for the whole ladder) and the per-rung
    cap (a 30th) allow, found by bisection on the rungs' real FLOPs. Sizes below the
    smallest pilot model are dropped; fewer than three distinct sizes is refused with the
    budget that would buy three. A target further than ``MAX_EXTRAPOLATION`` times the
    largest rung's FLOPs raises an :class:`~scalelab.errors.ExtrapolationWarning`.

    Examples
    --------
    >>> plan = design("corpus.txt", "shards", target_flops=1e17, budget_frac=0.01)
    >>> len(plan.rungs), 0.0095 * plan.target.flops <= plan.ladder_flops <= 0.01 * plan.target.flops
    (16, True)
    >>> max(r.flops for r in plan.rungs) <= plan.target.flops / 30
    True
    """
    if schedule not in SCHEDULES:
        raise InputError(f"--schedule {schedule!r}: choose one of {', '.join(SCHEDULES)}")
    vocab = 256 if tokenizer == "byte" else vocab_size
    given_multiples = bool(multiples)
    multiples = sorted(set(multiples or MULTIPLES))
    if any(m <= 0 for m in multiples):
        raise InputError("--multiples: token multiples must be positive (x 20 tokens per parameter)")
    target = None
    for option, value in (("--target-params", target_params), ("--target-tokens", target_tokens),
                          ("--target-flops", target_flops)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise InputError(f"{option} {value:g}: give a count > 0")
    if target_flops and (target_params or target_tokens):
        raise InputError("give --target-flops alone (the compute-optimal target, 20 tokens per parameter), or "
                         "--target-params with --target-tokens; not both")
    if target_params or target_tokens:
        if not (target_params and target_tokens):
            raise InputError("give both --target-params and --target-tokens (or --target-flops)")
        target = make_rung("target", target_params, target_tokens, vocab_size=vocab, seq_len=seq_len, role="target",
                           micro_batch=micro_batch)
    elif target_flops:
        if not 1e9 <= target_flops <= 1e30:
            raise InputError(f"--target-flops {target_flops}: give a FLOP count in [1e9, 1e30]")
        n = math.sqrt(target_flops / (FLOPS_PER_PARAM_TOKEN * TOKENS_PER_PARAM))  # compute-optimal at 20 tokens/param
        target = make_rung("target", n, TOKENS_PER_PARAM * n, vocab_size=vocab, seq_len=seq_len, role="target",
                           micro_batch=micro_batch)
    if not 0 < budget_frac <= 1:
        raise InputError(f"--budget-frac {budget_frac}: give a fraction in (0, 1]")
    if rung_layers == "target":
        if target is None:
            raise InputError("--rung-layers target needs a target (--target-params/--target-tokens or --target-flops)")
        rung_layers = target.model.n_layers
    elif rung_layers is not None and not isinstance(rung_layers, int):
        raise InputError(f"--rung-layers {rung_layers!r}: give a number of layers or 'target'")
    if sizes:
        sizes = sorted({float(s) for s in sizes})  # a size given twice is one size, as a multiple given twice is
    elif target is None:
        raise InputError("give a target (--target-flops, or --target-params with --target-tokens) or --sizes")

    def build(size_list, floor: float = 0.0):
        """Every size at every multiple; with a ``floor`` (tokens), a size's multiples are
        raised together until its shortest rung has that many tokens. In the default ladder
        the largest size trains at half of each multiple (:data:`LARGEST_SHIFT`) and every
        size's multiples are raised as far as its warm-up needs; given sizes or multiples are
        taken as given."""
        shift = {s: 1.0 for s in size_list}
        chosen = not (sizes or given_multiples)  # the default ladder, not one given rung by rung
        if chosen and len(size_list) >= MIN_SIZES:
            shift[max(size_list)] = LARGEST_SHIFT
        warmup = schedule == "wsd" and chosen
        lift = {s: shift[s] * _lift(s, shift[s] * min(multiples), floor, vocab, seq_len, rung_layers, warmup)
                for s in size_list}
        rungs = [make_rung(None, s, multiple=m * lift[s], vocab_size=vocab, seq_len=seq_len, micro_batch=micro_batch,
                           n_layers=rung_layers) for s in size_list for m in multiples]
        return share_trunks(rungs, seq_len) if schedule == "wsd" else rungs

    if sizes:
        rungs = build(sizes)
        shapes = {}
        for s_, r in zip([s for s in sizes for _ in multiples], rungs):
            if r.model in shapes and shapes[r.model] != s_:
                raise InputError(f"--sizes {shapes[r.model]:g} and {s_:g} give the same model ({r.params:,} "
                                 "parameters); give sizes further apart")
            shapes[r.model] = s_
    elif given_multiples:
        rungs = _spend(target, budget_frac, build, min_params_for_layers(rung_layers))
    else:
        rungs = _spend_with_floor(target, budget_frac, build, seq_len, min_params_for_layers(rung_layers))
    plan = LadderPlan(corpus=str(corpus), shards=str(shards), tokenizer=tokenizer, vocab_size=vocab, seq_len=seq_len,
                      seed=seed, schedule=schedule, text_col=text_col, rungs=rungs, target=target,
                      budget_frac=budget_frac if target is not None else None)
    if plan.target is not None and plan.flops_extrapolation > MAX_EXTRAPOLATION:
        warnings.warn(f"the target has {plan.flops_extrapolation:.0f}x the FLOPs of the largest rung (and "
                      f"{plan.params_extrapolation:.0f}x its parameters); forecasts this far out have no published "
                      f"backing beyond ~{MAX_EXTRAPOLATION:g}x: raise --budget-frac", ExtrapolationWarning, stacklevel=2)
    _check_warmups(plan)
    _warn_small_corpus(plan)
    _warn_unfittable(plan)
    if sizes or given_multiples:  # the default design lifts its short rungs; given ones are taken as given
        _warn_short_rungs(plan)
    return plan


def _warn_short_rungs(plan: LadderPlan) -> None:
    """Say when rungs given by --sizes or --multiples take fewer than ``MIN_STEPS`` steps."""
    steps = {r.name: math.ceil(r.tokens / r.batch_tokens) for r in plan.rungs}
    short = [name for name, n in steps.items() if n < MIN_STEPS]
    if short:
        fewest = min(steps, key=steps.get)
        verb = "takes" if len(short) == 1 else "take"
        warnings.warn(f"{len(short)} of the {len(steps)} rungs {verb} fewer than {MIN_STEPS} optimizer steps (the "
                      f"fewest: {fewest}, {steps[fewest]}): {TOO_SHORT}; give larger --multiples, or leave --sizes "
                      "and --multiples to the default design, which lifts them", PlanWarning, stacklevel=3)


def _warn_unfittable(plan: LadderPlan) -> None:
    """Say at design time what the fit would find: too few sizes, token counts or rungs to
    identify Chinchilla's five parameters (the default design always has enough)."""
    sizes = {r.params for r in plan.rungs}
    lengths = {r.params: set() for r in plan.rungs}
    for r in plan.rungs:
        lengths[r.params].add(r.tokens)
    if len(sizes) < MIN_SIZES:
        warnings.warn(f"{len(sizes)} distinct size{'s' * (len(sizes) != 1)}: fewer than {MIN_SIZES} cannot separate the "
                      f"law's size term from its data term; give at least {MIN_SIZES} --sizes", PlanWarning, stacklevel=3)
    if max(len(t) for t in lengths.values()) < 2:
        warnings.warn("each size trains on one token count: the rungs cannot separate the data term from the size "
                      "term; give at least 2 --multiples", PlanWarning, stacklevel=3)
    if len(plan.rungs) < 5:
        warnings.warn(f"{len(plan.rungs)} rung{'s' * (len(plan.rungs) != 1)} for the five parameters of Chinchilla's "
                      "law: `ladder fit` needs at least 5 (fewer with --fix or --tie); give more --sizes or --multiples",
                      PlanWarning, stacklevel=3)


def _check_warmups(plan: LadderPlan) -> None:
    """Refuse at design what ``ladder run`` would: a WSD rung too short for its warm-up (a
    token per parameter) to end before its cooldown starts."""
    if plan.schedule != "wsd":
        return
    for r in plan.all_rungs:
        n = r.model.num_params()["total"]
        steps, warmup, decay = wsd_steps(r.tokens, r.batch_tokens, n)
        if warmup > decay and r.role == "target":
            raise InputError(f"the target trains for {steps:,} steps, and its warm-up ({warmup:,} steps: a token per "
                             f"parameter) would run past the start of its cooldown (step {decay:,}); give "
                             f"--target-tokens of at least {_up3(1.05 * n / (1 - WSD_DECAY_FRAC))}, or --schedule cosine")
        if warmup > decay:
            least = n / ((1 - WSD_DECAY_FRAC) * TOKENS_PER_PARAM * r.params)
            raise InputError(f"rung {r.name} trains for {steps:,} steps, and its warm-up ({warmup:,} steps: a token "
                             f"per parameter) would run past the start of its cooldown (step {decay:,}); give "
                             f"--multiples of at least {_round_up(least)}, or --schedule cosine")

BPE_BYTES_PER_TOKEN = 4.0  # about what a BPE vocabulary of a few thousand takes on English text


def _warn_small_corpus(plan: LadderPlan) -> None:
    """Say at design time what ``ladder run`` would refuse: a rung (or the target) that reads
    the corpus's training split more than ``MAX_EPOCHS`` times (size estimated from disk)."""
    from scalelab.corpus.documents import estimate_bytes
    from scalelab.ladder.data import VAL_FRACTION
    from scalelab.ladder.run import MAX_EPOCHS

    try:
        size, exact = estimate_bytes(plan.corpus, plan.text_col)
    except OSError:
        return
    tokens = size * (1 - VAL_FRACTION) / (1.0 if plan.tokenizer == "byte" else BPE_BYTES_PER_TOKEN)
    if tokens <= 0:
        return
    about = "" if exact and plan.tokenizer == "byte" else "about "
    longest = max(plan.rungs, key=lambda r: r.tokens)
    if longest.tokens > MAX_EPOCHS * tokens:
        warnings.warn(f"the corpus holds {about}{tokens:.3g} training tokens: rung {longest.name} would read them "
                      f"{longest.tokens / tokens:.0f} times, and `ladder run` refuses more than {MAX_EPOCHS:g} "
                      "(repeated data bends the law): give a larger --corpus, or smaller --sizes / --multiples",
                      PlanWarning, stacklevel=3)
    elif plan.target is not None and plan.target.tokens > MAX_EPOCHS * tokens:
        warnings.warn(f"the corpus holds {about}{tokens:.3g} training tokens: the target would read them "
                      f"{plan.target.tokens / tokens:.0f} times, so `ladder run --with-target` refuses it "
                      f"(more than {MAX_EPOCHS:g}); the rungs fit", PlanWarning, stacklevel=3)


def _spend_with_floor(target: Rung, budget_frac: float, build, seq_len: int,
                      min_size: float = MIN_PILOT_PARAMS) -> list[Rung]:
    """The default ladder with every rung given ``MIN_STEPS`` steps of at least one sequence;
    where the budget or the per-rung cap cannot pay for that, the floor is lowered (with a
    warning) rather than the ladder refused, down to none at all."""
    error = None
    for steps in (MIN_STEPS, MIN_STEPS // 2, MIN_STEPS // 4, MIN_STEPS // 10, 0):
        try:
            rungs = _spend(target, budget_frac, lambda sizes: build(sizes, floor=steps * seq_len), min_size)
        except InputError as exc:
            error = exc
            continue
        fewest = min(math.ceil(r.tokens / r.batch_tokens) for r in rungs)
        if fewest < MIN_STEPS:
            warnings.warn(f"the budget cannot give every rung {MIN_STEPS} optimizer steps (the shortest takes {fewest}): "
                          f"{TOO_SHORT}; {_what_pays_the_floor(target, build, seq_len, min_size)}", PlanWarning,
                          stacklevel=3)
        return rungs
    raise error


def _what_pays_the_floor(target: Rung, build, seq_len: int, min_size: float) -> str:
    """What would give every rung of the smallest default ladder (three sizes) ``MIN_STEPS``
    steps: a budget, or, where such rungs would pass the per-rung cap, a longer target."""
    rungs = build(_sizes(min_size * 2 ** (MIN_SIZES - 1), min_size), floor=MIN_STEPS * seq_len)
    longest = max(r.flops for r in rungs)
    if longest > MAX_RUNG_FRACTION * target.flops:
        tokens = longest / MAX_RUNG_FRACTION / target.flops * target.tokens
        return f"a target of at least {_ceil_sig(tokens, 2):.3g} tokens (--target-tokens) would allow it"
    return f"--budget-frac {_ceil_sig(sum(r.cost for r in rungs) / target.flops, 2):g} would pay for it"


def _lift(size: float, multiple: float, floor: float, vocab: int, seq_len: int, n_layers: int | None = None,
          warmup: bool = False) -> float:
    """How much a size's token multiples are raised so that its shortest rung has ``floor``
    tokens (1 when it has them already): a size keeps its 1:2:5:10 spread of tokens. With
    ``warmup`` (WSD), also enough tokens for the warm-up (a token per parameter, all of them)
    to end before the cooldown starts, with a little to spare for whole steps: a large
    vocabulary's embeddings can outnumber a small rung's other parameters many times (a
    119k-parameter rung with 50,000 BPE tokens needs 1.8x)."""
    counts = shape_for_params(size, vocab_size=vocab, seq_len=seq_len, n_layers=n_layers).num_params()
    n = counts["non_embedding"]
    if warmup:
        floor = max(floor, 1.05 * counts["total"] / (1 - WSD_DECAY_FRAC))
    lift = floor / (TOKENS_PER_PARAM * multiple * n)
    if lift <= 1:
        return 1.0
    return _ceil_sig(lift, 2)  # two significant figures, so names read 8x, 16x, 40x


def _sizes(n_max: float, min_size: float = MIN_PILOT_PARAMS) -> list[float]:
    """The default sizes below ``n_max`` (halving), smallest first, none below ``min_size``."""
    return [max(n_max / 2**i, min_size) for i in range(NUM_SIZES) if n_max / 2**i >= min_size * (1 - 1e-9)][::-1]


def _spend(target: Rung, budget_frac: float, build, min_size: float = MIN_PILOT_PARAMS) -> list[Rung]:
    """The largest default ladder within the budget and the per-rung cap (bisection on the
    largest size for each number of sizes, over the real rungs' FLOPs, attention included)."""
    budget, cap = budget_frac * target.flops, MAX_RUNG_FRACTION * target.flops

    def fits(n_max: float) -> bool:
        rungs = build(_sizes(n_max, min_size))
        return sum(r.cost for r in rungs) <= budget and max(r.flops for r in rungs) <= cap

    # The cost jumps where a smaller size joins the ladder, so the search runs within one
    # number of sizes (where the cost grows with the largest), the most sizes that fit.
    top = max(target.params, min_size) * 2
    n_max = None
    for k in reversed(range(NUM_SIZES)):
        a, b = min_size * 2**k, (min_size * 2 ** (k + 1) if k + 1 < NUM_SIZES else top)
        if a >= top or not fits(a):
            continue
        lo, hi = math.log(a), math.log(min(b, top))
        for _ in range(30):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if fits(math.exp(mid)) else (lo, mid)
        n_max = math.exp(lo)
        break
    if n_max is None or len(_sizes(n_max, min_size)) < MIN_SIZES:
        need = min_size * 2 ** (MIN_SIZES - 1)
        rungs = build(_sizes(need, min_size))
        share = sum(r.cost for r in rungs) / target.flops
        largest = max(r.flops for r in rungs) / target.flops
        have = "no rung" if n_max is None else f"rungs of at most {_short(n_max)} parameters"
        if largest > MAX_RUNG_FRACTION:
            raise InputError(f"the target ({_short(target.params)} parameters x {_short(target.tokens)} tokens, "
                             f"{target.flops:.2g} FLOPs) is too small for a ladder: a rung may "
                             f"use a 30th of its FLOPs, and {MIN_SIZES} sizes of at least {_short(min_size)} "
                             f"parameters need one of {largest:.3g}x its FLOPs; give a larger target, or fewer or "
                             "smaller --multiples")
        raise InputError(f"--budget-frac {budget_frac:g} buys {have}: fewer than {MIN_SIZES} distinct sizes of at least "
                         f"{_short(min_size)} parameters; --budget-frac {_round_up(share)} buys {MIN_SIZES}")
    return build(_sizes(n_max, min_size))


def _ceil_sig(x: float, digits: int) -> float:
    """``x`` rounded up to ``digits`` significant figures."""
    e = math.floor(math.log10(x)) - (digits - 1)
    return math.ceil(x / 10**e) * 10**e


def _round_up(x: float) -> str:
    """A budget fraction rounded up to two significant figures, e.g. 0.0123 -> '0.013'."""
    return f"{_ceil_sig(x, 2):.{max(0, 1 - math.floor(math.log10(x)))}f}"


def _up3(x: float) -> str:
    """``x`` rounded up to three significant figures, as a number the CLI reads: 1.26e+09."""
    return f"{_ceil_sig(x, 3):.3g}"


def _short(n: float) -> str:
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.3g}{suffix}"
    return f"{n:.3g}"


PROXY_PARAMS = 2e5  # the size of the model the speed probe builds (non-embedding parameters, shape rounding aside)


def preparation_seconds(plan: LadderPlan, sample_bytes: int = 1 << 20) -> float | None:
    """About how long ``ladder run`` will take to turn the corpus into token shards (once):
    the corpus's first ``sample_bytes`` read and encoded here as the run does (a BPE trained
    on them first), scaled to the corpus's size. None where the corpus cannot be read."""
    import tempfile
    import time

    import numpy as np

    from scalelab.corpus.documents import estimate_bytes
    from scalelab.ladder.data import EOT, _documents, _encoder

    try:
        size, _ = estimate_bytes(plan.corpus, plan.text_col)
        start = time.perf_counter()
        docs = list(_documents(plan.corpus, plan.text_col, sample_bytes))
        read = time.perf_counter() - start
        sampled = sum(len(d) + len(EOT) for d in docs)
        if not sampled:
            return None
        with tempfile.TemporaryDirectory() as scratch:
            encode, _, dtype = _encoder(plan.tokenizer, plan.vocab_size, iter(docs), Path(scratch), lambda *a: None)
            for d in docs:
                np.asarray(encode(d + EOT), dtype=dtype).tobytes()
    except (OSError, InputError):
        return None
    # the run reads the corpus twice (its hash, then its documents) and encodes it once
    return max(size, sampled) / sampled * (time.perf_counter() - start + read)


def measure_speed(plan: LadderPlan, steps: int = 4) -> SpeedEstimate:
    """How fast this machine trains the plan's models, without building them.

    On a known GPU: 30% of its dense BF16 peak (small models reach about that). On the
    CPU: a few training steps of two proxies, the smallest rung's size and the largest
    size of the plan up to ``PROXY_PARAMS`` non-embedding parameters (the plan's
    vocabulary, context up to 256), give the FLOP rate by size; each rung's time is then its
    FLOPs (the plan's arithmetic) over its size's rate. Nothing the size of a rung is ever
    allocated, so a dry run of a 70B target's ladder costs a second or two. Without torch
    the rate is unknown.
    """
    try:
        import torch
    except ImportError:
        return SpeedEstimate("unknown (install scalelab[train] to estimate times)")
    if torch.cuda.is_available():
        from scalelab.planning.hardware import catalogue

        name = torch.cuda.get_device_name(0)
        peaks = [a for a in catalogue().values() if a.name.split()[0].lower() in name.lower()]
        rate = (peaks[0].peak_flops * 0.3) if peaks else None
        return SpeedEstimate(name, rate, "30% of the dense BF16 peak (small models)")
    if not plan.rungs:
        return SpeedEstimate("cpu")

    runs = plan.all_rungs
    seq_len = min(plan.seq_len, 256)
    probes = []
    for n in sorted({min(PROXY_PARAMS, min(r.params for r in runs)), min(PROXY_PARAMS, max(r.params for r in runs))}):
        cfg = shape_for_params(n, vocab_size=plan.vocab_size, seq_len=seq_len)
        # at the batch of the run nearest in size (a one-sequence step costs more per token)
        near = min(runs, key=lambda r: abs(math.log(r.params / cfg.num_params()["non_embedding"])))
        batch = max(1, min(8, near.batch_tokens // plan.seq_len))
        probes.append((cfg.num_params()["non_embedding"], _probe_rate(cfg, seq_len, steps, batch)))
    return SpeedEstimate(f"cpu ({torch.get_num_threads()} threads)", probes[-1][1],
                         f"measured: {steps - 1} training steps of proxies of "
                         + " and ".join(f"{n:,}" for n, _ in probes) + " parameters", tuple(probes))


def _probe_rate(cfg: GPTConfig, seq_len: int, steps: int, batch: int = 8) -> float:
    """Model FLOPs per second of a few training steps of ``cfg`` on the CPU (best step)."""
    import time

    import torch

    from scalelab.ladder.model import GPT

    model = GPT(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, cfg.vocab_size, (batch, seq_len))
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        _, loss = model(x, x)
        loss.backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - t)
    return batch * seq_len * cfg.flops_per_token() / min(times[1:])
