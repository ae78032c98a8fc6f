"""Step time from the model shape, the layout and the system: MFU as an output.

A first-order analytical model in the spirit of Calculon (Isaev et al., SC'23): every
piece of one optimizer step is timed from its FLOPs or its bytes and the hardware figure
that bounds it, and the pieces are added where they run in sequence.

Per micro-batch, on the slowest pipeline stage (the last: it also holds the output head):

* **matmuls**: each block matmul (q, k, v, o, the MLP) and the head, forward, backward
  (twice the forward) and recomputed forward, split over the tensor-parallel ranks, timed
  by a roofline: ``max(FLOPs / (peak x gemm_efficiency), bytes / memory bandwidth)``, so
  a narrow matmul (small ``d_model / tp``) runs below the peak;
* **attention core** (QK^T and AV): fused (flash) at ``gemm_efficiency x
  FLASH_EFFICIENCY`` of the peak with causal skipping; unfused, as batched matmuls plus the
  softmax's reads and writes of the score matrix (``SCORE_BYTES`` per score);
* **elementwise work** (norms, activations, residuals, rotary, dropout): ``ELEMENTWISE_BYTES``
  of memory traffic per token and layer, over the memory bandwidth;
* **tensor-parallel collectives**: two per layer forward, two backward, two more with full
  recompute, each a ring all-reduce (or reduce-scatter plus all-gather with sequence
  parallelism, the same bytes) of the layer's activations over NVLink (over the network
  when ``tp`` spans nodes), not overlapped;
* **pipeline transfers**: the activations sent to the next stage and the gradients back.

The pipeline runs ``m`` micro-batches in ``m + (pp - 1) / v`` micro-batch times (1F1B;
``v`` interleaved chunks per stage), i.e. the bubble ``(pp - 1) / (v m)``. Then the
data-parallel gradient reduction (ring all-reduce of fp32 gradients; FSDP/ZeRO-3:
all-gathers of bf16 weights forward and backward and a reduce-scatter of fp32 gradients)
over the network, of which ``dp_overlap`` hides behind the backward pass, and the
optimizer update (memory-bound).

The constants below are documented guesses, set once and checked against public step
times and MFUs with their layouts (``scalelab plan validate``; ``scalelab.data``'s
``step_measurements.csv``). MFU is the model FLOPs of the step (PaLM's count, no
recomputation) over the step time and the peak of all the GPUs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from scalelab.errors import InputError
from scalelab.planning.hardware import Accelerator
from scalelab.planning.memory import Parallelism
from scalelab.planning.model import ModelConfig

# The share of the dense peak a large bf16 matmul reaches with the libraries of its day:
# cuBLAS on an A100 runs a large GEMM at ~250-270 of 312 TFLOP/s; on an H100 SXM at
# ~650-750 of 989 (NVIDIA's and others' published GEMM sweeps). Training kernels see
# less (launches, small tiles, the clock under power limits), which these allow for.
GEMM_EFFICIENCY = {
    "v100": 0.70, "a100-40gb": 0.72, "a100-80gb": 0.72, "h100-sxm": 0.62, "h100-pcie": 0.60, "h800": 0.62,
    "h200": 0.64, "b200": 0.60, "gb200": 0.60, "mi250x": 0.50, "mi300x": 0.50, "l40s": 0.60, "rtx4090": 0.60,
}
GENERIC_GEMM_EFFICIENCY = 0.60
FLASH_EFFICIENCY = 0.75
"""Flash attention's throughput relative to a large matmul's (FlashAttention-2 reaches
~70% of the A100's peak forward and less backward; Dao 2023)."""
ELEMENTWISE_BYTES = (40, 16)
"""Memory traffic of the non-matmul work per token and layer, forward and backward:
40 bytes per unit of ``d_model`` (two norms, two residual adds, rotary, their gradients)
plus 16 per unit of the MLP's hidden width (the activation and its gradient)."""
SCORE_BYTES = 16
"""Unfused attention: bytes moved per attention score, forward and backward (the scores,
the softmax output, the dropout mask and output, and their gradients, at 16 bits)."""
OPTIMIZER_BYTES = 40
"""Bytes moved per parameter by the optimizer step (fp32 master weights and two Adam
moments read and written, the gradient read, the bf16 weights written)."""
LINK_EFFICIENCY = 0.80
"""The share of a link's bandwidth a NCCL ring reaches (nccl-tests bus bandwidth on
DGX A100/H100: ~230 of 300 GB/s per direction on NVLink, ~0.8-0.9 of the NIC rate)."""

# Per-GPU network bandwidth between nodes (one direction, GB/s) of the reference systems.
NETWORK = {
    "v100": (12.5, "DGX-2: 8 x 100 Gb/s EDR InfiniBand for 16 V100 (NVIDIA DGX-2 datasheet)"),
    "a100-40gb": (25.0, "DGX A100: 8 x 200 Gb/s HDR InfiniBand, one per GPU (NVIDIA DGX A100 datasheet)"),
    "a100-80gb": (25.0, "DGX A100: 8 x 200 Gb/s HDR InfiniBand, one per GPU (NVIDIA DGX A100 datasheet)"),
    "h100-sxm": (50.0, "DGX H100: 8 x 400 Gb/s NDR InfiniBand, one per GPU (NVIDIA DGX H100 datasheet); "
                       "Llama 3's RoCE and torchtitan's hosts: 400 Gb/s per GPU"),
    "h800": (50.0, "DeepSeek-V3's cluster: 400 Gb/s InfiniBand per GPU (DeepSeek-AI 2024, section 3.1)"),
    "h200": (50.0, "DGX H200: 8 x 400 Gb/s NDR, one per GPU (NVIDIA DGX H200 datasheet)"),
    "b200": (50.0, "DGX B200: 8 x 400 Gb/s, one per GPU (NVIDIA DGX B200 datasheet)"),
    "gb200": (100.0, "GB200 NVL72: 800 Gb/s ConnectX-8 per GPU between racks (NVIDIA GB200 NVL72 datasheet)"),
    "mi300x": (50.0, "8 x 400 Gb/s per 8-GPU node (AMD Instinct MI300X platform)"),
}
LATENCY_S = {"intra": 5e-6, "inter": 15e-6}


@dataclass(frozen=True)
class System:
    """The accelerators and how they are connected."""

    accelerator: Accelerator
    intra_gbs: float
    """NVLink (or equivalent) bandwidth per GPU, one direction, GB/s."""
    inter_gbs: float
    """Network bandwidth per GPU between nodes, one direction, GB/s."""
    node_size: int = 8
    gemm_efficiency: float = GENERIC_GEMM_EFFICIENCY
    source: str = ""
    """Where the network figure comes from: a reference system's datasheet, or "given"."""

    @property
    def inter_given(self) -> bool:
        """Whether the network figure was given (a layout whose TP spans nodes needs it)."""
        return self.source == "given"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["accelerator"] = self.accelerator.key
        return d


def system_for(accelerator: Accelerator, *, intra_gbs: float | None = None, inter_gbs: float | None = None,
               node_size: int | None = None, gemm_efficiency: float | None = None) -> System:
    """The reference system of an accelerator, with any figure overridden; a one-line error
    naming the missing figures and their flags when the catalogue has none.

    >>> from scalelab.planning.hardware import get_accelerator
    >>> s = system_for(get_accelerator("h100"))
    >>> s.intra_gbs, s.inter_gbs, s.node_size
    (450.0, 50.0, 8)
    """
    key = accelerator.key
    nvlink = accelerator_intra_gbs(accelerator)
    intra = intra_gbs if intra_gbs is not None else nvlink
    inter = inter_gbs if inter_gbs is not None else NETWORK.get(key, (None, ""))[0]
    missing = [flag for flag, v in (("--intra-node-gbs", intra), ("--inter-node-gbs", inter)) if v is None]
    if missing:
        raise InputError(f"the catalogue has no interconnect figures for {accelerator.name}: give "
                         f"{' and '.join(missing)} (GB/s per GPU, one direction) to predict its speed, or --mfu")
    for flag, v in (("--intra-node-gbs", intra), ("--inter-node-gbs", inter)):
        if not 0 < v <= 1e5:
            raise InputError(f"{flag} {v:g}: give a bandwidth in (0, 1e5] GB/s per GPU")
    size = 8 if node_size is None else node_size
    if not (isinstance(size, int) and 1 <= size <= 1024):
        raise InputError(f"--node-size {size!r}: give a whole number of GPUs per node in [1, 1024]")
    eff = GEMM_EFFICIENCY.get(key, GENERIC_GEMM_EFFICIENCY) if gemm_efficiency is None else gemm_efficiency
    if not 0 < eff <= 1:
        raise InputError(f"--gemm-efficiency {eff:g}: give a fraction in (0, 1]")
    source = NETWORK.get(key, ("", "given"))[1] if inter_gbs is None else "given"
    return System(accelerator, float(intra), float(inter), size, eff, source)


def accelerator_intra_gbs(accelerator: Accelerator) -> float | None:
    """NVLink per GPU and direction: half the catalogue's bidirectional interconnect figure
    (H100 SXM: 900 GB/s -> 450). None for TPUs (a torus, not nodes) and PCIe-only cards."""
    if accelerator.vendor == "Google" or accelerator.key in ("l40s", "rtx4090", "h100-pcie"):
        return None
    return None if accelerator.interconnect_gbs is None else accelerator.interconnect_gbs / 2


@dataclass(frozen=True)
class StepTime:
    """One optimizer step, in seconds, and what it is made of."""

    step_s: float
    compute_s: float
    """Matmuls, attention and elementwise work of all micro-batches on the slowest stage."""
    tp_comm_s: float
    pp_comm_s: float
    bubble_s: float
    dp_comm_s: float
    """The data-parallel reduction (and FSDP gathers) left exposed after the overlap."""
    optimizer_s: float
    recompute_s: float
    """The part of ``compute_s`` spent recomputing activations."""
    micro_batches: int
    tokens_per_step: float
    mfu: float
    """Model FLOPs per step over the step time and the peak of every GPU."""
    hardware_flops_utilisation: float
    """The same with recomputation counted (what Megatron-LM reports as TFLOP/s)."""
    tokens_per_s_per_gpu: float

    def to_dict(self) -> dict:
        return asdict(self)

    def shares(self) -> dict[str, float]:
        """Each part's share of the step."""
        return {k: getattr(self, k) / self.step_s for k in
                ("compute_s", "tp_comm_s", "pp_comm_s", "bubble_s", "dp_comm_s", "optimizer_s", "recompute_s")}

    def why(self) -> str:
        """The two largest losses against pure computation, in words ("lost to ...")."""
        names = {"tp_comm_s": "tensor-parallel communication", "pp_comm_s": "pipeline transfers",
                 "bubble_s": "pipeline bubble", "dp_comm_s": "data-parallel communication",
                 "optimizer_s": "optimizer step", "recompute_s": "recomputation"}
        s = self.shares()
        top = sorted(names, key=lambda k: -s[k])[:2]
        lost = ", ".join(f"{names[k]} {100 * s[k]:.1f}%" for k in top if s[k] >= 0.0005)
        return f"lost to {lost}" if lost else "all computation: nothing lost to communication or the pipeline"


def step_time(model: ModelConfig, parallel: Parallelism, system: System, *, global_batch: int,
              micro_batch: int = 1, seq_len: int | None = None, recompute: str = "none", flash_attention: bool = True,
              interleave: int = 1, dp_overlap: float = 0.9, causal: bool = True) -> StepTime:
    """Predicted time of one optimizer step (see the module docstring).

    ``global_batch`` is in sequences; it must split into whole micro-batches on every
    data-parallel rank, and a pipeline needs at least ``pp`` of them.

    Examples
    --------
    Megatron-LM's 1T-parameter GPT on 3,072 A100s (Narayanan et al. 2021, Table 1: 163
    TFLOP/s per GPU with full recomputation).

    >>> from scalelab.planning.hardware import get_accelerator
    >>> gpt = ModelConfig(d_model=25600, n_layers=128, n_heads=160, vocab_size=51200, ffn="gelu",
    ...                   position="learned", norm="layernorm", bias=True, seq_len=2048)
    >>> t = step_time(gpt, Parallelism(dp=6, tp=8, pp=64), system_for(get_accelerator("a100-80gb")),
    ...               global_batch=3072, recompute="full", flash_attention=False, dp_overlap=0.0)
    >>> 140 < t.hardware_flops_utilisation * 312 < 190
    True
    """
    seq_len = seq_len or model.seq_len
    parallel.check(model, seq_len)
    if model.n_experts:
        raise InputError("the performance model covers dense models; give --mfu for a mixture of experts")
    if not (isinstance(global_batch, int) and global_batch >= 1):
        raise InputError(f"global batch {global_batch!r}: give a whole number of sequences >= 1")
    if not (isinstance(interleave, int) and interleave >= 1):
        raise InputError(f"--interleave {interleave!r}: give a whole number >= 1")
    if not 0 <= dp_overlap <= 1:
        raise InputError(f"--dp-overlap {dp_overlap:g}: give a fraction in [0, 1]")
    dp, tp, pp, cp = parallel.dp, parallel.tp, parallel.pp, parallel.cp
    if global_batch % (dp * micro_batch):
        raise InputError(f"a global batch of {global_batch} sequences does not split into micro-batches of {micro_batch} "
                         f"on {dp} data-parallel ranks (needs a multiple of {dp * micro_batch})")
    m = global_batch // (dp * micro_batch)
    if pp > 1 and m < pp:
        need = pp * dp * micro_batch
        raise InputError(f"{m} micro-batches per pipeline are fewer than its {pp} stages: raise the global batch to at "
                         f"least {need} sequences (--batch-tokens {need * seq_len}) or lower --pp")
    if interleave > 1 and (pp == 1 or model.n_layers < pp * interleave):
        raise InputError(f"--interleave {interleave} needs pp > 1 and at least pp x interleave ({pp * interleave}) "
                         f"layers (the model has {model.n_layers})")
    if tp > system.node_size and not system.inter_given:
        raise InputError(f"tp {tp} spans nodes of {system.node_size} GPUs: its collectives would cross the network; "
                         "give --inter-node-gbs (or a larger --node-size) to time it, or keep tp within a node")
    acc = system.accelerator
    peak, mem_bw = acc.peak_flops, (acc.memory_bw_tbs or 2.0) * 1e12
    eff = system.gemm_efficiency
    h, L = model.d_model, model.n_layers
    tokens = micro_batch * seq_len / cp  # per micro-batch, on one context-parallel rank
    layers = math.ceil(L / pp)
    passes = {"none": 3.0, "selective": 3.0, "selective-op": 3.0, "full": 4.0}[recompute]

    def gemm(m_rows: float, k: float, n: float) -> float:
        flops = 2.0 * m_rows * k * n
        bytes_ = 2.0 * (m_rows * k + k * n + m_rows * n)
        return max(flops / (peak * eff), bytes_ / mem_bw)

    # one layer's matmuls: column-parallel ones split their output over tp, row-parallel their input
    rows = model_row_split(model)
    mms = [gemm(tokens, k / tp, n) if i in rows else gemm(tokens, k, n / tp) for i, (k, n) in enumerate(_block_shapes(model))]
    layer_mm = sum(mms)
    extra_mm = sum(mms[1::2]) if recompute == "selective-op" else 0.0  # torchtitan's per-op policy
    H, dq, dv = model.n_heads / tp, model.qk_dim, model.v_dim
    if flash_attention:
        ctx = (seq_len + 1) / 2 if causal else seq_len
        attn_fwd = 2.0 * tokens * H * (dq + dv) * ctx / (peak * eff * FLASH_EFFICIENCY)
        attn = attn_fwd * (3.0 if recompute in ("none", "selective-op") else 4.0)
        attn_redo = attn - 3.0 * attn_fwd
        scores = 0.0
    else:
        seqs = micro_batch / cp
        one = seqs * H * (gemm(seq_len, dq, seq_len) + gemm(seq_len, seq_len, dv))
        attn = one * (3.0 if recompute == "none" else 4.0)
        attn_redo = attn - 3.0 * one
        scores = seqs * H * seq_len * seq_len * SCORE_BYTES * (1.0 if recompute == "none" else 1.33) / mem_bw
        attn_redo += scores * (0.25 if recompute != "none" else 0.0)
    sp = tp if parallel.sequence_parallel else 1
    elementwise = tokens * (ELEMENTWISE_BYTES[0] * h / sp + ELEMENTWISE_BYTES[1] * model.d_ff / tp) / mem_bw
    elementwise *= passes / 3.0
    per_layer = layer_mm * passes + extra_mm + attn + scores + elementwise
    redo_layer = layer_mm * (passes - 3.0) + extra_mm + attn_redo + elementwise * (passes - 3.0) / passes
    head = gemm(tokens, h, model.vocab_size / tp) * 3.0 + tokens * model.vocab_size / tp * 12 / mem_bw
    compute_mb = layers * per_layer + head

    intra = system.intra_gbs * 1e9 * LINK_EFFICIENCY
    inter = system.inter_gbs * 1e9 * LINK_EFFICIENCY

    def ring(nbytes: float, ranks: int, spans_nodes: bool, factor: float = 2.0) -> float:
        if ranks <= 1:
            return 0.0
        bw, lat = (inter, LATENCY_S["inter"]) if spans_nodes else (intra, LATENCY_S["intra"])
        return factor * (ranks - 1) / ranks * nbytes / bw + (ranks - 1) * lat

    act_bytes = 2.0 * tokens * h
    collectives = {"none": 4, "selective": 4, "selective-op": 4, "full": 6}[recompute]
    tp_mb = layers * collectives * ring(act_bytes, tp, tp > system.node_size)
    pp_mb = 0.0
    if pp > 1:
        spans = tp * pp > system.node_size
        bw = inter if spans else intra
        pp_mb = 2.0 * act_bytes / sp / bw + 2 * (LATENCY_S["inter"] if spans else LATENCY_S["intra"])
    per_mb = compute_mb + tp_mb + pp_mb
    chunks = m + (pp - 1) / interleave
    compute_s, tp_s, pp_s = m * compute_mb, m * tp_mb, m * pp_mb
    recompute_s = m * layers * redo_layer
    bubble_s = (chunks - m) * per_mb

    # data parallelism: gradients (and FSDP's weights) over the network
    params_here = _params_per_gpu(model, tp, pp)
    shard_ranks = dp * cp
    dp_spans = tp * pp * cp < parallel.num_devices and parallel.num_devices > system.node_size
    if parallel.zero == 3:
        gathers = m * 2 * ring(2.0 * params_here, shard_ranks, dp_spans, factor=1.0)
        dp_total = gathers + ring(4.0 * params_here, shard_ranks, dp_spans, factor=1.0)
        window = compute_s
    else:
        dp_total = ring(4.0 * params_here, shard_ranks, dp_spans)
        window = compute_mb * (2.0 / 3.0)  # the last micro-batch's backward pass
    dp_s = max(dp_total - dp_overlap * window, (1 - dp_overlap) * dp_total)
    optimizer_s = params_here / (shard_ranks if parallel.zero >= 1 else 1) * OPTIMIZER_BYTES / mem_bw
    step = compute_s + tp_s + pp_s + bubble_s + dp_s + optimizer_s
    tokens_step = float(global_batch * seq_len)
    f = model.flops_per_token(causal=causal, recompute=recompute)
    n = parallel.num_devices
    return StepTime(step_s=step, compute_s=compute_s, tp_comm_s=tp_s, pp_comm_s=pp_s, bubble_s=bubble_s, dp_comm_s=dp_s,
                    optimizer_s=optimizer_s, recompute_s=recompute_s, micro_batches=m, tokens_per_step=tokens_step,
                    mfu=f["model"] * tokens_step / (step * n * peak),
                    hardware_flops_utilisation=f["hardware"] * tokens_step / (step * n * peak),
                    tokens_per_s_per_gpu=tokens_step / step / n)


def _block_shapes(model: ModelConfig) -> list[tuple[float, float]]:
    """(input width, output width) of each matmul of a block, in forward order."""
    h, H, KV = model.d_model, model.n_heads, model.n_kv_heads
    q, kv, o = H * model.head_dim, KV * model.head_dim, H * model.head_dim
    f = model.d_ff
    mlp = [(h, f), (f, h)] if model.ffn == "gelu" else [(h, f), (h, f), (f, h)]
    return [(h, q), (h, kv), (h, kv), (o, h)] + mlp


def model_row_split(model: ModelConfig) -> set[int]:
    """Indices of the matmuls whose input is split over tp (Megatron's row-parallel ones:
    the attention output and the MLP's down projection)."""
    return {3, 5} if model.ffn == "gelu" else {3, 6}


def _params_per_gpu(model: ModelConfig, tp: int, pp: int) -> float:
    p = model.params()
    embed = model.vocab_size * model.d_model
    body = p["total"] - embed * (1 if model.tied_embeddings else 2)
    return body / (tp * pp) + embed / tp  # the embedding (or head) on a first or last stage


@dataclass(frozen=True)
class RankedLayout:
    """A layout that fits in memory, with its predicted step."""

    parallel: Parallelism
    micro_batch: int
    recompute: str
    interleave: int
    global_batch: int
    step: StepTime
    memory_gib: float
    spares: int = 0
    """GPUs of the count left idle so that the rest factor into this layout."""

    def describe(self) -> str:
        p = self.parallel
        parts = [f"dp {p.dp}", f"tp {p.tp}", f"pp {p.pp}"] + ([f"cp {p.cp}"] if p.cp > 1 else [])
        parts += [f"zero {p.zero}", f"micro-batch {self.micro_batch}", f"recompute {self.recompute}"]
        if self.interleave > 1:
            parts.append(f"interleave {self.interleave}")
        if self.spares:
            parts.append(f"{self.spares} spare GPUs")
        return ", ".join(parts)

    def to_dict(self) -> dict:
        return {"parallel": self.parallel.to_dict(), "micro_batch": self.micro_batch, "recompute": self.recompute,
                "interleave": self.interleave, "global_batch": self.global_batch, "step": self.step.to_dict(),
                "memory_gib": self.memory_gib, "spares": self.spares, "why": self.step.why(),
                "layout": self.describe()}


DEFAULT_BATCH_TOKENS = 4 * 2**20
"""The global batch a plan assumes when none is given: 4M tokens (Llama 2; Llama 3 405B
started at 4M and grew to 16M), or :data:`TOKENS_PER_GPU` per GPU if that is more."""
TOKENS_PER_GPU = 1024
"""Llama 3 405B's final batch over its GPUs: 16M tokens on 16,384 H100s."""


def batch_sequences(batch_tokens: float | None, seq_len: int, num_gpus: int) -> int:
    """The global batch in sequences: ``batch_tokens``, by default :data:`DEFAULT_BATCH_TOKENS`
    or :data:`TOKENS_PER_GPU` per GPU where that is more."""
    target = max(DEFAULT_BATCH_TOKENS, TOKENS_PER_GPU * num_gpus) if batch_tokens is None else batch_tokens
    if not (math.isfinite(target) and target >= seq_len):
        raise InputError(f"--batch-tokens {target:g}: give at least one sequence ({seq_len} tokens)")
    return max(1, round(target / seq_len))


def whole_micro_batches(sequences: int, dp: int, micro_batch: int) -> int:
    """``sequences`` rounded to whole micro-batches on every data-parallel rank (at least one)."""
    return max(1, round(sequences / (dp * micro_batch))) * dp * micro_batch


def fastest_layouts(model: ModelConfig, num_gpus: int, system: System, *, batch_tokens: float | None = None,
                    seq_len: int | None = None, precision: str = "bf16", top: int = 5,
                    recompute_options: tuple[str, ...] = ("none", "selective", "full"),
                    **memory_options) -> list[RankedLayout]:
    """The layouts that fit in memory, fastest step first (at most ``top``).

    Tensor parallelism stays within a node; pipeline stages hold at least two layers;
    ZeRO-1 or FSDP (ZeRO-3); micro-batches of 1, 2 or 4 sequences; interleaving 1, 2 or 4.
    The global batch is ``batch_tokens`` (default: :data:`DEFAULT_BATCH_TOKENS`, or
    :data:`TOKENS_PER_GPU` per GPU on clusters where that is more) rounded to
    whole micro-batches on every data-parallel rank; a pipeline needs at least as many
    micro-batches as stages, and layouts whose rounding more than doubles the batch are
    left out while others remain (a larger batch is not free: past the critical batch
    size it costs tokens).

    >>> from scalelab.planning.hardware import get_accelerator
    >>> from scalelab.planning.presets import get_preset
    >>> best = fastest_layouts(get_preset("llama3-70b").model, 1024, system_for(get_accelerator("h100")))[0]
    >>> best.parallel.num_devices, 0.3 < best.step.mfu < 0.6
    (1024, True)
    """
    from scalelab.planning.memory import memory_per_device

    seq_len = seq_len or model.seq_len
    want = batch_sequences(batch_tokens, seq_len, num_gpus)
    device_gb = system.accelerator.memory_gb
    found = []
    # a GPU count with few divisors (8 x a prime) leaves few layouts: also try leaving up
    # to 3% of the GPUs idle as spares, which a count rounded to 64, 256 or 1,024 allows
    counts = {num_gpus} | {num_gpus - num_gpus % k for k in (64, 256, 1024) if num_gpus - num_gpus % k >= 0.97 * num_gpus}
    for used in sorted(counts, reverse=True):
        for tp in (t for t in (1, 2, 4, 8, 16) if t <= system.node_size and used % t == 0 and model.n_heads % t == 0):
            for pp in (q for q in _divisors(used // tp) if q == 1 or q <= model.n_layers // 2):
                dp = used // (tp * pp)
                for mb in (1, 2, 4):
                    gb = whole_micro_batches(want, dp, mb)
                    if pp > 1 and gb // (dp * mb) < pp:
                        continue
                    for zero in (1, 3) if dp > 1 else (0,):
                        par = Parallelism(dp=dp, tp=tp, pp=pp, zero=zero)
                        for recompute in recompute_options:
                            mem = memory_per_device(model, par, micro_batch=mb, seq_len=seq_len, precision=precision,
                                                    recompute=recompute, device_gb=device_gb, **memory_options)
                            if not mem.fits:
                                continue
                            for v in (1, 2, 4) if pp > 1 else (1,):
                                if model.n_layers < pp * v * 2 and v > 1:
                                    continue
                                st = step_time(model, par, system, global_batch=gb, micro_batch=mb, seq_len=seq_len,
                                               recompute=recompute, interleave=v)
                                if used < num_gpus:  # the spares count: utilisation over every GPU
                                    r = used / num_gpus
                                    st = replace(st, mfu=st.mfu * r, hardware_flops_utilisation=st.hardware_flops_utilisation * r,
                                                 tokens_per_s_per_gpu=st.tokens_per_s_per_gpu * r)
                                found.append(RankedLayout(par, mb, recompute, v, gb, st, mem.total / 2**30,
                                                          num_gpus - used))
                            break  # less recomputation is always faster: stop at the first that fits
    # a layout whose smallest batch (dp x micro-batch) overshoots the wanted batch trains
    # on a batch the run did not choose: keep those within 2x, unless none is
    near = [r for r in found if r.global_batch <= 2 * want]
    if near:
        found = near
    else:
        least = min((r.global_batch for r in found), default=0)
        found = [r for r in found if r.global_batch == least]
    found.sort(key=lambda r: r.step.step_s / r.step.tokens_per_step)
    return found[:top]


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, int(math.isqrt(n)) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))
