"""Ladder design: which (N, D) pilot runs to train for a target, and how to train each.

Default recipe, after OLMo's model ladder (Bhagia et al. 2024: four sizes x several token
multiples at about 1% of the target's compute) and Gadre et al. 2024 (over-trained small
runs extrapolate well): four sizes, each half the next, trained on 1, 2, 5 and 10 times
20 tokens per parameter; the largest size is the biggest one for which the whole ladder
spends ``budget_frac`` of the target's FLOPs and no rung more than a 30th of it.

Per-rung hyper-parameters follow DeepSeek LLM's compute-based rules (Bi et al. 2024,
eq. 1): peak learning rate 0.3118·C^-0.125 and batch 0.2920·C^0.3271 tokens for a run of
C FLOPs. At 1.8e16 FLOPs that gives 2.9e-3, the learning rate a sweep found best for the
small byte-level ladders measured on an H100 beside this project. Warm-up is ~N tokens
(Porian et al. 2024), then cosine to 10% matched to each rung's own length.

A plan is written as TOML (``scalelab ladder design ... --out ladder.toml``) and read back
by ``scalelab ladder run`` / ``fit``.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from scalelab.errors import InputError
from scalelab.ladder.config import GPTConfig, shape_for_params

MULTIPLES = (1.0, 2.0, 5.0, 10.0)  # x 20 tokens per parameter
NUM_SIZES = 4
MAX_RUNG_FRACTION = 1 / 30
TOKENS_PER_PARAM = 20.0


def lr_for(flops: float) -> float:
    """DeepSeek LLM (Bi et al. 2024) eq. 1: eta_opt = 0.3118 C^-0.125."""
    return 0.3118 * flops ** -0.125


def batch_tokens_for(flops: float) -> float:
    """DeepSeek LLM (Bi et al. 2024) eq. 1: B_opt = 0.2920 C^0.3271 tokens."""
    return 0.2920 * flops ** 0.3271


@dataclass(frozen=True)
class Rung:
    name: str
    model: GPTConfig
    tokens: int
    lr: float
    batch_tokens: int
    micro_batch: int
    role: str = "rung"  # "rung" or "target"

    @property
    def params(self) -> int:
        """Non-embedding parameters (Kaplan et al.'s N, what the ladder fit uses)."""
        return self.model.num_params()["non_embedding"]

    @property
    def flops(self) -> float:
        return self.model.flops_per_token() * self.tokens


@dataclass
class LadderPlan:
    corpus: str
    shards: str
    tokenizer: str = "byte"
    vocab_size: int = 256
    seq_len: int = 256
    seed: int = 0
    schedule: str = "cosine"
    rungs: list[Rung] = field(default_factory=list)
    target: Rung | None = None
    budget_frac: float | None = None
    hardware: dict = field(default_factory=dict)

    @property
    def ladder_flops(self) -> float:
        return sum(r.flops for r in self.rungs)

    def rung(self, name: str) -> Rung:
        for r in [*self.rungs, *([self.target] if self.target else [])]:
            if r.name == name:
                return r
        raise InputError(f"no rung {name!r} in the ladder; rungs: {', '.join(r.name for r in self.rungs)}")

    def to_toml(self) -> str:
        lines = ["# scalelab ladder plan: scalelab ladder run THIS_FILE, then scalelab ladder fit THIS_FILE", ""]
        for key in ("corpus", "shards", "tokenizer", "vocab_size", "seq_len", "seed", "schedule", "budget_frac"):
            v = getattr(self, key)
            if v is not None:
                lines.append(f"{key} = {_toml_value(v)}")
        if self.hardware:
            lines += ["", "[hardware]"] + [f"{k} = {_toml_value(v)}" for k, v in self.hardware.items()]
        for r in self.rungs + ([self.target] if self.target else []):
            lines += ["", "[[rung]]"]
            for key in ("name", "role", "tokens", "lr", "batch_tokens", "micro_batch"):
                lines.append(f"{key} = {_toml_value(getattr(r, key))}")
            lines.append(f"params_non_embedding = {r.params}")
            lines.append(f"flops = {r.flops:.6g}")
            lines.append("model = { " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in r.model.to_dict().items()) + " }")
        return "\n".join(lines) + "\n"

    @classmethod
    def from_toml(cls, path: str | Path) -> LadderPlan:
        p = Path(path)
        if not p.is_file():
            raise InputError(f"ladder plan {str(p)!r} does not exist; make one with scalelab ladder design ... --out {p}")
        try:
            d = tomllib.loads(p.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"ladder plan {str(p)!r} is not valid TOML: {exc}") from None
        top = {"corpus", "shards", "tokenizer", "vocab_size", "seq_len", "seed", "schedule", "budget_frac", "hardware", "rung"}
        per_rung = {"name", "role", "tokens", "lr", "batch_tokens", "micro_batch", "params_non_embedding", "flops", "model"}
        unknown = sorted(set(d) - top) + sorted({f"rung.{k}" for r in d.get("rung", []) if isinstance(r, dict)
                                                 for k in set(r) - per_rung})
        if unknown:
            raise InputError(f"ladder plan {str(p)!r} has unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(top))} "
                             f"and per rung {', '.join(sorted(per_rung))}")
        try:
            rungs, target = [], None
            for r in d.get("rung", []):
                rung = Rung(name=r["name"], model=GPTConfig(**r["model"]), tokens=int(r["tokens"]), lr=float(r["lr"]),
                            batch_tokens=int(r["batch_tokens"]), micro_batch=int(r["micro_batch"]), role=r.get("role", "rung"))
                if rung.role == "target":
                    target = rung
                else:
                    rungs.append(rung)
            return cls(corpus=d["corpus"], shards=d["shards"], tokenizer=d.get("tokenizer", "byte"),
                       vocab_size=int(d.get("vocab_size", 256)), seq_len=int(d.get("seq_len", 256)),
                       seed=int(d.get("seed", 0)), schedule=d.get("schedule", "cosine"), rungs=rungs, target=target,
                       budget_frac=d.get("budget_frac"), hardware=d.get("hardware", {}))
        except InputError as exc:
            raise InputError(f"ladder plan {str(p)!r}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"ladder plan {str(p)!r} is missing or has a bad field ({exc}); regenerate it with "
                             "scalelab ladder design") from None


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else '"nan"'
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def make_rung(name: str | None, params: float, tokens: float | None = None, *, multiple: float | None = None,
              vocab_size: int, seq_len: int, role: str = "rung", micro_batch: int = 16) -> Rung:
    """A rung of ~``params`` non-embedding parameters, trained on ``tokens`` or on
    ``multiple`` x 20 tokens per (actual) parameter."""
    model = shape_for_params(params, vocab_size=vocab_size, seq_len=seq_len)
    n = model.num_params()["non_embedding"]
    if multiple is not None:
        tokens = TOKENS_PER_PARAM * multiple * n
        name = name or f"{_short(n)}-{multiple:g}x"
    tokens = int(tokens)
    flops = model.flops_per_token() * tokens
    per_micro = micro_batch * seq_len
    # at least ~100 optimizer steps, whole micro-batches
    batch = min(batch_tokens_for(flops), tokens / 100)
    batch = max(per_micro, int(round(batch / per_micro)) * per_micro)
    return Rung(name=name, model=model, tokens=tokens, lr=round(lr_for(flops), 6), batch_tokens=batch,
                micro_batch=micro_batch, role=role)


def design(corpus: str, shards: str, *, target_flops: float | None = None, target_params: float | None = None,
           target_tokens: float | None = None, budget_frac: float = 0.01, sizes: list[float] | None = None,
           multiples: list[float] | None = None, tokenizer: str = "byte", vocab_size: int = 256, seq_len: int = 256,
           seed: int = 0, micro_batch: int = 16) -> LadderPlan:
    """A ladder for a target given by FLOPs (compute-optimal split, 20 tokens/param) or by
    params and tokens; or explicit ``sizes`` (non-embedding params) and ``multiples``.

    Examples
    --------
    >>> plan = design("corpus.txt", "shards", target_flops=1e17, budget_frac=0.01)
    >>> len(plan.rungs), plan.ladder_flops <= 0.0105 * plan.target.flops
    (16, True)
    >>> max(r.flops for r in plan.rungs) <= plan.target.flops / 30
    True
    """
    vocab = 256 if tokenizer == "byte" else vocab_size
    multiples = list(multiples or MULTIPLES)
    if any(m <= 0 for m in multiples):
        raise InputError("--multiples: token multiples must be positive (x 20 tokens per parameter)")
    target = None
    if target_params or target_tokens:
        if not (target_params and target_tokens):
            raise InputError("give both --target-params and --target-tokens (or --target-flops)")
        target = make_rung("target", target_params, target_tokens, vocab_size=vocab, seq_len=seq_len, role="target",
                           micro_batch=micro_batch)
    elif target_flops:
        if not 1e9 <= target_flops <= 1e30:
            raise InputError(f"--target-flops {target_flops}: give a FLOP count in [1e9, 1e30]")
        n = math.sqrt(target_flops / (6 * TOKENS_PER_PARAM))  # compute-optimal at 20 tokens/param
        target = make_rung("target", n, TOKENS_PER_PARAM * n, vocab_size=vocab, seq_len=seq_len, role="target",
                           micro_batch=micro_batch)
    if not 0 < budget_frac <= 1:
        raise InputError(f"--budget-frac {budget_frac}: give a fraction in (0, 1]")
    if sizes:
        sizes = sorted(float(s) for s in sizes)
    elif target is None:
        raise InputError("give a target (--target-flops, or --target-params with --target-tokens) or --sizes")

    def build(size_list):
        return [make_rung(None, s, multiple=m, vocab_size=vocab, seq_len=seq_len, micro_batch=micro_batch)
                for s in size_list for m in multiples]

    if sizes:
        rungs = build(sizes)
    else:
        # the ladder's cost is ~ 6 * 20 * sum(multiples) * N_max^2 * sum(4^-i): solve for N_max, then shrink
        # until the real shapes (and their attention FLOPs) fit the budget and the per-rung cap
        geom = sum(4.0 ** -i for i in range(NUM_SIZES))
        n_max = math.sqrt(budget_frac * target.flops / (6 * TOKENS_PER_PARAM * sum(multiples) * geom))
        n_max = min(n_max, math.sqrt(MAX_RUNG_FRACTION * target.flops / (6 * TOKENS_PER_PARAM * max(multiples))))
        for _ in range(40):
            rungs = build([n_max / 2 ** i for i in range(NUM_SIZES)][::-1])
            over = max(sum(r.flops for r in rungs) / (budget_frac * target.flops),
                       max(r.flops for r in rungs) / (MAX_RUNG_FRACTION * target.flops))
            if over <= 1:
                break
            n_max *= min(0.97, over ** -0.5)
    plan = LadderPlan(corpus=str(corpus), shards=str(shards), tokenizer=tokenizer, vocab_size=vocab, seq_len=seq_len,
                      seed=seed, rungs=rungs, target=target, budget_frac=budget_frac if target is not None else None)
    return plan


def _short(n: float) -> str:
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.3g}{suffix}"
    return f"{n:.3g}"


def as_dict(plan: LadderPlan) -> dict:
    d = asdict(plan)
    for key in ("rungs",):
        d[key] = [dict(asdict(r), params=r.params, flops=r.flops) for r in getattr(plan, key)]
    if plan.target:
        d["target"] = dict(asdict(plan.target), params=plan.target.params, flops=plan.target.flops)
    d["ladder_flops"] = plan.ladder_flops
    return d


def estimate_seconds(plan: LadderPlan, probe: bool = True) -> dict:
    """Estimated wall time per rung on this machine: the FLOP rate of a few training steps
    of a mid-sized rung (needs torch), or, on a known GPU, 30% of its dense peak."""
    try:
        import torch
    except ImportError:
        return {"device": "unknown (install torch to estimate)", "flops_per_s": None}
    if torch.cuda.is_available():
        from scalelab.planning.hardware import catalogue

        name = torch.cuda.get_device_name(0)
        peaks = [a for a in catalogue().values() if a.name.split()[0].lower() in name.lower()]
        rate = (peaks[0].peak_flops * 0.3) if peaks else None
        return {"device": name, "flops_per_s": rate, "basis": "30% of the dense BF16 peak (small models)"}
    if not probe or not plan.rungs:
        return {"device": "cpu", "flops_per_s": None}
    import time

    from scalelab.ladder.model import GPT

    rung = sorted(plan.rungs, key=lambda r: r.params)[len(plan.rungs) // 2]
    model = GPT(rung.model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, rung.model.vocab_size, (rung.micro_batch, rung.model.seq_len))
    times = []
    for _ in range(4):
        t = time.perf_counter()
        _, loss = model(x, x)
        loss.backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - t)
    rate = rung.micro_batch * rung.model.seq_len * rung.model.flops_per_token() / min(times[1:])
    return {"device": f"cpu ({torch.get_num_threads()} threads)", "flops_per_s": rate,
            "basis": f"measured: 3 training steps of rung {rung.name}"}
