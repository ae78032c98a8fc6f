"""Ladder configuration without torch: a pilot model's shape and counts, the width/depth
rule, and how a rung is trained. Kept apart from the model and the trainer so that
designing and fitting a ladder need no torch."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from scalelab.errors import InputError
from scalelab.planning.model import ModelConfig

PARALLEL = ("auto", "ddp", "fsdp")
# share of a WSD run spent cooling down (Hägele et al. 2024: 10-20% matches a cosine run to its length)
WSD_DECAY_FRAC = 0.2  # how a rung on several ranks shares its state (see train.choose_parallel)


def wsd_decay_start(total: int, decay_frac: float = WSD_DECAY_FRAC) -> int:
    """The step where a WSD run of ``total`` steps leaves its constant learning rate."""
    return int(total * (1 - decay_frac))


def wsd_steps(tokens: float, batch_tokens: int, n_params: int, warmup_tokens: int = 0,
              decay_frac: float = WSD_DECAY_FRAC) -> tuple[int, int, int]:
    """A WSD run's ``(steps, warm-up steps, step where its cooldown starts)``: the warm-up
    covers ``warmup_tokens``, or a token per parameter (``n_params``, all of them)."""
    total = max(1, math.ceil(tokens / batch_tokens))
    return total, max(1, math.ceil((warmup_tokens or n_params) / batch_tokens)), wsd_decay_start(total, decay_frac)


@dataclass(frozen=True)
class GPTConfig:
    """Shape of a pilot model. Defaults make a ~0.8M-parameter byte-level model."""

    vocab_size: int = 256
    """256 for bytes; the BPE vocabulary size otherwise."""
    seq_len: int = 256
    """Context length T."""
    n_layers: int = 4
    d_model: int = 128
    n_heads: int = 4
    d_ff: int = 0
    """MLP hidden width (0: 4*d for GELU; 8/3*d rounded up to a multiple of 32 for SwiGLU)."""
    ffn: str = "swiglu"
    """MLP kind: 'swiglu' or 'gelu'."""
    qk_norm: bool = False
    tied_embeddings: bool = True
    rope_base: float = 10000.0

    def __post_init__(self) -> None:
        for name in ("vocab_size", "seq_len", "n_layers", "d_model", "n_heads"):
            if getattr(self, name) < 1:
                raise InputError(f"model {name}={getattr(self, name)}: must be >= 1")
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise InputError(f"d_model ({self.d_model}) / n_heads ({self.n_heads}) must be a whole, even head width")
        if self.ffn not in ("swiglu", "gelu"):
            raise InputError(f"ffn={self.ffn!r}: choose swiglu or gelu")
        if not self.d_ff:  # resolved once; tiny models round SwiGLU's 8/3*d to 32, not Llama's 256
            d_ff = 4 * self.d_model if self.ffn == "gelu" else -(-int(8 * self.d_model / 3) // 32) * 32
            object.__setattr__(self, "d_ff", d_ff)

    def to_plan(self) -> ModelConfig:
        """The same shape for ``scalelab.planning`` (params, FLOPs, memory)."""
        return ModelConfig(d_model=self.d_model, n_layers=self.n_layers, n_heads=self.n_heads, d_ff=self.d_ff,
                           vocab_size=self.vocab_size, seq_len=self.seq_len, ffn=self.ffn,
                           tied_embeddings=self.tied_embeddings, position="rope", norm="rmsnorm")

    def num_params(self) -> dict[str, int]:
        """Counts under the plan's conventions; QK-norm adds 2 x head width per layer."""
        p = self.to_plan().params()
        extra = 2 * (self.d_model // self.n_heads) * self.n_layers if self.qk_norm else 0
        return {"total": p["total"] + extra, "non_embedding": p["non_embedding"] + extra, "matmul": p["matmul"]}

    def flops_per_token(self) -> float:
        """Training FLOPs per token (6 x matmul weights + causal attention; PaLM appendix B)."""
        return self.to_plan().flops_per_token(causal=True)["model"]

    def to_dict(self) -> dict:
        return asdict(self)


MIN_PILOT_PARAMS = 900  # the smallest shape the rule builds: 2 layers, width 8 (936 parameters)
MAX_LAYERS = 128


def head_width(d_model: float) -> int:
    """Width of one attention head: 4 below d_model 16, 8 below 32, 16 below 128, 32 below 512, then 64."""
    return 4 if d_model < 16 else 8 if d_model < 32 else 16 if d_model < 128 else 32 if d_model < 512 else 64


def min_params_for_layers(n_layers: int | None) -> float:
    """The fewest non-embedding parameters a shape of ``n_layers`` can have (width 8, the
    narrowest MLP); the smallest pilot model when the depth is free."""
    return MIN_PILOT_PARAMS if n_layers is None else max(MIN_PILOT_PARAMS, n_layers * (4 * 64 + 2 * 8 * 8 + 16) + 8)


def shape_for_params(target: float, *, vocab_size: int = 256, seq_len: int = 256, ffn: str = "swiglu",
                     aspect: float = 32.0, n_layers: int | None = None) -> GPTConfig:
    """A shape of ``target`` non-embedding parameters (within a percent or two at every size).

    Width and depth are chosen together. Kaplan et al. 2020 (section 3.1, fig. 5) found
    the loss almost flat across a wide band of depth/width ratios at a fixed non-embedding
    count, so the rule is free to keep d_model/n_layers near ``aspect`` (32; GPT-2 small
    has 64): n_layers = round((N / (12 aspect^2))^(1/3)) between 2 and 128 (one layer
    cannot form induction heads), d_model a multiple of the head width (8, 16, 32 or 64 as
    the width grows) near sqrt(N / (12 n_layers)), and the MLP width d_ff (between d_model
    and 4 d_model, a multiple of 8 from width 64) solved so that the count lands on
    ``target``, preferring the d_model whose MLP is nearest its usual width. A ladder's
    sizes therefore really double when the targets do, at 1e3 parameters as at 1e10.
    ``n_layers`` fixes the depth instead (a ladder whose rungs keep the target's depth).

    Examples
    --------
    >>> c = shape_for_params(1e6)
    >>> c.n_layers, c.d_model, c.d_ff, round(c.num_params()["non_embedding"] / 1e6, 3)
    (4, 128, 480, 1.001)
    >>> [shape_for_params(n).num_params()["non_embedding"] for n in (1e4, 2e4, 4e4)]
    [9912, 19872, 39984]
    """
    if not target >= MIN_PILOT_PARAMS:
        raise InputError(f"a pilot model of {target:g} parameters is too small; give at least {MIN_PILOT_PARAMS:g}")
    if n_layers is None:
        n_layers = int(min(MAX_LAYERS, max(2, round((target / (12 * aspect**2)) ** (1 / 3)))))
    elif not (isinstance(n_layers, int) and 2 <= n_layers <= MAX_LAYERS):
        raise InputError(f"--rung-layers {n_layers!r}: give a whole number of layers in [2, {MAX_LAYERS}]")
    elif target < min_params_for_layers(n_layers):
        raise InputError(f"{target:g} parameters cannot make {n_layers} layers of width 8 or more: "
                         "lower --rung-layers or raise the sizes")
    mlp_matrices = 3 if ffn == "swiglu" else 2
    width = math.sqrt(target / (12 * n_layers))
    best = None
    # widths around the ideal one, each a multiple of its head width
    widths = {max(8, round(w / head_width(w)) * head_width(w)) for w in width * np.geomspace(0.6, 1.7, 48)}
    for d_model in sorted(widths):
        hw = head_width(d_model)
        if d_model % hw:
            continue
        # N = L (4 d^2 + m d f + 2 d) + d: attention, MLP (m matrices), two RMSNorms per block, the final norm
        per_layer = (target - d_model) / n_layers - 4 * d_model**2 - 2 * d_model
        step = 8 if d_model >= 64 else 2  # tiny models need a fine MLP grid to land on their count
        d_ff = int(min(4 * d_model, max(d_model, round(per_layer / (mlp_matrices * d_model) / step) * step)))
        cfg = GPTConfig(vocab_size=vocab_size, seq_len=seq_len, n_layers=n_layers, d_model=d_model,
                        n_heads=d_model // hw, d_ff=d_ff, ffn=ffn)
        n = cfg.num_params()["non_embedding"]
        # land on the count first, then prefer an MLP near its usual width (8/3 d for SwiGLU, 4 d for GELU)
        usual = 8 / 3 if ffn == "swiglu" else 4.0
        score = abs(math.log(n / target)) + 0.03 * abs(math.log(cfg.d_ff / d_model / usual))
        if best is None or score < best[0]:
            best = (score, cfg)
    return best[1]


@dataclass(frozen=True)
class TrainConfig:
    """How one rung is trained. Token counts are global (all ranks)."""

    model: GPTConfig
    tokens: int
    """Training tokens D."""
    lr: float
    """Peak learning rate."""
    batch_tokens: int = 32768
    """Tokens per optimizer step (rounded to whole micro-batches)."""
    micro_batch: int = 16
    """Sequences per micro-batch per rank."""
    warmup_tokens: int = 0
    """0: the model's parameter count (Porian et al.)."""
    schedule: str = "cosine"
    """'cosine' (to min_lr_frac at the end) or 'wsd' (constant, then linear decay)."""
    min_lr_frac: float = 0.1
    wsd_decay_frac: float = WSD_DECAY_FRAC
    weight_decay: float = 0.1
    beta2: float = 0.95
    grad_clip: float = 1.0
    eval_every: int = 0
    """Steps between validations (0: about 10 per run)."""
    eval_tokens: int = 65536
    """Tokens per periodic validation."""
    final_eval_tokens: int = 1048576
    """Tokens of the final validation, the value a ladder fit uses (capped by the split)."""
    checkpoint_every: int = 0
    """Steps between checkpoints (0: about 10 per run)."""
    seed: int = 0
    precision: str = "auto"
    """'auto' (bf16 on GPU, fp32 on CPU), 'bf16' or 'fp32'."""
    compile: str = "auto"
    """'auto' (on GPU at once; on one CPU rank once a probe shows minutes of training left), 'yes' or 'no'."""

    def __post_init__(self):
        for name in ("tokens", "lr", "batch_tokens", "micro_batch"):
            value = getattr(self, name)
            if not value > 0:
                raise InputError(f"{name} = {value}: must be positive")
        if self.schedule not in ("cosine", "wsd"):
            raise InputError(f"schedule={self.schedule!r}: choose cosine or wsd")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["model"] = self.model.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        d["model"] = GPTConfig(**d["model"])
        return cls(**d)
