"""Training memory per device: model states, activations, logits and transient buffers.

Activations follow the tensor-by-tensor accounting of Korthikanti et al. 2022 ("Reducing
Activation Recomputation in Large Transformer Models", section 4): for a GPT block with a
4h GELU MLP, dropout and unfused attention it gives exactly their per-layer
``sbh(34 + 5as/h)`` bytes, ``sbh(10 + 24/t + 5as/(ht))`` with tensor parallelism,
``sbh(34/t + 5as/(ht))`` with sequence parallelism, ``sbh(34/t)`` with selective
recomputation and ``2sbh`` with full recomputation. The same accounting, tensor by
tensor, covers what that table does not: grouped-query and multi-latent attention,
SwiGLU, mixture-of-experts, no dropout, and fused (flash) attention, which keeps no
``s x s`` scores. Pipeline parallelism with 1F1B keeps ``pp`` micro-batches in flight on
the first stage, i.e. all L layers' worth of one micro-batch (Korthikanti et al. eq. 5).

Model states by precision, per parameter (mixed precision as in Megatron-LM and
torchtitan, which accumulate gradients in fp32):

=============  ==================================  ==========================================
precision      ZeRO 0-2 (Megatron style)            ZeRO-3 / FSDP (torchtitan FSDP2 style)
=============  ==================================  ==========================================
bf16           bf16 weights 2 + fp32 grads 4 +      fp32 weights 4 + fp32 grads 4 + Adam 8,
               fp32 master 4 + Adam m, v 8 = 18     all sharded = 16 (bf16 copies are gathered
                                                    per layer, transiently)
fp8            bf16 18 + an fp8 weight copy 1       bf16 16 + fp8 copy 1 (sharded)
fp32           weights 4 + grads 4 + Adam 8 = 16    16, all sharded
=============  ==================================  ==========================================

ZeRO-1 shards the optimizer states (master and Adam), ZeRO-2 also the gradients, ZeRO-3
also the weights, across the data-parallel (and context-parallel) group (Rajbhandari et
al. 2020). The estimate is allocated memory at the peak; frameworks report the caching
allocator's reserved memory, which is larger (see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from scalelab.errors import InputError
from scalelab.planning.model import ModelConfig

GIB = 2**30
PRECISIONS = ("bf16", "fp8", "fp32")
RECOMPUTE_MODES = ("none", "selective", "selective-op", "full")
USABLE_FRACTION = 0.95  # of device memory: the rest for the CUDA context, communication buffers


@dataclass(frozen=True)
class Parallelism:
    """How a run is split across devices. ``dp*tp*pp*cp`` devices in all; ``ep`` splits the
    experts inside the data-parallel group (it does not add devices)."""

    dp: int = 1
    """Data parallel (and FSDP/ZeRO shard) degree."""
    tp: int = 1
    """Tensor parallel degree (Megatron-style, within a node)."""
    pp: int = 1
    """Pipeline stages."""
    cp: int = 1
    """Context parallel degree: the sequence split across devices."""
    ep: int = 1
    """Expert parallel degree (MoE): experts split across this many data-parallel ranks."""
    zero: int = 0
    """0: replicate; 1: shard optimizer states; 2: + gradients; 3 (FSDP): + weights."""
    sequence_parallel: bool = True
    """With tp > 1, also split norms and dropouts along the sequence (Korthikanti et al.)."""

    def __post_init__(self) -> None:
        for f in ("dp", "tp", "pp", "cp", "ep"):
            v = getattr(self, f)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise InputError(f"--{f} {v!r}: give a whole number >= 1")
        if self.zero not in (0, 1, 2, 3):
            raise InputError(f"--zero {self.zero!r}: choose 0, 1, 2 or 3 (3 = FSDP)")
        if self.dp % self.ep:
            raise InputError(f"ep ({self.ep}) must divide dp ({self.dp}): experts are split across data-parallel ranks")

    @property
    def num_devices(self) -> int:
        return self.dp * self.tp * self.pp * self.cp

    @classmethod
    def from_degrees(cls, *, tp: int | None = None, pp: int | None = None, cp: int | None = None,
                     ep: int | None = None, dp: int | None = None, zero: int | None = None,
                     sequence_parallel: bool = True, num_devices: int | None = None) -> Parallelism | None:
        """A layout from the degrees a user gave (the rest 1, ZeRO 1); ``dp`` defaults to
        ``num_devices / (tp*pp*cp)``. None when no degree is given: the planner searches.

        >>> Parallelism.from_degrees(tp=4, pp=2, num_devices=64).dp
        8
        """
        if all(v is None for v in (tp, pp, cp, ep, dp, zero)):
            return None
        tp, pp, cp, ep, zero = tp or 1, pp or 1, cp or 1, ep or 1, 1 if zero is None else zero
        if dp is None:
            if num_devices is None:
                raise InputError("give --num-gpus (or --dp) with a layout")
            if num_devices % (tp * pp * cp):
                raise InputError(f"num_gpus({num_devices}) is not divisible by tp({tp}) * pp({pp}) * cp({cp}) = "
                                 f"{tp * pp * cp}")
            dp = int(num_devices // (tp * pp * cp))
        return cls(dp=dp, tp=tp, pp=pp, cp=cp, ep=ep, zero=zero, sequence_parallel=sequence_parallel)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Parallelism:
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls)})

    def check(self, model: ModelConfig, seq_len: int, num_devices: int | None = None) -> None:
        """Refuse layouts the model cannot take, naming the product or division that fails."""
        if num_devices is not None and self.num_devices != num_devices:
            raise InputError(
                f"dp({self.dp}) * tp({self.tp}) * pp({self.pp}) * cp({self.cp}) = {self.num_devices} != "
                f"num_gpus({num_devices}); change the degrees or --num-gpus"
            )
        if model.n_heads % self.tp:
            raise InputError(f"n_heads ({model.n_heads}) is not divisible by tp ({self.tp})")
        if self.pp > model.n_layers:
            raise InputError(f"pp ({self.pp}) exceeds n_layers ({model.n_layers})")
        if seq_len % self.cp:
            raise InputError(f"seq_len ({seq_len}) is not divisible by cp ({self.cp})")
        if model.n_experts and model.n_experts % self.ep:
            raise InputError(f"n_experts ({model.n_experts}) is not divisible by ep ({self.ep})")
        if not model.n_experts and self.ep > 1:
            raise InputError(f"ep ({self.ep}) > 1 needs a mixture-of-experts model")


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes per device on the most loaded pipeline stage, at the peak (start of backward)."""

    weights: float
    gradients: float
    optimizer: float
    activations: float
    logits: float
    buffers: float
    device_bytes: float
    stage: str

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + self.activations + self.logits + self.buffers

    @property
    def fits(self) -> bool:
        return self.total <= USABLE_FRACTION * self.device_bytes

    def gib(self) -> dict[str, float]:
        d = {k: getattr(self, k) / GIB for k in ("weights", "gradients", "optimizer", "activations", "logits", "buffers")}
        d["total"] = self.total / GIB
        d["device"] = self.device_bytes / GIB
        return d

    def to_dict(self) -> dict:
        """The bytes, and for the reader the same in GiB with the total and whether it fits."""
        return dataclasses.asdict(self) | {"gib": self.gib(), "fits": self.fits}

    @classmethod
    def from_dict(cls, d: dict) -> MemoryBreakdown:
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls)})


def layer_activation_bytes(model: ModelConfig, *, tokens: float, seq_len: int, tp: int = 1,
                           sequence_parallel: bool = True, recompute: str = "none", flash_attention: bool = True,
                           dropout: bool = False, moe: bool = False) -> float:
    """Activation bytes one transformer layer keeps for backward, for ``tokens`` tokens of
    sequences of length ``seq_len`` on one tensor-parallel rank (16-bit activations).

    Examples
    --------
    Korthikanti et al.'s GPT block: 34 s·b·h + 5 a·s²·b bytes without parallelism.

    >>> gpt = ModelConfig(d_model=12288, n_layers=96, n_heads=96, vocab_size=51200, ffn="gelu", seq_len=2048)
    >>> s, b, h, a = 2048, 1, 12288, 96
    >>> layer_activation_bytes(gpt, tokens=s * b, seq_len=s, flash_attention=False, dropout=True) == s*b*h*(34 + 5*a*s/h)
    True
    """
    if recompute not in RECOMPUTE_MODES:
        raise InputError(f"recompute={recompute!r}: choose one of {', '.join(RECOMPUTE_MODES)}")
    h, H, KV = model.d_model, model.n_heads, model.n_kv_heads
    t = float(tp)
    rep = t if sequence_parallel else 1.0  # norms and dropouts are split across TP ranks only with SP
    if recompute == "full":
        return tokens * 2 * h / (t if sequence_parallel else 1)
    if model.attention == "mla":
        q_w, k_w, v_w = H * model.qk_dim, H * model.qk_dim, H * model.v_dim
        latent = 2 * (model.q_lora_rank + model.kv_lora_rank + model.qk_rope_head_dim)  # inputs of the up-projections
    else:
        q_w, k_w, v_w = H * model.head_dim, KV * model.head_dim, KV * model.head_dim
        latent = 0
    o_w = H * model.v_dim
    keep_scores = not flash_attention and recompute not in ("selective", "selective-op")
    if recompute == "selective-op":
        return tokens * _op_sac_bytes(model, moe, t, rep)
    # replicated across TP ranks (unless sequence parallel): norm inputs, norm outputs, dropout masks
    replicated = 2 * h + 2 * h + 2 * h + 2 * h  # norm1 input, qkv input, norm2 input, MLP input
    if dropout:
        replicated += h + h  # masks after the attention and MLP blocks (1 byte)
    sharded = 2 * (q_w + k_w + v_w) + 2 * o_w + latent
    if flash_attention:
        sharded += 4 * H  # fp32 log-sum-exp per head
    per_token = replicated / rep + sharded / t
    if keep_scores:
        # softmax output 2as, its dropout mask as and dropout output 2as (Korthikanti's 5as)
        per_token += (2 + (3 if dropout else 0)) * H * seq_len / t
    per_token += _mlp_bytes(model, moe) / t
    return tokens * per_token


def _mlp_bytes(model: ModelConfig, moe: bool) -> float:
    """MLP tensors kept per token (beyond the MLP input counted with the norms)."""
    def one(hidden: int) -> float:
        return 2 * hidden + 2 * hidden if model.ffn == "gelu" else 6 * hidden  # gelu in + fc2 in | w1, w3, w2 in

    if not moe:
        return one(model.d_ff)
    h = model.d_model
    # each routed copy of a token: its dispatched input plus the expert's internals; router logits fp32
    return (model.top_k * (2 * h + one(model.d_ff_expert)) + model.n_shared_experts * one(model.d_ff_expert)
            + 4 * model.n_experts)


def _op_sac_bytes(model: ModelConfig, moe: bool, t: float, rep: float) -> float:
    """torchtitan's per-op selective checkpointing: keep the layer input, the attention
    output, and the output of every other matmul (1st, 3rd, ...), recompute the rest."""
    h = model.d_model
    H, KV = model.n_heads, model.n_kv_heads
    mm_outputs = [H * model.qk_dim, KV * model.head_dim if model.attention == "mha" else H * model.qk_dim,
                  KV * model.head_dim if model.attention == "mha" else H * model.v_dim, h]
    hidden = model.d_ff_expert if moe else model.d_ff
    mm_outputs += [hidden, h] if model.ffn == "gelu" else [hidden, hidden, h]
    kept = sum(2 * w for i, w in enumerate(mm_outputs) if i % 2 == 0)
    if moe:
        kept *= model.top_k + model.n_shared_experts  # a rough count: each active expert's matmuls
    return 2 * h / rep + (kept + 2 * H * model.v_dim + 4 * H) / t


def memory_per_device(model: ModelConfig, parallel: Parallelism, *, micro_batch: int = 1, seq_len: int | None = None,
                      precision: str = "bf16", recompute: str = "none", flash_attention: bool = True,
                      dropout: bool = False, fused_cross_entropy: bool = False, device_gb: float = 80.0) -> MemoryBreakdown:
    """Peak training memory per device on the most loaded pipeline stage.

    Parameters
    ----------
    micro_batch : sequences per micro-batch per data-parallel rank.
    precision : 'bf16' (mixed, fp32 master), 'fp8' (bf16 mixed plus fp8 weight copies), 'fp32'.
    recompute : 'none', 'selective' (Korthikanti: the attention core), 'selective-op' (torchtitan's
        op-level policy: every other matmul output kept), 'full' (only each layer's input kept).
    fused_cross_entropy : a fused vocabulary-parallel loss (Megatron) keeps fp32 logits only;
        otherwise bf16 logits are upcast and log-softmax is kept (PyTorch's default loss).
    device_gb : device memory, GiB.
    """
    if precision not in PRECISIONS:
        raise InputError(f"--precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if not (isinstance(micro_batch, int) and micro_batch >= 1):
        raise InputError(f"--micro-batch {micro_batch!r}: give a whole number >= 1")
    seq_len = seq_len or model.seq_len
    parallel.check(model, seq_len)
    tp, pp, cp = parallel.tp, parallel.pp, parallel.cp
    shard = parallel.dp * cp  # ZeRO/FSDP shards across data and context parallel ranks

    p = model.params()
    h, V, L = model.d_model, model.vocab_size, model.n_layers
    layers_per_stage = math.ceil(L / pp)
    n_moe = model.n_moe_layers
    dense_layer = model.attention_params() + model.mlp_params(model.d_ff) + 2 * h
    expert = model.mlp_params(model.d_ff_expert)
    moe_layer_shared = model.attention_params() + model.n_shared_experts * expert + h * model.n_experts + 2 * h
    moe_layer_routed = model.n_experts * expert
    # the first stage holds the dense layers first (DeepSeek-V3: the first 3 are dense)
    stage_dense = min(layers_per_stage, L - n_moe)
    stage_moe = layers_per_stage - stage_dense
    layer_params = (stage_dense * dense_layer + stage_moe * moe_layer_shared) / tp + stage_moe * moe_layer_routed / (
        parallel.ep * tp)
    embed = (V * h + p["position"]) / tp
    head = V * h / tp
    if pp == 1:
        stages = {"only": layer_params + embed + (0 if model.tied_embeddings else head)}
    else:  # the embedding on the first stage, the head (a copy when tied) on the last
        stages = {"first": layer_params + embed, "last": layer_params + head}

    tokens = micro_batch * seq_len / cp
    act_kw = dict(tokens=tokens, seq_len=seq_len, tp=tp, sequence_parallel=parallel.sequence_parallel,
                  recompute=recompute, flash_attention=flash_attention, dropout=dropout)
    dense_act = layer_activation_bytes(model, **act_kw)
    moe_act = layer_activation_bytes(model, moe=True, **act_kw) if n_moe else 0.0
    in_flight = pp  # 1F1B: the first stage holds pp micro-batches of its layers
    activations_first = in_flight * (stage_dense * dense_act + stage_moe * moe_act)
    # the last stage holds one micro-batch of its layers, and the logits
    last_dense = max(0, min(layers_per_stage, L - n_moe - (pp - 1) * layers_per_stage))
    activations_last = (last_dense * dense_act + (layers_per_stage - last_dense) * moe_act)
    logits = tokens * V / tp * (4 if fused_cross_entropy else 12)  # fp32 logits | fp32 log-softmax, its grad, upcast
    rematerialised = 0.0
    if recompute != "none":  # backward rebuilds one layer's full activations at a time
        full_kw = dict(act_kw, recompute="none")
        rematerialised = layer_activation_bytes(model, moe=n_moe > 0, **full_kw)

    best = None
    for stage, params_here in stages.items():
        states = _states(params_here, precision, parallel.zero, shard)
        acts = activations_first if stage in ("first", "only") else activations_last
        lg = logits if stage in ("last", "only") else 0.0
        # buffers: ZeRO-3 gathers a layer's 16-bit weights (and prefetches the next) and
        # reduce-scatters its fp32 gradients; the recomputed layer's activations
        per_layer = layer_params / max(layers_per_stage, 1)
        buffers = (2 * 2 * per_layer + 4 * per_layer if parallel.zero == 3 else 0.0) + rematerialised
        if parallel.zero == 3 and stage in ("last", "only"):
            buffers += 2 * (embed + (0 if model.tied_embeddings else head))  # the root module's weights, gathered
        mb = MemoryBreakdown(weights=states[0], gradients=states[1], optimizer=states[2], activations=acts, logits=lg,
                             buffers=buffers, device_bytes=device_gb * GIB, stage=stage)
        if best is None or mb.total > best.total:
            best = mb
    return best


def _states(params: float, precision: str, zero: int, shard: int) -> tuple[float, float, float]:
    """Bytes of (weights, gradients, optimizer) for ``params`` parameters on one device."""
    fp8 = 1.0 if precision == "fp8" else 0.0
    if precision == "fp32":
        w, g, o = 4.0, 4.0, 8.0
    elif zero == 3:
        w, g, o = 4.0 + fp8, 4.0, 8.0  # fp32 sharded weights (the master copy) + fp8 cast
    else:
        w, g, o = 2.0 + fp8, 4.0, 12.0  # bf16 weights, fp32 grads, fp32 master + Adam
    return (
        params * w / (shard if zero >= 3 else 1),
        params * g / (shard if zero >= 2 else 1),
        params * o / (shard if zero >= 1 else 1),
    )


def smallest_layout(model: ModelConfig, num_devices: int, *, device_gb: float, micro_batch: int = 1,
                    seq_len: int | None = None, precision: str = "bf16", max_tp: int = 8,
                    recompute_options: tuple[str, ...] = ("none", "selective", "full"), **kw):
    """The cheapest layout that fits: the least model parallelism (tp*pp), then the least
    recomputation, then the least ZeRO sharding; None when nothing fits. Pipeline stages
    hold at least two layers; tensor parallelism stays within ``max_tp`` (a node).

    Returns ``(Parallelism, recompute, MemoryBreakdown)``.
    """
    seq_len = seq_len or model.seq_len
    options = []
    for tp in (t for t in (1, 2, 4, 8, 16) if t <= max_tp and num_devices % t == 0 and model.n_heads % t == 0):
        for pp in (q for q in _divisors(num_devices // tp) if q == 1 or q <= model.n_layers // 2):
            dp = num_devices // (tp * pp)
            ep = math.gcd(dp, model.n_experts) if model.n_experts else 1
            for r_i, recompute in enumerate(recompute_options):
                for zero in (1, 2, 3) if dp > 1 else (0,):
                    options.append(((tp * pp, r_i, zero, pp), Parallelism(dp=dp, tp=tp, pp=pp, ep=ep, zero=zero), recompute))
    options.sort(key=lambda o: o[0])
    for _, par, recompute in options:
        mb = memory_per_device(model, par, micro_batch=micro_batch, seq_len=seq_len, precision=precision,
                               recompute=recompute, device_gb=device_gb, **kw)
        if mb.fits:
            return par, recompute, mb
    return None


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]
