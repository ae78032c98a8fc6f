"""Ladder configuration without torch: a pilot model's shape and counts, the width/depth
rule, and how a rung is trained. Kept apart from the model and the trainer so that
designing and fitting a ladder need no torch."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from scalelab.errors import InputError
from scalelab.planning.model import ModelConfig

PARALLEL = ("auto", "ddp", "fsdp")  # how a rung on several ranks shares its state (see train.choose_parallel)


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


def shape_for_params(target: float, *, vocab_size: int = 256, seq_len: int = 256, ffn: str = "swiglu",
                     aspect: float = 32.0) -> GPTConfig:
    """A shape whose non-embedding parameter count is close to ``target``.

    Kaplan et al. 2020 (section 3.1, fig. 5) found the loss almost flat across a wide
    range of depth/width ratios at a fixed non-embedding count; within it we keep
    d_model/n_layers near ``aspect`` (32; GPT-2 small has 64), at least two layers, heads
    16 wide below d_model 128, 32 below 256 and 64 above (tiny models need the finer grid).

    Examples
    --------
    >>> c = shape_for_params(1e6)
    >>> c.n_layers, c.d_model, round(c.num_params()["non_embedding"] / 1e6, 2)
    (5, 128, 1.0)
    """
    if not target >= 1e3:
        raise InputError(f"a pilot model of {target:g} parameters is too small; give at least 1e3")
    best = None
    for n_layers in range(2, 65):  # one layer cannot form induction heads: not a transformer's scaling
        for d_model in list(range(16, 128, 16)) + list(range(128, 256, 32)) + list(range(256, 4097, 64)):
            head = 16 if d_model < 128 else 32 if d_model < 256 else 64
            cfg = GPTConfig(vocab_size=vocab_size, seq_len=seq_len, n_layers=n_layers, d_model=d_model,
                            n_heads=max(1, d_model // head), ffn=ffn)
            n = cfg.num_params()["non_embedding"]
            score = abs(math.log(n / target)) + 0.25 * abs(math.log(d_model / n_layers / aspect))
            if best is None or score < best[0]:
                best = (score, cfg)
            if n > 3 * target:
                break
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
    wsd_decay_frac: float = 0.2
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
    """'auto' (on GPU), 'yes' or 'no'."""

    def __post_init__(self):
        if self.tokens < 1 or self.lr <= 0 or self.batch_tokens < 1 or self.micro_batch < 1:
            raise InputError("tokens, lr, batch_tokens and micro_batch must be positive")
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
