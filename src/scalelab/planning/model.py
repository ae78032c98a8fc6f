"""Model arithmetic: parameter counts and training FLOPs per token from a transformer's shape.

Conventions (each count is reported separately, because papers disagree):

- ``total``: every parameter, tied input/output embeddings counted once. What model cards
  report ("8B", "405B", "671B").
- ``active``: parameters used per token: for mixture-of-experts, only the ``top_k`` routed
  experts plus the shared experts (DeepSeek-V3's "37B activated").
- ``non_embedding``: ``active`` without the token and position embeddings and without an
  untied output head (Kaplan et al. 2020's N).
- ``matmul``: the weights a token is multiplied by: ``non_embedding`` minus norms and
  biases, plus the output head (tied or not), which costs FLOPs though a lookup does not.

Training FLOPs per token (model FLOPs, the numerator of MFU) follow PaLM (Chowdhery et al.
2022, appendix B): ``6 * matmul + 6 * L * (H*d_qk + H*d_v) * ctx``, i.e. the forward pass
costs 2 FLOPs per weight and ``2*H*d*ctx`` for each of QK^T and AV, and the backward pass
twice the forward. ``ctx`` is the sequence length in PaLM's convention
(``causal=False``); with ``causal=True`` a token attends to ``(T+1)/2`` positions on
average, halving the attention term. Recomputation adds work the hardware does but MFU
does not credit (Korthikanti et al. 2022): ``full`` repeats each layer's forward,
``selective`` repeats only the attention core (QK^T, softmax, AV).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from scalelab.errors import InputError
from scalelab.laws.base import FLOPS_PER_PARAM_TOKEN

FFN_TYPES = ("gelu", "swiglu")
POSITIONS = ("learned", "rope", "alibi", "none")
NORMS = ("layernorm", "rmsnorm")
ATTENTIONS = ("mha", "mla")
RECOMPUTE = ("none", "selective", "selective-op", "full")


@dataclass(frozen=True)
class ModelConfig:
    """Shape of a decoder-only transformer.

    Examples
    --------
    >>> m = ModelConfig(d_model=4096, n_layers=32, n_heads=32, n_kv_heads=8, d_ff=14336,
    ...                 vocab_size=128256, seq_len=8192)
    >>> round(m.params()["total"] / 1e9, 3)
    8.03
    """

    d_model: int
    """Width h of the residual stream."""
    n_layers: int
    """Number of transformer blocks L."""
    n_heads: int
    """Query heads H."""
    vocab_size: int
    """Vocabulary size V."""
    d_ff: int = 0
    """Hidden width of the dense MLP (0: 4*d_model for GELU, 8/3*d_model rounded up to 256 for SwiGLU)."""
    n_kv_heads: int = 0
    """Key/value heads (0: same as n_heads; 1: multi-query; between: grouped-query)."""
    head_dim: int = 0
    """Width of a head (0: d_model / n_heads)."""
    ffn: str = "swiglu"
    """'gelu' (two matrices) or 'swiglu' (three matrices, gated)."""
    tied_embeddings: bool = False
    """Whether the output head reuses the token embedding matrix."""
    seq_len: int = 2048
    """Training sequence length T."""
    position: str = "rope"
    """'learned' (adds T*h parameters), 'rope', 'alibi' or 'none'."""
    norm: str = "rmsnorm"
    """'layernorm' (scale and bias) or 'rmsnorm' (scale)."""
    bias: bool = False
    """Biases on the linear layers (GPT-2/3, BLOOM, Pythia have them; Llama does not)."""
    parallel_block: bool = False
    """Attention and MLP read the same normalised input: one norm per block (GPT-J, PaLM)."""
    embedding_norm: bool = False
    """A norm right after the token embedding (BLOOM)."""
    n_experts: int = 0
    """Routed experts per MoE layer (0: a dense model)."""
    top_k: int = 0
    """Routed experts each token uses."""
    n_shared_experts: int = 0
    """Experts every token uses (DeepSeekMoE)."""
    d_ff_expert: int = 0
    """Hidden width of one expert's MLP (0: d_ff)."""
    n_dense_layers: int = 0
    """Leading blocks that keep a dense MLP in an MoE model (DeepSeek-V3: 3)."""
    attention: str = "mha"
    """'mha' (with n_kv_heads for GQA/MQA) or 'mla' (DeepSeek's multi-head latent attention)."""
    q_lora_rank: int = 0
    """MLA: rank of the query down-projection (0: no query compression)."""
    kv_lora_rank: int = 0
    """MLA: rank of the joint key/value compression."""
    qk_nope_head_dim: int = 0
    """MLA: per-head query/key width without rotary embedding."""
    qk_rope_head_dim: int = 0
    """MLA: per-head query/key width with rotary embedding (the key part is shared by heads)."""
    v_head_dim: int = 0
    """MLA: per-head value width."""
    name: str = field(default="custom", compare=False)
    """Label shown in tables."""

    def __post_init__(self) -> None:
        for f in ("d_model", "n_layers", "n_heads", "vocab_size", "seq_len"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise InputError(f"model {f}={v!r}: must be a whole number > 0")
        for f in ("d_ff", "n_kv_heads", "head_dim", "n_experts", "top_k", "n_shared_experts", "d_ff_expert",
                  "n_dense_layers", "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise InputError(f"model {f}={v!r}: must be a whole number >= 0")
        for f, allowed in (("ffn", FFN_TYPES), ("position", POSITIONS), ("norm", NORMS), ("attention", ATTENTIONS)):
            if getattr(self, f) not in allowed:
                raise InputError(f"model {f}={getattr(self, f)!r}: choose one of {', '.join(allowed)}")
        if self.attention == "mha" and not self.head_dim and self.d_model % self.n_heads:
            raise InputError(f"d_model ({self.d_model}) is not divisible by n_heads ({self.n_heads}); give head_dim")
        # a 0 means "the usual value": resolve it once, so that every count reads one field
        for name, value in self._derived().items():
            if not getattr(self, name):
                object.__setattr__(self, name, value)
        if self.attention == "mha":
            if self.n_kv_heads > self.n_heads or self.n_heads % self.n_kv_heads:
                raise InputError(f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({self.n_kv_heads}) "
                                 "for grouped-query attention")
        elif not (self.kv_lora_rank and self.qk_nope_head_dim and self.v_head_dim):
            raise InputError("attention='mla' needs kv_lora_rank, qk_nope_head_dim and v_head_dim (and usually qk_rope_head_dim)")
        if self.n_experts:
            if not 0 < self.top_k <= self.n_experts:
                raise InputError(f"top_k={self.top_k}: an MoE model needs 1 <= top_k <= n_experts ({self.n_experts})")
            if self.n_dense_layers >= self.n_layers:
                raise InputError(f"n_dense_layers ({self.n_dense_layers}) must be below n_layers ({self.n_layers})")
        elif self.top_k or self.n_shared_experts or self.n_dense_layers:
            raise InputError("top_k, n_shared_experts and n_dense_layers only apply with n_experts > 0")

    # ----------------------------------------------------------- derived sizes
    def _derived(self) -> dict[str, int]:
        """What each 0-means-default field resolves to, given the other fields."""
        if self.d_ff:
            d_ff = self.d_ff
        elif self.ffn == "gelu":
            d_ff = 4 * self.d_model
        else:
            d_ff = -(-int(8 * self.d_model / 3) // 256) * 256  # Llama's 2/3 * 4h, rounded up to 256
        return {"d_ff": d_ff, "d_ff_expert": self.d_ff_expert or d_ff, "n_kv_heads": self.n_kv_heads or self.n_heads,
                "head_dim": self.head_dim or self.d_model // self.n_heads}

    @property
    def n_moe_layers(self) -> int:
        return self.n_layers - self.n_dense_layers if self.n_experts else 0

    @property
    def qk_dim(self) -> int:
        """Per-head width of queries and keys (what QK^T contracts over)."""
        return self.qk_nope_head_dim + self.qk_rope_head_dim if self.attention == "mla" else self.head_dim

    @property
    def v_dim(self) -> int:
        return self.v_head_dim if self.attention == "mla" else self.head_dim

    # ------------------------------------------------------------ parameters
    def _norm(self, width: int) -> int:
        return 2 * width if self.norm == "layernorm" else width

    def attention_params(self) -> int:
        """Weights (and biases) of one attention block."""
        h, H = self.d_model, self.n_heads
        if self.attention == "mla":
            q_out = H * (self.qk_nope_head_dim + self.qk_rope_head_dim)
            if self.q_lora_rank:
                q = h * self.q_lora_rank + self.q_lora_rank + self.q_lora_rank * q_out  # down, norm, up
            else:
                q = h * q_out
            kv = (h * (self.kv_lora_rank + self.qk_rope_head_dim) + self.kv_lora_rank
                  + self.kv_lora_rank * H * (self.qk_nope_head_dim + self.v_head_dim))
            return q + kv + H * self.v_head_dim * h
        q_width, kv_width = H * self.head_dim, self.n_kv_heads * self.head_dim
        weights = h * q_width + 2 * h * kv_width + q_width * h
        biases = q_width + 2 * kv_width + h if self.bias else 0
        return weights + biases

    def mlp_params(self, hidden: int) -> int:
        """Weights (and biases) of one MLP of the given hidden width."""
        h = self.d_model
        if self.ffn == "gelu":
            return 2 * h * hidden + ((hidden + h) if self.bias else 0)
        return 3 * h * hidden + ((2 * hidden + h) if self.bias else 0)

    def params(self) -> dict[str, int]:
        """Parameter counts under each convention (see the module docstring).

        Returns a dict with ``total``, ``active``, ``non_embedding``, ``matmul``, and the
        pieces ``embedding``, ``position``, ``head``, ``attention``, ``mlp``, ``router``,
        ``norms`` (all layers).
        """
        h, L, V = self.d_model, self.n_layers, self.vocab_size
        embedding = V * h
        position = self.seq_len * h if self.position == "learned" else 0
        head = 0 if self.tied_embeddings else V * h
        attention = L * self.attention_params()
        dense_mlp = self.mlp_params(self.d_ff)
        n_dense = L - self.n_moe_layers
        expert = self.mlp_params(self.d_ff_expert)
        moe_total = self.n_moe_layers * (self.n_experts + self.n_shared_experts) * expert
        moe_active = self.n_moe_layers * (self.top_k + self.n_shared_experts) * expert
        router = self.n_moe_layers * h * self.n_experts
        norms_per_block = 1 if self.parallel_block else 2
        norms = L * norms_per_block * self._norm(h) + self._norm(h)  # + final norm
        if self.embedding_norm:
            norms += self._norm(h)
        if self.attention == "mla":
            pass  # MLA's internal norms are counted in attention_params
        mlp_total = n_dense * dense_mlp + moe_total
        mlp_active = n_dense * dense_mlp + moe_active
        total = embedding + position + head + attention + mlp_total + router + norms
        active = embedding + position + head + attention + mlp_active + router + norms
        non_embedding = active - embedding - position - head
        linear_biases = 0
        if self.bias:
            linear_biases = L * ((self.n_heads * self.head_dim + 2 * self.n_kv_heads * self.head_dim + h)
                                 if self.attention == "mha" else 0)
            linear_biases += n_dense * ((self.d_ff + h) if self.ffn == "gelu" else (2 * self.d_ff + h))
        matmul = non_embedding - norms - linear_biases + V * h
        return {
            "total": total,
            "active": active,
            "non_embedding": non_embedding,
            "matmul": matmul,
            "embedding": embedding,
            "position": position,
            "head": head,
            "attention": attention,
            "mlp": mlp_total,
            "router": router,
            "norms": norms,
        }

    # ----------------------------------------------------------------- FLOPs
    def block_matmuls(self, moe: bool = False) -> list[int]:
        """Weights a token meets in one block's matmuls, in forward order (q, k, v, o, MLP...).

        For MLA the projections are grouped as query, key/value (down and up) and output;
        for an MoE block the MLP matmuls count every active expert.
        """
        h, H = self.d_model, self.n_heads
        if self.attention == "mla":
            q = (h * self.q_lora_rank + self.q_lora_rank * H * self.qk_dim) if self.q_lora_rank else h * H * self.qk_dim
            kv = h * (self.kv_lora_rank + self.qk_rope_head_dim) + self.kv_lora_rank * H * (self.qk_nope_head_dim + self.v_head_dim)
            attn = [q, kv, H * self.v_head_dim * h]
        else:
            kvw = self.n_kv_heads * self.head_dim
            attn = [h * H * self.head_dim, h * kvw, h * kvw, H * self.head_dim * h]
        hidden = self.d_ff_expert if moe else self.d_ff
        mlp = [h * hidden, hidden * h] if self.ffn == "gelu" else [h * hidden, h * hidden, hidden * h]
        if moe:
            mlp = [w * (self.top_k + self.n_shared_experts) for w in mlp] + [h * self.n_experts]
        return attn + mlp

    def attention_flops_forward(self, causal: bool = True) -> float:
        """Forward FLOPs per token of QK^T and AV, summed over layers."""
        ctx = (self.seq_len + 1) / 2 if causal else self.seq_len
        return 2.0 * self.n_layers * self.n_heads * (self.qk_dim + self.v_dim) * ctx

    def flops_per_token(self, causal: bool = True, recompute: str = "none") -> dict[str, float]:
        """Training FLOPs per token.

        Returns ``model`` (what MFU counts), ``hardware`` (``model`` plus recomputation)
        and ``six_n`` (the plain 6 x active-parameters rule, for comparison).

        Examples
        --------
        >>> m = ModelConfig(d_model=768, n_layers=12, n_heads=12, vocab_size=50257, ffn="gelu",
        ...                 seq_len=1024, position="learned", norm="layernorm", bias=True, tied_embeddings=True)
        >>> f = m.flops_per_token(causal=False)
        >>> round(f["model"] / 1e6), round(f["six_n"] / 1e6)
        (854, 747)
        """
        if recompute not in RECOMPUTE:
            raise InputError(f"recompute={recompute!r}: choose one of {', '.join(RECOMPUTE)}")
        p = self.params()
        attn_fwd = self.attention_flops_forward(causal)
        model = FLOPS_PER_PARAM_TOKEN * p["matmul"] + 3.0 * attn_fwd  # 2 forward + 4 backward per weight
        extra = 0.0
        if recompute == "selective":
            extra = attn_fwd
        elif recompute == "full":
            head_matmul = self.vocab_size * self.d_model
            extra = 2.0 * (p["matmul"] - head_matmul) + attn_fwd
        elif recompute == "selective-op":
            # torchtitan's per-op policy recomputes every second matmul of each block
            n_dense = self.n_layers - self.n_moe_layers
            extra = 2.0 * (n_dense * sum(self.block_matmuls(moe=False)[1::2])
                           + self.n_moe_layers * sum(self.block_matmuls(moe=True)[1::2]))
        return {"model": model, "hardware": model + extra, "six_n": FLOPS_PER_PARAM_TOKEN * p["active"]}

    def replace(self, **changes) -> ModelConfig:
        """A copy with ``changes``; a width that was derived (d_ff, head_dim, ...) is derived again.

        >>> m = ModelConfig(d_model=512, n_layers=4, n_heads=8, vocab_size=100, ffn="gelu")
        >>> m.d_ff, m.replace(d_model=1024).d_ff, m.replace(d_model=1024, d_ff=999).d_ff
        (2048, 4096, 999)
        """
        derived = dataclasses.replace(self, **{k: 0 for k in self._derived()})._derived()
        for name, value in derived.items():
            if name not in changes and getattr(self, name) == value:
                changes[name] = 0
        return dataclasses.replace(self, **changes)


def dense_from_params(params: float, seq_len: int = 2048, vocab_size: int = 32000, name: str | None = None) -> ModelConfig:
    """A plausible dense shape for a parameter count alone (for memory and FLOP estimates).

    Depth and width follow the aspect ratio of published Llama models (d_model ~ 128 x
    n_layers, head width 128, SwiGLU, untied embeddings): the shape whose ``total`` is
    closest to ``params``. Exact figures need the real shape (``--preset`` or the shape
    flags).

    Examples
    --------
    >>> m = dense_from_params(7e10)
    >>> m.n_layers, m.d_model, abs(m.params()["total"] / 7e10 - 1) < 0.05
    (80, 9216, True)
    """
    if not 0 < params <= 1e15:
        raise InputError(f"--params {params}: give a parameter count in (0, 1e15], e.g. 7e10")
    best = None
    for n_layers in range(2, 257, 2):
        guess = max(1, round((params / (10 * n_layers)) ** 0.5 / 128))
        # from 2,048 wide, heads in multiples of 8 (as Llama's 32, 64, 128): tensor parallelism
        # up to a node needs the head count divisible by its degree
        unit = 8 if guess >= 16 else 1
        for steps in range(max(unit, (guess // unit - 3) * unit), guess + 4 * unit, unit):
            d_model = 128 * steps
            m = ModelConfig(d_model=d_model, n_layers=n_layers, n_heads=steps, n_kv_heads=math.gcd(8, steps),
                            vocab_size=vocab_size, seq_len=seq_len, name=name or f"dense {params:.3g}")
            # match the count first, then prefer Llama's aspect ratio d_model/n_layers ~ 128
            score = abs(math.log(m.params()["total"] / params)) + 0.05 * abs(math.log(d_model / n_layers / 128))
            if best is None or score < best[0]:
                best = (score, m)
    return best[1]
